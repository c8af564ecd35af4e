"""Commit certificates (node.ledger.certificates): what check_certificate accepts and refuses."""
from __future__ import annotations

import hashlib

import pytest

from node.ledger import errors as E
from node.ledger.certificates import (
    Certificate,
    Statement,
    Vote,
    check_certificate,
    check_certifies,
    decode_vote,
    encode_vote,
)
from node.ledger.crypto import KeyPair


def key(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(name.encode()).digest())


CHAIN = b"\x01" * 32
STATEMENT = Statement(CHAIN, 7, b"\x02" * 32, b"\x03" * 32)
VALIDATORS = [key(f"v{i}") for i in range(3)]
VOTERS = [k.address for k in VALIDATORS]


def cert_of(*keys: KeyPair, statement: Statement = STATEMENT) -> Certificate:
    return Certificate.of(statement, [Vote.sign(k, statement) for k in keys])


def test_a_majority_of_voters_certifies():
    check_certificate(cert_of(*VALIDATORS[:2]), VOTERS)
    check_certificate(cert_of(*VALIDATORS), VOTERS)


def test_a_forged_signature_is_refused():
    """Attack: a node (or a proof's forger) claims a validator signed a state hash it never
    signed, by copying its signature from another statement."""
    other = Statement(CHAIN, 7, b"\x02" * 32, b"\x04" * 32)
    forged_sig = Vote.sign(VALIDATORS[1], other).signature
    cert = Certificate(STATEMENT, tuple(sorted(
        [(VOTERS[0], Vote.sign(VALIDATORS[0], STATEMENT).signature), (VOTERS[1], forged_sig)])))
    with pytest.raises(E.CertBadSignature):
        check_certificate(cert, VOTERS)


def test_a_signer_that_is_not_a_voter_is_refused():
    """Attack: an outsider key (e.g. a revoked validator, or any key) pads the quorum."""
    with pytest.raises(E.CertNotAVoter):
        check_certificate(cert_of(VALIDATORS[0], key("outsider")), VOTERS)


def test_a_duplicated_signer_is_refused():
    """Attack: one validator's valid signature counted twice to fake a majority."""
    vote = Vote.sign(VALIDATORS[0], STATEMENT)
    cert = Certificate(STATEMENT, ((vote.signer, vote.signature),) * 2)
    with pytest.raises(E.CertDuplicateSigner):
        check_certificate(cert, VOTERS)


def test_a_sub_quorum_certificate_is_refused():
    """Attack: a single validator (one key) vouches for a block alone."""
    with pytest.raises(E.SubQuorum):
        check_certificate(cert_of(VALIDATORS[0]), VOTERS)
    with pytest.raises(E.SubQuorum):  # four voters: two is not more than half
        check_certificate(cert_of(*VALIDATORS[:2]), [*VOTERS, key("v3").address])


def test_the_signature_is_bound_to_every_statement_field():
    sig = Vote.sign(VALIDATORS[0], STATEMENT).signature
    for changed in (Statement(b"\x09" * 32, 7, b"\x02" * 32, b"\x03" * 32),
                    Statement(CHAIN, 8, b"\x02" * 32, b"\x03" * 32),
                    Statement(CHAIN, 7, b"\x09" * 32, b"\x03" * 32)):
        assert not Vote(changed, VOTERS[0], sig).verifies()


def test_wire_and_json_forms_round_trip_and_bad_ones_are_typed():
    cert = cert_of(*VALIDATORS)
    assert Certificate.from_wire(cert.to_wire()) == cert
    assert Certificate.from_json(cert.to_json()) == cert
    vote = Vote.sign(VALIDATORS[0], STATEMENT)
    assert decode_vote(encode_vote(vote)) == vote
    for bad in ([], [CHAIN, 0, b"", b"", []], "x", [CHAIN, 7, b"\x02" * 32, b"\x03" * 32, [[1]]]):
        with pytest.raises(E.BadCertificate):
            Certificate.from_wire(bad)
    with pytest.raises(E.BadCertificate):
        Certificate.from_json({"signatures": [{"signer": "zz"}]})


def test_a_certificate_for_another_block_does_not_certify_this_one():
    cert = cert_of(*VALIDATORS)
    check_certifies(cert, CHAIN, 7, b"\x02" * 32)
    with pytest.raises(E.BadCertificate):
        check_certifies(cert, CHAIN, 7, b"\x05" * 32)
