"""Frame codec: round trips, and hostile bytes always end in FrameError (never another error)."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p import (
    Auth,
    FrameError,
    FrameTooLarge,
    FrameType,
    Hello,
    Raft,
    Request,
    Response,
    Txs,
    decode,
    encode,
)
from p2p.frames import MAX_PAYLOAD_DEPTH

B32 = bytes(range(32))


def pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


@pytest.mark.parametrize(
    "frame",
    [
        Hello(chain_id=B32, node_id=B32[::-1], ephemeral_key=b"\x07" * 32),
        Auth(signature=b"\x01" * 64),
        Raft(payload=[1, "append", b"\x00\x01", {"term": 3, "entries": [b"block"]}, None, True, 1.5]),
        Txs(txs=[b"tx-one", b"tx-two", b""]),
        Request(request_id=2**64 - 1, payload=["blocks", 10, 20]),
        Response(request_id=7, error=None, payload=[b"block10"]),
        Response(request_id=8, error="NOT_FOUND", payload=None),
    ],
    ids=lambda f: type(f).__name__,
)
def test_every_frame_kind_round_trips(frame):
    assert decode(encode(frame)) == frame


def test_wire_format_is_an_array_led_by_the_frame_type():
    assert msgpack.unpackb(encode(Txs([b"a", b"b"]))) == [FrameType.TXS, [b"a", b"b"]]
    assert msgpack.unpackb(encode(Auth(b"s" * 64))) == [FrameType.AUTH, b"s" * 64]


def test_tx_bytes_pass_through_unchanged():
    txs = [bytes([i]) * (100 + i) for i in range(50)]
    assert decode(encode(Txs(txs))).txs == txs


def test_oversized_frame_is_refused_before_parsing():
    data = encode(Txs([b"x" * 2000]))
    with pytest.raises(FrameTooLarge):
        decode(data, max_size=1000)


def test_encoding_past_the_limit_raises():
    with pytest.raises(FrameTooLarge):
        encode(Raft([b"x" * 2000]), max_size=1000)


def test_unencodable_payload_raises_frame_error():
    with pytest.raises(FrameError):
        encode(Raft([object()]))


def test_nesting_beyond_the_limit_is_refused():
    payload: list = []
    for _ in range(MAX_PAYLOAD_DEPTH + 1):
        payload = [payload]
    with pytest.raises(FrameError, match="nested"):
        decode(pack([FrameType.RAFT, payload]))


def test_nesting_within_the_limit_is_accepted():
    payload: list = []
    for _ in range(MAX_PAYLOAD_DEPTH - 2):
        payload = [payload]
    assert decode(pack([FrameType.RAFT, payload])).payload == payload


def test_nesting_deeper_than_msgpack_itself_allows_is_a_frame_error():
    with pytest.raises(FrameError):
        decode(b"\x91" * 100_000 + b"\xc0")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="reserved-byte"),
        pytest.param(pack([FrameType.TXS, [b"a"]]) + b"\x00", id="trailing-bytes"),
        pytest.param(pack([FrameType.TXS, [b"a"]])[:-1], id="truncated"),
        pytest.param(pack({"type": 4}), id="map-not-array"),
        pytest.param(pack([]), id="empty-array"),
        pytest.param(pack(["4", [b"a"]]), id="type-not-int"),
        pytest.param(pack([True, [b"a"]]), id="type-bool"),
        pytest.param(pack([99, 1]), id="unknown-type"),
        pytest.param(pack([FrameType.TXS, []]), id="txs-empty"),
        pytest.param(pack([FrameType.TXS, [b"a", "b"]]), id="txs-holding-str"),
        pytest.param(pack([FrameType.TXS, [b"a"], 1]), id="txs-extra-field"),
        pytest.param(pack([FrameType.HELLO, 1, B32, B32]), id="hello-missing-field"),
        pytest.param(pack([FrameType.HELLO, 1, B32[:31], B32, B32]), id="hello-short-chain-id"),
        pytest.param(pack([FrameType.HELLO, "1", B32, B32, B32]), id="hello-version-str"),
        pytest.param(pack([FrameType.AUTH, b"s" * 63]), id="auth-short-signature"),
        pytest.param(pack([FrameType.RAFT, {"a": 1}]), id="raft-payload-not-array"),
        pytest.param(pack([FrameType.REQUEST, -1, None]), id="request-negative-id"),
        pytest.param(pack([FrameType.RESPONSE, 1, 5, None]), id="response-error-not-str"),
        pytest.param(pack([FrameType.RAFT, [msgpack.ExtType(1, b"x")]]), id="ext-type"),
        pytest.param(pack([FrameType.RAFT, [msgpack.Timestamp(1, 0)]]), id="timestamp-ext"),
        pytest.param(b"\x92\x03\x91\xa2\xff\xfe", id="invalid-utf8"),
        pytest.param(b"\x92\x03\x91\x81\x91\x01\x02", id="array-map-key"),
        pytest.param(b"\x92\x03\xdd\xff\xff\xff\xff", id="array-claiming-4g-items"),
    ],
)
def test_malformed_frames_raise_frame_error(data):
    with pytest.raises(FrameError):
        decode(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_frame_error(data):
    try:
        decode(data)
    except FrameError:
        pass


# Structurally plausible frames: a valid type byte followed by random msgpack-ish values.
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 8), st.lists(msgpack_values, max_size=5))
def test_plausible_but_wrong_frames_decode_or_raise_frame_error(frame_type, fields):
    try:
        frame = decode(pack([frame_type, *fields]))
    except FrameError:
        return
    assert decode(encode(frame)) == frame  # whatever is accepted is a well-formed frame


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(0, 40), st.binary(max_size=8))
def test_corrupted_valid_frames_decode_or_raise_frame_error(flip, position, suffix):
    data = bytearray(encode(Txs([b"transaction-one", b"transaction-two"])))
    for i, byte in enumerate(flip):
        data[(position + i) % len(data)] ^= byte
    try:
        decode(bytes(data) + suffix)
    except FrameError:
        pass
