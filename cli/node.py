"""lichen node: run a daemon in the foreground (what an operator runs)."""
from __future__ import annotations

import asyncio
import logging

import click

from node.ledger.genesis import GenesisError
from node.server.config import NodeConfig
from node.store.db import StoreError


@click.group()
def node() -> None:
    """Run a node daemon."""


@node.command("run")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))
def run(config_path: str) -> None:
    """Run the node described by a config file until SIGINT or SIGTERM."""
    from node.server.daemon import run_node
    try:
        config = NodeConfig.load(config_path)
    except (ValueError, TypeError, OSError) as exc:
        raise click.ClickException(f"bad config: {exc}") from None
    logging.basicConfig(level=config.log_level.upper(),
                        format=f"%(asctime)s {config.name} %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_node(config))
    except (GenesisError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        peers = f" (peers {config.peer_listen})" if config.peer_listen else ""
        raise click.ClickException(
            f"cannot serve on {config.listen}{peers}: {exc.strerror or exc}") from None


def _load_config(config_path: str) -> NodeConfig:
    try:
        return NodeConfig.load(config_path)
    except (ValueError, TypeError, OSError) as exc:
        raise click.ClickException(f"bad config: {exc}") from None


@node.command("verify")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def verify(config_path: str, as_json: bool) -> None:
    """Check a stopped node's store: hash links, Merkle roots, signatures, receipts, and the
    state by re-execution from genesis. Exits non-zero on the first problem."""
    from node.store.recovery import verify_store

    from .common import console, emit_json
    try:
        config = _load_config(config_path)
        report = verify_store(config.data_dir, config.genesis)
    except (GenesisError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    c = report.chain
    doc = {"ok": report.ok, "height": c.height, "blocks_checked": c.blocks_checked,
           "txs_executed": c.txs_executed, "receipts_checked": report.receipts_checked,
           "state_hash": c.state_hash.hex(), "state_records_match": report.state_records_match,
           "problem": report.problem or None}
    if as_json:
        emit_json(doc)
    else:
        console.print(f"blocks checked {c.blocks_checked}, txs re-executed {c.txs_executed}, "
                      f"receipts checked {report.receipts_checked}")
        console.print(f"state hash at height {c.height}: {c.state_hash.hex()}")
        console.print("[green]✔ the store is sound[/]" if report.ok
                      else f"[red]✘ {report.problem}[/]")
    if not report.ok:
        raise SystemExit(1)


@node.command("resync")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Really delete the node's database.")
def resync(config_path: str, yes: bool) -> None:
    """Wipe a stopped node's database so that, started again, it fetches the chain from its
    peers (for a store that is lost or fails `lichen node verify`)."""
    from devnet.client import ApiError, Client
    from node.ledger.crypto import KeyPair
    from node.ledger.genesis import Genesis
    from node.store.recovery import open_stopped_store, wipe_for_resync

    from .common import console
    config = _load_config(config_path)
    if not yes:
        raise click.ClickException(f"this deletes {config.data_dir}/db; pass --yes to go on")
    genesis = Genesis.load(config.genesis)
    me = KeyPair.load(config.key_file)
    try:
        open_stopped_store(config.data_dir, genesis).close()
    except StoreError as exc:
        if "stop the node first" in str(exc):
            raise click.ClickException(str(exc)) from None
    peers = []
    for inst in genesis.institutions:
        if inst.address and inst.key != me.address:
            try:
                peers.append(Client(inst.address, timeout=2).status())
            except ApiError:
                pass
    if not peers:
        raise click.ClickException("no peer answered: a resync needs a running network to "
                                   "fetch from")
    terms = [p["term"] for p in peers]
    db = wipe_for_resync(config.data_dir, genesis, me.address_hex, max(terms),
                         max(p["commit_index"] for p in peers))
    console.print(f"wiped {db}; it will not vote again in term {max(terms)} or earlier.\n"
                  f"Start the node again (`lichen node run --config {config_path}`, or "
                  f"`lichen devnet start NAME`): it fetches the chain from its peers.")
