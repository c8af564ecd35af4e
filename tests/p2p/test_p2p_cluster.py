"""Whole PeerManagers talking to each other: over the in-memory transport and real websockets.

"Nothing arrived" is asserted without sleeping: connections are FIFO, so once a marker frame
sent afterwards has arrived, everything sent before it has been processed.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from p2p import FaultFilterDisabled, P2PConfig, Raft, RequestFailed, encode, peer_url

from ..helpers import until

TRANSPORTS = ["memory", "websocket"]


def raft_payloads(node, sender=None) -> list:
    return [payload for peer, payload in node.raft if sender is None or peer == sender]


# --- mesh, delivery, reconnect (both transports) ----------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_three_nodes_reach_full_mesh_with_one_connection_per_pair(make_cluster, transport):
    cluster = await make_cluster(3, transport)
    await cluster.wait_full_mesh()
    await until("duplicates closed",
                lambda: all(n.manager.stats().open_transports == 2 for n in cluster.nodes))
    for node in cluster.nodes:
        for conn in node.manager.connections():
            other = next(n for n in cluster.nodes if n.id == conn.peer_id)
            (mirror,) = [c for c in other.manager.connections() if c.peer_id == node.id]
            assert mirror.outbound != conn.outbound  # both ends agree on the same connection
    if transport == "memory":
        assert cluster.network.open_connections() == 3


async def test_simultaneous_dials_keep_the_connection_dialed_by_the_lower_id(make_cluster):
    cluster = await make_cluster(3)  # all three dial each other at the same instant
    await cluster.wait_full_mesh()
    await until("duplicates closed", lambda: cluster.network.open_connections() == 3)
    assert sum(n.manager.stats().duplicate_connections for n in cluster.nodes) > 0  # the rule ran
    for node in cluster.nodes:
        for conn in node.manager.connections():
            assert conn.outbound == (node.id < conn.peer_id)
        # swapping a duplicate for the preferred connection is not a peer going away
        assert [kind for kind, _ in node.events] == ["up", "up"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_raft_and_txs_are_delivered_attributed_to_the_authenticated_peer(
    make_cluster, transport
):
    cluster = await make_cluster(3, transport)
    await cluster.wait_full_mesh()
    a, b, c = cluster.nodes
    assert a.manager.send_raft(b.id, [1, "append_entries", b"\x00entry"])
    a.manager.broadcast_txs([b"tx-1", b"tx-2"])
    await until("delivery", lambda: b.raft and len(b.all_txs()) == 2 and len(c.all_txs()) == 2)
    assert b.raft == [(a.id, [1, "append_entries", b"\x00entry"])]
    assert c.raft == []
    assert b.txs[0] == (a.id, [b"tx-1", b"tx-2"])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_restarted_peer_is_redialed(make_cluster, transport):
    cluster = await make_cluster(3, transport)
    await cluster.wait_full_mesh()
    a, b, c = cluster.nodes
    await cluster.stop_node(2)
    await until("a notices c is gone", lambda: c.id not in a.manager.connected_peers())
    assert ("down", c.id) in a.events
    await cluster.start_node(2, peers={})  # c dials no one: a and b must come back to it
    await cluster.wait_full_mesh(timeout=5.0)
    assert a.events[-1] == ("up", c.id)
    assert c.manager.send_raft(a.id, ["after restart"])
    await until("raft after restart", lambda: raft_payloads(a, c.id) == [["after restart"]])


async def test_a_peer_that_redials_replaces_its_stale_connection(make_cluster, node_id_for):
    # To a, b's old connection still looks alive (say, half-open TCP after b lost it). b dialing
    # again proves the old one is dead, so a switches to the new one, without a down/up flap,
    # even though b's id is the higher one.
    cluster = await make_cluster(3, start=False)
    a = await cluster.start_node(0, peers={})
    b = max(1, 2, key=node_id_for)
    assert node_id_for(b).hex() > a.id
    stale = await cluster.handshake_as(b, a.address)
    await until("first connection", lambda: a.manager.connected_peers() == [node_id_for(b).hex()])
    fresh = await cluster.handshake_as(b, a.address)
    await until("a closes the stale connection", lambda: stale.closed)
    assert not fresh.closed
    assert a.manager.connected_peers() == [node_id_for(b).hex()]
    assert a.events == [("up", node_id_for(b).hex())]


async def test_junk_on_the_peer_endpoint_closes_only_that_connection(make_cluster):
    limit = 64 * 1024
    cluster = await make_cluster(2, "websocket",
                                 config=P2PConfig(max_frame_size=limit, backoff_max=0.2))
    await cluster.wait_full_mesh()
    a, b = cluster.nodes
    junk = {
        "not msgpack": lambda ws: ws.send_bytes(b"\xc1 garbage"),
        "raft before handshake": lambda ws: ws.send_bytes(encode(Raft(["hi"]))),
        "oversized": lambda ws: ws.send_bytes(b"\x00" * (limit + 1)),
        "text": lambda ws: ws.send_str("hello?"),
    }
    async with aiohttp.ClientSession() as session:
        for what, send in junk.items():
            async with session.ws_connect(peer_url(a.address)) as ws:
                await send(ws)
                async with asyncio.timeout(3):
                    async for _ in ws:  # a's HELLO, then a closes on us
                        pass
                assert ws.closed, what
    assert a.manager.stats().handshakes_refused == 2  # the two well-formed-but-wrong attempts
    assert a.manager.connected_peers() == [b.id]  # the real peer was never disturbed
    assert a.manager.send_raft(b.id, ["still fine"])
    await until("delivery after junk", lambda: raft_payloads(b) == [["still fine"]])


# --- gossip across the mesh --------------------------------------------------------------------


async def test_gossip_reaches_every_node_in_few_frames_and_only_once_per_node(make_cluster):
    cluster = await make_cluster(3)
    await cluster.wait_full_mesh()
    a, b, c = cluster.nodes
    txs = [b"tx-%05d" % i for i in range(3000)]
    for start in range(0, len(txs), 100):  # as a node's HTTP API would hand them over
        a.manager.broadcast_txs(txs[start : start + 100])
    await until("all txs gossiped", lambda: len(b.all_txs()) == len(c.all_txs()) == 3000)
    assert sorted(b.all_txs()) == sorted(txs)  # each handed to the node exactly once
    assert a.manager.stats().frames_sent < 60  # batched: no per-tx frames
    assert a.manager.stats().gossip.received == 0  # b and c never send a's txs back to a


async def test_only_admitted_txs_are_forwarded_and_never_back_to_the_sender(make_cluster):
    cluster = await make_cluster(3, devnet=True)
    await cluster.wait_full_mesh()
    a, b, c = cluster.nodes
    a.manager.faults.partition([c.id])  # the only path from a to c is through b
    b.admit = lambda tx: tx != b"bad"
    a.manager.broadcast_txs([b"good", b"bad"])
    a.manager.broadcast_txs([b"marker"])  # forwarded by b after the first batch
    await until("marker through b", lambda: b"marker" in c.all_txs())
    assert c.all_txs() == [b"good", b"marker"]
    assert b.manager.stats().gossip.rejected == 1
    assert a.manager.stats().gossip.received == 0  # b forwarded nothing back to a


# --- authentication at the manager level --------------------------------------------------------


async def test_an_unlicensed_node_is_never_connected(make_cluster, node_id_for):
    cluster = await make_cluster(3, licensed={node_id_for(0), node_id_for(1)})
    a, b, outsider = cluster.nodes
    await until("licensed pair connects", lambda: a.manager.connected_peers() == [b.id])
    await until("outsider refused repeatedly",
                lambda: a.manager.stats().handshakes_refused >= 2
                and b.manager.stats().handshakes_refused >= 2)
    assert outsider.manager.connected_peers() == []
    assert outsider.id not in a.manager.connected_peers()
    assert not any(peer == outsider.id for peer, _ in a.events)


async def test_forged_raft_sender_is_dropped_and_logged(make_cluster, caplog):
    def claimed_sender(payload):
        return payload[0] if payload and isinstance(payload[0], str) else None

    cluster = await make_cluster(3, raft_sender_of=claimed_sender)
    await cluster.wait_full_mesh()
    a, b, c = cluster.nodes
    with caplog.at_level(logging.WARNING, logger="lichen.p2p"):
        a.manager.send_raft(b.id, [c.id, "vote_granted"])  # a pretends to be c
        a.manager.send_raft(b.id, [None, "names no sender"])
        a.manager.send_raft(b.id, [a.id, "vote_granted"])
        await until("genuine messages", lambda: len(b.raft) == 2)
    assert b.raft == [(a.id, [None, "names no sender"]), (a.id, [a.id, "vote_granted"])]
    assert b.manager.stats().forged_raft_dropped == 1
    assert any("claiming to be from" in r.getMessage() for r in caplog.records)


# --- outbound queue ----------------------------------------------------------------------------


async def test_sending_never_blocks_and_drops_raft_when_the_queue_is_full(make_cluster):
    cluster = await make_cluster(2, config=P2PConfig(outbound_queue=4, backoff_max=0.2))
    await cluster.wait_full_mesh()
    a, b = cluster.nodes
    accepted = [a.manager.send_raft(b.id, [i]) for i in range(1000)]  # no await: nothing drains
    assert accepted.count(True) == 4
    assert a.manager.stats().dropped_queue_full == 996
    await until("queued frames delivered", lambda: len(b.raft) == 4)
    assert a.manager.send_raft(b.id, ["room again"])


async def test_send_to_an_unknown_peer_reports_false(make_cluster):
    cluster = await make_cluster(1)
    assert cluster.nodes[0].manager.send_raft("ab" * 32, ["x"]) is False


# --- fault filter ------------------------------------------------------------------------------


async def test_partition_drops_frames_both_ways_until_healed(make_cluster):
    cluster = await make_cluster(3, devnet=True)
    await cluster.wait_full_mesh()
    a, b, c = cluster.nodes
    a.manager.faults.partition([c.id])  # only a is told; c keeps sending
    a.manager.send_raft(c.id, ["a->c lost"])
    c.manager.send_raft(a.id, ["c->a lost"])
    a.manager.send_raft(b.id, ["a->b fine"])
    await until("unpartitioned delivery", lambda: raft_payloads(b) == [["a->b fine"]])
    a.manager.faults.heal()
    a.manager.send_raft(c.id, ["a->c marker"])
    c.manager.send_raft(a.id, ["c->a marker"])
    await until("markers after heal", lambda: raft_payloads(c) and raft_payloads(a))
    assert raft_payloads(c) == [["a->c marker"]]
    assert raft_payloads(a) == [["c->a marker"]]
    assert a.manager.stats().dropped_by_faults == 2


async def test_lossy_drops_a_seeded_fraction(make_cluster):
    cluster = await make_cluster(2, devnet=True)
    await cluster.wait_full_mesh()
    a, b = cluster.nodes
    a.manager.faults.lossy([b.id], 0.5)
    for i in range(200):  # fits the outbound queue: every loss is the filter's
        assert a.manager.send_raft(b.id, [i])
    a.manager.faults.heal()
    a.manager.send_raft(b.id, ["marker"])
    await until("marker", lambda: raft_payloads(b)[-1:] == [["marker"]])
    delivered = len(b.raft) - 1
    assert 60 < delivered < 140
    assert a.manager.stats().dropped_by_faults == 200 - delivered


async def test_fault_filter_is_unavailable_outside_devnet(make_cluster):
    cluster = await make_cluster(1)
    with pytest.raises(FaultFilterDisabled):
        cluster.nodes[0].manager.faults.partition(["ab" * 32])


# --- request / response ------------------------------------------------------------------------


async def serve_blocks(peer_id: str, payload):
    if payload[0] == "block":
        return [b"block-%d" % payload[1]]
    raise KeyError(payload[0])


async def test_request_gets_the_peers_response(make_cluster):
    cluster = await make_cluster(2, on_request=serve_blocks)
    await cluster.wait_full_mesh()
    a, b = cluster.nodes
    assert await a.manager.request(b.id, ["block", 7]) == [b"block-7"]
    with pytest.raises(RequestFailed, match="ERROR: KeyError"):
        await a.manager.request(b.id, ["nonsense"])


async def test_request_to_a_peer_without_a_handler_fails_fast(make_cluster):
    cluster = await make_cluster(2)
    await cluster.wait_full_mesh()
    a, b = cluster.nodes
    with pytest.raises(RequestFailed, match="UNSUPPORTED"):
        await a.manager.request(b.id, ["block", 1], timeout=2.0)
    with pytest.raises(RequestFailed, match="not connected"):
        await a.manager.request("cd" * 32, ["block", 1])


async def test_disconnect_ends_an_inbound_link_and_a_revoked_key_stays_out(make_cluster, node_id_for):
    """A key whose license is revoked holds a link it dialed to us (we never dial it): our
    disconnect ends that inbound link, and its redials are refused at the handshake."""
    cluster = await make_cluster(2, start=False, config=P2PConfig(backoff_max=0.2))
    a, b = cluster.nodes
    await cluster.start_node(0, peers={})  # a dials no one: b's link to it is inbound only
    await cluster.start_node(1)
    await until("b dials a", lambda: a.manager.connected_peers() == [b.id])
    assert a.manager.connections()[0].outbound is False
    refused = a.manager.stats().handshakes_refused
    cluster.licensed.discard(node_id_for(1))
    await a.manager.disconnect(b.id)
    await until("b redials and is refused", lambda: a.manager.stats().handshakes_refused > refused)
    assert a.manager.connected_peers() == []


async def test_txs_wait_for_verify_ahead_in_frame_order_and_a_failing_one_still_delivers(
    make_cluster,
):
    """With verify_ahead (the node's signature checks off the loop), a TXS frame reaches on_txs
    only once verify_ahead is done with it; a peer's later frames wait behind it, so they keep
    their order; and a verify_ahead that fails costs nothing but its work: the txs arrive."""
    handed: list[list[bytes]] = []
    gate = asyncio.Event()

    async def ahead(txs: list[bytes]) -> None:
        handed.append(list(txs))
        if txs == [b"boom"]:
            raise RuntimeError("the worker died")
        await gate.wait()

    cluster = await make_cluster(2, verify_ahead=ahead)
    await cluster.wait_full_mesh()
    a, b = cluster.nodes
    a.manager.broadcast_txs([b"tx-1"])
    await until("tx-1 handed to verify_ahead", lambda: handed == [[b"tx-1"]])
    assert b.all_txs() == []  # held until verify_ahead is done
    a.manager.broadcast_txs([b"tx-2"])
    assert a.manager.send_raft(b.id, [1, "marker"])
    gate.set()
    await until("both delivered", lambda: b.all_txs() == [b"tx-1", b"tx-2"] and b.raft)
    assert handed == [[b"tx-1"], [b"tx-2"]]
    a.manager.broadcast_txs([b"boom"])
    await until("delivered despite the failure", lambda: b.all_txs()[-1:] == [b"boom"])
