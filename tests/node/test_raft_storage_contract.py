"""The Storage contract the Raft core relies on, checked against both implementations.

consensus.MemoryStorage (the reference, used by the simulation) and node.store.raftlog's
LevelDBStorage (what the daemon runs on) pass the same tests: the log's positions, appends that
cut a conflicting suffix, compaction and snapshots, hard state and membership. LevelDBStorage
runs twice, with its cache of recent entries and without, so that both read paths are covered.

Then what only the LevelDB one promises: a reopened store answers the same, a Ready's hard
state and entries are one batch, a store written by the earlier daemon (which mirrored the log
in a MemoryStorage) reads the same, a catch-up's on-disk log restart stays out of the core's
view until it completes. Last, the seeded fault simulation runs on both storages and must send
exactly the same messages and apply exactly the same entries.
"""
from __future__ import annotations

import random
import struct
import tempfile
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import (
    CompactedError,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    MessageType,
    NotLeader,
    ProposalDropped,
    Role,
    UnavailableError,
)
from node.ledger.codec import pack
from node.store.db import Store, StoreError
from node.store.raftlog import CACHE_ENTRIES, LevelDBStorage
from tests.consensus.raftsim import Network

from ..crashdb import CrashableDB
from .support import HOUR, T0


class DiskLog(LevelDBStorage):
    """LevelDBStorage answering MemoryStorage's write calls (which the simulation and these
    tests make) the way the daemon makes them, and reopening itself from disk."""

    @classmethod
    def open(cls, path: Path, genesis, cache_entries: int = CACHE_ENTRIES, db=None) -> DiskLog:
        s = cls(Store(path, genesis, db), cache_entries)
        s.path = path
        return s

    def append(self, entries: list[Entry]) -> None:
        self.persist(None, entries, sync=False)

    def set_hard_state(self, hard_state: HardState) -> None:
        self.persist(hard_state, [], sync=False)

    def set_conf_state(self, conf: ConfState) -> None:
        self.store.skip_entry(self.store.applied_index(), conf.to_wire())  # as a conf entry does

    def reopened(self) -> DiskLog:
        """Close the database and open it again: only what is on disk remains."""
        self.store.close()
        return DiskLog.open(self.path, self.store.genesis, self._cache_entries)


def answers(s) -> dict:
    """Everything the core can read, in one comparable value."""
    snap, _ = s.snapshot_meta()
    last = s.last_index()
    return {"initial_state": s.initial_state(), "snapshot_meta": s.snapshot_meta(),
            "first": s.first_index(), "last": last,
            "terms": [s.term(i) for i in range(snap, last + 1)],
            "entries": s.entries(s.first_index(), last + 1)}


def log_of(terms, start: int = 1) -> list[Entry]:
    """Entries from `start` with the given terms, of every type, data naming their position."""
    kinds = [EntryType.NORMAL, EntryType.NOOP, EntryType.CONF_CHANGE]
    return [Entry(i, t, kinds[i % 3], f"{i}@{t}".encode()) for i, t in enumerate(terms, start)]


KINDS = ["memory", "leveldb", "leveldb-uncached"]


@pytest.fixture(params=KINDS)
def storage(request, tmp_path, genesis):
    if request.param == "memory":
        yield MemoryStorage()
        return
    s = DiskLog.open(tmp_path / "db", genesis,
                      cache_entries=0 if request.param == "leveldb-uncached" else CACHE_ENTRIES)
    yield s
    s.store.close()


# -- the contract, for both implementations -------------------------------------------------------

def test_a_new_storage_holds_an_empty_log(storage):
    assert (storage.first_index(), storage.last_index(), storage.snapshot_meta()) == (1, 0, (0, 0))
    assert storage.term(0) == 0
    assert storage.entries(1, 1) == []
    assert storage.initial_state() == (HardState(), ConfState())


def test_appended_entries_read_back_with_their_terms(storage):
    log = log_of([1, 1, 2, 2, 3])
    storage.append(log[:2])
    storage.append(log[2:])
    assert (storage.first_index(), storage.last_index()) == (1, 5)
    assert storage.entries(1, 6) == log
    assert storage.entries(2, 4) == log[1:3]
    assert [storage.term(i) for i in range(0, 6)] == [0, 1, 1, 2, 2, 3]


def test_append_overwrites_a_conflicting_suffix(storage):
    storage.append(log_of([1] * 5))
    new = [Entry(3, 2, data=b"new 3"), Entry(4, 2, data=b"new 4")]
    storage.append(new)
    assert storage.last_index() == 4
    assert storage.entries(1, 5) == log_of([1] * 5)[:2] + new
    with pytest.raises(UnavailableError):
        storage.term(5)  # the old entry 5 is gone, not just hidden
    storage.append([Entry(5, 2, data=b"new 5")])
    assert [e.data for e in storage.entries(3, 6)] == [b"new 3", b"new 4", b"new 5"]
    storage.append([Entry(1, 3, data=b"all new")])  # a leader can replace the whole log
    assert storage.entries(1, 2) == [Entry(1, 3, data=b"all new")]
    assert storage.last_index() == 1


def test_append_that_would_leave_a_gap_is_refused_and_changes_nothing(storage):
    storage.append(log_of([1, 1]))
    with pytest.raises(ValueError):
        storage.append([Entry(4, 1)])
    assert storage.last_index() == 2 and storage.entries(1, 3) == log_of([1, 1])


def test_reads_outside_the_log_raise_compacted_or_unavailable(storage):
    storage.append(log_of([1, 1, 2, 2, 2]))
    storage.compact(2)
    with pytest.raises(CompactedError):
        storage.entries(2, 4)
    with pytest.raises(CompactedError):
        storage.term(1)
    with pytest.raises(UnavailableError):
        storage.entries(3, 7)
    with pytest.raises(UnavailableError):
        storage.term(6)


def test_compaction_keeps_the_term_of_the_compaction_point(storage):
    log = log_of([1, 1, 1, 1, 2, 2, 2, 2, 2, 2])
    storage.append(log)
    storage.compact(6)
    assert (storage.first_index(), storage.last_index(), storage.snapshot_meta()) == (7, 10, (6, 2))
    assert storage.term(6) == 2
    assert storage.entries(7, 11) == log[6:]
    storage.compact(3)  # already compacted: nothing happens
    assert storage.snapshot_meta() == (6, 2) and storage.entries(7, 11) == log[6:]
    with pytest.raises(ValueError):
        storage.compact(11)  # past the last index
    storage.compact(10)  # everything: the log is empty, its last term still known
    assert (storage.first_index(), storage.last_index(), storage.term(10)) == (11, 10, 2)
    storage.append([Entry(11, 3, data=b"next")])
    assert storage.entries(11, 12) == [Entry(11, 3, data=b"next")]


def test_an_append_reaching_into_the_compacted_part_keeps_only_what_is_after_it(storage):
    storage.append(log_of([1] * 8))
    storage.compact(5)
    storage.append([Entry(4, 1), Entry(5, 1), Entry(6, 4, data=b"six"), Entry(7, 4, data=b"seven")])
    assert storage.snapshot_meta() == (5, 1)
    assert storage.last_index() == 7
    assert [(e.index, e.term) for e in storage.entries(6, 8)] == [(6, 4), (7, 4)]


def test_an_append_of_compacted_entries_only_changes_nothing(storage):
    storage.append(log_of([1] * 8))
    storage.compact(5)
    storage.append([Entry(4, 1), Entry(5, 1)])
    assert (storage.snapshot_meta(), storage.last_index()) == ((5, 1), 8)
    assert storage.entries(6, 9) == log_of([1] * 8)[5:]


def test_apply_snapshot_restarts_the_log_after_it(storage):
    storage.append(log_of([1, 1, 2, 2, 2]))
    storage.set_hard_state(HardState(2, "b", 3))
    storage.apply_snapshot(50, 4)
    assert (storage.first_index(), storage.last_index()) == (51, 50)
    assert storage.snapshot_meta() == (50, 4)
    assert storage.term(50) == 4 and storage.entries(51, 51) == []
    with pytest.raises(CompactedError):
        storage.term(49)
    with pytest.raises(CompactedError):
        storage.entries(50, 51)
    assert storage.initial_state()[0] == HardState(2, "b", 50)  # what is in the state is committed
    storage.append([Entry(51, 4, data=b"after")])
    assert (storage.last_index(), storage.entries(51, 52)) == (51, [Entry(51, 4, data=b"after")])
    with pytest.raises(ValueError):
        storage.apply_snapshot(10, 1)  # older than the compaction point


def test_a_snapshot_inside_the_log_drops_the_entries_after_it_too(storage):
    storage.append(log_of([1] * 10))
    storage.apply_snapshot(5, 1)
    assert (storage.first_index(), storage.last_index()) == (6, 5)
    with pytest.raises(UnavailableError):
        storage.term(6)


def test_hard_state_round_trips(storage):
    storage.set_hard_state(HardState(7, "b", 0))
    storage.append(log_of([7, 7, 7]))
    storage.set_hard_state(HardState(8, None, 2))
    assert storage.initial_state()[0] == HardState(8, None, 2)


def test_conf_state_round_trips(storage):
    conf = ConfState(frozenset({"a", "b", "c"}), frozenset({"obs"}))
    storage.set_conf_state(conf)
    assert storage.initial_state()[1] == conf
    storage.set_conf_state(ConfState(frozenset({"a", "b"})))
    assert storage.initial_state()[1] == ConfState(frozenset({"a", "b"}))


def test_a_long_log_with_overwrites_reads_back_entry_for_entry(storage):
    """Beyond the cache: older entries come back from the database, newer ones from memory."""
    expected: list[Entry] = []
    rng = random.Random(7)
    for term in range(1, 40):
        first = max(1, len(expected) + 1 - rng.choice([0, 0, 3]))
        batch = log_of([term] * rng.randint(1, 9), start=first)
        storage.append(batch)
        expected = expected[:first - 1] + batch
    assert storage.last_index() == len(expected) > CACHE_ENTRIES
    assert storage.entries(1, len(expected) + 1) == expected
    assert [storage.term(i) for i in range(1, len(expected) + 1)] == [e.term for e in expected]
    half = len(expected) // 2
    storage.compact(half)
    assert storage.entries(half + 1, len(expected) + 1) == expected[half:]


# -- LevelDB agrees with the reference under any sequence of writes, and across reopens -----------

def _op():
    return st.one_of(
        st.tuples(st.just("append"), st.integers(0, 6), st.integers(1, 5), st.integers(0, 1)),
        st.tuples(st.just("compact"), st.integers(0, 8)),
        st.tuples(st.just("snapshot"), st.integers(-3, 6)),
        st.tuples(st.just("hard_state"), st.integers(0, 3)),
        st.tuples(st.just("reopen")))


class Writer:
    """Turns a drawn operation into a write an application could make, given the log so far:
    terms never go down, the commit never goes down, compaction stays behind the commit."""

    def __init__(self) -> None:
        self.term, self.commit = 1, 0

    def write(self, op, s) -> tuple[str, tuple]:
        kind, *args = op
        snap, last = s.snapshot_meta()[0], s.last_index()
        if kind == "append":
            back, n, bump = args
            self.term += bump
            return "append", (log_of([self.term] * n, start=max(1, last + 1 - back)),)
        if kind == "compact":
            return "compact", (max(snap, min(self.commit, last) - args[0]),)
        if kind == "snapshot":
            self.term += 1
            index = max(snap, last + args[0])
            self.commit = max(self.commit, index)
            return "apply_snapshot", (index, self.term)
        self.commit = max(self.commit, last - args[0])
        return "set_hard_state", (HardState(self.term, None, self.commit),)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_op(), max_size=25), cache_entries=st.sampled_from([0, 2, CACHE_ENTRIES]))
def test_leveldb_answers_exactly_as_memory_storage_after_any_writes(genesis, ops, cache_entries):
    with tempfile.TemporaryDirectory() as tmp:
        reference, writer = MemoryStorage(), Writer()
        disk = DiskLog.open(Path(tmp) / "db", genesis, cache_entries)
        try:
            for op in ops:
                if op[0] == "reopen":
                    disk = disk.reopened()
                else:
                    name, args = writer.write(op, reference)
                    getattr(reference, name)(*args)
                    getattr(disk, name)(*args)
                assert answers(disk) == answers(reference), op
        finally:
            disk.store.close()


# -- what only the LevelDB storage promises -------------------------------------------------------

@pytest.fixture
def disk(tmp_path, genesis):
    s = DiskLog.open(tmp_path / "db", genesis)
    yield s
    s.store.close()


def test_a_reopened_storage_answers_the_same(disk):
    disk.set_hard_state(HardState(3, "a", 0))
    disk.append(log_of([1, 1, 2, 2, 3, 3, 3]))
    disk.append([Entry(6, 4, data=b"overwritten")])
    disk.set_hard_state(HardState(4, "a", 5))
    disk.set_conf_state(ConfState(frozenset({"a", "b", "c"})))
    before = answers(disk)
    disk = disk.reopened()
    assert answers(disk) == before
    disk.compact(4)
    before = answers(disk)
    disk = disk.reopened()
    assert answers(disk) == before and disk.snapshot_meta() == (4, 2)
    disk.apply_snapshot(20, 5)
    before = answers(disk)
    disk = disk.reopened()
    assert answers(disk) == before and disk.initial_state()[0].commit == 20
    disk.store.close()


def test_hard_state_and_entries_of_a_ready_are_one_batch(tmp_path, genesis):
    db = CrashableDB()
    s = DiskLog.open(tmp_path / "db", genesis, db=db)
    synced = db.synced_batches
    s.persist(HardState(2, "b", 0), log_of([1, 2]), sync=True)
    assert db.synced_batches == synced + 1
    s.persist(HardState(3, "c", 2), log_of([3, 3], start=3), sync=False)
    assert len(db.volatile) == 1  # one write: a power cut keeps both or neither
    db.crash()
    s = DiskLog(Store("unused", genesis, db))
    assert s.initial_state()[0] == HardState(2, "b", 0)
    assert s.entries(1, s.last_index() + 1) == log_of([1, 2])


def test_entries_just_persisted_are_read_without_the_database(tmp_path, genesis):
    """The leader sends, and every node applies, what it has just persisted: from memory."""
    db = CrashableDB()
    s = DiskLog.open(tmp_path / "db", genesis, db=db)
    s.append(log_of([1] * 10))
    db.iterator = None  # any database read from here on fails
    assert s.entries(5, 11) == log_of([1] * 10)[4:]
    assert s.term(3) == 1


def legacy_mirror(store: Store) -> MemoryStorage:
    """How the daemon loaded the log before LevelDBStorage (daemon.py's _raft_storage)."""
    hard = store.hard_state()
    conf = store.raft_conf()
    storage = MemoryStorage(HardState.from_wire(hard) if hard else HardState(),
                            ConfState.from_wire(conf) if conf else None)
    index, term = store.raft_compacted()
    if index:
        storage.apply_snapshot(index, term)
    storage.append([Entry.from_wire(msgpack.unpackb(raw))
                    for _, raw in store.raft_entries(index + 1)])
    return storage


def test_a_log_written_by_the_earlier_daemon_reads_the_same(tmp_path, genesis):
    """The earlier daemon wrote through Store directly and mirrored the log in memory."""
    store = Store(tmp_path / "db", genesis)
    encoded = lambda entries: [(e.index, pack(e.to_wire())) for e in entries]  # noqa: E731
    store.save_raft([2, "b", 0], encoded(log_of([1, 1, 2, 2, 2, 2])))
    store.save_raft([3, "c", 4], encoded(log_of([3, 3], start=5)))  # cut the suffix at 5
    store.compact_raft_log(3, 2)
    store.skip_entry(3, [["a", "b", "c"], ["obs"]])
    assert answers(LevelDBStorage(store)) == answers(legacy_mirror(store))
    store.reset_raft_log(40, 4)  # a completed catch-up
    store.save_raft([4, None, 40], encoded(log_of([4, 4], start=41)))
    assert answers(LevelDBStorage(store)) == answers(legacy_mirror(store))
    store.save_raft([4, None, 12], [])  # a commit behind the compaction point reads as the point
    assert LevelDBStorage(store).initial_state()[0] == legacy_mirror(store).initial_state()[0]
    store.close()


def test_the_on_disk_format_is_the_one_stores_already_hold(tmp_path, genesis):
    """Keys and values byte for byte, as the store format has been since the first version."""
    store = Store(tmp_path / "db", genesis)
    u64 = lambda n: struct.pack(">Q", n)  # noqa: E731
    with store.db.write_batch() as wb:
        wb.put(b"mhard_state", msgpack.packb([5, "n1", 7]))
        wb.put(b"mraft_compacted", msgpack.packb([6, 4]))
        wb.put(b"mraft_conf", msgpack.packb([["n1", "n2"], ["n3"]]))
        wb.put(b"L" + u64(7), msgpack.packb([7, 5, 0, b"block"]))
        wb.put(b"L" + u64(8), msgpack.packb([8, 5, 1, b""]))
    s = LevelDBStorage(store)
    assert s.initial_state() == (HardState(5, "n1", 7),
                                 ConfState(frozenset({"n1", "n2"}), frozenset({"n3"})))
    assert (s.snapshot_meta(), s.first_index(), s.last_index(), s.term(6)) == ((6, 4), 7, 8, 4)
    assert s.entries(7, 9) == [Entry(7, 5, EntryType.NORMAL, b"block"), Entry(8, 5, EntryType.NOOP)]
    s.persist(HardState(6, "n2", 8), [Entry(9, 6, EntryType.NORMAL, b"next")])
    assert store.db.get(b"L" + u64(9)) == msgpack.packb([9, 6, 0, b"next"])
    assert store.db.get(b"mhard_state") == msgpack.packb([6, "n2", 8])
    store.close()


def test_a_gap_in_the_log_on_disk_is_store_error(tmp_path, genesis):
    s = DiskLog.open(tmp_path / "db", genesis)
    s.append(log_of([1] * 5))
    s.store.db.delete(b"L" + struct.pack(">Q", 3))
    s.store.close()
    with pytest.raises(StoreError, match="gap"):
        DiskLog.open(tmp_path / "db", genesis)
    Store(tmp_path / "db", genesis).close()  # the store itself still opens (resync can run)


def test_a_catch_up_restarting_the_log_on_disk_stays_out_of_view_until_it_completes(
        tmp_path, genesis, chain):
    """Each fetched block restarts the log on disk in its own batch, so a crash restarts
    there; the running core keeps its view, and its terms, until apply_snapshot."""
    s = DiskLog.open(tmp_path / "db", genesis)
    s.append(log_of([1, 1, 2, 2]))
    s.set_hard_state(HardState(3, None, 2))
    before = s.snapshot_meta(), s.last_index(), s.term(4)
    result = chain.commit(chain.execute(chain.block([], T0 + HOUR, term=3)))
    s.store.write_block(result, raft_index=30, restart_log=True)  # a fetched block
    assert (s.snapshot_meta(), s.last_index(), s.term(4)) == before
    after_crash = LevelDBStorage(s.store)  # what a node killed now would start from
    assert (after_crash.snapshot_meta(), after_crash.last_index()) == ((30, 3), 30)
    assert after_crash.initial_state()[0] == HardState(3, None, 30)
    s.apply_snapshot(35, 3)  # the catch-up completed
    assert (s.snapshot_meta(), s.last_index()) == ((35, 3), 35)
    s.store.close()


# -- the Raft core behaves the same on both storages ----------------------------------------------

class DiskNetwork(Network):
    """The simulated cluster with every node on its own LevelDB; a restart reopens it."""

    def restart(self, nid: str) -> None:
        node = self.nodes[nid]
        node.storage = node.storage.reopened()
        super().restart(nid)


def run_faulty_cluster(net: Network, seed: int) -> Network:
    """Proposals while nodes crash and restart on a lossy network, with compaction (so that
    restarted nodes catch up out of band); then heal and let everyone converge."""
    rng = random.Random(seed)
    net.trace = []
    net.drop_rate, net.max_delay = 0.05, 1
    ids = sorted(net.nodes)
    for step in range(120):
        for _ in range(rng.randint(0, 2)):
            leaders = [n for n in ids
                       if net.nodes[n].alive and net.nodes[n].raft.role == Role.LEADER]
            if leaders:
                try:
                    net.nodes[rng.choice(leaders)].raft.propose(b"%d/%d" % (seed, step))
                except (NotLeader, ProposalDropped):
                    pass
        net.tick(rng.choice([1, 2, 3]))
        if rng.random() < 0.15:
            nid = rng.choice(ids)
            if net.nodes[nid].alive and sum(net.nodes[n].alive for n in ids) > 2:
                net.crash(nid)
            elif not net.nodes[nid].alive:
                net.restart(nid)
    net.recover()
    for nid in ids:
        if not net.nodes[nid].alive:
            net.restart(nid)
    net.tick(60)
    return net


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_simulated_cluster_runs_identically_on_leveldb(tmp_path, genesis, seed):
    nodes = ["a", "b", "c", "d", "e"]
    knobs = dict(seed=seed, compact_keep=3, install_ticks=1)
    memory = run_faulty_cluster(Network(nodes, **knobs), seed)
    disks = {n: DiskLog.open(tmp_path / n, genesis) for n in nodes}
    disk = run_faulty_cluster(DiskNetwork(nodes, storages=disks, **knobs), seed)
    try:
        assert len(memory.nodes["a"].data()) > 30 and memory.converged()
        assert memory.sent[MessageType.SNAPSHOT] > 0  # lagging nodes caught up out of band
        assert sum(n.restarts for n in disk.nodes.values()) > 0
        assert disk.trace == memory.trace  # every message, in order
        for n in nodes:
            assert disk.nodes[n].state == memory.nodes[n].state
            assert answers(disk.nodes[n].storage) == answers(memory.nodes[n].storage)
    finally:
        for n in nodes:
            disk.nodes[n].storage.store.close()
