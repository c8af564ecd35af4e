"""Microfinance loans (node.ledger.rules.loans): offer, accept, collection by block time, late
and default, repayment, write-off, the credit record, the per-block cap.

The world is tests/node/support.py's: bank_a (US, validator/kyc_issuer/asset_issuer) holds
USD 1_000_000 and lends; alice (US, tier 1: USD per_tx 1_000) holds USD 10_000; bob (DE,
tier 2); carol has no KYC; pay_c is licensed only as observer. Every test checks that value is
conserved: for each asset, the balances plus what offers and escrows hold equal the supply.
"""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import node.ledger.rules as R
from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.execution import next_timed_work
from node.ledger.genesis import Genesis
from node.ledger.state import CreditRecord, Loan, Overlay, State
from node.ledger.types import (
    AssetUpdate,
    Clawback,
    Freeze,
    LoanAccept,
    LoanOffer,
    LoanRepay,
    LoanWriteoff,
    Transfer,
    Unfreeze,
    sign_tx,
)

from .support import DAY, HOUR, T0, Chain, Keys, Ledger
from .test_node_fx_escrow import conserved

NOW = T0 + HOUR // 2
START = T0 + HOUR  # the first block of each chain test


def terms(keys: Keys, **kw) -> LoanOffer:
    """bank_a lends alice 1_000 USD at 1_000 bps (1_100 to repay): 550 due at START + 1 day and
    START + 2 days, an hour's grace, default after 2 misses, acceptable for 12 hours."""
    t = dict(borrower=keys.alice.address, asset="USD", principal=1_000, interest_bps=1_000,
             schedule=((START + DAY, 550), (START + 2 * DAY, 550)), grace_ms=HOUR,
             default_after=2, expires_at=START + 12 * HOUR)
    t.update(kw)
    return LoanOffer(**t)  # type: ignore[arg-type]


class Loans:
    """A chain with one signer's nonces tracked: each `block` commits its txs at a time and
    returns their reason codes."""

    def __init__(self, genesis: Genesis, keys: Keys):
        self.genesis, self.keys = genesis, keys
        self.chain = Chain(genesis, keys.bank_a)
        self.nonces: dict[bytes, int] = {}

    def tx(self, key, payload):
        n = self.nonces.get(key.address, 0)
        self.nonces[key.address] = n + 1
        return sign_tx(key, self.genesis.chain_id, n, payload)

    def block(self, at: int, *txs) -> list[str]:
        result = self.chain.run(list(txs), at)
        conserved(self.chain.state)
        return [r.code for r in result.receipts]

    def lend(self, at: int = START, **kw) -> bytes:
        """bank_a offers `terms`, alice accepts, in one block."""
        offer = self.tx(self.keys.bank_a, terms(self.keys, **kw))
        accept = self.tx(self.keys.alice, LoanAccept(offer.hash))
        assert self.block(at, offer, accept) == ["", ""]
        return offer.hash

    def drain(self, key, leave: int = 0):
        """bank_a claws back all but `leave` of the account's USD (a clawback needs no KYC)."""
        held = self.usd(key)
        return self.tx(self.keys.bank_a, Clawback("USD", key.address, held - leave, "test"))

    def loan(self, loan_id: bytes):
        return self.chain.state.loan(loan_id)

    def usd(self, key) -> int:
        return self.chain.state.account(key.address).balance("USD")

    def record(self, key) -> CreditRecord:
        return self.chain.state.credit(key.address)


def test_an_offer_accepted_by_the_borrower_disburses_the_principal(ledger: Ledger, keys: Keys):
    offer = ledger.ok(keys.bank_a, terms(keys))
    assert ledger.view.loan(offer.hash).status == "offered"
    assert ledger.balance(keys.alice, "USD") == 10_000  # nothing moves, nothing is locked
    ledger.reject(E.NotBorrower, keys.bob, LoanAccept(offer.hash))
    ledger.ok(keys.alice, LoanAccept(offer.hash))
    assert ledger.balance(keys.alice, "USD") == 11_000
    assert ledger.balance(keys.bank_a, "USD") == 999_000
    loan = ledger.view.loan(offer.hash)
    assert (loan.status, loan.total, loan.outstanding, loan.accepted_at) == (
        "current", 1_100, 1_100, ledger.now)
    assert ledger.view.credit(keys.alice.address).loans == 1
    ledger.reject(E.LoanNotOffered, keys.alice, LoanAccept(offer.hash))
    conserved(ledger.view)


def test_a_disbursement_and_a_repayment_are_reported_as_transfers_are(ledger: Ledger,
                                                                       keys: Keys):
    """Attack: a lender pays out, or a borrower pays back, a sum at or above USD's report
    threshold as a loan rather than a transfer, so the supervisor's feed of large payments
    never hears of it. The disbursement and each repayment are judged as transfers are."""
    ledger.ok(keys.regulator, AssetUpdate("USD", False, 0, 500))
    offer = ledger.ok(keys.bank_a, terms(keys))
    accept = ledger.ok(keys.alice, LoanAccept(offer.hash))
    repay = ledger.ok(keys.alice, LoanRepay(offer.hash, 600))
    assert [(r.kind, r.sender, r.recipient, r.amount, r.tx_hash)
            for r in ledger.view.reports()] == [
        ("large", keys.bank_a.address, keys.alice.address, 1_000, accept.hash),
        ("large", keys.alice.address, keys.bank_a.address, 600, repay.hash)]


def test_no_one_but_the_borrower_signs_its_debit_mandate(ledger: Ledger, keys: Keys):
    """Attack: bob accepts a loan offered to alice, so that alice owes a schedule she never
    agreed to and the ledger debits her on it; or writes it off, or repays it to fake a record.
    Only the borrower accepts and repays, only the lender writes off."""
    offer = ledger.ok(keys.bank_a, terms(keys))
    ledger.reject(E.NotBorrower, keys.bob, LoanAccept(offer.hash))
    ledger.reject(E.NotBorrower, keys.bank_a, LoanAccept(offer.hash))  # nor its own lender
    assert ledger.view.loan(offer.hash).status == "offered"
    assert ledger.view.credit(keys.alice.address) == CreditRecord()
    ledger.ok(keys.alice, LoanAccept(offer.hash))
    ledger.reject(E.NotBorrower, keys.bob, LoanRepay(offer.hash, 100))
    ledger.reject(E.NotLender, keys.bank_b, LoanWriteoff(offer.hash))
    ledger.reject(E.NotLender, keys.alice, LoanWriteoff(offer.hash))


def test_an_offer_is_refused_by_its_reason(ledger: Ledger, keys: Keys):
    ledger.reject(E.NotLicensed, keys.alice, terms(keys, borrower=keys.bob.address))
    ledger.reject(E.NotLicensed, keys.pay_c, terms(keys))  # an observer does not lend
    ledger.reject(E.SelfTransfer, keys.bank_a, terms(keys, borrower=keys.bank_a.address))
    ledger.reject(E.KycMissing, keys.bank_a, terms(keys, borrower=keys.carol.address))
    ledger.reject(E.UnknownAsset, keys.bank_a, terms(keys, asset="JPY"))
    ledger.reject(E.BadSchedule, keys.bank_a, terms(keys, schedule=((START + DAY, 1_100),),
                                                    default_after=1, interest_bps=999))
    ledger.reject(E.LoanOfferExpired, keys.bank_a, terms(keys, expires_at=ledger.now))


def test_an_accept_is_refused_when_the_lender_cannot_pay_or_the_offer_lapsed(ledger: Ledger,
                                                                            keys: Keys):
    big = ledger.ok(keys.bank_a, terms(keys, principal=1_000_001, interest_bps=0,
                                       schedule=((START + DAY, 1_000_001),), default_after=1))
    ledger.reject(E.InsufficientFunds, keys.alice, LoanAccept(big.hash))
    offer = ledger.ok(keys.bank_a, terms(keys))
    ledger.reject(E.LoanOfferExpired, keys.alice, LoanAccept(offer.hash), at=START + 12 * HOUR)
    ledger.reject(E.UnknownLoan, keys.alice, LoanAccept(sha256(b"no such loan")))
    ledger.ok(keys.regulator, Freeze(keys.bank_a.address))
    ledger.reject(E.Frozen, keys.alice, LoanAccept(offer.hash))  # the lender, at disbursement
    ledger.reject(E.LoanNotAccepted, keys.alice, LoanRepay(offer.hash, 10))


def test_an_instalment_is_collected_in_the_first_block_past_its_due_time(genesis: Genesis,
                                                                        keys: Keys):
    c = Loans(genesis, keys)
    loan_id = c.lend()
    assert next_timed_work(c.chain.state) == START + DAY  # what asks an idle leader for a block
    c.block(START + DAY - 1)
    assert c.usd(keys.alice) == 11_000 and c.loan(loan_id).repaid == 0
    c.block(START + DAY)  # an empty block is enough: collection runs before any txs
    assert c.usd(keys.alice) == 10_450 and c.usd(keys.bank_a) == 999_550
    assert (c.loan(loan_id).status, c.loan(loan_id).repaid) == ("current", 550)
    assert next_timed_work(c.chain.state) == START + DAY + HOUR  # its grace deadline
    c.block(START + DAY + HOUR)  # its grace deadline: judged paid on time
    assert c.record(keys.alice) == CreditRecord(loans=1, on_time=1)
    c.block(START + 3 * DAY)  # the second falls due and its grace passes in one turn
    loan = c.loan(loan_id)
    assert (loan.status, loan.repaid, loan.closed_at) == ("paid_off", 1_100, START + 3 * DAY)
    assert c.record(keys.alice) == CreditRecord(loans=1, on_time=2, paid_off=1)
    assert c.chain.state.loans_due(START + 100 * DAY, 10) == []  # out of the queue
    assert next_timed_work(c.chain.state) is None


def test_a_shortfall_stays_due_goes_late_past_grace_and_is_paid_as_arrears(genesis: Genesis,
                                                                          keys: Keys):
    c = Loans(genesis, keys)
    loan_id = c.lend()
    c.block(START + HOUR, c.drain(keys.alice, leave=300))
    c.block(START + DAY)  # collects the 300 she holds; 250 stay due
    loan = c.loan(loan_id)
    assert (loan.status, loan.repaid, loan.arrears) == ("current", 300, 250)
    assert c.usd(keys.alice) == 0
    c.block(START + DAY + HOUR)  # its grace deadline, unpaid: missed, late
    loan = c.loan(loan_id)
    assert (loan.status, loan.misses) == ("late", 1)
    assert c.record(keys.alice) == CreditRecord(loans=1, late=1)
    # she is paid 1_000 and pays the arrears herself: current again
    c.block(START + DAY + 2 * HOUR, c.tx(keys.bank_a, Transfer("USD", keys.alice.address, 1_000)))
    assert c.block(START + DAY + 3 * HOUR, c.tx(keys.alice, LoanRepay(loan_id, 250))) == [""]
    assert (c.loan(loan_id).status, c.loan(loan_id).arrears) == ("current", 0)
    c.block(START + 2 * DAY)
    assert c.loan(loan_id).status == "paid_off" and c.usd(keys.alice) == 200
    assert c.record(keys.alice) == CreditRecord(loans=1, on_time=1, late=1, paid_off=1)


def test_default_after_the_misses_and_collection_stops(genesis: Genesis, keys: Keys):
    c = Loans(genesis, keys)
    loan_id = c.lend(default_after=1)
    c.block(START + HOUR, c.drain(keys.alice))
    c.block(START + DAY + HOUR)  # due and past grace in one turn: nothing held, one miss
    loan = c.loan(loan_id)
    assert (loan.status, loan.misses, loan.closed_at) == ("defaulted", 1, START + DAY + HOUR)
    assert c.record(keys.alice) == CreditRecord(loans=1, late=1, defaulted=1)
    c.block(START + DAY + 2 * HOUR, c.tx(keys.bank_a, Transfer("USD", keys.alice.address, 2_000)))
    c.block(START + 3 * DAY)
    assert c.usd(keys.alice) == 2_000 and c.loan(loan_id).repaid == 0  # nothing collected
    assert c.block(START + 3 * DAY, c.tx(keys.alice, LoanRepay(loan_id, 1_000)),
                   c.tx(keys.alice, LoanRepay(loan_id, 100))) == ["", ""]
    assert c.loan(loan_id).status == "paid_off"  # a defaulted loan may still be repaid
    # the second instalment, never judged (the loan had defaulted), does not count on time
    assert c.record(keys.alice) == CreditRecord(loans=1, late=1, defaulted=1, paid_off=1)


def test_a_schedule_that_ends_unpaid_defaults(genesis: Genesis, keys: Keys):
    """default_after 2 of 2, the first paid on time, the second missed: one miss, but the
    schedule has ended unpaid."""
    c = Loans(genesis, keys)
    loan_id = c.lend()
    c.block(START + DAY + HOUR)
    assert c.loan(loan_id).status == "current"
    c.block(START + DAY + 2 * HOUR, c.drain(keys.alice))
    c.block(START + 2 * DAY + HOUR)
    loan = c.loan(loan_id)
    assert (loan.status, loan.misses, loan.judged, loan.repaid) == ("defaulted", 1, 2, 550)
    assert c.record(keys.alice) == CreditRecord(loans=1, on_time=1, late=1, defaulted=1)


def test_early_repayment_pays_off_and_counts_on_time(genesis: Genesis, keys: Keys):
    c = Loans(genesis, keys)
    loan_id = c.lend()
    assert c.block(START + HOUR, c.tx(keys.alice, LoanRepay(loan_id, 1_101)),
                   c.tx(keys.alice, LoanRepay(loan_id, 1_000)),
                   c.tx(keys.alice, LoanRepay(loan_id, 100)),
                   c.tx(keys.alice, LoanRepay(loan_id, 1))) == [
        "OVERPAYMENT", "", "", "LOAN_CLOSED"]
    assert c.loan(loan_id).status == "paid_off" and c.usd(keys.alice) == 9_900
    assert c.record(keys.alice) == CreditRecord(loans=1, on_time=2, paid_off=1)
    c.block(START + 3 * DAY)
    assert c.usd(keys.alice) == 9_900  # nothing more is collected


def test_a_repayment_is_a_payment_within_the_borrowers_limits(genesis: Genesis, keys: Keys):
    c = Loans(genesis, keys)
    loan_id = c.lend()
    assert c.block(START + HOUR, c.tx(keys.alice, LoanRepay(loan_id, 1_001)),
                   c.tx(keys.bank_a, LoanRepay(loan_id, 1))) == ["LIMIT_EXCEEDED", "NOT_BORROWER"]


def test_the_lender_writes_a_loan_off(genesis: Genesis, keys: Keys):
    c = Loans(genesis, keys)
    loan_id = c.lend()
    c.block(START + DAY)
    assert c.block(START + DAY + 1, c.tx(keys.alice, LoanWriteoff(loan_id)),
                   c.tx(keys.bank_a, LoanWriteoff(loan_id)),
                   c.tx(keys.bank_a, LoanWriteoff(loan_id))) == [
        "NOT_LENDER", "", "LOAN_CLOSED"]
    c.block(START + 3 * DAY)
    assert c.usd(keys.alice) == 10_450  # only the first instalment was collected
    assert c.loan(loan_id).status == "written_off"
    assert c.record(keys.alice) == CreditRecord(loans=1, written_off=1)


def test_a_freeze_pauses_collection_and_the_schedule_runs_on(genesis: Genesis, keys: Keys):
    c = Loans(genesis, keys)
    loan_id = c.lend()
    c.block(START + HOUR, c.tx(keys.regulator, Freeze(keys.alice.address)))
    c.block(START + DAY + HOUR)
    loan = c.loan(loan_id)
    assert c.usd(keys.alice) == 11_000 and (loan.status, loan.misses) == ("late", 1)
    c.block(START + DAY + 2 * HOUR, c.tx(keys.regulator, Unfreeze(keys.alice.address)))
    c.block(START + 2 * DAY)  # the next turn collects the arrears and the second instalment
    assert c.usd(keys.alice) == 9_900 and c.loan(loan_id).status == "paid_off"


def test_collection_turns_at_most_the_cap_per_block_the_rest_next_block(genesis: Genesis,
                                                                       keys: Keys):
    """MAX_COLLECTIONS_PER_BLOCK + 2 loans fall due at once: the first block past their due
    time collects the cap's worth (soonest, then by id), the next block the rest."""
    c = Loans(genesis, keys)
    n = R.MAX_COLLECTIONS_PER_BLOCK + 2
    offers = [c.tx(keys.bank_a, terms(keys, principal=1, interest_bps=0,
                                      schedule=((START + DAY, 1),), default_after=1))
              for _ in range(n)]
    assert c.block(START, *offers) == [""] * n
    assert c.block(START + 1, *[c.tx(keys.alice, LoanAccept(o.hash)) for o in offers]) == [""] * n
    assert c.usd(keys.alice) == 10_000 + n
    c.block(START + DAY)
    assert c.usd(keys.alice) == 10_000 + 2
    paid = {lid for lid, ln in c.chain.state.loans() if ln.status == "paid_off"}
    assert sorted(o.hash for o in offers)[:R.MAX_COLLECTIONS_PER_BLOCK] == sorted(paid)
    assert c.record(keys.alice).paid_off == R.MAX_COLLECTIONS_PER_BLOCK
    c.block(START + DAY + 1)
    assert c.usd(keys.alice) == 10_000
    assert c.record(keys.alice) == CreditRecord(loans=n, on_time=n, paid_off=n)


def test_loans_and_credit_records_survive_a_reload_with_their_queue(genesis: Genesis,
                                                                   keys: Keys):
    """The due-queue is derived from the loan records at load, so a restarted node (or a
    replay) collects the same loans in the same order."""
    c = Loans(genesis, keys)
    first = c.lend()
    second = c.lend(at=START + 1, schedule=((START + DAY - 1, 550), (START + 2 * DAY, 550)))
    reloaded = State(genesis)
    for key, value in c.chain.state.records():
        reloaded.load_record(key, value)
    assert reloaded.records() == c.chain.state.records()
    assert reloaded.loans_due(START + DAY, 10) == [second, first]
    assert reloaded.loan(first) == c.loan(first)
    assert reloaded.credit(keys.alice.address) == CreditRecord(loans=2)


def test_an_overlay_merges_its_own_loans_into_the_queue(genesis: Genesis, keys: Keys):
    c = Loans(genesis, keys)
    first = c.lend()
    view = Overlay(c.chain.state)
    moved = dataclasses.replace(c.loan(first), schedule=((START + 2 * HOUR, 550),
                                                         (START + 2 * DAY, 550)))
    view.set_loan(sha256(b"new"), moved)
    assert view.loans_due(START + DAY, 10) == [sha256(b"new"), first]
    view.set_loan(first, dataclasses.replace(c.loan(first), status="written_off"))
    assert view.loans_due(START + DAY, 10) == [sha256(b"new")]
    assert c.chain.state.loans_due(START + DAY, 10) == [first]


# ---- properties ---------------------------------------------------------------------------

def _action(keys: Keys):
    borrower = st.sampled_from([keys.alice, keys.bob, keys.bob, keys.erin, keys.carol])
    lender = st.sampled_from([keys.bank_a, keys.bank_a, keys.bank_b, keys.alice])
    code = st.sampled_from(("USD", "EUR"))
    loan = st.integers(0, 9)
    right = st.integers(0, 4)  # 0: a wrong signer, else the loan's own party
    return st.one_of(
        st.tuples(st.just("offer"), lender, borrower, code, st.integers(1, 3_000),
                  st.integers(0, 3_000), st.integers(1, 4), st.integers(1, 3)),
        st.tuples(st.just("offer"), lender, borrower, code, st.integers(1, 3_000),
                  st.integers(0, 3_000), st.integers(1, 4), st.integers(1, 3)),
        st.tuples(st.just("accept"), borrower, loan, right),
        st.tuples(st.just("accept"), borrower, loan, right),
        st.tuples(st.just("repay"), borrower, loan, right, st.integers(1, 2_000)),
        st.tuples(st.just("writeoff"), lender, loan, right),
        st.tuples(st.just("pay"), borrower, borrower, code, st.integers(1, 3_000)),
        st.tuples(st.just("drain"), borrower),
        st.tuples(st.just("drain"), borrower),
        st.tuples(st.just("freeze"), borrower, st.booleans()),
    )


def _payload(act, keys: Keys, loans: list[tuple[bytes, LoanOffer, object]], t: int, view):
    """`loans`: (id, terms, lender key) of every offer admitted so far."""
    kind = act[0]
    if kind == "offer":
        _, lender, borrower, code, principal, bps, n, misses = act
        if lender in (keys.bank_a, keys.bank_b) and code != "":  # mostly in the lender's asset
            code = "USD" if lender == keys.bank_a else "EUR"
        total = R.loan_total(principal, bps)
        amounts = [total // n] * (n - 1) + [total - total // n * (n - 1)]
        if min(amounts) < 1:
            return None, None
        schedule = tuple((t + 3 * HOUR + i * HOUR, a) for i, a in enumerate(amounts))
        return LoanOffer(borrower.address, code, principal, bps, schedule, HOUR // 4,
                         min(misses, n), t + 3 * HOUR), lender
    if kind in ("accept", "repay", "writeoff") and loans:
        loan_id, offer, lender = loans[act[2] % len(loans)]
        party = lender if kind == "writeoff" else next(
            k for k in (keys.alice, keys.bob, keys.erin, keys.carol)
            if k.address == offer.borrower)
        # a write-off now and then (1 in 5); the other kinds mostly by their own party
        who = party if (act[3] == 1 if kind == "writeoff" else act[3]) else act[1]
        if kind == "accept":
            return LoanAccept(loan_id), who
        if kind == "repay":
            return LoanRepay(loan_id, act[4]), who
        return LoanWriteoff(loan_id), who
    if kind == "pay":
        _, who, to, code, amount = act
        return Transfer(code, to.address, amount), who
    if kind == "drain":  # bank_a claws back all its USD: shortfalls at collection
        held = view.account(act[1].address).balance("USD")
        return (Clawback("USD", act[1].address, held, "test"), keys.bank_a) if held else (
            None, None)
    if kind == "freeze":
        _, who, on = act
        return (Freeze if on else Unfreeze)(who.address), keys.regulator
    return None, None


@pytest.fixture
def monkeypatch_cap(monkeypatch) -> int:
    """The per-block cap at 2, so a few random loans exceed it."""
    monkeypatch.setattr("node.ledger.rules.loans.MAX_COLLECTIONS_PER_BLOCK", 2)
    return 2


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_collection_conserves_supply_holds_the_cap_and_admission_agrees(genesis: Genesis,
                                                                       keys: Keys, data,
                                                                       monkeypatch_cap):
    """Random loans, accepts, repayments, write-offs, freezes and payments over blocks 20 to 150
    minutes apart (instalments fall due, grace passes, loans go late and default), with the
    per-block cap at 2: after each block every asset's supply equals the balances plus locks,
    no balance is negative, a block turns min(cap, due) loans and never more, and a tx the pool
    admitted (on the committed state, after the block's collection) runs ok in the block."""
    chain = Chain(genesis, keys.bank_a)
    nonces: dict[bytes, int] = {}
    loans: list[tuple[bytes, LoanOffer, object]] = []
    t = T0
    for _ in range(data.draw(st.integers(2, 10))):
        t += data.draw(st.sampled_from([20, 40, 80, 150])) * 60_000
        due = chain.state.loans_due(t, 10_000)
        turns = Overlay(chain.state)
        R.apply_loan_collections(turns, R.Context(t))
        assert len(turns.loan_records) == min(len(due), monkeypatch_cap)
        if len(due) > monkeypatch_cap:
            event("more loans due than the cap")
        pool = Overlay(chain.state)
        R.apply_block_start(pool, R.Context(t))  # as the block will, before its txs
        admitted = []
        for act in data.draw(st.lists(_action(keys), max_size=10)):
            payload, key = _payload(act, keys, loans, t, pool)
            if payload is None:
                continue
            tx = sign_tx(key, genesis.chain_id, nonces.get(key.address, 0), payload)
            try:
                R.admit(pool, tx, R.Context(t), chain.sigs)
            except E.LedgerError:
                continue
            nonces[key.address] = nonces.get(key.address, 0) + 1
            admitted.append(tx)
            if isinstance(payload, LoanOffer):
                loans.append((tx.hash, payload, key))
        result = chain.run(admitted, t)
        assert [r.code for r in result.receipts] == [""] * len(admitted)
        conserved(chain.state)
        for _, loan in chain.state.loans():
            event(f"a loan {loan.status}")
            assert 0 <= loan.repaid <= loan.total
            assert loan.judged <= loan.due_seen <= len(loan.schedule)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_due_queue_of_an_overlay_is_its_records_sorted_by_turn(genesis: Genesis,
                                                                  keys: Keys, data):
    """Loans in the committed state, some replaced or closed by an overlay and new ones in it:
    loans_due(until, limit) is always the first `limit` of every collecting loan with a turn at
    or before `until`, by (turn, id), as a scan of the merged records finds them."""
    state = State.from_genesis(genesis)
    due_times = st.integers(START, START + 10 * HOUR)
    status = st.sampled_from(["offered", "current", "late", "defaulted", "paid_off"])

    def loan(d: int, s: str):
        """Due at d and d + 1 h, an hour's grace; some instalments already seen or judged."""
        seen = data.draw(st.integers(0, 2))
        return Loan(keys.bank_a.address, keys.alice.address, "USD", 10, 0,
                    ((d, 5), (d + HOUR, 5)), HOUR, 2, START, T0, status=s, due_seen=seen,
                    judged=data.draw(st.integers(0, seen)))

    ids = [sha256(bytes([i])) for i in range(12)]
    for lid in data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=8)):
        state.set_loan(lid, loan(data.draw(due_times), data.draw(status)))
    view = Overlay(state)
    for lid in data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=6)):
        view.set_loan(lid, loan(data.draw(due_times), data.draw(status)))
    until = data.draw(st.integers(START, START + 12 * HOUR))
    limit = data.draw(st.integers(1, 12))
    merged = dict(state.loans()) | view.loan_records
    expect = sorted((ln.next_at, lid) for lid, ln in merged.items()
                    if ln.next_at is not None and ln.next_at <= until)
    assert view.loans_due(until, limit) == [lid for _, lid in expect[:limit]]
    assert state.loans_due(until, limit) == [lid for _, lid in sorted(
        (ln.next_at, lid) for lid, ln in state.loans()
        if ln.next_at is not None and ln.next_at <= until)[:limit]]
