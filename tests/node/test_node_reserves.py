"""Assets on chain and reserves (node.ledger.rules.assets, node.ledger.rules.reserves).

The test genesis: USD issued by bank_a (supply 1_521_000), EUR and GBP by bank_b; bank_a and
bank_b are validators, pay_c an observer. A reserve-backed asset issues only within its
issuer's latest reserve report, and only while that report is fresh."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.genesis import Genesis
from node.ledger.state import State
from node.ledger.types import (
    AssetAdd,
    AssetUpdate,
    Freeze,
    Issue,
    LicenseGrant,
    ReserveAttest,
    ReserveReport,
    TierSet,
    sign_tx,
)
from node.ledger.verify import verify_chain

from .support import HOUR, T0, Chain, Ledger, genesis_doc

EVIDENCE = sha256(b"custodian statement 2026-12")
BACKED = AssetUpdate("USD", True, HOUR, 0)  # reserve-backed, reports stale after an hour


@pytest.fixture
def ledger(genesis) -> Ledger:
    return Ledger(genesis)


def supply(ledger: Ledger) -> int:
    return ledger.view.supply("USD")


# ---- asset_add, asset_update -----------------------------------------------------------------

def test_only_the_regulator_adds_or_changes_an_asset(ledger, keys):
    """Attack: an issuer mints a new asset of its own, or turns its asset's reserve backing off
    to issue past its reserves."""
    ledger.reject(E.NotLicensed, keys.bank_a, AssetAdd("XAU", "bank_a", 3, False, False, 0, 0))
    ledger.reject(E.NotLicensed, keys.bank_a, AssetUpdate("USD", False, 0, 0))
    ledger.ok(keys.regulator, BACKED)
    ledger.reject(E.NotLicensed, keys.bank_a, AssetUpdate("USD", False, 0, 0))
    assert ledger.view.asset("USD").reserve_backed


def test_an_added_asset_is_issued_by_its_issuer_from_that_block(ledger, keys):
    ledger.reject(E.UnknownAsset, keys.bank_b, Issue("XAU", keys.bob.address, 5))
    ledger.ok(keys.regulator, AssetAdd("XAU", "bank_b", 3, True, False, 0, 50_000))
    xau = ledger.view.asset("XAU")
    assert (xau.issuer, xau.decimals, xau.clawback, xau.report_threshold) == ("bank_b", 3, True,
                                                                              50_000)
    ledger.reject(E.Unauthorized, keys.bank_a, Issue("XAU", keys.bob.address, 5))
    ledger.ok(keys.bank_b, Issue("XAU", keys.bob.address, 5))
    ledger.ok(keys.regulator, TierSet(2, "standard", (("XAU", 10, 100),)))  # a tier may list it
    assert ledger.view.supply("XAU") == 5 and [a.code for a in ledger.view.assets()] == [
        "EUR", "GBP", "USD", "XAU"]


def test_asset_add_needs_a_new_code_and_an_existing_issuer(ledger, keys):
    ledger.reject(E.AssetExists, keys.regulator, AssetAdd("USD", "bank_b", 2, False, False, 0, 0))
    ledger.reject(E.UnknownInstitution, keys.regulator,
                  AssetAdd("XAU", "bank_z", 2, False, False, 0, 0))
    ledger.reject(E.UnknownAsset, keys.regulator, AssetUpdate("XAU", True, 0, 0))


def test_asset_update_keeps_code_issuer_decimals_and_clawback(ledger, keys):
    ledger.ok(keys.regulator, AssetUpdate("USD", True, 5, 7))
    usd = ledger.view.asset("USD")
    assert (usd.issuer, usd.decimals, usd.clawback) == ("bank_a", 2, True)
    assert (usd.reserve_backed, usd.reserve_max_age_ms, usd.report_threshold) == (True, 5, 7)


# ---- reserve_report and issuance ---------------------------------------------------------------

def test_issuance_beyond_reported_reserves_is_refused(ledger, keys):
    """Attack: the issuer of a reserve-backed asset issues more units than it holds reserves
    for (capital adequacy). Up to the reported amount passes; one unit more does not."""
    ledger.ok(keys.regulator, BACKED)
    ledger.reject(E.ReservesStale, keys.bank_a, Issue("USD", keys.bob.address, 1))  # no report
    ledger.ok(keys.bank_a, ReserveReport("USD", 2_000_000, ledger.now - 60_000, EVIDENCE))
    room = 2_000_000 - supply(ledger)
    ledger.reject(E.ReservesExceeded, keys.bank_a, Issue("USD", keys.bob.address, room + 1))
    ledger.ok(keys.bank_a, Issue("USD", keys.bob.address, room))
    ledger.reject(E.ReservesExceeded, keys.bank_a, Issue("USD", keys.bob.address, 1))
    assert supply(ledger) == 2_000_000


def test_issuance_on_a_stale_report_is_refused(ledger, keys):
    """Attack: an issuer reports reserves once and issues against that figure for ever."""
    ledger.ok(keys.regulator, BACKED)
    as_of = ledger.now - 60_000
    ledger.ok(keys.bank_a, ReserveReport("USD", 10**9, as_of, EVIDENCE))
    ledger.ok(keys.bank_a, Issue("USD", keys.bob.address, 1), at=as_of + HOUR)
    ledger.reject(E.ReservesStale, keys.bank_a, Issue("USD", keys.bob.address, 1),
                  at=as_of + HOUR + 1)
    ledger.ok(keys.bank_a, ReserveReport("USD", 10**9, as_of + HOUR, EVIDENCE), at=as_of + HOUR + 1)
    ledger.ok(keys.bank_a, Issue("USD", keys.bob.address, 1), at=as_of + HOUR + 1)


def test_an_asset_not_reserve_backed_issues_without_a_report(ledger, keys):
    ledger.ok(keys.bank_a, Issue("USD", keys.bob.address, 10**9))
    ledger.ok(keys.regulator, AssetUpdate("USD", True, 0, 0))  # backed, never stale
    ledger.ok(keys.bank_a, ReserveReport("USD", supply(ledger) + 5, 0, EVIDENCE))
    ledger.ok(keys.bank_a, Issue("USD", keys.bob.address, 5), at=T0 + 10**9)
    ledger.reject(E.ReservesExceeded, keys.bank_a, Issue("USD", keys.bob.address, 1))


def test_only_the_assets_issuer_reports_its_reserves(ledger, keys):
    """Attack: another institution (or the issuer's customer) files a large reserve figure for
    an asset it does not issue, to let issuance through."""
    ledger.ok(keys.regulator, BACKED)
    report = ReserveReport("USD", 10**12, ledger.now, EVIDENCE)
    ledger.reject(E.Unauthorized, keys.bank_b, report)
    ledger.reject(E.NotLicensed, keys.alice, report)
    ledger.reject(E.NotLicensed, keys.regulator, report)
    assert ledger.view.reserves("USD") is None


def test_a_report_is_of_a_past_time_newer_than_the_last(ledger, keys):
    """Attack: an issuer dates a report in the future to keep it fresh, or files an older one
    to replace a lower figure."""
    ledger.reject(E.ReserveInFuture, keys.bank_a,
                  ReserveReport("USD", 5, ledger.now + 1, EVIDENCE))
    ledger.ok(keys.bank_a, ReserveReport("USD", 5, ledger.now - 10, EVIDENCE))
    ledger.reject(E.ReserveOutOfOrder, keys.bank_a,
                  ReserveReport("USD", 10**9, ledger.now - 10, EVIDENCE))
    ledger.reject(E.ReserveOutOfOrder, keys.bank_a,
                  ReserveReport("USD", 10**9, ledger.now - 11, EVIDENCE))
    assert ledger.view.reserves("USD").amount == 5


def test_a_frozen_issuer_cannot_report(ledger, keys):
    """Attack: a frozen institution keeps its issuance headroom alive with fresh reports."""
    ledger.ok(keys.regulator, Freeze(keys.bank_a.address))
    ledger.reject(E.Frozen, keys.bank_a, ReserveReport("USD", 5, ledger.now, EVIDENCE))


# ---- reserve_attest ----------------------------------------------------------------------------

def test_an_auditor_co_signs_the_latest_report_once(ledger, keys):
    """Attack: the issuer co-signs its own report; a customer poses as auditor; a co-sign lands
    on a report that a newer one has replaced."""
    first = ledger.ok(keys.bank_a, ReserveReport("USD", 5, ledger.now - 10, EVIDENCE))
    second = ledger.ok(keys.bank_a, ReserveReport("USD", 6, ledger.now - 5, EVIDENCE))
    ledger.reject(E.Unauthorized, keys.bank_a, ReserveAttest("USD", second.hash))
    ledger.reject(E.NotLicensed, keys.alice, ReserveAttest("USD", second.hash))
    ledger.reject(E.UnknownReport, keys.pay_c, ReserveAttest("USD", first.hash))
    ledger.reject(E.UnknownReport, keys.pay_c, ReserveAttest("EUR", second.hash))
    ledger.ok(keys.pay_c, ReserveAttest("USD", second.hash))  # an observer: the auditor's seat
    ledger.reject(E.AlreadyAttested, keys.bank_b, ReserveAttest("USD", second.hash))
    r = ledger.view.reserves("USD")
    assert (r.report, r.amount, r.reporter, r.auditor) == (second.hash, 6, "bank_a", "pay_c")


def test_a_validator_other_than_the_issuer_may_co_sign(ledger, keys):
    report = ledger.ok(keys.bank_a, ReserveReport("USD", 5, ledger.now, EVIDENCE))
    ledger.ok(keys.bank_b, ReserveAttest("USD", report.hash))
    assert ledger.view.reserves("USD").auditor == "bank_b"


# ---- genesis, state records, replay ------------------------------------------------------------

def test_genesis_assets_carry_reserve_fields_and_older_chain_ids_stay(keys):
    doc = genesis_doc(keys)
    plain = Genesis.from_json(doc)
    doc["assets"][0] |= {"reserve_backed": True, "reserve_max_age_ms": HOUR,
                         "report_threshold": 100}
    backed = Genesis.from_json(doc)
    assert backed.chain_id != plain.chain_id
    assert Genesis.from_json(backed.to_json()).chain_id == backed.chain_id
    usd = State.from_genesis(backed).asset("USD")
    assert (usd.reserve_backed, usd.reserve_max_age_ms, usd.report_threshold) == (True, HOUR, 100)
    assert Genesis.from_json(plain.to_json()).chain_id == plain.chain_id


def test_assets_and_reserves_are_state_records_replay_reaches_the_same_hash(genesis, keys):
    """The asset and reserve records are in the state hash (b"A", b"R"), reload from the
    store's records, and a replay from genesis reaches the same state hash and verdicts."""
    assert not any(k[:1] in (b"A", b"R") for k, _ in State.from_genesis(genesis).records())
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    report = sign_tx(keys.bank_a, g, 0, ReserveReport("USD", 1_600_000, T0, EVIDENCE))
    r1 = chain.run([sign_tx(keys.regulator, g, 0, BACKED), report,
                    sign_tx(keys.bank_a, g, 1, Issue("USD", keys.bob.address, 100_000)),
                    sign_tx(keys.regulator, g, 1, AssetAdd("XAU", "pay_c", 3, False, True, 0, 0)),
                    sign_tx(keys.regulator, g, 2, LicenseGrant("pay_c", "asset_issuer"))],
                   T0 + HOUR // 2)
    r2 = chain.run([sign_tx(keys.pay_c, g, 0, ReserveAttest("USD", report.hash)),
                    sign_tx(keys.bank_a, g, 2, Issue("USD", keys.bob.address, 1))],  # stale now
                   T0 + 2 * HOUR)
    assert [r.code for r in r1.receipts + r2.receipts] == ["", "", "RESERVES_EXCEEDED", "", "",
                                                           "", "RESERVES_STALE"]
    assert {k[:1] for k, _ in r1.changes} >= {b"A", b"R"}
    reloaded = State(genesis)
    for k, v in chain.state.records():
        reloaded.load_record(k, v)
    assert reloaded.asset("USD") == chain.state.asset("USD") and reloaded.asset("XAU").issuer == "pay_c"
    assert reloaded.reserves("USD") == chain.state.reserves("USD")
    assert reloaded.reserves("USD").auditor == "pay_c"
    assert reloaded.records() == chain.state.records()
    replay = verify_chain(genesis, [(r1.block.encode(), r1.state_hash),
                                    (r2.block.encode(), r2.state_hash)])
    assert replay.ok and replay.height == 2 and replay.state_hash == r2.state_hash
