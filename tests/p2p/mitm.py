"""A man in the middle for peer links, on the memory network: what an attacker on the path can do.

`Relay` listens at an address and, for every connection made to it, dials the real target and
pumps wire messages both ways, recording every byte it sees. A `rule` may rewrite the traffic
of the relay's first session (later sessions are forwarded honestly, so the link can recover);
`Session.inject` sends bytes of the relay's own. `Splicer` is the strongest active attacker of
the key exchange: it runs its own ephemeral keys towards each side, and re-seals the AUTH each
side sends for the other, which it can, since it shares a key with each.

Direction names: "a->b" is from the dialer (a) to the relay's target (b), "b->a" back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from nacl.bindings import crypto_scalarmult_base

from p2p import (
    Hello,
    MemoryNetwork,
    SecureChannel,
    TransportClosed,
    decode,
    encode,
    transcript_hash,
)
from p2p.handshake import channel_keys, shared_secret
from p2p.transport import Transport

HANDSHAKE_MESSAGES = 2  # per direction: HELLO, then AUTH (in the old protocol and the new)

Rule = Callable[["Session", str, int, bytes], list[bytes]]
"""(session, direction, message number in that direction, bytes) -> what to forward instead."""


@dataclass(eq=False)
class Session:
    """One connection through the relay."""

    number: int
    to_b: Transport
    to_a: Transport
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    held: list[bytes] = field(default_factory=list)  # for rules that reorder

    async def inject(self, direction: str, data: bytes) -> None:
        await (self.to_b if direction == "a->b" else self.to_a).send(data)


class Relay:
    def __init__(self, network: MemoryNetwork, address: str, target: str) -> None:
        self.network = network
        self.address = address
        self.target = target
        self.sessions: list[Session] = []
        self.rule: Rule | None = None
        self.connected = asyncio.Event()
        network.listen(address, self._accept)

    def bytes_seen(self) -> list[bytes]:
        return [data for session in self.sessions for _, data in session.seen]

    async def _accept(self, from_a: Transport) -> None:
        to_b = await self.network.dial(self.target)
        session = Session(len(self.sessions), to_b=to_b, to_a=from_a)
        self.sessions.append(session)
        self.connected.set()
        await asyncio.gather(
            self._pump(session, "a->b", from_a, to_b),
            self._pump(session, "b->a", to_b, from_a),
        )

    async def _pump(self, session: Session, direction: str, source: Transport, sink: Transport) -> None:
        number = 0
        try:
            while True:
                data = await source.recv()
                session.seen.append((direction, data))
                if self.rule is not None and session.number == 0:
                    out = self.rule(session, direction, number, data)
                else:
                    out = [data]
                number += 1
                for message in out:
                    await sink.send(message)
        except TransportClosed:
            pass
        finally:
            await source.close()
            await sink.close()


def after_handshake(direction: str, action: Callable[[Session, int, bytes], list[bytes]]) -> Rule:
    """A rule that forwards the handshake untouched and applies `action` to the frames after it
    in one direction (numbered from 0); the other direction passes unchanged."""

    def rule(session: Session, where: str, number: int, data: bytes) -> list[bytes]:
        if where != direction or number < HANDSHAKE_MESSAGES:
            return [data]
        return action(session, number - HANDSHAKE_MESSAGES, data)

    return rule


class Splicer:
    """Rewrites each HELLO's ephemeral key to one of its own, then opens each side's AUTH with
    the key it shares with that side and re-seals it with the key it shares with the other."""

    def __init__(self, chain_id: bytes) -> None:
        self.chain_id = chain_id
        self.secrets = {"a->b": os.urandom(32), "b->a": os.urandom(32)}  # ours, per direction
        self.original: dict[str, Hello] = {}  # the HELLO each side really sent
        self.forged: dict[str, Hello] = {}  # what we forwarded in its place
        self.opened_auths: list[bytes] = []  # AUTH plaintexts we could read

    def rule(self, session: Session, direction: str, number: int, data: bytes) -> list[bytes]:
        """As a Relay rule."""
        return [self.forward(direction, number, data)]

    def forward(self, direction: str, number: int, data: bytes) -> bytes:
        """What the splicer passes on for message `number` of one direction."""
        if number == 0:
            return self._splice_hello(direction, data)
        if number == 1:
            return self._reseal_auth(direction, data)
        return data

    def _splice_hello(self, direction: str, data: bytes) -> bytes:
        hello = decode(data)
        assert isinstance(hello, Hello)
        ours = crypto_scalarmult_base(self.secrets[direction])
        self.original[direction] = hello
        self.forged[direction] = Hello(hello.chain_id, hello.node_id, ours, hello.version)
        return encode(self.forged[direction])

    def _channel_with(self, sender: str) -> SecureChannel:
        """The channel the sender of `sender`'s direction believes it has with its peer, seen
        from the peer's end, which we impersonate with the key we put in the other HELLO."""
        other = "b->a" if sender == "a->b" else "a->b"
        real, impersonated = self.original[sender], self.forged[other]
        secret = shared_secret(self.secrets[other], real.ephemeral_key)
        transcript = transcript_hash(self.chain_id, real, impersonated)
        send_key, recv_key = channel_keys(secret, transcript, impersonated, real)
        return SecureChannel(send_key=send_key, recv_key=recv_key, peer_id=real.node_id)

    def _reseal_auth(self, direction: str, data: bytes) -> bytes:
        other = "b->a" if direction == "a->b" else "a->b"
        plaintext = self._channel_with(direction).open(data)
        self.opened_auths.append(plaintext)
        return self._channel_with(other).seal(plaintext)
