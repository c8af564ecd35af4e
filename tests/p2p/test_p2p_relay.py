"""A man in the middle between two PeerManagers: the attacks a plaintext link cannot stop.

Node a dials node b through a Relay on the memory network (a's peer table lists b at the
relay's address; b lists no one, so the only link between them runs through the relay). The
relay forwards both handshakes untouched, as a passive proxy or a compromised router would,
then attacks the frames after them. Every attack must end the link with its reason logged,
and nothing the relay made up or moved must reach b's callbacks. The relay tampers with its
first session only; a redials through it and the next, honest, session works again.
"""

from __future__ import annotations

import logging
import os

import pytest

from p2p import ChannelFault, Raft, Refusal, Txs, encode

from ..helpers import until
from .conftest import CHAIN_ID, Cluster, Node
from .mitm import Relay, Session, Splicer, after_handshake

RELAY = "mem://relay"


async def relayed(make_cluster) -> tuple[Cluster, Relay, Node, Node]:
    cluster = await make_cluster(2, start=False)
    relay = Relay(cluster.network, RELAY, cluster.nodes[1].address)
    b = await cluster.start_node(1, peers={})
    a = await cluster.start_node(0, peers={b.id: RELAY})
    await until("a and b linked through the relay", lambda: a.manager.connected_peers() == [b.id])
    await until("b adopts the link", lambda: b.manager.connected_peers() == [a.id])
    return cluster, relay, a, b


def raft_from(node: Node, peer_id: str) -> list[list]:
    return [payload for sender, payload in node.raft if sender == peer_id]


async def link_broken(b: Node, a: Node, caplog, reason: ChannelFault) -> None:
    """b dropped the link to a, and said why."""
    await until("b drops the tampered link", lambda: ("down", a.id) in b.events)
    assert b.manager.stats().links_broken == 1
    assert any(
        r.name == "lichen.p2p" and r.levelno == logging.WARNING and reason.value in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


async def recovers(a: Node, b: Node) -> None:
    """After the attack a redials through the (now honest) relay, and frames flow again."""
    await until("both ends linked again", lambda: b.manager.connected_peers() == [a.id]
                and a.manager.connected_peers() == [b.id])
    await until("a can send", lambda: a.manager.send_raft(b.id, ["after the attack"]))
    await until("delivery after the attack", lambda: ["after the attack"] in raft_from(b, a.id))


@pytest.fixture(autouse=True)
def _warnings(caplog):
    caplog.set_level(logging.WARNING, logger="lichen.p2p")


# --- active attacks on the frames after the handshake ---------------------------------------------


async def test_a_relay_that_alters_one_byte_of_a_frame_ends_the_link_and_delivers_nothing(make_cluster, caplog):
    """Attack: change a frame in flight (a vote, an amount in a block) by flipping one byte."""
    cluster, relay, a, b = await relayed(make_cluster)
    relay.rule = after_handshake("a->b", lambda s, n, data: [data[:-1] + bytes([data[-1] ^ 1])] if n == 0 else [data])
    assert a.manager.send_raft(b.id, ["vote", "granted", 7])
    await link_broken(b, a, caplog, ChannelFault.UNAUTHENTIC)
    assert raft_from(b, a.id) == []
    await recovers(a, b)


@pytest.mark.parametrize("kind", ["raft", "txs"])
async def test_a_relay_that_injects_a_frame_of_its_own_ends_the_link_and_delivers_nothing(make_cluster, caplog, kind):
    """Attack: speak in a's name on a's authenticated link (a forged vote, or a flood of txs)."""
    cluster, relay, a, b = await relayed(make_cluster)
    frame = Raft(["append", "term", 999]) if kind == "raft" else Txs([b"tx forged by the relay"])
    await relay.sessions[0].inject("a->b", encode(frame))
    await link_broken(b, a, caplog, ChannelFault.UNAUTHENTIC)
    assert b.raft == [] and b.txs == []
    await recovers(a, b)


async def test_a_relay_that_replays_a_frame_ends_the_link_and_delivers_it_once(make_cluster, caplog):
    """Attack: deliver a genuine frame twice (a transfer gossiped again, a vote counted twice)."""
    cluster, relay, a, b = await relayed(make_cluster)
    relay.rule = after_handshake("a->b", lambda s, n, data: [data, data] if n == 0 else [data])
    assert a.manager.send_raft(b.id, ["pay", 100])
    await link_broken(b, a, caplog, ChannelFault.UNAUTHENTIC)
    assert raft_from(b, a.id) == [["pay", 100]]


async def test_a_frame_recorded_on_an_earlier_link_is_refused_on_the_next(make_cluster, caplog):
    """Attack: record a frame on one connection and replay it on a later one."""
    cluster, relay, a, b = await relayed(make_cluster)
    assert a.manager.send_raft(b.id, ["pay", 100])
    await until("the genuine frame", lambda: raft_from(b, a.id) == [["pay", 100]])
    recorded = [data for where, data in relay.sessions[0].seen if where == "a->b"][-1]
    await b.manager.disconnect(a.id)
    await until("a new link", lambda: len(relay.sessions) == 2 and b.manager.connected_peers() == [a.id])
    await relay.sessions[1].inject("a->b", recorded)
    await until("b refuses the replay", lambda: b.manager.stats().links_broken == 1)
    assert raft_from(b, a.id) == [["pay", 100]]  # still once
    assert any(ChannelFault.UNAUTHENTIC.value in r.getMessage() for r in caplog.records)


async def test_a_relay_that_reorders_two_frames_ends_the_link_and_delivers_neither(make_cluster, caplog):
    """Attack: swap two frames (an append before the one it extends, a revoke after its use)."""

    def swap(session: Session, n: int, data: bytes) -> list[bytes]:
        if n == 0:
            session.held.append(data)
            return []
        return [data, *session.held] if n == 1 else [data]

    cluster, relay, a, b = await relayed(make_cluster)
    relay.rule = after_handshake("a->b", swap)
    assert a.manager.send_raft(b.id, ["first"]) and a.manager.send_raft(b.id, ["second"])
    await link_broken(b, a, caplog, ChannelFault.UNAUTHENTIC)
    assert raft_from(b, a.id) == []
    await recovers(a, b)


@pytest.mark.parametrize(
    ("keep", "reason"),
    [(lambda data: data[: len(data) // 2], ChannelFault.UNAUTHENTIC), (lambda data: data[:5], ChannelFault.TRUNCATED)],
    ids=["half", "shorter-than-a-tag"],
)
async def test_a_relay_that_truncates_a_frame_ends_the_link_and_delivers_nothing(make_cluster, caplog, keep, reason):
    """Attack: cut a frame short (a batch of txs missing its tail)."""
    cluster, relay, a, b = await relayed(make_cluster)
    relay.rule = after_handshake("a->b", lambda s, n, data: [keep(data)] if n == 0 else [data])
    assert a.manager.send_raft(b.id, ["entries", "x" * 200])
    await link_broken(b, a, caplog, reason)
    assert raft_from(b, a.id) == []
    await recovers(a, b)


async def test_a_relay_that_drops_one_frame_ends_the_link_at_the_next(make_cluster, caplog):
    """Attack: suppress one frame silently (a revocation, a commit) and pass the rest."""
    cluster, relay, a, b = await relayed(make_cluster)
    relay.rule = after_handshake("a->b", lambda s, n, data: [] if n == 0 else [data])
    assert a.manager.send_raft(b.id, ["suppressed"]) and a.manager.send_raft(b.id, ["next"])
    await link_broken(b, a, caplog, ChannelFault.UNAUTHENTIC)
    assert raft_from(b, a.id) == []


async def test_a_relay_that_reflects_a_nodes_own_frame_back_ends_the_link(make_cluster, caplog):
    """Attack: bounce a's frame back to a, as if b had said it (each direction has its own key)."""
    cluster, relay, a, b = await relayed(make_cluster)
    assert a.manager.send_raft(b.id, ["vote", "granted"])
    await until("the genuine frame", lambda: raft_from(b, a.id) == [["vote", "granted"]])
    sent_by_a = [data for where, data in relay.sessions[0].seen if where == "a->b"][-1]
    await relay.sessions[0].inject("b->a", sent_by_a)
    await until("a drops the link", lambda: ("down", b.id) in a.events)
    assert a.raft == []
    assert a.manager.stats().links_broken == 1


# --- passive and key-exchange attacks ------------------------------------------------------------------


async def test_a_passive_relay_reads_no_plaintext(make_cluster):
    """Attack: a proxy that only listens. A unique marker in a gossiped tx and in a Raft message
    reaches b, and appears in none of the bytes the relay saw."""
    cluster, relay, a, b = await relayed(make_cluster)
    marker = b"marker-" + os.urandom(8).hex().encode()
    a.manager.broadcast_txs([b"transfer " + marker])
    assert a.manager.send_raft(b.id, ["append", marker])
    assert b.manager.send_raft(a.id, ["append_resp", marker])
    await until("the tx reaches b", lambda: b"transfer " + marker in b.all_txs())
    await until("the raft message reaches b", lambda: ["append", marker] in raft_from(b, a.id))
    await until("the answer reaches a", lambda: ["append_resp", marker] in raft_from(a, b.id))
    seen = relay.bytes_seen()
    assert len(seen) >= 2 + 2 + 3  # both handshakes and the three frames passed through the relay
    assert not any(marker in data or marker.hex().encode() in data for data in seen)


async def test_a_relay_that_splices_two_handshakes_never_gets_a_link(make_cluster, caplog):
    """Attack: the relay runs its own key exchange with each side (its own ephemeral key in
    each HELLO) and re-seals each AUTH for the other side; it could then read and rewrite
    everything. Each AUTH signs a transcript the other side does not share: both refuse, and
    nothing a sends through the relay is ever handed to b."""
    cluster = await make_cluster(2, start=False)
    relay = Relay(cluster.network, RELAY, cluster.nodes[1].address)
    splicer = Splicer(CHAIN_ID)
    relay.rule = splicer.rule
    b = await cluster.start_node(1, peers={})
    a = await cluster.start_node(0, peers={b.id: RELAY})
    await until("the relay opened both AUTHs", lambda: len(splicer.opened_auths) == 2)
    await until("both sides refuse",
                lambda: a.manager.stats().handshakes_refused >= 1
                and b.manager.stats().handshakes_refused >= 1)
    assert a.manager.connected_peers() == [] and b.manager.connected_peers() == []
    assert a.events == [] and b.events == []
    assert any(f"handshake refused: {Refusal.BAD_SIGNATURE.value}" in r.getMessage() for r in caplog.records)
