"""What one peer may cost a node (issue 10): frames before authentication are tiny, a TXS
frame holds at most max_txs_per_frame items, a peer's send queue is bounded in bytes, a peer
that breaks a cap is disconnected and refused for a while, and what a peer says reaches the
log short and on one line. Memory transport, hand-driven peers."""

from __future__ import annotations

import logging
from dataclasses import replace

from nacl.signing import SigningKey

from p2p import MemoryTransport, P2PConfig, Raft, SealedTransport, Txs, encode

from ..helpers import shake_hands, until
from .conftest import CHAIN_ID, TEST_CONFIG, Cluster, node_id_for, seed_for


async def authenticated(cluster: Cluster, i: int, address: str) -> SealedTransport:
    """Dial `address` by hand as node i and finish the handshake: a sealed transport."""
    transport = await cluster.network.dial(address)
    return SealedTransport(transport, await shake_hands(transport, CHAIN_ID,
                                                        SigningKey(seed_for(i))))


def closed(transport: SealedTransport) -> bool:
    inner = transport.inner
    assert isinstance(inner, MemoryTransport)
    return inner.closed


async def lone_node(make_cluster, config: P2PConfig = TEST_CONFIG, **kw) -> Cluster:
    """Node 0 running alone; node 1 is licensed but is the test's hand-driven peer."""
    cluster = await make_cluster(2, start=False, config=config, **kw)
    await cluster.start_node(0, peers={})
    return cluster


async def test_a_big_frame_before_authentication_is_refused(make_cluster, caplog):
    """Attack: strangers open connections and each sends a multi-megabyte first frame, so the
    node holds megabytes per connection for someone it knows nothing about. The node refuses
    any frame before AUTH larger than max_handshake_frame, naming why."""
    cluster = await lone_node(make_cluster)
    node = cluster.nodes[0]
    transport = await cluster.network.dial(node.address)
    await transport.send(b"\x00" * 100_000)
    await until("the node hangs up", lambda: transport.closed)
    assert node.manager.stats().handshakes_refused == 1
    assert any("before authentication" in r.getMessage() for r in caplog.records)


async def test_a_txs_frame_over_the_item_cap_disconnects_and_the_peer_is_backed_off(
        make_cluster, caplog):
    """Attack: a licensed peer packs millions of tiny items into one TXS frame, which the node
    would admit synchronously on its loop. Over max_txs_per_frame: nothing is admitted, the
    peer is disconnected with the reason logged, and its reconnection is refused for a while."""
    config = replace(TEST_CONFIG, max_txs_per_frame=64, gossip_batch_size=64)
    cluster = await lone_node(make_cluster, config)
    node = cluster.nodes[0]
    peer = await authenticated(cluster, 1, node.address)
    await until("adopted", lambda: node.manager.connected_peers() == [node_id_for(1).hex()])
    await peer.send(encode(Txs([b"tx%d" % i for i in range(65)])))
    await until("the node hangs up", lambda: closed(peer))
    assert node.txs == []
    assert node.manager.stats().misbehaving_disconnected == 1
    assert any("65 txs in one TXS frame" in r.getMessage() for r in caplog.records)
    again = await authenticated(cluster, 1, node.address)
    await until("the node refuses the comeback", lambda: closed(again))
    assert node.manager.connected_peers() == []


async def test_a_txs_frame_at_the_cap_is_admitted(make_cluster):
    config = replace(TEST_CONFIG, max_txs_per_frame=64, gossip_batch_size=64)
    cluster = await lone_node(make_cluster, config)
    node = cluster.nodes[0]
    peer = await authenticated(cluster, 1, node.address)
    await peer.send(encode(Txs([b"tx%d" % i for i in range(64)])))
    await until("admitted", lambda: len(node.all_txs()) == 64)
    assert not closed(peer)


async def test_a_peer_send_queue_is_bounded_in_bytes(make_cluster):
    """Attack: a peer that stops reading while we queue large frames for it (blocks, catch-up
    answers) makes us hold outbound_queue frames of up to 4 MiB each: gigabytes. The queue is
    bounded in bytes too; beyond it frames are dropped (Raft retries)."""
    config = replace(TEST_CONFIG, outbound_queue_bytes=256 * 1024)
    cluster = await make_cluster(2, config=config)
    await cluster.wait_full_mesh()
    a, b = cluster.nodes
    payload = ["x" * 64 * 1024]
    accepted = sum(a.manager.send_raft(b.id, payload) for _ in range(100))  # no yield: queued
    assert 1 <= accepted <= 4
    assert a.manager.stats().dropped_queue_full == 100 - accepted


async def test_peer_supplied_strings_reach_the_log_short_and_on_one_line(make_cluster, caplog):
    """Attack: a peer names itself with megabytes of text and forged newlines in a Raft
    message, to flood the node's log or forge log lines. What it claims is logged clipped and
    escaped."""
    caplog.set_level(logging.INFO, logger="lichen")
    cluster = await lone_node(make_cluster, raft_sender_of=lambda payload: payload[0])
    node = cluster.nodes[0]
    peer = await authenticated(cluster, 1, node.address)
    claimed = "evil\nlichen.p2p INFO peer up: forged " + "A" * 100_000
    await peer.send(encode(Raft([claimed])))
    await until("dropped", lambda: node.manager.stats().forged_raft_dropped == 1)
    lines = [r.getMessage() for r in caplog.records if "claiming to be from" in r.getMessage()]
    assert len(lines) == 1
    assert "\n" not in lines[0] and len(lines[0]) < 300
