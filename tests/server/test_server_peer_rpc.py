"""node.server.peer_rpc: every peer request and answer is decoded in one place, and anything
that is not exactly one of them is refused with a typed error."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import ConfState
from node.server.peer_rpc import (
    MAX_FETCH_BLOCKS,
    MAX_FORWARD_TXS,
    BadPeerAnswer,
    BadPeerRequest,
    FetchBlocks,
    FetchedBlock,
    FetchHeight,
    FetchMembership,
    ForwardTxs,
    PeerClient,
    answer,
    decode_admitted,
    decode_blocks,
    decode_height,
    decode_membership,
    decode_request,
    encode_request,
)
from p2p import RequestFailed

A, B = "aa" * 32, "bb" * 32


@pytest.mark.parametrize("request_, wire", [
    (FetchBlocks(5, 64), ["blocks", 5, 64]),
    (FetchMembership(), ["conf"]),
    (ForwardTxs((b"t1", b"t2")), ["txs", [b"t1", b"t2"]]),
    (ForwardTxs(()), ["txs", []]),
])
def test_requests_keep_the_first_versions_wire_form(request_, wire):
    assert encode_request(request_) == wire
    assert decode_request(wire) == request_


@pytest.mark.parametrize("payload, reason", [
    ("blocks", "UNKNOWN"), ([], "UNKNOWN"), ([1, 2], "UNKNOWN"), (["gossip", 1], "UNKNOWN"),
    (["blocks", 1], "MALFORMED"), (["blocks", 1, 2, 3], "MALFORMED"), (["blocks", -1, 5], "MALFORMED"),
    (["blocks", 1, 2**64], "MALFORMED"), (["blocks", True, 5], "MALFORMED"), (["blocks", 1.0, 5], "MALFORMED"),
    (["conf", 1], "MALFORMED"), (["txs"], "MALFORMED"), (["txs", b"x"], "MALFORMED"),
    (["txs", ["text"]], "MALFORMED"), (["txs", [b"x"] * (MAX_FORWARD_TXS + 1)], "MALFORMED"),
])
def test_unknown_and_malformed_requests_are_refused_with_a_reason(payload, reason):
    with pytest.raises(BadPeerRequest) as refused:
        decode_request(payload)
    assert refused.value.reason == reason


plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.binary(max_size=8),
              st.sampled_from(["blocks", "conf", "txs", "x"]), st.floats(allow_nan=False)),
    lambda kids: st.lists(kids, max_size=4), max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(payload=st.one_of(plain, st.lists(plain, max_size=3).map(lambda v: ["blocks", *v]),
                         st.lists(plain, max_size=2).map(lambda v: ["txs", *v])))
def test_any_payload_decodes_to_a_request_that_encodes_back_to_it_or_is_refused(payload):
    try:
        request = decode_request(payload)
    except BadPeerRequest:
        return
    assert encode_request(request) == payload


class Services:
    def __init__(self):
        self.asked: list[tuple[int, int]] = []

    def blocks_from(self, start, count):
        self.asked.append((start, count))
        return [FetchedBlock(b"block", start + 1)]

    def membership(self):
        return ConfState({A}, {B})

    def admit_forwarded(self, txs):
        return len(txs) - 1


def test_answers_serve_each_request_and_cap_a_block_fetch():
    services = Services()
    assert answer(FetchBlocks(3, 10_000), services) == [[b"block", 4]]
    assert services.asked == [(3, MAX_FETCH_BLOCKS)]
    assert answer(FetchMembership(), services) == [[A], [B]]
    assert answer(ForwardTxs((b"1", b"2")), services) == 1


@pytest.mark.parametrize("payload", [None, b"x", [[b"raw"]], [[b"raw", -1]], [[b"raw", "1"]],
                                     [["raw", 1]], [[b"raw", 1, 2]]])
def test_a_blocks_answer_of_the_wrong_shape_is_refused(payload):
    with pytest.raises(BadPeerAnswer):
        decode_blocks(payload)


def test_answers_decode_to_typed_values_or_are_refused():
    assert decode_blocks([[b"raw", 7]]) == [FetchedBlock(b"raw", 7)]
    assert decode_membership([[B, A], []]) == ConfState({A, B}, set())
    assert decode_admitted(3) == 3
    for bad in ([A], [[A], [A]], "conf"):
        with pytest.raises(BadPeerAnswer):
            decode_membership(bad)
    for bad in (-1, "3", None):
        with pytest.raises(BadPeerAnswer):
            decode_admitted(bad)


class Peer:
    """A requester answering from a table, recording what it was asked."""

    def __init__(self, answers):
        self.answers = answers
        self.sent: list[tuple[str, list]] = []

    async def request(self, peer_id, payload, *, timeout=None):
        self.sent.append((peer_id, payload))
        reply = self.answers[payload[0]]
        if isinstance(reply, Exception):
            raise reply
        return reply


async def test_the_client_sends_wire_payloads_and_decodes_the_answers():
    peer = Peer({"blocks": [[b"raw", 2]], "conf": [[A], []], "txs": 2})
    client = PeerClient(peer)
    assert await client.fetch_blocks(A, 1, 64) == [FetchedBlock(b"raw", 2)]
    assert await client.fetch_membership(A) == ConfState({A}, set())
    assert await client.forward_txs(A, [b"t1", b"t2"]) == 2
    assert peer.sent == [(A, ["blocks", 1, 64]), (A, ["conf"]), (A, ["txs", [b"t1", b"t2"]])]


async def test_the_client_passes_a_failed_request_on_and_refuses_a_bad_answer():
    client = PeerClient(Peer({"blocks": RequestFailed("gone"), "conf": "nonsense"}))
    with pytest.raises(RequestFailed):
        await client.fetch_blocks(A, 1, 64)
    with pytest.raises(BadPeerAnswer):
        await client.fetch_membership(A)


async def test_the_height_request_round_trips():
    assert decode_request(encode_request(FetchHeight())) == FetchHeight()
    assert decode_height(7) == 7
    with pytest.raises(BadPeerAnswer):
        decode_height(-1)
    with pytest.raises(BadPeerRequest):
        decode_request(["height", 1])
