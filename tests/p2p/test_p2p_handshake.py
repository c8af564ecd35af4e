"""The handshake protocol object, driven message by message with no transport."""

from __future__ import annotations

import hashlib
import logging

import pytest
from nacl.bindings import crypto_scalarmult_base
from nacl.signing import SigningKey

from p2p import (
    SEAL_OVERHEAD,
    Auth,
    ChannelBroken,
    FrameError,
    Handshake,
    HandshakeRefused,
    Hello,
    Raft,
    Refusal,
    SecureChannel,
    decode,
    encode,
)
from p2p.handshake import auth_message, channel_keys, shared_secret, transcript_hash

from .mitm import Splicer

CHAIN = hashlib.sha256(b"chain").digest()
OTHER_CHAIN = hashlib.sha256(b"other chain").digest()
ALICE = SigningKey(hashlib.sha256(b"alice").digest())
BOB = SigningKey(hashlib.sha256(b"bob").digest())
MALLORY = SigningKey(hashlib.sha256(b"mallory").digest())
LICENSED = {bytes(ALICE.verify_key), bytes(BOB.verify_key)}


def node_id(key: SigningKey) -> bytes:
    return bytes(key.verify_key)


class Side:
    """A Handshake plus the wire messages it sent."""

    def __init__(self, key: SigningKey, *, chain: bytes = CHAIN, licensed: set[bytes] = LICENSED, **kw):
        self.sent: list[bytes] = []
        self.hs = Handshake(
            chain_id=chain, signing_key=key, is_licensed=lambda k: k in licensed, send=self.sent.append, **kw
        )
        self.hs.start()

    def take(self) -> list[bytes]:
        messages = list(self.sent)
        self.sent.clear()  # in place: the Handshake holds self.sent.append
        return messages


def exchange(a: Side, b: Side) -> None:
    """Deliver messages both ways until neither side has anything more to say."""
    while a.sent or b.sent:
        for data in a.take():
            b.hs.receive(data)
        for data in b.take():
            a.hs.receive(data)


def refusal(excinfo: pytest.ExceptionInfo[HandshakeRefused]) -> Refusal:
    return excinfo.value.reason


def sealed_auth(secret: bytes, mine: Hello, theirs: Hello, signature: bytes, chain: bytes = CHAIN) -> bytes:
    """An AUTH sealed exactly as the holder of `secret` (mine's ephemeral secret) would seal it."""
    transcript = transcript_hash(chain, mine, theirs)
    send_key, recv_key = channel_keys(shared_secret(secret, theirs.ephemeral_key), transcript, mine, theirs)
    return SecureChannel(send_key=send_key, recv_key=recv_key, peer_id=theirs.node_id).seal(encode(Auth(signature)))


def hello_of(side: Side) -> Hello:
    hello = decode(side.sent[0])
    assert isinstance(hello, Hello)
    return hello


# --- the honest run -------------------------------------------------------------------------------


def test_licensed_peers_on_the_same_chain_authenticate_each_other():
    alice, bob = Side(ALICE), Side(BOB)
    exchange(alice, bob)
    assert alice.hs.complete and bob.hs.complete
    assert alice.hs.peer_id == node_id(BOB)
    assert bob.hs.peer_id == node_id(ALICE)


def test_the_two_channels_open_each_others_frames_in_both_directions():
    alice, bob = Side(ALICE), Side(BOB)
    exchange(alice, bob)
    assert bob.hs.channel.open(alice.hs.channel.seal(b"to bob")) == b"to bob"
    assert alice.hs.channel.open(bob.hs.channel.seal(b"to alice")) == b"to alice"


def test_hello_carries_chain_id_node_id_and_a_fresh_ephemeral_key():
    first, second = hello_of(Side(ALICE)), hello_of(Side(ALICE))
    assert (first.chain_id, first.node_id) == (CHAIN, node_id(ALICE))
    assert len(first.ephemeral_key) == 32 and first.ephemeral_key != second.ephemeral_key


def test_auth_travels_sealed():
    alice = Side(ALICE, ephemeral_secret=bytes(range(4, 36)))
    bob = Side(BOB, ephemeral_secret=bytes(range(5, 37)))
    alice.hs.receive(bob.take()[0])
    (auth,) = alice.take()[1:]
    with pytest.raises(FrameError):  # not a cleartext frame: ciphertext and tag
        decode(auth)
    assert len(auth) == len(encode(Auth(bytes(64)))) + SEAL_OVERHEAD


# --- refusals on HELLO ------------------------------------------------------------------------------


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
    assert len(alice.take()) == 1  # our HELLO only: no AUTH went out to the unlicensed peer


def test_licence_is_asked_at_handshake_time():
    licensed: set[bytes] = set()  # the node's live view, changed after construction
    alice = Side(ALICE, licensed=licensed)
    licensed.add(node_id(BOB))
    bob = Side(BOB)
    exchange(alice, bob)
    assert alice.hs.complete


def test_a_peer_speaking_the_plaintext_protocol_is_refused():
    alice = Side(ALICE)
    old = Hello(chain_id=CHAIN, node_id=node_id(BOB), ephemeral_key=bytes(32), version=1)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(encode(old))
    assert refusal(excinfo) is Refusal.WRONG_VERSION


def test_connecting_to_ourselves_is_refused():
    alice = Side(ALICE)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(alice.take()[0])  # our own HELLO reflected back
    assert refusal(excinfo) is Refusal.SELF_CONNECTION


def test_our_ephemeral_key_reflected_under_another_id_is_refused():
    alice = Side(ALICE)
    mine = hello_of(alice)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(encode(Hello(CHAIN, node_id(BOB), mine.ephemeral_key)))
    assert refusal(excinfo) is Refusal.BAD_KEY_EXCHANGE


@pytest.mark.parametrize(
    "point",
    [bytes(32), (1).to_bytes(32, "little"), bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")],
    ids=["zero", "one", "order-8"],
)
def test_a_low_order_ephemeral_key_is_refused(point):
    """Attack: a key whose shared secret is all zeros, i.e. known to everyone on the path."""
    alice = Side(ALICE)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(encode(Hello(CHAIN, node_id(BOB), point)))
    assert refusal(excinfo) is Refusal.BAD_KEY_EXCHANGE
    assert len(alice.take()) == 1  # no AUTH sealed under a key anyone could compute


def test_dialing_one_peer_and_reaching_another_is_refused():
    alice, bob = Side(ALICE, expected_peer=node_id(MALLORY)), Side(BOB)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(bob.take()[0])
    assert refusal(excinfo) is Refusal.UNEXPECTED_PEER


# --- refusals on AUTH --------------------------------------------------------------------------------


def test_auth_with_a_wrong_signature_is_refused():
    secret = bytes(range(32))
    alice, bob = Side(ALICE), Side(BOB, ephemeral_secret=secret)
    alice.hs.receive(bob.take()[0])
    transcript = transcript_hash(CHAIN, hello_of(alice), bob.hs.hello)
    good = BOB.sign(auth_message(transcript, node_id(BOB))).signature
    forged = bytes([good[0] ^ 1]) + good[1:]
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(sealed_auth(secret, bob.hs.hello, hello_of(alice), forged))
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE
    assert not alice.hs.complete


def test_peer_claiming_a_licensed_key_it_does_not_hold_is_refused():
    # Mallory sends Bob's node id with her own ephemeral key: she can seal, but sign only as herself.
    secret = bytes(range(1, 33))
    alice = Side(ALICE)
    claimed = Hello(CHAIN, node_id(BOB), crypto_scalarmult_base(secret))
    alice.hs.receive(encode(claimed))
    transcript = transcript_hash(CHAIN, hello_of(alice), claimed)
    signature = MALLORY.sign(auth_message(transcript, node_id(BOB))).signature
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(sealed_auth(secret, claimed, hello_of(alice), signature))
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE


def test_auth_is_bound_to_the_chain():
    # Bob's signature over this connection's keys, but for another chain id.
    secret = bytes(range(2, 34))
    alice, bob = Side(ALICE), Side(BOB, ephemeral_secret=secret)
    alice.hs.receive(bob.take()[0])
    wrong = transcript_hash(OTHER_CHAIN, hello_of(alice), bob.hs.hello)
    signature = BOB.sign(auth_message(wrong, node_id(BOB))).signature
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(sealed_auth(secret, bob.hs.hello, hello_of(alice), signature))
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE


def test_replayed_handshake_from_an_earlier_session_is_refused():
    # Record Bob's HELLO and AUTH from a real session with Alice...
    alice, bob = Side(ALICE), Side(BOB)
    bob_hello = bob.take()[0]
    alice.hs.receive(bob_hello)
    bob.hs.receive(alice.take()[0])
    (recorded_auth,) = bob.take()
    alice.hs.receive(recorded_auth)
    assert alice.hs.complete  # it was genuine for that session
    # ...and replay them to a new Alice session, which has a fresh ephemeral key.
    alice_again = Side(ALICE)
    alice_again.hs.receive(bob_hello)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice_again.hs.receive(recorded_auth)
    assert refusal(excinfo) is Refusal.BAD_SIGNATURE


def test_a_relay_that_splices_two_handshakes_fails_authentication():
    """Attack: a relay puts its own ephemeral key in each HELLO, so it shares a key with each
    side, and re-seals each AUTH for the other side. Each AUTH signs its own side's transcript,
    which names the relay's key, not the one the other side received: both refuse."""
    alice, bob = Side(ALICE), Side(BOB)
    splicer = Splicer(CHAIN)
    (alice_hello,), (bob_hello,) = alice.take(), bob.take()
    bob.hs.receive(splicer.forward("a->b", 0, alice_hello))
    alice.hs.receive(splicer.forward("b->a", 0, bob_hello))
    alice_auth = splicer.forward("a->b", 1, alice.take()[0])
    bob_auth = splicer.forward("b->a", 1, bob.take()[0])
    assert len(splicer.opened_auths) == 2  # the relay did share a key with each side...
    for side, auth in ((bob, alice_auth), (alice, bob_auth)):
        with pytest.raises(HandshakeRefused) as excinfo:
            side.hs.receive(auth)
        assert refusal(excinfo) is Refusal.BAD_SIGNATURE  # ...but no signature fits the splice
        assert not side.hs.complete


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(lambda bob: bob[0], id="second-hello"),
        pytest.param(lambda bob: encode(Auth(b"\0" * 64)), id="cleartext-auth"),
        pytest.param(lambda bob: encode(Raft([1])), id="cleartext-raft"),
    ],
)
def test_a_cleartext_frame_where_the_sealed_auth_belongs_is_a_protocol_violation(second):
    alice, bob = Side(ALICE), Side(BOB)
    bob_messages = bob.take()
    alice.hs.receive(bob_messages[0])
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(second(bob_messages))
    assert refusal(excinfo) is Refusal.PROTOCOL_VIOLATION


def test_a_sealed_frame_of_another_kind_in_place_of_auth_is_a_protocol_violation():
    secret = bytes(range(3, 35))
    alice, bob = Side(ALICE), Side(BOB, ephemeral_secret=secret)
    alice.hs.receive(bob.take()[0])
    mine, theirs = bob.hs.hello, hello_of(alice)
    transcript = transcript_hash(CHAIN, mine, theirs)
    send_key, recv_key = channel_keys(shared_secret(secret, theirs.ephemeral_key), transcript, mine, theirs)
    raft = SecureChannel(send_key=send_key, recv_key=recv_key, peer_id=theirs.node_id).seal(encode(Raft([1])))
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(raft)
    assert refusal(excinfo) is Refusal.PROTOCOL_VIOLATION


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(encode(Auth(b"\0" * 64)), id="auth-before-hello"),
        pytest.param(encode(Raft([1])), id="raft-before-handshake"),
        pytest.param(b"\xc1 not msgpack", id="garbage"),
    ],
)
def test_anything_but_hello_first_is_a_protocol_violation(first):
    alice = Side(ALICE)
    with pytest.raises(HandshakeRefused) as excinfo:
        alice.hs.receive(first)
    assert refusal(excinfo) is Refusal.PROTOCOL_VIOLATION


def test_refusals_are_logged_with_their_reason(caplog):
    alice, bob = Side(ALICE), Side(BOB, chain=OTHER_CHAIN)
    with caplog.at_level(logging.WARNING, logger="lichen.p2p"), pytest.raises(HandshakeRefused):
        alice.hs.receive(bob.take()[0])
    assert any(r.name == "lichen.p2p" and "WRONG_CHAIN" in r.getMessage() for r in caplog.records)


def test_peer_id_and_channel_are_unavailable_until_complete():
    alice = Side(ALICE)
    alice.hs.receive(Side(BOB).take()[0])
    with pytest.raises(RuntimeError):
        _ = alice.hs.peer_id
    with pytest.raises(RuntimeError):
        _ = alice.hs.channel


def test_a_broken_channel_stays_broken():
    alice, bob = Side(ALICE), Side(BOB)
    exchange(alice, bob)
    first, second = alice.hs.channel.seal(b"one"), alice.hs.channel.seal(b"two")
    with pytest.raises(ChannelBroken):
        bob.hs.channel.open(second)  # out of order
    with pytest.raises(ChannelBroken):
        bob.hs.channel.open(first)  # genuine and in order now, but the link is no longer trusted
