"""Raft as a deterministic state machine, in the style of etcd-io/raft.

The core does no I/O and reads no clock. The application drives it:

    raft.tick()                  on its own timer, every tick (100 ms: see Config)
    raft.step(message)           for each message received from a peer
    raft.propose(data)           on the leader, to append a command

and, whenever `raft.has_ready()`, runs one iteration of its loop, always in this order:

    rd = raft.ready()
    1. persist rd.hard_state and rd.entries in ONE write, fsynced when rd.must_sync
    2. send rd.messages
    3. apply rd.committed_entries in order; for a CONF_CHANGE entry, decode it and call
       raft.apply_conf_change(new ConfState)
    4. if rd.snapshot is set, start catching up to it out of band (below)
    5. raft.advance(rd)

Nothing else may call into the core between ready() and advance().

Catching up beyond the compacted log: when a follower needs entries the leader has compacted,
the leader sends only its compaction point (index, term). The follower surfaces it once as
`Ready.snapshot = (index, term, leader)`. The application fetches the state up to `index` from
`leader` (for lichen: the blocks), then records `storage.apply_snapshot(index, term)` atomically
with that state, calls `raft.apply_conf_change(...)` if the membership changed in the skipped
range, and reports `raft.snapshot_installed(index, term)` (or `raft.snapshot_failed()`). Meanwhile
the follower keeps answering heartbeats but accepts no entries and surfaces no committed ones.

Membership changes: the leader proposes a CONF_CHANGE entry with `propose_conf_change(data)`
(only one may be pending); every node applies it with `apply_conf_change(ConfState)` when the
entry is applied. Change one voter at a time.

Only voters steer. Raft tolerates crashed members, not lying ones, but a learner (a licensed
observer) or a stranger must not be able to steer it at all. Before any term rule runs,
`step` checks who sent the message, against this node's membership:

    APPEND, HEARTBEAT, SNAPSHOT   a voter; in our current term, only the leader we follow
    TIMEOUT_NOW                   the leader we follow, in our current term
    (PRE)VOTE, (PRE)VOTE_RESP     a voter
    APPEND_RESP, HEARTBEAT_RESP   a member (learners report their progress); a learner's
                                  response never carries a later term than ours

Anything else is dropped without effect, and in particular a later term from a non-voter never
raises ours (in plain Raft any higher term makes a node step down: etcd's rule, which here
applies only to voters). Each drop is reported in `Ready.dropped` (sender, type, term, reason)
and counted in `Status.dropped`, for the application to log and export; the core does no I/O.
One exception: a node that knows no voters at all (joining with an empty configuration) has
nothing to check a leader against, and follows the first one that reaches it until its first
CONF_CHANGE is applied. A node whose membership is stale (it missed a change that brought in
today's leader) drops that leader's messages until it learns the change some other way: the
drops it reports say so.
"""
from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import NotLeader, ProposalDropped
from .log import RaftLog
from .progress import Progress, ProgressState
from .storage import Storage
from .types import ConfState, Entry, EntryType, HardState, Message, SnapshotRequest
from .types import MessageType as MT

__all__ = ["Config", "DropReason", "Dropped", "Raft", "Ready", "Role", "SoftState", "Status",
           "PeerStatus"]

MAX_DROPPED_PER_READY = 256  # details kept per Ready; beyond it drops are only counted


class Role(StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"  # polling with PreVote; has not raised its term
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True)
class Config:
    """How one node runs Raft.

    Time is counted in ticks. The intended tick interval is 100 ms: with the defaults an
    election timeout is 1-2 s (randomized in [election_tick, 2 * election_tick) ticks) and an
    idle leader sends one heartbeat round per tick, i.e. at most 10 rounds per second.
    """
    id: str  # this node's id
    voters: Iterable[str] = ()  # initial voters, used when storage holds no ConfState yet
    learners: Iterable[str] = ()  # initial learners (observers), likewise
    election_tick: int = 10  # ticks without a leader before campaigning (randomized up to 2x)
    heartbeat_tick: int = 1  # ticks between a leader's heartbeat rounds
    rng: random.Random = field(kw_only=True)  # the only source of election jitter; seed it
    max_inflight: int = 64  # un-acknowledged appends in flight per follower (pipelining bound)
    max_entries_per_msg: int = 64  # entries per append message (batching bound)
    max_bytes_per_msg: int = 1 << 20  # entry data per append message; one entry always fits
    max_committed_per_ready: int = 1024  # committed entries handed out per Ready
    check_quorum: bool = True  # a leader not hearing from a quorum for an election timeout
    #                            steps down; followers with a live leader ignore vote requests
    pre_vote: bool = True  # poll before campaigning, so a rejoining node cannot raise the term
    applied: int = 0  # last index the application has applied (durably), on restart

    def __post_init__(self) -> None:
        object.__setattr__(self, "voters", frozenset(self.voters))
        object.__setattr__(self, "learners", frozenset(self.learners))
        if not self.id:
            raise ValueError("a node needs an id")
        if not 1 <= self.heartbeat_tick < self.election_tick:
            raise ValueError("need 1 <= heartbeat_tick < election_tick")
        if self.max_inflight < 1 or self.max_entries_per_msg < 1 or self.max_bytes_per_msg < 1:
            raise ValueError("max_inflight, max_entries_per_msg and max_bytes_per_msg must be >= 1")
        if self.max_committed_per_ready < 1:
            raise ValueError("max_committed_per_ready must be >= 1")
        if self.applied < 0:
            raise ValueError("applied must be >= 0")


class DropReason(StrEnum):
    """Why `step` refused a message because of its sender (whatever its term)."""
    NOT_A_VOTER = "NOT_A_VOTER"  # leader or election traffic from a learner or a stranger
    NOT_THE_LEADER = "NOT_THE_LEADER"  # leader traffic for our term from another than its
    #                                    leader, or TIMEOUT_NOW not from the leader we follow
    NOT_A_MEMBER = "NOT_A_MEMBER"  # a response from a node outside the membership
    TERM_FROM_NON_VOTER = "TERM_FROM_NON_VOTER"  # a learner's response from a later term


@dataclass(frozen=True, slots=True)
class Dropped:
    """One message `step` refused (Ready.dropped): for the application to count and log."""
    sender: str  # the `frm` of the message (already authenticated by the transport)
    type: MT
    term: int
    reason: DropReason


_LEADER_TRAFFIC = frozenset({MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT})
_ELECTION_TRAFFIC = frozenset({MT.PREVOTE, MT.PREVOTE_RESP, MT.VOTE, MT.VOTE_RESP})


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth telling the application about; never persisted."""
    role: Role
    leader: str | None  # the leader this node knows of in its current term


@dataclass
class Ready:
    """One batch of work for the application (see the module docstring for the loop)."""
    soft_state: SoftState | None  # new role/leader, or None if unchanged
    hard_state: HardState | None  # persist with `entries` in the same synced write, BEFORE
    #                               sending `messages` (votes and terms must survive a crash);
    #                               None if unchanged
    entries: list[Entry]  # append to stable storage (overwriting from entries[0].index on),
    #                       synced, BEFORE sending `messages`: they promise these are durable
    must_sync: bool  # the write above must be fsynced (entries, term or vote changed); a
    #                  commit-only change may be written without sync
    messages: list[Message]  # send after the write above is durable; loss and reordering are fine
    committed_entries: list[Entry]  # apply in order after the write (some may be in `entries`)
    snapshot: SnapshotRequest | None  # catch up to this point out of band, then report it with
    #                                   `snapshot_installed`; no committed entries come meanwhile
    dropped: list[Dropped] = field(default_factory=list)  # messages refused for their sender
    #                                   since the last Ready (at most MAX_DROPPED_PER_READY;
    #                                   Status.dropped counts them all); nothing to persist

    def __bool__(self) -> bool:
        return bool(self.soft_state or self.hard_state or self.entries or self.messages
                    or self.committed_entries or self.snapshot or self.dropped)


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """The leader's view of one follower."""
    match: int  # highest index known replicated there
    next: int  # next index to send
    state: ProgressState  # probe, replicate or snapshot
    recent_active: bool  # heard from it in the current CheckQuorum window
    inflight: int  # un-acknowledged appends in flight
    is_learner: bool


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    role: Role
    term: int
    leader: str | None
    vote: str | None
    commit: int  # highest index known committed
    applied: int  # highest index the application reported applied
    last_index: int
    voters: frozenset[str]
    learners: frozenset[str]
    transferring_to: str | None  # leadership transfer target, on a leader
    progress: dict[str, PeerStatus]  # per member, self included; empty unless leader
    dropped: int  # messages refused for their sender since start (see Ready.dropped)


class Raft:
    """One Raft node. See the module docstring for how the application drives it."""

    def __init__(self, config: Config, storage: Storage):
        hard, conf = storage.initial_state()
        if not conf.voters and not conf.learners:
            conf = ConfState(frozenset(config.voters), frozenset(config.learners))
        self.id = config.id
        self.cfg = config
        self.log = RaftLog(storage)
        if hard.commit > self.log.last_index():
            raise ValueError(f"hard state commit {hard.commit} is past the last index "
                             f"{self.log.last_index()}: storage is corrupt")
        self.log.committed = max(self.log.committed, hard.commit)
        if config.applied > self.log.committed:
            raise ValueError(
                f"applied {config.applied} is past the commit {self.log.committed}: the state is "
                "ahead of the Raft log (an interrupted catch-up must record "
                "storage.apply_snapshot(index, term) atomically with the state it fetched)")
        self.log.applied = self.log.applying = max(self.log.applied, config.applied)
        self.term = hard.term
        self.vote = hard.vote
        self.lead: str | None = None
        self.role = Role.FOLLOWER
        self._conf = conf
        self._peers: list[str] = []  # members other than self, sorted (deterministic sends)
        self._prs: dict[str, Progress] = {}  # leader only: every member's progress, self too
        self._votes: dict[str, bool] = {}  # (pre-)candidate only: answers received from voters
        self._msgs: list[Message] = []
        self._dropped: list[Dropped] = []
        self._dropped_total = 0
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = config.election_tick
        self._lead_transferee: str | None = None
        self._pending_conf_index = 0  # a CONF_CHANGE up to here may still be unapplied
        self._broadcast_due = False  # proposals since the last Ready still have to be sent
        self._campaign_when_applied = False  # TIMEOUT_NOW came while a conf change was unapplied
        self._installing: SnapshotRequest | None = None  # follower: catching up out of band
        self._snapshot_surfaced = False
        self._set_members(conf)
        self._become_follower(self.term, None)
        self._prev_hard = self._hard_state()  # what storage already holds
        self._prev_soft = self._soft_state()

    # =============================================================================================
    # Public API
    # =============================================================================================
    @property
    def leader_id(self) -> str | None:
        return self.lead

    @property
    def conf_state(self) -> ConfState:
        return self._conf

    def tick(self) -> None:
        """Advance logical time by one tick."""
        if self.role == Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def propose(self, data: bytes) -> int:
        """Append a command to the leader's log; returns its index. Being appended is not being
        committed: watch committed_entries (the entry may still be lost to a leader change)."""
        return self._propose(EntryType.NORMAL, data)

    def propose_conf_change(self, data: bytes) -> int:
        """Append a membership change, encoded by the application. Only one may be pending: a
        second is dropped until the first is applied. Apply it with `apply_conf_change`."""
        if self.role == Role.LEADER and self._pending_conf_index > self.log.applied:
            raise ProposalDropped("a membership change is still pending")
        index = self._propose(EntryType.CONF_CHANGE, data)
        self._pending_conf_index = index
        return index

    def apply_conf_change(self, conf: ConfState) -> None:
        """Switch to a new membership. The application calls this while applying a committed
        CONF_CHANGE entry (it decodes the entry's data), and persists `conf` with its applied
        index so that a restart sees it. Change one voter at a time."""
        self._set_members(conf)
        if self.role == Role.LEADER:
            self._leader_conf_changed()
        elif self.role != Role.FOLLOWER and self.id not in conf.voters:
            self._become_follower(self.term, None)

    def transfer_leader(self, target: str) -> None:
        """Hand leadership to `target` (a voter): stop taking proposals, bring its log up to
        date, then tell it to campaign at once. Abandoned after one election timeout."""
        if self.role != Role.LEADER:
            raise NotLeader(self.lead)
        if target not in self._conf.voters:
            raise ValueError(f"{target} is not a voter")
        if target == self.id or target == self._lead_transferee:
            return
        self._lead_transferee = target
        self._election_elapsed = 0  # the transfer gets one election timeout to finish
        if self._prs[target].match == self.log.last_index():
            self._send_timeout_now(target)
        else:
            self._send_append(target)

    def campaign(self) -> None:
        """Start an election now (as if the election timeout had passed)."""
        self._hup()

    def step(self, m: Message) -> None:
        """Process one message from a peer."""
        if m.to != self.id or m.frm == self.id:
            return
        refused = self._refused_sender(m)
        if refused is not None:
            self._drop(m, refused)
            return
        if m.term > self.term:
            if not self._follow_higher_term(m):
                return
        elif m.term < self.term:
            self._answer_stale(m)
            return
        if m.type in (MT.PREVOTE, MT.VOTE):
            self._handle_vote_request(m)
        elif self.role == Role.LEADER:
            self._step_leader(m)
        elif self.role == Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def snapshot_installed(self, index: int, term: int) -> None:
        """The application caught up out of band to (index, term), the Ready.snapshot it was
        given: its state includes every entry up to `index`, and storage has already done
        `apply_snapshot(index, term)` (the log restarts after index). Call it outside a
        ready()/advance() pair. The leader hears back and resumes appending after `index`."""
        if self.role == Role.LEADER:
            raise ValueError("a leader never installs a snapshot")
        if index <= self.log.applied:
            return
        self.log.restore(index)
        target = self.lead
        if self._installing is not None and self._installing.index <= index:
            target = target or self._installing.leader
            self._installing = None
        elif self._installing is not None:
            self._snapshot_surfaced = False  # a later point is wanted: ask for it again
        if target is not None:
            self._send(MT.APPEND_RESP, target, index=self.log.last_index())

    def snapshot_failed(self) -> None:
        """The application gave up catching up to the requested snapshot. The leader resends
        the request (on its next heartbeat response) and Ready.snapshot surfaces it again."""
        self._installing = None

    def has_ready(self) -> bool:
        hard, soft = self._prev_hard, self._prev_soft
        return bool(
            self._msgs or self._dropped or self._broadcast_due or self.log.has_unpersisted()
            or (self.log.has_next_committed() and self._installing is None)
            or (self._installing is not None and not self._snapshot_surfaced)
            or self.term != hard.term or self.vote != hard.vote or self.log.committed != hard.commit
            or self.role != soft.role or self.lead != soft.leader)

    def ready(self) -> Ready:
        """The work to do now. Must be followed by advance(ready) before the next ready()."""
        if self._broadcast_due:
            self._broadcast_due = False
            self._bcast_append()
        hard, soft = self._hard_state(), self._soft_state()
        entries = self.log.take_unpersisted()
        prev = self._prev_hard
        term_or_vote_changed = hard.term != prev.term or hard.vote != prev.vote
        rd = Ready(
            soft_state=soft if soft != self._prev_soft else None,
            hard_state=hard if hard != self._prev_hard else None,
            entries=entries,
            must_sync=bool(entries) or term_or_vote_changed,
            messages=self._msgs,
            committed_entries=(self.log.take_committed(self.cfg.max_committed_per_ready)
                               if self._installing is None and self.log.has_next_committed()
                               else []),
            snapshot=self._installing if not self._snapshot_surfaced else None,
            dropped=self._dropped)
        self._snapshot_surfaced = True
        self._prev_hard, self._prev_soft = hard, soft
        self._msgs = []
        self._dropped = []
        return rd

    def advance(self, rd: Ready) -> None:
        """The application has done everything `rd` asked."""
        if rd.entries:
            last = rd.entries[-1]
            self.log.stable_to(last.index, last.term)
            if self.role == Role.LEADER:
                self._leader_persisted()
        if rd.committed_entries:
            self.log.applied_to(rd.committed_entries[-1].index)
            if self._campaign_when_applied:
                self._campaign_when_applied = False
                self._hup(transfer=True)  # postpones itself again if still unapplied

    def status(self) -> Status:
        progress = {}
        if self.role == Role.LEADER:
            progress = {pid: PeerStatus(pr.match, pr.next, pr.state, pr.recent_active,
                                        len(pr.inflight), pr.is_learner)
                        for pid, pr in self._prs.items()}
        return Status(self.id, self.role, self.term, self.lead, self.vote, self.log.committed,
                      self.log.applied, self.log.last_index(), self._conf.voters,
                      self._conf.learners, self._lead_transferee, progress, self._dropped_total)

    # =============================================================================================
    # Who may say what (see "Only voters steer" in the module docstring)
    # =============================================================================================
    def _refused_sender(self, m: Message) -> DropReason | None:
        """Why this sender may not send this message, whatever its term; None if it may."""
        voters = self._conf.voters
        if m.type in _LEADER_TRAFFIC:
            if voters and m.frm not in voters:
                return DropReason.NOT_A_VOTER
            if m.term == self.term and self.lead is not None and m.frm != self.lead:
                return DropReason.NOT_THE_LEADER  # a term has one leader (election safety)
            return None
        if m.type == MT.TIMEOUT_NOW:
            if m.frm != self.lead or m.term != self.term:
                return DropReason.NOT_THE_LEADER
            return None
        if m.type in _ELECTION_TRAFFIC:
            return None if m.frm in voters else DropReason.NOT_A_VOTER
        # APPEND_RESP, HEARTBEAT_RESP: a learner's progress counts; its term never does
        if m.frm not in self._conf.members:
            return DropReason.NOT_A_MEMBER
        if m.frm not in voters and m.term > self.term:
            return DropReason.TERM_FROM_NON_VOTER
        return None

    def _drop(self, m: Message, reason: DropReason) -> None:
        self._dropped_total += 1
        if len(self._dropped) < MAX_DROPPED_PER_READY:
            self._dropped.append(Dropped(m.frm, m.type, m.term, reason))

    # =============================================================================================
    # Roles
    # =============================================================================================
    def _reset(self, term: int) -> None:
        """Common to every role change: a new term forgets the vote; timers and per-role state
        start over."""
        if term != self.term:
            self.term = term
            self.vote = None
        self.lead = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = self.cfg.election_tick + self.cfg.rng.randrange(
            self.cfg.election_tick)
        self._lead_transferee = None
        self._votes = {}
        self._prs = {}
        self._pending_conf_index = 0
        self._broadcast_due = False
        self._campaign_when_applied = False

    def _become_follower(self, term: int, lead: str | None) -> None:
        self._reset(term)
        self.lead = lead
        self.role = Role.FOLLOWER

    def _become_pre_candidate(self) -> None:
        # Neither the term nor the vote changes: a failed poll leaves no trace.
        self._votes = {}
        self._prs = {}
        self.lead = None
        self.role = Role.PRE_CANDIDATE

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.lead = self.id
        self.role = Role.LEADER
        last = self.log.last_index()
        for pid in sorted(self._conf.members):
            self._prs[pid] = Progress(last + 1, is_learner=pid in self._conf.learners)
        me = self._prs[self.id]
        me.match = self.log.persisted_index()  # count ourselves only for what is on disk
        me.become_replicate()
        me.recent_active = True
        # Entries in our log may hold an unapplied membership change; allow no new one until
        # everything up to here is applied.
        self._pending_conf_index = last
        # A leader commits entries of earlier terms only by committing one of its own (§5.4.2).
        self.log.append([Entry(last + 1, self.term, EntryType.NOOP)])
        self._broadcast_due = True

    def _promotable(self) -> bool:
        """May this node become leader? Voters only, and not while catching up out of band."""
        return self.id in self._conf.voters and self._installing is None

    def _set_members(self, conf: ConfState) -> None:
        self._conf = conf
        self._peers = sorted(conf.members - {self.id})
        if self.role != Role.LEADER:
            return
        for pid in list(self._prs):
            if pid not in conf.members:
                del self._prs[pid]
        for pid in sorted(conf.members):
            pr = self._prs.get(pid)
            if pr is None:
                pr = self._prs[pid] = Progress(self.log.last_index() + 1)
                pr.recent_active = True  # give a new member an election timeout to answer
            pr.is_learner = pid in conf.learners

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _soft_state(self) -> SoftState:
        return SoftState(self.role, self.lead)

    # =============================================================================================
    # Time
    # =============================================================================================
    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._promotable() and self._election_elapsed >= self._randomized_timeout:
            self._election_elapsed = 0
            self._hup()

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.cfg.election_tick:
            self._election_elapsed = 0
            if self.cfg.check_quorum and not self._check_quorum():
                self._become_follower(self.term, None)
                return
            if self._lead_transferee is not None:
                self._lead_transferee = None  # the transfer did not finish in time: give up
        if self._heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self._heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _check_quorum(self) -> bool:
        """CheckQuorum: did a quorum of voters (us included) answer during the last election
        timeout? Starts the next window."""
        active = sum(1 for pid in self._conf.voters
                     if pid == self.id or (pid in self._prs and self._prs[pid].recent_active))
        for pid, pr in self._prs.items():
            pr.recent_active = pid == self.id
        return active >= self._quorum()

    def _quorum(self) -> int:
        return len(self._conf.voters) // 2 + 1

    # =============================================================================================
    # Elections
    # =============================================================================================
    def _hup(self, transfer: bool = False) -> None:
        if self.role == Role.LEADER or not self._promotable():
            return
        if self._has_unapplied_conf_change():
            # We might be about to leave the voters: apply first. A handover (typically from
            # a leader that removed itself) is honoured once the change is applied.
            self._campaign_when_applied = transfer
            return
        if transfer or not self.cfg.pre_vote:
            self._campaign_election(transfer)
        else:
            self._campaign_pre_election()

    def _has_unapplied_conf_change(self) -> bool:
        if self.log.applied >= self.log.committed:
            return False
        return any(e.type == EntryType.CONF_CHANGE
                   for e in self.log.entries(self.log.applied + 1, self.log.committed + 1))

    def _campaign_pre_election(self) -> None:
        self._become_pre_candidate()
        self._request_votes(MT.PREVOTE, self.term + 1, transfer=False)

    def _campaign_election(self, transfer: bool) -> None:
        self._become_candidate()
        self._request_votes(MT.VOTE, self.term, transfer)

    def _request_votes(self, kind: MT, term: int, transfer: bool) -> None:
        # Our own vote goes to disk with the Ready that carries these requests.
        if self._record_vote(self.id, True):
            return
        for pid in sorted(self._conf.voters - {self.id}):
            self._send(kind, pid, term=term, index=self.log.last_index(),
                       log_term=self.log.last_term(), transfer=transfer)

    def _record_vote(self, voter: str, granted: bool) -> bool:
        """Count one answer; act on the outcome once it is decided. True if decided."""
        if voter not in self._conf.voters:
            return False  # learners and strangers are never counted
        self._votes.setdefault(voter, granted)
        yes = sum(self._votes.values())
        no = len(self._votes) - yes
        if yes >= self._quorum():
            if self.role == Role.PRE_CANDIDATE:
                self._campaign_election(transfer=False)
            else:
                self._become_leader()
            return True
        if no > len(self._conf.voters) - self._quorum():
            self._become_follower(self.term, None)
            return True
        return False

    def _in_lease(self) -> bool:
        """With CheckQuorum, a node that heard from a leader within the election timeout
        trusts it is alive and will not help depose it."""
        return (self.cfg.check_quorum and self.lead is not None
                and self._election_elapsed < self.cfg.election_tick)

    def _follow_higher_term(self, m: Message) -> bool:
        """A message from a later term. Returns False if it must be ignored."""
        if m.type in (MT.PREVOTE, MT.VOTE) and not m.transfer and self._in_lease():
            return False  # a live leader exists: do not let a rejoining node disrupt it
        if m.type == MT.PREVOTE or (m.type == MT.PREVOTE_RESP and not m.reject):
            return True  # PreVote never changes terms; the term rises once a poll is won
        from_leader = m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT)
        self._become_follower(m.term, m.frm if from_leader else None)
        return True

    def _answer_stale(self, m: Message) -> None:
        """A message from an earlier term: ignored, except that a stale leader's append or
        heartbeat gets our term back. With CheckQuorum the others ignore a vote request from a
        node whose term ran ahead while it was cut off; this is how it gets back in (the leader
        steps down and the next election includes it)."""
        if (self.cfg.check_quorum or self.cfg.pre_vote) and m.type in (MT.APPEND, MT.HEARTBEAT):
            self._send(MT.APPEND_RESP, m.frm)
        elif m.type == MT.PREVOTE:
            self._send(MT.PREVOTE_RESP, m.frm, reject=True)

    def _handle_vote_request(self, m: Message) -> None:
        """RequestVote (§5.2, §5.4.1), and PreVote's dry run of it, from a voter (step checked).
        Learners answer too (as in etcd: one may already be a voter in the candidate's newer
        configuration); a candidate counts only the answers of its own voters."""
        resp = MT.PREVOTE_RESP if m.type == MT.PREVOTE else MT.VOTE_RESP
        can_vote = (self.vote == m.frm  # a repeated request
                    or (self.vote is None and self.lead is None)  # free in this term
                    or (m.type == MT.PREVOTE and m.term > self.term))  # a poll for a later term
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # Answer with the term asked about: a granted poll must not look stale to it.
            self._send(resp, m.frm, term=m.term)
            if m.type == MT.VOTE:
                self._election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(resp, m.frm, reject=True)

    def _step_candidate(self, m: Message) -> None:
        if m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            self._become_follower(self.term, m.frm)  # someone won this term
            self._step_follower(m)
            return
        expected = MT.PREVOTE_RESP if self.role == Role.PRE_CANDIDATE else MT.VOTE_RESP
        if m.type == expected:
            self._record_vote(m.frm, not m.reject)

    # =============================================================================================
    # Follower
    # =============================================================================================
    def _step_follower(self, m: Message) -> None:
        if m.type in (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT):
            self._election_elapsed = 0
            self.lead = m.frm
            if m.type == MT.APPEND:
                self._handle_append(m)
            elif m.type == MT.HEARTBEAT:
                self._handle_heartbeat(m)
            else:
                self._handle_snapshot(m)
        elif m.type == MT.TIMEOUT_NOW:
            self._hup(transfer=True)  # the leader hands over: campaign now, skip PreVote

    def _handle_append(self, m: Message) -> None:
        if self._installing is not None:
            return  # our log is about to be replaced; the leader waits for our report
        if m.index < self.log.committed:
            # Everything up to our commit matches any leader's log: skip ahead.
            self._send(MT.APPEND_RESP, m.frm, index=self.log.committed)
            return
        last_new = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._send(MT.APPEND_RESP, m.frm, index=last_new)
            return
        hint, hint_term = self.log.find_conflict_by_term(min(m.index, self.log.last_index()),
                                                         m.log_term)
        self._send(MT.APPEND_RESP, m.frm, index=m.index, reject=True, reject_hint=hint,
                   log_term=hint_term)

    def _handle_heartbeat(self, m: Message) -> None:
        # The leader caps the commit at what it knows we hold; stay within our log regardless.
        self.log.commit_to(min(m.commit, self.log.last_index()))
        # Our last index rides along: a node whose log was wiped (an operator's resync) tells
        # the leader it no longer holds what it once acknowledged.
        self._send(MT.HEARTBEAT_RESP, m.frm, index=self.log.last_index())

    def _handle_snapshot(self, m: Message) -> None:
        index, term = m.snapshot_index, m.snapshot_term
        if index <= self.log.committed:
            self._send(MT.APPEND_RESP, m.frm, index=self.log.committed)
        elif self.log.match_term(index, term):
            self.log.commit_to(index)  # we hold it already: no need to fetch anything
            self._send(MT.APPEND_RESP, m.frm, index=self.log.committed)
        elif self._installing is None or self._installing.index < index:
            self._installing = SnapshotRequest(index, term, m.frm)
            self._snapshot_surfaced = False

    # =============================================================================================
    # Leader
    # =============================================================================================
    def _propose(self, kind: EntryType, data: bytes) -> int:
        if type(data) is not bytes:
            raise TypeError(f"proposals are bytes, not {type(data).__name__}")
        if self.role != Role.LEADER:
            raise NotLeader(self.lead)
        if self._lead_transferee is not None:
            raise ProposalDropped(f"leadership is being transferred to {self._lead_transferee}")
        index = self.log.last_index() + 1
        self.log.append([Entry(index, self.term, kind, data)])
        self._broadcast_due = True  # sent with the next Ready, batched with other proposals
        return index

    def _step_leader(self, m: Message) -> None:
        pr = self._prs.get(m.frm)
        if pr is None:
            return
        if m.type == MT.APPEND_RESP:
            pr.recent_active = True
            if m.reject:
                self._handle_append_rejected(m, pr)
            else:
                self._handle_append_acked(m, pr)
        elif m.type == MT.HEARTBEAT_RESP:
            pr.recent_active = True
            self._handle_heartbeat_resp(m, pr)

    def _handle_append_acked(self, m: Message, pr: Progress) -> None:
        if m.index > self.log.last_index():
            return  # acknowledges entries we never sent: ignore
        if not (pr.acked(m.index) or (pr.match == m.index and pr.state == ProgressState.PROBE)):
            return
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()  # found the match point: start pipelining
        elif pr.state == ProgressState.SNAPSHOT and pr.match + 1 >= self.log.first_index():
            pr.become_probe()  # caught up out of band; what it needs next is in our log
            pr.become_replicate()
        if self._maybe_commit():
            self._bcast_append()  # tell everyone the new commit index
        while self._send_append(m.frm, send_if_empty=False):
            pass
        if m.frm == self._lead_transferee and pr.match == self.log.last_index():
            self._send_timeout_now(m.frm)

    def _handle_append_rejected(self, m: Message, pr: Progress) -> None:
        # Fast backtracking: jump to the last index where the follower's term is not later
        # than ours, skipping whole terms of conflicting entries per round trip.
        next_probe = m.reject_hint
        if m.log_term > 0:
            next_probe, _ = self.log.find_conflict_by_term(
                min(m.reject_hint, self.log.last_index()), m.log_term)
        if pr.rejected(m.index, next_probe):
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
            self._send_append(m.frm)

    def _handle_heartbeat_resp(self, m: Message, pr: Progress) -> None:
        pr.probe_sent = False  # a probe may have been lost: allow another
        if m.index < pr.match and pr.state != ProgressState.SNAPSHOT:
            # Raft assumes logs survive; a wiped-and-resynced follower's did not. Relearn where
            # it is instead of waiting for a write to be rejected. (Lowering match never lowers
            # the commit index: the leader's commit only moves forward.)
            pr.match = m.index
            pr.become_probe()
        if pr.state == ProgressState.SNAPSHOT:
            self._send_snapshot(m.frm, pr)  # idempotent: re-ask in case the request was lost
            return
        if pr.state == ProgressState.REPLICATE and pr.is_paused(self.cfg.max_inflight):
            pr.free_one_inflight()
        if pr.match < self.log.last_index():
            self._send_append(m.frm)

    def _leader_persisted(self) -> None:
        """Our own entries reached disk: count them, which may commit (a single voter commits
        right here)."""
        if self._prs[self.id].acked(self.log.persisted_index()) and self._maybe_commit():
            self._bcast_append()

    def _maybe_commit(self) -> bool:
        """Commit the highest index a quorum of voters holds, but only if it is from our own
        term (Figure 8: counting replicas does not commit entries of earlier terms)."""
        matches = sorted((self._prs[pid].match for pid in self._conf.voters if pid in self._prs),
                         reverse=True)
        if len(matches) < self._quorum():
            return False
        index = matches[self._quorum() - 1]
        if index <= self.log.committed or self.log.term(index) != self.term:
            return False
        return self.log.commit_to(index)

    def _leader_conf_changed(self) -> None:
        if self.id not in self._conf.voters:
            self._hand_over_and_step_down()
            return
        if self._lead_transferee is not None and self._lead_transferee not in self._conf.voters:
            self._lead_transferee = None
        if self._maybe_commit():  # the quorum changed size
            self._bcast_append()
        else:
            for pid in self._peers:  # new members start probing now
                self._send_append(pid, send_if_empty=False)

    def _hand_over_and_step_down(self) -> None:
        """A removed leader steps down; a fully caught-up voter campaigns at once instead of
        waiting out an election timeout."""
        last = self.log.last_index()
        for pid in self._peers:
            pr = self._prs.get(pid)
            if pid in self._conf.voters and pr is not None and pr.match == last:
                self._send_timeout_now(pid)
                break
        self._become_follower(self.term, None)

    def _send_timeout_now(self, to: str) -> None:
        self._send(MT.TIMEOUT_NOW, to)

    # -- replication ------------------------------------------------------------------------------
    def _bcast_append(self) -> None:
        for pid in self._peers:
            if self._send_append(pid):
                while self._send_append(pid, send_if_empty=False):
                    pass

    def _bcast_heartbeat(self) -> None:
        for pid in self._peers:
            pr = self._prs[pid]
            # Never tell a follower to commit past what it is known to hold.
            self._send(MT.HEARTBEAT, pid, commit=min(pr.match, self.log.committed))

    def _send_append(self, to: str, send_if_empty: bool = True) -> bool:
        """Send `to` the entries after its `next`, if flow control allows. True if sent."""
        pr = self._prs[to]
        if pr.is_paused(self.cfg.max_inflight):
            return False
        prev = pr.next - 1
        if prev < self.log.first_index() - 1:
            return self._send_snapshot(to, pr)
        entries = self._entries_for_message(pr.next)
        if not entries and not send_if_empty:
            return False
        self._send(MT.APPEND, to, index=prev, log_term=self.log.term(prev),
                   entries=tuple(entries), commit=self.log.committed)
        pr.sent_append(entries[-1].index if entries else prev, len(entries))
        return True

    def _entries_for_message(self, lo: int) -> list[Entry]:
        entries = self.log.entries(lo, lo + self.cfg.max_entries_per_msg)
        size = 0
        for n, e in enumerate(entries):
            size += len(e.data)
            if size > self.cfg.max_bytes_per_msg and n > 0:
                return entries[:n]
        return entries

    def _send_snapshot(self, to: str, pr: Progress) -> bool:
        """The entries `to` needs are compacted: ask it to catch up to our compaction point
        out of band (the message carries only the point; the application moves the data)."""
        if not pr.recent_active:
            return False  # it may be down; wait until it answers a heartbeat
        index, term = self.log.storage.snapshot_meta()
        pr.become_snapshot(index)
        self._send(MT.SNAPSHOT, to, snapshot_index=index, snapshot_term=term)
        return True

    def _send(self, kind: MT, to: str, *, term: int | None = None, **fields: Any) -> None:
        self._msgs.append(Message(kind, self.id, to, self.term if term is None else term,
                                  **fields))
