"""lichen node: run a daemon in the foreground (what an operator runs)."""
from __future__ import annotations

import asyncio
import logging

import click

from node.config import NodeConfig
from node.genesis import GenesisError
from node.store import StoreError


@click.group()
def node() -> None:
    """Run a node daemon."""


@node.command("run")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False))
def run(config_path: str) -> None:
    """Run the node described by a config file until SIGINT or SIGTERM."""
    from node.daemon import run_node
    try:
        config = NodeConfig.load(config_path)
    except (ValueError, TypeError, OSError) as exc:
        raise click.ClickException(f"bad config: {exc}")
    logging.basicConfig(level=config.log_level.upper(),
                        format=f"%(asctime)s {config.name} %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_node(config))
    except (GenesisError, StoreError) as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {config.listen}: {exc.strerror or exc}")
