"""PvP FX settlement: two assets change hands at an agreed rate, both legs or neither.

fx_offer: the maker gives `give_amount` of `give_asset` for `want_amount` of `want_asset`,
optionally only to one counterparty, until `expires_at` (block time), fillable in parts or
only whole. The give leg is locked at once: it leaves the maker's balance and is held by the
offer (StateView.held counts it per asset, so supply = balances + held), so a taker never
depends on the maker still having the funds.

fx_accept: the taker pays `amount` of the want leg and receives the give leg at the offer's
rate, rounded down: floor(amount * give_amount / want_amount). The taker never gets a better
rate than offered; the maker never a worse one. Both legs are checked as payments before
either moves (node.ledger.rules.assets.check_payment: asset, freezes, both parties' KYC and
jurisdictions, the travel rule, each payer's tier limits for its asset, no overflow; the
give leg's funds are the lock), so a settlement is all of it or nothing. When the want leg is
paid in full the offer is filled and what rounding left in the lock (less than one unit per
fill) goes back to the maker.

fx_cancel: the maker withdraws an open offer; the lock comes back. Expiry: in every block,
before its transactions, up to MAX_EXPIRIES_PER_BLOCK open offers whose expiry is at or before
the block's time are closed and their locks returned, soonest first; the rest wait for the next
block (an offer past its expiry cannot be taken even before its sweep: OFFER_EXPIRED).
"""
from __future__ import annotations

from dataclasses import replace

from node.ledger import errors as E
from node.ledger.rules.assets import (
    add_held,
    check_asset,
    check_not_to_self,
    check_payment,
    credit,
    debit,
)
from node.ledger.rules.context import Context
from node.ledger.rules.controls import check_asset_not_frozen
from node.ledger.rules.kyc import check_party
from node.ledger.rules.limits import apply_spend, check_funds
from node.ledger.rules.reports import apply_supervisory_report
from node.ledger.state import Offer, StateView
from node.ledger.types import FxAccept, FxCancel, FxOffer, OfferStatus, Transaction, TravelRule

MAX_EXPIRIES_PER_BLOCK = 256  # offers a block's sweep releases at most; the rest, next block


def fill_amount(offer: Offer, paid: int) -> int:
    """The give-leg units a taker paying `paid` of the want leg receives: the offer's rate,
    rounded down (integers only; never better than offered for the taker)."""
    return paid * offer.give_amount // offer.want_amount


def check_offer_terms(p: FxOffer, ctx: Context) -> None:
    """Two different assets; an expiry still ahead of the block's time."""
    if p.give_asset == p.want_asset:
        raise E.BadOffer(f"an offer gives and wants {p.give_asset}: two assets are exchanged")
    if p.expires_at <= ctx.timestamp:
        raise E.BadOffer(f"expires_at {p.expires_at} is not after the block's time "
                         f"{ctx.timestamp}")


def check_offer(view: StateView, offer_id: bytes) -> Offer:
    offer = view.offer(offer_id)
    if offer is None:
        raise E.UnknownOffer(f"no offer {offer_id.hex()[:16]}")
    return offer


def offer_expired(offer: Offer, at: int) -> bool:
    """Open, but past its expiry at block time `at`: refused, until the sweep closes it."""
    return offer.status == OfferStatus.OPEN and offer.expires_at <= at


def check_offer_not_closed(offer: Offer) -> None:
    """Not filled, cancelled or swept as expired."""
    if offer.status != OfferStatus.OPEN:
        raise E.OfferClosed(f"the offer is {offer.status}")


def check_offer_open(offer: Offer, ctx: Context) -> None:
    """Not closed, and not expired by time before the sweep ran."""
    check_offer_not_closed(offer)
    if offer_expired(offer, ctx.timestamp):
        raise E.OfferExpired(f"the offer expired at {offer.expires_at}")


def check_counterparty(offer: Offer, taker: bytes) -> None:
    """An offer to one counterparty is that account's alone; no one takes their own offer."""
    if offer.counterparty and offer.counterparty != taker:
        raise E.NotCounterparty("the offer is made to another account")
    check_not_to_self(offer.maker, taker, "a maker cannot take its own offer")


def check_fill(offer: Offer, paid: int) -> int:
    """At most what the offer still wants; the whole of it unless partial fills are allowed;
    enough to receive at least one unit. Returns the give-leg units the fill receives."""
    if paid > offer.wanted:
        raise E.BadFill(f"the offer wants {offer.wanted} {offer.want_asset} more, not {paid}")
    if not offer.partial and paid != offer.wanted:
        raise E.PartialNotAllowed(f"the offer is all or nothing: pay {offer.wanted} "
                                  f"{offer.want_asset}")
    got = fill_amount(offer, paid)
    if got == 0:
        raise E.BadFill(f"{paid} {offer.want_asset} buys less than one unit of "
                        f"{offer.give_asset} at the offer's rate")
    return got


def check_maker(offer: Offer, sender: bytes) -> None:
    if offer.maker != sender:
        raise E.Unauthorized("only the offer's maker cancels it")


def swapped(rule: TravelRule) -> TravelRule:
    """The taker's leg's travel rule data: the same parties, the other way."""
    return (rule[1], rule[0], rule[2]) if rule else ()


def apply_fx_offer(view: StateView, tx: Transaction, p: FxOffer, ctx: Context) -> None:
    """Offer terms, both assets, the give asset not frozen, the maker a party in good standing
    with the funds; a counterparty, if named, is not the maker. Locks the give leg."""
    check_offer_terms(p, ctx)
    check_asset(view, p.give_asset)
    check_asset(view, p.want_asset)
    check_asset_not_frozen(view, p.give_asset)
    check_party(view, ctx, tx.sender, "maker")
    if p.counterparty:
        check_not_to_self(tx.sender, p.counterparty, "an offer to its own maker")
    check_funds(view.account(tx.sender), p.give_asset, p.give_amount)

    view.account_mut(tx.sender).balances[p.give_asset] -= p.give_amount
    add_held(view, p.give_asset, p.give_amount)
    view.set_offer(tx.hash, Offer(tx.sender, p.give_asset, p.give_amount, p.want_asset,
                                  p.want_amount, p.expires_at, p.partial, p.counterparty,
                                  ctx.timestamp))


def apply_fx_accept(view: StateView, tx: Transaction, p: FxAccept, ctx: Context) -> None:
    """Both legs as payments, checked before either moves: the give leg from the lock to the
    taker, the want leg from the taker to the maker."""
    offer = check_offer(view, p.offer)
    check_offer_open(offer, ctx)
    check_counterparty(offer, tx.sender)
    got = check_fill(offer, p.amount)
    give, maker_status, _ = check_payment(view, ctx, offer.maker, tx.sender, offer.give_asset,
                                          got, p.travel_rule, funded=False)
    want, taker_status, _ = check_payment(view, ctx, tx.sender, offer.maker, offer.want_asset,
                                          p.amount, swapped(p.travel_rule))

    # the give leg: out of the lock, counted in the maker's window
    add_held(view, offer.give_asset, -got)
    if maker_status.tier is not None:
        apply_spend(view.account_mut(offer.maker), offer.give_asset, got, ctx.timestamp)
    credit(view, tx.sender, offer.give_asset, got)
    # the want leg: the taker pays the maker
    debit(view, ctx, tx.sender, offer.want_asset, p.amount, taker_status)
    credit(view, offer.maker, offer.want_asset, p.amount)
    # each leg is a payment the supervisor hears of, as a transfer would be
    apply_supervisory_report(view, ctx, tx.hash, give, offer.maker, tx.sender, got,
                             maker_status.tier)
    apply_supervisory_report(view, ctx, tx.hash, want, tx.sender, offer.maker, p.amount,
                             taker_status.tier)

    offer = replace(offer, given=offer.given + got, paid=offer.paid + p.amount)
    if offer.wanted == 0:  # filled: rounding's remainder goes back to the maker
        close_offer(view, p.offer, offer, OfferStatus.FILLED, ctx)
    else:
        view.set_offer(p.offer, offer)


def apply_fx_cancel(view: StateView, tx: Transaction, p: FxCancel, ctx: Context) -> None:
    """The maker's open offer closes; its lock comes back (an expired one may be cancelled
    before the sweep reaches it)."""
    offer = check_offer(view, p.offer)
    check_maker(offer, tx.sender)
    check_offer_not_closed(offer)
    close_offer(view, p.offer, offer, OfferStatus.CANCELLED, ctx)


def close_offer(view: StateView, offer_id: bytes, offer: Offer, status: str,
                ctx: Context) -> None:
    """The offer leaves `open`; what it still holds goes back to its maker (no rule can refuse
    that: the units were the maker's and never left supply, so no balance can overflow)."""
    left = offer.locked
    if left:
        add_held(view, offer.give_asset, -left)
        credit(view, offer.maker, offer.give_asset, left)
    view.set_offer(offer_id, replace(offer, status=status, closed_at=ctx.timestamp))


def apply_offer_expiries(view: StateView, ctx: Context) -> None:
    """Every block, before its transactions: release up to MAX_EXPIRIES_PER_BLOCK offers
    expired by the block's time (one test when none is due)."""
    for offer_id in view.offers_due(ctx.timestamp, MAX_EXPIRIES_PER_BLOCK):
        offer = view.offer(offer_id)
        assert offer is not None and offer.status == OfferStatus.OPEN
        close_offer(view, offer_id, offer, OfferStatus.EXPIRED, ctx)

