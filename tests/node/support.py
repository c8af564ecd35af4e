"""The test world of the ledger unit tests: a small genesis, its keys, and two drivers.

The genesis (times in unix ms, T0 on a whole hour so rolling-window tests are exact):

    regulator
    bank_a  US  validator, kyc_issuer, asset_issuer    issues USD (clawback-able)
    bank_b  DE  validator, kyc_issuer, asset_issuer    issues EUR and GBP
    pay_c   GB  observer                               (licensed, but for nothing useful)

    tier 1 "basic":    USD and EUR, per_tx 1_000, daily 2_500; GBP not allowed
    tier 2 "standard": USD, EUR, GBP, per_tx 100_000, daily 1_000_000
    blocked jurisdictions: IR, KP

    alice  tier 1, US, by bank_a     USD 10_000, EUR 500, GBP 1_000
    bob    tier 2, DE, by bank_b     USD 500_000, EUR 500_000
    carol  no attestation            USD 1_000
    dave   tier 2, KP, by bank_a     USD 10_000
    erin   tier 2, SG, by bank_b, expires at T0 + 2 h     EUR 10_000
    bank_a USD 1_000_000 ; bank_b EUR 1_000_000

A second genesis, `majority_genesis_doc`, is the same world with license_policy "majority":
pay_c is a validator too (three validators: a majority is two), and obs_d (GB) is an observer
institution, licensed but not a validator.

`Ledger` drives node.ledger.rules.admit on one Overlay; `Chain` builds, executes and commits blocks.
conftest.py hands them out as fixtures.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.crypto import KeyPair
from node.ledger.execution import BlockResult, ChainTip, build_block, execute_block
from node.ledger.genesis import Genesis
from node.ledger.rules import Context, SignatureCache, admit
from node.ledger.state import Overlay, State
from node.ledger.types import Block, Payload, Transaction, sign_tx

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 472_222 * HOUR  # 2023-11-14T22:00Z, a whole hour
ERIN_EXPIRES = T0 + 2 * HOUR
YEAR_LATER = T0 + 365 * DAY

NAMES = ("regulator", "bank_a", "bank_b", "pay_c", "alice", "bob", "carol", "dave", "erin",
         "frank", "obs_d")


def key_for(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(b"lichen node tests: " + name.encode()).digest())


@dataclass(frozen=True)
class Keys:
    regulator: KeyPair
    bank_a: KeyPair
    bank_b: KeyPair
    pay_c: KeyPair
    alice: KeyPair
    bob: KeyPair
    carol: KeyPair
    dave: KeyPair
    erin: KeyPair
    frank: KeyPair  # never mentioned in genesis
    obs_d: KeyPair  # an observer institution of the majority genesis only


def genesis_doc(k: Keys) -> dict:
    def att(who: KeyPair, issuer: str, tier: int, jurisdiction: str, expires_at: int = YEAR_LATER):
        return {"subject": who.address_hex, "issuer": issuer, "tier": tier,
                "jurisdiction": jurisdiction, "expires_at": expires_at,
                "evidence_hash": hashlib.sha256(who.address).hexdigest()}

    def bal(who: KeyPair, asset: str, amount: int):
        return {"account": who.address_hex, "asset": asset, "amount": amount}

    return {
        "chain_name": "lichen-node-tests",
        "genesis_time": T0,
        "regulator": k.regulator.address_hex,
        "institutions": [
            {"name": "bank_a", "key": k.bank_a.address_hex, "address": "http://127.0.0.1:1",
             "jurisdiction": "US", "roles": ["validator", "kyc_issuer", "asset_issuer"]},
            {"name": "bank_b", "key": k.bank_b.address_hex, "address": "http://127.0.0.1:2",
             "jurisdiction": "DE", "roles": ["validator", "kyc_issuer", "asset_issuer"]},
            {"name": "pay_c", "key": k.pay_c.address_hex, "address": "http://127.0.0.1:3",
             "jurisdiction": "GB", "roles": ["observer"]},
        ],
        "assets": [{"code": "USD", "issuer": "bank_a", "decimals": 2, "clawback": True},
                   {"code": "EUR", "issuer": "bank_b", "decimals": 2},
                   {"code": "GBP", "issuer": "bank_b", "decimals": 2}],
        "tiers": [
            {"tier": 1, "name": "basic",
             "limits": {"USD": {"per_tx": 1_000, "daily": 2_500},
                        "EUR": {"per_tx": 1_000, "daily": 2_500}}},
            {"tier": 2, "name": "standard",
             "limits": {c: {"per_tx": 100_000, "daily": 1_000_000} for c in ("USD", "EUR", "GBP")}},
        ],
        "blocked_jurisdictions": ["KP", "IR"],
        "attestations": [att(k.alice, "bank_a", 1, "US"), att(k.bob, "bank_b", 2, "DE"),
                         att(k.dave, "bank_a", 2, "KP"),
                         att(k.erin, "bank_b", 2, "SG", ERIN_EXPIRES)],
        "balances": [bal(k.alice, "USD", 10_000), bal(k.alice, "EUR", 500),
                     bal(k.alice, "GBP", 1_000),
                     bal(k.bob, "USD", 500_000), bal(k.bob, "EUR", 500_000),
                     bal(k.carol, "USD", 1_000), bal(k.dave, "USD", 10_000),
                     bal(k.erin, "EUR", 10_000),
                     bal(k.bank_a, "USD", 1_000_000), bal(k.bank_b, "EUR", 1_000_000)],
    }


def majority_genesis_doc(k: Keys) -> dict:
    """genesis_doc under license_policy "majority", with three validators and an observer."""
    doc = genesis_doc(k)
    doc["license_policy"] = "majority"
    doc["institutions"][2]["roles"] = ["validator"]  # pay_c
    doc["institutions"].append(
        {"name": "obs_d", "key": k.obs_d.address_hex, "address": "http://127.0.0.1:4",
         "jurisdiction": "GB", "roles": ["observer"]})
    return doc


class Ledger:
    """Admits transactions with node.ledger.rules.admit on one Overlay over a fresh genesis State.

    Nonces default to the sender's next nonce in the overlay. `reject` asserts the exact error
    type and that the overlay's changes are the same before and after the rejection.
    """

    def __init__(self, genesis: Genesis):
        self.genesis = genesis
        self.state = State.from_genesis(genesis)
        self.view = Overlay(self.state)
        self.sigs = SignatureCache()
        self.now = T0 + HOUR // 2

    def tx(self, key: KeyPair, payload: Payload, nonce: int | None = None,
           chain_id: bytes | None = None) -> Transaction:
        if nonce is None:
            nonce = self.view.account(key.address).nonce
        return sign_tx(key, chain_id or self.genesis.chain_id, nonce, payload)

    def ok(self, key: KeyPair, payload: Payload, at: int | None = None) -> Transaction:
        tx = self.tx(key, payload)
        self.admit(tx, at)
        return tx

    def admit(self, tx: Transaction, at: int | None = None) -> None:
        admit(self.view, tx, Context(self.now if at is None else at), self.sigs)

    def reject(self, err: type[E.LedgerError], key: KeyPair | None = None,
               payload: Payload | None = None, at: int | None = None,
               tx: Transaction | None = None) -> E.LedgerError:
        if tx is None:
            tx = self.tx(key, payload)
        before = self.view.changes()
        with pytest.raises(E.LedgerError) as info:
            self.admit(tx, at)
        assert type(info.value) is err, f"expected {err.__name__}, got {info.value!r}"
        assert info.value.code == err.code
        assert self.view.changes() == before, "a rejected transaction changed the state"
        return info.value

    def account(self, key: KeyPair):
        return self.view.account(key.address)

    def balance(self, key: KeyPair, asset: str) -> int:
        return self.view.account(key.address).balance(asset)


class Chain:
    """A chain on one in-memory State: build, execute and commit blocks proposed by bank_a."""

    def __init__(self, genesis: Genesis, proposer: KeyPair, sigs: SignatureCache | None = None):
        self.genesis = genesis
        self.state = State.from_genesis(genesis)
        self.tip = ChainTip(0, genesis.chain_id, genesis.genesis_time, self.state.genesis_hash())
        self.sigs = sigs or SignatureCache()
        self.proposer = proposer

    def block(self, txs: list, timestamp: int, term: int = 1) -> Block:
        raws = [t.raw if isinstance(t, Transaction) else t for t in txs]
        hashes = [sha256(r) for r in raws]
        return build_block(self.tip, raws, hashes, timestamp, self.proposer, term)

    def execute(self, block: Block) -> BlockResult:
        return execute_block(self.state, block, self.tip, self.sigs)

    def commit(self, result: BlockResult) -> BlockResult:
        result.overlay.commit()
        h = result.block.header
        self.tip = ChainTip(h.height, result.block.hash, h.timestamp, result.state_hash)
        return result

    def run(self, txs: list, timestamp: int) -> BlockResult:
        return self.commit(self.execute(self.block(txs, timestamp)))
