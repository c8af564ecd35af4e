"""Fixtures for the ledger unit tests; the world they describe is in support.py."""
from __future__ import annotations

import pytest

from node.ledger.crypto import KeyPair
from node.ledger.genesis import Genesis
from node.ledger.rules import SignatureCache
from node.ledger.state import State
from node.ledger.types import Payload, sign_tx

from .support import NAMES, Chain, Keys, Ledger, genesis_doc, key_for, majority_genesis_doc


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(*(key_for(n) for n in NAMES))


@pytest.fixture(scope="session")
def genesis(keys) -> Genesis:
    return Genesis.from_json(genesis_doc(keys))


@pytest.fixture(scope="session")
def other_genesis(keys) -> Genesis:
    doc = genesis_doc(keys)
    doc["chain_name"] = "another-chain"
    return Genesis.from_json(doc)


@pytest.fixture(scope="session")
def majority_genesis(keys) -> Genesis:
    """Licenses decided by a majority of the validators (bank_a, bank_b, pay_c)."""
    return Genesis.from_json(majority_genesis_doc(keys))


@pytest.fixture
def state(genesis) -> State:
    return State.from_genesis(genesis)


@pytest.fixture
def ledger(genesis) -> Ledger:
    return Ledger(genesis)


@pytest.fixture
def gov(majority_genesis) -> Ledger:
    """A Ledger on the majority genesis."""
    return Ledger(majority_genesis)


@pytest.fixture
def make_chain(genesis, keys):
    def make(sigs: SignatureCache | None = None) -> Chain:
        return Chain(genesis, keys.bank_a, sigs)
    return make


@pytest.fixture
def chain(make_chain) -> Chain:
    return make_chain()


@pytest.fixture
def signer(genesis):
    """sign(key, payload, nonce) for this chain."""
    def sign(key: KeyPair, payload: Payload, nonce: int, chain_id: bytes | None = None):
        return sign_tx(key, chain_id or genesis.chain_id, nonce, payload)
    return sign
