"""Commit certificates: a majority of a height's validators agree on what the block did.

After executing block h, each validator signs one statement (one signature per block, not per
transaction):

    DOMAIN || msgpack([chain_id, height, block_hash, state_hash])

The domain tag keeps these signatures apart from transaction and block signatures made with
the same node key. A certificate is the statement plus the (signer, signature) pairs gathered
for it, signers sorted. It proves agreement when `check_certificate` passes against the
validators (Raft voters, node keys) that the licences in the state after block h call for
(node.ledger.rules.expected_membership): every signature verifies, every signer is one of those
voters, no signer twice, and more than half of the voters signed.

Pure: no I/O, no clock.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from node.ledger import errors as E
from node.ledger.codec import pack
from node.ledger.crypto import ADDRESS_LEN, SIGNATURE_LEN, Signer, verify

DOMAIN = b"lichen/commit-certificate/v1\x00"
HASH_LEN = 32


@dataclass(frozen=True, slots=True)
class Statement:
    """What a validator vouches for: after block `height` (hash `block_hash`) the running state
    hash is `state_hash`, on chain `chain_id`."""
    chain_id: bytes
    height: int
    block_hash: bytes
    state_hash: bytes

    def signing_bytes(self) -> bytes:
        return DOMAIN + pack([self.chain_id, self.height, self.block_hash, self.state_hash])


@dataclass(frozen=True, slots=True)
class Vote:
    """One validator's signature over a statement."""
    statement: Statement
    signer: bytes  # node key (32 bytes)
    signature: bytes  # 64 bytes

    @classmethod
    def sign(cls, key: Signer, statement: Statement) -> Vote:
        return cls(statement, key.address, key.sign(statement.signing_bytes()))

    def verifies(self) -> bool:
        return verify(self.signer, self.statement.signing_bytes(), self.signature)


@dataclass(frozen=True, slots=True)
class Certificate:
    """A statement and the signatures gathered for it, sorted by signer."""
    statement: Statement
    signatures: tuple[tuple[bytes, bytes], ...]  # (signer, signature)

    @classmethod
    def of(cls, statement: Statement, votes: Iterable[Vote]) -> Certificate:
        return cls(statement, tuple(sorted((v.signer, v.signature) for v in votes)))

    @property
    def signers(self) -> tuple[bytes, ...]:
        return tuple(s for s, _ in self.signatures)

    # storage form (msgpack) and JSON form (hex), both exact
    def to_wire(self) -> list[Any]:
        s = self.statement
        return [s.chain_id, s.height, s.block_hash, s.state_hash,
                [[signer, sig] for signer, sig in self.signatures]]

    @classmethod
    def from_wire(cls, w: Any) -> Certificate:
        if type(w) is not list or len(w) != 5 or type(w[4]) is not list:
            raise E.BadCertificate("a certificate is [chain_id, height, block_hash, state_hash, sigs]")
        statement = _statement(w[0], w[1], w[2], w[3])
        sigs = []
        for pair in w[4]:
            if type(pair) is not list or len(pair) != 2:
                raise E.BadCertificate("a signature entry is [signer, signature]")
            sigs.append((_bytes("signer", pair[0], ADDRESS_LEN),
                         _bytes("signature", pair[1], SIGNATURE_LEN)))
        return cls(statement, tuple(sigs))

    def to_json(self) -> dict[str, Any]:
        s = self.statement
        return {"chain_id": s.chain_id.hex(), "height": s.height,
                "block_hash": s.block_hash.hex(), "state_hash": s.state_hash.hex(),
                "signatures": [{"signer": signer.hex(), "signature": sig.hex()}
                               for signer, sig in self.signatures]}

    @classmethod
    def from_json(cls, j: Any) -> Certificate:
        if not isinstance(j, dict) or not isinstance(j.get("signatures"), list):
            raise E.BadCertificate("a certificate is an object with a signatures list")
        try:
            sigs = [[bytes.fromhex(e["signer"]), bytes.fromhex(e["signature"])]
                    for e in j["signatures"]]
            head = [bytes.fromhex(j["chain_id"]), j["height"], bytes.fromhex(j["block_hash"]),
                    bytes.fromhex(j["state_hash"])]
        except (KeyError, TypeError, ValueError):
            raise E.BadCertificate("certificate fields must be hex strings and a height") from None
        return cls.from_wire([*head, sigs])


def quorum(voters: int) -> int:
    """More than half of the voters."""
    return voters // 2 + 1


def check_certificate(cert: Certificate, voters: Iterable[bytes]) -> None:
    """Raise the CertificateError that says why `cert` does not prove that a majority of
    `voters` (the validators' node keys at the statement's height) signed its statement."""
    electorate = frozenset(voters)
    seen: set[bytes] = set()
    message = cert.statement.signing_bytes()
    for signer, sig in cert.signatures:
        if signer in seen:
            raise E.CertDuplicateSigner(f"validator {signer.hex()} signed twice")
        seen.add(signer)
        if signer not in electorate:
            raise E.CertNotAVoter(f"{signer.hex()} is not a validator at height "
                                  f"{cert.statement.height}")
        if not verify(signer, message, sig):
            raise E.CertBadSignature(f"the signature of {signer.hex()} does not verify")
    need = quorum(len(electorate))
    if len(seen) < need:
        raise E.SubQuorum(f"{len(seen)} of {len(electorate)} validators signed; "
                          f"a majority needs {need}")


def check_certifies(cert: Certificate, chain_id: bytes, height: int, block_hash: bytes) -> None:
    """The certificate is about this block of this chain (its state hash is what it adds)."""
    s = cert.statement
    if (s.chain_id, s.height, s.block_hash) != (chain_id, height, block_hash):
        raise E.BadCertificate(f"the certificate is for block {s.height} {s.block_hash.hex()} "
                               f"of chain {s.chain_id.hex()[:16]}, not block {height} "
                               f"{block_hash.hex()}")


def _statement(chain_id: Any, height: Any, block_hash: Any, state_hash: Any) -> Statement:
    if type(height) is not int or height < 1 or height >= 2**64:
        raise E.BadCertificate("height must be a positive integer")
    return Statement(_bytes("chain_id", chain_id, HASH_LEN), height,
                     _bytes("block_hash", block_hash, HASH_LEN),
                     _bytes("state_hash", state_hash, HASH_LEN))


def _bytes(name: str, v: Any, length: int) -> bytes:
    if type(v) is not bytes or len(v) != length:
        raise E.BadCertificate(f"{name} must be {length} bytes")
    return v


def decode_vote(w: Any) -> Vote:
    """[chain_id, height, block_hash, state_hash, signer, signature] -> Vote (unverified)."""
    if type(w) is not list or len(w) != 6:
        raise E.BadCertificate("a vote is [chain_id, height, block_hash, state_hash, signer, sig]")
    return Vote(_statement(*w[:4]), _bytes("signer", w[4], ADDRESS_LEN),
                _bytes("signature", w[5], SIGNATURE_LEN))


def encode_vote(v: Vote) -> list[Any]:
    s = v.statement
    return [s.chain_id, s.height, s.block_hash, s.state_hash, v.signer, v.signature]
