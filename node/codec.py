"""Canonical msgpack: the one encoding for the wire, for hashing and for storage.

Canonical means: decoding then re-encoding gives the same bytes. Anything else (maps where
arrays belong, non-minimal integers, str where bin belongs, trailing bytes) is rejected, so
one transaction has exactly one byte string and therefore one hash.
"""
from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from .errors import Malformed

MAX_DEPTH = 8  # our structures nest at most a few levels; deeper input is hostile


def pack(obj: Any) -> bytes:
    """Encode with the canonical options (bin type for bytes, no floats expected)."""
    return msgpack.packb(obj, use_bin_type=True)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def unpack_canonical(data: bytes, max_len: int) -> Any:
    """Decode untrusted bytes; raise Malformed unless they are the canonical encoding."""
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
    check_plain(obj)
    if pack(obj) != bytes(data):
        raise Malformed("non-canonical encoding")
    return obj


def check_plain(obj: Any, depth: int = 0) -> None:
    """Only arrays, ints, bools, None, bytes and str, nested at most MAX_DEPTH: no floats, no maps."""
    if depth > MAX_DEPTH:
        raise Malformed("nested too deeply")
    if isinstance(obj, list):
        for item in obj:
            check_plain(item, depth + 1)
    elif isinstance(obj, float):
        raise Malformed("floats are not allowed")
    elif isinstance(obj, dict):
        raise Malformed("maps are not allowed")
    elif not isinstance(obj, (int, bytes, str, type(None))):
        raise Malformed(f"unexpected type {type(obj).__name__}")
