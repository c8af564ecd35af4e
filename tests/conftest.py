"""Fixtures shared by the API and process-level tests: in-process nodes, each stopped at
teardown however the test ends. Ports and pollers live in tests/helpers.py."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from devnet import key_names, make_genesis
from node.ledger.crypto import KeyPair
from node.server.config import NodeConfig
from node.server.daemon import Node

# Re-exported: test modules written before tests/helpers.py import these from here.
from .helpers import free_port, free_port_range  # noqa: F401


@pytest.fixture
def devnet_keys() -> dict[str, KeyPair]:
    return {name: KeyPair.generate() for name in key_names(1)}


@pytest.fixture
def key_file(tmp_path) -> tuple[Path, KeyPair]:
    """A fresh key saved as ./alice.key (unsealed): for the CLI's --key."""
    kp = KeyPair.generate()
    path = tmp_path / "alice.key"
    kp.save(path, "alice")
    return path, kp


@pytest.fixture
def single_node_config(tmp_path, devnet_keys):
    """Files for one validator node: (config, genesis, keys)."""
    port = free_port()
    genesis = make_genesis(devnet_keys, [f"http://127.0.0.1:{port}"], int(time.time() * 1000))
    genesis.save(tmp_path / "genesis.json")
    devnet_keys["inst0"].save(tmp_path / "inst0.key")
    config = NodeConfig(name="node0", key_file=str(tmp_path / "inst0.key"),
                        genesis=str(tmp_path / "genesis.json"), data_dir=str(tmp_path / "node0"),
                        listen=f"127.0.0.1:{port}", block_interval_ms=5)
    return config, genesis, devnet_keys


StartNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def start_node(single_node_config) -> AsyncIterator[StartNode]:
    """start_node(**config overrides) -> the single validator of `single_node_config`, started
    in this event loop (so it leads and commits on its own)."""
    started: list[Node] = []

    async def start(**overrides) -> Node:
        node = Node(dataclasses.replace(single_node_config[0], **overrides))
        await node.start()
        started.append(node)
        return node

    try:
        yield start
    finally:
        for node in started:
            await node.stop()


def follower_of_three(data_dir: Path, observers: int = 0,
                      **overrides) -> tuple[Node, dict[str, KeyPair]]:
    """node0 of a three-validator genesis whose other two nodes never run, not yet started:
    it stays a follower at term 0 (PreVote keeps a lonely node from raising its term), so its
    state moves only if a test, holding inst1's and inst2's keys, makes it. `observers`
    licensed observers (inst3, ...) are in the genesis too, their nodes never running."""
    n = 3 + observers
    keys = {name: KeyPair.generate() for name in key_names(n)}
    base = free_port_range(n)
    genesis = make_genesis(keys, [f"http://127.0.0.1:{base + i}" for i in range(n)],
                           int(time.time() * 1000), observers=observers)
    config = NodeConfig(name="node0", key_file="", genesis="", data_dir=str(data_dir),
                        listen=f"127.0.0.1:{base}", seed=0, **overrides)
    return Node(config, genesis, keys["inst0"]), keys


@pytest.fixture
async def start_follower(tmp_path) -> AsyncIterator[Callable[..., Awaitable[tuple[Node, dict]]]]:
    """start_follower(observers=0, **config overrides) -> (node, keys): `follower_of_three`,
    started, and stopped at teardown."""
    started: list[Node] = []

    async def start(observers: int = 0, **overrides) -> tuple[Node, dict[str, KeyPair]]:
        node, keys = follower_of_three(tmp_path / f"node0-{len(started)}", observers, **overrides)
        await node.start()
        started.append(node)
        return node, keys

    try:
        yield start
    finally:
        for node in started:
            await node.stop()
