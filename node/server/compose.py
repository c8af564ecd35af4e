"""The composition root: everything a node is made of, built in one place.

`assemble` builds the parts from a config: the store and the ledger state in it, the pool,
the Raft core over its log, and the PeerManager on an injected dialer, all on an injected
clock. The daemon (node.server.daemon.Node) holds the parts and runs them. What differs
between an operator's node and a test's is injected:

| what      | `lichen node run`                         | tests (tests/harness.py)                  |
|-----------|-------------------------------------------|-------------------------------------------|
| clock     | SystemClock                               | ManualClock, advanced by the test         |
| dialer    | websockets (p2p.WebSocketDialer)          | MemoryNetwork.dialer()                    |
| listener  | TcpListener: HTTP API + /v1/peer (one port,| MemoryListener: peers only, no socket    |
|           | or /v1/peer on config.peer_listen alone)   |                                          |
| on_fatal  | exit the process (code 70)                | recorded; the test fails                  |
"""
from __future__ import annotations

import logging
import os
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from consensus import Config as RaftConfig
from consensus import Raft
from node.ledger.crypto import KeyPair, Signer
from node.ledger.genesis import Genesis
from node.ledger.mempool import Mempool, PoolLimits
from node.ledger.rules import SignatureCache
from node.ledger.state import State
from node.server.api import build_app
from node.server.clock import Clock
from node.server.config import NodeConfig
from node.server.limits import BoundedHandshakeSite, app_runner, handler_args, peer_app_runner
from node.server.membership import Licensed, is_licensed_peer, peer_table
from node.server.metrics import Metrics, stage_clock
from node.server.raft_log import RaftLog
from node.server.service import NodeService
from node.server.tls import client_context, server_context
from node.store.db import Store
from p2p import Dialer, MemoryNetwork, P2PConfig, PeerManager, WebSocketDialer

log = logging.getLogger("lichen.node")

MAX_PEER_FRAME = 4 * 1024 * 1024  # a block is one Raft entry and fits one frame


class PeerHandlers(Protocol):
    """What the PeerManager calls on the node (node.server.daemon.Node)."""

    def on_raft(self, peer_id: str, payload: list) -> None: ...
    def on_peer_txs(self, peer_id: str, raws: list[bytes]) -> list[bool]: ...
    async def verify_ahead(self, raws: list[bytes]) -> None: ...
    def on_peer_up(self, peer_id: str) -> None: ...
    async def on_peer_request(self, peer_id: str, payload: Any) -> Any: ...


@dataclass
class Parts:
    genesis: Genesis
    key: Signer  # the node key: handshakes, block proposals, certificate votes
    metrics: Metrics
    sigs: SignatureCache  # verified signatures, shared by admission and execution
    store: Store
    state: State  # the committed ledger state, kept in step with the store
    pool: Mempool
    raft_log: RaftLog
    raft: Raft
    p2p: PeerManager


def assemble(config: NodeConfig, genesis: Genesis | None, key: Signer | None, *,
             handlers: PeerHandlers, clock: Clock, dialer: Dialer | None = None,
             db=None) -> Parts:
    """Build a node's parts. `genesis` and `key` default to the files the config names; `db`
    is a plyvel-like database to use instead of opening one in the data dir."""
    genesis = genesis or Genesis.load(config.genesis)
    key = key if key is not None else KeyPair.load(config.key_file)
    sigs = SignatureCache(config.sig_cache_size, timer=stage_clock)
    store = Store(f"{config.data_dir}/db", genesis, db,
                  write_buffer_size=config.leveldb_write_buffer_mb * 1024 * 1024,
                  max_open_files=config.leveldb_max_open_files)
    state = store.load_state(account_cache=config.account_cache_size)
    pool = Mempool(state, sigs, PoolLimits(
        config.mempool_max_txs, config.mempool_max_bytes, config.mempool_max_per_sender,
        max_held=config.mempool_max_held, max_held_per_sender=config.mempool_max_held_per_sender,
        held_ttl_s=config.mempool_held_ttl_s), clock=clock.time)
    pool.last_block_time = store.tip().timestamp
    seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(8), "big")
    p2p_config = P2PConfig(max_frame_size=MAX_PEER_FRAME,
                           seen_cache_size=config.p2p_seen_cache_size)
    dialer = dialer or peer_dialer(config, p2p_config)
    raft_log = RaftLog(store)
    raft = Raft(raft_config(config, key.address.hex(), Licensed.of(state),
                            store.applied_index(), seed), raft_log.storage)
    p2p = PeerManager(
        signer=key, chain_id=genesis.chain_id,
        peers=peer_table(genesis, state, key.address, raft.conf_state.members),
        is_licensed=lambda peer_key: is_licensed_peer(state, peer_key),
        on_raft=handlers.on_raft, on_txs=handlers.on_peer_txs, on_peer_up=handlers.on_peer_up,
        on_request=handlers.on_peer_request, raft_sender_of=raft_sender,
        verify_ahead=handlers.verify_ahead if config.sig_workers else None, dialer=dialer,
        devnet=config.devnet, seed=seed, config=p2p_config)
    metrics = Metrics()
    metrics.track_peers(p2p.stats)
    metrics.stages.kept_by("verify", lambda: (sigs.inline_seconds, sigs.inline))
    return Parts(genesis, key, metrics, sigs, store, state, pool, raft_log, raft, p2p)


def peer_dialer(config: NodeConfig, p2p: P2PConfig) -> Dialer:
    """Websockets to the peers; wss:// ones verified against the config's tls_ca (else the
    system's CAs). The peer link is sealed end to end either way (p2p.handshake)."""
    return WebSocketDialer(max_frame_size=p2p.max_frame_size, heartbeat=p2p.heartbeat,
                           connect_timeout=p2p.connect_timeout,
                           ssl_context=client_context(config.tls_ca or None))


def raft_config(config: NodeConfig, node_id: str, licensed: Licensed, applied: int,
                seed: int) -> RaftConfig:
    """An election timeout of 1-2 s whatever the tick; one heartbeat round per tick. The
    initial membership (used until the store holds one) is what the licenses say."""
    ticks_per_s = 1000 / config.tick_ms
    return RaftConfig(
        id=node_id, voters=sorted(licensed.validators), learners=sorted(licensed.observers),
        election_tick=max(2, round(ticks_per_s)), heartbeat_tick=1, rng=random.Random(seed),
        max_inflight=64, max_entries_per_msg=16, max_bytes_per_msg=1024 * 1024, applied=applied)


def raft_sender(payload: list) -> str | None:
    """The sender a Raft message claims (field 1 of its wire form), for p2p's forgery check."""
    return payload[1] if len(payload) > 1 and isinstance(payload[1], str) else None


# ---- listeners: how a node is reached ------------------------------------------------------------

class Served(NodeService, Protocol):
    """A node as a listener serves it: the API's service, and its peer manager."""
    p2p: PeerManager


class Listener(Protocol):
    async def start(self, node: Served) -> None: ...
    async def stop(self) -> None: ...
    def describe(self) -> str: ...


class TcpListener:
    """The HTTP API on the config's port, and the peers' websocket (/v1/peer) on the same port
    or, with `peer_listen` set, only on that one (with its own connection budget). Both use
    the same TLS context."""

    def __init__(self, config: NodeConfig):
        self.config = config
        self._runners: list[web.AppRunner] = []

    async def start(self, node: Served) -> None:
        ssl_context = (server_context(self.config.tls_cert, self.config.tls_key)
                       if self.config.tls else None)
        app = build_app(node)
        if self.config.peer_listen:
            peers = web.Application(handler_args=handler_args(self.config))
            node.p2p.mount(peers)
            await self._serve(peer_app_runner(peers, self.config), self.config.peer_host,
                              self.config.peer_port, ssl_context)
        else:
            node.p2p.mount(app)
        await self._serve(app_runner(app, self.config), self.config.host, self.config.port,
                          ssl_context)

    async def _serve(self, runner: web.AppRunner, host: str, port: int,
                     ssl_context: ssl.SSLContext | None) -> None:
        await runner.setup()
        self._runners.append(runner)
        await BoundedHandshakeSite(runner, host, port, ssl_context=ssl_context,
                                   handshake_timeout=self.config.tls_handshake_timeout_s).start()

    async def stop(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()

    def describe(self) -> str:
        scheme = "https" if self.config.tls else "http"
        peers = f" (peers at {scheme}://{self.config.peer_listen})" if self.config.peer_listen else ""
        return f"{scheme}://{self.config.listen}{peers}"


class MemoryListener:
    """Peers reach the node at `address` on an in-memory network; no HTTP, no socket (the
    API's service is the node itself)."""

    def __init__(self, network: MemoryNetwork, address: str):
        self.network = network
        self.address = address

    async def start(self, node: Served) -> None:
        self.network.listen(self.address, node.p2p.accept)

    async def stop(self) -> None:
        self.network.unlisten(self.address)

    def describe(self) -> str:
        return self.address


def exit_process(exc: BaseException) -> None:
    """A node that cannot persist or apply must not keep answering."""
    os._exit(70)


FatalHandler = Callable[[BaseException], None]
