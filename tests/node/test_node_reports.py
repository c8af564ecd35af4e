"""Supervisory reports (node.ledger.rules.reports): a committed transfer at or above its asset's
report threshold is reported `large`; smaller ones that take the sender's rolling 24 h total
across it are reported `structuring`, once per crossing. alice is tier 1 (USD per_tx 1_000,
daily 2_500); bank_a is exempt (no window)."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger.state import MAX_REPORTS, Overlay, State, SupervisoryReport
from node.ledger.types import AssetUpdate, Transfer, sign_tx
from node.ledger.verify import verify_chain

from .support import HOUR, T0, Chain, Ledger

DAY = 24 * HOUR
RECORD = bytes(32)  # the salted hash of an IVMS101 record (node.ledger.rules.travel)


def travel(sender: str, recipient: str) -> tuple[str, str, bytes]:
    """Travel rule data: in the test genesis bob is bank_b's customer, alice bank_a's."""
    return ({"bob": "bank_b", "alice": "bank_a"}.get(sender, sender),
            {"bob": "bank_b", "alice": "bank_a"}.get(recipient, recipient), RECORD)


@pytest.fixture
def ledger(genesis, keys) -> Ledger:
    ledger = Ledger(genesis)
    ledger.ok(keys.regulator, AssetUpdate("USD", False, 0, 2_000))
    return ledger


def kinds(ledger: Ledger) -> list[tuple[str, int, int]]:
    return [(r.kind, r.amount, r.window_total) for r in ledger.view.reports()]


def pay(ledger: Ledger, key, to, amount: int, at: int | None = None, rule=()) -> None:
    ledger.ok(key, Transfer("USD", to.address, amount, "", rule), at)


def test_a_transfer_at_or_above_the_threshold_is_reported_large(ledger, keys):
    pay(ledger, keys.bob, keys.alice, 1_999)
    assert kinds(ledger) == []
    pay(ledger, keys.bob, keys.alice, 2_000, rule=travel("bob", "alice"))
    (r,) = ledger.view.reports()
    assert (r.kind, r.asset, r.sender, r.recipient, r.amount, r.threshold) == (
        "large", "USD", keys.bob.address, keys.alice.address, 2_000, 2_000)
    assert r.seq == 0 and r.time == ledger.now


def test_splitting_below_the_threshold_is_reported_as_structuring_once(ledger, keys):
    """Attack: a sender splits 2,100 into pieces below the 2,000 threshold to escape the
    large-transfer report. The piece whose 24 h total crosses it is reported, once."""
    for amount in (900, 900):
        pay(ledger, keys.alice, keys.bob, amount)
    assert kinds(ledger) == []
    pay(ledger, keys.alice, keys.bob, 300)  # 2_100: across
    pay(ledger, keys.alice, keys.bob, 100)  # still above: no second report
    assert kinds(ledger) == [("structuring", 300, 2_100)]


def test_a_sender_is_reported_again_after_its_window_fell_below_and_crossed_again(ledger, keys):
    pay(ledger, keys.alice, keys.bob, 1_000, T0)
    pay(ledger, keys.alice, keys.bob, 1_000, T0 + HOUR)  # 2_000: across
    pay(ledger, keys.alice, keys.bob, 500, T0 + DAY + 1)  # T0's left: 1_500
    pay(ledger, keys.alice, keys.bob, 500, T0 + DAY + 2)  # 2_000 again: a new crossing
    assert kinds(ledger) == [("structuring", 1_000, 2_000), ("structuring", 500, 2_000)]


def test_an_exempt_institution_is_reported_large_only(ledger, keys):
    for _ in range(3):
        pay(ledger, keys.bank_a, keys.bob, 1_500)
    pay(ledger, keys.bank_a, keys.bob, 2_500, rule=travel("bank_a", "bob"))
    assert kinds(ledger) == [("large", 2_500, 0)]


def test_no_threshold_no_report_and_a_refused_transfer_none(genesis, keys):
    ledger = Ledger(genesis)
    pay(ledger, keys.bob, keys.alice, 100_000)
    assert ledger.view.reports() == [] and not any(
        k[:1] in (b"q", b"Q") for k, _ in ledger.view.changes())
    ledger.ok(keys.regulator, AssetUpdate("USD", False, 0, 10))
    ledger.reject(E.LimitExceeded, keys.alice,
                  Transfer("USD", keys.bob.address, 5_000, "", travel("alice", "bob")))
    assert ledger.view.reports() == []


def test_the_ring_keeps_the_last_max_reports(genesis):
    view = Overlay(State.from_genesis(genesis))
    for seq in range(MAX_REPORTS + 3):
        view.add_report(SupervisoryReport(seq, "large", "USD", b"a" * 32, b"b" * 32, 1, 0, 1,
                                          T0, b"h" * 32))
    kept = view.reports()
    assert len(kept) == MAX_REPORTS and kept[0].seq == 3 and kept[-1].seq == MAX_REPORTS + 2
    assert view.report_count() == MAX_REPORTS + 3
    assert sum(1 for k, _ in view.changes() if k[:1] == b"q") == MAX_REPORTS


def test_reports_are_state_records_replay_reaches_the_same_hash(genesis, keys):
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    r1 = chain.run([sign_tx(keys.regulator, g, 0, AssetUpdate("USD", False, 0, 2_000)),
                    sign_tx(keys.bob, g, 0, Transfer("USD", keys.alice.address, 5_000, "",
                                                     travel("bob", "alice"))),
                    sign_tx(keys.alice, g, 0, Transfer("USD", keys.bob.address, 1_000)),
                    sign_tx(keys.alice, g, 1, Transfer("USD", keys.bob.address, 1_000))],
                   T0 + HOUR)
    assert [r.kind for r in chain.state.reports()] == ["large", "structuring"]
    assert chain.state.reports()[1].tx_hash == r1.tx_hashes[3]
    reloaded = State(genesis)
    for k, v in chain.state.records():
        reloaded.load_record(k, v)
    assert reloaded.reports() == chain.state.reports() and reloaded.report_count() == 2
    replay = verify_chain(genesis, [(r1.block.encode(), r1.state_hash)])
    assert replay.ok and replay.state_hash == r1.state_hash
