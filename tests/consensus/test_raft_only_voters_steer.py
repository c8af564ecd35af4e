"""Only voters steer Raft: forged messages from a learner (a licensed observer) or a stranger.

The attacker holds a real connection (the transport authenticated it, so `frm` is its own id)
and writes any Raft message it likes, with any term. Whatever it sends, no voter's term, leader
or commit index moves, nothing it made up is applied, no vote goes to it, the cluster keeps
committing, and every refusal is reported in Ready.dropped. The simulated network checks the
five safety properties of the Raft paper after every step, as in every consensus test.
"""
from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from consensus import DropReason, Entry, EntryType, Message, Role
from consensus import MessageType as MT
from raftsim import Network

ABC = ["a", "b", "c"]
FIVE = ["a", "b", "c", "d", "e"]
LEARNER = "l"
STRANGER = "x"
FORGED = b"forged by a non-voter"
GRANTS = {MT.VOTE_RESP, MT.PREVOTE_RESP}


def healthy(voters: list[str], seed: int, learners: tuple[str, ...] = (LEARNER,)) -> tuple[Network, str]:
    """A cluster (with one learner) that has elected a leader and committed a few entries."""
    net = Network(voters, learners=learners, seed=seed)
    leader = net.elect()
    for i in range(3):
        last = net.propose(b"honest %d" % i)
    net.wait_applied([*voters, *learners], last)
    return net, leader


def snapshot(net: Network, voters: list[str]) -> dict[str, tuple]:
    """What a non-voter must not be able to move, per voter."""
    return {v: (net.status(v).term, net.status(v).leader, net.status(v).role, net.status(v).commit)
            for v in voters}


def last_of(net: Network, node: str) -> tuple[int, int]:
    raft = net.nodes[node].raft
    return raft.log.last_index(), raft.log.last_term()


# Each forgery: (sender, target, leader, term, net) -> the message. `term` is the term it claims.
Forgery = Callable[[str, str, str, int, Network], Message]


def append(frm, to, leader, term, net):
    index, log_term = last_of(net, to)
    entry = Entry(index + 1, term, EntryType.NORMAL, FORGED)
    return Message(MT.APPEND, frm, to, term, log_term=log_term, index=index, entries=(entry,),
                   commit=index + 1)


def heartbeat(frm, to, leader, term, net):
    return Message(MT.HEARTBEAT, frm, to, term, commit=2**40)


def snapshot_request(frm, to, leader, term, net):
    index, _ = last_of(net, to)
    return Message(MT.SNAPSHOT, frm, to, term, snapshot_index=index + 50, snapshot_term=term)


def timeout_now(frm, to, leader, term, net):
    return Message(MT.TIMEOUT_NOW, frm, to, term)


def vote(frm, to, leader, term, net):
    index, log_term = last_of(net, to)  # as up to date as the voter: a vote it would grant
    return Message(MT.VOTE, frm, to, term, index=index + 10, log_term=log_term, transfer=True)


def prevote(frm, to, leader, term, net):
    index, log_term = last_of(net, to)
    return Message(MT.PREVOTE, frm, to, term, index=index + 10, log_term=log_term, transfer=True)


def vote_resp(frm, to, leader, term, net):
    return Message(MT.VOTE_RESP, frm, to, term, reject=True)


def prevote_resp(frm, to, leader, term, net):
    return Message(MT.PREVOTE_RESP, frm, to, term, reject=True)


def append_resp(frm, to, leader, term, net):
    return Message(MT.APPEND_RESP, frm, to, term, index=1)


def heartbeat_resp(frm, to, leader, term, net):
    return Message(MT.HEARTBEAT_RESP, frm, to, term, index=1)


# (forgery, later term? (else the current one), sent to: "followers" or "leader")
ATTACKS = {
    "append-later-term": (append, True, "voters"),
    "append-current-term": (append, False, "followers"),
    "heartbeat-later-term": (heartbeat, True, "voters"),
    "heartbeat-current-term": (heartbeat, False, "followers"),
    "snapshot-later-term": (snapshot_request, True, "voters"),
    "snapshot-current-term": (snapshot_request, False, "followers"),
    "timeout-now-current-term": (timeout_now, False, "followers"),
    "timeout-now-later-term": (timeout_now, True, "voters"),
    "vote-later-term": (vote, True, "voters"),
    "prevote-later-term": (prevote, True, "voters"),
    "vote-response-later-term": (vote_resp, True, "leader"),
    "prevote-response-later-term": (prevote_resp, True, "leader"),
    "append-response-later-term": (append_resp, True, "leader"),
    "heartbeat-response-later-term": (heartbeat_resp, True, "leader"),
}


def expected_reason(sender: str, kind: MT) -> DropReason:
    if kind == MT.TIMEOUT_NOW:
        return DropReason.NOT_THE_LEADER
    if kind in (MT.APPEND_RESP, MT.HEARTBEAT_RESP):
        return DropReason.TERM_FROM_NON_VOTER if sender == LEARNER else DropReason.NOT_A_MEMBER
    return DropReason.NOT_A_VOTER


@pytest.mark.parametrize("sender", [LEARNER, STRANGER])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_non_voter_changes_no_term_commit_or_leader_on_any_voter(attack, sender):
    forgery, later, targets = ATTACKS[attack]
    net, leader = healthy(ABC, seed=31)
    before = snapshot(net, ABC)
    term = net.status(leader).term + (100 if later else 0)
    to = {"voters": ABC, "followers": [v for v in ABC if v != leader], "leader": [leader]}[targets]
    net.trace = []
    for target in to:
        net.inject(forgery(sender, target, leader, term, net))
    net.settle()
    net.tick(30)  # three election timeouts: a deposed leader or a frozen follower would show

    assert snapshot(net, ABC) == before
    assert not any(m.to == sender and m.type in GRANTS and not m.reject for m in net.trace)
    kind = forgery(sender, to[0], leader, term, net).type
    assert [(node, d.sender, d.type, d.term, d.reason) for node, d in net.dropped] == [
        (target, sender, kind, term, expected_reason(sender, kind)) for target in to]
    assert all(net.status(t).dropped == 1 for t in to)
    # the cluster keeps committing, the learner keeps following, nothing forged is applied
    last = net.propose(b"after the attack")
    net.wait_applied(ABC + [LEARNER], last, max_ticks=20)
    assert all(FORGED not in net.nodes[n].data() for n in ABC + [LEARNER])
    assert net.converged()


def test_a_learner_cannot_make_a_follower_commit_what_no_quorum_holds():
    """An entry only the leader and one follower hold (2 of 5) is not committed; a learner's
    heartbeat or append of the current term claiming it is must not commit it there."""
    net, leader = healthy(FIVE, seed=32)
    follower = next(v for v in FIVE if v != leader)
    for other in FIVE:
        if other not in (leader, follower):
            net.cut(leader, other)
    index = net.propose(b"held by two of five")
    net.settle()
    term = net.status(leader).term
    assert net.status(follower).last_index >= index > net.status(leader).commit
    net.inject(Message(MT.HEARTBEAT, LEARNER, follower, term, commit=index))
    net.inject(Message(MT.APPEND, LEARNER, follower, term, log_term=term, index=index,
                       commit=index))
    net.settle()
    assert net.status(follower).commit < index
    assert b"held by two of five" not in net.nodes[follower].data()
    assert net.status(follower).leader == leader


def test_timeout_now_is_obeyed_only_from_the_leader_we_follow():
    """A voter that does not lead (a follower, say) cannot make another one campaign."""
    net, leader = healthy(ABC, seed=33, learners=())
    follower, other = (v for v in ABC if v != leader)
    before = snapshot(net, ABC)
    term = net.status(leader).term
    net.inject(Message(MT.TIMEOUT_NOW, other, follower, term))
    net.inject(Message(MT.TIMEOUT_NOW, other, follower, term + 1))
    net.settle()
    net.tick(3)
    assert snapshot(net, ABC) == before
    assert [(n, d.sender, d.reason) for n, d in net.dropped] == [
        (follower, other, DropReason.NOT_THE_LEADER)] * 2
    # the control: the leader's own hand-over is obeyed
    net.nodes[leader].raft.transfer_leader(follower)
    net.run_until(lambda: net.agreed_leader() == follower, 20)


def test_a_second_voter_claiming_to_lead_the_current_term_is_ignored():
    """A term has one leader (election safety): once a node follows it, another voter's
    appends, heartbeats and snapshot requests for that same term are refused."""
    net, leader = healthy(ABC, seed=34, learners=())
    follower, impostor = (v for v in ABC if v != leader)
    before = snapshot(net, ABC)
    term = net.status(leader).term
    for forgery in (append, heartbeat, snapshot_request):
        net.inject(forgery(impostor, follower, leader, term, net))
    net.settle()
    net.tick(20)
    assert snapshot(net, ABC) == before
    assert {(n, d.sender, d.reason) for n, d in net.dropped} == {
        (follower, impostor, DropReason.NOT_THE_LEADER)}
    last = net.propose(b"still the one leader")
    net.wait_applied(ABC, last)
    assert FORGED not in net.nodes[follower].data()


ALL_FORGERIES = [append, heartbeat, snapshot_request, timeout_now, vote, prevote, vote_resp,
                 prevote_resp, append_resp, heartbeat_resp]


@pytest.mark.parametrize("seed", range(6))
def test_a_learner_forging_every_tick_under_faults_never_steers_the_cluster(seed):
    """Soak: a learner sends random forgeries with random terms to random voters every tick,
    while the network drops, delays and reorders and voters crash and restart. Safety holds
    throughout, no voter's term comes near the forged ones, and nothing forged is applied."""
    rng = random.Random(seed)
    net, leader = healthy(FIVE, seed=40 + seed)
    net.drop_rate, net.max_delay, net.reorder = 0.05, 2, True
    proposed = []
    for tick in range(300):
        for _ in range(3):
            target = rng.choice(FIVE)
            if net.nodes[target].alive:
                term = net.status(target).term + rng.choice([0, 1, 2, 1000, 10**6])
                forgery = rng.choice(ALL_FORGERIES)
                net.inject(forgery(LEARNER, target, leader, max(term, 1), net))
        if tick % 50 == 25:
            net.crash(rng.choice(FIVE))
        if tick % 50 == 45:
            for v in FIVE:
                if not net.nodes[v].alive:
                    net.restart(v)
        if tick % 5 == 0:
            try:
                proposed.append(net.propose(b"honest at %d" % tick))
            except AssertionError:
                pass  # no leader right now
        net.tick()
    net.recover()
    for v in FIVE:
        if not net.nodes[v].alive:
            net.restart(v)
    leader = net.elect(max_ticks=100)
    last = net.propose(b"the end")
    net.wait_applied(FIVE + [LEARNER], last, max_ticks=200)
    assert net.converged()
    assert max(net.status(v).term for v in FIVE) < 100  # honest elections only
    assert all(FORGED not in net.nodes[n].data() for n in FIVE + [LEARNER])
    assert net.dropped and {d.sender for _, d in net.dropped} == {LEARNER}
    assert net.status(leader).role == Role.LEADER
