"""node.server.forwarding: a new or reconnected leader gets our pool, in batches."""
from __future__ import annotations

import asyncio
import logging

from node.server.forwarding import PoolForwarder, batches
from node.server.peer_rpc import MAX_FORWARD_TXS
from p2p import RequestFailed

ME, LEADER = "aa" * 32, "bb" * 32


class Peers:
    def __init__(self, fail: bool = False, hold: bool = False):
        self.sent: list[tuple[str, list[bytes]]] = []
        self.fail, self.hold = fail, hold
        self.release = asyncio.Event()

    async def forward_txs(self, peer, txs):
        self.sent.append((peer, txs))
        if self.hold:
            await self.release.wait()
        if self.fail:
            raise RequestFailed("outbound queue full")
        return len(txs)


def test_batches_are_at_most_the_request_limit_in_order():
    raws = [b"%d" % i for i in range(2 * MAX_FORWARD_TXS + 1)]
    parts = batches(raws)
    assert [len(p) for p in parts] == [MAX_FORWARD_TXS, MAX_FORWARD_TXS, 1]
    assert sum(parts, []) == raws


async def test_nothing_is_sent_without_a_leader_to_ourselves_or_when_the_pool_is_empty():
    peers = Peers()
    forwarder = PoolForwarder(ME, peers)
    assert forwarder.to_leader(None, [b"t"]) == 0
    assert forwarder.to_leader(ME, [b"t"]) == 0
    assert forwarder.to_leader(LEADER, []) == 0
    await asyncio.sleep(0)
    assert peers.sent == []


async def test_the_pool_goes_to_the_leader_batch_by_batch():
    peers = Peers()
    forwarder = PoolForwarder(ME, peers)
    raws = [b"%d" % i for i in range(MAX_FORWARD_TXS + 5)]
    assert forwarder.to_leader(LEADER, raws) == 2
    while forwarder.in_flight():
        await asyncio.sleep(0)
    assert [(p, len(txs)) for p, txs in peers.sent] == [(LEADER, MAX_FORWARD_TXS), (LEADER, 5)]


async def test_sends_complete_and_a_failed_one_is_logged_not_raised(caplog):
    caplog.set_level(logging.INFO, logger="lichen")
    for fail in (False, True):
        peers = Peers(fail=fail)
        forwarder = PoolForwarder(ME, peers)
        forwarder.to_leader(LEADER, [b"t1", b"t2"])
        while forwarder.in_flight():
            await asyncio.sleep(0)
        assert peers.sent == [(LEADER, [b"t1", b"t2"])]
    assert any("forwarding 2 pooled txs" in r.getMessage() for r in caplog.records)


async def test_closing_stops_the_sends_still_under_way():
    peers = Peers(hold=True)
    forwarder = PoolForwarder(ME, peers)
    forwarder.to_leader(LEADER, [b"t"])
    await asyncio.sleep(0)
    assert forwarder.in_flight() == 1
    await forwarder.close()
    assert forwarder.in_flight() == 0
