"""Policy on chain: the blocked jurisdictions and the KYC tiers change without a new chain.

Genesis names the initial blocked set; a regulator-signed jurisdiction_block or
jurisdiction_unblock changes it, and from the block that commits it the state (StateView.
blocked_jurisdictions, record b"j") holds the current set: every party check of a transfer,
issuance and pool admission (node.ledger.rules.kyc.check_jurisdiction) reads it, so a payment to
or from a party of a newly blocked jurisdiction is refused JURISDICTION_BLOCKED from that block
on, and one a pool held before is refused when it is re-checked or executed.

Likewise a tier_set adds a KYC tier or replaces one whole (name and limits per asset); from its
block the state (StateView.tier, record b"t" + tier) holds it, and kyc_attest (check_tier), the
KYC check and the limits of every later transfer read it: lowering a tier's limits binds at
once, the spends already in the sender's 24 h window counting against the new daily limit.

Who decides: the regulator, under both license policies. Under `majority` the validators decide
licences (node.ledger.rules.governance); a sanctions list is the supervisor's to keep, and it
must take effect at once, like the regulator's emergency revoke, so it is not put to a vote.
The tiers are the supervisor's customer-risk policy and are the regulator's too.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Tier, TierLimit
from node.ledger.rules.assets import check_asset
from node.ledger.rules.context import Context
from node.ledger.rules.licensing import check_regulator
from node.ledger.state import StateView
from node.ledger.types import JurisdictionBlock, JurisdictionUnblock, TierSet, Transaction


def check_not_blocked(view: StateView, jurisdiction: str) -> None:
    """A jurisdiction_block adds a jurisdiction that is not blocked yet."""
    if jurisdiction in view.blocked_jurisdictions():
        raise E.AlreadyBlocked(f"jurisdiction {jurisdiction} is already blocked")


def check_blocked(view: StateView, jurisdiction: str) -> None:
    """A jurisdiction_unblock removes a jurisdiction that is blocked."""
    if jurisdiction not in view.blocked_jurisdictions():
        raise E.NotBlocked(f"jurisdiction {jurisdiction} is not blocked")


def apply_jurisdiction_block(view: StateView, tx: Transaction, p: JurisdictionBlock,
                             ctx: Context) -> None:
    """jurisdiction_block: the regulator's; the jurisdiction joins the blocked set."""
    check_regulator(view, tx.sender)
    check_not_blocked(view, p.jurisdiction)
    view.set_blocked_jurisdictions(view.blocked_jurisdictions() | {p.jurisdiction})


def apply_jurisdiction_unblock(view: StateView, tx: Transaction, p: JurisdictionUnblock,
                               ctx: Context) -> None:
    """jurisdiction_unblock: the regulator's; the jurisdiction leaves the blocked set."""
    check_regulator(view, tx.sender)
    check_blocked(view, p.jurisdiction)
    view.set_blocked_jurisdictions(view.blocked_jurisdictions() - {p.jurisdiction})


def check_tier_limits(view: StateView, p: TierSet) -> None:
    """A tier_set lists known assets, each with a per-transaction limit within its daily one."""
    for asset, per_tx, daily in p.limits:
        check_asset(view, asset)
        if per_tx > daily:
            raise E.BadTierLimits(f"tier {p.tier} {asset}: per_tx {per_tx} is over daily {daily}")


def apply_tier_set(view: StateView, tx: Transaction, p: TierSet, ctx: Context) -> None:
    """tier_set: the regulator's; known assets, per_tx within daily; the tier is added or
    replaced whole (an asset it no longer lists cannot be sent at that tier)."""
    check_regulator(view, tx.sender)
    check_tier_limits(view, p)
    view.set_tier(Tier(p.tier, p.name, {a: TierLimit(per_tx, daily)
                                        for a, per_tx, daily in p.limits}))
