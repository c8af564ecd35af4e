"""The wire form of messages (hostile input), MemoryStorage, and the log's matching rules."""
from __future__ import annotations

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
    InvariantViolated,
    Message,
    MessageType,
    UnavailableError,
)
from consensus.log import RaftLog
from raftsim import log_of, storage_with

APPEND = Message(MessageType.APPEND, "leader", "f1", term=5, log_term=4, index=10,
                 entries=(Entry(11, 4, EntryType.NORMAL, b"\x00blk"), Entry(12, 5, EntryType.NOOP)),
                 commit=9)


def through_msgpack(value):
    return msgpack.unpackb(msgpack.packb(value))


@pytest.mark.parametrize("msg", [
    APPEND,
    Message(MessageType.APPEND_RESP, "f1", "leader", term=5, index=10, reject=True,
            reject_hint=7, log_term=3),
    Message(MessageType.VOTE, "c", "a", term=3, index=7, log_term=2, transfer=True),
    Message(MessageType.PREVOTE_RESP, "a", "c", term=0, reject=True),
    Message(MessageType.SNAPSHOT, "leader", "f2", term=5, snapshot_index=1000, snapshot_term=4),
    Message(MessageType.HEARTBEAT, "leader", "f2", term=2**63, commit=2**64 - 1),
])
def test_every_message_round_trips_through_msgpack(msg):
    wire = msg.to_wire()
    assert Message.from_wire(through_msgpack(wire)) == msg
    assert Message.from_wire(tuple(wire)) == msg  # msgpack's use_list=False gives tuples


def test_entry_hard_state_and_conf_state_round_trip():
    e = Entry(3, 2, EntryType.CONF_CHANGE, b"cc")
    assert Entry.from_wire(through_msgpack(e.to_wire())) == e
    hs = HardState(7, "n2", 40)
    assert HardState.from_wire(through_msgpack(hs.to_wire())) == hs
    cs = ConfState(frozenset({"a", "b"}), frozenset({"o"}))
    assert ConfState.from_wire(through_msgpack(cs.to_wire())) == cs


def wire_with(index: int, value):
    wire = APPEND.to_wire()
    wire[index] = value
    return wire


@pytest.mark.parametrize("wire", [
    None, 7, b"bytes", {}, [], APPEND.to_wire()[:-1], APPEND.to_wire() + [0],
    wire_with(0, 99),  # unknown type
    wire_with(0, True),  # a bool is not an int
    wire_with(1, ""),  # empty id
    wire_with(1, "x" * 300),  # oversized id
    wire_with(2, b"f1"),  # id as bytes
    wire_with(2, "leader"),  # addressed to its sender
    wire_with(3, -1),
    wire_with(3, 2**64),
    wire_with(3, 1.0),
    wire_with(5, None),
    wire_with(6, "entries"),
    wire_with(6, [[11, 4, 0, "text not bytes"]]),
    wire_with(6, [[11, 4, 0]]),
    wire_with(6, [[11, 4, 7, b""]]),  # unknown entry type
    wire_with(6, [[12, 4, 0, b""]]),  # does not follow index 10
    wire_with(6, [[11, 4, 0, b""], [13, 4, 0, b""]]),  # gap
    wire_with(6, [[11, 6, 0, b""]]),  # entry term above the message term
    wire_with(6, [[11, 3, 0, b""]]),  # entry term below log_term
    wire_with(6, [[11, 5, 0, b""], [12, 4, 0, b""]]),  # terms going backwards
    wire_with(8, 1),  # reject must be a bool
    wire_with(12, 0),  # transfer must be a bool
    [int(MessageType.HEARTBEAT), "a", "b", 1, 0, 0, [[1, 1, 0, b""]], 0, False, 0, 0, 0, False],
    [int(MessageType.VOTE), "a", "b", 0, 0, 0, [], 0, False, 0, 0, 0, False],  # term 0 request
])
def test_malformed_messages_are_rejected_with_value_error(wire):
    with pytest.raises(ValueError):
        Message.from_wire(wire)


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2**64) | st.binary(max_size=4)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=14), max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(plain)
def test_arbitrary_plain_values_never_decode_to_anything_but_value_error(value):
    try:
        msg = Message.from_wire(value)
    except ValueError:
        return
    assert Message.from_wire(msg.to_wire()) == msg


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=13, max_size=13))
def test_mutated_fields_of_a_valid_message_only_raise_value_error(picks):
    wire = APPEND.to_wire()
    values = [None, -1, True, 0, 1, 5, 11, 2**64, "x", b"x", [], [[11, 5, 0, b""]], 1.5]
    for i, pick in enumerate(picks):
        if pick % 3 == 0:
            wire[i] = values[pick]
    try:
        Message.from_wire(wire)
    except ValueError:
        pass


# -- MemoryStorage --------------------------------------------------------------------------------

def test_memory_storage_append_truncates_a_conflicting_suffix():
    s = storage_with([1, 1, 2, 2])
    s.append([Entry(3, 3, data=b"new")])
    assert [e.term for e in s.entries(1, s.last_index() + 1)] == [1, 1, 3]
    with pytest.raises(ValueError):
        s.append([Entry(6, 3)])  # a gap


def test_memory_storage_compaction_keeps_the_term_at_the_compaction_point():
    s = storage_with([1, 1, 2, 2, 3])
    s.compact(3)
    assert (s.first_index(), s.last_index(), s.snapshot_meta()) == (4, 5, (3, 2))
    assert s.term(3) == 2
    with pytest.raises(CompactedError):
        s.term(2)
    with pytest.raises(CompactedError):
        s.entries(3, 5)
    with pytest.raises(UnavailableError):
        s.term(6)
    assert [e.index for e in s.entries(4, 6)] == [4, 5]
    s.append([Entry(2, 2), Entry(3, 2), Entry(4, 9)])  # overlapping the compacted part
    assert [(e.index, e.term) for e in s.entries(4, s.last_index() + 1)] == [(4, 9)]


def test_memory_storage_apply_snapshot_restarts_the_log_after_it():
    s = storage_with([1, 1])
    s.apply_snapshot(100, 4)
    assert (s.first_index(), s.last_index(), s.term(100)) == (101, 100, 4)
    assert s.initial_state()[0].commit == 100
    s.append([Entry(101, 4)])
    assert s.last_index() == 101


# -- the log's matching rules ---------------------------------------------------------------------

def test_stale_reordered_append_truncates_nothing():
    log = RaftLog(storage_with([1, 1, 1, 1, 1]))
    assert log.maybe_append(1, 1, 0, tuple(log_of([1, 1, 1])[1:3])) == 3  # an old, shorter copy
    assert log.last_index() == 5


def test_conflicting_append_truncates_from_the_first_conflict_only():
    log = RaftLog(storage_with([1, 1, 1, 2, 2]))
    new = (Entry(3, 1, data=b"3@1"), Entry(4, 3), Entry(5, 3), Entry(6, 3))
    assert log.maybe_append(2, 1, 0, new) == 6
    assert [log.term(i) for i in range(1, 7)] == [1, 1, 1, 3, 3, 3]
    assert [e.index for e in log.take_unpersisted()] == [4, 5, 6]


def test_append_never_overwrites_a_committed_entry():
    log = RaftLog(storage_with([1, 1, 1]))
    log.commit_to(3)
    with pytest.raises(InvariantViolated):
        log.append([Entry(2, 5)])


def test_follower_commit_stops_at_the_last_entry_the_leader_vouched_for():
    log = RaftLog(storage_with([1, 1, 1, 1, 1]))  # entries 4, 5 may be stale
    log.maybe_append(2, 1, 10, (Entry(3, 1, data=b"3@1"),))
    assert log.committed == 3


def test_find_conflict_by_term_skips_whole_terms():
    log = RaftLog(storage_with([1, 1, 2, 2, 2, 5, 5, 5, 5]))
    assert log.find_conflict_by_term(9, 4) == (5, 2)
    assert log.find_conflict_by_term(9, 5) == (9, 5)
    assert log.find_conflict_by_term(9, 1) == (2, 1)
    assert log.find_conflict_by_term(9, 0) == (0, 0)
    log.storage.compact(4)
    assert log.find_conflict_by_term(9, 1) == (3, 0)  # below the compaction point: unknown
