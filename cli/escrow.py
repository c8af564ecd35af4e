"""lichen escrow: funds held for a recipient until a time (and optionally a secret), or given
back to the payer after another (node.ledger.rules.escrow)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import click

from node.ledger.types import MAX_PREIMAGE_BYTES, EscrowCancel, EscrowCreate, EscrowRelease

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
from .fx import decimals_of, now_ms
from .kyc import print_salt
from .render import when
from .tx import amount_option, travel_rule_from, travel_rule_options


def read_secret(path: str | None, option: str) -> bytes:
    """The secret a conditional escrow is released with: a file's bytes (not a command-line
    argument, which other users of the machine can read in the process list)."""
    if path is None:
        return b""
    secret = Path(path).read_bytes()
    if not 1 <= len(secret) <= MAX_PREIMAGE_BYTES:
        raise click.BadParameter(f"the secret is 1 to {MAX_PREIMAGE_BYTES} bytes; {path} holds "
                                 f"{len(secret)}", param_hint=option)
    return secret


@click.group()
def escrow() -> None:
    """Hold a payment for a recipient until a time or a secret; release it or take it back."""


@escrow.command("create")
@click.option("--key", required=True, help="The payer's key file (or devnet key name).")
@click.option("--to", "to", required=True, help="Recipient: address, key file or devnet key name.")
@click.option("--asset", required=True, help="Asset code, e.g. USD.")
@amount_option
@click.option("--release-in", default="0s", show_default=True, type=DURATION,
              help="From when it may be released (90s, 15m, 2h, 7d from now).")
@click.option("--cancel-in", default="1d", show_default=True, type=DURATION,
              help="From when the payer may take it back instead (after --release-in).")
@click.option("--secret-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A conditional escrow: only sha256 of this file's bytes goes on chain; "
                   "whoever shows the bytes may release it.")
@travel_rule_options
@node_option
@json_option
@wait_option
def create(key, to, asset, amount, release_in, cancel_in, secret_file, travel_rule_file,
           originator, beneficiary, node_url, as_json, no_wait, timeout) -> None:
    """Move AMOUNT of ASSET out of the payer's balance into an escrow for a recipient. It is
    checked now as a transfer would be (KYC, freezes, jurisdictions, limits, travel rule)."""
    now = now_ms()
    secret = read_secret(secret_file, "--secret-file")
    rule, salt = travel_rule_from(travel_rule_file, originator, beneficiary)
    payload = EscrowCreate(asset.upper(), resolve_address(to), amount,
                           now + release_in, now + cancel_in,
                           hashlib.sha256(secret).digest() if secret else b"", rule)
    result = submit_tx(node_url, load_key(key), payload, no_wait, as_json,
                       f"escrow {amount} {payload.asset} for {to}"
                       + (" (released with the secret)" if secret else ""))
    if not as_json:
        console.print(f"escrow id {result['hash']}", highlight=False)
    if rule:
        print_salt(salt, rule[2], as_json, "the IVMS101 record")


@escrow.command("release")
@click.argument("escrow_id")
@click.option("--key", required=True,
              help="The payer's key; or, with --secret-file, anyone's (e.g. the recipient's).")
@click.option("--secret-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The secret of a conditional escrow.")
@node_option
@json_option
@wait_option
def release(escrow_id, key, secret_file, node_url, as_json, no_wait, timeout) -> None:
    """Pay escrow ESCROW_ID to its recipient (from its release time until its cancel time).
    Both parties' KYC and freezes are checked again now."""
    eid = parse_tx_id(escrow_id, "ESCROW_ID")
    payload = EscrowRelease(eid, read_secret(secret_file, "--secret-file"))
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"release escrow {eid.hex()[:16]}…")


@escrow.command("cancel")
@click.argument("escrow_id")
@click.option("--key", required=True, help="The payer's key file (or devnet key name).")
@node_option
@json_option
@wait_option
def cancel(escrow_id, key, node_url, as_json, no_wait, timeout) -> None:
    """Take escrow ESCROW_ID back (the payer, from its cancel time)."""
    eid = parse_tx_id(escrow_id, "ESCROW_ID")
    submit_tx(node_url, load_key(key), EscrowCancel(eid), no_wait, as_json,
              f"cancel escrow {eid.hex()[:16]}…")


def describe(doc: dict, decimals: dict[str, int]) -> str:
    can = ("releasable now" if doc["releasable"] else "cancellable now" if doc["cancellable"]
           else "")
    return (f"{units(doc['amount'], decimals.get(doc['asset'], 0))} {doc['asset']}  "
            f"{doc['status']}" + (f" ({can})" if can else ""))


@escrow.command("show")
@click.argument("escrow_id")
@node_option
@json_option
def show(escrow_id, node_url, as_json) -> None:
    """Escrow ESCROW_ID: its parties, amount, window, condition and status."""
    doc = fetch(node_url, f"/v1/escrows/{parse_tx_id(escrow_id, 'ESCROW_ID').hex()}")
    if as_json:
        emit_json(doc)
        return
    click.echo(f"escrow {doc['id']}  {describe(doc, decimals_of(node_url))}")
    click.echo(f"  payer       {doc['payer']}")
    click.echo(f"  to          {doc['to']}")
    click.echo(f"  releases    from {when(doc['release_after'])}"
               + (f" with the secret of sha256 {doc['condition']}" if doc["condition"] else ""))
    click.echo(f"  cancels     from {when(doc['cancel_after'])}")
    click.echo(f"  made        {when(doc['created_at'])}"
               + (f"; closed {when(doc['closed_at'])}" if doc["closed_at"] else ""))


@escrow.command("list")
@click.option("--account", default=None,
              help="Only escrows this account pays or receives (address, key file or key name).")
@click.option("--all", "every", is_flag=True, help="Closed escrows too.")
@node_option
@json_option
def list_escrows(account, every, node_url, as_json) -> None:
    """Escrows, soonest release first: open ones unless --all."""
    query = ["limit=1000"] + (["status=all"] if every else [])
    if account:
        query.append(f"account={resolve_address(account).hex()}")
    doc = fetch(node_url, "/v1/escrows?" + "&".join(query))
    if as_json:
        emit_json(doc)
        return
    d = decimals_of(node_url)
    if not doc["escrows"]:
        click.echo("no escrows")
    for e in doc["escrows"]:
        click.echo(f"{e['id']}  {describe(e, d)}  {e['payer'][:8]}… -> {e['to'][:8]}…  "
                   f"from {when(e['release_after'])} until {when(e['cancel_after'])}")
