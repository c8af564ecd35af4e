"""Reads are bounded (issue 10): a read bucket per client, and heavy renders off the loop.

In-process nodes with real sockets (start_node: tests/conftest.py)."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from node.ledger.types import Transfer, sign_tx
from node.server.config import NodeConfig
from node.server.daemon import Node

from .helpers import until

OTHER_CLIENT = "127.0.0.2"  # any 127/8 address reaches a node listening on 127.0.0.1


@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


def session(node: Node, source: str = "127.0.0.1") -> aiohttp.ClientSession:
    return aiohttp.ClientSession(f"http://{node.config.listen}",
                                 connector=aiohttp.TCPConnector(local_addr=(source, 0)),
                                 timeout=aiohttp.ClientTimeout(total=10))


async def fill_a_block(node: Node, keys, count: int) -> int:
    """Commit `count` transfers in one block; its height."""
    txs = [sign_tx(keys["alice"], node.genesis.chain_id, i,
                   Transfer("USD", keys["bob"].address, 1, "a memo to fatten the block"))
           for i in range(count)]
    results = node.submit_many([t.raw for t in txs])
    assert all(not isinstance(r, Exception) for r in results)
    await until("the block is committed", lambda: node.tx_status(txs[-1].hash).final)
    height = node.store.receipt(txs[-1].hash).height
    assert node.store.receipt(txs[0].hash).height == height
    return height


# ---- the read bucket ----------------------------------------------------------------------------

def test_the_default_read_limit_is_generous():
    """`lichen chain verify` reads two documents per block, bench one per block and a status."""
    defaults = NodeConfig(name="n", key_file="", genesis="", data_dir="")
    assert defaults.read_rate_limit_per_s >= 1_000 and defaults.read_rate_limit_burst >= 2_000


async def test_over_the_read_rate_a_client_gets_429_with_retry_after(start_node):
    """A client hammering reads is refused with RATE_LIMITED past its bucket; another client,
    and the probes, are served meanwhile."""
    node = await start_node(read_rate_limit_per_s=1, read_rate_limit_burst=3)
    async with session(node) as http, session(node, OTHER_CLIENT) as other:
        for _ in range(3):
            async with http.get("/v1/status") as r:
                assert r.status == 200
        async with http.get("/v1/genesis") as r:
            doc = await r.json()
            assert r.status == 429 and doc["error"] == "RATE_LIMITED" and "reads" in doc["message"]
            assert int(r.headers["Retry-After"]) >= 1
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and metrics cost nothing
            async with http.get(path) as r:
                assert r.status != 429
        async with other.get("/v1/status") as r:  # another address has its own bucket
            assert r.status == 200
        async with http.post("/v1/txs", json={"txs": []}) as r:  # submissions: their own bucket
            assert r.status == 200


async def test_the_read_limit_can_be_turned_off(start_node):
    node = await start_node(read_rate_limit_per_s=0, read_rate_limit_burst=1)
    async with session(node) as http:
        for _ in range(20):
            async with http.get("/v1/status") as r:
                assert r.status == 200


# ---- heavy reads do not stall consensus ---------------------------------------------------------

BLOCK_TXS = 2_000
CLIENTS = 8
HAMMER_S = 1.5
MAX_TICK_GAP_S = 0.2  # ticks every 20 ms; the renders of 8 clients on the loop took 0.3 s


async def test_pulling_large_blocks_leaves_the_consensus_ticks_on_cadence(start_node, keys):
    """Attack modelled: clients pull a full block (2,000 txs, ~1 MB of JSON) in a loop. Built on
    the event loop, each render stalls the Raft ticks (a leader's heartbeats, a follower's
    election timer) long enough to cost a cluster its leader; rendered off the loop, the ticks
    keep their cadence."""
    node = await start_node(tick_ms=20, block_max_txs=BLOCK_TXS, block_interval_ms=200,
                            read_rate_limit_per_s=0)
    height = await fill_a_block(node, keys, BLOCK_TXS)
    ticks: list[float] = []
    tick = node.raft.tick

    def counted_tick() -> None:
        ticks.append(time.monotonic())
        tick()
    node.raft.tick = counted_tick  # type: ignore[method-assign]
    pulled = 0

    async def pull(http: aiohttp.ClientSession, path: str, until_t: float) -> None:
        nonlocal pulled
        while time.monotonic() < until_t:
            async with http.get(path) as r:
                assert r.status == 200
                await r.read()
                pulled += 1

    end = time.monotonic() + HAMMER_S
    async with session(node) as http:
        paths = [f"/v1/blocks/{height}", "/v1/blocks/latest"]
        await asyncio.gather(*(pull(http, paths[i % 2], end) for i in range(CLIENTS)))
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert pulled >= CLIENTS and gaps
    assert max(gaps) < MAX_TICK_GAP_S, f"a tick came {max(gaps):.3f}s after the one before"
    assert len(ticks) > HAMMER_S / 0.02 / 3  # and they kept coming
