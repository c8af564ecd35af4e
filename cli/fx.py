"""lichen fx: PvP FX settlement. An offer locks its give leg; an accept settles both legs in
one transaction or neither (node.ledger.rules.fx). Amounts are minor units, as everywhere."""
from __future__ import annotations

import re
import time
from decimal import Decimal, localcontext

import click

from node.ledger.types import FxAccept, FxCancel, FxOffer

from .asset import units
from .common import (
    DURATION,
    console,
    emit_json,
    fetch,
    json_option,
    load_key,
    node_option,
    parse_tx_id,
    resolve_address,
    submit_tx,
    wait_option,
)
from .kyc import print_salt
from .render import short, when
from .tx import travel_rule_from, travel_rule_options


def now_ms() -> int:
    """This machine's clock: expiries are judged later by block time, which the leader's
    clock sets, so a client's clock is as good a base as any for 'in 1 hour'."""
    return int(time.time() * 1000)


@click.group()
def fx() -> None:
    """Offer one asset for another at a fixed rate, take or cancel offers, read the book."""


@fx.command("offer")
@click.option("--key", required=True, help="The maker's key file (or devnet key name).")
@click.option("--give", nargs=2, type=(click.IntRange(min=1), str), required=True,
              metavar="AMOUNT ASSET", help="What the maker gives, e.g. --give 100000 USD.")
@click.option("--want", nargs=2, type=(click.IntRange(min=1), str), required=True,
              metavar="AMOUNT ASSET", help="What it wants for all of it, e.g. --want 135000 SGD.")
@click.option("--expires-in", default="1h", show_default=True, type=DURATION,
              help="How long the offer stands (90s, 15m, 2h, 7d); the first block after it "
                   "releases the lock.")
@click.option("--all-or-nothing", is_flag=True,
              help="Only a taker paying the whole want leg may take it (default: in parts).")
@click.option("--to", "counterparty", default=None,
              help="Make the offer to this account alone (address, key file or devnet key name).")
@node_option
@json_option
@wait_option
def offer(key, give, want, expires_in, all_or_nothing, counterparty, node_url, as_json, no_wait,
          timeout) -> None:
    """Offer GIVE for WANT. The give leg leaves the maker's balance into a lock until the offer
    is filled, cancelled or expires. A taker paying p of the want leg receives
    floor(p * give / want): never a better rate than offered."""
    (give_amount, give_asset), (want_amount, want_asset) = give, want
    payload = FxOffer(give_asset.upper(), give_amount, want_asset.upper(), want_amount,
                      now_ms() + expires_in, not all_or_nothing,
                      resolve_address(counterparty) if counterparty else b"")
    result = submit_tx(node_url, load_key(key), payload, no_wait, as_json,
                       f"offer {give_amount} {payload.give_asset} for {want_amount} "
                       f"{payload.want_asset}" + (f" to {counterparty}" if counterparty else ""))
    if not as_json:
        console.print(f"offer id {result['hash']}", highlight=False)


@fx.command("accept")
@click.argument("offer_id")
@click.option("--key", required=True, help="The taker's key file (or devnet key name).")
@click.option("--amount", type=click.IntRange(min=1), default=None,
              help="Want-leg minor units to pay (default: all that is left).")
@travel_rule_options
@node_option
@json_option
@wait_option
def accept(offer_id, key, amount, travel_rule_file, originator, beneficiary, node_url, as_json,
           no_wait, timeout) -> None:
    """Take offer OFFER_ID: pay AMOUNT of its want leg and receive the give leg at its rate,
    both legs in one transaction or neither. Both parties' KYC, freezes, jurisdictions and
    tier limits are checked per leg; travel rule data names [maker's institution, taker's]."""
    oid = parse_tx_id(offer_id, "OFFER_ID")
    doc = fetch(node_url, f"/v1/offers/{oid.hex()}")
    # a closed offer has nothing left: pay 1 and let the ledger say why it refuses
    pay = amount if amount is not None else max(doc["remaining_want"], 1)
    rule, salt = travel_rule_from(travel_rule_file, originator, beneficiary)
    got = pay * doc["give_amount"] // doc["want_amount"]
    submit_tx(node_url, load_key(key), FxAccept(oid, pay, rule),
              no_wait, as_json, f"pay {pay} {doc['want_asset']} for {got} {doc['give_asset']} "
                                f"(offer {oid.hex()[:16]}…)")
    if rule:
        print_salt(salt, rule[2], as_json, "the IVMS101 record")


@fx.command("cancel")
@click.argument("offer_id")
@click.option("--key", required=True, help="The maker's key file (or devnet key name).")
@node_option
@json_option
@wait_option
def cancel(offer_id, key, node_url, as_json, no_wait, timeout) -> None:
    """Withdraw your open offer OFFER_ID: what it still locks comes back."""
    oid = parse_tx_id(offer_id, "OFFER_ID")
    submit_tx(node_url, load_key(key), FxCancel(oid), no_wait, as_json,
              f"cancel offer {oid.hex()[:16]}…")


def decimals_of(node_url: str | None) -> dict[str, int]:
    return {a["code"]: a["decimals"] for a in fetch(node_url, "/v1/assets")["assets"]}


def price(quote_units: int, base_units: int, dq: int, db: int) -> str:
    """QUOTE per BASE in major units, to 6 significant digits: for reading only (the ledger
    settles integer minor units, never this)."""
    with localcontext() as c:
        c.prec = 6
        return str((Decimal(quote_units) / 10**dq) / (Decimal(base_units) / 10**db))


@fx.command("show")
@click.argument("offer_id")
@node_option
@json_option
def show(offer_id, node_url, as_json) -> None:
    """Offer OFFER_ID: its legs and rate, what is filled and locked, its expiry and status."""
    doc = fetch(node_url, f"/v1/offers/{parse_tx_id(offer_id, 'OFFER_ID').hex()}")
    if as_json:
        emit_json(doc)
        return
    d = decimals_of(node_url)
    g, w = doc["give_asset"], doc["want_asset"]
    status = doc["status"] + (" (expired: the next block releases it)" if doc["expired"] else "")
    click.echo(f"offer {doc['id']}  {status}")
    click.echo(f"  maker       {doc['maker']}")
    click.echo(f"  gives       {units(doc['give_amount'], d.get(g, 0))} {g}")
    click.echo(f"  wants       {units(doc['want_amount'], d.get(w, 0))} {w}")
    rate = price(doc["want_amount"], doc["give_amount"], d.get(w, 0), d.get(g, 0))
    click.echo(f"  rate        1 {g} = {rate} {w}")
    click.echo(f"  filled      paid {units(doc['paid'], d.get(w, 0))} {w}, "
               f"given {units(doc['given'], d.get(g, 0))} {g}; "
               f"locked {units(doc['locked'], d.get(g, 0))} {g}")
    click.echo(f"  fills       {'in parts' if doc['partial'] else 'all or nothing'}; to "
               + (doc["counterparty"] or "anyone"))
    click.echo(f"  made        {when(doc['created_at'])}; expires {when(doc['expires_at'])}"
               + (f"; closed {when(doc['closed_at'])}" if doc["closed_at"] else ""))


@fx.command("book")
@click.argument("pair", metavar="BASE/QUOTE")
@node_option
@json_option
def book(pair, node_url, as_json) -> None:
    """The open offers of a pair, e.g. USD/SGD: those selling BASE for QUOTE (asks, the
    cheapest first) and those buying BASE with QUOTE (bids, the highest first): the best rate
    for a taker first on both sides. Prices are QUOTE per BASE."""
    m = re.fullmatch(r"([A-Za-z0-9]{1,12})/([A-Za-z0-9]{1,12})", pair)
    if m is None:
        raise click.BadParameter(f"{pair!r} is not a pair such as USD/SGD", param_hint="BASE/QUOTE")
    base, quote = m.group(1).upper(), m.group(2).upper()
    asks = fetch(node_url, f"/v1/offers?give={base}&want={quote}&limit=1000")["offers"]
    bids = fetch(node_url, f"/v1/offers?give={quote}&want={base}&limit=1000")["offers"]
    if as_json:
        emit_json({"base": base, "quote": quote, "asks": asks, "bids": bids})
        return
    d = decimals_of(node_url)
    db, dq = d.get(base, 0), d.get(quote, 0)
    console.print(f"[bold]{base}/{quote}[/]: prices in {quote} per {base}", highlight=False)
    for title, side, is_ask in (("asks (selling " + base + ")", asks, True),
                                ("bids (buying " + base + ")", bids, False)):
        click.echo(f"  {title}: {len(side) or 'none'}")
        for o in side:
            left_base = o["locked"] if is_ask else o["remaining_want"]
            p = (price(o["want_amount"], o["give_amount"], dq, db) if is_ask
                 else price(o["give_amount"], o["want_amount"], dq, db))
            whom = "to " + short(o["counterparty"], 8) if o["counterparty"] else "anyone"
            click.echo(f"    {p:>12}  {units(left_base, db):>14} {base} left  "
                       f"{'parts' if o['partial'] else 'whole'}  {whom:<14}"
                       f"  until {when(o['expires_at'])}  {o['id']}")
