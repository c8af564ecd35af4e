"""Escrow: value held for a recipient until a time, and optionally a condition.

escrow_create: the payer locks `amount` of `asset` for `to`. It is a payment made now, checked
as a transfer is (node.ledger.rules.assets.check_payment: asset, freezes, both parties, the
travel rule, the payer's tier limits, funds); the units leave the payer's balance and are held
(StateView.held: supply = balances + held). `cancel_after` must be after `release_after`.

escrow_release, from `release_after` and before `cancel_after` (block time): by the payer, or,
when the escrow has a condition (sha256 of a secret), by anyone showing the secret. The
recipient's and payer's standing and the asset's freeze are checked again at release (a party
frozen or whose KYC lapsed since cannot be paid): the funds then stay held until they can be,
or until cancel. escrow_cancel, from `cancel_after`: the payer takes the units back (no KYC
needed to get one's own value back; a frozen payer cannot send it, as for every kind).
"""
from __future__ import annotations

from dataclasses import replace

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.rules.assets import add_held, check_payment, credit, debit
from node.ledger.rules.context import Context
from node.ledger.rules.controls import check_asset_not_frozen
from node.ledger.rules.kyc import check_party
from node.ledger.rules.limits import check_no_overflow
from node.ledger.rules.reports import apply_supervisory_report
from node.ledger.state import Escrow, StateView
from node.ledger.types import (
    EscrowCancel,
    EscrowCreate,
    EscrowRelease,
    EscrowStatus,
    Transaction,
)


def check_escrow_times(p: EscrowCreate) -> None:
    """A window to release in: cancel_after strictly after release_after."""
    if p.cancel_after <= p.release_after:
        raise E.BadEscrow(f"cancel_after {p.cancel_after} must be after release_after "
                          f"{p.release_after}")


def check_escrow(view: StateView, escrow_id: bytes) -> Escrow:
    escrow = view.escrow(escrow_id)
    if escrow is None:
        raise E.UnknownEscrow(f"no escrow {escrow_id.hex()[:16]}")
    if escrow.status != EscrowStatus.OPEN:
        raise E.EscrowClosed(f"the escrow was {escrow.status}")
    return escrow


def cancel_time_come(escrow: Escrow, at: int) -> bool:
    """From cancel_after on, the payer may take the escrow back (and no one release it)."""
    return at >= escrow.cancel_after


def in_release_window(escrow: Escrow, at: int) -> bool:
    """From release_after (inclusive) until cancel_after (exclusive)."""
    return escrow.release_after <= at and not cancel_time_come(escrow, at)


def check_release_window(escrow: Escrow, ctx: Context) -> None:
    """In the release window (in_release_window)."""
    if ctx.timestamp < escrow.release_after:
        raise E.EscrowNotYet(f"the escrow releases from {escrow.release_after}")
    if cancel_time_come(escrow, ctx.timestamp):
        raise E.EscrowExpired(f"the escrow could be released until {escrow.cancel_after}; "
                              "it can only be cancelled now")


def check_releaser(escrow: Escrow, sender: bytes, preimage: bytes) -> None:
    """The payer releases at will; anyone else needs the escrow's condition and its secret."""
    if escrow.condition and sha256(preimage) == escrow.condition:
        return
    if sender == escrow.payer and not preimage:
        return
    if escrow.condition:
        raise E.EscrowCondition("the preimage does not hash to the escrow's condition")
    raise E.Unauthorized("only the payer releases an escrow without a condition")


def check_releasable(view: StateView, ctx: Context, escrow: Escrow) -> None:
    """Re-checked at release: the asset is not frozen, both parties still in good standing,
    the recipient's balance does not overflow."""
    check_asset_not_frozen(view, escrow.asset)
    check_party(view, ctx, escrow.payer, "payer")
    check_party(view, ctx, escrow.to, "recipient")
    check_no_overflow(view.account(escrow.to).balance(escrow.asset), escrow.amount,
                      "recipient's balance")


def check_cancellable(escrow: Escrow, sender: bytes, ctx: Context) -> None:
    if sender != escrow.payer:
        raise E.Unauthorized("only the payer cancels an escrow")
    if not cancel_time_come(escrow, ctx.timestamp):
        raise E.EscrowNotYet(f"the escrow can be cancelled from {escrow.cancel_after}")


def apply_escrow_create(view: StateView, tx: Transaction, p: EscrowCreate, ctx: Context) -> None:
    check_escrow_times(p)
    asset, payer_status, _ = check_payment(view, ctx, tx.sender, p.to, p.asset, p.amount,
                                           p.travel_rule)
    debit(view, ctx, tx.sender, p.asset, p.amount, payer_status)
    apply_supervisory_report(view, ctx, tx.hash, asset, tx.sender, p.to, p.amount,
                             payer_status.tier)  # reported as the payment it is, when made
    add_held(view, p.asset, p.amount)
    view.set_escrow(tx.hash, Escrow(tx.sender, p.asset, p.to, p.amount, p.release_after,
                                    p.cancel_after, p.condition, ctx.timestamp))


def apply_escrow_release(view: StateView, tx: Transaction, p: EscrowRelease,
                         ctx: Context) -> None:
    escrow = check_escrow(view, p.escrow)
    check_release_window(escrow, ctx)
    check_releaser(escrow, tx.sender, p.preimage)
    check_releasable(view, ctx, escrow)
    close_escrow(view, p.escrow, escrow, EscrowStatus.RELEASED, escrow.to, ctx)


def apply_escrow_cancel(view: StateView, tx: Transaction, p: EscrowCancel, ctx: Context) -> None:
    escrow = check_escrow(view, p.escrow)
    check_cancellable(escrow, tx.sender, ctx)
    close_escrow(view, p.escrow, escrow, EscrowStatus.CANCELLED, escrow.payer, ctx)


def close_escrow(view: StateView, escrow_id: bytes, escrow: Escrow, status: str, to: bytes,
                 ctx: Context) -> None:
    """The held units go to `to` (the recipient, or back to the payer)."""
    add_held(view, escrow.asset, -escrow.amount)
    credit(view, to, escrow.asset, escrow.amount)
    view.set_escrow(escrow_id, replace(escrow, status=status, closed_at=ctx.timestamp))
