"""Whole nodes in one event loop (real loopback sockets): gossip, replication, catch-up."""
from __future__ import annotations

import asyncio
import time

import pytest

from devnet import key_names, make_genesis
from node.server.config import NodeConfig
from node.ledger.crypto import KeyPair
from node.server.daemon import Node
from node.ledger.types import Transfer, sign_tx

from .conftest import free_port_range


def make_cluster(tmp_path, n=3, **overrides):
    keys = {name: KeyPair.generate() for name in key_names(n)}
    base = free_port_range(n)
    genesis = make_genesis(keys, [f"http://127.0.0.1:{base + i}" for i in range(n)],
                           int(time.time() * 1000))

    def node(i: int, db=None) -> Node:
        cfg = NodeConfig(name=f"node{i}", key_file="", genesis="", data_dir=str(tmp_path / f"node{i}"),
                         listen=f"127.0.0.1:{base + i}", seed=i, **overrides)
        return Node(cfg, genesis, keys[f"inst{i}"], db=db)
    return keys, genesis, node


async def until(what, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def agreed(nodes) -> bool:
    return len({(n.tip.height, n.tip.block_hash, n.tip.state_hash) for n in nodes}) == 1


@pytest.fixture
async def cluster(tmp_path):
    started: list[Node] = []
    keys, genesis, factory = make_cluster(tmp_path, log_tail=4)

    async def start(i: int) -> Node:
        n = factory(i)
        await n.start()
        started.append(n)
        return n
    try:
        yield keys, genesis, start
    finally:
        for n in started:
            try:
                await n.stop()
            except Exception:
                pass


def transfers(keys, genesis, start_nonce, count):
    return [sign_tx(keys["alice"], genesis.chain_id, start_nonce + i,
                    Transfer("USD", keys["bob"].address, 1, "")) for i in range(count)]


async def test_tx_submitted_to_any_node_is_gossiped_and_committed_everywhere(cluster):
    keys, genesis, start = cluster
    nodes = [await start(i) for i in range(3)]
    await until("a leader", lambda: any(n.role == "leader" for n in nodes))
    follower = next(n for n in nodes if n.role == "follower")
    tx = transfers(keys, genesis, 0, 1)[0]
    follower.submit(tx.raw)
    statuses = await asyncio.gather(*(n.wait_for(tx.hash, 5) for n in nodes))
    assert [s.status for s in statuses] == ["committed"] * 3
    await until("agreement", lambda: agreed(nodes))
    assert sum(n.sigs.verified for n in nodes) == 3  # each node verified it exactly once


async def test_follower_behind_the_compacted_log_catches_up_by_fetching_blocks(cluster):
    keys, genesis, start = cluster
    nodes = [await start(i) for i in range(3)]
    await until("a leader", lambda: any(n.role == "leader" for n in nodes))
    laggard = next(n for n in nodes if n.role == "follower")
    idx = nodes.index(laggard)
    stopped_at = laggard.store.applied_index()
    await laggard.stop()
    live = [n for n in nodes if n is not laggard]
    leader = next(n for n in live if n.role == "leader")
    for k in range(12):  # twelve blocks: far past the four-entry log tail
        tx = transfers(keys, genesis, k, 1)[0]
        leader.submit(tx.raw)
        assert (await leader.wait_for(tx.hash, 5)).status == "committed"
    assert leader.raft_log.compacted_index() > stopped_at  # the entries it needs are gone
    back = await start(idx)
    await until("the laggard catches up", lambda: agreed(live + [back]), timeout=15)
    assert back.tip.height >= 12
    assert back.metrics.fetched._value.get() > 0  # it caught up through block fetch
    assert back.tx_status(tx.hash).status == "committed"


async def test_raft_messages_are_handled_at_once_not_at_the_next_tick(tmp_path):
    """With a 2 s tick, a commit through a follower that waited for ticks would take seconds;
    handled as they arrive, messages commit it in a few round trips."""
    keys, genesis, factory = make_cluster(tmp_path, tick_ms=2000)
    nodes = [factory(i) for i in range(3)]
    try:
        for n in nodes:
            await n.start()
        await until("a leader", lambda: any(n.role == "leader" for n in nodes), timeout=20)
        follower = next(n for n in nodes if n.role == "follower")
        took = []
        for tx in transfers(keys, genesis, 0, 3):
            t0 = time.monotonic()
            follower.submit(tx.raw)
            assert (await follower.wait_for(tx.hash, 10)).status == "committed"
            took.append(time.monotonic() - t0)
        assert sorted(took)[1] < 1.0, f"commits took {took}: messages waited for ticks"
    finally:
        for n in nodes:
            await n.stop()
