"""A single-voter consensus with the Raft core's interface (propose -> ready -> advance).

A one-node network needs no elections: every persisted entry is committed at once. The node's
loop drives this exactly as it drives Raft (persist, send, apply, advance), so blocks take the
same path either way. Replaced by consensus.raft when peers exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Entry:
    index: int
    term: int
    data: bytes  # an encoded block; empty for a no-op


@dataclass
class Ready:
    hard_state: list | None  # [term, vote, commit]; persist with entries, synced
    entries: list[Entry]  # persist (synced) before sending messages
    messages: list = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)  # apply in order


class SoloCore:
    def __init__(self, node_id: str, hard_state: list | None, last_index: int, applied: int,
                 read_entries: Callable[[int, int], list[Entry]]):
        self.id = node_id
        term, _, commit = hard_state or [0, None, 0]
        self.term = term + 1  # a restart is a new term, as a re-elected Raft leader's would be
        self.last_index = last_index
        self.commit = max(commit, last_index)  # everything we persisted is committed
        self.applied = applied
        self._read = read_entries
        self._unstable: list[Entry] = []
        self._hard_dirty = True

    role = "leader"

    @property
    def leader_id(self) -> str:
        return self.id

    def tick(self) -> None:
        pass

    def propose(self, data: bytes) -> int:
        self.last_index += 1
        self._unstable.append(Entry(self.last_index, self.term, data))
        return self.last_index

    def has_ready(self) -> bool:
        return bool(self._unstable) or self.applied < self.commit or self._hard_dirty

    def ready(self) -> Ready:
        committed = self._read(self.applied + 1, self.commit + 1) if self.applied < self.commit else []
        new = list(self._unstable)
        commit = self.last_index
        return Ready([self.term, self.id, commit], new, [], committed + new)

    def advance(self, rd: Ready) -> None:
        if rd.entries:
            del self._unstable[:len(rd.entries)]
        if rd.committed_entries:
            self.applied = rd.committed_entries[-1].index
        self.commit = max(self.commit, self.applied)
        self._hard_dirty = False
