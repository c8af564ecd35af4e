"""node.server.certificates: the collector turns votes into a certificate once a majority of the
height's voters signed our statement, refuses bad votes, and halts on a majority for another
statement. The vote travels as a typed peer request (node.server.peer_rpc)."""
from __future__ import annotations

import hashlib

import pytest

from node.ledger import errors as E
from node.ledger.certificates import Statement, Vote, check_certificate, encode_vote
from node.ledger.crypto import KeyPair
from node.ledger.types import ChainTip
from node.server.certificates import CertificateCollector, stored_certificate
from node.server.peer_rpc import BadPeerRequest, CastVote, decode_request, encode_request

CHAIN = b"\x01" * 32
KEYS = [KeyPair.from_seed(hashlib.sha256(f"v{i}".encode()).digest()) for i in range(3)]
VOTERS = frozenset(k.address for k in KEYS)
TIP = ChainTip(1, b"\x02" * 32, 0, b"\x03" * 32)
OURS = Statement(CHAIN, 1, TIP.block_hash, TIP.state_hash)
THEIRS = Statement(CHAIN, 1, TIP.block_hash, b"\x04" * 32)


class MemoryStore:
    """The collector's slice of node.store.db.Store."""

    def __init__(self):
        self.certs, self.why = {}, ""

    def put_certificate(self, height, wire):
        self.certs[height] = wire

    def certificate(self, height):
        return self.certs.get(height)

    def certified_height(self):
        return max(self.certs, default=0)

    def set_diverged(self, why):
        self.why = why

    def diverged(self):
        return self.why


def collector(store=None) -> CertificateCollector:
    return CertificateCollector(KEYS[0], CHAIN, store or MemoryStore(), 0, VOTERS)


def test_our_vote_and_one_peers_make_a_stored_certificate():
    store = MemoryStore()
    c = collector(store)
    own = c.executed(TIP, VOTERS)
    assert own is not None and own.verifies() and c.certified_height == 0
    c.received(Vote.sign(KEYS[1], OURS))
    assert c.certified_height == 1 and not c.diverged
    cert, voters = stored_certificate(store, 1)
    check_certificate(cert, voters)
    assert set(cert.signers) == {KEYS[0].address, KEYS[1].address}


def test_votes_that_arrive_before_we_execute_count_once_we_do():
    c = collector()
    c.received(Vote.sign(KEYS[1], OURS))
    assert c.certified_height == 0
    c.executed(TIP, VOTERS)
    assert c.certified_height == 1


def test_a_node_that_is_not_a_voter_still_collects_but_does_not_vote():
    c = CertificateCollector(KeyPair.from_seed(b"\x09" * 32), CHAIN, MemoryStore())
    assert c.executed(TIP, VOTERS) is None
    c.received(Vote.sign(KEYS[1], OURS))
    assert c.certified_height == 0
    c.received(Vote.sign(KEYS[2], OURS))
    assert c.certified_height == 1


def test_forged_foreign_chain_and_outsider_votes_are_refused_and_change_nothing():
    """Attack: a peer pushes votes it cannot sign for (forged), for another chain, or from a
    key that is not a validator, to forge a certificate or to fake a divergence."""
    c = collector()
    c.executed(TIP, VOTERS)
    forged = Vote(THEIRS, KEYS[1].address, Vote.sign(KEYS[1], OURS).signature)
    with pytest.raises(E.CertBadSignature):
        c.received(forged)
    with pytest.raises(E.BadCertificate):
        c.received(Vote.sign(KEYS[1], Statement(b"\x07" * 32, 1, TIP.block_hash, TIP.state_hash)))
    with pytest.raises(E.CertNotAVoter):
        c.received(Vote.sign(KeyPair.from_seed(b"\x08" * 32), THEIRS))
    assert c.certified_height == 0 and not c.diverged


def test_one_peer_alone_cannot_make_us_halt_but_a_majority_does():
    """Attack: a single validator signs another state hash to knock honest nodes offline; it
    takes a majority of the voters to declare us diverged."""
    store = MemoryStore()
    c = collector(store)
    c.executed(TIP, VOTERS)
    c.received(Vote.sign(KEYS[1], THEIRS))
    assert not c.diverged
    c.received(Vote.sign(KEYS[2], THEIRS))
    assert c.diverged and "state hash" in c.diverged and store.why == c.diverged
    assert c.certified_height == 0
    assert collector(store).diverged == c.diverged  # survives a restart


def test_a_vote_travels_as_a_typed_peer_request_and_a_malformed_one_is_refused():
    vote = Vote.sign(KEYS[1], OURS)
    wire = encode_request(CastVote(vote))
    assert wire == ["vote", encode_vote(vote)]
    assert decode_request(wire) == CastVote(vote)
    for bad in (["vote"], ["vote", [1, 2]], ["vote", encode_vote(vote)[:5]]):
        with pytest.raises(BadPeerRequest):
            decode_request(bad)
