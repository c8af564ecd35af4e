"""Whole nodes in one event loop over the in-memory network (tests/harness.py): election,
gossip, replication, commits through a follower, a cut leader replaced, catch-up by block
fetch of a lagging or wiped follower, a new validator promoted.

`make_cluster`, `until`, `agreed` and `transfers` at the end serve tests/test_durability.py,
which runs nodes on the system clock and a crashable store.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from devnet import key_names, make_genesis
from node.ledger.crypto import KeyPair
from node.ledger.types import LicenseGrant, Transfer, sign_tx
from node.server.compose import MemoryListener
from node.server.config import NodeConfig
from node.server.daemon import Node
from node.server.service import NodeRole, TxState
from p2p import MemoryNetwork, RequestFailed

from .harness import TestNetwork, address_of, metric


@pytest.fixture
async def net(tmp_path):
    network = TestNetwork(tmp_path, log_tail=4)
    try:
        yield network
    finally:
        await network.close()


async def test_one_leader_is_elected_and_every_node_knows_it(net):
    nodes = await net.start_all()
    leader = await net.elect()
    await net.until("every node follows the leader", lambda: all(
        n.node_status().leader_id == leader.id for n in nodes))
    statuses = [n.node_status() for n in nodes]
    assert sorted(s.role for s in statuses) == ["follower", "follower", "leader"]
    assert len({s.term for s in statuses}) == 1 and statuses[0].term >= 1
    assert all(set(s.voters) == {n.id for n in nodes} for s in statuses)
    assert all(set(s.peers) == {n.id for n in nodes} - {me.id} for me, s in zip(nodes, statuses, strict=True))


async def test_tx_submitted_to_any_node_is_gossiped_and_committed_everywhere(net):
    nodes = await net.start_all()
    await net.elect()
    follower = next(n for n in nodes if n.role == NodeRole.FOLLOWER)
    tx = net.transfer()
    net.submit(follower, tx)
    await net.until_committed(tx)
    await net.until_agreed()
    # each node verified its signature exactly once: admission's verdict is reused in the block
    assert sum(metric(n, "lichen_signatures_verified") for n in nodes) == 3


async def test_a_commit_through_a_follower_waits_for_no_tick(tmp_path):
    """With a 2 s tick, a commit through a follower that waited for ticks would take seconds
    of node time; handled as they arrive, messages commit it within a fraction of one tick."""
    net = TestNetwork(tmp_path, tick_ms=2000)
    try:
        nodes = await net.start_all()
        await net.elect(within_ms=30_000)
        follower = next(n for n in nodes if n.role == NodeRole.FOLLOWER)
        for tx in [net.transfer() for _ in range(3)]:
            net.submit(follower, tx)
            await net.until_committed(tx, nodes=[follower], within_ms=500)
    finally:
        await net.close()


async def test_a_cut_off_leader_is_replaced_and_catches_up_after_the_heal(net):
    await net.start_all()
    old = await net.elect()
    first = net.transfer()
    net.submit(old, first)
    await net.until_committed(first)
    old_term = old.node_status().term
    net.isolate(net.index_of(old))
    rest = [n for n in net.running() if n is not old]
    new = await net.elect(rest)
    assert new.node_status().term > old_term
    height = old.node_status().height
    txs = [net.transfer() for _ in range(3)]
    net.submit(new, *txs)
    await net.until_committed(*txs, nodes=rest)
    assert old.node_status().height == height, "a cut-off node commits nothing"
    await net.until("the cut-off leader steps down (CheckQuorum)",
                    lambda: old.node_status().role != NodeRole.LEADER)
    net.heal()
    await net.until_committed(*txs)
    await net.until_agreed()
    assert net.leader() is new and old.node_status().leader_id == new.id


async def test_follower_behind_the_compacted_log_catches_up_by_fetching_blocks(net):
    nodes = await net.start_all()
    await net.elect()
    laggard = next(n for n in nodes if n.role == NodeRole.FOLLOWER)
    idx = net.index_of(laggard)
    await net.stop(idx)
    leader = await net.elect()
    txs = []
    for _ in range(12):  # twelve blocks: far past the four-entry log tail
        tx = net.transfer()
        net.submit(leader, tx)
        await net.until_committed(tx)
        txs.append(tx)
    back = await net.start(idx)
    await net.until_agreed()
    assert back.node_status().height >= 12
    assert metric(back, "lichen_blocks_fetched_total") > 0  # it caught up through block fetch
    assert back.tx_status(txs[-1].hash).status == TxState.COMMITTED


async def test_a_wiped_follower_rebuilds_from_its_peers_and_votes_again(net):
    nodes = await net.start_all()
    leader = await net.elect()
    txs = [net.transfer() for _ in range(10)]  # past the four-entry log tail
    for tx in txs:
        net.submit(leader, tx)
        await net.until_committed(tx)
    victim = next(n for n in nodes if n is not leader)
    idx = net.index_of(victim)
    await net.stop(idx)
    net.wipe(idx)
    back = await net.start(idx)
    assert back.node_status().height == 0
    await net.until_agreed()
    assert metric(back, "lichen_blocks_fetched_total") > 0
    assert all(back.tx_status(t.hash).status == TxState.COMMITTED for t in txs)
    # it votes again: with the leader gone, the rebuilt node and the third elect one of them
    await net.stop(net.index_of(leader))
    await net.elect()
    after = net.transfer()
    net.submit(back, after)
    await net.until_committed(after)


async def test_a_newly_licensed_validator_joins_as_a_learner_and_is_promoted(tmp_path):
    net = TestNetwork(tmp_path, validators=3, spare=1)
    try:
        nodes = await net.start_all()
        leader = await net.elect()
        newcomer = await net.start(3)
        assert newcomer.node_status().role == NodeRole.UNLICENSED
        grant = net.sign("regulator", LicenseGrant("inst3", "validator"))
        net.submit(leader, grant)
        await net.until_committed(grant, nodes=nodes)
        await net.until("every node counts inst3 as a voter", lambda: all(
            newcomer.id in n.node_status().voters for n in net.running()))
        assert newcomer.node_status().role == NodeRole.FOLLOWER
        await net.until_agreed()
        # four voters: with one of the first three stopped, three of four still commit
        await net.stop(net.index_of(leader))
        await net.elect()
        tx = net.transfer()
        net.submit(newcomer, tx)
        await net.until_committed(tx)
    finally:
        await net.close()


async def test_a_peer_request_the_node_does_not_serve_is_refused_and_counted(net):
    a, b = await net.start_all(2)
    await net.until("connected", lambda: b.id in a.node_status().peers)
    for payload in (["gossip"], ["blocks", -1, 5], "conf"):
        with pytest.raises(RequestFailed):
            await a.p2p.request(b.id, payload)
    assert metric(b, "lichen_peer_requests_refused_total", reason="UNKNOWN") == 2
    assert metric(b, "lichen_peer_requests_refused_total", reason="MALFORMED") == 1
    assert await a.p2p.request(b.id, ["conf"]) == [sorted(net.id_of(i) for i in range(3)), []]


async def test_a_node_that_cannot_persist_halts_its_consensus_loop(net):
    await net.start_all()
    leader = await net.elect()

    def disk_gone(*args, **kwargs):
        raise OSError("no space left on device")
    leader.store.save_raft = disk_gone  # the leader must persist the next block before sending it
    net.submit(leader, net.transfer())
    with pytest.raises(AssertionError, match="a consensus loop halted.*no space left"):
        await net.until("never", lambda: False, within_ms=1000)
    height = leader.node_status().height
    net.failures.clear()
    await net.advance(1000)
    assert leader.node_status().height == height and not net.failures  # halted for good


# ---- nodes on the system clock, for tests/test_durability.py ----------------------------------

def make_cluster(tmp_path, n=3, **overrides):
    """(keys, genesis, factory): factory(i, db=None) makes node i, on the in-memory network and
    the system clock (the durability tests poll in real time, on stores that lose power)."""
    keys = {name: KeyPair.generate() for name in key_names(n)}
    genesis = make_genesis(keys, [address_of(i) for i in range(n)], int(time.time() * 1000))
    network = MemoryNetwork()

    def node(i: int, db=None) -> Node:
        cfg = NodeConfig(name=f"node{i}", key_file="", genesis="", data_dir=str(tmp_path / f"node{i}"),
                         listen=address_of(i), seed=i, **overrides)
        return Node(cfg, genesis, keys[f"inst{i}"], dialer=network.dialer(), db=db,
                    listener=MemoryListener(network, address_of(i)))
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


def transfers(keys, genesis, start_nonce, count):
    return [sign_tx(keys["alice"], genesis.chain_id, start_nonce + i,
                    Transfer("USD", keys["bob"].address, 1, "")) for i in range(count)]
