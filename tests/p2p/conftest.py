"""Fixtures for the p2p tests: keys, and clusters of PeerManagers over memory or real websockets.

Every cluster a test makes is closed by the fixture's finalizer, also when the test fails.
Tests assert on public state only: what callbacks received, connected_peers(), connections(),
stats(), and the MemoryNetwork's count of open connections.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from nacl.signing import SigningKey

from p2p import MemoryNetwork, MemoryTransport, P2PConfig, PeerManager

from ..helpers import free_port, shake_hands, until

CHAIN_ID = hashlib.sha256(b"lichen test genesis").digest()
OTHER_CHAIN_ID = hashlib.sha256(b"another genesis").digest()

# Short backoff and timeouts so reconnect tests finish quickly.
TEST_CONFIG = P2PConfig(backoff_initial=0.02, backoff_max=0.2, handshake_timeout=2.0, heartbeat=2.0)


def seed_for(i: int) -> bytes:
    return hashlib.sha256(b"p2p test node %d" % i).digest()


def node_id_for(i: int) -> bytes:
    return bytes(SigningKey(seed_for(i)).verify_key)


@dataclass
class Node:
    """One PeerManager plus a record of everything it handed to its owner."""

    index: int
    address: str
    manager: PeerManager = field(init=False)
    raft: list[tuple[str, list[Any]]] = field(default_factory=list)
    txs: list[tuple[str, list[bytes]]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    admit: Callable[[bytes], bool] = lambda tx: True

    @property
    def id(self) -> str:
        return node_id_for(self.index).hex()

    def on_raft(self, peer_id: str, payload: list[Any]) -> None:
        self.raft.append((peer_id, payload))

    def on_txs(self, peer_id: str, txs: list[bytes]) -> list[bool]:
        self.txs.append((peer_id, txs))
        return [self.admit(tx) for tx in txs]

    def all_txs(self) -> list[bytes]:
        return [tx for _, batch in self.txs for tx in batch]

    def on_peer_up(self, peer_id: str) -> None:
        self.events.append(("up", peer_id))

    def on_peer_down(self, peer_id: str) -> None:
        self.events.append(("down", peer_id))


class Cluster:
    """N nodes that all list each other; `transport` is "memory" or "websocket"."""

    def __init__(self, n: int, transport: str, licensed: set[bytes] | None = None,
                 **manager_kw: Any) -> None:
        self.transport = transport
        self.network = MemoryNetwork()
        self.licensed = licensed if licensed is not None else {node_id_for(i) for i in range(n)}
        self.manager_kw = manager_kw
        self.nodes: list[Node] = []
        self._runners: dict[int, web.AppRunner] = {}
        for i in range(n):
            address = f"mem://node{i}" if transport == "memory" else f"http://127.0.0.1:{free_port()}"
            self.nodes.append(Node(i, address))

    @property
    def peer_table(self) -> dict[str, str]:
        return {node.id: node.address for node in self.nodes}

    def is_licensed(self, node_id: bytes) -> bool:
        return node_id in self.licensed

    async def start(self) -> Cluster:
        for node in self.nodes:
            await self.start_node(node.index)
        return self

    async def start_node(self, i: int, peers: dict[str, str] | None = None) -> Node:
        """Start node i; `peers` overrides its peer table (default: every node)."""
        node = self.nodes[i]
        kw = dict(config=TEST_CONFIG, seed=i) | self.manager_kw
        if self.transport == "memory":
            kw["dialer"] = self.network.dialer()
        node.manager = PeerManager(
            signing_seed=seed_for(i),
            chain_id=CHAIN_ID,
            peers=self.peer_table if peers is None else peers,
            is_licensed=self.is_licensed,
            on_raft=node.on_raft,
            on_txs=node.on_txs,
            on_peer_up=node.on_peer_up,
            on_peer_down=node.on_peer_down,
            **kw,
        )
        if self.transport == "memory":
            self.network.listen(node.address, node.manager.accept)
        else:
            app = web.Application()
            node.manager.mount(app)  # exactly what the node does on its HTTP API app
            runner = web.AppRunner(app, shutdown_timeout=1.0)
            await runner.setup()
            port = int(node.address.rsplit(":", 1)[1])
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners[i] = runner
        await node.manager.start()
        return node

    async def stop_node(self, i: int) -> None:
        node = self.nodes[i]
        await node.manager.close()
        if self.transport == "memory":
            self.network.unlisten(node.address)
        else:
            runner = self._runners.pop(i, None)
            if runner is not None:
                await runner.cleanup()

    async def handshake_as(self, i: int, address: str) -> MemoryTransport:
        """Connect to `address` as node i by hand (no PeerManager) and complete the handshake."""
        transport = await self.network.dial(address)
        await shake_hands(transport, CHAIN_ID, SigningKey(seed_for(i)))
        return transport

    def full_mesh(self) -> bool:
        return all(
            node.manager.connected_peers() == sorted(o.id for o in self.nodes if o is not node)
            for node in self.nodes
        )

    async def wait_full_mesh(self, timeout: float = 5.0) -> None:
        await until("full mesh", self.full_mesh, timeout)

    async def close(self) -> None:
        for node in self.nodes:
            if hasattr(node, "manager"):
                await node.manager.close()
        for runner in self._runners.values():
            await runner.cleanup()
        self._runners.clear()
        await self.network.close()


ClusterFactory = Callable[..., Awaitable[Cluster]]


@pytest.fixture(name="node_id_for")
def node_id_for_fixture() -> Callable[[int], bytes]:
    return node_id_for


@pytest.fixture(name="chain_id")
def chain_id_fixture() -> bytes:
    return CHAIN_ID


@pytest.fixture
async def make_cluster() -> Any:
    """make_cluster(n, transport="memory", start=True, **PeerManager kwargs) -> Cluster."""
    clusters: list[Cluster] = []

    async def make(n: int, transport: str = "memory", *, start: bool = True, **kw: Any) -> Cluster:
        cluster = Cluster(n, transport, **kw)
        clusters.append(cluster)
        return await cluster.start() if start else cluster

    yield make
    for cluster in clusters:
        await cluster.close()
