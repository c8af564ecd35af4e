"""An idle node frees the txs it holds for a future nonce once they expire.

The pool expires held txs only when it is touched (an admission, a block). Attack modelled: a
flood of future-nonce txs from attested senders, then silence: with no traffic, nothing
touched the pool and the held txs, and the room they take, stayed for good. The daemon now
sweeps them on a cadence (mempool_held_sweep_s of the node's clock)."""
from __future__ import annotations

from node.server.service import TxState

from ..harness import TestNetwork, metric

TTL_S = 2


async def test_an_idle_node_drops_held_txs_past_their_ttl(tmp_path):
    net = TestNetwork(tmp_path, mempool_held_ttl_s=TTL_S, mempool_held_sweep_s=0.5)
    try:
        nodes = await net.start_all()
        await net.elect()
        ahead = net.transfer("alice", "bob", 1, nonce=5)  # nonces 0-4 never come
        net.submit(nodes[0], ahead)
        await net.until("the tx is held everywhere",
                        lambda: all(n.node_status().mempool_size == 1 for n in nodes))
        await net.advance(TTL_S * 1000 - 500)
        assert all(n.node_status().mempool_size == 1 for n in nodes)  # not yet: within its ttl

        await net.until("every node dropped it", lambda: all(
            n.node_status().mempool_size == 0 for n in nodes), within_ms=2000)
        status = nodes[0].tx_status(ahead.hash)
        assert status.status == TxState.FAILED and status.code == "BAD_NONCE", status
        assert all(metric(n, "lichen_dropped_txs_total", reason="BAD_NONCE") == 1 for n in nodes)
    finally:
        await net.close()
