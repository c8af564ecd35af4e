"""Wire frames: msgpack arrays `[type:int, ...fields]`, one per websocket message.

| type | kind     | fields after the type                                           |
|------|----------|-----------------------------------------------------------------|
| 1    | HELLO    | version:int, chain_id:bin32, node_id:bin32, ephemeral_key:bin32 |
| 2    | AUTH     | signature:bin64                                                 |
| 3    | RAFT     | payload:array (opaque to p2p; the consensus layer's message)    |
| 4    | TXS      | txs:array of bin (raw signed transactions, at least one)        |
| 5    | REQUEST  | request_id:uint64, payload:any plain msgpack value              |
| 6    | RESPONSE | request_id:uint64, error:str|nil, payload:any plain value       |

HELLO is the only frame that travels in the clear. Every other frame, AUTH included, is sealed
(p2p.channel: ChaCha20-Poly1305 under the keys the two HELLOs agreed), so on the wire a
websocket message after a HELLO is `ciphertext || 16-byte tag` of one of these encodings.

Decoding treats its input as hostile: a size limit checked before parsing, no extension types
(nor msgpack timestamps), exact arity and field types, and opaque payloads limited to plain
values (nil, bool, int, float, str, bin, array, map) nested at most MAX_PAYLOAD_DEPTH deep.
Anything else raises FrameError; nothing else escapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

from .errors import FrameError, FrameTooLarge

DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
MAX_PAYLOAD_DEPTH = 32  # deep enough for any real message, shallow enough to walk safely
PROTOCOL_VERSION = 2  # 2: X25519 key exchange and sealed frames (1 was plaintext)
KEY_SIZE = 32
EPHEMERAL_KEY_SIZE = 32  # an X25519 public key
SIGNATURE_SIZE = 64
MAX_REQUEST_ID = 2**64 - 1


class FrameType(IntEnum):
    HELLO = 1
    AUTH = 2
    RAFT = 3
    TXS = 4
    REQUEST = 5
    RESPONSE = 6


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame each side sends, in the clear: who I am, which network, and my half of a
    fresh key exchange (see p2p.handshake)."""

    chain_id: bytes  # sha256 of the shared genesis file
    node_id: bytes  # the sender's ed25519 public key
    ephemeral_key: bytes  # a fresh X25519 public key, used for this connection only
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Auth:
    """Proof of the node key: a signature over this connection's transcript, sent sealed
    (see handshake.auth_message)."""

    signature: bytes


@dataclass(frozen=True, slots=True)
class Raft:
    """A consensus message, carried verbatim; p2p never looks inside."""

    payload: list[Any]


@dataclass(frozen=True, slots=True)
class Txs:
    """A batch of raw signed transactions for gossip; the bytes are passed through untouched."""

    txs: list[bytes]


@dataclass(frozen=True, slots=True)
class Request:
    """Ask a peer for something (block fetch); answered by a Response with the same id."""

    request_id: int
    payload: Any


@dataclass(frozen=True, slots=True)
class Response:
    """Answer to a Request: `error` is None on success, else a short reason and payload is None."""

    request_id: int
    error: str | None
    payload: Any


Frame = Hello | Auth | Raft | Txs | Request | Response


# --- encoding ----------------------------------------------------------------------------------


def encode(frame: Frame, *, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """The wire bytes of `frame`; raises FrameTooLarge past `max_size`, FrameError if unencodable."""
    try:
        data = msgpack.packb(_to_wire(frame), use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FrameError(f"cannot encode {type(frame).__name__}: {exc}") from exc
    if len(data) > max_size:
        raise FrameTooLarge(f"{type(frame).__name__} frame of {len(data)} bytes exceeds {max_size}")
    return data


def _to_wire(frame: Frame) -> list[Any]:
    match frame:
        case Hello(chain_id, node_id, ephemeral_key, version):
            return [FrameType.HELLO, version, chain_id, node_id, ephemeral_key]
        case Auth(signature):
            return [FrameType.AUTH, signature]
        case Raft(payload):
            return [FrameType.RAFT, payload]
        case Txs(txs):
            return [FrameType.TXS, txs]
        case Request(request_id, payload):
            return [FrameType.REQUEST, request_id, payload]
        case Response(request_id, error, payload):
            return [FrameType.RESPONSE, request_id, error, payload]
    raise FrameError(f"not a frame: {type(frame).__name__}")


# --- decoding ----------------------------------------------------------------------------------


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> Frame:
    """Parse untrusted bytes into a Frame, or raise FrameError."""
    check_size(data, max_size)
    wire = _unpack(data)
    if type(wire) is not list or not wire or type(wire[0]) is not int:
        raise FrameError("a frame is an array starting with an integer type")
    try:
        kind = FrameType(wire[0])
    except ValueError:
        raise FrameError(f"unknown frame type {wire[0]}") from None
    return _DECODERS[kind](wire[1:])


def check_size(data: bytes, max_size: int) -> None:
    if len(data) > max_size:
        raise FrameTooLarge(f"frame of {len(data)} bytes exceeds {max_size}")


def _unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(
            data,
            raw=False,  # str must be valid UTF-8
            strict_map_key=True,  # map keys only str/bin: no unhashable or surprising keys
            max_ext_len=0,  # no extension types at all, timestamps included
            ext_hook=_refuse_ext,
        )
    except Exception as exc:  # hostile input may trip any error inside the C parser
        raise FrameError(f"not msgpack: {type(exc).__name__}: {exc}") from exc


def _refuse_ext(code: int, data: bytes) -> Any:
    raise FrameError("msgpack extension types are not allowed")


def _expect_arity(kind: str, fields: list[Any], n: int) -> None:
    if len(fields) != n:
        raise FrameError(f"{kind} has {len(fields)} fields, expected {n}")


def _expect_bytes(kind: str, field: str, value: Any, size: int) -> bytes:
    if type(value) is not bytes or len(value) != size:
        raise FrameError(f"{kind}.{field} must be {size} bytes")
    return value


def _expect_request_id(kind: str, value: Any) -> int:
    if type(value) is not int or not 0 <= value <= MAX_REQUEST_ID:
        raise FrameError(f"{kind}.request_id must be a uint64")
    return value


def _decode_hello(fields: list[Any]) -> Hello:
    _expect_arity("HELLO", fields, 4)
    version, chain_id, node_id, ephemeral_key = fields
    if type(version) is not int:
        raise FrameError("HELLO.version must be an integer")
    return Hello(
        chain_id=_expect_bytes("HELLO", "chain_id", chain_id, KEY_SIZE),
        node_id=_expect_bytes("HELLO", "node_id", node_id, KEY_SIZE),
        ephemeral_key=_expect_bytes("HELLO", "ephemeral_key", ephemeral_key, EPHEMERAL_KEY_SIZE),
        version=version,
    )


def _decode_auth(fields: list[Any]) -> Auth:
    _expect_arity("AUTH", fields, 1)
    return Auth(_expect_bytes("AUTH", "signature", fields[0], SIGNATURE_SIZE))


def _decode_raft(fields: list[Any]) -> Raft:
    _expect_arity("RAFT", fields, 1)
    (payload,) = fields
    if type(payload) is not list:
        raise FrameError("RAFT.payload must be an array")
    check_plain(payload)
    return Raft(payload)


def _decode_txs(fields: list[Any]) -> Txs:
    _expect_arity("TXS", fields, 1)
    (txs,) = fields
    if type(txs) is not list or not txs:
        raise FrameError("TXS.txs must be a non-empty array")
    for tx in txs:
        if type(tx) is not bytes:
            raise FrameError("TXS.txs must hold only binary transactions")
    return Txs(txs)


def _decode_request(fields: list[Any]) -> Request:
    _expect_arity("REQUEST", fields, 2)
    request_id, payload = fields
    check_plain(payload)
    return Request(_expect_request_id("REQUEST", request_id), payload)


def _decode_response(fields: list[Any]) -> Response:
    _expect_arity("RESPONSE", fields, 3)
    request_id, error, payload = fields
    if error is not None and type(error) is not str:
        raise FrameError("RESPONSE.error must be a string or nil")
    check_plain(payload)
    return Response(_expect_request_id("RESPONSE", request_id), error, payload)


_DECODERS = {
    FrameType.HELLO: _decode_hello,
    FrameType.AUTH: _decode_auth,
    FrameType.RAFT: _decode_raft,
    FrameType.TXS: _decode_txs,
    FrameType.REQUEST: _decode_request,
    FrameType.RESPONSE: _decode_response,
}

_SCALARS = (type(None), bool, int, float, str, bytes)


def check_plain(value: Any, max_depth: int = MAX_PAYLOAD_DEPTH) -> None:
    """Raise FrameError unless `value` is plain msgpack data nested at most `max_depth` deep.

    Iterative, so a hostile payload cannot exhaust the Python stack here or in later code.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if depth > max_depth:
            raise FrameError(f"payload nested deeper than {max_depth}")
        if kind is list:
            stack.extend((child, depth + 1) for child in item)
        elif kind is dict:
            stack.extend((child, depth + 1) for child in item.values())
        else:
            raise FrameError(f"payload holds a {kind.__name__}, not plain msgpack data")
