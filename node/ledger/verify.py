"""Verifiable records: transaction inclusion proofs and whole-chain verification.

Pure functions, no I/O: callers fetch blocks and proofs (HTTP, files) and pass them in, so an
auditor can check a node's records with nothing but this module and data the node handed out.

An inclusion proof ties a transaction hash to a block header through the header's Merkle root
(node.merkle, RFC 6962). It is only as good as the header hash it is checked against: without
a trusted header hash it proves self-consistency (the header hashes to the block hash, the
proposer signed it, the path leads to its root), not that the block is on anyone's chain.
The receipt (ok or a reason code) rides along as the node's word: receipts are covered by the
running state hash, not by a per-transaction proof.

A proof also carries the block's commit certificate (node.ledger.certificates) and the
validator set (node keys) it was counted against: with it, the block hash and its state hash
rest on a majority of that height's validators, not on the one key that proposed the block.
Pass `trusted_validators` (e.g. genesis_validators(genesis)) to pin that set; the proof's own
set is otherwise the node's word. Limitation: a set derived from genesis is right only while
no licence changed before the block's height; after a licence change, replay the chain
(verify_chain, `lichen chain verify`) to learn the set at that height.

Chain verification replays the chain from genesis: every block rule a node applies
(node.ledger.rules.check_block), then deterministic re-execution, comparing the recomputed
state hash with the one the node reports after each block.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from node.ledger import errors as E
from node.ledger.certificates import Certificate, check_certificate, check_certifies
from node.ledger.codec import sha256
from node.ledger.execution import BlockResult, execute_block
from node.ledger.genesis import Genesis
from node.ledger.merkle import merkle_proof, verify_proof
from node.ledger.rules import (
    SignatureCache,
    check_block_signature,
    expected_membership,
)
from node.ledger.sigpool import SignaturePool, warmed_ahead
from node.ledger.state import State
from node.ledger.types import Block, BlockHeader, ChainTip, Receipt

HEADER_FIELDS = ("height", "prev_hash", "tx_root", "timestamp", "proposer", "term")


# ---- inclusion proofs -----------------------------------------------------------------------

def tx_proof(block: Block, index: int, receipt: Receipt | None = None,
             certificate: Certificate | None = None,
             validators: Iterable[bytes] = ()) -> dict[str, Any]:
    """The proof that block.txs[index] is in `block`, as JSON-ready data (bytes as hex), with
    the block's commit certificate and the validators at its height when the node has them."""
    tx_hashes = [sha256(raw) for raw in block.txs]
    h = block.header
    proof: dict[str, Any] = {
        "tx_hash": tx_hashes[index].hex(),
        "tx": block.txs[index].hex(),
        "index": index,
        "tree_size": len(tx_hashes),
        "path": [p.hex() for p in merkle_proof(tx_hashes, index)],
        "header": {name: _hex(v) for name, v in zip(HEADER_FIELDS, h.to_wire(), strict=True)},
        "block_hash": block.hash.hex(),
        "signature": block.signature.hex(),
    }
    if receipt is not None:
        proof["receipt"] = {"code": receipt.code, "message": receipt.message}
    proof["certificate"] = certificate.to_json() if certificate is not None else None
    proof["validators"] = sorted(v.hex() for v in validators)
    return proof


def genesis_validators(genesis: Genesis) -> frozenset[bytes]:
    """The validators' node keys at genesis (before any licence transaction)."""
    return frozenset(bytes.fromhex(v) for v in expected_membership(State.from_genesis(genesis)).voters)


def verify_certificate(proof: Any, trusted_validators: frozenset[bytes] | None = None,
                       chain_id: bytes | None = None) -> tuple[bool, str]:
    """Check a proof's commit certificate: it is for the proof's block (and `chain_id`), and a
    majority of the validator set signed it. The set is the proof's own, which must equal
    `trusted_validators` when given. (False, reason with the reason code) on the first failure."""
    if not isinstance(proof, dict) or proof.get("certificate") is None:
        return False, "the proof carries no commit certificate"
    try:
        cert = Certificate.from_json(proof["certificate"])
        listed = proof.get("validators")
        if not isinstance(listed, list):
            raise E.BadCertificate("validators must be a list of hex node keys")
        validators = frozenset(_unhex("validator", v, 32) for v in listed)
        header = proof.get("header")
        height = header.get("height") if isinstance(header, dict) else None
        if type(height) is not int:
            raise E.BadCertificate("the proof's header has no height")
        check_certifies(cert, cert.statement.chain_id if chain_id is None else chain_id,
                        height, _unhex("block_hash", proof.get("block_hash"), 32))
        if trusted_validators is not None and validators != trusted_validators:
            raise E.CertNotAVoter("the proof's validator set is not the trusted one "
                                  f"({len(validators)} listed, {len(trusted_validators)} trusted)")
        check_certificate(cert, validators)
    except E.CertificateError as err:
        return False, f"certificate refused ({err.code}): {err.message}"
    except ValueError as exc:
        return False, f"certificate refused (BAD_CERTIFICATE): {exc}"
    s = cert.statement
    return True, (f"certified by {len(cert.signatures)} of {len(validators)} validators: "
                  f"state hash {s.state_hash.hex()} after block {s.height}")


def verify_tx_proof(proof: Any, trusted_header_hash: bytes | None = None) -> tuple[bool, str]:
    """(True, what was proven) or (False, the first check that failed), from the trust anchor
    down: header -> block hash -> trusted hash -> proposer signature -> Merkle path -> tx bytes."""
    try:
        p = _parse_proof(proof)
    except (ValueError, E.LedgerError) as exc:
        return False, f"malformed proof: {getattr(exc, 'message', exc)}"
    if p.header.hash != p.block_hash:
        return False, "the header fields do not hash to the block hash"
    if trusted_header_hash is not None and p.block_hash != trusted_header_hash:
        return False, (f"block hash {p.block_hash.hex()} is not the trusted header hash "
                       f"{trusted_header_hash.hex()}")
    try:
        check_block_signature(p.header, p.signature)
    except E.InvalidBlock:
        return False, "the proposer's signature over the header does not verify"
    if not verify_proof(p.tx_hash, p.index, p.tree_size, p.path, p.header.tx_root):
        return False, "the Merkle path does not lead from the tx hash to the header's tx_root"
    if p.tx is not None and sha256(p.tx) != p.tx_hash:
        return False, "the transaction bytes do not hash to the tx hash"
    return True, (f"tx {p.tx_hash.hex()} is in block {p.header.height} "
                  f"(index {p.index} of {p.tree_size}), block hash {p.block_hash.hex()}")


@dataclass(frozen=True)
class _Proof:
    header: BlockHeader
    block_hash: bytes
    signature: bytes
    tx_hash: bytes
    tx: bytes | None
    index: int
    tree_size: int
    path: list[bytes]


def _parse_proof(proof: Any) -> _Proof:
    """Untrusted JSON -> typed fields; ValueError / Malformed name the field that is wrong."""
    if not isinstance(proof, dict):
        raise ValueError("a proof is a JSON object")
    header = proof.get("header")
    if not isinstance(header, dict):
        raise ValueError("header must be an object")
    wire = [header.get(n) for n in HEADER_FIELDS]
    for i in (1, 2, 4):  # prev_hash, tx_root, proposer travel as hex
        wire[i] = _unhex(HEADER_FIELDS[i], wire[i])
    path = proof.get("path")
    if not isinstance(path, list):
        raise ValueError("path must be a list of hex hashes")
    return _Proof(
        header=BlockHeader.from_wire(wire),
        block_hash=_unhex("block_hash", proof.get("block_hash"), 32),
        signature=_unhex("signature", proof.get("signature"), 64),
        tx_hash=_unhex("tx_hash", proof.get("tx_hash"), 32),
        tx=None if proof.get("tx") is None else _unhex("tx", proof["tx"]),
        index=_count("index", proof.get("index")),
        tree_size=_count("tree_size", proof.get("tree_size")),
        path=[_unhex("path entry", x, 32) for x in path],
    )


def _hex(v: Any) -> Any:
    return v.hex() if isinstance(v, bytes) else v


def _unhex(name: str, v: Any, length: int | None = None) -> bytes:
    try:
        b = bytes.fromhex(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a hex string") from None
    if length is not None and len(b) != length:
        raise ValueError(f"{name} must be {length} bytes")
    return b


def _count(name: str, v: Any) -> int:
    if type(v) is not int or v < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return v


# ---- the whole chain ------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainReport:
    """What a replay from genesis found. `height`, `block_hash` and `state_hash` describe the
    last block that passed every check (height 0 is genesis)."""
    ok: bool
    blocks_checked: int
    txs_executed: int
    txs_failed: int  # receipts with a reason code: part of valid history, counted for the report
    height: int
    block_hash: bytes
    state_hash: bytes
    bad_height: int | None = None
    reason: str = ""


def verify_chain(genesis: Genesis, blocks: Iterable[tuple[bytes, bytes]],
                 state: State | None = None,
                 on_block: Callable[[BlockResult], str | None] | None = None,
                 pool: SignaturePool | None = None) -> ChainReport:
    """Replay `blocks` — (raw block, state hash the node reports after it), heights 1, 2, ... —
    on a fresh genesis state; stop at the first block that breaks a rule.

    Nodes skip committed Raft entries that are not valid blocks and never store them, so a
    stored chain is contiguous and every stored block must pass.

    With a `pool`, the blocks' signatures are checked ahead in its worker processes while the
    replay runs here; the verdicts are the same (node.ledger.sigpool)."""
    state = state if state is not None else State.from_genesis(genesis)
    tip = ChainTip(0, genesis.chain_id, genesis.genesis_time, state.genesis_hash())
    sigs = SignatureCache()  # fresh: every signature is checked again, nothing is taken on trust
    checked = executed = failed = 0
    if pool is not None:
        blocks = warmed_ahead(blocks, sigs, pool)

    def report(bad_height: int | None = None, reason: str = "") -> ChainReport:
        return ChainReport(bad_height is None, checked, executed, failed, tip.height,
                           tip.block_hash, tip.state_hash, bad_height, reason)

    for raw, reported_state_hash in blocks:
        height = tip.height + 1
        try:
            block = Block.decode(raw)
        except E.LedgerError as err:
            return report(height, f"block {height} does not decode: {err.message}")
        try:
            # execute_block checks the block first (height, hash link, time, proposer and its
            # signature, Merkle root: rules.check_block); the tests of a flipped byte, a broken
            # link and an unlicensed proposer hold it to that, so it is not run twice here.
            result = execute_block(state, block, tip, sigs)
        except E.InvalidBlock as err:
            return report(height, str(err))
        if result.state_hash != reported_state_hash:
            return report(height, state_hash_mismatch(height, result.state_hash, reported_state_hash))
        problem = on_block(result) if on_block is not None else None
        if problem:
            return report(height, problem)
        result.overlay.commit()
        tip = ChainTip(height, block.hash, block.header.timestamp, result.state_hash)
        checked += 1
        executed += len(result.receipts)
        failed += sum(1 for r in result.receipts if not r.ok)
    return report()


def certificate_problem(result: BlockResult, cert_json: Any, chain_id: bytes) -> str | None:
    """certificate_wire_problem for a certificate in its JSON form (Certificate.to_json)."""
    return _certificate_problem(result, cert_json, Certificate.from_json, chain_id)


def certificate_wire_problem(result: BlockResult, cert_wire: Any, chain_id: bytes) -> str | None:
    """A replayed block's commit certificate in wire form (Certificate.to_wire, as GET
    /v1/blocks/raw serves it; None: the node has none), checked against the block, the
    recomputed state hash and the validators that the replayed licences call for after the
    block: the answer to "which validator set at that height" without trusting the node.
    The problem, or None."""
    return _certificate_problem(result, cert_wire, Certificate.from_wire, chain_id)


def _certificate_problem(result: BlockResult, served: Any, parse: Callable[[Any], Certificate],
                         chain_id: bytes) -> str | None:
    if served is None:
        return None
    height = result.block.header.height
    try:
        cert = parse(served)
        check_certifies(cert, chain_id, height, result.block.hash)
        if cert.statement.state_hash != result.state_hash:
            raise E.BadCertificate(f"it certifies state hash {cert.statement.state_hash.hex()}, "
                                   f"re-execution gives {result.state_hash.hex()}")
        voters = expected_membership(result.overlay).voters
        check_certificate(cert, frozenset(bytes.fromhex(v) for v in voters))
    except E.CertificateError as err:
        return f"block {height}: certificate refused ({err.code}): {err.message}"
    return None


def state_hash_mismatch(height: int, recomputed: bytes, reported: bytes) -> str:
    return (f"block {height}: re-execution gives state hash {recomputed.hex()}, "
            f"the node reports {reported.hex() or 'none'}")
