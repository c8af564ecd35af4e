"""Verifiable records: inclusion proofs, whole-chain replay, audit export and readiness."""
from __future__ import annotations

import copy
import csv
import dataclasses
import json
from types import SimpleNamespace

import pytest

from devnet.client import ApiError, Client
from node.ledger.genesis import Genesis
from node.ledger.types import Block, Issue, KycAttest, Transfer, sign_tx
from node.ledger.verify import tx_proof, verify_chain, verify_tx_proof
from node.server.api import not_ready_reasons
from node.server.service import MAX_APPLY_LAG

from .helpers import free_port_range
from .node.support import HOUR, NAMES, T0, YEAR_LATER, Chain, Keys, genesis_doc, key_for
from .procs import lichen, nodes_of, running_devnet

# ---- an in-memory chain of three blocks -----------------------------------------------------

@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(*(key_for(n) for n in NAMES))


@pytest.fixture(scope="module")
def genesis(keys) -> Genesis:
    return Genesis.from_json(genesis_doc(keys))


@pytest.fixture(scope="module")
def history(genesis, keys):
    """(blocks, state hashes after each, the chain): block 1 holds five txs, one of them failing."""
    k, cid = keys, genesis.chain_id
    chain = Chain(genesis, k.bank_a)
    batches = [
        ([sign_tx(k.alice, cid, 0, Transfer("USD", k.bob.address, 700)),
          sign_tx(k.carol, cid, 0, Transfer("USD", k.bob.address, 10)),  # KYC_MISSING
          sign_tx(k.bank_a, cid, 0, Issue("USD", k.alice.address, 5_000)),
          sign_tx(k.bob, cid, 0, Transfer("EUR", k.alice.address, 20)),
          sign_tx(k.alice, cid, 1, Transfer("USD", k.bob.address, 1))], T0 + HOUR),
        ([sign_tx(k.bank_a, cid, 1, KycAttest(k.carol.address, 2, "FR", YEAR_LATER, b"\x01" * 32)),
          sign_tx(k.carol, cid, 1, Transfer("USD", k.alice.address, 100))], T0 + 2 * HOUR),
        ([sign_tx(k.bob, cid, 1, Transfer("USD", k.carol.address, 5))], T0 + 3 * HOUR),
    ]
    blocks, state_hashes = [], []
    for txs, ts in batches:
        result = chain.run(txs, ts)
        blocks.append(result.block)
        state_hashes.append(result.state_hash)
    return blocks, state_hashes, chain


def raw_chain(blocks, state_hashes) -> list[tuple[bytes, bytes]]:
    return [(b.encode(), s) for b, s in zip(blocks, state_hashes, strict=True)]


# ---- inclusion proofs -------------------------------------------------------------------------

def test_every_transaction_of_a_block_has_a_proof_that_verifies(history):
    block = history[0][0]
    path_lengths = []
    for i in range(len(block.txs)):
        proof = json.loads(json.dumps(tx_proof(block, i)))  # survives being saved as JSON
        ok, reason = verify_tx_proof(proof, trusted_header_hash=block.hash)
        assert ok, reason
        assert f"block 1 (index {i} of 5)" in reason
        path_lengths.append(len(proof["path"]))
    assert path_lengths == [3, 3, 3, 3, 1]  # RFC 6962: 5 leaves split as 4 + 1


def proof_of(history, index: int = 2) -> dict:
    return tx_proof(history[0][0], index)


def test_a_tampered_merkle_path_fails(history):
    proof = proof_of(history)
    proof["path"][1] = ("00" if proof["path"][1][:2] != "00" else "11") + proof["path"][1][2:]
    assert verify_tx_proof(proof) == (
        False, "the Merkle path does not lead from the tx hash to the header's tx_root")


def test_another_tx_hash_fails_the_merkle_path(history):
    proof, other = proof_of(history, 2), proof_of(history, 3)
    proof["tx_hash"] = other["tx_hash"]
    assert verify_tx_proof(proof)[1].startswith("the Merkle path does not lead")
    del proof["tx"]  # a bare hash proof fails the same way
    assert verify_tx_proof(proof)[1].startswith("the Merkle path does not lead")


def test_tx_bytes_must_hash_to_the_proven_tx_hash(history):
    proof, other = proof_of(history, 2), proof_of(history, 3)
    proof["tx"] = other["tx"]
    assert verify_tx_proof(proof) == (False, "the transaction bytes do not hash to the tx hash")


def test_a_tampered_header_field_fails(history):
    proof = proof_of(history)
    proof["header"]["timestamp"] += 1
    assert verify_tx_proof(proof) == (False, "the header fields do not hash to the block hash")


def test_a_forged_header_with_its_own_hash_fails_the_proposer_signature(history):
    block = history[0][0]
    forged = dataclasses.replace(block.header, timestamp=block.header.timestamp + 1)
    proof = proof_of(history)
    proof["header"]["timestamp"] = forged.timestamp
    proof["block_hash"] = forged.hash.hex()
    assert verify_tx_proof(proof) == (False,
                                      "the proposer's signature over the header does not verify")


def test_a_proof_for_another_block_fails_against_the_trusted_header_hash(history):
    blocks = history[0]
    ok, reason = verify_tx_proof(proof_of(history), trusted_header_hash=blocks[1].hash)
    assert not ok and "is not the trusted header hash" in reason


@pytest.mark.parametrize("breakage", [
    lambda p: p.pop("path"),
    lambda p: p["header"].pop("tx_root"),
    lambda p: p.update(index=-1),
    lambda p: p.update(block_hash="zz"),
    lambda p: p["header"].update(height="1"),
])
def test_a_malformed_proof_is_refused_with_the_field_named(history, breakage):
    proof = copy.deepcopy(proof_of(history))
    breakage(proof)
    ok, reason = verify_tx_proof(proof)
    assert not ok and reason.startswith("malformed proof: ")


# ---- the whole chain ----------------------------------------------------------------------------

def test_a_good_chain_replays_to_the_same_state_hash(genesis, history):
    blocks, state_hashes, chain = history
    report = verify_chain(genesis, raw_chain(blocks, state_hashes))
    assert report.ok and report.bad_height is None and report.reason == ""
    assert (report.blocks_checked, report.txs_executed, report.txs_failed) == (3, 8, 1)
    assert (report.height, report.block_hash, report.state_hash) == (
        3, chain.tip.block_hash, chain.tip.state_hash)


def test_an_empty_chain_is_its_genesis(genesis):
    report = verify_chain(genesis, [])
    assert report.ok and report.height == 0 and report.block_hash == genesis.chain_id


def test_a_flipped_byte_in_a_transaction_is_reported_at_its_block(genesis, history):
    blocks, state_hashes, _ = history
    b = blocks[1]
    tx = bytearray(b.txs[1])
    tx[-1] ^= 0x01  # a signature byte: the tx still decodes, its hash changes
    chain = raw_chain(blocks, state_hashes)
    chain[1] = (Block(b.header, b.signature, (b.txs[0], bytes(tx))).encode(), state_hashes[1])
    report = verify_chain(genesis, chain)
    assert (report.ok, report.bad_height, report.blocks_checked) == (False, 2, 1)
    assert report.reason == "block 2 Merkle root does not match its transactions"
    assert report.height == 1 and report.state_hash == state_hashes[0]


def test_a_broken_hash_link_is_reported_at_its_block(genesis, history, keys):
    blocks, state_hashes, _ = history
    header = dataclasses.replace(blocks[2].header, prev_hash=blocks[0].hash)
    relinked = Block(header, keys.bank_a.sign(header.hash), blocks[2].txs)  # validly signed
    chain = raw_chain(blocks, state_hashes)
    chain[2] = (relinked.encode(), state_hashes[2])
    report = verify_chain(genesis, chain)
    assert (report.ok, report.bad_height, report.blocks_checked) == (False, 3, 2)
    assert report.reason == "block 3 does not link to the previous block"


def test_a_wrong_reported_state_hash_is_reported_at_its_block(genesis, history):
    blocks, state_hashes, _ = history
    chain = raw_chain(blocks, state_hashes)
    chain[1] = (chain[1][0], b"\x07" * 32)
    report = verify_chain(genesis, chain)
    assert (report.ok, report.bad_height, report.blocks_checked) == (False, 2, 1)
    assert report.reason == (f"block 2: re-execution gives state hash {state_hashes[1].hex()}, "
                             f"the node reports {'07' * 32}")


def test_a_block_from_an_unlicensed_proposer_is_reported(genesis, history, keys):
    blocks, state_hashes, _ = history
    header = dataclasses.replace(blocks[0].header, proposer=keys.pay_c.address)  # an observer
    chain = raw_chain(blocks, state_hashes)
    chain[0] = (Block(header, keys.pay_c.sign(header.hash), blocks[0].txs).encode(),
                state_hashes[0])
    report = verify_chain(genesis, chain)
    assert (report.bad_height, report.reason) == (1, "block 1 proposer is not a licensed validator")


def test_bytes_that_are_not_a_block_are_reported(genesis, history):
    blocks, state_hashes, _ = history
    chain = raw_chain(blocks, state_hashes)
    chain[2] = (chain[2][0][:-1], state_hashes[2])
    report = verify_chain(genesis, chain)
    assert report.bad_height == 3 and report.reason.startswith("block 3 does not decode: ")


# ---- readiness ----------------------------------------------------------------------------------

VOTERS = frozenset({"v0", "v1", "v2"})


def fake_node(role="follower", node_id="v0", leader="v1", peers=(), commit=10, applied=10):
    """The attributes /readyz reads from a node, and nothing else."""
    return SimpleNamespace(
        id=node_id, role=role,
        raft=SimpleNamespace(leader_id=leader, conf_state=SimpleNamespace(voters=VOTERS),
                             status=lambda: SimpleNamespace(commit=commit)),
        p2p=SimpleNamespace(connected_peers=lambda: sorted(peers)),
        store=SimpleNamespace(applied_index=lambda: applied))


@pytest.mark.parametrize("node, reasons", [
    (fake_node(peers=["v1"]), []),  # itself and v1: a quorum of three
    (fake_node(peers=[]), ["connected to 0 of 2 other validators; a quorum needs 1"]),
    (fake_node(peers=["v1"], leader=None), ["no known leader"]),
    (fake_node(peers=["v1", "v2"], applied=10 - MAX_APPLY_LAG - 1),
     [f"catching up: {MAX_APPLY_LAG + 1} committed entries not yet applied"]),
    (fake_node(role="observer", node_id="o0", peers=["v2"]), []),
    (fake_node(role="observer", node_id="o0", peers=["o1"]), ["not connected to any validator"]),
])
def test_readiness_needs_a_leader_a_quorum_and_a_current_state(node, reasons):
    assert not_ready_reasons(node) == reasons


# ---- against a real node -------------------------------------------------------------------------

@pytest.mark.slow
def test_records_of_a_running_devnet_verify(tmp_path):
    with running_devnet(tmp_path / "devnet", 1, free_port_range(1)) as d:
        lichen("devnet", "demo", "--dir", str(d))
        url = nodes_of(d)["node0"]["url"]
        client = Client(url, timeout=3)
        height = client.status()["height"]
        blocks = [client.block(h) for h in range(1, height + 1)]
        tx_hash, block_hash = blocks[-1]["txs"][0]["hash"], blocks[-1]["hash"]

        # a proof saved to a file verifies offline, pinned to the block hash
        proof_file = tmp_path / "proof.json"
        lichen("tx", "proof", tx_hash, "--node", url, "--out", str(proof_file))
        verified = json.loads(lichen("tx", "verify", tx_hash, "--proof-file", str(proof_file),
                                     "--header-hash", block_hash, "--json").stdout)
        assert verified["ok"] and verified["height"] == height and verified["receipt"]["code"] == ""
        proof = json.loads(proof_file.read_text())
        proof["header"]["term"] += 1
        proof_file.write_text(json.dumps(proof))
        bad = lichen("tx", "verify", tx_hash, "--proof-file", str(proof_file), check=False)
        assert bad.returncode != 0 and "BAD_PROOF" in bad.stderr

        report = json.loads(lichen("chain", "verify", "--node", url, "--json").stdout)
        assert report["ok"] and report["state_hash_matches"] and report["first_bad"] is None
        assert report["blocks_checked"] == height
        assert report["txs_executed"] == sum(b["tx_count"] for b in blocks)

        out = tmp_path / "audit.csv"
        lichen("audit", "export", "--from", "1", "--to", str(height), "--node", url, "--out",
               str(out))
        with out.open(newline="") as f:
            rows = list(csv.DictReader(f))
        expected = [(str(b["height"]), b["hash"], str(i), t["hash"], t["kind"], t["status"],
                     str(t["payload"].get("amount", "")))
                    for b in blocks for i, t in enumerate(b["txs"])]
        assert [(r["height"], r["block_hash"], r["index"], r["tx_hash"], r["kind"], r["status"],
                 r["amount"]) for r in rows] == expected

        assert client.get("/readyz")["ready"] is True
        with pytest.raises(ApiError) as unknown:
            client.proof("ab" * 32)
        assert (unknown.value.status, unknown.value.code) == (404, "NOT_FOUND")
        with pytest.raises(ApiError) as malformed:
            client.proof("not-a-hash")
        assert (malformed.value.status, malformed.value.code) == (400, "MALFORMED")
        assert Genesis.from_json(client.genesis()).chain_id.hex() == client.status()["chain_id"]
