"""lichen chain: check a node's whole chain from genesis, trusting nothing it says."""
from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from devnet.client import ApiError, Client
from devnet.replay import BadGenesis, fetch_blocks, node_genesis, tip_mismatch
from node.ledger.execution import BlockResult
from node.ledger.genesis import Genesis
from node.ledger.sigpool import audit_pool
from node.ledger.verify import ChainReport, certificate_wire_problem, verify_chain
from node.server.service import BlockRecord

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
    one the node's current state hash. A block's commit certificate, where the node has one, must
    be signed by a majority of the validators the replayed licences name at that height.
    Exits non-zero with BAD_CHAIN at the first bad block."""
    client = client_for(node_url)
    certs: dict[int, list | None] = {}  # height -> certificate wire, fetched, not yet replayed

    def keep_certificate(record: BlockRecord) -> None:
        certs[record.height] = record.certificate

    def check_certificate(result: BlockResult) -> str | None:
        cert = certs.pop(result.block.header.height, None)
        certified.append(cert is not None)
        return certificate_wire_problem(result, cert, genesis.chain_id)

    certified: list[bool] = []
    try:
        status = client.status()
        genesis = genesis_of(client, status["chain_id"])
        with progress_bar(as_json) as bar:
            task = bar.add_task("replaying", total=status["height"])
            blocks = fetch_blocks(client, status["height"], lambda: bar.advance(task),
                                  keep_certificate)
            with audit_pool() as pool:
                report = verify_chain(genesis, blocks, on_block=check_certificate, pool=pool)
    except ApiError as err:
        fail(err.code, err.message)
    problem = report.reason or tip_mismatch(report, status)
    if as_json:
        emit_json({**report_json(report, status, genesis, problem),
                   "certified_blocks": sum(certified)})
    else:
        print_report(report, status, genesis, problem)
        console.print(f"  {sum(certified)} of {len(certified)} blocks carry a commit certificate "
                      "signed by a majority of that height's validators", highlight=False)
    if problem:
        fail("BAD_CHAIN", problem)


def genesis_of(client: Client, chain_id_hex: str) -> Genesis:
    """The node's genesis, which must hash to the chain id the node says it runs."""
    try:
        return node_genesis(client, chain_id_hex)
    except BadGenesis as exc:
        fail(exc.code, str(exc))


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
    t.add_row("txs re-executed",
              f"{report.txs_executed} ({report.txs_failed} with a failed receipt)")
    matches = report.ok and report.state_hash.hex() == status["state_hash"]
    t.add_row("final state hash", f"{report.state_hash.hex()} "
              + ("[green](matches the node's)[/]" if matches else "[red](not the node's)[/]"))
    t.add_row("first bad block", "none" if report.bad_height is None
              else f"[red]{report.bad_height}[/]: {report.reason}")
    console.print(t)
    if not problem:
        console.print(f"[green]✔[/] chain verified from genesis to height {report.height}")
