"""Limits: what a KYC tier may send, what a balance allows, what an amount can be.

A tier limits, per asset, a single transfer (`per_tx`) and the total sent in a rolling 24 h
window (`daily`); an asset a tier does not list cannot be sent at that tier. The window is
counted in whole hours of block time: an account keeps, per asset, the amount sent in each
hour bucket (timestamp // HOUR_MS) of the last WINDOW_HOURS, and older buckets are dropped when
it next sends. Institutions have no tier and so no limits. No balance or supply may exceed
MAX_AMOUNT.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.rules.context import Context
from node.ledger.rules.kyc import KycStatus
from node.ledger.state import Account
from node.ledger.types import MAX_AMOUNT

HOUR_MS = 3_600_000
WINDOW_HOURS = 24  # the rolling limit window, counted in whole hours of block time


def sent_in_window(acct: Account, asset: str, timestamp: int) -> int:
    """Total sent in the WINDOW_HOURS hour buckets ending at timestamp's hour."""
    first = timestamp // HOUR_MS - WINDOW_HOURS + 1
    return sum(v for h, v in acct.spent.get(asset, {}).items() if h >= first)


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


def apply_spend(acct: Account, asset: str, amount: int, timestamp: int) -> None:
    """Count `amount` in the sender's window (acct must be writable: view.account_mut)."""
    hour = timestamp // HOUR_MS
    first = hour - WINDOW_HOURS + 1
    buckets = {h: v for h, v in acct.spent.get(asset, {}).items() if h >= first}
    buckets[hour] = buckets.get(hour, 0) + amount
    acct.spent[asset] = buckets
