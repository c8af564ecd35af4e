"""Commit certificates on whole nodes (tests/harness.py): every block certified on every node,
a diverged node halts and says so."""
from __future__ import annotations

import dataclasses

import pytest

import node.server.daemon as daemon
from node.ledger.certificates import check_certificate

from .harness import TestNetwork


@pytest.fixture
async def net(tmp_path):
    network = TestNetwork(tmp_path)
    try:
        yield network
    finally:
        await network.close()


async def test_every_committed_block_gets_a_certificate_on_every_node(net):
    nodes = await net.start_all()
    await net.elect()
    for _ in range(3):
        tx = net.transfer()
        net.submit(nodes[0], tx)
        await net.until_committed(tx)
    await net.until_agreed()
    height = nodes[0].height()
    assert height >= 3
    await net.until("every node certified every block", lambda: all(
        n.node_status().certified_height == height for n in nodes))
    for n in nodes:
        for h in range(1, height + 1):
            view = n.block_view(h)
            assert view.certificate is not None, f"{n.config.name} has no certificate for {h}"
            s = view.certificate.statement
            assert (s.height, s.block_hash, s.state_hash) == (h, view.block.hash, view.state_hash)
            assert sorted(v.hex() for v in view.voters) == sorted(n.node_status().voters)
            check_certificate(view.certificate, view.voters)
            assert len(view.certificate.signers) >= 2
    assert all(not n.node_status().diverged for n in nodes)


async def test_a_node_whose_state_hash_differs_from_the_certified_one_halts(net, monkeypatch):
    """Attack/fault modelled: one node's execution goes wrong (a bug, a corrupted state record,
    tampering) and yields a different state hash for a block. Before certificates it would
    keep applying and serve a ledger the others do not have; now the other validators certify
    the right state hash, and the odd node stops applying and reports `diverged` in its
    status and /readyz."""
    nodes = await net.start_all()
    await net.elect()
    victim = nodes[2]
    real = daemon.execute_block

    def tampered(state, block, *args, **kwargs):
        result = real(state, block, *args, **kwargs)
        if state is victim.state and block.header.height == 2:
            return dataclasses.replace(result, state_hash=b"\xee" * 32)
        return result
    monkeypatch.setattr(daemon, "execute_block", tampered)

    tx1 = net.transfer()
    net.submit(nodes[0], tx1)
    await net.until_committed(tx1)
    tx2 = net.transfer()
    net.submit(nodes[0], tx2)
    await net.until("the odd node reports diverged", lambda: victim.node_status().diverged)
    status = victim.node_status()
    assert status.to_json()["diverged"] and "state hash" in status.diverged
    readiness = victim.readiness()
    assert not readiness.to_json()["ready"]
    assert any("diverged" in r for r in readiness.reasons())
    stuck = status.height
    tx3 = net.transfer()
    net.submit(nodes[0], tx3)
    await net.until_committed(tx3, nodes=nodes[:2])
    await net.advance(500)
    assert victim.node_status().height == stuck  # applies nothing more
    assert all(not n.node_status().diverged for n in nodes[:2])
    assert all(n.readiness().to_json()["ready"] for n in nodes[:2])
