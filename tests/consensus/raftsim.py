"""A deterministic in-memory cluster for the Raft core, after etcd's `network` test helper.

Every node runs the real application loop (persist -> send -> apply -> advance) against a
MemoryStorage; messages travel through a simulated network that can cut links, isolate nodes,
drop a fraction of messages, delay and reorder them. Nodes crash (losing everything not yet
persisted) and restart from their storage. Time is ticks; there are no sleeps, and all
randomness comes from seeds, so a failing seed replays exactly.

After every Ready and every apply, `Safety` checks the five properties of the Raft paper
(Figure 3) and raises `SafetyViolation` at the first breach.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import msgpack

from consensus import (
    Config,
    ConfState,
    Dropped,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    Raft,
    Role,
    SnapshotRequest,
)


class SafetyViolation(AssertionError):
    pass


def conf_entry_data(voters: Iterable[str], learners: Iterable[str] = ()) -> bytes:
    """How the sim's application encodes a membership change in a CONF_CHANGE entry."""
    return msgpack.packb(ConfState(frozenset(voters), frozenset(learners)).to_wire())


def decode_conf(data: bytes) -> ConfState:
    return ConfState.from_wire(msgpack.unpackb(data))


# -- the five safety properties -------------------------------------------------------------------

class Safety:
    """Checks, incrementally, Election Safety, Leader Append-Only, Log Matching, Leader
    Completeness and State Machine Safety over everything the cluster does."""

    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}  # term -> the one leader of that term
        self.slots: dict[tuple[int, int], tuple] = {}  # (index, term) -> (type, data, prev term)
        self.applied: dict[int, Entry] = {}  # index -> the entry every node applies there
        self.committed: dict[int, tuple[int, int]] = {}  # index -> (entry term, term seen
        #                                                   committed in: >= the real one)
        self.max_committed = 0
        self._leader_appends: dict[str, tuple[int, int]] = {}  # node -> (term, last appended)

    def on_role(self, node_id: str, raft: Raft) -> None:
        if raft.role != Role.LEADER:
            return
        holder = self.leaders.setdefault(raft.term, node_id)
        if holder != node_id:
            raise SafetyViolation(
                f"election safety: {holder} and {node_id} both lead term {raft.term}")
        self._check_leader_completeness(node_id, raft)

    def _check_leader_completeness(self, node_id: str, raft: Raft) -> None:
        first = raft.log.first_index()
        for index in range(max(first, 1), self.max_committed + 1):
            term, commit_term = self.committed[index]
            if commit_term < raft.term and (index > raft.log.last_index()
                                            or raft.log.term(index) != term):
                raise SafetyViolation(f"leader completeness: {node_id} leads term {raft.term} "
                                      f"without entry {index} committed in term {commit_term}")

    def on_persist(self, node_id: str, raft: Raft, storage: MemoryStorage,
                   entries: list[Entry]) -> None:
        first = entries[0].index
        if raft.role == Role.LEADER:
            term, last = self._leader_appends.get(node_id, (-1, 0))
            if term == raft.term and first <= last:
                raise SafetyViolation(f"leader append-only: {node_id} overwrote its log at {first}")
            self._leader_appends[node_id] = (raft.term, entries[-1].index)
        prev_term = storage.term(first - 1)
        for e in entries:
            slot = (e.type, e.data, prev_term)
            known = self.slots.setdefault((e.index, e.term), slot)
            if known != slot:
                raise SafetyViolation(f"log matching: {node_id} holds a different entry or "
                                      f"history at index {e.index} term {e.term}")
            prev_term = e.term

    def on_commit(self, raft: Raft, commit: int, term: int) -> None:
        """`raft` reports `commit` while in `term` (>= the term that really committed it)."""
        if commit <= self.max_committed:
            return
        first = raft.log.first_index()  # below it, the entries came from another node's state
        for index in range(self.max_committed + 1, commit + 1):
            entry_term = raft.log.term(index) if index >= first else self.applied[index].term
            self.committed[index] = (entry_term, term)
        self.max_committed = commit

    def on_apply(self, node_id: str, entry: Entry) -> None:
        known = self.applied.setdefault(entry.index, entry)
        if known != entry:
            raise SafetyViolation(f"state machine safety: {node_id} applied {entry} where "
                                  f"another node applied {known}")


# -- nodes ----------------------------------------------------------------------------------------

@dataclass
class SimNode:
    id: str
    config: Config
    storage: MemoryStorage
    raft: Raft | None = None  # None while crashed
    state: list[Entry] = field(default_factory=list)  # the applied state machine (durable)
    confs: list[tuple[int, ConfState]] = field(default_factory=list)  # applied conf changes
    installing: tuple[SnapshotRequest, int] | None = None  # (request, tick it completes at)
    restarts: int = 0

    @property
    def alive(self) -> bool:
        return self.raft is not None

    @property
    def applied(self) -> int:
        return len(self.state)

    def data(self) -> list[bytes]:
        """The application commands applied, in order (no-ops and conf changes left out)."""
        return [e.data for e in self.state if e.type == EntryType.NORMAL]

    def conf_at(self, index: int) -> ConfState | None:
        found = None
        for at, conf in self.confs:
            if at <= index:
                found = conf
        return found


@dataclass
class InFlight:
    deliver_at: int  # tick
    msg: Message


class Network:
    """N nodes on a faulty network, driven tick by tick."""

    def __init__(self, voters: Iterable[str], learners: Iterable[str] = (), *, seed: int = 0,
                 election_tick: int = 10, heartbeat_tick: int = 1, pre_vote: bool = True,
                 check_quorum: bool = True, max_inflight: int = 64,
                 max_entries_per_msg: int = 64, compact_keep: int | None = None,
                 install_ticks: int = 2, storages: dict[str, MemoryStorage] | None = None):
        self.seed = seed
        self.rng = random.Random(seed)  # faults only; each node has its own election rng
        self.safety = Safety()
        self.now = 0
        self.compact_keep = compact_keep  # compact each log to this many entries behind applied
        self.install_ticks = install_ticks  # ticks an out-of-band snapshot fetch takes
        self._knobs = dict(election_tick=election_tick, heartbeat_tick=heartbeat_tick,
                           pre_vote=pre_vote, check_quorum=check_quorum,
                           max_inflight=max_inflight, max_entries_per_msg=max_entries_per_msg)
        self.nodes: dict[str, SimNode] = {}
        self.inflight: list[InFlight] = []
        # faults
        self.cut_links: set[tuple[str, str]] = set()  # (from, to) pairs that lose everything
        self.drop_rate = 0.0  # fraction of all messages lost
        self.max_delay = 0  # messages wait 0..max_delay ticks
        self.reorder = False  # deliver each batch in random order
        self.filter: Callable[[Message], bool] | None = None  # False: drop the message
        # observations
        self.sent: Counter[MessageType] = Counter()
        self.trace: list[Message] | None = None  # set to [] to record every message sent
        self.dropped: list[tuple[str, Dropped]] = []  # (node, what its Ready reported dropped)
        voters, learners = sorted(voters), sorted(learners)
        for nid in voters + learners:
            storage = (storages or {}).get(nid) or MemoryStorage()
            self.add_node(nid, voters, learners, storage=storage)

    # -- membership of the simulation -------------------------------------------------------------
    def add_node(self, nid: str, voters: Iterable[str] = (), learners: Iterable[str] = (), *,
                 storage: MemoryStorage | None = None) -> SimNode:
        """Start a node; with no voters it is joining and waits to hear from a leader."""
        config = Config(nid, tuple(voters), tuple(learners),
                        rng=random.Random(f"{self.seed}/{nid}"), **self._knobs)
        node = SimNode(nid, config, storage or MemoryStorage())
        self.nodes[nid] = node
        self._boot(node)
        return node

    def _boot(self, node: SimNode) -> None:
        snap_index, _ = node.storage.snapshot_meta()
        node.raft = Raft(replace(node.config, applied=max(node.applied, snap_index)), node.storage)
        self.safety.on_role(node.id, node.raft)

    def crash(self, nid: str) -> None:
        """Stop a node: whatever it had not persisted is gone, including a snapshot fetch."""
        node = self.nodes[nid]
        node.raft = None
        node.installing = None

    def restart(self, nid: str) -> None:
        node = self.nodes[nid]
        node.restarts += 1
        node.config = replace(node.config, rng=random.Random(f"{self.seed}/{nid}/{node.restarts}"))
        self._boot(node)

    # -- faults -----------------------------------------------------------------------------------
    def cut(self, a: str, b: str) -> None:
        self.cut_links |= {(a, b), (b, a)}

    def isolate(self, nid: str) -> None:
        for other in self.nodes:
            if other != nid:
                self.cut(nid, other)

    def partition(self, *groups: Iterable[str]) -> None:
        groups = [set(g) for g in groups]
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        self.cut(a, b)

    def recover(self) -> None:
        """Heal every link and stop losing, delaying, reordering or filtering messages."""
        self.cut_links.clear()
        self.drop_rate = 0.0
        self.max_delay = 0
        self.reorder = False
        self.filter = None

    # -- driving ----------------------------------------------------------------------------------
    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.now += 1
            for node in self._alive():
                node.raft.tick()
                if node.installing and node.installing[1] <= self.now:
                    self._finish_install(node)
            self.settle()

    def settle(self, max_rounds: int = 10_000) -> None:
        """Run app loops and deliver every message due now, until nothing is left to do."""
        for _ in range(max_rounds):
            busy = False
            for node in self._alive():
                busy |= self._drain(node)
            due = [f for f in self.inflight if f.deliver_at <= self.now]
            if due:
                busy = True
                self.inflight = [f for f in self.inflight if f.deliver_at > self.now]
                if self.reorder:
                    self.rng.shuffle(due)
                for f in due:
                    node = self.nodes.get(f.msg.to)
                    if node is not None and node.alive:
                        node.raft.step(f.msg)
            if not busy:
                return
        raise RuntimeError("network did not settle")

    def run_until(self, condition: Callable[[], bool], max_ticks: int) -> int:
        """Tick until `condition` holds; returns the ticks taken. Fails after `max_ticks`."""
        self.settle()
        for n in range(max_ticks + 1):
            if condition():
                return n
            self.tick()
        raise AssertionError(f"condition not reached within {max_ticks} ticks")

    def elect(self, max_ticks: int = 200) -> str:
        """Tick until exactly one live node leads, all live members agreeing; return its id."""
        self.run_until(lambda: self.agreed_leader() is not None, max_ticks)
        return self.agreed_leader()

    def agreed_leader(self) -> str | None:
        leaders = [n for n in self._alive() if n.raft.role == Role.LEADER]
        if len(leaders) != 1:
            return None
        leader = leaders[0]
        for n in self._alive():
            if n.id in leader.raft.conf_state.members and n.raft.leader_id != leader.id:
                return None
        return leader.id

    def inject(self, m: Message) -> None:
        """Put a message on the wire that no node's Raft sent (a forgery, as a hostile member
        would send it); delivered at the next settle, through the same faults as any other."""
        self._send(m)

    def propose(self, data: bytes, via: str | None = None) -> int:
        """Propose on `via` (default: the leader); returns the entry's index."""
        return self.nodes[via or self.leader()].raft.propose(data)

    def leader(self) -> str:
        """The live leader with the highest term."""
        leaders = [n for n in self._alive() if n.raft.role == Role.LEADER]
        if not leaders:
            raise AssertionError("no leader")
        return max(leaders, key=lambda n: n.raft.term).id

    def wait_applied(self, ids: Iterable[str], index: int, max_ticks: int = 200) -> None:
        ids = list(ids)
        self.run_until(lambda: all(self.nodes[i].applied >= index for i in ids), max_ticks)

    def converged(self, ids: Iterable[str] | None = None) -> bool:
        """The given nodes (default: all live ones) applied exactly the same entries."""
        nodes = [self.nodes[i] for i in ids] if ids is not None else self._alive()
        states = {tuple(n.state) for n in nodes}
        return len(states) == 1

    def status(self, nid: str):
        return self.nodes[nid].raft.status()

    def _alive(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.alive]

    # -- the application loop ---------------------------------------------------------------------
    def _drain(self, node: SimNode) -> bool:
        raft, did = node.raft, False
        while raft is node.raft and raft.has_ready():
            did = True
            rd = raft.ready()
            # 1. persist entries and hard state (one synced write)
            if rd.entries:
                self.safety.on_persist(node.id, raft, node.storage, rd.entries)
                node.storage.append(rd.entries)
            if rd.hard_state:
                node.storage.set_hard_state(rd.hard_state)
                self.safety.on_commit(raft, rd.hard_state.commit, rd.hard_state.term)
            if rd.soft_state:
                self.safety.on_role(node.id, raft)
            self.dropped.extend((node.id, d) for d in rd.dropped)
            # 2. send
            for m in rd.messages:
                self._send(m)
            # 3. apply
            for e in rd.committed_entries:
                self._apply(node, e)
            # 4. start catching up out of band
            if rd.snapshot:
                node.installing = (rd.snapshot, self.now + self.install_ticks)
            raft.advance(rd)
            self._maybe_compact(node)
        return did

    def _apply(self, node: SimNode, e: Entry) -> None:
        if e.index != node.applied + 1:
            raise SafetyViolation(f"{node.id} applied {e.index} after {node.applied}")
        self.safety.on_apply(node.id, e)
        node.state.append(e)
        if e.type == EntryType.CONF_CHANGE:
            conf = decode_conf(e.data)
            node.confs.append((e.index, conf))
            node.storage.set_conf_state(conf)
            node.raft.apply_conf_change(conf)

    def _maybe_compact(self, node: SimNode) -> None:
        if self.compact_keep is None:
            return
        target = min(node.applied, node.storage.last_index()) - self.compact_keep
        if target > node.storage.snapshot_meta()[0]:
            node.storage.compact(target)

    def _finish_install(self, node: SimNode) -> None:
        """Fetch the state up to the requested point from the leader's (durable) block store."""
        request, _ = node.installing
        node.installing = None
        source = self.nodes[request.leader]
        if source.applied < request.index:
            node.raft.snapshot_failed()
            return
        fetched = source.state[:request.index]
        for e in fetched[node.applied:]:
            self.safety.on_apply(node.id, e)
        node.state = list(fetched)
        node.confs = [c for c in source.confs if c[0] <= request.index]
        node.storage.apply_snapshot(request.index, request.term)
        conf = source.conf_at(request.index)
        if conf is not None:
            node.storage.set_conf_state(conf)
            node.raft.apply_conf_change(conf)
        node.raft.snapshot_installed(request.index, request.term)

    def _send(self, m: Message) -> None:
        self.sent[m.type] += 1
        if self.trace is not None:
            self.trace.append(m)
        wire = Message.from_wire(msgpack.unpackb(msgpack.packb(m.to_wire())))
        if wire != m:
            raise AssertionError(f"wire round trip changed {m}")
        if (m.frm, m.to) in self.cut_links:
            return
        if self.filter is not None and not self.filter(m):
            return
        if self.drop_rate and self.rng.random() < self.drop_rate:
            return
        delay = self.rng.randint(0, self.max_delay) if self.max_delay else 0
        self.inflight.append(InFlight(self.now + delay, wire))


def log_of(terms: Iterable[int]) -> list[Entry]:
    """Entries 1.. with the given terms (data names their position)."""
    return [Entry(i, t, EntryType.NORMAL, f"{i}@{t}".encode()) for i, t in enumerate(terms, 1)]


def storage_with(terms: Iterable[int], term: int | None = None) -> MemoryStorage:
    """A storage holding a log with the given entry terms, at `term` (default: the last)."""
    from consensus import HardState
    entries = log_of(terms)
    storage = MemoryStorage(HardState(term if term is not None else
                                      (entries[-1].term if entries else 0), None, 0))
    storage.append(entries)
    return storage


def drive(raft: Raft, storage: MemoryStorage) -> list[Message]:
    """Run one node's application loop until idle; return the messages it would send."""
    sent: list[Message] = []
    while raft.has_ready():
        rd = raft.ready()
        storage.append(rd.entries)
        if rd.hard_state:
            storage.set_hard_state(rd.hard_state)
        sent.extend(rd.messages)
        raft.advance(rd)
    return sent
