"""Block production on the leader: when to cut a block from the pool, and what it builds on.

A block is cut when the pool holds a full block's worth, or when `interval_ms` has passed since
the last cut with transactions waiting. An empty block is cut only when the ledger has timed
work due by now (`due_at`: an FX offer to expire, a loan's collection turn;
node.ledger.execution.next_timed_work) and nothing is in flight, so an idle chain still
releases expired locks and collects instalments on time. Blocks are chained on the tip
of the last proposed block, so up to `max_inflight` blocks are in Raft at once; each cut skips
the transactions already proposed. When proposals may have been lost (a leader change, a
skipped entry) everything restarts from the executed tip.

The producer does not talk to Raft: the daemon asks it for a `Cut`, proposes the block, and
reports the proposal back (`proposed`) only once Raft took it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.ledger.crypto import Signer
from node.ledger.execution import ChainTip, build_block
from node.ledger.mempool import Mempool
from node.ledger.types import Block
from node.server.clock import Clock, now_ms
from node.server.config import NodeConfig


@dataclass(frozen=True)
class ProducerLimits:
    max_txs: int  # a block of this many is cut at once
    max_bytes: int
    interval_ms: int  # a partial block waits at most this long
    max_inflight: int  # blocks proposed and not yet executed

    @classmethod
    def of(cls, config: NodeConfig) -> ProducerLimits:
        return cls(config.block_max_txs, config.block_max_bytes, config.block_interval_ms,
                   config.max_inflight_blocks)


@dataclass(frozen=True)
class Cut:
    """A block ready to propose, and the hashes of its transactions."""
    block: Block
    tx_hashes: list[bytes]


class BlockProducer:
    def __init__(self, key: Signer, pool: Mempool, limits: ProducerLimits, clock: Clock,
                 tip: ChainTip, due_at: Callable[[], int | None] = lambda: None):
        self.key = key
        self.due_at = due_at  # when the executed state next has timed work; None: never
        self.pool = pool
        self.limits = limits
        self.clock = clock
        self.proposed: set[bytes] = set()  # tx hashes in proposed, not yet executed blocks
        self.tip = tip  # what the next block builds on: the last proposed block
        self.inflight = 0
        self._last_cut = clock.monotonic()

    def cut(self, term: int, log_applied: bool) -> Cut | None:
        """The next block if one is due, else None. `log_applied`: everything in our Raft log
        is applied (a new leader first applies what its log holds, its no-op included)."""
        if self.inflight >= self.limits.max_inflight:
            return None
        if self.inflight == 0 and not log_applied:
            return None
        txs = self.pool.take(self.limits.max_txs, self.limits.max_bytes, self.proposed)
        due = (self.clock.monotonic() - self._last_cut) * 1000 >= self.limits.interval_ms
        if not txs and not (due and self.timed_work_due()):
            return None
        if txs and len(txs) < self.limits.max_txs and not due:
            return None
        hashes = [t.hash for t in txs]
        block = build_block(self.tip, [t.raw for t in txs], hashes, now_ms(self.clock), self.key, term)
        return Cut(block, hashes)

    def timed_work_due(self) -> bool:
        """An empty block would do work: nothing in flight (the executed state is the whole
        story) and its timed work is due by now."""
        at = self.due_at() if self.inflight == 0 else None
        return at is not None and at <= now_ms(self.clock)

    def proposed_cut(self, cut: Cut) -> None:
        """Raft took the block: chain the next one on it."""
        h = cut.block.header
        self._last_cut = self.clock.monotonic()
        self.proposed.update(cut.tx_hashes)
        self.tip = ChainTip(h.height, cut.block.hash, h.timestamp, b"")
        self.inflight += 1

    def executed(self, tip: ChainTip, tx_hashes: list[bytes]) -> None:
        """A block was executed (ours or not): its transactions are no longer in flight."""
        self.inflight = max(0, self.inflight - 1)
        if self.tip.height < tip.height:
            self.tip = tip
        self.proposed.difference_update(tx_hashes)

    def restart(self, tip: ChainTip) -> None:
        """Build on the executed tip again and offer every pooled tx again: what we proposed may
        be lost (leader change) or void (skipped)."""
        self.proposed.clear()
        self.tip = tip
        self.inflight = 0
