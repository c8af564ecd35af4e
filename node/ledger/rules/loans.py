"""Microfinance loans, collected on schedule by block time.

loan_offer: an institution licensed for anything but observer only (a validator, kyc_issuer or
asset_issuer: an institution whose customers the chain knows) offers `principal` of `asset` to
a borrower in good standing, with a schedule of at most MAX_INSTALMENTS instalments
(due_at, amount): due times strictly increasing and after block time; the amounts add up to
principal + floor(principal * interest_bps / 10_000) (interest rounds down, for the borrower).
Nothing is locked: the lender must hold the principal when the borrower accepts.

loan_accept, by the borrower, before the offer's expiry and before its first due time, is the
on-ledger debit mandate: the principal is disbursed as a payment from lender to borrower
(node.ledger.rules.assets.check_payment: asset not frozen, both parties' standing, the travel
rule, the lender's tier limits and funds).

Collection: every block, before its transactions, up to MAX_COLLECTIONS_PER_BLOCK loans whose
turn has come (a due time or a grace deadline at or before the block's time; soonest first,
ties by id; the rest wait for the next block) take their turn:
  1. every instalment due by now counts as due; what is due and unpaid is debited from the
     borrower, as much as it holds (a shortfall stays due), and credited to the lender;
  2. every instalment whose grace deadline (due_at + grace_ms) has passed is judged: paid
     (on time) or missed; a miss makes the loan `late`;
  3. paid in full: `paid_off`; `default_after` misses, or the last grace deadline passed with
     something unpaid: `defaulted` (collection stops; the borrower may still repay); no
     judged instalment unpaid: `current`.
Collecting before judging means a turn the per-block cap delayed never makes late a borrower
who could pay. A shortfall is retried at each later turn (the instalment's grace deadline, the
next due time), so a loan has at most two turns per instalment: the queue is bounded.
At collection the mandate stands: no KYC, jurisdiction, tier limit or travel rule check (they
were checked at accept; a collection is not in the borrower's rolling window). A freeze is
the regulator's stop: with the asset, the borrower or the lender frozen a turn moves nothing
(the schedule still runs on block time: instalments fall due and are judged). No balance goes
negative (at most what the borrower holds) nor overflows (units move within the supply).

loan_repay: the borrower pays early or pays arrears (earliest instalments first), at most what
is outstanding; a payment it signs, checked as a transfer. loan_writeoff: the lender closes an
accepted loan; what is unpaid is no longer owed. Every judgement, default, pay-off and write-off
updates the borrower's CreditRecord: the credit history any licensed lender reads.
"""
from __future__ import annotations

from dataclasses import replace

from node.ledger import errors as E
from node.ledger.rules.assets import check_asset, check_not_to_self, check_payment, credit, debit
from node.ledger.rules.context import Context
from node.ledger.rules.kyc import check_party
from node.ledger.rules.reports import apply_supervisory_report
from node.ledger.state import COLLECTING, Loan, StateView
from node.ledger.types import (
    MAX_AMOUNT,
    LoanAccept,
    LoanOffer,
    LoanRepay,
    LoanStatus,
    LoanWriteoff,
    Role,
    Transaction,
)

MAX_COLLECTIONS_PER_BLOCK = 256  # loans a block's collection turns at most; the rest, next block
BPS = 10_000


def loan_total(principal: int, interest_bps: int) -> int:
    """What a schedule repays: the principal and its interest, rounded down."""
    return principal + principal * interest_bps // BPS


def equal_instalments(principal: int, interest_bps: int, n: int, first_due: int,
                      period_ms: int) -> tuple[tuple[int, int], ...]:
    """A schedule of n instalments `period_ms` apart from `first_due` that check_schedule
    accepts: loan_total split evenly, the remainder of the division on the last one (what the
    CLI and the demo offer; any schedule adding up to the total is valid)."""
    total = loan_total(principal, interest_bps)
    each = total // n
    return tuple((first_due + k * period_ms, each if k < n - 1 else total - each * (n - 1))
                 for k in range(n))


def check_lender(view: StateView, sender: bytes) -> None:
    """The sender is the authority key of an institution licensed for a role other than
    observer right now."""
    inst = view.institution_by_authority_key(sender)
    if inst is None or not (view.roles(inst.name) - {Role.OBSERVER.value}):
        raise E.NotLicensed("only an institution licensed as validator, kyc_issuer or "
                            "asset_issuer lends")


def check_schedule(p: LoanOffer, ctx: Context) -> None:
    """Due times strictly increasing, the first after block time; the amounts add up to
    loan_total (at most MAX_AMOUNT); default_after at most the number of instalments; an
    offer expiry after block time."""
    times = [due for due, _ in p.schedule]
    if any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise E.BadSchedule("instalment due times must be strictly increasing")
    if times[0] <= ctx.timestamp:
        raise E.BadSchedule(f"the first instalment is due at {times[0]}, not after the "
                            f"block's time {ctx.timestamp}")
    total = loan_total(p.principal, p.interest_bps)
    got = sum(amount for _, amount in p.schedule)
    if got != total:
        raise E.BadSchedule(f"the instalments add up to {got}; principal {p.principal} at "
                            f"{p.interest_bps} bps repays {total}")
    if total > MAX_AMOUNT:
        raise E.BadSchedule(f"the loan repays {total}, more than {MAX_AMOUNT}")
    if p.default_after > len(p.schedule):
        raise E.BadSchedule(f"default_after {p.default_after} is more than the "
                            f"{len(p.schedule)} instalments")
    if p.expires_at <= ctx.timestamp:
        raise E.LoanOfferExpired(f"expires_at {p.expires_at} is not after the block's time "
                                 f"{ctx.timestamp}")


def check_loan(view: StateView, loan_id: bytes) -> Loan:
    loan = view.loan(loan_id)
    if loan is None:
        raise E.UnknownLoan(f"no loan {loan_id.hex()[:16]}")
    return loan


def offer_lapsed(loan: Loan, at: int) -> bool:
    """An offer past its expiry or its first due time at block time `at` can no longer be
    accepted."""
    return loan.expires_at <= at or loan.schedule[0][0] <= at


def check_acceptable(loan: Loan, sender: bytes, ctx: Context) -> None:
    """The borrower accepts an offer still offered, before its expiry and its first due time."""
    if sender != loan.borrower:
        raise E.NotBorrower("only the loan's borrower accepts it")
    if loan.status != LoanStatus.OFFERED:
        raise E.LoanNotOffered(f"the loan is {loan.status}, not offered")
    if loan.expires_at <= ctx.timestamp:
        raise E.LoanOfferExpired(f"the offer expired at {loan.expires_at}")
    if loan.schedule[0][0] <= ctx.timestamp:
        raise E.LoanOfferExpired(f"its first instalment fell due at {loan.schedule[0][0]}")


def check_active(loan: Loan) -> None:
    """Accepted and not closed: it is owed (defaulted loans too)."""
    if loan.status == LoanStatus.OFFERED:
        raise E.LoanNotAccepted("the loan was offered, never accepted")
    if loan.status in (LoanStatus.PAID_OFF, LoanStatus.WRITTEN_OFF):
        raise E.LoanClosed(f"the loan is {loan.status}")


def check_repayment(loan: Loan, sender: bytes, amount: int) -> None:
    if sender != loan.borrower:
        raise E.NotBorrower("only the loan's borrower repays it")
    check_active(loan)
    if amount > loan.outstanding:
        raise E.Overpayment(f"the loan owes {loan.outstanding} {loan.asset}, not {amount}")


def check_writeoff(loan: Loan, sender: bytes) -> None:
    if sender != loan.lender:
        raise E.NotLender("only the loan's lender writes it off")
    check_active(loan)


def apply_loan_offer(view: StateView, tx: Transaction, p: LoanOffer, ctx: Context) -> None:
    check_lender(view, tx.sender)
    check_asset(view, p.asset)
    check_not_to_self(tx.sender, p.borrower, "a lender cannot lend to itself")
    check_schedule(p, ctx)
    check_party(view, ctx, p.borrower, "borrower")
    view.set_loan(tx.hash, Loan(tx.sender, p.borrower, p.asset, p.principal, p.interest_bps,
                                p.schedule, p.grace_ms, p.default_after, p.expires_at,
                                ctx.timestamp))


def apply_loan_accept(view: StateView, tx: Transaction, p: LoanAccept, ctx: Context) -> None:
    """The mandate; the principal moves from the lender to the borrower as a payment."""
    loan = check_loan(view, p.loan)
    check_acceptable(loan, tx.sender, ctx)
    asset, lender_status, _ = check_payment(view, ctx, loan.lender, loan.borrower, loan.asset,
                                            loan.principal, p.travel_rule)
    debit(view, ctx, loan.lender, loan.asset, loan.principal, lender_status)
    credit(view, loan.borrower, loan.asset, loan.principal)
    apply_supervisory_report(view, ctx, tx.hash, asset, loan.lender, loan.borrower,
                             loan.principal, lender_status.tier)
    view.set_loan(p.loan, replace(loan, status=LoanStatus.CURRENT, accepted_at=ctx.timestamp))
    record = view.credit(loan.borrower)
    view.set_credit(loan.borrower, replace(record, loans=record.loans + 1))


def apply_loan_repay(view: StateView, tx: Transaction, p: LoanRepay, ctx: Context) -> None:
    """A payment the borrower signs, checked as a transfer, towards the earliest instalments."""
    loan = check_loan(view, p.loan)
    check_repayment(loan, tx.sender, p.amount)
    asset, borrower_status, _ = check_payment(view, ctx, loan.borrower, loan.lender,
                                              loan.asset, p.amount, p.travel_rule)
    debit(view, ctx, loan.borrower, loan.asset, p.amount, borrower_status)
    credit(view, loan.lender, loan.asset, p.amount)
    apply_supervisory_report(view, ctx, tx.hash, asset, loan.borrower, loan.lender, p.amount,
                             borrower_status.tier)
    settle(view, p.loan, replace(loan, repaid=loan.repaid + p.amount), ctx)


def apply_loan_writeoff(view: StateView, tx: Transaction, p: LoanWriteoff,
                        ctx: Context) -> None:
    loan = check_loan(view, p.loan)
    check_writeoff(loan, tx.sender)
    view.set_loan(p.loan, replace(loan, status=LoanStatus.WRITTEN_OFF, closed_at=ctx.timestamp))
    record = view.credit(loan.borrower)
    view.set_credit(loan.borrower, replace(record, written_off=record.written_off + 1))


def collection_paused(view: StateView, loan: Loan) -> bool:
    """The regulator's freeze of the asset, the borrower or the lender stops collection."""
    return (view.asset_frozen(loan.asset) or view.account(loan.borrower).frozen
            or view.account(loan.lender).frozen)


def collect(view: StateView, loan: Loan) -> Loan:
    """What is due and unpaid, as much as the borrower holds, goes to the lender."""
    amount = 0 if collection_paused(view, loan) else min(
        view.account(loan.borrower).balance(loan.asset), loan.arrears)
    if amount == 0:
        return loan
    view.account_mut(loan.borrower).balances[loan.asset] -= amount
    credit(view, loan.lender, loan.asset, amount)
    return replace(loan, repaid=loan.repaid + amount)


def judge(view: StateView, loan: Loan, ctx: Context) -> Loan:
    """Every due instalment whose grace deadline has passed: paid (on time) or missed."""
    on_time = missed = 0
    judged = loan.judged
    while judged < loan.due_seen and loan.schedule[judged][0] + loan.grace_ms <= ctx.timestamp:
        if loan.repaid >= loan.owed_by(judged + 1):
            on_time += 1
        else:
            missed += 1
        judged += 1
    if on_time or missed:
        record = view.credit(loan.borrower)
        view.set_credit(loan.borrower, replace(record, on_time=record.on_time + on_time,
                                               late=record.late + missed))
    return replace(loan, judged=judged, misses=loan.misses + missed)


def settle(view: StateView, loan_id: bytes, loan: Loan, ctx: Context) -> None:
    """The loan's status after a turn or a repayment, and the borrower's record of it.

    Paid in full: the instalments not yet judged were paid before their deadlines (on time),
    unless the loan had defaulted (judging stopped there: the default is its record)."""
    record = view.credit(loan.borrower)
    if loan.outstanding == 0:
        early = len(loan.schedule) - loan.judged if loan.status in COLLECTING else 0
        loan = replace(loan, status=LoanStatus.PAID_OFF, judged=len(loan.schedule),
                       closed_at=ctx.timestamp)
        record = replace(record, on_time=record.on_time + early, paid_off=record.paid_off + 1)
    elif loan.status in COLLECTING and (loan.misses >= loan.default_after
                                        or loan.judged == len(loan.schedule)):
        loan = replace(loan, status=LoanStatus.DEFAULTED, closed_at=ctx.timestamp)
        record = replace(record, defaulted=record.defaulted + 1)
    elif loan.status in COLLECTING:
        behind = loan.repaid < loan.owed_by(loan.judged)
        loan = replace(loan, status=LoanStatus.LATE if behind else LoanStatus.CURRENT)
    view.set_loan(loan_id, loan)
    if record != view.credit(loan.borrower):
        view.set_credit(loan.borrower, record)


def collection_turn(view: StateView, loan_id: bytes, loan: Loan, ctx: Context) -> None:
    """One loan's turn at the block's time: fall due, collect, judge, settle."""
    due_seen = loan.due_seen
    while due_seen < len(loan.schedule) and loan.schedule[due_seen][0] <= ctx.timestamp:
        due_seen += 1
    loan = collect(view, replace(loan, due_seen=due_seen))
    settle(view, loan_id, judge(view, loan, ctx), ctx)


def apply_loan_collections(view: StateView, ctx: Context) -> None:
    """Every block, before its transactions: the turns of up to MAX_COLLECTIONS_PER_BLOCK loans
    whose turn has come by the block's time (one test when none has)."""
    for loan_id in view.loans_due(ctx.timestamp, MAX_COLLECTIONS_PER_BLOCK):
        loan = view.loan(loan_id)
        assert loan is not None and loan.status in COLLECTING
        collection_turn(view, loan_id, loan, ctx)
