"""lichen audit: ledger extracts for auditors and regulators."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import click

from devnet.client import ApiError, Client
from node.ledger.types import TxKind

from .common import (
    client_for,
    console,
    emit_json,
    fail,
    json_option,
    node_option,
    resolve_address,
)

COLUMNS = ("height", "block_hash", "timestamp", "index", "tx_hash", "kind", "sender", "nonce",
           "asset", "to", "amount", "subject", "details", "status", "code", "message", "target")
# Payload fields with a column of their own; the rest of a payload goes to `details`.
PAYLOAD_COLUMNS = ("asset", "to", "amount", "subject")
# `target`: the account a freeze, unfreeze or clawback acts on (also still in `details`).
TARGET_FIELD = "account"


@click.group()
def audit() -> None:
    """Extracts of committed transactions for auditors."""


@audit.command("export")
@click.option("--from", "first", type=click.IntRange(min=1), default=1, show_default=True,
              help="First block height.")
@click.option("--to", "last", type=click.IntRange(min=1),
              help="Last block height [default: latest].")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="CSV file to write, one row per transaction.")
@click.option("--account", default=None,
              help="Only rows this account is party to: sender, to, subject or target "
                   "(address, key file or devnet key name).")
@click.option("--asset", "asset_code", default=None, help="Only rows of this asset.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice([k.value for k in TxKind]),
              help="Only rows of this kind (repeat for several).")
@node_option
@json_option
def export(first, last, out, account, asset_code, kinds, node_url, as_json) -> None:
    """Export the transactions of blocks --from..--to, with their receipts, as CSV.

    Amounts are integers in minor units; `details` holds the payload fields without a column
    of their own as compact JSON (memo, tier, jurisdiction, ...); `target` is the account a
    freeze, unfreeze or clawback acts on."""
    keep = row_filter(resolve_address(account).hex() if account else None,
                      asset_code.upper() if asset_code else None, frozenset(kinds))
    client = client_for(node_url)
    try:
        last = checked_range(first, last, client.status()["height"])
        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            rows = 0
            for row in filter(keep, rows_of(client, first, last)):
                writer.writerow(row)
                rows += 1
    except ApiError as err:
        fail(err.code, err.message)
    summary = {"out": out, "from": first, "to": last, "blocks": last - first + 1, "rows": rows}
    if as_json:
        emit_json(summary)
    else:
        console.print(f"[green]✔[/] {rows} transactions from blocks {first}..{last} "
                      f"written to {out}", highlight=False)


def checked_range(first: int, last: int | None, height: int) -> int:
    """The last height to export: --to, or the chain's tip. Only committed blocks exist."""
    last = height if last is None else last
    if last > height:
        fail("OUT_OF_RANGE", f"--to {last} is past the chain's height {height}")
    if first > last:
        fail("OUT_OF_RANGE", f"--from {first} is after --to {last}")
    return last


def row_filter(account: str | None, asset: str | None, kinds: frozenset[str]):
    """A row predicate: every filter given must hold."""
    def keep(row: dict) -> bool:
        return ((account is None or account in (row["sender"], row["to"], row["subject"],
                                                 row["target"]))
                and (asset is None or row["asset"] == asset)
                and (not kinds or row["kind"] in kinds))
    return keep


def rows_of(client: Client, first: int, last: int) -> Iterator[dict]:
    for height in range(first, last + 1):
        block = client.block(height)
        for index, tx in enumerate(block["txs"]):
            yield tx_row(block, index, tx)


def tx_row(block: dict, index: int, tx: dict) -> dict:
    payload = tx["payload"]
    details = {k: v for k, v in payload.items() if k not in PAYLOAD_COLUMNS}
    return {
        "height": block["height"], "block_hash": block["hash"], "timestamp": block["timestamp"],
        "index": index, "tx_hash": tx["hash"], "kind": tx["kind"], "sender": tx["sender"],
        "nonce": tx["nonce"],
        **{k: payload.get(k, "") for k in PAYLOAD_COLUMNS},
        "details": json.dumps(details, separators=(",", ":")) if details else "",
        "status": tx["status"], "code": tx.get("code", ""), "message": tx.get("message", ""),
        "target": payload.get(TARGET_FIELD, ""),
    }
