"""Handing our pool to the leader.

Gossip pushes each transaction once. What reached our pool while the leader was unreachable
(or before it became leader) would wait there forever, so a new or reconnected leader gets
the whole pool, in batches of MAX_FORWARD_TXS, by ForwardTxs requests. The leader's pool
refuses what it already holds, so forwarding twice is harmless.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from node.server.peer_rpc import MAX_FORWARD_TXS, BadPeerAnswer
from p2p import RequestFailed

log = logging.getLogger("lichen.node")


class TxForwarder(Protocol):
    async def forward_txs(self, peer: str, txs: list[bytes]) -> int: ...


def batches(raws: Sequence[bytes], size: int = MAX_FORWARD_TXS) -> list[list[bytes]]:
    return [list(raws[i:i + size]) for i in range(0, len(raws), size)]


class PoolForwarder:
    def __init__(self, node_id: str, peers: TxForwarder):
        self.node_id = node_id
        self.peers = peers
        self._sends: set[asyncio.Task] = set()

    def to_leader(self, leader: str | None, raws: Sequence[bytes]) -> int:
        """Start sending `raws` to `leader` (unless we lead, or none is known); returns the
        number of requests started. Failures are logged, never raised: Raft goes on."""
        if leader is None or leader == self.node_id or not raws:
            return 0
        loop = asyncio.get_running_loop()
        parts = batches(raws)
        for part in parts:
            task = loop.create_task(self._send(leader, part))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        return len(parts)

    async def _send(self, peer: str, raws: list[bytes]) -> None:
        try:
            await self.peers.forward_txs(peer, raws)
        except (RequestFailed, BadPeerAnswer) as exc:
            log.info("forwarding %d pooled txs to %s failed: %s", len(raws), peer[:12], exc)

    async def close(self) -> None:
        """Stop the sends still under way."""
        for task in list(self._sends):
            task.cancel()
        await asyncio.gather(*self._sends, return_exceptions=True)

    def in_flight(self) -> int:
        return len(self._sends)
