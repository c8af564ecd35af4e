"""The Raft log as the consensus core reads it: `consensus.Storage` over the node's LevelDB.

`LevelDBStorage` reads and writes the keys node.store.db already holds (the on-disk format is
Store's, unchanged):

    L + index            -> an Entry, msgpack [index, term, type, data]
    m hard_state         -> HardState [term, vote, commit]
    m raft_compacted     -> [index, term] of the compaction point (absent: (0, 0))
    m raft_conf          -> ConfState [voters, learners], written by Store.skip_entry together
                            with the applied index of the entry that changed it

Reads go to LevelDB. What the core asks for constantly stays in memory: the compaction point,
the last index and the term of every entry held (one small int each), and the last few entries
themselves, because the leader sends, and every node applies, what it has just persisted.

The daemon writes through this object, so that memory never disagrees with the disk:

    persist(hard_state, entries, sync)   a Ready's step 1: ONE batch, a conflicting suffix cut
    compact(index)                       drop applied entries up to index, keep its term
    apply_snapshot(index, term)          a catch-up completed: the log restarts after index

One write bypasses it on purpose. A catch-up stores each fetched block with
`Store.write_block(..., restart_log=True)`, which restarts the log on disk in the block's own
batch, so that a crash never leaves the applied index ahead of the log (a reopened storage
starts there). The running core must not see those intermediate restarts: its unstable entries
still continue the old log until it is told `snapshot_installed`. So the view moves at
`apply_snapshot`, when the catch-up completes, as the MemoryStorage mirror did; meanwhile terms
still answer from memory, and the core reads no entries while it installs.
"""
from __future__ import annotations

import msgpack

from consensus import CompactedError, ConfState, Entry, HardState, UnavailableError
from node.ledger.codec import pack
from node.store.db import Store, StoreError

CACHE_ENTRIES = 64  # recent entries kept decoded: the leader's pipeline and the apply step
# ... and at most this much entry data (one entry always fits): a follower a few blocks behind
# is served from here, one further behind from LevelDB (16 MB was ~15 % of a node's heap)
CACHE_BYTES = 8 * 1024 * 1024


class LevelDBStorage:
    """consensus.Storage over a Store. Read-only for the core; the daemon writes through it."""

    def __init__(self, store: Store, cache_entries: int = CACHE_ENTRIES,
                 cache_bytes: int = CACHE_BYTES):
        self.store = store
        self._cache_entries, self._cache_bytes = cache_entries, cache_bytes
        self._snap_index, self._snap_term = store.raft_compacted()
        self._terms: list[int] = []  # self._terms[i] is the term of entry snap_index + 1 + i
        self._recent: list[Entry] = []  # the entries (last_index - len + 1 .. last_index]
        for entry in self._read(self._snap_index + 1, None):
            if entry.index != self.last_index() + 1:
                raise StoreError(
                    f"the Raft log on disk has a gap: entry {entry.index} follows "
                    f"{self.last_index()}; `lichen node resync --config ... --yes` rebuilds it")
            self._terms.append(entry.term)

    # -- the read-only protocol -----------------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        raw_hard, raw_conf = self.store.hard_state(), self.store.raft_conf()
        hard = HardState.from_wire(raw_hard) if raw_hard is not None else HardState()
        if hard.commit < self._snap_index:  # what is compacted was applied, so committed
            hard = HardState(hard.term, hard.vote, self._snap_index)
        return hard, ConfState.from_wire(raw_conf) if raw_conf is not None else ConfState()

    def entries(self, lo: int, hi: int) -> list[Entry]:
        if lo <= self._snap_index:
            raise CompactedError(f"entry {lo} is compacted (snapshot at {self._snap_index})")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"entries up to {hi - 1} requested, last is {self.last_index()}")
        if lo >= hi:
            return []
        cached = self._cached_from()
        if lo >= cached:
            return self._recent[lo - cached:hi - cached]
        stop = min(hi, cached)
        stored = self._read(lo, stop)
        if len(stored) != stop - lo:
            raise StoreError(f"the Raft log on disk lacks entries in [{lo}, {stop}): it was "
                             f"restarted or damaged outside this storage")
        return stored + self._recent[:max(0, hi - cached)]

    def term(self, index: int) -> int:
        if index < self._snap_index:
            raise CompactedError(f"entry {index} is compacted (snapshot at {self._snap_index})")
        if index == self._snap_index:
            return self._snap_term
        if index > self.last_index():
            raise UnavailableError(f"entry {index} is past the last index {self.last_index()}")
        return self._terms[index - self._snap_index - 1]

    def first_index(self) -> int:
        return self._snap_index + 1

    def last_index(self) -> int:
        return self._snap_index + len(self._terms)

    def snapshot_meta(self) -> tuple[int, int]:
        return self._snap_index, self._snap_term

    # -- writes by the daemon ---------------------------------------------------------------------
    def persist(self, hard_state: HardState | None, entries: list[Entry],
                sync: bool = True) -> None:
        """Hard state and entries in one batch (synced when `sync`), before any message that
        depends on them goes out. The entries replace any held from entries[0].index on (a
        leader overwrote them); entries already compacted are skipped; a gap is a ValueError."""
        if entries and entries[0].index > self.last_index() + 1:
            raise ValueError(f"append at {entries[0].index} leaves a gap after {self.last_index()}")
        kept = [e for e in entries if e.index > self._snap_index]
        if hard_state is None and not kept:
            return
        self.store.save_raft(hard_state.to_wire() if hard_state is not None else None,
                             [(e.index, pack(e.to_wire())) for e in kept], sync=sync)
        if kept:
            self._hold(kept)

    def compact(self, index: int) -> None:
        """Drop entries up to and including `index` (applied: their blocks are in the block
        store), keeping its term. Not synced: a crash only leaves more of the log."""
        if index <= self._snap_index:
            return
        if index > self.last_index():
            raise ValueError(f"cannot compact to {index}: last index is {self.last_index()}")
        term = self.term(index)
        self.store.compact_raft_log(index, term)
        cached = self._cached_from()
        del self._recent[:max(0, index - cached + 1)]
        del self._terms[:index - self._snap_index]
        self._snap_index, self._snap_term = index, term

    def apply_snapshot(self, index: int, term: int) -> None:
        """The application caught up to (index, term) out of band: the log restarts after it
        (synced). initial_state() then reports a commit of at least `index`."""
        if index < self._snap_index:
            raise ValueError(
                f"snapshot {index} is older than the compaction point {self._snap_index}")
        self.store.reset_raft_log(index, term)
        self._snap_index, self._snap_term = index, term
        self._terms, self._recent = [], []

    # -- inside -----------------------------------------------------------------------------------
    def _cached_from(self) -> int:
        """Index of the first cached entry (last_index + 1 when the cache is empty)."""
        return self.last_index() - len(self._recent) + 1

    def _hold(self, entries: list[Entry]) -> None:
        """Entries now on disk, from entries[0].index on: record their terms and cache them."""
        first = entries[0].index
        cached = self._cached_from()
        del self._recent[max(0, first - cached):]
        del self._terms[first - self._snap_index - 1:]
        self._terms.extend(e.term for e in entries)
        self._recent.extend(entries)
        size = sum(len(e.data) for e in self._recent)
        while len(self._recent) > self._cache_entries or (
                size > self._cache_bytes and len(self._recent) > 1):
            size -= len(self._recent.pop(0).data)

    def _read(self, lo: int, hi: int | None) -> list[Entry]:
        out = []
        for index, raw in self.store.raft_entries(lo, hi):
            entry = Entry.from_wire(msgpack.unpackb(raw))
            if entry.index != index:
                raise StoreError(f"the Raft log on disk is damaged: key {index} holds entry "
                                 f"{entry.index}")
            out.append(entry)
        return out
