"""lichen asset: controls for an asset's issuer and the regulator."""
from __future__ import annotations

import click

from node.ledger.types import AssetFreeze, AssetUnfreeze, Clawback

from .common import json_option, load_key, node_option, resolve_address, submit_tx, wait_option


@click.group()
def asset() -> None:
    """Freeze an asset, or claw units of it back (its issuer; freezing also the regulator)."""


def _asset_freeze_command(name: str, payload_type):
    @asset.command(name)
    @click.argument("code")
    @click.option("--key", required=True, help="The regulator's or the asset issuer's key.")
    @node_option
    @json_option
    @wait_option
    def command(code, key, node_url, as_json, no_wait, timeout) -> None:
        submit_tx(node_url, load_key(key), payload_type(code.upper()), no_wait, as_json,
                  f"{name.replace('_', ' ')} {code.upper()}")
    command.__doc__ = f"{name.capitalize()} every movement of asset CODE."
    return command


freeze = _asset_freeze_command("freeze", AssetFreeze)
unfreeze = _asset_freeze_command("unfreeze", AssetUnfreeze)


@asset.command("clawback")
@click.argument("code")
@click.option("--from", "from_", required=True,
              help="Account: address, key file or devnet key name.")
@click.option("--amount", required=True, type=click.IntRange(min=1), help="Minor units.")
@click.option("--reason", required=True, help="Why (kept on chain; no personal data).")
@click.option("--key", required=True, help="The asset issuer's key.")
@node_option
@json_option
@wait_option
def clawback(code, from_, amount, reason, key, node_url, as_json, no_wait, timeout) -> None:
    """Take AMOUNT of CODE back from an account into the issuer's (clawback-able assets only)."""
    payload = Clawback(code.upper(), resolve_address(from_), amount, reason)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"claw back {amount} {code.upper()} from {from_}")
