"""Canonical msgpack: the one encoding for the wire, for hashing and for storage.

Canonical means: decoding then re-encoding gives the same bytes. Anything else (maps where
arrays belong, non-minimal integers, str where bin belongs, trailing bytes) is rejected, so
one transaction has exactly one byte string and therefore one hash.
"""
from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from node.ledger.errors import Malformed


def pack(obj: Any) -> bytes:
    """Encode with the canonical options (bin type for bytes, no floats expected)."""
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def unpack_canonical(data: bytes, max_len: int) -> Any:
    """Decode untrusted bytes; raise Malformed unless they are the canonical encoding.

    Callers check every field's type (node.ledger.types), which is what keeps floats, maps and other
    stray types out; msgpack's own limits bound length and nesting."""
    if not isinstance(data, (bytes, bytearray)):
        raise Malformed("expected bytes")
    try:
        obj = msgpack.unpackb(
            data, raw=False, use_list=True, strict_map_key=True,
            max_bin_len=max_len, max_str_len=max_len, max_array_len=max_len,
            max_map_len=max_len, max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, UnicodeDecodeError) as exc:
        raise Malformed(f"not valid msgpack: {exc.__class__.__name__}") from None
    if pack(obj) != bytes(data):
        raise Malformed("non-canonical encoding")
    return obj
