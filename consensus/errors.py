"""The errors the consensus core raises. Callers catch these types, never messages."""
from __future__ import annotations


class RaftError(Exception):
    """Base of every error raised by consensus/."""


class NotLeader(RaftError):
    """A proposal or leader-only request reached a node that is not the leader.

    `leader` is the leader this node currently knows of (None while an election is running), so
    the caller can redirect the client.
    """

    def __init__(self, leader: str | None):
        super().__init__(f"not the leader (leader is {leader or 'unknown'})")
        self.leader = leader


class ProposalDropped(RaftError):
    """The leader refused a proposal it would normally take: a leadership transfer is under
    way, or another membership change is still pending. Retry later (or elsewhere)."""


class CompactedError(RaftError):
    """The requested log position lies at or before the storage's compaction point."""


class UnavailableError(RaftError):
    """The requested log position lies after the last entry in storage."""


class InvariantViolated(RaftError):
    """The log or the application broke a Raft invariant (e.g. asked to overwrite a committed
    entry). Continuing could lose committed data: the node must stop."""
