"""The Raft log as the daemon drives it: the core reads it through `node.store.raftlog`'s
LevelDB Storage; the daemon writes through these few steps of its loop.
"""
from __future__ import annotations

from consensus import Ready
from node.store.db import Store
from node.store.raftlog import LevelDBStorage


class RaftLog:
    def __init__(self, store: Store):
        self.store = store
        self.storage = LevelDBStorage(store)

    def persist(self, rd: Ready) -> bool:
        """Hard state and new entries in one write, synced when the Ready says so (before any
        of its messages go out). True if a synced write was made."""
        if not rd.entries and rd.hard_state is None:
            return False
        self.storage.persist(rd.hard_state, rd.entries, sync=rd.must_sync)
        return rd.must_sync

    def compacted_index(self) -> int:
        """The last index dropped from the log (its block is in the block store)."""
        return self.storage.snapshot_meta()[0]

    def compact(self, applied: int, tail: int) -> None:
        """Keep only `tail` applied entries: older blocks live in the block store. Compacts in
        steps of `tail`, so the log is not rewritten after every block."""
        upto = applied - tail
        if upto > self.compacted_index() + tail:
            self.storage.compact(upto)

    def restart_after(self, index: int, term: int) -> None:
        """Caught up out of band to (index, term): the log restarts after index."""
        self.storage.apply_snapshot(index, term)
