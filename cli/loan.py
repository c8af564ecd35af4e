"""lichen loan: microfinance loans collected on schedule (node.ledger.rules.loans).

A licensed lender offers, the borrower accepts (the debit mandate: the principal is disbursed),
the ledger collects each instalment in the first block past its due time; the borrower may
repay early or pay arrears, the lender may write a loan off. `lichen loan history ACCOUNT` is
the borrower's on-chain credit record, which any lender reads before lending.
"""
from __future__ import annotations

import time

import click

from node.ledger.rules.loans import equal_instalments, loan_total
from node.ledger.types import MAX_INSTALMENTS, LoanAccept, LoanOffer, LoanRepay, LoanWriteoff

from .common import (
    DURATION,
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
from .render import short, when


@click.group()
def loan() -> None:
    """Offer, accept, repay, write off and show microfinance loans; a borrower's history."""


def loan_id_argument(f):
    return click.argument("loan_id")(f)


def parse_loan_id(text: str) -> bytes:
    return parse_tx_id(text, "a loan id")


@loan.command("offer")
@click.option("--key", required=True, help="The lender institution's key.")
@click.option("--to", "to", required=True,
              help="The borrower: address, key file or devnet key name.")
@click.option("--asset", required=True, help="Asset code, e.g. USD.")
@click.option("--principal", required=True, type=click.IntRange(min=1),
              help="Minor units disbursed at acceptance.")
@click.option("--interest-bps", default=0, show_default=True, type=click.IntRange(0, 100_000),
              help="Interest in basis points of the principal (rounded down).")
@click.option("--instalments", default=1, show_default=True,
              type=click.IntRange(1, MAX_INSTALMENTS), help="Equal instalments.")
@click.option("--period", default="30d", show_default=True, type=DURATION,
              help="Time between instalments (30s, 5m, 2h, 7d).")
@click.option("--first-due", default=None, type=DURATION,
              help="The first instalment falls due this long from now (default: one period).")
@click.option("--grace", default="1d", show_default=True, type=DURATION,
              help="An instalment unpaid this long after its due time is missed.")
@click.option("--default-after", default=None, type=click.IntRange(1, MAX_INSTALMENTS),
              help="Missed instalments that default the loan (default: all of them).")
@click.option("--expires", default="1d", show_default=True, type=DURATION,
              help="The borrower may accept for this long.")
@node_option
@json_option
@wait_option
def offer(key, to, asset, principal, interest_bps, instalments, period, first_due, grace,
          default_after, expires, node_url, as_json, no_wait, timeout) -> None:
    """Offer a loan of PRINCIPAL to a borrower, repaid in equal instalments collected on
    schedule. Prints the loan id (the offer's tx hash) for `loan accept`."""
    total = loan_total(principal, interest_bps)
    if instalments > total:
        raise click.BadParameter(f"{total} cannot be split into {instalments} instalments",
                                 param_hint="--instalments")
    now = int(time.time() * 1000)
    schedule = equal_instalments(principal, interest_bps, instalments,
                                 now + (period if first_due is None else first_due), period)
    payload = LoanOffer(resolve_address(to), asset.upper(), principal, interest_bps, schedule,
                        grace, default_after or instalments, now + expires)
    result = submit_tx(node_url, load_key(key), payload, no_wait, as_json,
                       f"loan offer of {principal} {asset.upper()} to {to} ({instalments} x "
                       f"~{total // instalments}, {total} in all)")
    if not as_json:
        click.echo(f"loan id {result['hash']}  (the borrower: lichen loan accept "
                   f"{result['hash']} --key ...)")


@loan.command("accept")
@loan_id_argument
@click.option("--key", required=True, help="The borrower's key.")
@node_option
@json_option
@wait_option
def accept(loan_id, key, node_url, as_json, no_wait, timeout) -> None:
    """Accept a loan offered to you: the mandate to collect its instalments on schedule; the
    principal is paid to you now."""
    submit_tx(node_url, load_key(key), LoanAccept(parse_loan_id(loan_id)), no_wait, as_json,
              f"accept loan {short(loan_id)}")


@loan.command("repay")
@loan_id_argument
@click.option("--key", required=True, help="The borrower's key.")
@click.option("--amount", required=True, type=click.IntRange(min=1),
              help="Minor units: arrears first, then the next instalments.")
@node_option
@json_option
@wait_option
def repay(loan_id, key, amount, node_url, as_json, no_wait, timeout) -> None:
    """Pay towards a loan now (early, or its arrears)."""
    submit_tx(node_url, load_key(key), LoanRepay(parse_loan_id(loan_id), amount), no_wait,
              as_json, f"repay {amount} on loan {short(loan_id)}")


@loan.command("writeoff")
@loan_id_argument
@click.option("--key", required=True, help="The lender institution's key.")
@node_option
@json_option
@wait_option
def writeoff(loan_id, key, node_url, as_json, no_wait, timeout) -> None:
    """Write a loan off (its lender): collection stops, the rest is no longer owed."""
    submit_tx(node_url, load_key(key), LoanWriteoff(parse_loan_id(loan_id)), no_wait, as_json,
              f"write off loan {short(loan_id)}")


def print_loan(doc: dict) -> None:
    lender = doc["lender_institution"] or short(doc["lender"])
    click.echo(f"loan {doc['id']}  [{doc['status']}"
               + (", offer lapsed" if doc["offer_expired"] else "") + "]")
    click.echo(f"  {lender} lends {short(doc['borrower'])} {doc['principal']} {doc['asset']} at "
               f"{doc['interest_bps']} bps: {doc['total']} to repay")
    owed = ("written off" if doc["status"] == "written_off" else "outstanding")
    click.echo(f"  repaid {doc['repaid']}, {owed} {doc['outstanding']}, arrears "
               f"{doc['arrears'] if doc['status'] != 'written_off' else 0}, missed "
               f"{doc['misses']} (defaults after {doc['default_after']}; grace "
               f"{doc['grace_ms'] // 1000} s)")
    for k, i in enumerate(doc["schedule"], 1):
        part = (f" ({i['paid']} paid)" if 0 < i.get("paid", 0) < i["amount"] else "")
        click.echo(f"  {k:>3}. {when(i['due_at'])}  {i['amount']:>12}  {i['state']}{part}")
    if doc["next_collection_at"]:
        click.echo(f"  next collection at {when(doc['next_collection_at'])}")
    if doc["status"] == "offered":
        click.echo(f"  acceptable until {when(doc['expires_at'])}")


@loan.command("show")
@loan_id_argument
@node_option
@json_option
def show(loan_id, node_url, as_json) -> None:
    """A loan: its terms, each instalment (paid, missed, due, upcoming) and its status."""
    doc = fetch(node_url, f"/v1/loans/{parse_loan_id(loan_id).hex()}")
    if as_json:
        emit_json(doc)
    else:
        print_loan(doc)


@loan.command("list")
@click.option("--borrower", default=None, help="Address, key file or devnet key name.")
@click.option("--lender", default=None, help="The lender's address, key file or key name.")
@click.option("--status", default=None,
              type=click.Choice(["offered", "current", "late", "defaulted", "paid_off",
                                 "written_off"]))
@node_option
@json_option
def list_loans(borrower, lender, status, node_url, as_json) -> None:
    """Loans, by id: all of them, or a borrower's, a lender's, in a status."""
    query = [f"{k}={v}" for k, v in (
        ("borrower", resolve_address(borrower).hex() if borrower else None),
        ("lender", resolve_address(lender).hex() if lender else None),
        ("status", status)) if v]
    doc = fetch(node_url, "/v1/loans" + ("?" + "&".join(query) if query else ""))
    if as_json:
        emit_json(doc)
        return
    if not doc["loans"]:
        click.echo("no loans")
    for ln in doc["loans"]:
        lender_name = ln["lender_institution"] or short(ln["lender"])
        click.echo(f"{ln['id'][:16]}  {ln['status']:<11} {lender_name:<10} -> "
                   f"{short(ln['borrower'])}  {ln['asset']} {ln['repaid']}/{ln['total']}"
                   + unpaid(ln))


def unpaid(ln: dict) -> str:
    """What a listed loan still owes, or gave up."""
    if ln["status"] == "written_off":
        return f"  written off {ln['outstanding']}"
    if ln["status"] in ("current", "late", "defaulted") and ln["arrears"]:
        return f"  arrears {ln['arrears']}"
    return ""


@loan.command("history")
@click.argument("account")
@node_option
@json_option
def history(account, node_url, as_json) -> None:
    """A borrower's credit record across every lender: instalments on time and missed, loans
    paid off, defaulted and written off."""
    doc = fetch(node_url, f"/v1/credit/{resolve_address(account).hex()}")
    if as_json:
        emit_json(doc)
        return
    click.echo(f"credit record of {doc['account']}")
    click.echo(f"  loans {doc['loans']}: paid off {doc['paid_off']}, defaulted "
               f"{doc['defaulted']}, written off {doc['written_off']}, open {len(doc['open'])}")
    click.echo(f"  instalments on time {doc['on_time']}, missed {doc['late']}")
    for h in doc["history"]:
        click.echo(f"  {h['id'][:16]}  {h['status']:<11} {h['lender_institution'] or '-':<10}"
                   f" {h['principal']} {h['asset']}  missed {h['misses']}")
