"""lichen keys: create and show ed25519 key files."""
from __future__ import annotations

from pathlib import Path

import click

from node.ledger.crypto import KeyPair

from .common import ask_passphrase, emit_json, json_option, key_address


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
