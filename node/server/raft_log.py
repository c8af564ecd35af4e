"""The Raft log: durable in the store, read by the core through a MemoryStorage kept equal to it.

This is the one place that knows both copies (the daemon calls only these methods), so that a
Storage reading the store directly (node.store.raftlog) can replace the mirror here alone.
"""
from __future__ import annotations

import msgpack

from consensus import ConfState, Entry, HardState, MemoryStorage, Ready

from node.ledger.codec import pack
from node.store.db import Store


class RaftLogMirror:
    def __init__(self, store: Store):
        self.store = store
        self.storage = self._load()

    def _load(self) -> MemoryStorage:
        """The Raft log as persisted: hard state, compaction point, the entries after it."""
        hard = self.store.hard_state()
        conf = self.store.raft_conf()
        storage = MemoryStorage(HardState.from_wire(hard) if hard else HardState(),
                                ConfState.from_wire(conf) if conf else None)
        index, term = self.store.raft_compacted()
        if index:
            storage.apply_snapshot(index, term)
        storage.append([Entry.from_wire(msgpack.unpackb(raw))
                        for _, raw in self.store.raft_entries(index + 1)])
        return storage

    def persist(self, rd: Ready) -> bool:
        """Hard state and new entries in one write, synced when the Ready says so (before any
        of its messages go out). True if a synced write was made."""
        if not rd.entries and rd.hard_state is None:
            return False
        self.store.save_raft(rd.hard_state.to_wire() if rd.hard_state else None,
                             [(e.index, pack(e.to_wire())) for e in rd.entries],
                             sync=rd.must_sync)
        self.storage.append(rd.entries)
        if rd.hard_state is not None:
            self.storage.set_hard_state(rd.hard_state)
        return rd.must_sync

    def compacted_index(self) -> int:
        """The last index dropped from the log (its block is in the block store)."""
        return self.storage.snapshot_meta()[0]

    def compact(self, applied: int, tail: int) -> None:
        """Keep only `tail` applied entries: older blocks live in the block store. Compacts in
        steps of `tail`, so the log is not rewritten after every block."""
        upto = applied - tail
        if upto > self.compacted_index() + tail:
            term = self.storage.term(upto)
            self.store.compact_raft_log(upto, term)
            self.storage.compact(upto)

    def restart_after(self, index: int, term: int) -> None:
        """Caught up out of band to (index, term): the log restarts after index."""
        self.store.reset_raft_log(index, term)
        self.storage.apply_snapshot(index, term)

    def conf_changed(self, conf: ConfState) -> None:
        """The membership changed (the store keeps it with the applied index: Store.skip_entry)."""
        self.storage.set_conf_state(conf)
