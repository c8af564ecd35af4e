"""Raft consensus as a pure, deterministic state machine (no I/O, no clock), after etcd-io/raft.

See consensus/raft.py for how an application drives it.
"""
from .errors import (
                     CompactedError,
                     InvariantViolated,
                     NotLeader,
                     ProposalDropped,
                     RaftError,
                     UnavailableError,
)
from .progress import ProgressState
from .raft import Config, Dropped, DropReason, PeerStatus, Raft, Ready, Role, SoftState, Status
from .storage import MemoryStorage, Storage
from .types import ConfState, Entry, EntryType, HardState, Message, MessageType, SnapshotRequest

__all__ = [
    "CompactedError", "Config", "ConfState", "Dropped", "DropReason", "Entry", "EntryType", "HardState",
    "InvariantViolated", "MemoryStorage", "Message", "MessageType", "NotLeader", "PeerStatus",
    "ProgressState", "ProposalDropped", "Raft", "RaftError", "Ready", "Role", "SnapshotRequest",
    "SoftState", "Status", "Storage", "UnavailableError",
]
