"""Membership follows the licenses: a fourth validator joins and counts, an observer follows
without ever counting, the leader hands over for maintenance. On the in-memory network
(tests/harness.py); one real devnet checks the CLI commands that do the same."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger.types import LicenseGrant
from node.server.service import NodeRole, TxState

from .conftest import free_port_range
from .harness import TestNetwork
from .procs import (
    client,
    converged,
    leader_of,
    lichen,
    nodes_of,
    running_devnet,
    statuses,
    wait_until,
)


async def test_fourth_validator_joins_and_an_observer_never_counts(tmp_path):
    net = TestNetwork(tmp_path, validators=3, observers=1, spare=1)
    try:
        await net.start_all()
        leader = await net.elect()
        observer = net.node(3)
        st = observer.node_status()
        assert st.role == NodeRole.OBSERVER and len(st.voters) == 3
        grant = net.sign("regulator", LicenseGrant("inst4", "validator"))
        net.submit(leader, grant)
        await net.until_committed(grant)
        newcomer = await net.start(4)
        await net.until("every node counts node4 as a voter", lambda: all(
            newcomer.id in n.node_status().voters for n in net.running()))

        # four voters: with one of the original three stopped, three of four still commit
        await net.stop(0)
        ok = net.transfer()
        net.submit(newcomer, ok)
        await net.until_committed(ok)
        await net.start(0)
        await net.until_agreed()

        # the observer's vote is never counted: with it and one validator up, nothing commits
        for i in (0, 1, 2):
            await net.stop(i)
        height = observer.node_status().height
        stuck = net.transfer()
        net.submit(observer, stuck)
        assert (await net.wait_for(observer, stuck, 3)).status == TxState.PENDING
        assert observer.node_status().height == height
        for i in (0, 1, 2):
            await net.start(i)
        # the transfer the observer took while no quorum was up commits once one is back
        await net.until_committed(stuck)
        await net.until_agreed()
        assert observer.node_status().height > height
    finally:
        await net.close()


async def test_leadership_transfer_hands_over_within_an_election_timeout(tmp_path):
    net = TestNetwork(tmp_path)
    try:
        await net.start_all()
        leader = await net.elect()
        target = next(n for n in net.running() if n is not leader)
        leader.transfer_leadership(target.id)
        election_timeout_ms = 10 * net.config_of(0).tick_ms  # the shortest one: ten ticks
        await net.until("the target leads", lambda: net.leader() is target, election_timeout_ms)
        ok = net.transfer()
        net.submit(leader, ok)
        await net.until_committed(ok)
        assert target.node_status().role == NodeRole.LEADER
    finally:
        await net.close()


async def test_only_the_leader_hands_over_and_only_to_a_voter(tmp_path):
    net = TestNetwork(tmp_path)
    try:
        await net.start_all()
        leader = await net.elect()
        follower = next(n for n in net.running() if n is not leader)
        with pytest.raises(E.NotLeaderError):
            follower.transfer_leadership(leader.id)
        with pytest.raises(E.Malformed):
            leader.transfer_leadership("ab" * 32)  # not a voter
        await net.advance(2000)
        assert net.leader() is leader
    finally:
        await net.close()


@pytest.mark.slow
def test_the_devnet_commands_hand_over_leadership_and_add_a_validator(tmp_path):
    """`lichen devnet transfer-leader` and `lichen devnet add-node` on real daemons."""
    with running_devnet(tmp_path / "devnet", 3, free_port_range(4)) as d:
        leader = wait_until("a leader", lambda: leader_of(d))
        target = next(n for n in nodes_of(d) if n != leader)
        out = lichen("devnet", "transfer-leader", target, "--dir", str(d)).stdout
        assert f"{target} is leader" in out and leader_of(d) == target
        out = lichen("devnet", "add-node", "--role", "validator", "--dir", str(d)).stdout
        assert "joined as a voter" in out
        inst3 = nodes_of(d)["node3"]["node_id"]
        wait_until("every node counts node3 as a voter",
                   lambda: all(s and inst3 in s["voters"] for s in statuses(d).values()))
        wait_until("all four agree", lambda: converged(d), timeout=20)


@pytest.mark.slow
def test_the_devnet_rotates_the_leaders_node_key_and_it_rejoins(tmp_path):
    """`lichen devnet rotate-key` on real daemons: the leader's node key is rotated, the node
    restarts on its new key file, the membership moves to the new id and transfers commit."""
    with running_devnet(tmp_path / "devnet", 3, free_port_range(4)) as d:
        leader = wait_until("a leader", lambda: leader_of(d))
        old = nodes_of(d)[leader]["node_id"]
        out = lichen("devnet", "rotate-key", leader, "--dir", str(d)).stdout
        assert f"{leader} rejoined as" in out and "the old key stopped counting" in out
        new = nodes_of(d)[leader]["node_id"]
        assert new != old and (d / "keys" / f"inst{leader[-1]}-node.old.key").exists()
        wait_until("every node has the new id as voter and not the old", lambda: all(
            s and new in s["voters"] and old not in s["voters"] for s in statuses(d).values()))
        assert client(d, leader).status()["node_id"] == new
        out = lichen("tx", "transfer", "--key", str(d / "keys" / "alice.key"), "--to",
                     str(d / "keys" / "bob.key"), "--asset", "USD", "--amount", "5",
                     "--node", nodes_of(d)[leader]["url"]).stdout
        assert "committed at height" in out
        doc = client(d, leader).get("/v1/institutions")
        inst = next(i for i in doc["institutions"] if i["name"] == f"inst{leader[-1]}")
        assert inst["node_key"] == new and inst["rotated"]
        wait_until("all three agree", lambda: converged(d), timeout=20)
