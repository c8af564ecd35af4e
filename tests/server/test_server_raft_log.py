"""node.server.raft_log over LevelDBStorage: what the core reads equals what the store holds,
compaction and a restart of the log after a catch-up."""
from __future__ import annotations

import pytest

from consensus import ConfState, Entry, HardState, Ready
from node.server.raft_log import RaftLog
from node.store.db import Store

from ..crashdb import CrashableDB


def ready(entries=(), hard: HardState | None = None, sync: bool = True) -> Ready:
    return Ready(soft_state=None, hard_state=hard, entries=list(entries), must_sync=sync,
                 messages=[], committed_entries=[], snapshot=None)


def entries(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(i, term, data=b"e%d" % i) for i in range(lo, hi + 1)]


@pytest.fixture
def db():
    return CrashableDB()


def reopen(db, genesis) -> RaftLog:
    return RaftLog(Store("unused", genesis, db))


def log_of(mirror: RaftLog) -> tuple:
    s = mirror.storage
    hard, conf = s.initial_state()
    return hard, conf, s.snapshot_meta(), s.entries(s.first_index(), s.last_index() + 1)


def test_what_is_persisted_is_what_a_restart_reads(db, genesis):
    mirror = reopen(db, genesis)
    assert mirror.persist(ready()) is False  # nothing to write
    assert mirror.persist(ready(entries(1, 3), HardState(2, "ab" * 32, 1))) is True
    assert mirror.persist(ready(entries(3, 4, term=2), sync=False)) is False  # replaces 3, adds 4
    db.crash()  # the unsynced write is lost; the synced one stays
    after = reopen(db, genesis)
    assert log_of(after)[0] == HardState(2, "ab" * 32, 1)
    assert [e.index for e in log_of(after)[3]] == [1, 2, 3] and log_of(after)[3][2].term == 1


def test_compaction_keeps_the_tail_and_a_restart_sees_it(db, genesis):
    mirror = reopen(db, genesis)
    mirror.persist(ready(entries(1, 20)))
    mirror.compact(applied=10, tail=4)  # 10 - 4 = 6 is past 0 + 4: up to 6 goes
    assert mirror.compacted_index() == 6
    mirror.compact(applied=12, tail=4)  # 8 is not past 6 + 4: left as it is
    assert mirror.compacted_index() == 6
    assert log_of(reopen(db, genesis))[2:] == log_of(mirror)[2:]
    assert log_of(mirror)[3][0].index == 7


def test_after_a_catch_up_the_log_restarts_after_the_index(db, genesis):
    mirror = reopen(db, genesis)
    mirror.persist(ready(entries(1, 5)))
    mirror.restart_after(40, 3)
    for m in (mirror, reopen(db, genesis)):
        assert m.compacted_index() == 40 and m.storage.last_index() == 40
        assert m.storage.term(40) == 3


def test_a_membership_change_reaches_the_core_and_survives_with_the_applied_index(db, genesis):
    mirror = reopen(db, genesis)
    conf = ConfState({"aa" * 32}, {"bb" * 32})
    mirror.store.skip_entry(1, conf.to_wire())  # what the daemon writes when it adopts one
    assert log_of(mirror)[1] == conf == log_of(reopen(db, genesis))[1]
