"""lichen block: read blocks."""
from __future__ import annotations

import click

from devnet.client import ApiError

from .common import client_for, emit_json, fail, json_option, node_option
from .render import print_block


@click.group()
def block() -> None:
    """Read blocks."""


@block.command("show")
@click.argument("height")
@node_option
@json_option
def show(height, node_url, as_json) -> None:
    """Show the block at HEIGHT (a number, or `latest`)."""
    try:
        doc = client_for(node_url).block(height)
    except ApiError as err:
        fail(err.code, err.message)
    if as_json:
        emit_json(doc)
    else:
        print_block(doc)
