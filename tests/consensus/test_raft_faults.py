"""Randomized fault runs (seeded, bounded), with the five safety properties checked throughout,
and checks that the checker itself catches violations."""
from __future__ import annotations

import random

import pytest

from consensus import Entry, NotLeader, ProposalDropped, Role
from raftsim import Network, Safety, SafetyViolation, conf_entry_data

FIVE = ["a", "b", "c", "d", "e"]


def propose_somewhere(net: Network, rng: random.Random, payload: bytes) -> bool:
    """Propose on whichever live node leads (an old leader may still think it does)."""
    leaders = [n for n in net.nodes.values() if n.alive and n.raft.role == Role.LEADER]
    if not leaders:
        return False
    try:
        rng.choice(leaders).raft.propose(payload)
        return True
    except (NotLeader, ProposalDropped):
        return False


def heal_and_converge(net: Network) -> None:
    """Heal everything, then commit one more command: every member must apply it, and all
    members must agree on everything applied."""
    net.recover()
    for nid, node in net.nodes.items():
        if not node.alive:
            net.restart(nid)
    for _ in range(20):  # a proposal can be lost to a leader change; try again
        leader = net.elect(max_ticks=300)
        try:
            last = net.propose(b"final", via=leader)
        except ProposalDropped:  # a leadership transfer is under way
            net.tick()
            continue
        members = net.nodes[leader].raft.conf_state.members
        try:
            net.wait_applied(members, last, max_ticks=100)
        except AssertionError:
            continue
        if net.nodes[leader].state[last - 1].data == b"final":
            break
    else:
        raise AssertionError("the healed cluster never committed a final command")
    net.tick(3)
    assert net.converged(sorted(members))


@pytest.mark.parametrize("seed", range(1, 9))
def test_figure8_unreliable_network(seed):
    """Leaders crash or get cut off at random while an unreliable network drops, delays and
    reorders messages (after the MIT 6.824 Figure8Unreliable test)."""
    rng = random.Random(seed)
    net = Network(FIVE, seed=seed)
    net.drop_rate, net.max_delay, net.reorder = 0.1, 2, True
    proposed = 0
    for step in range(200):
        proposed += propose_somewhere(net, rng, b"%d/%d" % (seed, step))
        net.tick(rng.choice([1, 1, 2, 5]))
        leader = next((n for n in FIVE if net.nodes[n].alive
                       and net.status(n).role == Role.LEADER), None)
        if leader is not None and rng.random() < 0.15:
            if rng.random() < 0.5:
                net.crash(leader)
            else:
                net.isolate(leader)
        if rng.random() < 0.2:  # bring someone back
            nid = rng.choice(FIVE)
            if not net.nodes[nid].alive:
                net.restart(nid)
            net.cut_links = {(a, b) for a, b in net.cut_links if nid not in (a, b)}
    assert proposed > 20
    heal_and_converge(net)
    assert len(net.nodes["a"].data()) > 10  # and the cluster made progress through it all


@pytest.mark.parametrize("seed", range(1, 7))
def test_churn_nodes_crash_and_restart_at_random_while_proposals_continue(seed):
    rng = random.Random(seed)
    net = Network(FIVE, seed=seed, compact_keep=20)
    net.drop_rate, net.max_delay = 0.05, 1
    for step in range(250):
        for _ in range(rng.randint(0, 3)):
            propose_somewhere(net, rng, b"%d/%d" % (seed, step))
        net.tick(rng.choice([1, 2, 3]))
        if rng.random() < 0.2:
            nid = rng.choice(FIVE)
            if net.nodes[nid].alive and sum(n.alive for n in net.nodes.values()) > 2:
                net.crash(nid)
            elif not net.nodes[nid].alive:
                net.restart(nid)
    heal_and_converge(net)
    assert len(net.nodes["a"].data()) > 50


@pytest.mark.parametrize("seed", range(1, 21))
def test_random_faults_under_random_settings(seed):
    """Crashes, partitions, loss, delay and reordering, leadership transfers and compaction,
    under a random choice of PreVote, CheckQuorum, pipelining and batching settings."""
    rng = random.Random(seed)
    net = Network(FIVE, seed=seed, pre_vote=rng.random() < 0.7, check_quorum=rng.random() < 0.7,
                  max_inflight=rng.choice([1, 2, 8, 64]),
                  max_entries_per_msg=rng.choice([1, 3, 64]),
                  compact_keep=rng.choice([None, 3, 20]), install_ticks=rng.choice([0, 1, 5]))
    net.drop_rate = rng.choice([0, 0.05, 0.2])
    net.max_delay = rng.choice([0, 1, 3])
    net.reorder = rng.random() < 0.5
    for step in range(200):
        for _ in range(rng.randint(0, 3)):
            propose_somewhere(net, rng, b"%d/%d" % (seed, step))
        if rng.random() < 0.03:
            transfer_somewhere(net, rng)
        net.tick(rng.choice([1, 1, 2, 4]))
        perturb(net, rng, FIVE)
    heal_and_converge(net)


@pytest.mark.parametrize("seed", range(1, 11))
def test_membership_changes_under_faults(seed):
    """Voters and learners added, removed and promoted one at a time, while nodes crash and
    the network misbehaves; nodes outside the configuration wait to be added."""
    rng = random.Random(seed)
    everyone = FIVE + ["f", "g"]
    net = Network(["a", "b", "c"], seed=seed, compact_keep=rng.choice([None, 5]),
                  pre_vote=rng.random() < 0.8, check_quorum=rng.random() < 0.8)
    for nid in everyone[3:]:
        net.add_node(nid)
    net.drop_rate, net.max_delay, net.reorder = 0.05, 1, rng.random() < 0.5
    changes = 0
    for step in range(250):
        propose_somewhere(net, rng, b"%d/%d" % (seed, step))
        if rng.random() < 0.2:
            changes += propose_membership_change(net, rng, everyone)
        net.tick(rng.choice([1, 1, 2]))
        perturb(net, rng, everyone)
    assert changes >= 3
    heal_and_converge(net)


def transfer_somewhere(net: Network, rng: random.Random) -> None:
    leaders = [n for n in net.nodes.values() if n.alive and n.raft.role == Role.LEADER]
    if leaders:
        try:
            rng.choice(leaders).raft.transfer_leader(rng.choice(sorted(net.nodes)))
        except (NotLeader, ValueError):
            pass


def propose_membership_change(net: Network, rng: random.Random, everyone: list[str]) -> bool:
    """Add, remove or promote one node (keeping at least three voters). True if proposed."""
    leaders = [n for n in net.nodes.values() if n.alive and n.raft.role == Role.LEADER]
    if not leaders:
        return False
    raft = max(leaders, key=lambda n: n.raft.term).raft
    voters, learners = set(raft.conf_state.voters), set(raft.conf_state.learners)
    nid = rng.choice(everyone)
    if nid in learners:
        learners.discard(nid)
        voters.add(nid)
    elif nid in voters:
        if len(voters) <= 3:
            return False
        voters.discard(nid)
    else:
        (voters if rng.random() < 0.7 else learners).add(nid)
    try:
        raft.propose_conf_change(conf_entry_data(voters, learners))
        return True
    except (NotLeader, ProposalDropped):
        return False


def perturb(net: Network, rng: random.Random, ids: list[str]) -> None:
    """Now and then crash, restart, isolate or reconnect a random node."""
    roll, nid = rng.random(), rng.choice(ids)
    if roll < 0.05 and net.nodes[nid].alive:
        net.crash(nid)
    elif roll < 0.12 and not net.nodes[nid].alive:
        net.restart(nid)
    elif roll < 0.16:
        net.isolate(nid)
    elif roll < 0.22:
        net.cut_links = {(a, b) for a, b in net.cut_links if nid not in (a, b)}


def test_lossy_network_without_crashes_commits_everything_proposed_to_a_stable_leader():
    net = Network(FIVE, seed=6)
    leader = net.elect()
    net.drop_rate, net.max_delay, net.reorder = 0.2, 2, True
    for i in range(60):
        net.propose(b"%d" % i, via=leader)
        net.tick()
    net.recover()
    net.tick(30)
    assert net.status(leader).role == Role.LEADER
    assert all(net.nodes[n].data() == [b"%d" % i for i in range(60)] for n in FIVE)


# -- the checker checks ---------------------------------------------------------------------------

def test_checker_catches_two_leaders_in_one_term():
    net = Network(["a", "b", "c"], seed=7)
    leader = net.elect()
    other = next(n for n in "abc" if n != leader)
    fake = net.nodes[other].raft
    fake.role, fake.term = Role.LEADER, net.status(leader).term
    with pytest.raises(SafetyViolation, match="election safety"):
        net.safety.on_role(other, fake)


def test_checker_catches_different_entries_applied_at_one_index():
    safety = Safety()
    safety.on_apply("a", Entry(1, 1, data=b"x"))
    safety.on_apply("b", Entry(1, 1, data=b"x"))
    with pytest.raises(SafetyViolation, match="state machine safety"):
        safety.on_apply("c", Entry(1, 1, data=b"y"))


def test_checker_catches_logs_that_agree_on_an_entry_but_not_before_it():
    from raftsim import storage_with
    safety = Safety()
    net = Network(["a"], seed=8)
    raft = net.nodes["a"].raft
    safety.on_persist("a", raft, storage_with([1, 1]), [Entry(3, 2, data=b"z")])
    with pytest.raises(SafetyViolation, match="log matching"):
        safety.on_persist("b", raft, storage_with([1, 2]), [Entry(3, 2, data=b"z")])


def test_checker_catches_a_leader_missing_a_committed_entry():
    net = Network(["a", "b", "c"], seed=9, pre_vote=False)
    leader = net.elect()
    last = net.propose(b"committed")
    net.wait_applied(["a", "b", "c"], last)
    # Pretend a node without that entry won a later term.
    stale = Network(["z"], seed=9).nodes["z"].raft
    stale.role, stale.term = Role.LEADER, net.status(leader).term + 1
    with pytest.raises(SafetyViolation, match="leader completeness"):
        net.safety.on_role("z", stale)
