"""The regulator's controls: frozen accounts and frozen assets stop every movement of value.

Freezing an account is the regulator's alone; freezing an asset is the regulator's or the
asset's issuer's (node.ledger.rules.assets). Clawback is the one movement a freeze does not stop.
A frozen account sends nothing at all: every transaction whose sender is frozen is refused
(check_sender_not_frozen, before the kind's rules), so a frozen institution is inert until the
regulator unfreezes it.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.rules.context import Context
from node.ledger.rules.licensing import check_regulator
from node.ledger.state import Account, StateView
from node.ledger.types import Freeze, Transaction, Unfreeze


def check_not_frozen(acct: Account, who: str) -> None:
    if acct.frozen:
        raise E.Frozen(f"{who}'s account is frozen")


def check_sender_not_frozen(view: StateView, tx: Transaction) -> None:
    """A frozen account does nothing, whatever the kind: a frozen institution neither issues,
    redeems, attests nor claws back. The regulator always acts (it unfreezes)."""
    if view.account(tx.sender).frozen and tx.sender != view.genesis.regulator:
        raise E.Frozen("the sender's account is frozen: it can do nothing until unfrozen")


def check_asset_not_frozen(view: StateView, code: str) -> None:
    if view.asset_frozen(code):
        raise E.AssetFrozen(f"{code} is frozen")


def apply_freeze(view: StateView, tx: Transaction, p: Freeze, ctx: Context) -> None:
    check_regulator(view, tx.sender)
    view.account_mut(p.account).frozen = True


def apply_unfreeze(view: StateView, tx: Transaction, p: Unfreeze, ctx: Context) -> None:
    check_regulator(view, tx.sender)
    view.account_mut(p.account).frozen = False
