"""Every error the p2p layer raises, in one place, so callers and tests can name the exact type."""

from __future__ import annotations

from enum import StrEnum


def clip(text: object, limit: int = 64) -> str:
    """A peer-supplied string as it may appear in a log line: printable, on one line, short."""
    shown = repr(str(text))[1:-1]  # escapes newlines and control characters
    return shown if len(shown) <= limit else f"{shown[:limit]}...({len(shown)} chars)"


class P2PError(Exception):
    """Base of all p2p errors."""


class FrameError(P2PError, ValueError):
    """Bytes from the wire are not a well-formed frame (or a frame cannot be encoded)."""


class FrameTooLarge(FrameError):
    """A frame exceeds the configured size limit."""


class Refusal(StrEnum):
    """Why a handshake was refused. Stable upper-case codes, as in DESIGN.md section 3."""

    WRONG_CHAIN = "WRONG_CHAIN"  # the peer belongs to another network (different genesis)
    WRONG_VERSION = "WRONG_VERSION"  # the peer speaks another p2p protocol version
    NOT_LICENSED = "NOT_LICENSED"  # the peer's node key is not in the licensed set
    BAD_SIGNATURE = "BAD_SIGNATURE"  # AUTH does not prove the key over *this* channel: it does
    #                                  not open under the channel's keys, or its signature over
    #                                  the transcript (both ephemeral keys) does not verify
    BAD_KEY_EXCHANGE = "BAD_KEY_EXCHANGE"  # the peer's ephemeral key is unusable (low order,
    #                                        or our own reflected back)
    SELF_CONNECTION = "SELF_CONNECTION"  # we reached ourselves (own address in the peer table)
    UNEXPECTED_PEER = "UNEXPECTED_PEER"  # we dialed one node id and another one answered
    PROTOCOL_VIOLATION = "PROTOCOL_VIOLATION"  # frames out of order or of the wrong kind
    TIMEOUT = "TIMEOUT"  # the handshake did not finish in time


class Misbehaviour(StrEnum):
    """Why an authenticated peer was disconnected and backed off (the label of
    lichen_peer_misbehaving_disconnected): a bounded set of codes, never peer-supplied text."""

    TOO_MANY_TXS_IN_FRAME = "TOO_MANY_TXS_IN_FRAME"  # a TXS frame over max_txs_per_frame


class HandshakeRefused(P2PError):
    """The peer failed the handshake; `reason` says which rule it broke."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ChannelFault(StrEnum):
    """Why an established peer link was broken. Sealed frames carry no sequence number: each
    side counts, so every kind of tampering on the path shows up as a frame that does not open."""

    TRUNCATED = "TRUNCATED"  # shorter than an authentication tag: cut off on the way
    UNAUTHENTIC = "UNAUTHENTIC"  # does not open: altered, injected, replayed, reordered, or a
    #                              frame before it was lost
    EXHAUSTED = "EXHAUSTED"  # 2**64 frames in one direction: the nonce would repeat


class ChannelBroken(P2PError):
    """A sealed frame failed to open; the link can never be trusted again and is closed."""

    def __init__(self, reason: ChannelFault, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class TransportClosed(P2PError, ConnectionError):
    """The connection is gone; no more frames can be sent or received on it."""


class DialFailed(P2PError, ConnectionError):
    """A peer address could not be reached."""


class FaultFilterDisabled(P2PError, RuntimeError):
    """Fault injection was requested on a node not started in devnet mode."""


class RequestFailed(P2PError):
    """A REQUEST got no usable RESPONSE: peer not connected, disconnected, timed out, or errored."""
