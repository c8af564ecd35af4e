"""Fixtures shared by the API and process-level tests."""
from __future__ import annotations

import socket
import time

import pytest

from devnet import key_names, make_genesis
from node.server.config import NodeConfig
from node.ledger.crypto import KeyPair


def free_port() -> int:
    """A free loopback port (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def devnet_keys() -> dict[str, KeyPair]:
    return {name: KeyPair.generate() for name in key_names(1)}


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


def free_port_range(n: int) -> int:
    """A base port with n consecutive free loopback ports after it."""
    import random
    for _ in range(200):
        base = random.randint(20_000, 60_000)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")
