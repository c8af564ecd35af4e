"""institution_add on whole nodes (tests/harness.py): an institution genesis does not name is
added on chain by the regulator, licensed after, and its node joins the running network, as an
observer and then as a validator, every node agreeing on the state."""
from __future__ import annotations

from node.ledger.types import InstitutionAdd, LicenseGrant

from .harness import TestNetwork, address_of


async def test_a_node_of_an_added_institution_joins_as_observer_then_validator(tmp_path):
    net = TestNetwork(tmp_path, validators=3, unlisted=1)
    try:
        assert net.genesis.institution("inst3") is None
        await net.start_all()
        leader = await net.elect()
        key = net.keys["inst3"]
        add = net.sign("regulator", InstitutionAdd("inst3", "Newcomer Bank", "FR", key.address,
                                                   key.address, address_of(3)))
        observe = net.sign("regulator", LicenseGrant("inst3", "observer"))
        net.submit(leader, add, observe)
        await net.until_committed(add, observe)
        newcomer = await net.start(3)
        await net.until("node3 follows as an observer", lambda: all(
            newcomer.id in n.node_status().learners for n in net.running()))
        tx = net.transfer()
        net.submit(net.leader() or leader, tx)
        await net.until_committed(tx)  # on node3 too
        vote = net.sign("regulator", LicenseGrant("inst3", "validator"))
        net.submit(net.leader() or leader, vote)
        await net.until_committed(vote)
        await net.until("every node counts node3 as a voter", lambda: all(
            newcomer.id in n.node_status().voters for n in net.running()))
        await net.until_agreed()
        for n in net.running():  # what the dashboard lists, by its current node key
            assert (newcomer.id, "inst3") in {(m.node_id, m.institution) for m in n.network_members()}
            assert n._peer_name(newcomer.id) == "inst3"
        names = {i.name for i in newcomer.institutions()}
        assert "inst3" in names and newcomer.policy().institutions[-1].name == "inst3"
    finally:
        await net.close()
