"""The rulebook (node.ledger.rules), one function at a time.

The kind-level tests (test_node_rules, test_node_asset_controls, test_node_governance) reach
the rules through `admit`; here each public check_* is called directly: one call that breaks
its rule raises exactly the typed error named in the rule index and changes nothing, and one
call that keeps it passes. The apply_* helpers that are not a kind's entry point get their own
tests, as do the membership predicates the daemon and the API ask. The rule index itself is
checked against the package, so it cannot rot.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import node.ledger.rules as R
from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.genesis import Genesis
from node.ledger.rules import Context, KycStatus
from node.ledger.state import Account, Escrow, Loan, Offer, Overlay, Proposal, Reserves, State
from node.ledger.types import (
    MAX_AMOUNT,
    Block,
    EscrowCreate,
    FxOffer,
    KycRevoke,
    LicensePolicy,
    LoanOffer,
    TierSet,
    Transfer,
    TxKind,
    decode_tx,
    sign_tx,
)

from .support import DAY, ERIN_EXPIRES, HOUR, T0, Chain, Keys

NOW = T0 + HOUR // 2
CTX = Context(NOW)


@dataclass
class World:
    """What a case needs: the test genesis (or the majority one), a view over it, keys."""
    genesis: Genesis
    view: Overlay
    keys: Keys
    sigs: R.SignatureCache
    chain: Chain

    def tx(self, key, payload=None, nonce: int = 0, chain_id: bytes | None = None):
        payload = payload or Transfer("USD", self.keys.bob.address, 10)
        return sign_tx(key, chain_id or self.genesis.chain_id, nonce, payload)

    def tampered(self, key):
        good = self.tx(key)
        return decode_tx(good.raw[:-1] + bytes([good.raw[-1] ^ 1]))

    def block(self, txs=(), **header) -> Block:
        """A block on the genesis tip at T0 + 1 h, re-signed by bank_a after `header`
        replacements."""
        block = self.chain.block(list(txs), T0 + HOUR)
        h = dataclasses.replace(block.header, **header)
        return Block(h, self.keys.bank_a.sign(h.hash), block.txs)


def world(genesis: Genesis, keys: Keys) -> World:
    state = State.from_genesis(genesis)
    return World(genesis, Overlay(state), keys, R.SignatureCache(), Chain(genesis, keys.bank_a))


@pytest.fixture
def w(genesis, keys) -> World:
    return world(genesis, keys)


@pytest.fixture
def wm(majority_genesis, keys) -> World:
    return world(majority_genesis, keys)


# ---- every check: the breaking call raises its typed error and changes nothing ----------------

@dataclass(frozen=True)
class Case:
    check: str  # the rulebook function
    breaks: Callable[[World], Any]  # a call that breaks the rule
    error: type[Exception]  # exactly this type
    keeps: Callable[[World], Any]  # a call that keeps it
    setup: Callable[[World], Any] = lambda w: None  # before both calls, not counted as change
    majority: bool = False  # on the majority genesis

    @property
    def id(self) -> str:
        return f"{self.check}-{self.error.__name__}"


def revoke(role: str, institution: str) -> Callable[[World], None]:
    return lambda w: w.view.set_roles(institution, w.view.roles(institution) - {role})


def set_attestation(name: str, **changes) -> Callable[[World], None]:
    def setup(w: World) -> None:
        acct = w.view.account_mut(getattr(w.keys, name).address)
        (issuer, att), = acct.attestations.items()
        acct.attestations[issuer] = dataclasses.replace(att, **changes)
    return setup


def tier(w: World, level: int) -> KycStatus:
    return KycStatus("US", w.genesis.tier(level))


def alice(w: World) -> Account:
    return w.view.account(w.keys.alice.address)


def backed(w: World, max_age: int = HOUR):
    """USD, made reserve-backed with a staleness limit (as an asset_update would)."""
    return dataclasses.replace(w.view.asset("USD"), reserve_backed=True, reserve_max_age_ms=max_age)


def reserves(amount: int = 2_000_000, as_of: int = NOW - HOUR // 4, auditor: str = ""):
    return Reserves(sha256(b"report"), amount, as_of, sha256(b"evidence"), "bank_a", NOW,
                    auditor)


def headroom(w: World) -> int:
    return 2_000_000 - w.view.supply("USD")


def reported(w: World) -> None:
    w.view.set_asset(backed(w))
    w.view.set_reserves("USD", reserves())


def travel(rule) -> Callable[[World], None]:
    """check_travel_rule on alice (US, bank_a's) paying bob (DE, bank_b's) 2_000 USD, at a
    report threshold of 2_000."""
    def call(w: World) -> None:
        p = Transfer("USD", w.keys.bob.address, 2_000, "", rule)
        asset = dataclasses.replace(w.view.asset("USD"), report_threshold=2_000)
        R.check_travel_rule(w.view, CTX, w.keys.alice.address, p.to, p.amount, p.travel_rule,
                            asset, KycStatus("US", None), KycStatus("DE", None))
    return call


RECORD = sha256(b"ivms101 record")


def offer(w: World, **changes) -> Offer:
    """alice offers 1_000 USD for 800 EUR, partial fills allowed, open until T0 + 1 day."""
    o = Offer(w.keys.alice.address, "USD", 1_000, "EUR", 800, T0 + DAY, True, b"", T0)
    return dataclasses.replace(o, **changes)


def escrow(w: World, **changes) -> Escrow:
    """bob's 500 EUR for alice, releasable from NOW, cancellable from NOW + 1 h."""
    e = Escrow(w.keys.bob.address, "EUR", w.keys.alice.address, 500, NOW, NOW + HOUR, b"", T0)
    return dataclasses.replace(e, **changes)


def offer_terms(give: str = "USD", want: str = "EUR", expires_at: int = NOW + 1) -> FxOffer:
    return FxOffer(give, 100, want, 80, expires_at, False, b"")


def stored(make: Callable[..., Any], store: str, **changes) -> Callable[[World], None]:
    """Put an offer or escrow under the id sha256(b"x") (set_offer / set_escrow)."""
    return lambda w: getattr(w.view, store)(sha256(b"x"), make(w, **changes))


def loan(w: World, **changes) -> Loan:
    """bank_a lends alice 1_000 USD at 1_000 bps: 550 due at NOW + 1 day and NOW + 2 days,
    an hour's grace, defaulting after two misses; acceptable until NOW + 1 h."""
    ln = Loan(w.keys.bank_a.address, w.keys.alice.address, "USD", 1_000, 1_000,
              ((NOW + DAY, 550), (NOW + 2 * DAY, 550)), HOUR, 2, NOW + HOUR, T0)
    return dataclasses.replace(ln, **changes)


def loan_terms(w: World, **changes) -> LoanOffer:
    """The terms of `loan`, as a loan_offer."""
    p = LoanOffer(w.keys.alice.address, "USD", 1_000, 1_000,
                  ((NOW + DAY, 550), (NOW + 2 * DAY, 550)), HOUR, 2, NOW + HOUR)
    return dataclasses.replace(p, **changes)


def proposal(status: str = "open", approvals: tuple[str, ...] = ("bank_a",)) -> Proposal:
    return Proposal("license_grant", "obs_d", "kyc_issuer", T0 + DAY, "bank_a", approvals, status)


CASES = [
    # envelope
    Case("check_chain", lambda w: R.check_chain(w.tx(w.keys.alice, chain_id=sha256(b"x")), w.genesis),
         E.WrongChain, lambda w: R.check_chain(w.tx(w.keys.alice), w.genesis)),
    Case("check_signature", lambda w: R.check_signature(w.tampered(w.keys.alice), w.sigs),
         E.BadSignature, lambda w: R.check_signature(w.tx(w.keys.alice), w.sigs)),
    Case("check_signed", lambda w: R.check_signed(w.tx(w.keys.alice, chain_id=sha256(b"x")),
                                                  w.genesis, w.sigs),
         E.WrongChain, lambda w: R.check_signed(w.tx(w.keys.alice, nonce=7), w.genesis, w.sigs)),
    Case("check_signed", lambda w: R.check_signed(w.tampered(w.keys.alice), w.genesis, w.sigs),
         E.BadSignature, lambda w: R.check_signed(w.tx(w.keys.alice), w.genesis, w.sigs)),
    Case("check_nonce", lambda w: R.check_nonce(w.tx(w.keys.alice, nonce=1), 0),
         E.BadNonce, lambda w: R.check_nonce(w.tx(w.keys.alice, nonce=1), 1)),
    Case("check_envelope", lambda w: R.check_envelope(w.view, w.tx(w.keys.alice, nonce=3), w.sigs),
         E.BadNonce, lambda w: R.check_envelope(w.view, w.tx(w.keys.alice), w.sigs)),
    # licensing
    Case("check_regulator", lambda w: R.check_regulator(w.view, w.keys.bank_a.address),
         E.NotLicensed, lambda w: R.check_regulator(w.view, w.keys.regulator.address)),
    Case("check_licensed", lambda w: R.check_licensed(w.view, w.keys.pay_c.address, "kyc_issuer"),
         E.NotLicensed, lambda w: R.check_licensed(w.view, w.keys.bank_a.address, "kyc_issuer")),
    Case("check_licensed", lambda w: R.check_licensed(w.view, w.keys.bank_b.address, "kyc_issuer"),
         E.NotLicensed, lambda w: R.check_licensed(w.view, w.keys.bank_b.address, "asset_issuer"),
         setup=revoke("kyc_issuer", "bank_b")),
    Case("check_institution", lambda w: R.check_institution(w.view, "nobody"),
         E.UnknownInstitution, lambda w: R.check_institution(w.view, "pay_c")),
    Case("check_policy", lambda w: R.check_policy(w.view, LicensePolicy.MAJORITY),
         E.GovernanceDisabled, lambda w: R.check_policy(w.view, LicensePolicy.REGULATOR)),
    Case("check_policy", lambda w: R.check_policy(w.view, LicensePolicy.REGULATOR),
         E.GovernanceRequired, lambda w: R.check_policy(w.view, LicensePolicy.MAJORITY),
         majority=True),
    Case("check_key_unused", lambda w: R.check_key_unused(w.view, w.keys.bank_a.address),
         E.KeyInUse, lambda w: R.check_key_unused(w.view, bytes(range(32)))),
    Case("check_not_the_only_validator",
         lambda w: R.check_not_the_only_validator(w.view, "bank_a", "node"),
         E.LastValidator, lambda w: (R.check_not_the_only_validator(w.view, "bank_a", "authority"),
                                     R.check_not_the_only_validator(w.view, "bank_b", "node")),
         setup=revoke("validator", "bank_b")),
    # policy on chain: the blocked set of the test genesis is {IR, KP}
    Case("check_not_blocked", lambda w: R.check_not_blocked(w.view, "KP"),
         E.AlreadyBlocked, lambda w: R.check_not_blocked(w.view, "RU")),
    Case("check_blocked", lambda w: R.check_blocked(w.view, "RU"),
         E.NotBlocked, lambda w: R.check_blocked(w.view, "IR")),
    # the travel rule
    Case("check_travel_rule", travel(()), E.TravelRuleRequired,
         travel(("bank_a", "bank_b", RECORD))),
    Case("check_travel_rule", travel(("bank_b", "bank_b", RECORD)), E.OriginatorMismatch,
         travel(("bank_a", "bank_b", RECORD))),
    Case("check_travel_rule", travel(("bank_a", "bank_a", RECORD)), E.BeneficiaryMismatch,
         travel(("bank_a", "bank_b", RECORD))),
    # assets on chain and reserves (USD: bank_a's; reported: reserves of 2_000_000)
    Case("check_asset_new", lambda w: R.check_asset_new(w.view, "USD"),
         E.AssetExists, lambda w: R.check_asset_new(w.view, "XAU")),
    Case("check_reserves_fresh", lambda w: R.check_reserves_fresh(backed(w), None, CTX),
         E.ReservesStale, lambda w: R.check_reserves_fresh(backed(w), reserves(), CTX)),
    Case("check_reserves_fresh",
         lambda w: R.check_reserves_fresh(backed(w), reserves(as_of=NOW - HOUR - 1), CTX),
         E.ReservesStale,
         lambda w: (R.check_reserves_fresh(backed(w), reserves(as_of=NOW - HOUR), CTX),
                    R.check_reserves_fresh(backed(w, 0), reserves(as_of=0), CTX))),
    Case("check_within_reserves",
         lambda w: R.check_within_reserves(backed(w), reserves(), 2_000_001),
         E.ReservesExceeded, lambda w: R.check_within_reserves(backed(w), reserves(), 2_000_000)),
    Case("check_reserves", lambda w: R.check_reserves(w.view, w.view.asset("USD"), headroom(w) + 1,
                                                      CTX),
         E.ReservesExceeded,
         lambda w: R.check_reserves(w.view, w.view.asset("USD"), headroom(w), CTX), setup=reported),
    Case("check_reserves", lambda w: R.check_reserves(w.view, backed(w), 1, CTX),
         E.ReservesStale, lambda w: R.check_reserves(w.view, w.view.asset("EUR"), 10**9, CTX)),
    Case("check_report_time", lambda w: R.check_report_time(None, NOW + 1, CTX),
         E.ReserveInFuture, lambda w: R.check_report_time(None, NOW, CTX)),
    Case("check_report_time",
         lambda w: R.check_report_time(reserves(), NOW - HOUR // 4, CTX), E.ReserveOutOfOrder,
         lambda w: R.check_report_time(reserves(), NOW - HOUR // 4 + 1, CTX)),
    Case("check_auditor", lambda w: R.check_auditor(w.view, w.keys.bank_a.address, backed(w)),
         E.Unauthorized, lambda w: R.check_auditor(w.view, w.keys.bank_b.address, backed(w))),
    Case("check_auditor", lambda w: R.check_auditor(w.view, w.keys.alice.address, backed(w)),
         E.NotLicensed, lambda w: R.check_auditor(w.view, w.keys.pay_c.address, backed(w))),
    Case("check_report_attestable",
         lambda w: R.check_report_attestable(reserves(), sha256(b"older")), E.UnknownReport,
         lambda w: R.check_report_attestable(reserves(), sha256(b"report"))),
    Case("check_report_attestable",
         lambda w: R.check_report_attestable(reserves(auditor="bank_b"), sha256(b"report")),
         E.AlreadyAttested, lambda w: R.check_report_attestable(reserves(), sha256(b"report"))),
    Case("check_institution_new", lambda w: R.check_institution_new(w.view, "bank_a"),
         E.InstitutionExists, lambda w: R.check_institution_new(w.view, "bank_z")),
    Case("check_tier_limits",
         lambda w: R.check_tier_limits(w.view, TierSet(1, "basic", (("USD", 11, 10),))),
         E.BadTierLimits,
         lambda w: R.check_tier_limits(w.view, TierSet(1, "basic", (("USD", 10, 10),)))),
    Case("check_tier_limits",
         lambda w: R.check_tier_limits(w.view, TierSet(1, "basic", (("XAU", 1, 10),))),
         E.UnknownAsset, lambda w: R.check_tier_limits(w.view, TierSet(1, "basic", ()))),
    Case("check_keeps_a_validator",
         lambda w: R.check_keeps_a_validator(w.view, "license_revoke", "bank_a", "validator"),
         E.LastValidator,
         lambda w: R.check_keeps_a_validator(w.view, "license_revoke", "bank_a", "kyc_issuer"),
         setup=revoke("validator", "bank_b")),
    Case("check_license_not_yet_expired", lambda w: R.check_license_not_yet_expired(NOW, CTX),
         E.LicenseExpired, lambda w: R.check_license_not_yet_expired(0, CTX)),
    # controls
    Case("check_sender_not_frozen",
         lambda w: R.check_sender_not_frozen(w.view, w.tx(w.keys.bank_a)), E.Frozen,
         lambda w: R.check_sender_not_frozen(w.view, w.tx(w.keys.regulator)),
         setup=lambda w: [setattr(w.view.account_mut(k.address), "frozen", True)
                          for k in (w.keys.bank_a, w.keys.regulator)]),
    Case("check_not_frozen", lambda w: R.check_not_frozen(Account(frozen=True), "sender"),
         E.Frozen, lambda w: R.check_not_frozen(alice(w), "sender")),
    Case("check_asset_not_frozen", lambda w: R.check_asset_not_frozen(w.view, "USD"),
         E.AssetFrozen, lambda w: R.check_asset_not_frozen(w.view, "EUR"),
         setup=lambda w: w.view.set_asset_frozen("USD", True)),
    # KYC
    Case("check_kyc", lambda w: R.check_kyc(w.view, CTX, w.keys.carol.address, "sender"),
         E.KycMissing, lambda w: R.check_kyc(w.view, CTX, w.keys.alice.address, "sender")),
    Case("check_kyc", lambda w: R.check_kyc(w.view, CTX, w.keys.alice.address, "sender"),
         E.KycRevoked, lambda w: R.check_kyc(w.view, CTX, w.keys.bob.address, "sender"),
         setup=set_attestation("alice", revoked=True)),
    Case("check_kyc", lambda w: R.check_kyc(w.view, CTX, w.keys.bob.address, "sender"),
         E.IssuerNotLicensed, lambda w: R.check_kyc(w.view, CTX, w.keys.alice.address, "sender"),
         setup=revoke("kyc_issuer", "bank_b")),
    Case("check_kyc", lambda w: R.check_kyc(w.view, Context(ERIN_EXPIRES), w.keys.erin.address, "x"),
         E.KycExpired, lambda w: R.check_kyc(w.view, Context(ERIN_EXPIRES - 1), w.keys.erin.address,
                                            "x")),
    Case("check_kyc", lambda w: R.check_kyc(w.view, CTX, w.keys.alice.address, "sender"),
         E.UnknownTier, lambda w: R.check_kyc(w.view, CTX, w.keys.bank_a.address, "sender"),
         setup=set_attestation("alice", tier=9)),
    Case("check_jurisdiction", lambda w: R.check_jurisdiction(w.view, KycStatus("KP", None), "x"),
         E.JurisdictionBlocked, lambda w: R.check_jurisdiction(w.view, KycStatus("SG", None), "x")),
    Case("check_party", lambda w: R.check_party(w.view, CTX, w.keys.dave.address, "recipient"),
         E.JurisdictionBlocked, lambda w: R.check_party(w.view, CTX, w.keys.bob.address, "x")),
    Case("check_party", lambda w: R.check_party(w.view, CTX, w.keys.alice.address, "sender"),
         E.Frozen, lambda w: R.check_party(w.view, CTX, w.keys.bob.address, "sender"),
         setup=lambda w: setattr(w.view.account_mut(w.keys.alice.address), "frozen", True)),
    Case("check_party", lambda w: R.check_party(w.view, CTX, w.keys.carol.address, "sender"),
         E.KycMissing, lambda w: R.check_party(w.view, CTX, w.keys.bank_b.address, "sender")),
    Case("check_sender_standing", lambda w: R.check_sender_standing(w.view, CTX,
                                                                      w.keys.carol.address),
         E.KycMissing, lambda w: R.check_sender_standing(w.view, CTX, w.keys.regulator.address)),
    Case("check_sender_standing", lambda w: R.check_sender_standing(w.view, CTX,
                                                                      w.keys.alice.address),
         E.Frozen, lambda w: R.check_sender_standing(w.view, CTX, w.keys.bank_a.address),
         setup=lambda w: setattr(w.view.account_mut(w.keys.alice.address), "frozen", True)),
    Case("check_tier", lambda w: R.check_tier(w.view, 9), E.UnknownTier,
         lambda w: R.check_tier(w.view, 2)),
    Case("check_not_yet_expired", lambda w: R.check_not_yet_expired(NOW, CTX), E.KycExpired,
         lambda w: R.check_not_yet_expired(NOW + 1, CTX)),
    Case("check_revocable",
         lambda w: R.check_revocable(w.view, w.keys.carol.address, "bank_a"),
         E.KycMissing,
         lambda w: R.check_revocable(w.view, w.keys.alice.address, "bank_a")),
    Case("check_revocable",
         lambda w: R.check_revocable(w.view, w.keys.alice.address, "bank_b"),
         E.Unauthorized,
         lambda w: R.check_revocable(w.view, w.keys.bob.address, "bank_b")),
    Case("check_revocable",
         lambda w: R.check_revocable(w.view, w.keys.alice.address, "bank_a"),
         E.KycRevoked,
         lambda w: R.check_revocable(w.view, w.keys.dave.address, "bank_a"),
         setup=set_attestation("alice", revoked=True)),
    Case("check_not_revoked_by_issuer",
         lambda w: R.check_not_revoked_by_issuer(w.view, w.keys.alice.address,
                                                 w.genesis.institution("bank_a")),
         E.AttestationRevoked,
         lambda w: R.check_not_revoked_by_issuer(w.view, w.keys.alice.address,
                                                 w.genesis.institution("bank_b")),
         setup=set_attestation("alice", revoked=True)),
    Case("check_revoker",
         lambda w: R.check_revoker(w.view, w.keys.bank_b.address,
                                   KycRevoke(w.keys.alice.address, "bank_a")),
         E.Unauthorized,
         lambda w: R.check_revoker(w.view, w.keys.regulator.address,
                                   KycRevoke(w.keys.alice.address, "bank_a"))),
    Case("check_revoker",
         lambda w: R.check_revoker(w.view, w.keys.pay_c.address, KycRevoke(w.keys.alice.address)),
         E.NotLicensed,
         lambda w: R.check_revoker(w.view, w.keys.bank_a.address, KycRevoke(w.keys.alice.address))),
    # limits (alice is tier 1: USD per_tx 1_000, daily 2_500; GBP not allowed)
    Case("check_limits", lambda w: R.check_limits(tier(w, 1), alice(w), "GBP", 1, CTX),
         E.LimitExceeded, lambda w: R.check_limits(tier(w, 2), alice(w), "GBP", 1, CTX)),
    Case("check_limits", lambda w: R.check_limits(tier(w, 1), alice(w), "USD", 1_001, CTX),
         E.LimitExceeded, lambda w: R.check_limits(tier(w, 1), alice(w), "USD", 1_000, CTX)),
    Case("check_limits", lambda w: R.check_limits(tier(w, 1), alice(w), "USD", 501, CTX),
         E.LimitExceeded, lambda w: R.check_limits(tier(w, 1), alice(w), "USD", 500, CTX),
         setup=lambda w: R.apply_spend(w.view.account_mut(w.keys.alice.address), "USD", 2_000,
                                       NOW)),
    Case("check_funds", lambda w: R.check_funds(alice(w), "USD", 10_001), E.InsufficientFunds,
         lambda w: R.check_funds(alice(w), "USD", 10_000)),
    Case("check_no_overflow", lambda w: R.check_no_overflow(MAX_AMOUNT, 1, "supply"),
         E.LimitExceeded, lambda w: R.check_no_overflow(MAX_AMOUNT - 1, 1, "supply")),
    # assets
    Case("check_asset", lambda w: R.check_asset(w.view, "XYZ"), E.UnknownAsset,
         lambda w: R.check_asset(w.view, "GBP")),
    Case("check_asset_issuer", lambda w: R.check_asset_issuer(w.view, w.keys.bank_b.address, "USD"),
         E.Unauthorized, lambda w: R.check_asset_issuer(w.view, w.keys.bank_a.address, "USD")),
    Case("check_asset_issuer", lambda w: R.check_asset_issuer(w.view, w.keys.pay_c.address, "USD"),
         E.NotLicensed, lambda w: R.check_asset_issuer(w.view, w.keys.bank_b.address, "EUR")),
    Case("check_asset_controller",
         lambda w: R.check_asset_controller(w.view, w.keys.alice.address, "USD"), E.NotLicensed,
         lambda w: R.check_asset_controller(w.view, w.keys.regulator.address, "USD")),
    Case("check_asset_controller",
         lambda w: R.check_asset_controller(w.view, w.keys.regulator.address, "XYZ"),
         E.UnknownAsset, lambda w: R.check_asset_controller(w.view, w.keys.bank_b.address, "GBP")),
    Case("check_not_to_self", lambda w: R.check_not_to_self(b"a" * 32, b"a" * 32, "same"),
         E.SelfTransfer, lambda w: R.check_not_to_self(b"a" * 32, b"b" * 32, "same")),
    Case("check_clawback_enabled", lambda w: R.check_clawback_enabled(w.genesis.asset("EUR")),
         E.ClawbackDisabled, lambda w: R.check_clawback_enabled(w.genesis.asset("USD"))),
    # governance (majority genesis: validators bank_a, bank_b, pay_c; obs_d an observer)
    Case("check_validator", lambda w: R.check_validator(w.view, w.keys.obs_d.address),
         E.NotLicensed, lambda w: R.check_validator(w.view, w.keys.pay_c.address), majority=True),
    Case("check_proposal", lambda w: R.check_proposal(w.view, b"\x00" * 32), E.UnknownProposal,
         lambda w: R.check_proposal(w.view, b"\x01" * 32), majority=True,
         setup=lambda w: w.view.set_proposal(b"\x01" * 32, proposal())),
    Case("check_open", lambda w: R.check_open(proposal("applied")), E.ProposalClosed,
         lambda w: R.check_open(proposal("open"))),
    Case("check_unexpired", lambda w: R.check_unexpired(NOW, CTX), E.ProposalExpired,
         lambda w: R.check_unexpired(NOW + 1, CTX)),
    Case("check_not_approved", lambda w: R.check_not_approved(proposal(), "bank_a"),
         E.AlreadyApproved, lambda w: R.check_not_approved(proposal(), "bank_b")),
    # blocks (on the genesis tip; bank_a proposes)
    Case("check_height", lambda w: R.check_height(w.block(height=2).header, w.chain.tip),
         E.BadHeight, lambda w: R.check_height(w.block().header, w.chain.tip)),
    Case("check_parent", lambda w: R.check_parent(w.block(prev_hash=b"\0" * 32).header, w.chain.tip),
         E.BadParent, lambda w: R.check_parent(w.block().header, w.chain.tip)),
    Case("check_time_monotonic",
         lambda w: R.check_time_monotonic(w.block(timestamp=T0 - 1).header, w.chain.tip),
         E.TimeWentBackwards,
         lambda w: R.check_time_monotonic(w.block(timestamp=T0).header, w.chain.tip)),
    Case("check_proposer",
         lambda w: R.check_proposer(w.view, w.block(proposer=w.keys.pay_c.address).header),
         E.ProposerNotLicensed,
         lambda w: R.check_proposer(w.view, w.block(proposer=w.keys.bank_b.address).header)),
    Case("check_block_signature",
         lambda w: R.check_block_signature(w.block().header, w.keys.bank_b.sign(w.block().header.hash)),
         E.BadBlockSignature,
         lambda w: R.check_block_signature(w.block().header, w.block().signature)),
    Case("check_no_duplicate_tx",
         lambda w: R.check_no_duplicate_tx(w.block().header, [b"h" * 32, b"h" * 32]),
         E.DuplicateTx, lambda w: R.check_no_duplicate_tx(w.block().header, [b"h" * 32, b"i" * 32])),
    Case("check_tx_root", lambda w: R.check_tx_root(w.block().header, [b"h" * 32]), E.BadTxRoot,
         lambda w: R.check_tx_root(w.block().header, [])),
    Case("check_block",
         lambda w: R.check_block(w.block(proposer=w.keys.alice.address), w.chain.tip, w.view),
         E.ProposerNotLicensed, lambda w: R.check_block(w.block(), w.chain.tip, w.view)),
    Case("check_block", lambda w: R.check_block(w.block([w.tx(w.keys.alice)] * 2), w.chain.tip,
                                                w.view),
         E.DuplicateTx, lambda w: R.check_block(w.block([w.tx(w.keys.alice)]), w.chain.tip, w.view)),
    # payments (the checks of a transfer, an escrow and each FX leg)
    Case("check_payment", lambda w: R.check_payment(w.view, CTX, w.keys.alice.address,
                                                    w.keys.bob.address, "USD", 1_001, ()),
         E.LimitExceeded, lambda w: R.check_payment(w.view, CTX, w.keys.alice.address,
                                                    w.keys.bob.address, "USD", 1_000, ())),
    Case("check_payment", lambda w: R.check_payment(w.view, CTX, w.keys.bank_b.address,
                                                    w.keys.alice.address, "EUR", 1_000_001, ()),
         E.InsufficientFunds,  # bank_b is exempt from tiers; funded=False: the units are held
         lambda w: R.check_payment(w.view, CTX, w.keys.bank_b.address, w.keys.alice.address,
                                   "EUR", 1_000_001, (), funded=False)),
    # FX offers
    Case("check_offer_terms", lambda w: R.check_offer_terms(offer_terms(want="USD"), CTX),
         E.BadOffer, lambda w: R.check_offer_terms(offer_terms(), CTX)),
    Case("check_offer_terms", lambda w: R.check_offer_terms(offer_terms(expires_at=NOW), CTX),
         E.BadOffer, lambda w: R.check_offer_terms(offer_terms(expires_at=NOW + 1), CTX)),
    Case("check_offer", lambda w: R.check_offer(w.view, sha256(b"y")), E.UnknownOffer,
         lambda w: R.check_offer(w.view, sha256(b"x")), setup=stored(offer, "set_offer")),
    Case("check_offer_not_closed",
         lambda w: R.check_offer_not_closed(offer(w, status="filled")),
         E.OfferClosed, lambda w: R.check_offer_not_closed(offer(w, expires_at=NOW))),
    Case("check_offer_open", lambda w: R.check_offer_open(offer(w, status="cancelled"), CTX),
         E.OfferClosed, lambda w: R.check_offer_open(offer(w), CTX)),
    Case("check_offer_open", lambda w: R.check_offer_open(offer(w, expires_at=NOW), CTX),
         E.OfferExpired, lambda w: R.check_offer_open(offer(w, expires_at=NOW + 1), CTX)),
    Case("check_counterparty",
         lambda w: R.check_counterparty(offer(w, counterparty=w.keys.carol.address),
                                        w.keys.bob.address),
         E.NotCounterparty,
         lambda w: R.check_counterparty(offer(w, counterparty=w.keys.bob.address),
                                        w.keys.bob.address)),
    Case("check_counterparty", lambda w: R.check_counterparty(offer(w), w.keys.alice.address),
         E.SelfTransfer, lambda w: R.check_counterparty(offer(w), w.keys.bob.address)),
    Case("check_fill", lambda w: R.check_fill(offer(w, paid=100), 701), E.BadFill,
         lambda w: R.check_fill(offer(w, paid=100), 700)),
    Case("check_fill", lambda w: R.check_fill(offer(w, give_amount=1, want_amount=800), 799),
         E.BadFill, lambda w: R.check_fill(offer(w, give_amount=1, want_amount=800), 800)),
    Case("check_fill", lambda w: R.check_fill(offer(w, partial=False), 799),
         E.PartialNotAllowed, lambda w: R.check_fill(offer(w, partial=False), 800)),
    Case("check_maker", lambda w: R.check_maker(offer(w), w.keys.bob.address), E.Unauthorized,
         lambda w: R.check_maker(offer(w), w.keys.alice.address)),
    # escrows
    Case("check_escrow_times",
         lambda w: R.check_escrow_times(EscrowCreate("EUR", w.keys.alice.address, 5, NOW, NOW, b"")),
         E.BadEscrow,
         lambda w: R.check_escrow_times(EscrowCreate("EUR", w.keys.alice.address, 5, NOW,
                                                     NOW + 1, b""))),
    Case("check_escrow", lambda w: R.check_escrow(w.view, sha256(b"y")), E.UnknownEscrow,
         lambda w: R.check_escrow(w.view, sha256(b"x")), setup=stored(escrow, "set_escrow")),
    Case("check_escrow", lambda w: R.check_escrow(w.view, sha256(b"x")), E.EscrowClosed,
         lambda w: R.check_escrow(w.view, sha256(b"z")),
         setup=lambda w: (stored(escrow, "set_escrow", status="released")(w),
                          w.view.set_escrow(sha256(b"z"), escrow(w)))),
    Case("check_release_window",
         lambda w: R.check_release_window(escrow(w, release_after=NOW + 1), CTX),
         E.EscrowNotYet, lambda w: R.check_release_window(escrow(w), CTX)),
    Case("check_release_window",
         lambda w: R.check_release_window(escrow(w, cancel_after=NOW), CTX),
         E.EscrowExpired, lambda w: R.check_release_window(escrow(w, cancel_after=NOW + 1), CTX)),
    Case("check_releaser",
         lambda w: R.check_releaser(escrow(w, condition=sha256(b"secret")), w.keys.carol.address,
                                    b"guess"),
         E.EscrowCondition,
         lambda w: R.check_releaser(escrow(w, condition=sha256(b"secret")), w.keys.carol.address,
                                    b"secret")),
    Case("check_releaser", lambda w: R.check_releaser(escrow(w), w.keys.alice.address, b""),
         E.Unauthorized, lambda w: R.check_releaser(escrow(w), w.keys.bob.address, b"")),
    Case("check_releasable",
         lambda w: R.check_releasable(w.view, CTX, escrow(w, to=w.keys.carol.address)),
         E.KycMissing, lambda w: R.check_releasable(w.view, CTX, escrow(w))),
    Case("check_cancellable", lambda w: R.check_cancellable(escrow(w), w.keys.bob.address, CTX),
         E.EscrowNotYet,
         lambda w: R.check_cancellable(escrow(w), w.keys.bob.address, Context(NOW + HOUR))),
    Case("check_cancellable",
         lambda w: R.check_cancellable(escrow(w), w.keys.alice.address, Context(NOW + HOUR)),
         E.Unauthorized,
         lambda w: R.check_cancellable(escrow(w), w.keys.bob.address, Context(NOW + HOUR))),
    # loans
    Case("check_lender", lambda w: R.check_lender(w.view, w.keys.alice.address), E.NotLicensed,
         lambda w: R.check_lender(w.view, w.keys.bank_a.address)),
    Case("check_lender", lambda w: R.check_lender(w.view, w.keys.pay_c.address), E.NotLicensed,
         lambda w: R.check_lender(w.view, w.keys.bank_b.address)),  # pay_c: an observer only
    Case("check_schedule",
         lambda w: R.check_schedule(loan_terms(w, schedule=((NOW + 2 * DAY, 550),
                                                            (NOW + DAY, 550))), CTX),
         E.BadSchedule, lambda w: R.check_schedule(loan_terms(w), CTX)),
    Case("check_schedule",
         lambda w: R.check_schedule(loan_terms(w, schedule=((NOW, 550), (NOW + DAY, 550))), CTX),
         E.BadSchedule,
         lambda w: R.check_schedule(loan_terms(w, schedule=((NOW + 1, 550), (NOW + DAY, 550)),
                                               expires_at=NOW + 1), CTX)),
    Case("check_schedule",  # 1_000 at 1_005 bps repays 1_100 (1_100.5 rounded down), not 1_101
         lambda w: R.check_schedule(loan_terms(w, interest_bps=1_005,
                                               schedule=((NOW + DAY, 550), (NOW + 2 * DAY, 551))),
                                    CTX),
         E.BadSchedule, lambda w: R.check_schedule(loan_terms(w, interest_bps=1_005), CTX)),
    Case("check_schedule",
         lambda w: R.check_schedule(loan_terms(w, principal=MAX_AMOUNT, interest_bps=1,
                                               schedule=((NOW + DAY, MAX_AMOUNT),
                                                         (NOW + 2 * DAY, MAX_AMOUNT // 10_000))),
                                    CTX),
         E.BadSchedule,
         lambda w: R.check_schedule(loan_terms(w, principal=MAX_AMOUNT, interest_bps=0,
                                               default_after=1,
                                               schedule=((NOW + DAY, MAX_AMOUNT),)), CTX)),
    Case("check_schedule", lambda w: R.check_schedule(loan_terms(w, default_after=3), CTX),
         E.BadSchedule, lambda w: R.check_schedule(loan_terms(w, default_after=2), CTX)),
    Case("check_schedule", lambda w: R.check_schedule(loan_terms(w, expires_at=NOW), CTX),
         E.LoanOfferExpired, lambda w: R.check_schedule(loan_terms(w, expires_at=NOW + 1), CTX)),
    Case("check_loan", lambda w: R.check_loan(w.view, sha256(b"y")), E.UnknownLoan,
         lambda w: R.check_loan(w.view, sha256(b"x")), setup=stored(loan, "set_loan")),
    Case("check_acceptable", lambda w: R.check_acceptable(loan(w), w.keys.bob.address, CTX),
         E.NotBorrower, lambda w: R.check_acceptable(loan(w), w.keys.alice.address, CTX)),
    Case("check_acceptable",
         lambda w: R.check_acceptable(loan(w, status="current"), w.keys.alice.address, CTX),
         E.LoanNotOffered, lambda w: R.check_acceptable(loan(w), w.keys.alice.address, CTX)),
    Case("check_acceptable",
         lambda w: R.check_acceptable(loan(w, expires_at=NOW), w.keys.alice.address, CTX),
         E.LoanOfferExpired,
         lambda w: R.check_acceptable(loan(w, expires_at=NOW + 1), w.keys.alice.address, CTX)),
    Case("check_acceptable",  # accepted at the first due time: too late
         lambda w: R.check_acceptable(loan(w, expires_at=NOW + 3 * DAY), w.keys.alice.address,
                                      Context(NOW + DAY)),
         E.LoanOfferExpired,
         lambda w: R.check_acceptable(loan(w, expires_at=NOW + 3 * DAY), w.keys.alice.address,
                                      Context(NOW + DAY - 1))),
    Case("check_active", lambda w: R.check_active(loan(w)), E.LoanNotAccepted,
         lambda w: R.check_active(loan(w, status="late"))),
    Case("check_active", lambda w: R.check_active(loan(w, status="paid_off")), E.LoanClosed,
         lambda w: R.check_active(loan(w, status="defaulted"))),
    Case("check_active", lambda w: R.check_active(loan(w, status="written_off")), E.LoanClosed,
         lambda w: R.check_active(loan(w, status="current"))),
    Case("check_repayment",
         lambda w: R.check_repayment(loan(w, status="current"), w.keys.bank_a.address, 5),
         E.NotBorrower,
         lambda w: R.check_repayment(loan(w, status="current"), w.keys.alice.address, 5)),
    Case("check_repayment",
         lambda w: R.check_repayment(loan(w, status="current", repaid=100),
                                     w.keys.alice.address, 1_001),
         E.Overpayment,
         lambda w: R.check_repayment(loan(w, status="current", repaid=100),
                                     w.keys.alice.address, 1_000)),
    Case("check_writeoff",
         lambda w: R.check_writeoff(loan(w, status="late"), w.keys.alice.address),
         E.NotLender, lambda w: R.check_writeoff(loan(w, status="late"), w.keys.bank_a.address)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_check_raises_exactly_its_error_and_changes_nothing(case, genesis, majority_genesis,
                                                                keys):
    w = world(majority_genesis if case.majority else genesis, keys)
    case.setup(w)
    before = w.view.changes()
    with pytest.raises(Exception) as info:
        case.breaks(w)
    assert type(info.value) is case.error, f"expected {case.error.__name__}, got {info.value!r}"
    assert w.view.changes() == before
    case.keeps(w)  # the same rule, kept: no error
    assert w.view.changes() == before


def rulebook_functions(prefix: str) -> dict[str, Callable]:
    """Public functions named prefix* defined in the rulebook's modules."""
    found = {}
    for module in R.__dict__.values():
        if inspect.ismodule(module) and module.__name__.startswith("node.ledger.rules."):
            for name, fn in vars(module).items():
                if (name.startswith(prefix) and inspect.isfunction(fn)
                        and fn.__module__ == module.__name__):
                    found[name] = fn
    return found


def test_every_check_of_the_rulebook_has_a_case():
    assert set(rulebook_functions("check_")) == {c.check for c in CASES}


def test_every_apply_of_the_rulebook_is_a_kind_or_tested_here():
    kinds = {fn.__name__ for fn in R.APPLY.values()}
    here = {"apply_nonce", "apply_license", "apply_spend", "apply_proposal", "apply_in_block",
            "apply_rules", "apply_license_expiries", "apply_supervisory_report",
            "apply_offer_expiries", "apply_loan_collections", "apply_block_start"}
    assert set(rulebook_functions("apply_")) == kinds | here
    assert set(R.APPLY) == set(TxKind)


# ---- the rule index ---------------------------------------------------------------------------

INDEX = R.__doc__.split("RULE INDEX", 1)[1]


def test_the_rule_index_names_every_check_and_apply_function():
    named = set(re.findall(r"\b((?:check|apply)_\w+)", INDEX))
    public = set(rulebook_functions("check_")) | set(rulebook_functions("apply_"))
    assert public - named == set(), "functions missing from the rule index"
    assert named - public == set(), "the rule index names functions that do not exist"


def test_the_rule_index_names_the_membership_predicates():
    for name in ("licensed_as", "authority_as", "licensed_names", "licensed_validators",
                 "licensed_observers", "is_licensed_validator", "is_licensed_peer",
                 "expected_membership"):
        assert re.search(rf"\b{name}\b", INDEX) and callable(getattr(R, name))


def test_the_rule_index_names_only_real_reason_codes_and_block_errors():
    codes = {cls.code for cls in E.ALL_ERRORS}
    named_codes = set(re.findall(r"\b[A-Z][A-Z_]{3,}[A-Z]\b", INDEX)) - {"RULE", "INDEX", "APPLY",
                                                                          "MAX_AMOUNT",
                                                                          "MAX_TX_BYTES",
                                                                          "MAX_SPENDS", "MAX_REPORTS",
                                                                          "MAX_EXPIRIES_PER_BLOCK",
                                                                          "MAX_COLLECTIONS_PER_BLOCK"}
    assert named_codes <= codes, named_codes - codes
    block_errors = {name for name in re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b", INDEX)
                    if isinstance(getattr(E, name, None), type)
                    and issubclass(getattr(E, name), E.InvalidBlock)} - {"InvalidBlock"}
    assert block_errors == {cls.__name__ for cls in E.InvalidBlock.__subclasses__()}


def test_everything_public_is_exported_from_the_package():
    public = set(rulebook_functions("check_")) | set(rulebook_functions("apply_"))
    assert public <= set(R.__all__)
    assert all(hasattr(R, name) for name in R.__all__)


# ---- the apply_* helpers --------------------------------------------------------------------

def test_apply_nonce_moves_the_senders_nonce_past_the_tx(w):
    R.apply_nonce(w.view, w.tx(w.keys.alice, nonce=4))
    assert w.view.account(w.keys.alice.address).nonce == 5
    assert w.view.account(w.keys.bob.address).nonce == 0


def test_apply_license_grants_and_revokes_one_role(w):
    R.apply_license(w.view, "license_grant", "pay_c", "kyc_issuer")
    assert w.view.roles("pay_c") == {"observer", "kyc_issuer"}
    R.apply_license(w.view, "license_revoke", "pay_c", "observer")
    assert w.view.roles("pay_c") == {"kyc_issuer"}
    assert w.view.roles("bank_a") == {"validator", "kyc_issuer", "asset_issuer"}


def test_apply_spend_counts_in_the_rolling_window_and_drops_old_spends(w):
    acct = w.view.account_mut(w.keys.alice.address)
    R.apply_spend(acct, "USD", 100, T0)
    R.apply_spend(acct, "USD", 50, T0 + 23 * HOUR)
    assert R.sent_in_window(acct, "USD", T0 + 23 * HOUR) == 150
    assert R.sent_in_window(acct, "USD", T0 + 24 * HOUR - 1) == 150  # exact: not whole hours
    assert R.sent_in_window(acct, "USD", T0 + 24 * HOUR) == 50  # T0's spend left the window
    R.apply_spend(acct, "USD", 1, T0 + 24 * HOUR)
    assert acct.spent["USD"] == [(T0 + 23 * HOUR, 50), (T0 + 24 * HOUR, 1)]
    assert R.sent_in_window(acct, "EUR", T0) == 0


def test_apply_spend_past_its_bound_merges_the_oldest_two_at_the_later_time(w):
    acct = w.view.account_mut(w.keys.alice.address)
    for i in range(4):
        R.apply_spend(acct, "USD", 10 + i, T0 + i * HOUR, max_spends=3)
    assert acct.spent["USD"] == [(T0 + HOUR, 21), (T0 + 2 * HOUR, 12), (T0 + 3 * HOUR, 13)]
    # the merged 10 counts until T0 + 25 h, an hour longer than it would have alone
    assert R.sent_in_window(acct, "USD", T0 + 24 * HOUR) == 46
    assert R.sent_in_window(acct, "USD", T0 + 25 * HOUR) == 25


def test_apply_license_expiries_revokes_what_is_due_and_keeps_the_last_validator(w):
    R.apply_license(w.view, "license_grant", "pay_c", "kyc_issuer", expires_at=T0 + DAY)
    R.apply_license(w.view, "license_grant", "bank_a", "validator", expires_at=T0 + DAY)
    R.apply_license(w.view, "license_revoke", "bank_b", "validator")
    assert R.apply_license_expiries(w.view, Context(T0 + DAY - 1)) == []
    lapsed = R.apply_license_expiries(w.view, Context(T0 + DAY))
    assert [(x.institution, x.role) for x in lapsed] == [("pay_c", "kyc_issuer")]
    assert w.view.roles("pay_c") == {"observer"}
    assert "validator" in w.view.roles("bank_a")  # the last validator does not lapse...
    R.apply_license(w.view, "license_grant", "bank_b", "validator")
    R.apply_license_expiries(w.view, Context(T0 + DAY + 1))
    assert "validator" not in w.view.roles("bank_a")  # ...until another is licensed
    assert w.view.license_expiries() == ()


def test_apply_proposal_stores_without_a_majority_and_applies_with_one(wm):
    pid = b"\x07" * 32
    R.apply_proposal(wm.view, pid, proposal())  # 1 of 3 validators
    assert wm.view.proposal(pid).status == "open"
    assert wm.view.roles("obs_d") == {"observer"}
    R.apply_proposal(wm.view, pid, proposal(approvals=("bank_a", "bank_b")))  # 2 of 3
    assert wm.view.proposal(pid).status == "applied"
    assert wm.view.roles("obs_d") == {"observer", "kyc_issuer"}


def test_apply_in_block_consumes_the_nonce_when_a_rule_fails_and_admit_does_not(w):
    tx = w.tx(w.keys.carol, Transfer("USD", w.keys.bob.address, 10))  # carol holds no KYC
    with pytest.raises(E.KycMissing):
        R.admit(w.view, tx, CTX, w.sigs)
    assert w.view.account(w.keys.carol.address).nonce == 0
    with pytest.raises(E.KycMissing):
        R.apply_in_block(w.view, tx, CTX)
    assert w.view.account(w.keys.carol.address).nonce == 1
    assert w.view.account(w.keys.carol.address).balance("USD") == 1_000


def test_apply_in_block_applies_a_passing_tx_and_its_nonce(w):
    tx = w.tx(w.keys.alice, Transfer("USD", w.keys.bob.address, 10))
    R.apply_in_block(w.view, tx, CTX)
    assert w.view.account(w.keys.alice.address).nonce == 1
    assert w.view.account(w.keys.alice.address).balance("USD") == 9_990


def test_apply_rules_dispatches_on_the_kind_and_leaves_the_nonce(w):
    R.apply_rules(w.view, w.tx(w.keys.alice, Transfer("USD", w.keys.bob.address, 10)), CTX)
    assert w.view.account(w.keys.bob.address).balance("USD") == 500_010
    assert w.view.account(w.keys.alice.address).nonce == 0


# ---- membership: pure predicates of ledger state ----------------------------------------------

def test_licensed_validators_and_observers_follow_the_licenses(w):
    assert R.licensed_validators(w.view) == {"bank_a", "bank_b"}
    assert R.licensed_observers(w.view) == {"pay_c"}
    assert R.licensed_names(w.view, "asset_issuer") == {"bank_a", "bank_b"}
    R.apply_license(w.view, "license_revoke", "bank_b", "validator")
    assert R.licensed_validators(w.view) == {"bank_a"}


def test_licensed_as_and_authority_as(w):
    k = w.keys
    assert R.licensed_as(w.view, k.bank_a.address, "validator") == w.genesis.institution("bank_a")
    assert R.licensed_as(w.view, k.pay_c.address, "validator") is None
    assert R.licensed_as(w.view, k.alice.address, "validator") is None
    assert R.authority_as(w.view, k.pay_c.address, "observer") == w.genesis.institution("pay_c")
    R.apply_license(w.view, "license_revoke", "pay_c", "observer")
    assert R.authority_as(w.view, k.pay_c.address, "observer") is None  # no license left
    assert R.authority_as(w.view, k.regulator.address, "observer") is None


def test_is_licensed_validator_and_peer(w):
    k = w.keys
    assert R.is_licensed_validator(w.view, k.bank_a.address)
    assert not R.is_licensed_validator(w.view, k.pay_c.address)
    assert R.is_licensed_peer(w.view, k.bank_a.address) and R.is_licensed_peer(w.view, k.pay_c.address)
    for outsider in (k.alice, k.regulator, k.frank):
        assert not R.is_licensed_peer(w.view, outsider.address)
    R.apply_license(w.view, "license_revoke", "bank_b", "validator")  # keeps its issuer roles
    assert not R.is_licensed_peer(w.view, k.bank_b.address)
    assert not R.is_licensed_validator(w.view, k.bank_b.address)


def test_expected_membership_is_validators_as_voters_and_other_observers_as_learners(w):
    k = w.keys
    assert R.expected_membership(w.view) == R.Membership(
        tuple(sorted([k.bank_a.address_hex, k.bank_b.address_hex])), (k.pay_c.address_hex,))
    R.apply_license(w.view, "license_grant", "bank_a", "observer")  # a validator stays a voter
    R.apply_license(w.view, "license_revoke", "bank_b", "validator")
    assert R.expected_membership(w.view) == R.Membership((k.bank_a.address_hex,),
                                                         (k.pay_c.address_hex,))


def test_the_names_before_the_rulebook_still_import():
    """Callers written against node.ledger.rules as a module, and against node.ledger.execution,
    still get the rulebook's functions."""
    from node.ledger.execution import ChainTip, InvalidBlock, validate_block
    assert R.bump_nonce is R.apply_nonce
    assert InvalidBlock is E.InvalidBlock and ChainTip.__module__ == "node.ledger.types"
    assert callable(validate_block) and callable(R.check_kyc) and R.Context(1).timestamp == 1
