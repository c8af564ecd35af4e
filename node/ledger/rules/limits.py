"""Limits: what a KYC tier may send, what a balance allows, what an amount can be.

A tier limits, per asset, a single transfer (`per_tx`) and the total sent in a rolling 24 h
window (`daily`); an asset a tier does not list cannot be sent at that tier. Exempt
institutions (node.ledger.rules.kyc) have no tier and so no limits. No balance or supply may
exceed MAX_AMOUNT.

The window is exact, in block time: a transfer at time `now` is admitted when the spends with a
timestamp in (now - WINDOW_MS, now] plus its amount stay within `daily`. An account keeps, per
asset, its spends of the last WINDOW_MS as (timestamp, amount) entries sorted by time (spends at
the same block time share one entry); entries that have left the window are dropped when it
next sends. The state is bounded: at most
MAX_SPENDS entries per asset. Past that, the two oldest entries merge into one at the LATER of
their timestamps, carrying both amounts: a merged spend stays in the window longer than its
earlier half would have, never shorter, so merging can make the limit stricter (an account that
sends more than MAX_SPENDS times a day may find part of its allowance returning later than
exactly 24 h after the spend) but never looser: the check never admits more than `daily` within
any 24 h span.
"""
from __future__ import annotations

from bisect import insort

from node.ledger import errors as E
from node.ledger.rules.context import Context
from node.ledger.rules.kyc import KycStatus
from node.ledger.state import Account, Spend
from node.ledger.types import MAX_AMOUNT

HOUR_MS = 3_600_000
WINDOW_HOURS = 24
WINDOW_MS = WINDOW_HOURS * HOUR_MS  # the rolling limit window, in block time
MAX_SPENDS = 64  # spends kept per account and asset; past it the oldest two merge


def sent_in_window(acct: Account, asset: str, timestamp: int) -> int:
    """Total sent in the window ending at `timestamp`: spends at times in (timestamp - 24 h,
    timestamp]."""
    spends = acct.spent.get(asset)
    if not spends:
        return 0
    start = timestamp - WINDOW_MS
    if spends[0][0] > start:  # all still in the window (the usual case): their kept sum
        total = acct.spent_total.get(asset)
        if total is not None:
            return total
    return sum(v for t, v in spends if t > start)


def check_limits(status: KycStatus, acct: Account, asset: str, amount: int, ctx: Context) -> None:
    """Per-transaction and rolling 24 h limits of the sender's tier."""
    if status.tier is None:
        return
    limit = status.tier.limits.get(asset)
    if limit is None:
        raise E.LimitExceeded(f"tier {status.tier.tier} may not send {asset}")
    if amount > limit.per_tx:
        raise E.LimitExceeded(f"{amount} is over the tier {status.tier.tier} per-transaction "
                              f"limit of {limit.per_tx} {asset}")
    sent = sent_in_window(acct, asset, ctx.timestamp)
    if sent + amount > limit.daily:
        raise E.LimitExceeded(f"{sent} + {amount} is over the tier {status.tier.tier} 24 h "
                              f"limit of {limit.daily} {asset}")


def check_funds(acct: Account, asset: str, amount: int) -> None:
    if acct.balance(asset) < amount:
        raise E.InsufficientFunds(f"balance {acct.balance(asset)} {asset} < {amount}")


def check_no_overflow(current: int, amount: int, what: str) -> None:
    if current + amount > MAX_AMOUNT:
        raise E.LimitExceeded(f"{what} would exceed the largest representable amount")


def apply_spend(acct: Account, asset: str, amount: int, timestamp: int,
                max_spends: int = MAX_SPENDS) -> None:
    """Count `amount` in the sender's window (acct must be writable: view.account_mut): drop
    what left the window, add the spend in time order, merge the oldest two past max_spends."""
    start = timestamp - WINDOW_MS
    spends: list[Spend] = acct.spent.get(asset) or []
    total = acct.spent_total.get(asset) if spends else 0
    if spends and spends[0][0] <= start:  # some left the window
        spends = [s for s in spends if s[0] > start]
        total = None
    if spends and spends[-1][0] == timestamp:  # same block time: one entry, exactly
        spends[-1] = (timestamp, spends[-1][1] + amount)
    else:
        insort(spends, (timestamp, amount))
    while len(spends) > max_spends:
        (_, a0), (t1, a1) = spends[0], spends[1]
        spends[:2] = [(t1, a0 + a1)]  # at the later time: counts longer, never shorter
    acct.spent[asset] = spends
    acct.spent_total[asset] = (total + amount if total is not None
                               else sum(v for _, v in spends))
