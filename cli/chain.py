"""lichen chain: check a node's whole chain from genesis, trusting nothing it says."""
from __future__ import annotations

from typing import Callable, Iterator

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from node.ledger.genesis import Genesis, GenesisError
from node.ledger.verify import ChainReport, verify_chain

from .client import ApiError, Client
from .common import client_for, console, emit_json, err_console, fail, json_option, node_option


@click.group()
def chain() -> None:
    """Verify the chain a node serves."""


@chain.command("verify")
@node_option
@json_option
def verify(node_url, as_json) -> None:
    """Replay the chain from genesis: hash links, signatures, Merkle roots, re-execution.

    Every block's recomputed state hash must equal the one the node reports for it, and the last
    one the node's current state hash. Exits non-zero with BAD_CHAIN at the first bad block."""
    client = client_for(node_url)
    try:
        status = client.status()
        genesis = genesis_of(client, status["chain_id"])
        with progress_bar(as_json) as bar:
            task = bar.add_task("replaying", total=status["height"])
            blocks = fetch_blocks(client, status["height"], lambda: bar.advance(task))
            report = verify_chain(genesis, blocks)
    except ApiError as err:
        fail(err.code, err.message)
    problem = report.reason or tip_mismatch(report, status)
    if as_json:
        emit_json(report_json(report, status, genesis, problem))
    else:
        print_report(report, status, genesis, problem)
    if problem:
        fail("BAD_CHAIN", problem)


def genesis_of(client: Client, chain_id_hex: str) -> Genesis:
    """The node's genesis, which must hash to the chain id the node says it runs."""
    try:
        return node_genesis(client, chain_id_hex)
    except BadGenesis as exc:
        fail(exc.code, str(exc))


class BadGenesis(Exception):
    """The genesis a node serves does not parse, or does not hash to its chain id."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def node_genesis(client: Client, chain_id_hex: str) -> Genesis:
    """genesis_of without exiting: raises BadGenesis (for callers that check many nodes)."""
    try:
        genesis = Genesis.from_json(client.genesis())
    except GenesisError as exc:
        raise BadGenesis("BAD_GENESIS", str(exc)) from None
    if genesis.chain_id.hex() != chain_id_hex:
        raise BadGenesis("WRONG_CHAIN", f"the node's genesis hashes to {genesis.chain_id.hex()}, "
                                        f"but it reports chain id {chain_id_hex}")
    return genesis


def fetch_blocks(client: Client, height: int, on_checked: Callable[[], object],
                 on_block: Callable[[int, bytes, dict], object] | None = None,
                 ) -> Iterator[tuple[bytes, bytes]]:
    """(raw block, reported state hash) for heights 1..height, fetched as the replay asks.
    `on_block(height, raw, block JSON)` sees each block as it is fetched."""
    for h in range(1, height + 1):
        raw = client.block_raw(h)
        doc = client.block(h)
        if on_block is not None:
            on_block(h, raw, doc)
        yield raw, bytes.fromhex(doc["state_hash"])
        on_checked()  # the replay asks for the next block only once this one passed


def verify_node(client: Client, on_block: Callable[[int, bytes, dict], object] | None = None,
                ) -> tuple[dict, ChainReport, str]:
    """What `lichen chain verify` checks, without printing or exiting: (the node's status, the
    replay's report, the problem or ""). Raises ApiError or BadGenesis."""
    status = client.status()
    genesis = node_genesis(client, status["chain_id"])
    report = verify_chain(genesis, fetch_blocks(client, status["height"], lambda: None, on_block))
    return status, report, report.reason or tip_mismatch(report, status)


def tip_mismatch(report: ChainReport, status: dict) -> str:
    """A replayed chain must end where the node's status says it is."""
    if report.height != status["height"]:
        return f"the node reports height {status['height']} but serves blocks up to {report.height}"
    if report.block_hash.hex() != status["block_hash"]:
        return f"the node's tip block hash {status['block_hash']} is not the replayed {report.block_hash.hex()}"
    if report.state_hash.hex() != status["state_hash"]:
        return (f"the node's state hash {status['state_hash']} is not the replayed "
                f"{report.state_hash.hex()}")
    return ""


def progress_bar(quiet: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("blocks"), TimeRemainingColumn(), console=err_console,
                    transient=True, disable=quiet)


def report_json(report: ChainReport, status: dict, genesis: Genesis, problem: str) -> dict:
    return {
        "ok": not problem, "chain_name": genesis.chain_name, "chain_id": genesis.chain_id.hex(),
        "blocks_checked": report.blocks_checked, "txs_executed": report.txs_executed,
        "txs_failed": report.txs_failed, "height": report.height,
        "block_hash": report.block_hash.hex(), "state_hash": report.state_hash.hex(),
        "node_height": status["height"], "node_state_hash": status["state_hash"],
        "state_hash_matches": report.ok and report.state_hash.hex() == status["state_hash"],
        "first_bad": ({"height": report.bad_height, "reason": report.reason}
                      if report.bad_height is not None else None),
        "problem": problem or None,
    }


def print_report(report: ChainReport, status: dict, genesis: Genesis, problem: str) -> None:
    t = Table(title=f"chain {genesis.chain_name} ({genesis.chain_id.hex()[:16]}…)",
              show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("blocks checked", f"{report.blocks_checked} of {status['height']}")
    t.add_row("txs re-executed", f"{report.txs_executed} ({report.txs_failed} with a failed receipt)")
    matches = report.ok and report.state_hash.hex() == status["state_hash"]
    t.add_row("final state hash", f"{report.state_hash.hex()} "
              + ("[green](matches the node's)[/]" if matches else "[red](not the node's)[/]"))
    t.add_row("first bad block", "none" if report.bad_height is None
              else f"[red]{report.bad_height}[/]: {report.reason}")
    console.print(t)
    if not problem:
        console.print(f"[green]✔[/] chain verified from genesis to height {report.height}")
