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
        Raft(payload=[1, "append", b"\x00\x01", {"term": 3, "entries": [b"block"]}, None,
                      True, 1.5]),
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


def assert_well_formed(frame) -> None:
    """Every field as the wire table of p2p/frames.py says: what decode lets through, the
    layers above may trust without checking again."""
    match frame:
        case Hello(chain_id, node_id, challenge, version):
            assert type(version) is int
            for field in (chain_id, node_id, challenge):
                assert type(field) is bytes and len(field) == 32
        case Auth(signature):
            assert type(signature) is bytes and len(signature) == 64
        case Raft(payload):
            assert type(payload) is list
            assert_plain(payload)
        case Txs(txs):
            assert type(txs) is list and txs and all(type(tx) is bytes for tx in txs)
        case Request(request_id, payload):
            assert type(request_id) is int and 0 <= request_id < 2**64
            assert_plain(payload)
        case Response(request_id, error, payload):
            assert type(request_id) is int and 0 <= request_id < 2**64
            assert error is None or type(error) is str
            assert_plain(payload)
        case _:
            raise AssertionError(f"decode returned {frame!r}, not a frame")
    assert decode(encode(frame)) == frame


def assert_plain(value, depth: int = 1) -> None:
    """nil, bool, int, float, str, bin, and arrays and str/bin-keyed maps of them, nested at
    most MAX_PAYLOAD_DEPTH deep."""
    if type(value) in (type(None), bool, int, float, str, bytes):
        return
    assert depth <= MAX_PAYLOAD_DEPTH
    if type(value) is list:
        for item in value:
            assert_plain(item, depth + 1)
    else:
        assert type(value) is dict, f"{type(value).__name__} in a payload"
        for key, item in value.items():
            assert type(key) in (str, bytes)
            assert_plain(item, depth + 1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_to_a_well_formed_frame_or_raise_frame_error(data):
    try:
        frame = decode(data)
    except FrameError:
        return
    assert_well_formed(frame)


# Structurally plausible frames: a valid type byte followed by random msgpack-ish values.
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=40),
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 8), st.lists(msgpack_values, max_size=5))
def test_plausible_but_wrong_frames_decode_or_raise_frame_error(frame_type, fields):
    try:
        frame = decode(pack([frame_type, *fields]))
    except FrameError:
        return
    assert_well_formed(frame)
    assert pack([frame_type, *fields]) == encode(frame), "decoded as it was sent, field for field"


# Frames one step from valid: each field drawn from what the wire table allows or from
# anything, an arity sometimes off by one. The decoder must accept exactly those that conform.
def conforms(wire) -> bool:
    """The wire table of p2p/frames.py as a predicate on the unpacked array."""
    if type(wire) is not list or not wire or type(wire[0]) is not int:
        return False
    kind, fields = wire[0], wire[1:]

    def bin_of(v, n):
        return type(v) is bytes and len(v) == n

    def u64(v):
        return type(v) is int and 0 <= v < 2**64

    def plain(v, depth=1):
        if type(v) in (type(None), bool, int, float, str, bytes):
            return True
        if depth > MAX_PAYLOAD_DEPTH:
            return False
        if type(v) is list:
            return all(plain(x, depth + 1) for x in v)
        return type(v) is dict and all(type(k) in (str, bytes) and plain(x, depth + 1)
                                       for k, x in v.items())

    arity = {FrameType.HELLO: 4, FrameType.AUTH: 1, FrameType.RAFT: 1, FrameType.TXS: 1,
             FrameType.REQUEST: 2, FrameType.RESPONSE: 3}
    if kind not in arity or len(fields) != arity[kind]:
        return False
    if kind == FrameType.HELLO:
        return type(fields[0]) is int and all(bin_of(f, 32) for f in fields[1:])
    if kind == FrameType.AUTH:
        return bin_of(fields[0], 64)
    if kind == FrameType.RAFT:
        return type(fields[0]) is list and plain(fields[0])
    if kind == FrameType.TXS:
        txs = fields[0]
        return type(txs) is list and bool(txs) and all(type(t) is bytes for t in txs)
    if kind == FrameType.REQUEST:
        return u64(fields[0]) and plain(fields[1])
    return u64(fields[0]) and (fields[1] is None or type(fields[1]) is str) and plain(fields[2])


def about(n: int):
    return st.binary(min_size=n - 1, max_size=n + 1)


NEAR_VALID_FIELDS = {
    FrameType.HELLO: [st.integers(0, 3), about(32), about(32), about(32)],
    FrameType.AUTH: [about(64)],
    FrameType.RAFT: [st.lists(msgpack_values, max_size=4)],
    FrameType.TXS: [st.lists(st.binary(max_size=16) | msgpack_values, max_size=4)],
    FrameType.REQUEST: [st.integers(-1, 2**64 - 1), msgpack_values],
    FrameType.RESPONSE: [st.integers(-1, 2**64 - 1),
                         st.none() | st.text(max_size=8) | msgpack_values,
                         msgpack_values],
}


@st.composite
def near_valid_wires(draw) -> list:
    kind = draw(st.sampled_from(sorted(NEAR_VALID_FIELDS)))
    fields = [draw(field | msgpack_values) if draw(st.integers(0, 4)) == 0 else draw(field)
              for field in NEAR_VALID_FIELDS[kind]]
    change = draw(st.sampled_from(["none"] * 8 + ["drop", "add"]))
    if change == "drop" and fields:
        fields.pop()
    elif change == "add":
        fields.append(draw(msgpack_values))
    return [int(kind), *fields]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_wires())
def test_the_decoder_accepts_exactly_the_frames_the_wire_table_allows(wire):
    try:
        frame = decode(pack(wire))
    except FrameError:
        assert not conforms(wire), f"refused a frame that conforms: {wire!r:.200}"
        return
    assert conforms(wire), f"accepted {frame!r:.200}"
    assert_well_formed(frame)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(0, 40), st.binary(max_size=8))
def test_corrupted_valid_frames_decode_to_a_well_formed_frame_or_raise_frame_error(
        flip, position, suffix):
    original = Txs([b"transaction-one", b"transaction-two"])
    data = bytearray(encode(original))
    for i, byte in enumerate(flip):
        data[(position + i) % len(data)] ^= byte
    intact = bytes(data) == encode(original)  # the flips may cancel out
    try:
        frame = decode(bytes(data) + suffix)
    except FrameError:
        assert not intact or suffix, "the intact frame must decode"
        return
    assert not (intact and suffix), "bytes after a frame are refused, not ignored"
    assert_well_formed(frame)
    if intact:
        assert frame == original
