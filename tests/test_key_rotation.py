"""A node key rotated on chain (key_rotate), on whole nodes on the in-memory network: the
operator restarts the node with its new key file, the Raft membership moves to the new id by
its one-step machinery, and the old key is refused as a peer."""
from __future__ import annotations

from node.ledger.types import KeyRotate
from node.store.recovery import verify_store

from .harness import TestNetwork, key_for


async def rotate_node_key(net: TestNetwork, i: int, via) -> str:
    """The regulator rotates node i's key; once committed, node i restarts with the new key
    (same data dir). Returns the old id."""
    old, new = net.id_of(i), key_for(f"inst{i} node key 2")
    tx = net.sign("regulator", KeyRotate(f"inst{i}", "node", new.address))
    net.submit(via, tx)
    await net.until_committed(tx, nodes=[n for n in net.running() if n is not net.node(i)])
    await net.stop(i)
    net.node_keys[i] = new
    await net.start(i)
    return old


def moved(net: TestNetwork, old: str, new: str) -> bool:
    return all(new in s.voters and old not in s.voters and old not in s.learners
               for s in (n.node_status() for n in net.running()))


async def test_a_rotated_follower_rejoins_with_its_new_key_and_the_old_key_is_refused(tmp_path):
    """Attack: the stolen old node key of a validator, rotated away by the regulator, dials the
    network from another host to peer and vote. The node itself, restarted with its new key
    file, rejoins: its new id ends a voter, the old id is gone, transfers commit, and the old
    key's links are refused."""
    net = TestNetwork(tmp_path, validators=3, spare=1)
    try:
        await net.start_all()
        leader = await net.elect()
        i = next(net.index_of(n) for n in net.running() if n is not leader)
        old = await rotate_node_key(net, i, leader)
        new = net.id_of(i)
        await net.until("the new id is a voter and the old one gone", lambda: moved(net, old, new))
        assert net.node(i).node_status().institution == f"inst{i}"
        tx = net.transfer()
        net.submit(net.node(i), tx)
        await net.until_committed(tx)
        net.node_keys[3] = key_for(f"inst{i}")  # the thief runs a node with the old key
        thief = await net.start(3)
        await net.advance(3_000)  # it dials every validator; each handshake refuses it
        validators = [net.node(j) for j in range(3)]
        assert [v.config.name for v in validators if old in v.node_status().peers] == []
        assert thief.node_status().peers == ()
        await net.stop(3)
        await net.stop(i)  # the rotated node's own store replays the rotation from genesis
        net.genesis.save(tmp_path / "genesis.json")
        report = verify_store(str(tmp_path / f"node{i}"), str(tmp_path / "genesis.json"))
        assert report.ok and report.state_records_match, report.problem
        assert report.chain.height >= 2
    finally:
        await net.close()


async def test_rotating_the_leaders_node_key_hands_over_before_the_operator_restarts(tmp_path):
    """The leader's own node key rotated: its blocks no longer count (the proposer is no longer
    licensed), so, like a leader whose validator license is revoked, the membership drops its
    old id and another validator leads; transfers keep committing before the operator restarts
    it. Restarted with the new key it rejoins as a voter."""
    net = TestNetwork(tmp_path, validators=3)
    try:
        await net.start_all()
        leader = await net.elect()
        i = net.index_of(leader)
        old, new = leader.id, key_for(f"inst{i} node key 2")
        tx = net.sign("regulator", KeyRotate(f"inst{i}", "node", new.address))
        net.submit(leader, tx)
        await net.until_committed(tx)
        others = [n for n in net.running() if n is not leader]
        await net.until("another validator leads", lambda: net.leader(others) is not None)
        pay = net.transfer()
        net.submit(others[0], pay)
        await net.until_committed(pay, nodes=others)
        await net.stop(i)
        net.node_keys[i] = new
        await net.start(i)
        await net.until("the new id is a voter and the old one gone",
                        lambda: moved(net, old, new.address_hex))
        pay = net.transfer()
        net.submit(net.node(i), pay)
        await net.until_committed(pay)
    finally:
        await net.close()
