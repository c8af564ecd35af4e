"""The peer layer's misbehaviour disconnects are in /metrics, by reason code.

Attack modelled: a licensed peer packs more items into one TXS frame than max_txs_per_frame
(the node would admit them synchronously on its consensus loop). The node disconnects it and
backs it off (p2p.PeerManager); the operator sees it as
lichen_peer_misbehaving_disconnected_total{reason="TOO_MANY_TXS_IN_FRAME"}."""
from __future__ import annotations

from p2p import Misbehaviour, P2PConfig, SealedTransport, Txs, encode

from ..harness import TestNetwork, address_of, metric
from ..helpers import shake_hands

METRIC = "lichen_peer_misbehaving_disconnected_total"


async def authenticated(net: TestNetwork, as_name: str, i: int) -> SealedTransport:
    """Dial node i by hand with `as_name`'s key and finish the handshake."""
    transport = await net.memory.dial(address_of(i))
    return SealedTransport(transport, await shake_hands(transport, net.chain_id, net.keys[as_name]))


async def test_a_peer_over_the_txs_item_cap_is_counted_by_reason(tmp_path):
    net = TestNetwork(tmp_path)
    try:
        node = await net.start(0)  # inst2 is a licensed validator whose node the test plays
        assert metric(node, METRIC, reason=Misbehaviour.TOO_MANY_TXS_IN_FRAME) == 0
        peer = await authenticated(net, "inst2", 0)
        await net.until("the node adopted the peer",
                        lambda: node.node_status().peers == (net.id_of(2),))
        over = P2PConfig().max_txs_per_frame + 1
        await peer.send(encode(Txs([b"tx%d" % i for i in range(over)])))
        await net.until("the node hung up", lambda: node.node_status().peers == ())
        assert metric(node, METRIC, reason=Misbehaviour.TOO_MANY_TXS_IN_FRAME) == 1
        assert node.node_status().mempool_size == 0
    finally:
        await net.close()
