"""Log replication (Raft §5.3), commitment rules (§5.4.2, Figure 8), persistence."""
from __future__ import annotations

import pytest

from consensus import EntryType, MessageType, ProgressState, Role
from raftsim import Network, SafetyViolation, storage_with

ABC = ["a", "b", "c"]
FIVE = ["a", "b", "c", "d", "e"]


def commands(net: Network, nid: str) -> list[bytes]:
    return net.nodes[nid].data()


def test_agreement_despite_a_failed_follower():
    net = Network(ABC, seed=1)
    leader = net.elect()
    down = next(n for n in ABC if n != leader)
    up = next(n for n in ABC if n not in (leader, down))
    net.crash(down)
    for i in range(10):
        last = net.propose(b"cmd%d" % i)
    net.wait_applied([leader, up], last)
    assert commands(net, leader) == commands(net, up) == [b"cmd%d" % i for i in range(10)]
    net.restart(down)
    net.wait_applied([down], last)
    assert net.converged()


def test_no_commit_without_a_majority():
    net = Network(FIVE, seed=2, check_quorum=False)
    leader = net.elect()
    net.settle()
    before = net.status(leader).commit
    followers = [n for n in FIVE if n != leader]
    for nid in followers[:3]:
        net.isolate(nid)
    index = net.propose(b"needs three")
    net.tick(50)
    assert net.status(followers[3]).last_index >= index  # one follower has it: two of five
    assert net.status(leader).commit == before
    assert all(net.nodes[n].applied < index for n in FIVE)
    net.recover()
    net.wait_applied(FIVE, index)
    assert all(commands(net, n) == [b"needs three"] for n in FIVE)


def test_deposed_leader_rejoins_and_its_uncommitted_entries_are_overwritten():
    net = Network(FIVE, seed=3)
    old = net.elect()
    net.isolate(old)
    for i in range(3):
        net.propose(b"lost%d" % i, via=old)
    net.settle()
    assert net.status(old).last_index >= 4
    net.run_until(lambda: any(net.status(n).role == Role.LEADER and n != old for n in FIVE), 60)
    new = next(n for n in FIVE if n != old and net.status(n).role == Role.LEADER)
    for i in range(2):
        last = net.propose(b"kept%d" % i, via=new)
    net.wait_applied([n for n in FIVE if n != old], last)
    net.recover()
    net.wait_applied([old], last)
    assert net.status(old).role == Role.FOLLOWER
    assert commands(net, old) == [b"kept0", b"kept1"]
    assert net.converged()
    assert net.nodes[old].storage.last_index() == net.nodes[new].storage.last_index()


# -- fast backtracking (the conflict-term optimisation) -------------------------------------------

FIGURE7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIGURE7_FOLLOWERS = {
    "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],
    "b": [1, 1, 1, 4],
    "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    "e": [1, 1, 1, 4, 4, 4, 4],
    "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    "far behind": [1],
    "long conflicting tail": [1, 1, 1] + [2] * 2000,
    "long conflicting terms": [1, 1, 1] + [t for t in range(2, 4) for _ in range(500)],
}


def sync_follower(leader_terms, follower_terms):
    """Leader L (with a like-minded third node) syncs follower F's divergent log.
    Returns (rejections F sent, appends L sent to F) until F's log equals L's."""
    storages = {"L": storage_with(leader_terms, term=7), "M": storage_with(leader_terms, term=7),
                "F": storage_with(follower_terms, term=7)}
    net = Network(["F", "L", "M"], seed=4, storages=storages)
    net.trace = []
    net.nodes["L"].raft.campaign()
    net.settle()
    assert net.status("L").role == Role.LEADER
    net.tick(2)
    leader_log = net.nodes["L"].storage.entries(1, net.status("L").last_index + 1)
    follower_log = net.nodes["F"].storage.entries(1, net.nodes["F"].storage.last_index() + 1)
    assert follower_log == leader_log
    to_f = [m for m in net.trace if m.frm == "L" and m.to == "F" and m.type == MessageType.APPEND]
    rejections = [m for m in net.trace if m.frm == "F" and m.type == MessageType.APPEND_RESP
                  and m.reject]
    return len(rejections), len(to_f)


@pytest.mark.parametrize("case", sorted(FIGURE7_FOLLOWERS))
def test_follower_with_a_divergent_log_is_backed_up_in_one_round_trip_per_term(case):
    rejections, appends = sync_follower(FIGURE7_LEADER, FIGURE7_FOLLOWERS[case])
    # One rejection finds the last agreeing term; entry-by-entry backing up would need up to
    # 2000. (Appends: the probe, the fix, and commit/heartbeat updates.)
    assert rejections <= 1
    assert appends <= 6


def test_leader_far_behind_a_follower_with_a_long_stale_tail():
    """The leader's log is much shorter than an out-of-date follower's: one round trip."""
    rejections, _ = sync_follower([1] * 50 + [3], [1] * 50 + [2] * 3000)
    assert rejections <= 1


# -- pipelining and batching ----------------------------------------------------------------------

def test_pipelined_appends_stop_at_max_inflight_until_acked():
    net = Network(ABC, seed=5, max_inflight=4)
    leader = net.elect()
    slow = next(n for n in ABC if n != leader)
    net.settle()
    assert net.status(leader).progress[slow].state == ProgressState.REPLICATE
    net.cut_links.add((slow, leader))  # the slow follower's answers are lost
    net.trace = []
    for i in range(20):
        last = net.propose(b"%d" % i)
        net.settle()  # one Ready, one append per proposal
    sent = [m for m in net.trace if m.to == slow and m.type == MessageType.APPEND and m.entries]
    assert len(sent) == 4
    assert net.status(leader).progress[slow].inflight == 4
    net.recover()
    net.wait_applied(ABC, last)
    assert net.converged()


def test_proposals_between_readies_travel_batched_within_max_entries_per_msg():
    net = Network(ABC, seed=6, max_entries_per_msg=16)
    net.elect()
    net.settle()
    net.trace = []
    for i in range(100):
        last = net.propose(b"%d" % i)
    net.settle()
    appends = [m for m in net.trace if m.type == MessageType.APPEND and m.entries]
    assert max(len(m.entries) for m in appends) == 16
    assert len(appends) <= 2 * 7  # ceil(100 / 16) per follower
    net.wait_applied(ABC, last)


def test_heartbeats_carry_the_commit_index_capped_at_the_followers_match():
    net = Network(ABC, seed=7)
    leader = net.elect()
    lagging = next(n for n in ABC if n != leader)
    net.settle()
    match_before = net.status(leader).progress[lagging].match
    net.cut_links.add((leader, lagging))
    for i in range(5):
        net.propose(b"%d" % i)
    net.settle()
    net.cut_links.clear()
    net.filter = lambda m: m.type != MessageType.APPEND  # heartbeats only
    net.trace = []
    net.tick(1)
    beats = {m.to: m.commit for m in net.trace if m.type == MessageType.HEARTBEAT}
    assert beats[lagging] == match_before
    assert beats[next(n for n in ABC if n not in (leader, lagging))] == net.status(leader).commit
    net.recover()


# -- commitment: Figure 8 -------------------------------------------------------------------------

def force_elect(net: Network, nid: str) -> bool:
    """Make `nid` campaign (again, at a higher term, if needed) until it leads or clearly can't."""
    for _ in range(5):
        net.nodes[nid].raft.campaign()
        net.settle()
        if net.status(nid).role == Role.LEADER:
            return True
    return False


def new_noop_would_land(net: Network, m) -> bool:
    """Does `m` carry the new leader's no-op to a log that would accept it?"""
    storage = net.nodes[m.to].storage
    return (any(e.type == EntryType.NOOP and e.index > 1 for e in m.entries)
            and m.index <= storage.last_index() and storage.term(m.index) == m.log_term)


def figure8_setup():
    """Figure 8 (a)-(c) with S1..S5 = a..e, driven by hand (no ticks, no spontaneous elections).

    (a) a leads, replicates X at index 2 to b only.  (b) a crashes; e is elected by c, d, e and
    appends its own entry at index 2.  (c) e crashes; a is elected again, and replicates X to c:
    X is now on a majority (a, b, c) -- but not committed, since it is from an older term."""
    net = Network(FIVE, seed=8, pre_vote=False, check_quorum=False, max_entries_per_msg=1)
    net.nodes["a"].raft.campaign()
    net.settle()
    assert net.status("a").role == Role.LEADER and net.status("a").commit == 1
    # (a)
    net.partition(["a", "b"], ["c", "d", "e"])
    x = net.propose(b"X", via="a")
    net.settle()
    assert (x, net.status("b").last_index, net.status("a").commit) == (2, 2, 1)
    # (b)
    net.crash("a")
    net.recover()
    net.cut("e", "b")
    net.filter = lambda m: not (m.frm == "e" and m.type == MessageType.APPEND)  # e keeps its entry
    net.nodes["e"].raft.campaign()
    net.settle()
    assert net.status("e").role == Role.LEADER and net.status("e").last_index == 2
    # (c)
    net.crash("e")
    net.recover()
    net.restart("a")
    return net


def test_figure8_old_term_entry_on_a_majority_is_not_committed_and_may_be_overwritten():
    net = figure8_setup()
    # Probes and X get through, a's own no-op never lands: X reaches c (and d), not the no-op.
    net.filter = lambda m: not new_noop_would_land(net, m)
    assert force_elect(net, "a")
    assert net.status("a").progress["c"].match == 2  # X on a, b, c: a majority of five
    assert net.status("a").commit == 1  # Figure 8: counting replicas does not commit it
    # (d) a crashes; e comes back and wins with b, c, d (its last term is later), then
    # overwrites X everywhere.
    net.crash("a")
    net.recover()
    net.restart("e")
    assert force_elect(net, "e")
    net.restart("a")
    net.tick(3)
    assert not any(b"X" in net.nodes[n].data() for n in FIVE)
    assert {net.nodes[n].storage.entries(2, 3)[0].type for n in FIVE} == {EntryType.NOOP}
    assert net.converged()


def test_figure8_once_a_current_term_entry_commits_x_is_safe():
    """(e): a's own entry reaches the majority, committing X with it; e cannot win."""
    net = figure8_setup()
    assert force_elect(net, "a")
    assert net.status("a").commit == 3
    net.crash("a")
    net.restart("e")
    assert not force_elect(net, "e")
    new = net.elect()
    assert new in ("b", "c", "d")
    net.restart("a")
    net.tick(3)
    assert all(net.nodes[n].data() == [b"X"] for n in FIVE)


def test_safety_checker_catches_a_leader_committing_by_counting_old_replicas(monkeypatch):
    """If the commit rule counted replicas of older-term entries, the Figure 8 run above would
    apply X and later overwrite it: the checker must see that."""
    from consensus import raft as raft_module

    def naive_commit(self):
        matches = sorted((self._prs[p].match for p in self._conf.voters if p in self._prs),
                         reverse=True)
        return self.log.commit_to(matches[self._quorum() - 1])

    monkeypatch.setattr(raft_module.Raft, "_maybe_commit", naive_commit)
    net = figure8_setup()
    net.filter = lambda m: not new_noop_would_land(net, m)
    assert force_elect(net, "a")
    assert net.status("a").commit == 2  # the bug: committed by counting
    net.crash("a")
    net.recover()
    net.restart("e")
    with pytest.raises(SafetyViolation):
        force_elect(net, "e")
        net.tick(5)


# -- persistence ----------------------------------------------------------------------------------

def test_everything_persists_across_a_restart_of_all_nodes():
    net = Network(ABC, seed=9)
    net.elect()
    for i in range(10):
        last = net.propose(b"%d" % i)
    net.wait_applied(ABC, last)
    terms = {n: net.status(n).term for n in ABC}
    for nid in ABC:
        net.crash(nid)
    for nid in ABC:
        net.restart(nid)
    for nid in ABC:
        status = net.status(nid)
        assert status.term == terms[nid]
        assert status.commit >= last and status.last_index >= last
    leader = net.elect()
    assert net.status(leader).term > max(terms.values())
    last = net.propose(b"after")
    net.wait_applied(ABC, last)
    assert all(commands(net, n) == [b"%d" % i for i in range(10)] + [b"after"] for n in ABC)


def test_crash_loses_only_what_was_not_persisted():
    """A vote is durable: a node that voted and crashed does not vote again in that term."""
    net = Network(ABC, seed=10, pre_vote=False)
    net.nodes["a"].raft.campaign()
    net.settle()
    assert net.status("a").role == Role.LEADER
    term = net.status("a").term
    net.crash("b")
    net.restart("b")
    assert net.status("b").vote == "a" and net.status("b").term == term


def test_wiped_follower_is_caught_up_by_heartbeats_alone():
    """An operator's resync wipes a follower's log. Raft assumes logs survive, so the leader
    still believes it holds everything; the follower's heartbeat responses carry its last index
    and the leader replicates again, with no new write needed to trigger a rejection."""
    from consensus import HardState, MemoryStorage
    net = Network(ABC, seed=5)
    leader = net.elect()
    for i in range(5):
        last = net.propose(b"cmd%d" % i)
    net.wait_applied(ABC, last)
    wiped = next(n for n in ABC if n != leader)
    term = net.status(leader).term
    net.crash(wiped)
    node = net.nodes[wiped]
    node.storage = MemoryStorage(HardState(term, wiped, 0))  # voted for itself: no double vote
    node.state, node.confs = [], []
    net.restart(wiped)
    net.wait_applied([wiped], last, max_ticks=50)  # idle cluster: heartbeats only
    assert commands(net, wiped) == commands(net, leader)
