"""Three validators under a workload: a leader stopped and replaced, partitions of a minority
and of a majority, healed. On the in-memory network (tests/harness.py), in node time.

Each test drives a workload of transfers from alice to bob and keeps every transaction whose
commit a node acknowledged; at the end every node must hold each of them at the same height,
and all nodes must agree on (height, block hash, state hash).

(tests/procs.py's `Workload` does the same against real processes, for tests/test_rounds.py.)
"""
from __future__ import annotations

import pytest

from node.server.service import NodeRole, TxState

from . import harness

# ---- on the in-memory network ----------------------------------------------------------------

@pytest.fixture
async def net(tmp_path):
    network = harness.TestNetwork(tmp_path)
    try:
        await network.start_all()
        yield network
    finally:
        await network.close()


async def test_leader_election_follower_submission_and_a_stopped_leader(net):
    leader = await net.elect()
    follower = next(n for n in net.running() if n is not leader)
    tx = net.transfer(amount=7)
    net.submit(follower, tx)
    await net.until_committed(tx, nodes=[follower])

    with harness.Workload(net) as load:
        await net.until("the workload commits", lambda: load.committed_count() >= 10)
        old_term = leader.node_status().term
        idx = net.index_of(leader)
        await net.stop(idx)
        t0 = net.clock.now_ms
        new_leader = await net.elect()
        elected_after = net.clock.now_ms - t0
        assert new_leader.node_status().term > old_term
        before = load.committed_count()
        await net.until("commits go on", lambda: load.committed_count() >= before + 10)
        await net.start(idx)
        await net.until_agreed()
    assert elected_after < 5000, f"new leader after {elected_after} ms"
    await net.until_agreed()
    load.assert_acked_everywhere()


async def test_partitions_minority_goes_on_majority_cut_commits_nothing_then_heals(net):
    leader = await net.elect()
    cut = next(n for n in net.running() if n is not leader)
    rest = [n for n in net.running() if n is not cut]
    with harness.Workload(net, targets=[net.index_of(n) for n in rest]) as load:
        await net.until("the workload commits", lambda: load.committed_count() >= 5)
        net.isolate(net.index_of(cut))
        term_before = leader.node_status().term
        before = load.committed_count()
        await net.until("the two others go on", lambda: load.committed_count() >= before + 10)
        await net.advance(3000)  # the cut node's election timer fires more than once meanwhile
        net.heal()
        await net.until_agreed()
        st = leader.node_status()
        assert st.role == NodeRole.LEADER and st.term == term_before, \
            "a rejoining node must not raise the term or depose a healthy leader (PreVote)"

        load.targets = [net.index_of(leader)]
        net.isolate(net.index_of(leader))  # the two others, a majority, cut off from it
        await net.advance(2500)  # CheckQuorum: the leader steps down without a quorum
        assert leader.node_status().role != NodeRole.LEADER
        cut_count = load.committed_count()
        refused = net.transfer("bob", "alice")
        net.submit(leader, refused)
        assert (await net.wait_for(leader, refused, 3)).status == TxState.PENDING  # a timeout
        await net.advance(1000)
        assert load.committed_count() == cut_count, "nothing commits without a majority"
        net.heal()
        load.targets = sorted(net.nodes)
        await net.until("commits resume", lambda: load.committed_count() >= cut_count + 5)
    await net.until_agreed()
    load.assert_acked_everywhere()
