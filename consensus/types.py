"""Raft's vocabulary: log entries, hard state, membership and messages, and their wire form.

Every value here round-trips through plain msgpack-able Python values (`to_wire` /
`from_wire`). `from_wire` treats its input as hostile: exact arity, exact types (a bool is not
an int), bounded ids, and the structural rules an honest sender always keeps. Anything else is
a `ValueError`, never a half-built object.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

MAX_U64 = 2**64 - 1
MAX_ID_LEN = 256  # node ids are hex public keys (64 chars) in lichen; leave room, bound it


class EntryType(IntEnum):
    NORMAL = 0  # an application command (for lichen: one encoded block)
    NOOP = 1  # appended by each new leader so that it can commit entries of earlier terms
    CONF_CHANGE = 2  # a membership change; `data` is the application's encoding, decoded by it


class MessageType(IntEnum):
    PREVOTE = 0  # "would you vote for me at term+1?" sent before disrupting anyone
    PREVOTE_RESP = 1
    VOTE = 2  # RequestVote
    VOTE_RESP = 3
    APPEND = 4  # AppendEntries carrying entries (possibly none: a probe or a commit update)
    APPEND_RESP = 5
    HEARTBEAT = 6  # leader liveness and commit index, no log consistency check
    HEARTBEAT_RESP = 7
    SNAPSHOT = 8  # "your next entries are compacted: catch up to (index, term) out of band"
    TIMEOUT_NOW = 9  # leadership transfer: "campaign now, skipping PreVote"


# -- validation helpers: each raises ValueError naming what was wrong -----------------------------

def _uint(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_U64:
        raise ValueError(f"{what} must be an unsigned 64-bit int, got {value!r:.40}")
    return value


def _node_id(value: Any, what: str) -> str:
    if type(value) is not str or not 0 < len(value) <= MAX_ID_LEN:
        raise ValueError(f"{what} must be a non-empty str of at most {MAX_ID_LEN} chars")
    return value


def _bool(value: Any, what: str) -> bool:
    if type(value) is not bool:
        raise ValueError(f"{what} must be a bool, got {value!r:.40}")
    return value


def _array(value: Any, what: str, length: int | None = None) -> list | tuple:
    if type(value) not in (list, tuple):
        raise ValueError(f"{what} must be an array, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise ValueError(f"{what} must have {length} fields, got {len(value)}")
    return value


def _enum(kind: type[IntEnum], value: Any, what: str) -> Any:
    try:
        return kind(_uint(value, what))
    except ValueError:
        raise ValueError(f"{what}: unknown {kind.__name__} {value!r:.40}") from None


# -- log entries and persistent state -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Entry:
    """One slot of the replicated log."""
    index: int  # position in the log, from 1
    term: int  # term of the leader that created the entry
    type: EntryType = EntryType.NORMAL
    data: bytes = b""  # opaque to the core

    def to_wire(self) -> list:
        """[index, term, type, data]"""
        return [self.index, self.term, int(self.type), self.data]

    @classmethod
    def from_wire(cls, wire: Any) -> Entry:
        index, term, type_, data = _array(wire, "entry", 4)
        if type(data) is not bytes:
            raise ValueError("entry data must be bytes")
        index = _uint(index, "entry index")
        if index == 0:
            raise ValueError("entry index starts at 1")
        return cls(index, _uint(term, "entry term"), _enum(EntryType, type_, "entry type"), data)


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk (synced) before this node sends any message that depends on it."""
    term: int = 0  # latest term this node has seen
    vote: str | None = None  # whom it voted for in `term`, if anyone
    commit: int = 0  # highest index known committed (persisted so restarts apply without waiting)

    def to_wire(self) -> list:
        return [self.term, self.vote, self.commit]

    @classmethod
    def from_wire(cls, wire: Any) -> HardState:
        term, vote, commit = _array(wire, "hard state", 3)
        if vote is not None:
            vote = _node_id(vote, "hard state vote")
        return cls(_uint(term, "hard state term"), vote, _uint(commit, "hard state commit"))


@dataclass(frozen=True, slots=True)
class ConfState:
    """The membership: who votes, who only follows."""
    voters: frozenset[str] = frozenset()  # count towards elections and commit quorums
    learners: frozenset[str] = frozenset()  # replicated to (observers); never vote, never counted

    def __post_init__(self) -> None:
        object.__setattr__(self, "voters", frozenset(self.voters))
        object.__setattr__(self, "learners", frozenset(self.learners))
        if self.voters & self.learners:
            raise ValueError(f"nodes both voter and learner: {sorted(self.voters & self.learners)}")

    @property
    def members(self) -> frozenset[str]:
        return self.voters | self.learners

    def to_wire(self) -> list:
        return [sorted(self.voters), sorted(self.learners)]

    @classmethod
    def from_wire(cls, wire: Any) -> ConfState:
        voters, learners = _array(wire, "conf state", 2)
        return cls(frozenset(_node_id(v, "voter") for v in _array(voters, "voters")),
                   frozenset(_node_id(v, "learner") for v in _array(learners, "learners")))


# -- messages -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Message:
    """One Raft message between two nodes. Unused fields keep their zero value."""
    type: MessageType
    frm: str  # sender id
    to: str  # recipient id
    term: int  # sender's term (for PREVOTE: the term it would campaign at)
    log_term: int = 0  # (PRE)VOTE: term of sender's last entry; APPEND: term of entry `index`;
    #                    rejected APPEND_RESP: term of the follower's entry at `reject_hint`
    index: int = 0  # (PRE)VOTE: sender's last index; APPEND: index just before `entries`;
    #                 APPEND_RESP: last index now matching (or, rejected, the `index` refused)
    entries: tuple[Entry, ...] = ()  # APPEND only, contiguous from index + 1
    commit: int = 0  # APPEND/HEARTBEAT: leader's commit index (HEARTBEAT: capped at the match)
    reject: bool = False  # the request was refused
    reject_hint: int = 0  # rejected APPEND_RESP: a guess at the last index that could match
    snapshot_index: int = 0  # SNAPSHOT: the leader's compaction point, and its term:
    snapshot_term: int = 0  #   the follower catches up to it by fetching application state
    transfer: bool = False  # VOTE from a leadership transfer: voters skip the leader-lease check

    def to_wire(self) -> list:
        """[type, frm, to, term, log_term, index, [entry...], commit, reject, reject_hint,
        snapshot_index, snapshot_term, transfer]"""
        return [int(self.type), self.frm, self.to, self.term, self.log_term, self.index,
                [e.to_wire() for e in self.entries], self.commit, self.reject, self.reject_hint,
                self.snapshot_index, self.snapshot_term, self.transfer]

    @classmethod
    def from_wire(cls, wire: Any) -> Message:
        (type_, frm, to, term, log_term, index, entries, commit, reject, reject_hint,
         snapshot_index, snapshot_term, transfer) = _array(wire, "message", 13)
        msg = cls(_enum(MessageType, type_, "message type"), _node_id(frm, "frm"),
                  _node_id(to, "to"), _uint(term, "term"), _uint(log_term, "log_term"),
                  _uint(index, "index"),
                  tuple(Entry.from_wire(e) for e in _array(entries, "entries")),
                  _uint(commit, "commit"), _bool(reject, "reject"),
                  _uint(reject_hint, "reject_hint"), _uint(snapshot_index, "snapshot_index"),
                  _uint(snapshot_term, "snapshot_term"), _bool(transfer, "transfer"))
        check_message(msg)
        return msg


_REQUESTS = frozenset({MessageType.PREVOTE, MessageType.VOTE, MessageType.APPEND,
                       MessageType.HEARTBEAT, MessageType.SNAPSHOT, MessageType.TIMEOUT_NOW})


def check_message(msg: Message) -> None:
    """The structural rules every honest sender keeps; raise ValueError on a violation."""
    if msg.frm == msg.to:
        raise ValueError("message addressed to its own sender")
    if msg.term == 0 and msg.type in _REQUESTS:
        raise ValueError(f"{msg.type.name} needs a term: leaders and candidates start at 1")
    if msg.entries:
        check_entries_follow(msg)


def check_entries_follow(msg: Message) -> None:
    """Entries travel only in APPEND, contiguous after `index`, with terms that never decrease,
    never precede `log_term` and never exceed the leader's term."""
    if msg.type != MessageType.APPEND:
        raise ValueError(f"{msg.type.name} must not carry entries")
    prev_index, prev_term = msg.index, msg.log_term
    for e in msg.entries:
        if e.index != prev_index + 1:
            raise ValueError(f"entry {e.index} does not follow {prev_index}")
        if not prev_term <= e.term <= msg.term:
            raise ValueError(f"entry {e.index} has term {e.term} out of order")
        prev_index, prev_term = e.index, e.term


class SnapshotRequest(NamedTuple):
    """Ready.snapshot: catch up to the leader's compaction point out of band. Unpacks as
    (index, term, leader)."""
    # (the field shadows tuple.index(), which nothing calls; mypy flags the shadowing)
    index: int  # type: ignore[assignment]  # catch up to (and including) this log index
    term: int  # term of the entry at `index`
    leader: str  # the node whose block store holds the state up to `index`

