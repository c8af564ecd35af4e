"""lichen keys: create and show ed25519 key files; rotate an institution's key on chain."""
from __future__ import annotations

from pathlib import Path

import click

from node.ledger.crypto import KeyPair
from node.ledger.types import KEY_KINDS, KeyRotate

from .common import (
    ask_passphrase,
    emit_json,
    json_option,
    key_address,
    load_key,
    node_option,
    resolve_address,
    submit_tx,
    wait_option,
)


@click.group()
def keys() -> None:
    """Create and inspect key files (an address is the public key, in hex)."""


@keys.command("new")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the key file.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--encrypt", is_flag=True,
              help="Seal the key with a passphrase (asked twice, or read from the file "
                   "LICHEN_PASSPHRASE_FILE names).")
@json_option
def keys_new(out: str, force: bool, encrypt: bool, as_json: bool) -> None:
    """Generate a new key and print its address."""
    if Path(out).exists() and not force:
        raise click.ClickException(f"{out} exists; pass --force to overwrite it")
    passphrase = ask_passphrase(Path(out), confirm=True) if encrypt else None
    if passphrase == b"":
        raise click.ClickException("an empty passphrase seals nothing; give one, or drop --encrypt")
    kp = KeyPair.generate()
    kp.save(out, passphrase=passphrase)
    if as_json:
        emit_json({"address": kp.address_hex, "file": out} | ({"encrypted": True} if encrypt else {}))
    else:
        click.echo(kp.address_hex)


@keys.command("show")
@click.argument("file")
@json_option
def keys_show(file: str, as_json: bool) -> None:
    """Print the address of a key file (or of a devnet key name such as `alice`); a sealed
    file's address is readable without its passphrase."""
    address = key_address(file)
    if as_json:
        emit_json({"address": address.hex()})
    else:
        click.echo(address.hex())


@keys.command("rotate")
@click.option("--institution", required=True, help="Institution name, as in genesis.")
@click.option("--which", required=True, type=click.Choice(KEY_KINDS),
              help="node: its node's key (peers, blocks, votes); authority: its transactions'.")
@click.option("--new-key", "new_key", required=True, metavar="FILE_OR_ADDR",
              help="The new public key: a key file, a devnet key name or a hex address.")
@click.option("--signer", default="regulator", show_default=True, help="The regulator's key.")
@node_option
@json_option
@wait_option
def keys_rotate(institution, which, new_key, signer, node_url, as_json, no_wait, timeout) -> None:
    """Replace an institution's node or authority key (regulator only): from the block that
    commits it the old key counts for nothing. A node key takes effect once the operator
    restarts the node with the new key file."""
    submit_tx(node_url, load_key(signer), KeyRotate(institution, which, resolve_address(new_key)),
              no_wait, as_json, f"rotate the {which} key of {institution}")
