"""Sealed frames: what travels on a peer link once the handshake has agreed its keys.

    sealed frame = ChaCha20-Poly1305-IETF(key of this direction, nonce, frame bytes, no AD)
                 = ciphertext (as long as the frame) || 16-byte Poly1305 tag
    nonce        = 4 zero bytes || the direction's frame counter, 8 bytes little-endian

Each direction has its own 32-byte key (p2p.handshake derives both) and its own counter, which
starts at 0 with the AUTH frame and goes up by one per frame. The counter is never sent: the
receiver opens frame n with nonce n, so a frame that was altered, injected, replayed, reordered,
or that follows a lost one does not open, and neither does one cut short. Any of these ends the
link for good with `ChannelBroken` (a link that was tampered with once is not trusted again);
the peer redials and runs a fresh handshake with fresh keys. Counters never wrap: past 2**64
frames the channel refuses, long before a nonce could repeat under one key.

One seal per frame and one open per frame, whatever the frame holds: gossip batches hundreds
of transactions per TXS frame, so the cost per transaction is a few nanoseconds (about 50 us
per 64 KiB frame on one core, libsodium's ChaCha20-Poly1305).

`SecureChannel` is the I/O-free half (bytes in, bytes out); `SealedTransport` is the thin
wrapper that puts it under the Transport interface for the PeerManager.
"""

from __future__ import annotations

import asyncio
from typing import NoReturn

from nacl.bindings import (
    crypto_aead_chacha20poly1305_ietf_decrypt,
    crypto_aead_chacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

from .errors import ChannelBroken, ChannelFault
from .transport import Transport

KEY_BYTES = 32
TAG_BYTES = 16
SEAL_OVERHEAD = TAG_BYTES  # a sealed frame is this much longer than the frame inside
MAX_COUNTER = 2**64 - 1
_NONCE_PREFIX = bytes(4)


def nonce(counter: int) -> bytes:
    """The 12-byte IETF nonce for frame number `counter` of one direction."""
    return _NONCE_PREFIX + counter.to_bytes(8, "little")


class _Direction:
    """One direction's key and frame counter."""

    __slots__ = ("key", "counter")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("a direction key is 32 bytes")
        self.key = key
        self.counter = 0

    def next_nonce(self) -> tuple[int, bytes]:
        if self.counter > MAX_COUNTER:
            raise ChannelBroken(ChannelFault.EXHAUSTED, "2**64 frames sent under one key")
        number = self.counter
        self.counter += 1
        return number, nonce(number)


class SecureChannel:
    """Both directions of one authenticated link. Not thread-safe; one sealer, one opener."""

    def __init__(self, *, send_key: bytes, recv_key: bytes, peer_id: bytes) -> None:
        self.peer_id = peer_id  # the node key the handshake authenticated
        self._out = _Direction(send_key)
        self._in = _Direction(recv_key)
        self._broken: ChannelBroken | None = None

    @property
    def frames_sealed(self) -> int:
        return self._out.counter

    @property
    def frames_opened(self) -> int:
        return self._in.counter

    def seal(self, frame: bytes) -> bytes:
        """The sealed wire bytes of one frame; call in the order the frames are sent."""
        _, n = self._out.next_nonce()
        return crypto_aead_chacha20poly1305_ietf_encrypt(frame, None, n, self._out.key)

    def open(self, data: bytes) -> bytes:
        """The frame inside the next sealed message, or ChannelBroken (then forever after)."""
        if self._broken is not None:
            raise self._broken
        if len(data) < TAG_BYTES:
            self._break(ChannelFault.TRUNCATED, f"frame {self._in.counter} is {len(data)} bytes, shorter than its tag")
        number, n = self._in.next_nonce()
        try:
            return crypto_aead_chacha20poly1305_ietf_decrypt(data, None, n, self._in.key)
        except CryptoError:
            self._break(
                ChannelFault.UNAUTHENTIC,
                f"frame {number} does not open: altered, forged, replayed, reordered or after a lost frame",
            )

    def _break(self, reason: ChannelFault, detail: str) -> NoReturn:
        self._broken = ChannelBroken(reason, detail)
        raise self._broken


class SealedTransport:
    """A Transport whose frames are sealed on the way out and opened on the way in.

    `recv` raises ChannelBroken when a frame fails to open; the owner closes the link.
    Concurrent senders are serialised, so frames reach the wire in the order they were sealed."""

    def __init__(self, inner: Transport, channel: SecureChannel) -> None:
        self.inner = inner
        self.channel = channel
        self._sending = asyncio.Lock()

    async def send(self, data: bytes) -> None:
        async with self._sending:
            await self.inner.send(self.channel.seal(data))

    async def recv(self) -> bytes:
        return self.channel.open(await self.inner.recv())

    async def close(self) -> None:
        await self.inner.close()

    def __repr__(self) -> str:
        return f"<SealedTransport over {self.inner!r}>"

