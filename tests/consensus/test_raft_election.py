"""Leader election (Raft §5.2, §5.4.1), PreVote and CheckQuorum (thesis §9.6), learners."""
from __future__ import annotations

import random

import pytest

from consensus import (
    Config,
    Entry,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    NotLeader,
    Raft,
    Role,
)
from raftsim import Network, drive

ABC = ["a", "b", "c"]
FIVE = ["a", "b", "c", "d", "e"]


def test_initial_election_one_leader_everyone_agrees():
    net = Network(ABC, seed=1)
    leader = net.elect(max_ticks=40)  # election timeouts are 10-19 ticks
    assert net.status(leader).term == 1  # PreVote: the winning poll is the only term raised
    for nid in ABC:
        assert net.status(nid).leader == leader
        assert net.status(nid).term == 1


def test_election_timeouts_are_randomized_from_the_config_rng():
    def first_timeout(seed):
        raft = Raft(Config("a", ["a"], rng=random.Random(seed)), MemoryStorage())
        for n in range(1, 100):
            raft.tick()
            if raft.role != Role.FOLLOWER:
                return n
    timeouts = {first_timeout(seed) for seed in range(30)}
    assert all(10 <= t < 20 for t in timeouts)
    assert len(timeouts) > 3
    assert first_timeout(7) == first_timeout(7)


def test_reelection_after_leader_loss():
    net = Network(ABC, seed=2)
    old = net.elect()
    old_term = net.status(old).term
    net.crash(old)
    new = net.elect(max_ticks=60)
    assert new != old
    assert net.status(new).term > old_term
    net.restart(old)
    net.tick(5)
    assert net.status(old).role == Role.FOLLOWER
    assert net.status(old).leader == new


def test_reelection_when_leader_is_partitioned_away():
    net = Network(ABC, seed=3)
    old = net.elect()
    net.isolate(old)
    net.run_until(lambda: any(net.status(n).role == Role.LEADER for n in ABC if n != old), 60)
    net.recover()
    leader = net.elect()
    assert leader != old
    assert net.status(old).role == Role.FOLLOWER


def test_no_leader_without_a_majority():
    net = Network(FIVE, seed=4)
    net.partition(["a", "b"], ["c", "d"], ["e"])
    net.tick(200)
    assert not any(net.status(n).role == Role.LEADER for n in FIVE)
    # With PreVote nobody even raised its term while unable to win.
    assert all(net.status(n).term == 0 for n in FIVE)
    net.recover()
    net.elect()


def test_no_leader_without_a_majority_without_prevote_terms_climb():
    """The control for the test above: without PreVote the same partition burns terms."""
    net = Network(FIVE, seed=4, pre_vote=False)
    net.partition(["a", "b"], ["c", "d"], ["e"])
    net.tick(200)
    assert not any(net.status(n).role == Role.LEADER for n in FIVE)
    assert max(net.status(n).term for n in FIVE) > 5


def test_vote_goes_only_to_an_up_to_date_log():
    """§5.4.1: a voter refuses a candidate whose last entry is older than its own."""
    storage = MemoryStorage()
    raft = Raft(Config("b", ABC, rng=random.Random(0), check_quorum=False), storage)
    raft.step(Message(MessageType.APPEND, "a", "b", term=2, index=0, log_term=0,
                      entries=(Entry(1, 2, data=b"x"),), commit=0))
    drive(raft, storage)
    assert storage.last_index() == 1
    raft.step(Message(MessageType.VOTE, "c", "b", term=3, index=5, log_term=1))  # longer, older
    raft.step(Message(MessageType.VOTE, "a", "b", term=3, index=1, log_term=2))
    answers = {m.to: m.reject for m in drive(raft, storage)}
    assert answers == {"c": True, "a": False}
    assert storage.initial_state()[0].vote == "a"  # the vote is persisted before it is sent


def test_one_vote_per_term():
    raft = Raft(Config("c", ABC, rng=random.Random(0), pre_vote=False), MemoryStorage())
    raft.step(Message(MessageType.VOTE, "a", "c", term=1))
    raft.step(Message(MessageType.VOTE, "b", "c", term=1))
    answers = {m.to: m.reject for m in raft.ready().messages}
    assert answers == {"a": False, "b": True}


def test_single_voter_elects_itself_and_commits_after_its_own_persist():
    storage = MemoryStorage()
    raft = Raft(Config("solo", ["solo"], rng=random.Random(0)), storage)
    for _ in range(20):
        raft.tick()
    assert raft.role == Role.LEADER
    index = raft.propose(b"block")
    rd = raft.ready()
    assert (rd.soft_state.role, rd.soft_state.leader) == (Role.LEADER, "solo")
    assert (rd.hard_state.term, rd.hard_state.vote) == (1, "solo")
    assert [e.index for e in rd.entries] == [1, index]  # the leader's no-op, then ours
    assert rd.committed_entries == []  # not committed before it is on disk
    assert rd.must_sync
    storage.append(rd.entries)
    storage.set_hard_state(rd.hard_state)
    raft.advance(rd)
    rd = raft.ready()
    assert [e.data for e in rd.committed_entries] == [b"", b"block"]
    assert rd.hard_state.commit == index
    assert not rd.must_sync  # commit-only change: no fsync needed
    raft.advance(rd)
    assert not raft.has_ready()
    assert raft.status().applied == index


def test_config_refuses_settings_that_cannot_work():
    rng = random.Random(0)
    with pytest.raises(ValueError):
        Config("a", ["a"], election_tick=1, heartbeat_tick=1, rng=rng)
    with pytest.raises(ValueError):
        Config("a", ["a"], max_inflight=0, rng=rng)
    with pytest.raises(ValueError):
        Raft(Config("a", ["a"], applied=5, rng=rng), MemoryStorage())  # applied past the log
    raft = Raft(Config("a", ["a"], rng=rng), MemoryStorage())
    raft.campaign()
    with pytest.raises(TypeError):
        raft.propose("text")


def test_propose_on_a_follower_names_the_leader():
    net = Network(ABC, seed=5)
    leader = net.elect()
    follower = next(n for n in ABC if n != leader)
    with pytest.raises(NotLeader) as err:
        net.nodes[follower].raft.propose(b"x")
    assert err.value.leader == leader


# -- PreVote and CheckQuorum ----------------------------------------------------------------------

def test_prevote_isolated_node_rejoining_does_not_bump_the_leaders_term():
    net = Network(ABC, seed=6)
    leader = net.elect()
    term = net.status(leader).term
    loner = next(n for n in ABC if n != leader)
    net.isolate(loner)
    net.tick(100)  # many election timeouts: the loner polls and fails, never raising its term
    assert net.status(loner).term == term
    net.recover()
    net.tick(20)
    assert net.status(leader).role == Role.LEADER
    assert net.status(leader).term == term
    assert net.status(loner).leader == leader


def test_without_prevote_the_rejoining_node_deposes_the_leader():
    """The control: the same scenario disrupts the cluster when PreVote is off."""
    net = Network(ABC, seed=6, pre_vote=False)
    leader = net.elect()
    term = net.status(leader).term
    loner = next(n for n in ABC if n != leader)
    net.isolate(loner)
    net.tick(100)
    assert net.status(loner).term > term + 3
    net.recover()
    net.tick(30)
    assert max(net.status(n).term for n in ABC) > term + 3


def test_node_that_raised_its_term_while_cut_off_rejoins_with_checkquorum_alone():
    """Without PreVote, an isolated node's term runs ahead; with CheckQuorum the others ignore
    its vote requests, so it must answer the leader's lower-term heartbeats with its own term,
    making the leader step down and a new election take everyone in."""
    net = Network(ABC, seed=6, pre_vote=False)
    leader = net.elect()
    loner = next(n for n in ABC if n != leader)
    net.isolate(loner)
    net.tick(60)
    assert net.status(loner).term > net.status(leader).term
    net.recover()
    net.run_until(lambda: net.agreed_leader() is not None
                  and net.status(loner).term == net.status(net.agreed_leader()).term, 100)
    last = net.propose(b"everyone again")
    net.wait_applied(ABC, last)


def test_follower_ignores_vote_requests_while_its_leader_is_alive():
    net = Network(ABC, seed=7)
    leader = net.elect()
    follower = next(n for n in ABC if n != leader)
    term = net.status(follower).term
    raft = net.nodes[follower].raft
    for kind in (MessageType.PREVOTE, MessageType.VOTE):
        raft.step(Message(kind, "x", follower, term=term + 5, index=100, log_term=term + 4))
    assert raft.term == term
    assert raft.leader_id == leader
    assert not any(m.to == "x" for m in raft.ready().messages)


def test_leader_without_quorum_steps_down():
    net = Network(ABC, seed=8)
    leader = net.elect()
    net.isolate(leader)
    ticks = net.run_until(lambda: net.status(leader).role != Role.LEADER, 25)
    assert ticks <= 2 * 10  # within two CheckQuorum windows of election_tick
    with pytest.raises(NotLeader):
        net.nodes[leader].raft.propose(b"x")


def test_without_check_quorum_an_isolated_leader_stays_leader():
    net = Network(ABC, seed=8, check_quorum=False)
    leader = net.elect()
    net.isolate(leader)
    net.tick(60)
    assert net.status(leader).role == Role.LEADER


def test_idle_leader_sends_at_most_ten_heartbeat_rounds_per_second():
    """At the intended 100 ms tick, 10 ticks are one second."""
    net = Network(ABC, seed=9)
    leader = net.elect()
    net.tick(5)
    net.trace = []
    net.tick(10)
    from_leader = [m for m in net.trace if m.frm == leader]
    assert {m.type for m in from_leader} == {MessageType.HEARTBEAT}
    assert len(from_leader) <= 10 * 2  # one per follower per round
    assert len(from_leader) >= 2  # and it does keep the followers' lease alive
    assert len(net.trace) <= 10 * 2 * 2  # responses included


def test_candidate_steps_down_for_a_leader_of_its_term():
    for pre_vote, role in ((False, Role.CANDIDATE), (True, Role.PRE_CANDIDATE)):
        raft = Raft(Config("b", ABC, rng=random.Random(0), pre_vote=pre_vote),
                    MemoryStorage(HardState(term=1)))
        raft.campaign()
        assert raft.role == role
        raft.step(Message(MessageType.HEARTBEAT, "a", "b", term=raft.term))
        assert (raft.role, raft.leader_id) == (Role.FOLLOWER, "a")


# -- learners -------------------------------------------------------------------------------------

def test_learners_replicate_but_never_campaign():
    net = Network(ABC, learners=["l1", "l2"], seed=11)
    leader = net.elect()
    for i in range(5):
        net.propose(b"%d" % i)
    net.wait_applied(["l1", "l2"], 6)
    assert net.converged()
    net.isolate("l1")
    roles = set()
    for _ in range(100):
        net.tick()
        roles.add(net.status("l1").role)
    assert roles == {Role.FOLLOWER}
    assert net.status("l1").term == net.status(leader).term


def test_learners_do_not_count_for_commit_or_elections():
    net = Network(ABC, learners=["l1", "l2"], seed=12, check_quorum=False)
    leader = net.elect()
    others = [n for n in ABC if n != leader]
    for nid in others:  # leave the leader with two learners: three of five nodes, one voter
        net.isolate(nid)
    index = net.propose(b"needs a voter quorum")
    net.tick(20)
    assert net.status("l1").last_index >= index  # the learners got it...
    assert net.status(leader).commit < index  # ...and it still is not committed
    assert all(net.nodes[n].applied < index for n in ["l1", "l2", leader])
    # Nor can the learners help elect anyone: leader and learners cut from the other voters.
    net.crash(leader)
    net.tick(100)
    assert not any(net.status(n).role == Role.LEADER for n in others + ["l1", "l2"])
    net.recover()
    net.restart(leader)
    net.elect()
    net.wait_applied(ABC + ["l1", "l2"], index, max_ticks=100)


def test_candidate_counts_only_its_voters():
    raft = Raft(Config("a", ABC, ["l"], rng=random.Random(0), pre_vote=False), MemoryStorage())
    raft.campaign()
    raft.ready()
    raft.step(Message(MessageType.VOTE_RESP, "l", "a", term=1))
    raft.step(Message(MessageType.VOTE_RESP, "z", "a", term=1))
    assert raft.role == Role.CANDIDATE
    raft.step(Message(MessageType.VOTE_RESP, "b", "a", term=1))
    assert raft.role == Role.LEADER
