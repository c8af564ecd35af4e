"""Commit certificates on whole nodes (tests/harness.py): every block certified on every node,
a diverged node halts and says so."""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from click.testing import CliRunner

import node.server.daemon as daemon
from cli.main import lichen
from node.ledger.certificates import Certificate, check_certificate
from node.ledger.verify import (
    certificate_problem,
    genesis_validators,
    tx_proof,
    verify_certificate,
    verify_chain,
    verify_tx_proof,
)
from node.server.api import render_block

from .harness import TestNetwork, key_for


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


async def test_a_proof_carries_the_certificate_and_verifies_offline_against_genesis(net):
    """An auditor holding only genesis checks that a quorum, not one key, vouched for the
    block; a proof whose certificate is tampered with in any of the ways below is refused
    with the code that says how (before certificates a proof had no quorum to check)."""
    nodes = await net.start_all()
    await net.elect()
    tx = net.transfer()
    net.submit(nodes[1], tx)
    height = (await net.until_committed(tx))[tx.hash]
    await net.until("the block is certified", lambda: all(
        n.node_status().certified_height >= height for n in nodes))
    p = nodes[2].tx_proof(tx.hash)
    proof = json.loads(json.dumps(tx_proof(p.block, p.index, p.receipt, p.certificate, p.voters)))
    trusted = genesis_validators(net.genesis)
    assert verify_tx_proof(proof)[0]
    ok, why = verify_certificate(proof, trusted, net.chain_id)
    assert ok, why
    assert why.startswith(f"certified by {len(proof['certificate']['signatures'])} of 3")

    def refused(mutate) -> str:
        doc = copy.deepcopy(proof)
        mutate(doc)
        ok, why = verify_certificate(doc, trusted, net.chain_id)
        assert not ok
        return why

    sigs = proof["certificate"]["signatures"]
    outsider = key_for("outsider")

    def forge(doc):
        doc["certificate"]["signatures"][0]["signature"] = ("00" if sigs[0]["signature"][:2] != "00"
                                                            else "11") + sigs[0]["signature"][2:]
    assert "(CERT_BAD_SIGNATURE)" in refused(forge)

    def outsider_signs(doc):
        statement = Certificate.from_json(doc["certificate"]).statement
        doc["certificate"]["signatures"] = [doc["certificate"]["signatures"][0], {
            "signer": outsider.address_hex,
            "signature": outsider.sign(statement.signing_bytes()).hex()}]
    assert "(CERT_NOT_A_VOTER)" in refused(outsider_signs)

    def duplicate(doc):
        doc["certificate"]["signatures"] = [sigs[0], sigs[0]]
    assert "(CERT_DUPLICATE_SIGNER)" in refused(duplicate)

    def sub_quorum(doc):
        doc["certificate"]["signatures"] = sigs[:1]
    assert "(SUB_QUORUM)" in refused(sub_quorum)

    def own_validator_set(doc):  # the forger lists himself as the whole validator set
        statement = Certificate.from_json(doc["certificate"]).statement
        doc["validators"] = [outsider.address_hex]
        doc["certificate"]["signatures"] = [{
            "signer": outsider.address_hex,
            "signature": outsider.sign(statement.signing_bytes()).hex()}]
    assert "(CERT_NOT_A_VOTER)" in refused(own_validator_set)

    def other_state_hash(doc):
        doc["certificate"]["state_hash"] = "ee" * 32
    assert "(CERT_BAD_SIGNATURE)" in refused(other_state_hash)

    def other_block(doc):
        doc["certificate"]["block_hash"] = "ee" * 32
    assert "(BAD_CERTIFICATE)" in refused(other_block)


async def test_block_view_and_json_name_the_signers(net):
    nodes = await net.start_all()
    await net.elect()
    tx = net.transfer()
    net.submit(nodes[0], tx)
    height = (await net.until_committed(tx))[tx.hash]
    await net.until("certified", lambda: nodes[0].node_status().certified_height >= height)
    doc = render_block(nodes[0].block_view(height))
    assert len(doc["signers"]) >= 2 and set(doc["signers"]) <= set(doc["validators"])
    assert sorted(doc["validators"]) == sorted(n.id for n in nodes)
    assert doc["certificate"]["state_hash"] == doc["state_hash"]


async def test_tx_verify_checks_the_certificate_of_a_saved_proof(net, tmp_path):
    """`lichen tx verify --proof-file --genesis`: an auditor offline. A proof cut down to one
    validator's signature (one key vouching alone) exits with BAD_PROOF and SUB_QUORUM."""
    nodes = await net.start_all()
    await net.elect()
    tx = net.transfer()
    net.submit(nodes[0], tx)
    height = (await net.until_committed(tx))[tx.hash]
    await net.until("certified", lambda: nodes[0].node_status().certified_height >= height)
    p = nodes[0].tx_proof(tx.hash)
    proof = json.loads(json.dumps(tx_proof(p.block, p.index, p.receipt, p.certificate, p.voters)))
    genesis_file = tmp_path / "genesis.json"
    genesis_file.write_text(json.dumps(net.genesis.to_json()))
    good, bad = tmp_path / "proof.json", tmp_path / "sub.json"
    good.write_text(json.dumps(proof))
    proof["certificate"]["signatures"] = proof["certificate"]["signatures"][:1]
    bad.write_text(json.dumps(proof))
    args = ["tx", "verify", tx.hash.hex(), "--genesis", str(genesis_file), "--proof-file"]
    ok = CliRunner().invoke(lichen, [*args, str(good), "--json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["certified"] and len(doc["signers"]) >= 2
    refused = CliRunner().invoke(lichen, [*args, str(bad)])
    assert refused.exit_code != 0 and "SUB_QUORUM" in refused.output


async def test_a_chain_replay_checks_each_certificate_against_the_replayed_validators(net):
    """`lichen chain verify`'s check: the validator set at each height comes from replaying the
    licences, not from the node; a certificate for another state hash is refused."""
    nodes = await net.start_all()
    await net.elect()
    tx = net.transfer()
    net.submit(nodes[0], tx)
    height = (await net.until_committed(tx))[tx.hash]
    await net.until("certified", lambda: nodes[0].node_status().certified_height >= height)
    node = nodes[0]
    blocks = [(node.block_bytes(h), node.block_view(h).state_hash) for h in range(1, height + 1)]
    certs = {h: node.block_view(h).certificate.to_json() for h in range(1, height + 1)}

    def replay(cert_of) -> str:
        return verify_chain(net.genesis, blocks, on_block=lambda r: certificate_problem(
            r, cert_of(r.block.header.height), net.chain_id)).reason

    assert replay(certs.get) == ""
    wrong = {h: {**c, "state_hash": "ee" * 32} for h, c in certs.items()}
    assert "(BAD_CERTIFICATE)" in replay(wrong.get)
    alone = {h: {**c, "signatures": c["signatures"][:1]} for h, c in certs.items()}
    assert "(SUB_QUORUM)" in replay(alone.get)
