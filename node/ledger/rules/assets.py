"""Assets and the movements of their value: transfer, issue, redeem, clawback, asset freezes.

An asset is defined in genesis with its issuing institution; only that institution, while
licensed as asset_issuer, issues, redeems and claws back its units. A transfer moves units
between two parties of good KYC standing (node.ledger.rules.kyc) within the sender's tier
limits (node.ledger.rules.limits). Nothing of a frozen asset moves, except by clawback, which
is enforcement: it works on frozen assets and frozen accounts alike and needs no KYC standing.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Asset
from node.ledger.rules.context import Context
from node.ledger.rules.controls import check_asset_not_frozen
from node.ledger.rules.kyc import check_party
from node.ledger.rules.licensing import check_licensed
from node.ledger.rules.limits import apply_spend, check_funds, check_limits, check_no_overflow
from node.ledger.state import StateView
from node.ledger.types import (
    AssetFreeze,
    AssetUnfreeze,
    Clawback,
    Issue,
    Redeem,
    Role,
    Transaction,
    Transfer,
)

# As a plain str (check_asset_issuer runs for every issue): see node.ledger.rules.kyc.
_ASSET_ISSUER = Role.ASSET_ISSUER.value


def check_asset(view: StateView, code: str) -> Asset:
    asset = view.genesis.asset(code)
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


def apply_transfer(view: StateView, tx: Transaction, p: Transfer, ctx: Context) -> None:
    check_asset(view, p.asset)
    check_asset_not_frozen(view, p.asset)
    check_not_to_self(tx.sender, p.to, "sender and recipient are the same account")
    sender_status = check_party(view, ctx, tx.sender, "sender")
    check_party(view, ctx, p.to, "recipient")
    sender = view.account(tx.sender)
    check_limits(sender_status, sender, p.asset, p.amount, ctx)
    check_funds(sender, p.asset, p.amount)
    check_no_overflow(view.account(p.to).balance(p.asset), p.amount, "recipient's balance")

    sender = view.account_mut(tx.sender)
    sender.balances[p.asset] -= p.amount
    if sender_status.tier is not None:
        apply_spend(sender, p.asset, p.amount, ctx.timestamp)
    recipient = view.account_mut(p.to)
    recipient.balances[p.asset] = recipient.balance(p.asset) + p.amount


def apply_issue(view: StateView, tx: Transaction, p: Issue, ctx: Context) -> None:
    check_asset_issuer(view, tx.sender, p.asset)
    check_asset_not_frozen(view, p.asset)
    check_party(view, ctx, p.to, "recipient")
    check_no_overflow(view.supply(p.asset), p.amount, f"{p.asset} supply")

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
