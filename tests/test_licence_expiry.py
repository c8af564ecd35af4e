"""A licence with an end, on whole nodes (tests/harness.py): a validator licensed until a time
votes until then, and leaves the Raft membership at the first block past it, on every
validator alike (same state hash), with no transaction revoking it."""
from __future__ import annotations

from node.ledger.types import LicenseGrant

from .harness import TestNetwork


async def test_a_validator_licence_lapses_at_its_end_and_membership_follows(tmp_path):
    net = TestNetwork(tmp_path, validators=3, spare=1)
    try:
        await net.start_all()
        leader = await net.elect()
        ends = net.clock.now_ms + 5_000
        grant = net.sign("regulator", LicenseGrant("inst3", "validator", ends))
        net.submit(leader, grant)
        await net.until_committed(grant)
        newcomer = await net.start(3)
        await net.until("every node counts node3 as a voter", lambda: all(
            newcomer.id in n.node_status().voters for n in net.running()))
        assert net.clock.now_ms < ends
        await net.advance(ends - net.clock.now_ms)
        # the next block's timestamp is past the end: its execution revokes the licence
        tx = net.transfer()
        net.submit(net.leader() or leader, tx)
        await net.until_committed(tx, nodes=[net.node(i) for i in (0, 1, 2)])
        # (node3 itself is cut off at that height, as after a revoke, and stays where it was)
        await net.until("no validator counts node3 as a voter any more", lambda: all(
            newcomer.id not in net.node(i).node_status().voters for i in (0, 1, 2)))
        states = {net.node(i).node_status().state_hash for i in (0, 1, 2)}
        assert len(states) == 1
    finally:
        await net.close()
