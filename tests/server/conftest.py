"""A small world for the node.server unit tests: a devnet genesis of three validators (inst0..2),
one spare institution (inst3, licensed for nothing that runs a node) and the demo customers,
its keys derived from names, and a manual clock at genesis time. No node runs, nothing listens."""
from __future__ import annotations

import pytest

from devnet import key_names, make_genesis
from node.ledger.crypto import KeyPair
from node.ledger.genesis import Genesis
from node.ledger.types import Transaction, Transfer, sign_tx
from node.server.clock import ManualClock

from ..harness import T0, address_of, key_for


@pytest.fixture(scope="session")
def keys() -> dict[str, KeyPair]:
    return {name: key_for(name) for name in key_names(4)}


@pytest.fixture(scope="session")
def genesis(keys) -> Genesis:
    return make_genesis(keys, [address_of(i) for i in range(3)], T0, spare_urls=[address_of(3)])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def pay(keys, genesis):
    """pay(nonce, amount=1): a transfer of USD from alice to bob."""
    def make(nonce: int, amount: int = 1) -> Transaction:
        return sign_tx(keys["alice"], genesis.chain_id, nonce,
                       Transfer("USD", keys["bob"].address, amount, ""))
    return make
