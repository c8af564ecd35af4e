"""The handshake protocol object, driven frame by frame with no transport."""

from __future__ import annotations

import hashlib
import logging

import pytest
from nacl.signing import SigningKey

from p2p import Auth, Frame, Handshake, HandshakeRefused, Hello, Raft, Refusal, auth_message

CHAIN = hashlib.sha256(b"chain").digest()
OTHER_CHAIN = hashlib.sha256(b"other chain").digest()
ALICE = SigningKey(hashlib.sha256(b"alice").digest())
BOB = SigningKey(hashlib.sha256(b"bob").digest())
MALLORY = SigningKey(hashlib.sha256(b"mallory").digest())
LICENSED = {bytes(ALICE.verify_key), bytes(BOB.verify_key)}


def node_id(key: SigningKey) -> bytes:
    return bytes(key.verify_key)


class Side:
    """A Handshake plus the frames it sent."""

    def __init__(self, key: SigningKey, *, chain: bytes = CHAIN, licensed: set[bytes] = LICENSED,
                 **kw):
        self.sent: list[Frame] = []
        self.hs = Handshake(
            chain_id=chain, signing_key=key, is_licensed=lambda k: k in licensed,
            send=self.sent.append, **kw
        )
        self.hs.start()

    def take(self) -> list[Frame]:
        frames = list(self.sent)
        self.sent.clear()  # in place: the Handshake holds self.sent.append
        return frames


def exchange(a: Side, b: Side) -> None:
    """Deliver frames both ways until neither side has anything more to say."""
    while a.sent or b.sent:
        for frame in a.take():
            b.hs.receive(frame)
        for frame in b.take():
            a.hs.receive(frame)


def refusal(excinfo: pytest.ExceptionInfo[HandshakeRefused]) -> Refusal:
    return excinfo.value.reason


def test_licensed_peers_on_the_same_chain_authenticate_each_other():
    alice, bob = Side(ALICE), Side(BOB)
    exchange(alice, bob)
    assert alice.hs.complete and bob.hs.complete
    assert alice.hs.peer_id == node_id(BOB)
    assert bob.hs.peer_id == node_id(ALICE)


def test_hello_carries_chain_id_node_id_and_a_fresh_challenge():
    first, second = Side(ALICE).sent[0], Side(ALICE).sent[0]
    assert isinstance(first, Hello)
    assert (first.chain_id, first.node_id) == (CHAIN, node_id(ALICE))
    assert len(first.challenge) == 32 and first.challenge != second.challenge


def test_peer_on_another_chain_is_refused():
    alice, bob = Side(ALICE), Side(BOB, chain=OTHER_CHAIN)
    with pytest.raises(HandshakeRefused) as excinfo:
        bob.hs.receive(alice.take()[0])
    assert refusal(excinfo) is Refusal.WRONG_CHAIN


def test_unlicensed_key_is_refused_before_we_sign_anything():
    alice, mallory = Side(ALICE), Side(MALLORY)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(mallory.take()[0])
    assert refusal(excinfo) is Refusal.NOT_LICENSED
    assert [type(f) for f in alice.take()] == [Hello]  # no AUTH went out to the unlicensed peer


def test_licence_is_asked_at_handshake_time():
    licensed: set[bytes] = set()  # the node's live view, changed after construction
    alice = Side(ALICE, licensed=licensed)
    licensed.add(node_id(BOB))
    bob = Side(BOB)
    exchange(alice, bob)
    assert alice.hs.complete


def test_auth_with_a_wrong_signature_is_refused():
    alice, bob = Side(ALICE), Side(BOB)
    alice.hs.receive(bob.take()[0])
    bob.hs.receive(alice.take()[0])
    (bob_auth,) = [f for f in bob.take() if isinstance(f, Auth)]
    forged = Auth(bytes([bob_auth.signature[0] ^ 1]) + bob_auth.signature[1:])
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(forged)
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE
    assert not alice.hs.complete


def test_peer_claiming_a_licensed_key_it_does_not_hold_is_refused():
    # Mallory sends Bob's node id in her HELLO but can only sign with her own key.
    alice = Side(ALICE)
    mallory = Side(MALLORY)
    hello = mallory.take()[0]
    alice.hs.receive(Hello(chain_id=CHAIN, node_id=node_id(BOB), challenge=hello.challenge))
    alice_hello = alice.take()[0]
    message = auth_message(CHAIN, alice_hello.challenge, node_id(BOB), node_id(ALICE))
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(Auth(MALLORY.sign(message).signature))
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE


def test_replayed_auth_from_an_earlier_session_is_refused():
    # Record Bob's HELLO and AUTH from a real session with Alice...
    alice, bob = Side(ALICE), Side(BOB)
    bob_hello = bob.take()[0]
    alice.hs.receive(bob_hello)
    bob.hs.receive(alice.take()[0])
    (recorded_auth,) = [f for f in bob.take() if isinstance(f, Auth)]
    alice.hs.receive(recorded_auth)
    assert alice.hs.complete  # it was genuine for that session
    # ...and replay them to a new Alice session, which has a fresh challenge.
    alice_again = Side(ALICE)
    alice_again.hs.receive(bob_hello)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice_again.hs.receive(recorded_auth)
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE


def test_auth_is_bound_to_the_chain():
    # Bob's signature over Alice's challenge, but for another chain id.
    alice = Side(ALICE)
    alice.hs.receive(Side(BOB).take()[0])
    challenge = alice.take()[0].challenge
    wrong = auth_message(OTHER_CHAIN, challenge, node_id(BOB), node_id(ALICE))
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(Auth(BOB.sign(wrong).signature))
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE


def test_connecting_to_ourselves_is_refused():
    alice = Side(ALICE)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(alice.take()[0])  # our own HELLO reflected back
    assert refusal(excinfo) is Refusal.SELF_CONNECTION


def test_dialing_one_peer_and_reaching_another_is_refused():
    alice, bob = Side(ALICE, expected_peer=node_id(MALLORY)), Side(BOB)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(bob.take()[0])
    assert refusal(excinfo) is Refusal.UNEXPECTED_PEER


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(lambda bob: [Auth(b"\0" * 64)], id="auth-before-hello"),
        pytest.param(lambda bob: [bob[0], bob[0]], id="second-hello"),
        pytest.param(lambda bob: [Raft([1])], id="raft-before-handshake"),
    ],
)
def test_frames_out_of_order_are_a_protocol_violation(frames):
    alice = Side(ALICE)
    bob_frames = Side(BOB).take()
    with pytest.raises(HandshakeRefused) as excinfo:
        for frame in frames(bob_frames):
            alice.hs.receive(frame)
    assert refusal(excinfo) is Refusal.PROTOCOL_VIOLATION


def test_refusals_are_logged_with_their_reason(caplog):
    alice, bob = Side(ALICE), Side(BOB, chain=OTHER_CHAIN)
    with caplog.at_level(logging.WARNING, logger="lichen.p2p"), pytest.raises(HandshakeRefused):
        alice.hs.receive(bob.take()[0])
    assert any(r.name == "lichen.p2p" and "WRONG_CHAIN" in r.getMessage() for r in caplog.records)


def test_peer_id_is_unavailable_until_complete():
    alice = Side(ALICE)
    alice.hs.receive(Side(BOB).take()[0])
    with pytest.raises(RuntimeError):
        _ = alice.hs.peer_id
