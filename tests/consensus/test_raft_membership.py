"""Catch-up beyond the compacted log, leadership transfer, and membership changes."""
from __future__ import annotations

import random

import pytest

from consensus import (
    Config,
    ConfState,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    NotLeader,
    ProgressState,
    ProposalDropped,
    Raft,
    Role,
)
from raftsim import Network, conf_entry_data, drive, storage_with

ABC = ["a", "b", "c"]


def follower_of(net: Network, leader: str) -> str:
    return next(n for n in sorted(net.nodes) if n != leader and net.nodes[n].alive)


# -- catch-up beyond the compacted log ------------------------------------------------------------

def lag_behind_compaction(seed: int, **knobs) -> tuple[Network, str, str, int]:
    """A follower down while the others commit 60 entries and compact their logs past it."""
    net = Network(ABC, seed=seed, compact_keep=5, **knobs)
    leader = net.elect()
    lagging = follower_of(net, leader)
    net.crash(lagging)
    for i in range(60):
        last = net.propose(b"%d" % i)
        net.settle()
    net.wait_applied([n for n in ABC if n != lagging], last)
    assert net.nodes[leader].storage.first_index() > net.nodes[lagging].storage.last_index() + 1
    return net, leader, lagging, last


def test_follower_behind_the_compaction_point_catches_up_out_of_band():
    net, leader, lagging, last = lag_behind_compaction(seed=1, install_ticks=3)
    net.trace = []
    net.restart(lagging)
    net.run_until(lambda: net.nodes[lagging].installing is not None, 30)
    assert net.status(leader).progress[lagging].state == ProgressState.SNAPSHOT
    snapshots = [m for m in net.trace if m.type == MessageType.SNAPSHOT]
    assert snapshots and {(m.frm, m.to) for m in snapshots} == {(leader, lagging)}
    assert snapshots[0].snapshot_index == net.nodes[leader].storage.snapshot_meta()[0]
    assert not [m for m in net.trace if m.type == MessageType.APPEND and m.to == lagging
                and m.entries and m.entries[0].index <= snapshots[0].snapshot_index]
    net.wait_applied([lagging], last)
    assert net.nodes[lagging].data() == [b"%d" % i for i in range(60)]
    assert net.nodes[lagging].storage.first_index() > 1  # its log restarted after the snapshot
    assert net.status(leader).progress[lagging].state == ProgressState.REPLICATE
    # And it keeps up by ordinary appends afterwards.
    more = net.propose(b"after")
    net.wait_applied(ABC, more)
    assert net.converged()


def test_lost_snapshot_request_is_sent_again():
    net, leader, lagging, last = lag_behind_compaction(seed=2)
    dropped = []

    def drop_first_snapshot(m):
        if m.type == MessageType.SNAPSHOT and not dropped:
            dropped.append(m)
            return False
        return True

    net.filter = drop_first_snapshot
    net.restart(lagging)
    net.wait_applied([lagging], last, max_ticks=50)
    assert dropped


def test_failed_snapshot_fetch_is_requested_again():
    net, leader, lagging, last = lag_behind_compaction(seed=3)
    net.restart(lagging)
    net.run_until(lambda: net.nodes[lagging].installing is not None, 30)
    net.nodes[lagging].installing = None  # the fetch failed
    net.nodes[lagging].raft.snapshot_failed()
    net.wait_applied([lagging], last, max_ticks=50)


def test_snapshot_ready_surfaces_once_and_holds_back_committed_entries():
    storage = storage_with([1, 1, 1, 1, 1])
    storage.set_hard_state(HardState(1, None, 5))  # committed, not yet applied (applied=0)
    raft = Raft(Config("b", ABC, rng=random.Random(0)), storage)
    snap = Message(MessageType.SNAPSHOT, "a", "b", term=1, snapshot_index=50, snapshot_term=1)
    raft.step(snap)
    rd = raft.ready()
    assert tuple(rd.snapshot) == (50, 1, "a")
    assert rd.committed_entries == []  # the application is about to replace its state
    assert rd.messages == []  # no answer until the state is installed
    raft.advance(rd)
    raft.step(snap)  # a repeat changes nothing
    assert raft.ready().snapshot is None
    storage.apply_snapshot(50, 1)
    raft.snapshot_installed(50, 1)
    out = drive(raft, storage)
    assert [(m.type, m.to, m.index, m.reject) for m in out] == [
        (MessageType.APPEND_RESP, "a", 50, False)]
    status = raft.status()
    assert (status.commit, status.applied, status.last_index) == (50, 50, 50)


def test_installing_an_earlier_point_than_wanted_asks_again_for_the_later_one():
    storage = MemoryStorage()
    raft = Raft(Config("b", ABC, rng=random.Random(0)), storage)
    for index in (50, 80):  # the leader compacted further while we were fetching
        raft.step(Message(MessageType.SNAPSHOT, "a", "b", term=1, snapshot_index=index,
                          snapshot_term=1))
        rd = raft.ready()
        assert rd.snapshot.index == index
        raft.advance(rd)
    storage.apply_snapshot(50, 1)
    raft.snapshot_installed(50, 1)  # an application that finished the first request first
    rd = raft.ready()
    assert rd.snapshot is not None and rd.snapshot.index == 80
    assert [(m.type, m.index) for m in rd.messages] == [(MessageType.APPEND_RESP, 50)]


# -- leadership transfer --------------------------------------------------------------------------

def test_leadership_transfer_catches_the_target_up_then_hands_over():
    net = Network(ABC, seed=4)
    old = net.elect()
    target = follower_of(net, old)
    term = net.status(old).term
    net.cut_links.add((old, target))
    for i in range(5):
        last = net.propose(b"%d" % i)
    net.settle()
    assert net.status(target).last_index < last
    net.cut_links.clear()
    net.nodes[old].raft.transfer_leader(target)
    with pytest.raises(ProposalDropped):
        net.propose(b"during transfer", via=old)
    net.settle()  # catch-up appends, then TIMEOUT_NOW, then an election without PreVote
    assert net.status(target).role == Role.LEADER
    assert net.status(target).term == term + 1
    assert net.status(old).role == Role.FOLLOWER
    last = net.propose(b"after")
    net.wait_applied(ABC, last)
    assert net.nodes[target].data() == [b"0", b"1", b"2", b"3", b"4", b"after"]


def test_leadership_transfer_is_abandoned_after_an_election_timeout():
    net = Network(ABC, seed=5)
    leader = net.elect()
    target = follower_of(net, leader)
    net.crash(target)
    net.nodes[leader].raft.transfer_leader(target)
    assert net.status(leader).transferring_to == target
    with pytest.raises(ProposalDropped):
        net.propose(b"x", via=leader)
    net.tick(10)
    assert net.status(leader).transferring_to is None
    assert net.status(leader).role == Role.LEADER
    last = net.propose(b"x", via=leader)
    net.wait_applied([n for n in ABC if n != target], last)


def test_leadership_transfer_needs_a_leader_and_a_voting_target():
    net = Network(ABC, learners=["l"], seed=6)
    leader = net.elect()
    with pytest.raises(ValueError):
        net.nodes[leader].raft.transfer_leader("l")
    with pytest.raises(NotLeader):
        net.nodes[follower_of(net, leader)].raft.transfer_leader(leader)


# -- membership changes ---------------------------------------------------------------------------

def change_voters(net: Network, voters: list[str]) -> int:
    leader = net.leader()
    index = net.nodes[leader].raft.propose_conf_change(conf_entry_data(voters))
    return index


def test_second_conf_change_is_refused_until_the_first_is_applied():
    net = Network(ABC, seed=7)
    leader = net.elect()
    raft = net.nodes[leader].raft
    raft.propose_conf_change(conf_entry_data(ABC + ["d"]))
    with pytest.raises(ProposalDropped):
        raft.propose_conf_change(conf_entry_data(ABC))
    net.add_node("d")
    net.tick(3)
    assert raft.conf_state.voters == {"a", "b", "c", "d"}
    raft.propose_conf_change(conf_entry_data(ABC))  # now it is allowed


def test_conf_changes_grow_one_to_five_voters_and_shrink_to_three_while_proposals_continue():
    net = Network(["n1"], seed=8)
    net.elect()
    members = ["n1"]
    sent, at_risk = [], []  # at risk: proposed to a leader that is removing itself

    def propose_some(k):
        for _ in range(k):
            sent.append(b"cmd%d" % len(sent))
            net.propose(sent[-1])
        return sent[-k:]

    for new in ["n2", "n3", "n4", "n5"]:
        net.add_node(new)  # joins with no configuration: waits for the leader
        members.append(new)
        propose_some(3)
        index = change_voters(net, members)
        propose_some(3)
        net.wait_applied(members, index + 3, max_ticks=100)
        for nid in members:
            assert net.status(nid).voters == frozenset(members)
    assert net.status(net.leader()).voters == {"n1", "n2", "n3", "n4", "n5"}

    # Shrink back to three, each time removing the leader itself.
    removed = []
    for _ in range(2):
        old_leader = net.leader()
        members.remove(old_leader)
        removed.append(old_leader)
        index = change_voters(net, members)
        at_risk += propose_some(2)
        # it steps down
        net.run_until(lambda gone=old_leader: net.status(gone).role != Role.LEADER, 30)
        assert net.elect(max_ticks=60) in members
        propose_some(3)
        net.wait_applied(members, index + 3, max_ticks=100)
    leader = net.leader()
    term = net.status(leader).term
    net.tick(60)  # the removed nodes do not disturb the new configuration
    assert net.leader() == leader and net.status(leader).term == term
    assert net.status(leader).voters == frozenset(members) and len(members) == 3
    assert all(net.status(n).role == Role.FOLLOWER for n in removed)
    last = net.propose(b"final")
    net.wait_applied(members, last)
    for nid in members:
        data = net.nodes[nid].data()
        assert data[-1] == b"final"
        assert [cmd for cmd in sent if cmd not in at_risk] == [
            cmd for cmd in data[:-1] if cmd not in at_risk]
    assert net.converged(members)


def test_removed_follower_stops_counting_towards_quorum():
    net = Network(ABC, seed=9)
    leader = net.elect()
    gone = follower_of(net, leader)
    stay = next(n for n in ABC if n not in (leader, gone))
    index = change_voters(net, [leader, stay])
    net.wait_applied([leader, stay], index)
    net.crash(gone)
    last = net.propose(b"two voters suffice")
    net.wait_applied([leader, stay], last)
    net.crash(stay)  # now one of two voters is left: nothing commits
    more = net.propose(b"stuck")
    net.tick(5)
    assert net.status(leader).commit < more


def test_learner_is_promoted_to_voter():
    net = Network(ABC, learners=["l"], seed=10)
    leader = net.elect()
    index = net.nodes[leader].raft.propose_conf_change(
        conf_entry_data(ABC + ["l"], learners=()))
    net.wait_applied(ABC + ["l"], index)
    assert net.status("l").voters == {"a", "b", "c", "l"} and not net.status("l").learners
    assert net.status(leader).progress["l"].is_learner is False
    for nid in ABC:
        if nid != leader:
            net.crash(nid)
    last = net.propose(b"leader plus promoted learner is not 3 of 4")
    net.tick(3)
    assert net.status(leader).commit < last


def test_conf_state_from_storage_wins_over_the_config():
    storage = MemoryStorage(conf_state=ConfState(frozenset({"a", "b"})))
    raft = Raft(Config("a", ["a", "b", "c", "d", "e"], rng=random.Random(0)), storage)
    assert raft.status().voters == {"a", "b"}
