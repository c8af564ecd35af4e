"""lichen tx: payments, issuance and redemption, and looking transactions up."""
from __future__ import annotations

import click

from node.types import Issue, Redeem, Transfer

from .client import ApiError
from .common import (client_for, emit_json, fail, json_option, load_key, node_option,
                     resolve_address, submit_tx, wait_option)
from .render import print_tx


def amount_option(f):
    return click.option("--amount", required=True, type=click.IntRange(min=1),
                        help="Amount in minor units (an integer: 1050 USD = 10.50 dollars).")(f)


@click.group()
def tx() -> None:
    """Submit transfers, issue and redeem assets, show transactions."""


@tx.command("transfer")
@click.option("--key", required=True, help="Sender's key file (or devnet key name).")
@click.option("--to", "to", required=True, help="Recipient: address, key file or devnet key name.")
@click.option("--asset", required=True, help="Asset code, e.g. USD.")
@amount_option
@click.option("--memo", default="", help="A short note (at most 256 bytes).")
@node_option
@json_option
@wait_option
def transfer(key, to, asset, amount, memo, node_url, as_json, no_wait, timeout) -> None:
    """Pay AMOUNT of ASSET to an account. Both parties need valid KYC."""
    kp = load_key(key)
    payload = Transfer(asset.upper(), resolve_address(to), amount, memo)
    submit_tx(node_url, kp, payload, no_wait, as_json, f"transfer {amount} {asset.upper()} to {to}")


@tx.command("issue")
@click.option("--key", required=True, help="The asset issuer's institution key.")
@click.option("--asset", required=True)
@click.option("--to", "to", required=True, help="Recipient: address, key file or devnet key name.")
@amount_option
@node_option
@json_option
@wait_option
def issue(key, asset, to, amount, node_url, as_json, no_wait, timeout) -> None:
    """Issue new units of an asset (its licensed issuer only)."""
    payload = Issue(asset.upper(), resolve_address(to), amount)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json, f"issue {amount} {asset.upper()} to {to}")


@tx.command("redeem")
@click.option("--key", required=True, help="The asset issuer's institution key.")
@click.option("--asset", required=True)
@amount_option
@node_option
@json_option
@wait_option
def redeem(key, asset, amount, node_url, as_json, no_wait, timeout) -> None:
    """Burn units of an asset from the issuer's own account (holders pay them back first)."""
    submit_tx(node_url, load_key(key), Redeem(asset.upper(), amount), no_wait, as_json,
              f"redeem {amount} {asset.upper()}")


@tx.command("show")
@click.argument("tx_hash")
@node_option
@json_option
def show(tx_hash, node_url, as_json) -> None:
    """Show a transaction's status, block and receipt."""
    try:
        doc = client_for(node_url).tx(tx_hash)
    except ApiError as err:
        fail(err.code, err.message)
    if as_json:
        emit_json(doc)
    else:
        print_tx(doc)
