"""What a leader knows about each follower's log, and how fast it may send (etcd's tracker).

A follower is in one of three states:
- PROBE: the leader does not know where the logs match. It sends one append at a time and
  waits for the answer (or the next heartbeat response) before sending another.
- REPLICATE: the logs match up to `match`; appends are pipelined optimistically, at most
  `max_inflight` un-acknowledged at once.
- SNAPSHOT: the entries the follower needs are compacted; it is catching up out of band to
  `pending_snapshot` and gets no appends until it reports back.
"""
from __future__ import annotations

from collections import deque
from enum import StrEnum


class ProgressState(StrEnum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    __slots__ = ("match", "next", "state", "probe_sent", "pending_snapshot", "recent_active",
                 "is_learner", "inflight")

    def __init__(self, next_index: int, *, is_learner: bool = False):
        self.match = 0  # highest index known to be replicated on the follower
        self.next = next_index  # index of the next entry to send
        self.state = ProgressState.PROBE
        self.probe_sent = False  # PROBE: an append is out; wait for its answer or a heartbeat's
        self.pending_snapshot = 0  # SNAPSHOT: the compaction point the follower is catching up to
        self.recent_active = False  # heard from it since the last CheckQuorum round
        self.is_learner = is_learner
        self.inflight: deque[int] = deque()  # REPLICATE: last index of each un-acked append

    def __repr__(self) -> str:
        return (f"Progress({self.state.value} match={self.match} next={self.next} "
                f"inflight={len(self.inflight)})")

    # -- state transitions ------------------------------------------------------------------------
    def become_probe(self) -> None:
        # Coming back from a snapshot, the follower holds at least the snapshot's entries.
        if self.state == ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self._reset(ProgressState.PROBE)

    def become_replicate(self) -> None:
        self.next = self.match + 1
        self._reset(ProgressState.REPLICATE)

    def become_snapshot(self, index: int) -> None:
        self._reset(ProgressState.SNAPSHOT)
        self.pending_snapshot = index

    def _reset(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.inflight.clear()

    # -- flow control -----------------------------------------------------------------------------
    def is_paused(self, max_inflight: int) -> bool:
        """True when the leader must not send this follower another append now."""
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def sent_append(self, last_index: int, n_entries: int) -> None:
        """Record an append just sent, ending at `last_index` (its prev index if empty)."""
        if self.state == ProgressState.REPLICATE:
            if n_entries:
                self.next = last_index + 1  # optimistic: assume it arrives
                self.inflight.append(last_index)
        else:
            self.probe_sent = True  # every append in PROBE is a probe: one at a time

    def acked(self, index: int) -> bool:
        """The follower's log matches ours up to `index`. True if that is news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()
        return updated

    def rejected(self, rejected: int, match_hint: int) -> bool:
        """The follower refused an append whose prev index was `rejected`; `match_hint` is the
        highest index that might still match. Back `next` off; False if the rejection is stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False  # an answer to an append sent before the logs matched
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # not the probe we are waiting for
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def free_one_inflight(self) -> None:
        """A heartbeat came back while the window was full: acks may have been lost, so let one
        more append through rather than stall until the next rejection."""
        if self.inflight:
            self.inflight.popleft()
