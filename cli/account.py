"""lichen account: balances and KYC standing; the regulator's freeze and unfreeze."""
from __future__ import annotations

import click

from devnet.client import ApiError
from node.ledger.types import Freeze, Unfreeze

from .common import (
    client_for,
    emit_json,
    fail,
    json_option,
    load_key,
    node_option,
    resolve_address,
    submit_tx,
    wait_option,
)
from .render import print_account


@click.group()
def account() -> None:
    """Show accounts; freeze and unfreeze them (regulator only)."""


@account.command("show")
@click.argument("address")
@node_option
@json_option
def show(address, node_url, as_json) -> None:
    """Balances, nonce, attestation and KYC standing of ADDRESS (hex, key file or devnet name)."""
    try:
        doc = client_for(node_url).account(resolve_address(address).hex())
    except ApiError as err:
        fail(err.code, err.message)
    if as_json:
        emit_json(doc)
    else:
        print_account(doc)


def _freeze_command(name: str, payload_type):
    @account.command(name)
    @click.argument("address")
    @click.option("--key", required=True, help="The regulator's key.")
    @node_option
    @json_option
    @wait_option
    def command(address, key, node_url, as_json, no_wait, timeout) -> None:
        submit_tx(node_url, load_key(key), payload_type(resolve_address(address)), no_wait, as_json,
                  f"{name} {address}")
    command.__doc__ = f"{name.capitalize()} an account (regulator only)."
    return command


freeze = _freeze_command("freeze", Freeze)
unfreeze = _freeze_command("unfreeze", Unfreeze)
