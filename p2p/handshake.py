"""The peer handshake, as a protocol object: frames in through `receive`, frames out through `send`.

Both sides run the same steps, so there is no client/server asymmetry:

    start():        send HELLO(chain_id, my node_id, my fresh challenge)
    on HELLO:       check chain, version, not myself, the expected peer, licensed;
                    then send AUTH = sign(auth_message(chain_id, *their* challenge, me, them))
    on AUTH:        verify it against *my* challenge and their key  ->  complete

Because every AUTH signs the verifier's fresh challenge and both ids, an AUTH recorded from an
earlier session (or another pair of nodes, or another chain) never verifies again.
Every refusal raises HandshakeRefused with a Refusal reason and is logged on "lichen.p2p".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import NoReturn

from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey

from .errors import HandshakeRefused, Refusal
from .frames import CHALLENGE_SIZE, KEY_SIZE, PROTOCOL_VERSION, Auth, Frame, Hello

log = logging.getLogger("lichen.p2p")

AUTH_DOMAIN = b"lichen/p2p/auth/v1\x00"  # keeps this signature from meaning anything elsewhere


def auth_message(chain_id: bytes, challenge: bytes, signer_id: bytes, verifier_id: bytes) -> bytes:
    """What an AUTH signs. All parts are fixed-size, so plain concatenation is unambiguous."""
    return AUTH_DOMAIN + chain_id + challenge + signer_id + verifier_id


class Handshake:
    """One side of one handshake. Single use: make a new one for every connection."""

    def __init__(
        self,
        *,
        chain_id: bytes,
        signing_key: SigningKey,
        is_licensed: Callable[[bytes], bool],
        send: Callable[[Frame], None],
        expected_peer: bytes | None = None,
        challenge: bytes | None = None,
    ) -> None:
        """
        chain_id: our network's id; a peer on another chain is refused.
        is_licensed: the node's current licence check for a peer key, asked once per handshake.
        send: where outgoing HELLO/AUTH frames go (the owner encodes and writes them).
        expected_peer: when we dialed a known peer, the node id that must answer.
        challenge: only for tests; normally 32 fresh random bytes.
        """
        if len(chain_id) != KEY_SIZE:
            raise ValueError("chain_id must be 32 bytes")
        self._chain_id = chain_id
        self._key = signing_key
        self._node_id = bytes(signing_key.verify_key)
        self._is_licensed = is_licensed
        self._send = send
        self._expected_peer = expected_peer
        self._challenge = challenge if challenge is not None else os.urandom(CHALLENGE_SIZE)
        self._started = False
        self._peer_hello: Hello | None = None
        self._complete = False

    @property
    def complete(self) -> bool:
        """True once the peer has proven it holds a licensed key on our chain."""
        return self._complete

    @property
    def peer_id(self) -> bytes:
        """The authenticated peer's node id; only meaningful once `complete`."""
        if not self._complete or self._peer_hello is None:
            raise RuntimeError("handshake not complete")
        return self._peer_hello.node_id

    def start(self) -> None:
        """Send our HELLO. Call exactly once, before feeding any frame."""
        if self._started:
            raise RuntimeError("handshake already started")
        self._started = True
        self._send(Hello(chain_id=self._chain_id, node_id=self._node_id, challenge=self._challenge))

    def receive(self, frame: Frame) -> None:
        """Feed one decoded frame from the peer; raises HandshakeRefused on any broken rule."""
        if not self._started:
            raise RuntimeError("call start() before receive()")
        match frame:
            case Hello():
                self._on_hello(frame)
            case Auth():
                self._on_auth(frame)
            case _:
                self._refuse(Refusal.PROTOCOL_VIOLATION, f"{type(frame).__name__} before handshake end")

    # --- rules, in the order they are checked ---------------------------------------------------

    def _on_hello(self, hello: Hello) -> None:
        if self._peer_hello is not None:
            self._refuse(Refusal.PROTOCOL_VIOLATION, "second HELLO")
        self._check_version(hello)
        self._check_chain(hello)
        self._check_not_self(hello)
        self._check_expected_peer(hello)
        self._check_licensed(hello)
        self._peer_hello = hello
        message = auth_message(self._chain_id, hello.challenge, self._node_id, hello.node_id)
        self._send(Auth(signature=self._key.sign(message).signature))

    def _on_auth(self, auth: Auth) -> None:
        if self._peer_hello is None:
            self._refuse(Refusal.PROTOCOL_VIOLATION, "AUTH before HELLO")
        if self._complete:
            self._refuse(Refusal.PROTOCOL_VIOLATION, "second AUTH")
        self._check_signature(self._peer_hello, auth)
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

    def _check_signature(self, hello: Hello, auth: Auth) -> None:
        message = auth_message(self._chain_id, self._challenge, hello.node_id, self._node_id)
        try:
            VerifyKey(hello.node_id).verify(message, auth.signature)
        except (CryptoError, ValueError, TypeError):
            self._refuse(Refusal.BAD_SIGNATURE, f"AUTH from {hello.node_id.hex()} does not verify")

    def _refuse(self, reason: Refusal, detail: str) -> NoReturn:
        log.warning("handshake refused: %s (%s)", reason.value, detail)
        raise HandshakeRefused(reason, detail)
