"""The core's view of the log: what storage holds, plus entries not yet persisted (etcd's raftLog
and its `unstable`).

    storage:  (snapshot_index ........ storage.last_index()]
    unstable:                  [offset ............ last_index()]   (offset may cut into storage
                                                                     when a leader overwrote it)
Positions, in order:  applied <= applying <= committed <= last_index().
Entries below `in_progress` have been handed out in a Ready to persist; they leave `unstable`
when the application reports them stable in `advance()`.
"""
from __future__ import annotations

from bisect import bisect_right

from .errors import CompactedError, InvariantViolated, UnavailableError
from .storage import Storage
from .types import Entry


class RaftLog:
    def __init__(self, storage: Storage):
        self.storage = storage
        self.unstable: list[Entry] = []
        self.offset = storage.last_index() + 1  # index of unstable[0]
        self.in_progress = self.offset  # unstable entries below this are being persisted
        first = storage.first_index()
        self.committed = first - 1  # highest index known committed
        self.applying = first - 1  # highest index handed to the application to apply
        self.applied = first - 1  # highest index the application reported applied

    # -- positions --------------------------------------------------------------------------------
    def first_index(self) -> int:
        return self.storage.first_index()

    def last_index(self) -> int:
        return self.offset + len(self.unstable) - 1

    def last_term(self) -> int:
        return self.term(self.last_index())

    def persisted_index(self) -> int:
        """Last index of this log that is on disk (what a leader may count itself as holding)."""
        return self.offset - 1

    def term(self, index: int) -> int:
        """Term of the entry at `index`. CompactedError before the compaction point (whose own
        term is known), UnavailableError past the last index."""
        if index >= self.offset:
            if index > self.last_index():
                raise UnavailableError(f"entry {index} is past the last index {self.last_index()}")
            return self.unstable[index - self.offset].term
        return self.storage.term(index)

    def match_term(self, index: int, term: int) -> bool:
        if index > self.last_index() or index < self.first_index() - 1:
            return False
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """The election restriction (§5.4.1): a candidate's log is at least as up to date as ours
        if its last term is later, or equal with an index at least as long."""
        ours = self.last_term()
        return last_term > ours or (last_term == ours and last_index >= self.last_index())

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries [lo, hi) from storage and unstable. CompactedError if lo is compacted."""
        if lo < self.first_index():
            raise CompactedError(f"entry {lo} is compacted")
        hi = min(hi, self.last_index() + 1)
        if lo >= hi:
            return []
        if lo >= self.offset:
            return self.unstable[lo - self.offset:hi - self.offset]
        stored = self.storage.entries(lo, min(hi, self.offset))
        if hi > self.offset:
            stored = stored + self.unstable[:hi - self.offset]
        return stored

    # -- appending --------------------------------------------------------------------------------
    def append(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        """Append after the last index, or overwrite a suffix that conflicts (never committed)."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.committed:
            raise InvariantViolated(
                f"overwriting committed entry {first} (commit {self.committed})")
        if first == self.last_index() + 1:
            self.unstable.extend(entries)
        elif first <= self.offset:
            self.offset = first  # overwrites (part of) storage; persisting truncates it there
            self.unstable = list(entries)
        elif first <= self.last_index():
            del self.unstable[first - self.offset:]
            self.unstable.extend(entries)
        else:
            raise InvariantViolated(f"append at {first} leaves a gap after {self.last_index()}")
        self.in_progress = min(self.in_progress, first)

    def maybe_append(self, prev_index: int, prev_term: int, commit: int,
                     entries: tuple[Entry, ...]) -> int | None:
        """AppendEntries (§5.3): if our log holds (prev_index, prev_term), make it match the
        leader's through the new entries and return the last index now known to match; else
        None. Entries already held are kept, so a stale, reordered append truncates nothing."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            self.append(entries[conflict - prev_index - 1:])
        self.commit_to(min(commit, last_new))
        return last_new

    def find_conflict(self, entries: tuple[Entry, ...]) -> int:
        """Index of the first entry that is new or differs from ours in term; 0 if none."""
        for e in entries:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The last position <= index whose term is <= term, and that term (0 if unknown).

        The fast-backtracking rule: neither side can match past it, so one round trip skips a
        whole term of conflicting entries. Terms never decrease along a log, so bisect."""
        lo = self.first_index() - 1  # the compaction point; its term is still known
        if index < lo:
            return index, 0
        pos = bisect_right(range(lo, index + 1), term, key=self.term)
        if pos == 0:
            return max(lo - 1, 0), 0  # conflict reaches into the compacted part: term unknown
        return lo + pos - 1, self.term(lo + pos - 1)

    # -- commit and apply -------------------------------------------------------------------------
    def commit_to(self, index: int) -> bool:
        if index <= self.committed:
            return False
        if index > self.last_index():
            raise InvariantViolated(f"commit {index} is past the last index {self.last_index()}")
        self.committed = index
        return True

    def has_next_committed(self) -> bool:
        return self.applying < self.committed

    def take_committed(self, limit: int) -> list[Entry]:
        """The next committed entries to apply (at most `limit`), marked as being applied."""
        hi = min(self.committed, self.applying + limit)
        entries = self.entries(self.applying + 1, hi + 1)
        self.applying = hi
        return entries

    def applied_to(self, index: int) -> None:
        self.applied = max(self.applied, index)

    # -- persistence ------------------------------------------------------------------------------
    def has_unpersisted(self) -> bool:
        return self.in_progress <= self.last_index()

    def take_unpersisted(self) -> list[Entry]:
        """Entries to persist now, marked as being persisted."""
        entries = self.unstable[self.in_progress - self.offset:]
        self.in_progress = self.last_index() + 1
        return entries

    def stable_to(self, index: int, term: int) -> None:
        """The application persisted entries through (index, term)."""
        if index < self.offset or not self.match_term(index, term):
            return  # already stable, or overwritten since that Ready: the newer entries stay
        del self.unstable[:index - self.offset + 1]
        self.offset = index + 1
        self.in_progress = max(self.in_progress, self.offset)

    def restore(self, index: int) -> None:
        """The application installed a snapshot at `index` and storage restarts after it."""
        self.unstable = []
        self.offset = self.in_progress = self.storage.last_index() + 1
        self.committed = max(index, min(self.committed, self.last_index()))
        self.applying = self.applied = index
