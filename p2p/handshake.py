"""The peer handshake: a key exchange whose authentication is bound to this one connection.

Why: the link carries Raft messages, blocks and gossip between institutions. A handshake that
only signs a challenge proves who is at the other end *once*; anyone on the path (a proxy, a
compromised router) can relay it and then read, change or inject every later frame. So the two
sides agree fresh keys that only they can compute, sign the transcript that fixed those keys
with their node keys, and seal every later frame under them (p2p.channel). A relay then sees
only ciphertext, and any change it makes ends the link.

How (SIGMA-style, as in CometBFT's SecretConnection and Noise XX with signatures; all from
libsodium through pynacl, no new dependency). Both sides run the same steps, so there is no
client/server asymmetry:

    start():    e, E = fresh X25519 key pair;      send HELLO(chain_id, my node_id, E) in clear
    on HELLO:   check version, chain, not myself, the expected peer, licensed  (refuse early:
                an unlicensed key never gets a signature from us)
                dh = X25519(e, E_peer)                          (refuse a low-order E_peer)
                h  = SHA-256(TRANSCRIPT_DOMAIN || chain_id || id_lo || E_lo || id_hi || E_hi)
                     lo/hi: the two HELLOs ordered by ephemeral key, so both compute the same h
                k_lo->hi || k_hi->lo = HKDF-SHA256(salt=h, ikm=dh, info=KEYS_INFO, 64 bytes)
                send AUTH(ed25519_sign(node key, AUTH_DOMAIN || h || my node_id)), sealed
    on AUTH:    it must open under k_peer->me (frame 0 of that direction) and its signature
                must verify under the peer's node id over the same h   ->  complete

What it defends, and how:
- Relay / man in the middle: a relay that forwards both HELLOs unchanged cannot compute dh
  (it holds neither ephemeral secret), so it reads nothing, and every frame it alters, injects,
  replays, reorders or drops fails to open (p2p.channel). A relay that substitutes its own
  ephemeral keys (splicing two handshakes) does know both dh values, but then the two sides
  hash different transcripts, and neither side's signature verifies for the other.
- Replay of a recorded handshake: the other side's ephemeral key is fresh, so the old AUTH
  opens under no key of the new connection.
- Another network's nodes: chain_id is checked in HELLO and hashed into h.
- Key compromise later: the ephemeral secrets live only for the handshake (forward secrecy);
  a stolen node key lets its thief impersonate the node, not read recorded traffic.
- Not hidden: node ids travel in the clear (they are public in genesis anyway); this is what
  lets a node refuse an unlicensed key before it signs or derives anything.

Every refusal raises HandshakeRefused with a Refusal reason and is logged on "lichen.p2p".
Like the rest of p2p's protocol objects this does no I/O: wire bytes in through `receive`,
wire bytes out through `send`; once `complete`, `channel` seals and opens every later frame.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from typing import NoReturn, Protocol

from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base
from nacl.exceptions import CryptoError
from nacl.exceptions import RuntimeError as NaclRuntimeError
from nacl.signing import SigningKey, VerifyKey

from .channel import SecureChannel
from .errors import ChannelBroken, FrameError, HandshakeRefused, Refusal
from .frames import (
    DEFAULT_MAX_FRAME_SIZE,
    EPHEMERAL_KEY_SIZE,
    KEY_SIZE,
    PROTOCOL_VERSION,
    Auth,
    Hello,
    decode,
    encode,
)

log = logging.getLogger("lichen.p2p")

PROTOCOL_NAME = b"lichen/p2p/v2"
TRANSCRIPT_DOMAIN = PROTOCOL_NAME + b"/transcript\x00"
KEYS_INFO = PROTOCOL_NAME + b"/keys\x00"
AUTH_DOMAIN = PROTOCOL_NAME + b"/auth\x00"  # keeps this signature from meaning anything elsewhere


# --- the specification, as functions (also what a test's splicing relay computes) ----------------


def transcript_hash(chain_id: bytes, one: Hello, other: Hello) -> bytes:
    """h: what both sides sign. Fixes the chain, both node ids and both ephemeral keys; ordered
    by ephemeral key, so the two sides agree without a client/server role. All parts are
    fixed-size, so plain concatenation is unambiguous."""
    lo, hi = sorted((one, other), key=lambda hello: hello.ephemeral_key)
    return hashlib.sha256(
        TRANSCRIPT_DOMAIN + chain_id + lo.node_id + lo.ephemeral_key + hi.node_id + hi.ephemeral_key
    ).digest()


def auth_message(transcript: bytes, signer_id: bytes) -> bytes:
    """What an AUTH signs: this connection's transcript hash, and who signs it."""
    return AUTH_DOMAIN + transcript + signer_id


def shared_secret(ephemeral_secret: bytes, peer_ephemeral_key: bytes) -> bytes:
    """X25519. Raises ValueError for a low-order peer key (the result would be all zeros and
    the keys known to anyone)."""
    try:
        return crypto_scalarmult(ephemeral_secret, peer_ephemeral_key)
    except (NaclRuntimeError, CryptoError, TypeError) as exc:
        raise ValueError("the peer's ephemeral key is of low order") from exc


def hkdf_sha256(*, salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """HKDF (RFC 5869) with SHA-256."""
    prk = hmac.digest(salt, ikm, "sha256")
    out, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
    return out[:length]


def channel_keys(secret: bytes, transcript: bytes, mine: Hello, theirs: Hello) -> tuple[bytes, bytes]:
    """(our sending key, our receiving key): one key per direction, from dh and h."""
    okm = hkdf_sha256(salt=transcript, ikm=secret, info=KEYS_INFO, length=64)
    lo_to_hi, hi_to_lo = okm[:32], okm[32:]
    return (lo_to_hi, hi_to_lo) if mine.ephemeral_key < theirs.ephemeral_key else (hi_to_lo, lo_to_hi)


# --- who signs ------------------------------------------------------------------------------------


class Signer(Protocol):
    """The node key as the handshake needs it: its public key, and ed25519 signatures by it.
    node.ledger.crypto.KeyPair is one; an external signer (an HSM, a remote signing service) can
    be another, and then the seed never enters this process. (Structurally the same protocol as
    node.ledger.crypto.Signer: p2p does not import node.)"""

    @property
    def address(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class SeedSigner:
    """A Signer from a raw ed25519 seed held in memory (tests, and callers that have only a
    seed)."""

    __slots__ = ("_key", "address")

    def __init__(self, seed: bytes) -> None:
        self._key = SigningKey(seed)
        self.address = bytes(self._key.verify_key)

    def __repr__(self) -> str:
        return f"SeedSigner({self.address.hex()[:16]}...)"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature


def as_signer(key: Signer | SigningKey) -> Signer:
    """A nacl SigningKey (what the handshake used to take) as a Signer."""
    return SeedSigner(bytes(key)) if isinstance(key, SigningKey) else key


# --- the protocol object -------------------------------------------------------------------------


class Handshake:
    """One side of one handshake. Single use: make a new one for every connection."""

    def __init__(
        self,
        *,
        chain_id: bytes,
        signing_key: Signer | SigningKey,
        is_licensed: Callable[[bytes], bool],
        send: Callable[[bytes], None],
        expected_peer: bytes | None = None,
        ephemeral_secret: bytes | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        """
        chain_id: our network's id; a peer on another chain is refused.
        signing_key: our node key, as a Signer (a nacl SigningKey is taken too); the AUTH is
            its one signature per connection.
        is_licensed: the node's current licence check for a peer key, asked once per handshake.
        send: where our outgoing wire messages go (HELLO in clear, then AUTH sealed).
        expected_peer: when we dialed a known peer, the node id that must answer.
        ephemeral_secret: only for tests; normally 32 fresh random bytes (an X25519 secret).
        """
        if len(chain_id) != KEY_SIZE:
            raise ValueError("chain_id must be 32 bytes")
        self._chain_id = chain_id
        self._key = as_signer(signing_key)
        self._node_id = self._key.address
        self._is_licensed = is_licensed
        self._send = send
        self._expected_peer = expected_peer
        self._max_frame_size = max_frame_size
        self._ephemeral_secret: bytes | None = ephemeral_secret or os.urandom(EPHEMERAL_KEY_SIZE)
        self._hello = Hello(
            chain_id=chain_id, node_id=self._node_id, ephemeral_key=crypto_scalarmult_base(self._ephemeral_secret)
        )
        self._started = False
        self._peer_hello: Hello | None = None
        self._transcript = b""
        self._channel: SecureChannel | None = None
        self._complete = False

    @property
    def hello(self) -> Hello:
        """The HELLO this side sends."""
        return self._hello

    @property
    def complete(self) -> bool:
        """True once the peer has proven it holds a licensed key on our chain, on this channel."""
        return self._complete

    @property
    def peer_id(self) -> bytes:
        """The authenticated peer's node id; only meaningful once `complete`."""
        return self.channel.peer_id

    @property
    def channel(self) -> SecureChannel:
        """Seals and opens every frame after the handshake; only once `complete`."""
        if not self._complete or self._channel is None:
            raise RuntimeError("handshake not complete")
        return self._channel

    def start(self) -> None:
        """Send our HELLO. Call exactly once, before feeding any message."""
        if self._started:
            raise RuntimeError("handshake already started")
        self._started = True
        self._send(encode(self._hello))

    def receive(self, data: bytes) -> None:
        """Feed one wire message from the peer; raises HandshakeRefused on any broken rule."""
        if not self._started:
            raise RuntimeError("call start() before receive()")
        if self._complete:
            raise RuntimeError("handshake complete: later frames belong to the channel")
        if self._peer_hello is None:
            self._on_hello(self._cleartext_hello(data))
        else:
            self._on_auth(data)

    # --- rules, in the order they are checked ---------------------------------------------------

    def _cleartext_hello(self, data: bytes) -> Hello:
        try:
            frame = decode(data, max_size=self._max_frame_size)
        except FrameError as exc:
            self._refuse(Refusal.PROTOCOL_VIOLATION, f"bad frame during handshake: {exc}")
        if not isinstance(frame, Hello):
            self._refuse(Refusal.PROTOCOL_VIOLATION, f"{type(frame).__name__} before HELLO")
        return frame

    def _on_hello(self, hello: Hello) -> None:
        self._check_version(hello)
        self._check_chain(hello)
        self._check_not_self(hello)
        self._check_expected_peer(hello)
        self._check_licensed(hello)
        secret = self._exchange(hello)
        self._peer_hello = hello
        self._transcript = transcript_hash(self._chain_id, self._hello, hello)
        send_key, recv_key = channel_keys(secret, self._transcript, self._hello, hello)
        self._channel = SecureChannel(send_key=send_key, recv_key=recv_key, peer_id=hello.node_id)
        signature = self._key.sign(auth_message(self._transcript, self._node_id))
        self._send(self._channel.seal(encode(Auth(signature))))

    def _on_auth(self, data: bytes) -> None:
        assert self._channel is not None and self._peer_hello is not None
        peer = self._peer_hello.node_id
        try:
            plaintext = self._channel.open(data)
        except ChannelBroken:
            self._not_sealed_for_us(data, peer)
        try:
            frame = decode(plaintext, max_size=self._max_frame_size)
        except FrameError as exc:
            self._refuse(Refusal.PROTOCOL_VIOLATION, f"bad AUTH from {peer.hex()}: {exc}")
        if not isinstance(frame, Auth):
            self._refuse(Refusal.PROTOCOL_VIOLATION, f"{type(frame).__name__} where AUTH belongs")
        self._check_signature(peer, frame)
        self._complete = True

    def _check_version(self, hello: Hello) -> None:
        if hello.version != PROTOCOL_VERSION:
            self._refuse(Refusal.WRONG_VERSION, f"peer speaks v{hello.version}, we speak v{PROTOCOL_VERSION}")

    def _check_chain(self, hello: Hello) -> None:
        if hello.chain_id != self._chain_id:
            peer, chain = hello.node_id.hex(), hello.chain_id.hex()
            self._refuse(Refusal.WRONG_CHAIN, f"peer {peer} is on chain {chain}")

    def _check_not_self(self, hello: Hello) -> None:
        if hello.node_id == self._node_id:
            self._refuse(Refusal.SELF_CONNECTION, "peer has our own node id")

    def _check_expected_peer(self, hello: Hello) -> None:
        if self._expected_peer is not None and hello.node_id != self._expected_peer:
            self._refuse(
                Refusal.UNEXPECTED_PEER,
                f"dialed {self._expected_peer.hex()} but {hello.node_id.hex()} answered",
            )

    def _check_licensed(self, hello: Hello) -> None:
        if not self._is_licensed(hello.node_id):
            self._refuse(Refusal.NOT_LICENSED, f"node key {hello.node_id.hex()} is not licensed")

    def _exchange(self, hello: Hello) -> bytes:
        """dh with the peer's ephemeral key; our ephemeral secret is forgotten afterwards."""
        if hello.ephemeral_key == self._hello.ephemeral_key:
            self._refuse(Refusal.BAD_KEY_EXCHANGE, "our own ephemeral key came back")
        secret, self._ephemeral_secret = self._ephemeral_secret, None
        assert secret is not None
        try:
            return shared_secret(secret, hello.ephemeral_key)
        except ValueError as exc:
            self._refuse(Refusal.BAD_KEY_EXCHANGE, f"from {hello.node_id.hex()}: {exc}")

    def _not_sealed_for_us(self, data: bytes, peer: bytes) -> NoReturn:
        """The AUTH slot holds something that does not open under this channel's keys."""
        try:
            frame = decode(data, max_size=self._max_frame_size)
        except FrameError:
            self._refuse(Refusal.BAD_SIGNATURE, f"AUTH from {peer.hex()} does not open under this channel's keys")
        self._refuse(Refusal.PROTOCOL_VIOLATION, f"cleartext {type(frame).__name__} where a sealed AUTH belongs")

    def _check_signature(self, peer: bytes, auth: Auth) -> None:
        try:
            VerifyKey(peer).verify(auth_message(self._transcript, peer), auth.signature)
        except (CryptoError, ValueError, TypeError):
            self._refuse(Refusal.BAD_SIGNATURE, f"AUTH from {peer.hex()} does not sign this connection's transcript")

    def _refuse(self, reason: Refusal, detail: str) -> NoReturn:
        log.warning("handshake refused: %s (%s)", reason.value, detail,
                    extra={"event": "peer_refused",
                           "fields": {"what": "handshake", "reason": reason.value,
                                      "detail": detail[:200]}})
        raise HandshakeRefused(reason, detail)
