"""Assets and the movements of their value: transfer, issue, redeem, clawback, asset freezes.

An asset is defined in genesis with its issuing institution; only that institution, while
licensed as asset_issuer, issues, redeems and claws back its units. A transfer moves units
between two parties of good KYC standing (node.ledger.rules.kyc) within the sender's tier
limits (node.ledger.rules.limits). Nothing of a frozen asset moves, except by clawback, which
is enforcement: it works on frozen assets and frozen accounts alike and needs no KYC standing.

Assets on chain: the record (StateView.asset) starts as genesis's; the regulator adds one
(asset_add: a new code, an existing issuing institution) or changes its reserve flags and
reporting threshold (asset_update), from the block that commits it. A reserve-backed asset's
issuance stays within its issuer's latest reserve report (node.ledger.rules.reserves).
"""
from __future__ import annotations

from dataclasses import replace

from node.ledger import errors as E
from node.ledger.genesis import Asset
from node.ledger.rules.context import Context
from node.ledger.rules.controls import check_asset_not_frozen
from node.ledger.rules.kyc import KycStatus, check_party
from node.ledger.rules.licensing import check_institution, check_licensed, check_regulator
from node.ledger.rules.limits import (
    apply_spend,
    check_funds,
    check_limits,
    check_no_overflow,
)
from node.ledger.rules.reports import apply_supervisory_report
from node.ledger.rules.reserves import (
    check_auditor,
    check_report_attestable,
    check_report_time,
    check_reserves,
)
from node.ledger.rules.travel import check_travel_rule
from node.ledger.state import Account, Reserves, StateView
from node.ledger.types import (
    AssetAdd,
    AssetFreeze,
    AssetUnfreeze,
    AssetUpdate,
    Clawback,
    Issue,
    Redeem,
    ReserveAttest,
    ReserveReport,
    Role,
    Transaction,
    Transfer,
    TravelRule,
)

# As a plain str (check_asset_issuer runs for every issue): see node.ledger.rules.kyc.
_ASSET_ISSUER = Role.ASSET_ISSUER.value


def check_asset(view: StateView, code: str) -> Asset:
    asset = view.asset(code)
    if asset is None:
        raise E.UnknownAsset(f"no asset {code}")
    return asset


def check_asset_issuer(view: StateView, sender: bytes, code: str) -> Asset:
    """The sender is the asset's issuing institution, licensed as asset_issuer right now."""
    asset = check_asset(view, code)
    inst = check_licensed(view, sender, _ASSET_ISSUER)
    if inst.name != asset.issuer:
        raise E.Unauthorized(f"{code} is issued by {asset.issuer}, not {inst.name}")
    return asset


def check_asset_controller(view: StateView, sender: bytes, code: str) -> None:
    """The regulator, or the asset's licensed issuer."""
    check_asset(view, code)
    if sender != view.genesis.regulator:
        check_asset_issuer(view, sender, code)


def check_not_to_self(sender: bytes, other: bytes, message: str) -> None:
    if other == sender:
        raise E.SelfTransfer(message)


def check_clawback_enabled(asset: Asset) -> None:
    if not asset.clawback:
        raise E.ClawbackDisabled(f"{asset.code} was not created clawback-able")


def check_payment(view: StateView, ctx: Context, sender: bytes, to: bytes, code: str,
                  amount: int, travel_rule: TravelRule,
                  funded: bool = True) -> tuple[Asset, KycStatus, KycStatus]:
    """`amount` of asset `code` may move from sender to `to` now: the asset exists and is not
    frozen, not to self, both parties' standing, the travel rule (data given, or the asset has
    a threshold), the sender's tier limits, its funds (unless `funded` is False: the units are
    already held for this payment in an offer's lock), no overflow of the recipient's balance.
    A transfer is one payment; an FX settlement is two (node.ledger.rules.fx)."""
    asset = check_asset(view, code)
    check_asset_not_frozen(view, code)
    check_not_to_self(sender, to, "sender and recipient are the same account")
    sender_status = check_party(view, ctx, sender, "sender")
    recipient_status = check_party(view, ctx, to, "recipient")
    if travel_rule or asset.report_threshold:  # node.ledger.rules.travel
        check_travel_rule(view, ctx, sender, to, amount, travel_rule, asset, sender_status,
                          recipient_status)
    account = view.account(sender)
    check_limits(sender_status, account, code, amount, ctx)
    if funded:
        check_funds(account, code, amount)
    check_no_overflow(view.account(to).balance(code), amount, "recipient's balance")
    return asset, sender_status, recipient_status


def debit(view: StateView, ctx: Context, sender: bytes, code: str, amount: int,
          status: KycStatus) -> Account:
    """The sender pays `amount` (checked: check_payment); it counts in its rolling window."""
    account = view.account_mut(sender)
    account.balances[code] -= amount
    if status.tier is not None:
        apply_spend(account, code, amount, ctx.timestamp)
    return account


def credit(view: StateView, to: bytes, code: str, amount: int) -> None:
    recipient = view.account_mut(to)
    recipient.balances[code] = recipient.balance(code) + amount


def add_held(view: StateView, code: str, delta: int) -> None:
    """Units locked (delta > 0) into an offer or escrow, or released from one (< 0): out of
    every balance, still in supply."""
    view.set_held(code, view.held(code) + delta)


def apply_transfer(view: StateView, tx: Transaction, p: Transfer, ctx: Context) -> None:
    asset, sender_status, _ = check_payment(view, ctx, tx.sender, p.to, p.asset, p.amount,
                                            p.travel_rule)
    debit(view, ctx, tx.sender, p.asset, p.amount, sender_status)
    credit(view, p.to, p.asset, p.amount)
    apply_supervisory_report(view, ctx, tx.hash, asset, tx.sender, p.to, p.amount,
                             sender_status.tier)


def apply_issue(view: StateView, tx: Transaction, p: Issue, ctx: Context) -> None:
    asset = check_asset_issuer(view, tx.sender, p.asset)
    check_asset_not_frozen(view, p.asset)
    check_party(view, ctx, p.to, "recipient")
    check_no_overflow(view.supply(p.asset), p.amount, f"{p.asset} supply")
    check_reserves(view, asset, p.amount, ctx)

    recipient = view.account_mut(p.to)
    recipient.balances[p.asset] = recipient.balance(p.asset) + p.amount
    view.set_supply(p.asset, view.supply(p.asset) + p.amount)


def apply_redeem(view: StateView, tx: Transaction, p: Redeem, ctx: Context) -> None:
    check_asset_issuer(view, tx.sender, p.asset)
    check_asset_not_frozen(view, p.asset)
    check_funds(view.account(tx.sender), p.asset, p.amount)

    view.account_mut(tx.sender).balances[p.asset] -= p.amount
    view.set_supply(p.asset, view.supply(p.asset) - p.amount)


def apply_clawback(view: StateView, tx: Transaction, p: Clawback, ctx: Context) -> None:
    """Enforcement: works on frozen assets and frozen accounts alike; needs no KYC standing."""
    asset = check_asset_issuer(view, tx.sender, p.asset)
    check_clawback_enabled(asset)
    check_not_to_self(tx.sender, p.account, "an issuer cannot claw back from itself")
    check_funds(view.account(p.account), p.asset, p.amount)
    check_no_overflow(view.account(tx.sender).balance(p.asset), p.amount, "issuer's balance")

    view.account_mut(p.account).balances[p.asset] -= p.amount
    issuer = view.account_mut(tx.sender)
    issuer.balances[p.asset] = issuer.balance(p.asset) + p.amount


def apply_asset_freeze(view: StateView, tx: Transaction, p: AssetFreeze, ctx: Context) -> None:
    check_asset_controller(view, tx.sender, p.asset)
    view.set_asset_frozen(p.asset, True)


def apply_asset_unfreeze(view: StateView, tx: Transaction, p: AssetUnfreeze, ctx: Context) -> None:
    check_asset_controller(view, tx.sender, p.asset)
    view.set_asset_frozen(p.asset, False)


def check_asset_new(view: StateView, code: str) -> None:
    """No asset, of genesis or added since, has this code."""
    if view.asset(code) is not None:
        raise E.AssetExists(f"an asset {code} already exists")


def apply_asset_add(view: StateView, tx: Transaction, p: AssetAdd, ctx: Context) -> None:
    """asset_add: the regulator's; a new code, issued by an existing institution (which issues
    it once licensed asset_issuer)."""
    check_regulator(view, tx.sender)
    check_asset_new(view, p.code)
    check_institution(view, p.issuer)
    view.set_asset(Asset(p.code, p.issuer, p.decimals, p.clawback, p.reserve_backed,
                         p.reserve_max_age_ms, p.report_threshold))


def apply_asset_update(view: StateView, tx: Transaction, p: AssetUpdate, ctx: Context) -> None:
    """asset_update: the regulator's; the reserve flags and the reporting threshold change."""
    check_regulator(view, tx.sender)
    asset = check_asset(view, p.code)
    view.set_asset(replace(asset, reserve_backed=p.reserve_backed,
                           reserve_max_age_ms=p.reserve_max_age_ms,
                           report_threshold=p.report_threshold))


def apply_reserve_report(view: StateView, tx: Transaction, p: ReserveReport,
                         ctx: Context) -> None:
    """reserve_report: the asset's licensed issuer; as_of not after block time, newer than the
    last; it becomes the asset's latest report, not yet co-signed."""
    asset = check_asset_issuer(view, tx.sender, p.asset)
    check_report_time(view.reserves(p.asset), p.as_of, ctx)
    view.set_reserves(p.asset, Reserves(tx.hash, p.amount, p.as_of, p.evidence_hash,
                                        asset.issuer, ctx.timestamp))


def apply_reserve_attest(view: StateView, tx: Transaction, p: ReserveAttest,
                         ctx: Context) -> None:
    """reserve_attest: an auditor co-signs the asset's latest report, once."""
    asset = check_asset(view, p.asset)
    auditor = check_auditor(view, tx.sender, asset)
    reserves = check_report_attestable(view.reserves(p.asset), p.report)
    view.set_reserves(p.asset, replace(reserves, auditor=auditor.name,
                                       attested_at=ctx.timestamp))
