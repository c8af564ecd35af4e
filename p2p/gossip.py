"""Transaction gossip, as a protocol object: push to peers, de-duplicated by hash, batched per peer.

Rules:
- A tx is identified by sha256 of its raw bytes (the same bytes as its ledger id).
- The seen-cache remembers the hashes this node has admitted or announced (LRU, bounded), so a
  tx circulating the mesh is handed to the node once and forwarded at most once per peer.
- A tx from a peer goes to the node's `on_txs` only if unseen; only the ones the node admits are
  forwarded, and never back to the peer they came from. A rejected tx is forgotten again, so it
  can be admitted later if it becomes valid (e.g. its predecessor nonce arrives) and is never
  forwarded meanwhile.
- Outgoing txs wait in a per-peer batch, sent as one TXS frame when it reaches `batch_size` txs
  or `batch_bytes`, or when the owner calls `flush()` (the PeerManager does every few ms).
- If a peer's connection cannot take more (`send_txs` returns False), its batch waits, up to
  `max_pending` txs; beyond that new txs for that peer are dropped and counted.

No clock, no sockets: the owner drives `flush()` and supplies `send_txs`.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("lichen.p2p")

SendTxs = Callable[[str, list[bytes]], bool]
"""(peer_id, txs) -> True if handed to the peer's connection, False if it has no room now."""

OnTxs = Callable[[str, list[bytes]], list[bool]]
"""(peer_id, new txs) -> one verdict per tx, True = admitted to the mempool."""


def tx_hash(tx: bytes) -> bytes:
    return hashlib.sha256(tx).digest()


class SeenCache:
    """A bounded set of tx hashes; the least recently seen hash is evicted first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._hashes: OrderedDict[bytes, None] = OrderedDict()

    def add(self, h: bytes) -> bool:
        """Remember `h`; True if it was new, False if already seen (which refreshes it)."""
        if h in self._hashes:
            self._hashes.move_to_end(h)
            return False
        self._hashes[h] = None
        if len(self._hashes) > self._capacity:
            self._hashes.popitem(last=False)
        return True

    def discard(self, h: bytes) -> None:
        self._hashes.pop(h, None)

    def __contains__(self, h: object) -> bool:
        return h in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)


@dataclass
class GossipStats:
    received: int = 0  # txs arriving from peers
    duplicates: int = 0  # of those, already seen
    admitted: int = 0  # of the new ones, admitted by the node
    rejected: int = 0  # of the new ones, rejected by the node
    announced: int = 0  # local txs newly announced
    sent: int = 0  # tx copies handed to peer connections
    dropped_backlog: int = 0  # tx copies dropped because a peer's backlog was full
    dropped_too_large: int = 0  # txs too large to ever fit a frame


@dataclass
class _Batch:
    txs: list[bytes]
    size: int = 0  # total bytes of txs


class Gossip:
    def __init__(
        self,
        *,
        send_txs: SendTxs,
        on_txs: OnTxs,
        seen_capacity: int = 100_000,
        batch_size: int = 512,
        batch_bytes: int = 1024 * 1024,
        max_pending: int = 50_000,
    ) -> None:
        """batch_bytes also bounds a single tx: one larger than that is never gossiped."""
        if max_pending < batch_size:
            raise ValueError("max_pending must hold at least one full batch")
        self._send_txs = send_txs
        self._on_txs = on_txs
        self._seen = SeenCache(seen_capacity)
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._max_pending = max_pending
        self._batches: dict[str, _Batch] = {}
        self.stats = GossipStats()

    # --- peers ---------------------------------------------------------------------------------

    def peer_up(self, peer_id: str) -> None:
        self._batches.setdefault(peer_id, _Batch([]))

    def peer_down(self, peer_id: str) -> None:
        """Forget the peer and the txs still waiting for it."""
        self._batches.pop(peer_id, None)

    @property
    def peers(self) -> frozenset[str]:
        return frozenset(self._batches)

    def seen(self, tx: bytes) -> bool:
        return tx_hash(tx) in self._seen

    @property
    def seen_count(self) -> int:
        return len(self._seen)

    @property
    def has_pending(self) -> bool:
        return any(batch.txs for batch in self._batches.values())

    # --- events --------------------------------------------------------------------------------

    def announce_local(self, txs: Iterable[bytes]) -> int:
        """Push txs the node admitted from its own clients to every peer; returns how many were new."""
        fresh = [tx for tx in txs if self._seen.add(tx_hash(tx))]
        self.stats.announced += len(fresh)
        for peer_id in self._batches:
            self._enqueue(peer_id, fresh)
        return len(fresh)

    def receive(self, sender: str, txs: list[bytes]) -> None:
        """A TXS frame arrived from `sender` (already authenticated by the connection)."""
        self.stats.received += len(txs)
        fresh = self._unseen(txs)
        self.stats.duplicates += len(txs) - len(fresh)
        if not fresh:
            return
        admitted = self._admit(sender, fresh)
        for peer_id in self._batches:
            if peer_id != sender:
                self._enqueue(peer_id, admitted)

    def flush(self) -> None:
        """Send every waiting batch now (the owner's short timer)."""
        for peer_id in list(self._batches):
            self._drain(peer_id, only_full=False)

    # --- rules ---------------------------------------------------------------------------------

    def _unseen(self, txs: list[bytes]) -> list[tuple[bytes, bytes]]:
        """(hash, tx) of the txs not seen before, marking them seen (also de-dups within txs)."""
        fresh = []
        for tx in txs:
            h = tx_hash(tx)
            if self._seen.add(h):
                fresh.append((h, tx))
        return fresh

    def _admit(self, sender: str, fresh: list[tuple[bytes, bytes]]) -> list[bytes]:
        """Ask the node about new txs; return the admitted ones and forget the rejected ones."""
        try:
            verdicts = self._on_txs(sender, [tx for _, tx in fresh])
            if len(verdicts) != len(fresh):
                raise ValueError(f"on_txs returned {len(verdicts)} verdicts for {len(fresh)} txs")
        except BaseException:
            for h, _ in fresh:  # not processed: let them in again next time
                self._seen.discard(h)
            raise
        admitted = []
        for (h, tx), ok in zip(fresh, verdicts, strict=True):
            if ok:
                admitted.append(tx)
            else:
                self._seen.discard(h)
        self.stats.admitted += len(admitted)
        self.stats.rejected += len(fresh) - len(admitted)
        return admitted

    def _enqueue(self, peer_id: str, txs: list[bytes]) -> None:
        if not txs:
            return
        batch = self._batches[peer_id]
        for tx in txs:
            if len(tx) > self._batch_bytes:
                self.stats.dropped_too_large += 1
                log.warning("not gossiping a %d-byte tx: larger than a batch", len(tx))
            elif len(batch.txs) >= self._max_pending and not self._drained_some(peer_id, batch):
                self.stats.dropped_backlog += 1
            else:
                batch.txs.append(tx)
                batch.size += len(tx)
        self._drain(peer_id, only_full=True)

    def _drain(self, peer_id: str, *, only_full: bool) -> None:
        """Hand the peer's waiting txs to its connection in frame-sized chunks, oldest first."""
        batch = self._batches[peer_id]
        while batch.txs:
            if only_full and not self._has_full_chunk(batch):
                return  # a partial batch waits for more txs or the owner's flush()
            count, size = self._next_chunk(batch)
            if not self._send_txs(peer_id, batch.txs[:count]):
                return  # connection is full: keep the batch for the next flush
            del batch.txs[:count]
            batch.size -= size
            self.stats.sent += count

    def _drained_some(self, peer_id: str, batch: _Batch) -> bool:
        """At the backlog bound, try the connection once more before dropping a tx."""
        before = len(batch.txs)
        self._drain(peer_id, only_full=True)
        return len(batch.txs) < before

    def _has_full_chunk(self, batch: _Batch) -> bool:
        return len(batch.txs) >= self._batch_size or batch.size > self._batch_bytes

    def _next_chunk(self, batch: _Batch) -> tuple[int, int]:
        """How many of the oldest txs fit one frame (at least one), and their total size."""
        count = size = 0
        for tx in batch.txs:
            if count == self._batch_size or (count and size + len(tx) > self._batch_bytes):
                break
            count += 1
            size += len(tx)
        return count, size
