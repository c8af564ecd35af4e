"""The durable log as the core sees it: a read-only `Storage` protocol, and `MemoryStorage`.

The application owns storage and writes to it (the entries and hard state of each Ready,
compaction behind the applied index, snapshot installs); the core only reads through the
protocol. Positions follow etcd: the log holds entries (snapshot_index, last_index], and
`term(snapshot_index)` is still answerable, because the entry after it needs its predecessor's
term for the consistency check.
"""
from __future__ import annotations

from typing import Protocol

from .errors import CompactedError, UnavailableError
from .types import ConfState, Entry, HardState


class Storage(Protocol):
    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and membership (an empty ConfState: use the Config's)."""

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries [lo, hi). CompactedError if lo <= snapshot index, UnavailableError past last."""

    def term(self, index: int) -> int:
        """Term of the entry at `index`; valid for snapshot index <= index <= last index."""

    def first_index(self) -> int:
        """Index of the first entry still held (snapshot index + 1)."""

    def last_index(self) -> int:
        """Index of the last entry held (the snapshot index when the log is empty)."""

    def snapshot_meta(self) -> tuple[int, int]:
        """(index, term) of the compaction point: everything up to it lives in the app's state."""


class MemoryStorage:
    """Storage in a Python list, offset by the compaction point. Used by tests and the sim."""

    def __init__(self, hard_state: HardState | None = None, conf_state: ConfState | None = None):
        self._hard_state = hard_state or HardState()
        self._conf_state = conf_state or ConfState()
        self._snap_index = 0
        self._snap_term = 0
        self._entries: list[Entry] = []  # self._entries[i].index == self._snap_index + 1 + i

    # -- the read-only protocol ----------------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._conf_state

    def entries(self, lo: int, hi: int) -> list[Entry]:
        if lo <= self._snap_index:
            raise CompactedError(f"entry {lo} is compacted (snapshot at {self._snap_index})")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"entries up to {hi - 1} requested, last is {self.last_index()}")
        return self._entries[lo - self._snap_index - 1:hi - self._snap_index - 1]

    def term(self, index: int) -> int:
        if index < self._snap_index:
            raise CompactedError(f"entry {index} is compacted (snapshot at {self._snap_index})")
        if index == self._snap_index:
            return self._snap_term
        if index > self.last_index():
            raise UnavailableError(f"entry {index} is past the last index {self.last_index()}")
        return self._entries[index - self._snap_index - 1].term

    def first_index(self) -> int:
        return self._snap_index + 1

    def last_index(self) -> int:
        return self._snap_index + len(self._entries)

    def snapshot_meta(self) -> tuple[int, int]:
        return self._snap_index, self._snap_term

    # -- writes by the application ----------------------------------------------------------------
    def append(self, entries: list[Entry]) -> None:
        """Append, replacing any existing entries from entries[0].index on (a leader overwrote
        them). Entries already compacted are skipped (all of them: nothing changes, as in
        etcd); a gap after the last index is an error."""
        if not entries:
            return
        first = entries[0].index
        if first > self.last_index() + 1:
            raise ValueError(f"append at {first} leaves a gap after {self.last_index()}")
        skip = max(0, self._snap_index + 1 - first)  # already folded into the snapshot
        if skip >= len(entries):
            return
        del self._entries[first + skip - self._snap_index - 1:]
        self._entries.extend(entries[skip:])

    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def set_conf_state(self, conf_state: ConfState) -> None:
        self._conf_state = conf_state

    def compact(self, index: int) -> None:
        """Drop entries up to and including `index` (already applied), keeping its term."""
        if index <= self._snap_index:
            return
        if index > self.last_index():
            raise ValueError(f"cannot compact to {index}: last index is {self.last_index()}")
        self._snap_term = self.term(index)
        del self._entries[:index - self._snap_index]
        self._snap_index = index

    def apply_snapshot(self, index: int, term: int) -> None:
        """The application caught up to (index, term) out of band: the log restarts after it."""
        if index < self._snap_index:
            raise ValueError(
                f"snapshot {index} is older than the compaction point {self._snap_index}")
        self._snap_index, self._snap_term = index, term
        self._entries = []
        if self._hard_state.commit < index:
            self._hard_state = HardState(self._hard_state.term, self._hard_state.vote, index)
