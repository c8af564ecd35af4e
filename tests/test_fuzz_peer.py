"""Hostile peers against a running node's /v1/peer websocket (real aiohttp on 127.0.0.1).

The node is node0 of a three-validator genesis; the test holds the other two validators' keys
(inst1, inst2), whose nodes never run, so node0 stays a follower at term 0 (PreVote keeps a
lonely node from raising its term) and its state moves only if the test makes it.

Checked: garbage, oversized and text frames, an unlicensed key, a replayed AUTH, Raft messages
with a forged sender or a malformed payload, TXS and REQUEST frames with garbage, and APPENDs
carrying blocks that break a block rule. The node refuses or drops and logs each; its chain,
term and pool stay as they were; it goes on serving HTTP. The frame codec alone is fuzzed in
tests/p2p/test_p2p_frames.py and the handshake object in tests/p2p/test_p2p_handshake.py.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import deque

import aiohttp
import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from consensus import Entry, EntryType, Message, MessageType
from node.ledger.codec import sha256
from node.ledger.crypto import KeyPair
from node.ledger.execution import ChainTip, build_block
from node.ledger.types import Block, BlockHeader, Transfer, sign_tx
from node.server.daemon import Node
from p2p import Auth, Handshake, Hello, Raft, Request, Response, SecureChannel, Txs, decode, encode

from .helpers import free_port, until

FUZZ = settings(max_examples=80, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MAX_FRAME = 4 * 1024 * 1024  # what node.daemon gives its PeerManager


# ---- the node and a hand-driven peer -------------------------------------------------------------

@pytest.fixture
async def cluster(start_follower, caplog):
    """node0 running, a follower of a three-validator genesis (tests/conftest.py); (node, keys)
    with the keys of every institution and customer."""
    caplog.set_level(logging.INFO, logger="lichen")
    return await start_follower()


class Peer:
    """One websocket to the node, driven by hand. Until `channel` is set (by `authenticate`)
    messages go and come as they are; after it, every frame is sealed and opened with it, as
    an honest peer does. What the node sends waits in `wire` until the test reads it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession):
        self.ws = ws
        self.session = session
        self.wire: asyncio.Queue[bytes] = asyncio.Queue()  # node -> us, not yet read
        self.inbox: deque = deque()  # opened frames other than responses, not yet read
        self.responses: dict[int, Response] = {}
        self.channel: SecureChannel | None = None
        self.close_code: int | None = None
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.wire.put_nowait(msg.data)
        self.close_code = self.ws.close_code

    async def send(self, frame_or_bytes) -> None:
        data = frame_or_bytes if isinstance(frame_or_bytes, bytes) else encode(frame_or_bytes)
        await self.ws.send_bytes(self.channel.seal(data) if self.channel else data)

    async def next_message(self, timeout: float = 2.0) -> bytes:
        """The node's next wire message, as it came."""
        return await asyncio.wait_for(self.wire.get(), timeout)

    async def next_frame(self, timeout: float = 2.0):
        """The node's next frame (responses are set aside for `request`)."""
        if self.channel is None:
            return decode(await self.next_message(timeout), max_size=MAX_FRAME)
        deadline = time.monotonic() + timeout
        while not self.inbox:
            self._take(await self.next_message(max(0.01, deadline - time.monotonic())))
        return self.inbox.popleft()

    def _take(self, data: bytes) -> None:
        assert self.channel is not None
        frame = decode(self.channel.open(data), max_size=MAX_FRAME)
        if isinstance(frame, Response):
            self.responses[frame.request_id] = frame
        else:
            self.inbox.append(frame)

    async def request(self, payload, timeout: float = 3.0) -> Response:
        """Ask, and wait for the answer. Frames are handled in order, so once it is back,
        every frame sent before it has been handled too: a barrier."""
        request_id = next(self._ids)
        await self.send(Request(request_id, payload))
        deadline = time.monotonic() + timeout
        while request_id not in self.responses:
            assert time.monotonic() < deadline, f"no RESPONSE to {payload!r:.80}"
            try:
                self._take(await self.next_message(0.05))
            except TimeoutError:
                assert not self.ws.closed, "the node closed the connection"
        return self.responses.pop(request_id)

    async def wait_closed(self, timeout: float = 3.0) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.session.close()


async def connect(node: Node) -> Peer:
    """A websocket to the node's peer endpoint (its peer_listen, else its API port)."""
    session = aiohttp.ClientSession()
    where = node.config.peer_listen or node.config.listen
    ws = await session.ws_connect(f"ws://{where}/v1/peer", max_msg_size=MAX_FRAME,
                                  compress=0, autoping=True)
    return Peer(ws, session)


def handshake_for(node: Node, key: KeyPair, out: list) -> Handshake:
    return Handshake(chain_id=node.genesis.chain_id, signing_key=SigningKey(key.seed),
                     is_licensed=lambda k: True, send=out.append, expected_peer=node.key.address)


async def authenticate(node: Node, key: KeyPair) -> tuple[Peer, bytes]:
    """A complete, honest handshake as `key`: the peer, and the (sealed) AUTH it sent."""
    peer = await connect(node)
    out: list[bytes] = []
    sent: list[bytes] = []
    hs = handshake_for(node, key, out)
    hs.start()
    while True:
        for data in out:
            sent.append(data)
            await peer.send(data)
        out.clear()
        if hs.complete:
            break
        hs.receive(await peer.next_message())
    peer.channel = hs.channel
    await until("the node adopts the peer", lambda: key.address_hex in node.p2p.connected_peers())
    return peer, sent[1]  # HELLO, then AUTH


async def still_serves(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{node.config.listen}/v1/status") as r:
            assert r.status == 200
            doc = await r.json()
    assert doc["node_id"] == node.id


def chain_state(node: Node) -> tuple:
    s = node.status()
    return (s["term"], s["leader_id"], s["commit_index"], s["applied_index"], s["height"],
            s["block_hash"], s["state_hash"], s["mempool_size"], tuple(s["voters"]))


def logged(caplog, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records if r.name.startswith("lichen"))


# ---- before the handshake ------------------------------------------------------------------------

garbage_frames = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(st.integers(-1, 10), st.binary(max_size=40), st.none(), st.text(max_size=8)),
             max_size=6).map(lambda v: msgpack.packb(v, use_bin_type=True)),
    st.tuples(st.integers(1, 6), st.binary(max_size=64)).map(
        lambda t: msgpack.packb([t[0], t[1]], use_bin_type=True)),
)


@FUZZ
@given(frames=st.lists(garbage_frames, min_size=1, max_size=4))
async def test_garbage_before_the_handshake_is_refused_and_never_authenticates(cluster, frames):
    node, _ = cluster
    before = chain_state(node)
    peer = await connect(node)
    try:
        assert isinstance(await peer.next_frame(), Hello)  # the node speaks first
        for data in frames:
            if peer.ws.closed:
                break
            try:
                await peer.send(data)
            except ConnectionError:
                break
        await peer.wait_closed()
    finally:
        await peer.close()
    assert node.p2p.connected_peers() == []
    assert chain_state(node) == before


@pytest.mark.parametrize("kind", ["raft", "txs", "request"])
async def test_valid_frames_without_a_handshake_are_refused_and_change_nothing(cluster, caplog,
                                                                               kind):
    """Well-formed frames, as an unlicensed (or any) key would send them, skipping the handshake."""
    node, keys = cluster
    good = sign_tx(keys["alice"], node.genesis.chain_id, 0,
                   Transfer("USD", keys["bob"].address, 1, ""))
    frame = {"raft": Raft(heartbeat(keys["inst1"].address_hex, node.id, 50)),
             "txs": Txs([good.raw]), "request": Request(1, ["txs", [good.raw]])}[kind]
    before = chain_state(node)
    peer = await connect(node)
    try:
        await peer.next_frame()
        await peer.send(frame)
        await peer.wait_closed()
    finally:
        await peer.close()
    assert peer.wire.empty() and not peer.responses
    assert chain_state(node) == before  # no term 50, no pooled tx
    assert logged(caplog, "handshake refused: PROTOCOL_VIOLATION")


mutations = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                     min_size=1, max_size=3)


@FUZZ
@given(ops=mutations)
async def test_a_mutated_hello_never_authenticates(cluster, ops):
    node, keys = cluster
    out: list = []
    handshake_for(node, keys["inst1"], out).start()
    hello = bytearray(out[0])
    for where, xor in ops:
        hello[int(where * len(hello))] ^= xor
    peer = await connect(node)
    try:
        await peer.next_frame()
        await peer.send(bytes(hello))
        await peer.send(encode(Auth(os.urandom(64))))  # whatever the HELLO became, this fails
        await peer.wait_closed()
    finally:
        await peer.close()
    assert node.p2p.connected_peers() == []


@pytest.mark.parametrize("who", ["stranger", "alice", "regulator"])
async def test_an_unlicensed_key_is_refused_before_the_node_signs_anything(cluster, caplog, who):
    """A stranger, a customer, and the regulator (licensed for much, but not to run a node)."""
    node, keys = cluster
    key = KeyPair.generate() if who == "stranger" else keys[who]
    refused = node.p2p.stats().handshakes_refused
    peer = await connect(node)
    out: list = []
    hs = handshake_for(node, key, out)
    hs.start()
    try:
        hs.receive(await peer.next_message())  # the node's HELLO; we key the channel and sign
        for data in out:
            await peer.send(data)  # our HELLO and AUTH, valid for our key
        await peer.wait_closed()
    finally:
        await peer.close()
    assert peer.wire.empty()  # no AUTH from the node: it never signed for an unlicensed key
    assert node.p2p.stats().handshakes_refused == refused + 1
    assert key.address_hex not in node.p2p.connected_peers()
    assert logged(caplog, f"NOT_LICENSED (node key {key.address_hex} is not licensed)")
    await still_serves(node)


async def test_a_replayed_auth_from_an_earlier_session_is_refused(cluster, caplog):
    node, keys = cluster
    honest, recorded_auth = await authenticate(node, keys["inst1"])  # what an eavesdropper saw
    await honest.close()
    await until("the first session ends", lambda: node.p2p.connected_peers() == [])
    out: list = []
    handshake_for(node, keys["inst1"], out).start()  # a HELLO: public data, anyone can send it
    replay = await connect(node)
    try:
        await replay.next_frame()
        await replay.send(out[0])
        await replay.send(recorded_auth)  # sealed under the first session's keys, not this one's
        await replay.wait_closed()
    finally:
        await replay.close()
    assert node.p2p.connected_peers() == []
    assert logged(caplog, "handshake refused: BAD_SIGNATURE")
    await still_serves(node)


@pytest.mark.parametrize("when", ["before", "after"])
async def test_an_oversized_frame_closes_that_connection_only(cluster, keys_and_peer_factory, when):
    node, keys = cluster
    before = chain_state(node)
    peer = await keys_and_peer_factory(node, keys, authenticated=(when == "after"))
    try:
        if when == "before":
            await peer.next_frame()
        try:
            await peer.send(b"\x00" * (MAX_FRAME + 1))
        except ConnectionError:
            pass  # the node hung up while the frame was still on its way: fine too
        code = await peer.wait_closed()
        assert code in (aiohttp.WSCloseCode.MESSAGE_TOO_BIG, None), code
    finally:
        await peer.close()
    await until("the peer is dropped", lambda: node.p2p.connected_peers() == [])
    assert chain_state(node) == before
    await still_serves(node)
    again, _ = await authenticate(node, keys["inst1"])  # and peers still get in
    await again.close()


async def test_a_text_frame_after_the_handshake_closes_the_connection(cluster):
    node, keys = cluster
    peer, _ = await authenticate(node, keys["inst1"])
    try:
        await peer.ws.send_str("hello?")
        await peer.wait_closed()
    finally:
        await peer.close()
    await until("the peer is dropped", lambda: node.p2p.connected_peers() == [])
    await still_serves(node)


@pytest.fixture
def keys_and_peer_factory():
    async def make(node, keys, authenticated: bool) -> Peer:
        if authenticated:
            return (await authenticate(node, keys["inst1"]))[0]
        return await connect(node)
    return make


# ---- after the handshake, as a licensed validator ------------------------------------------------

@pytest.fixture
async def inst1(cluster):
    """(node, keys, an authenticated connection as validator inst1)."""
    node, keys = cluster
    peer, _ = await authenticate(node, keys["inst1"])
    try:
        yield node, keys, peer
    finally:
        await peer.close()


@FUZZ
@given(data=st.binary(max_size=300))
async def test_garbage_frames_from_a_licensed_peer_are_dropped(inst1, caplog, data):
    node, _, peer = inst1
    before = chain_state(node)
    bad = node.p2p.stats().bad_frames
    try:
        decode(data, max_size=MAX_FRAME)
        decodable = True
    except Exception:
        decodable = False
    await peer.send(data)
    await peer.request(["conf"])  # barrier: the garbage was handled
    assert chain_state(node) == before
    if not decodable:
        assert node.p2p.stats().bad_frames == bad + 1
        assert logged(caplog, "dropping bad frame from")


def heartbeat(frm: str, to: str, term: int) -> list:
    return Message(MessageType.HEARTBEAT, frm, to, term).to_wire()


@pytest.mark.parametrize("forged", ["inst2", "self", "stranger", "upper", "padded"])
async def test_a_raft_message_with_a_forged_sender_is_dropped(inst1, caplog, forged):
    node, keys, peer = inst1
    claimed = {"inst2": keys["inst2"].address_hex, "self": node.id,
               "stranger": KeyPair.generate().address_hex,
               "upper": keys["inst1"].address_hex.upper(),
               "padded": keys["inst1"].address_hex + " "}[forged]
    before = chain_state(node)
    forged_dropped = node.p2p.stats().forged_raft_dropped
    await peer.send(Raft(heartbeat(claimed, node.id, 50)))  # a leader at term 50, it says
    await peer.request(["conf"])
    assert chain_state(node) == before  # term, leader, commit: all as they were
    if forged == "upper":  # p2p compares ids case-blind; the node's own check catches it
        assert logged(caplog, "that claims to be from")
    else:
        assert node.p2p.stats().forged_raft_dropped == forged_dropped + 1
        assert logged(caplog, "claiming to be from")
    # control: the same message in inst1's own name is taken, so the check above can fail
    await peer.send(Raft(heartbeat(keys["inst1"].address_hex, node.id, 50)))
    await peer.request(["conf"])
    assert node.status()["term"] == 50 and node.status()["leader_id"] == keys["inst1"].address_hex


plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.binary(max_size=40),
              st.text(max_size=70), st.floats(allow_nan=False)),
    lambda kids: st.lists(kids, max_size=5), max_leaves=12)


def is_valid_raft(payload) -> bool:
    try:
        Message.from_wire(payload)
        return True
    except ValueError:
        return False


@FUZZ
@given(field=st.integers(0, 12), value=plain, extra=st.lists(plain, max_size=2),
       shape=st.sampled_from(["field", "append", "random"]))
async def test_malformed_raft_payloads_are_dropped_and_change_nothing(
        inst1, caplog, field, value, extra, shape):
    node, keys, peer = inst1
    me = keys["inst1"].address_hex
    if shape == "random":
        payload = [value, *extra]
    else:
        payload = (heartbeat(me, node.id, 7) if shape == "field" else
                   Message(MessageType.APPEND, me, node.id, 7, 0, 0,
                           (Entry(1, 7, EntryType.NORMAL, b"x"),), 1).to_wire())
        payload[field] = value
        payload += extra
    assume(not is_valid_raft(payload))  # a valid message from a validator may change its term
    before = chain_state(node)
    await peer.send(Raft(payload))
    await peer.request(["conf"])
    assert chain_state(node) == before
    assert not logged(caplog, "on_raft failed"), "a malformed message escaped as an exception"


txs_garbage = st.lists(st.one_of(st.binary(min_size=1, max_size=120),
                                 st.binary(max_size=60).map(lambda b: b"\x96" + b)),
                       min_size=1, max_size=8)


@FUZZ
@given(txs=txs_garbage, ops=mutations)
async def test_txs_frames_with_garbage_are_rejected_and_the_pool_stays_empty(inst1, txs, ops):
    node, keys, peer = inst1
    good = sign_tx(keys["alice"], node.genesis.chain_id, 0,
                   Transfer("USD", keys["bob"].address, 1, ""))
    mutated = bytearray(good.raw)
    for where, xor in ops:
        mutated[int(where * len(mutated))] ^= xor
    assume(bytes(mutated) != good.raw)  # two flips of one byte cancel out
    rejected = node.p2p.stats().gossip.rejected
    before = chain_state(node)
    batch = list(dict.fromkeys([*txs, bytes(mutated)]))  # distinct: gossip de-duplicates
    await peer.send(Txs(batch))
    await peer.request(["conf"])
    assert chain_state(node) == before
    assert node.p2p.stats().gossip.rejected == rejected + len(batch)


async def test_a_good_tx_in_a_txs_frame_is_admitted(inst1):
    """The control for the garbage test: the same path admits what is valid."""
    node, keys, peer = inst1
    good = sign_tx(keys["alice"], node.genesis.chain_id, 0,
                   Transfer("USD", keys["bob"].address, 1, ""))
    await peer.send(Txs([good.raw]))
    await peer.request(["conf"])
    assert node.status()["mempool_size"] == 1


requests = st.one_of(
    plain,
    st.tuples(st.just("blocks"), st.integers(-2**63, 2**64 - 1),
              st.integers(-2**63, 2**64 - 1)).map(list),
    st.tuples(st.just("txs"), st.lists(st.binary(max_size=80), max_size=5)).map(list),
    st.tuples(st.just("txs"), plain).map(list),
    st.just(["conf", 1]),
    st.just(["height"]),
    st.just(["height", 1]),
)


def is_request(payload, kind: str, arity: int) -> bool:
    return type(payload) is list and len(payload) == arity and payload[0] == kind


def expected_answer(node: Node, payload) -> tuple[bool | None, object]:
    """What the peer protocol answers a licensed peer, on this node whose chain is empty:
    (answered, the payload when answered). `answered` is None where a refusal and an empty
    answer are both right.

      ["blocks", from, count]  (both uint64) the blocks from height `from` on: none here
      ["conf"]                 the Raft configuration: [voters, learners]
      ["height"]               the height of its last block: 0 here
      ["txs", [raw, ...]]      how many of the txs the pool admitted: garbage, so none
      anything else            refused: an error and no payload
    """
    if is_request(payload, "blocks", 3) and type(payload[1]) is int and type(payload[2]) is int:
        in_range = all(0 <= a < 2**64 for a in payload[1:])  # uint64 arguments, else refused
        return in_range, [] if in_range else None
    if payload == ["height"]:
        return True, 0
    if payload == ["conf"]:
        st = node.status()
        return True, [st["voters"], st["learners"]]
    if (is_request(payload, "txs", 2) and type(payload[1]) is list
            and all(type(t) is bytes for t in payload[1])):
        return True, 0
    return False, None


@FUZZ
@given(payload=requests)
async def test_every_request_gets_its_answer_and_changes_nothing(inst1, payload):
    node, _, peer = inst1
    before = chain_state(node)
    answered, want = expected_answer(node, payload)
    response = await peer.request(payload)
    if answered is None:  # either is right
        answered = response.error is None
    if answered:
        assert (response.error, response.payload) == (None, want)
    else:
        assert response.error and response.payload is None
    assert chain_state(node) == before


# ---- blocks that break a rule, replicated by a licensed leader -----------------------------------

def good_block(node: Node, keys, term: int, tip: ChainTip) -> tuple[Block, bytes]:
    tx = sign_tx(keys["alice"], node.genesis.chain_id, 0, Transfer("USD", keys["bob"].address, 7,
                                                                   ""))
    block = build_block(tip, [tx.raw], [tx.hash], int(time.time() * 1000), keys["inst1"], term)
    return block, tx.hash


def broken(kind: str, block: Block, keys) -> tuple[bytes, str]:
    """The block's bytes broken in one way, and what the node logs when it skips it."""
    h = block.header
    inst1 = keys["inst1"]

    def resign(header: BlockHeader, key: KeyPair = inst1) -> bytes:
        return Block(header, key.sign(header.hash), block.txs).encode()

    if kind == "merkle":
        return resign(BlockHeader(h.height, h.prev_hash, sha256(b"not the root"), h.timestamp,
                                  h.proposer, h.term)), "Merkle root does not match"
    if kind == "signature":
        return Block(h, keys["inst2"].sign(h.hash), block.txs).encode(), "signature does not verify"
    if kind == "flipped-signature":
        sig = bytes([block.signature[0] ^ 1]) + block.signature[1:]
        return Block(h, sig, block.txs).encode(), "signature does not verify"
    if kind == "extra-tx":  # a tx slipped in after signing
        tampered = block.txs[0][:-1] + bytes([block.txs[0][-1] ^ 1])  # never the same tx
        return Block(h, block.signature, block.txs + (tampered,)).encode(), \
            "Merkle root does not match"
    if kind == "unlicensed-proposer":
        alice = keys["alice"]
        return resign(BlockHeader(h.height, h.prev_hash, h.tx_root, h.timestamp, alice.address,
                                  h.term), alice), "proposer is not a licensed validator"
    if kind == "wrong-height":
        return resign(BlockHeader(h.height + 5, h.prev_hash, h.tx_root, h.timestamp, h.proposer,
                                  h.term)), "does not follow"
    if kind == "wrong-parent":
        return resign(BlockHeader(h.height, sha256(b"elsewhere"), h.tx_root, h.timestamp,
                                  h.proposer, h.term)), "does not link to the previous block"
    if kind == "not-a-block":
        return b"\x93\x01\x02\x03", "skipping committed entry"
    raise AssertionError(kind)


def append(leader: str, to: str, term: int, index: int, data: bytes, prev_term: int) -> Raft:
    entry = Entry(index, term, EntryType.NORMAL, data)
    return Raft(Message(MessageType.APPEND, leader, to, term, prev_term, index - 1, (entry,),
                        commit=index).to_wire())


@pytest.mark.parametrize("kind", ["merkle", "signature", "flipped-signature", "extra-tx",
                                  "unlicensed-proposer", "wrong-height", "wrong-parent",
                                  "not-a-block"])
async def test_a_committed_block_that_breaks_a_rule_is_skipped_not_executed(inst1, caplog, kind):
    node, keys, peer = inst1
    me, term = keys["inst1"].address_hex, 3
    alice = f"/v1/accounts/{keys['alice'].address_hex}"
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        async with http.get(alice) as r:
            balances = (await r.json())["balances"]
        tip = node.tip
        block, tx_hash = good_block(node, keys, term, tip)
        data, why = broken(kind, block, keys)
        await peer.send(append(me, node.id, term, 1, data, 0))  # inst1 leads term 3 and commits it
        await until("the entry is applied", lambda: node.status()["applied_index"] == 1)
        st_ = node.status()
        assert (st_["height"], st_["block_hash"], st_["state_hash"]) == \
               (tip.height, tip.block_hash.hex(), tip.state_hash.hex())
        assert logged(caplog, "skipping committed entry 1") and logged(caplog, why)
        async with http.get(alice) as r:
            assert (await r.json())["balances"] == balances
        assert node.tx_status(tx_hash).status == "unknown"
        # control: the intact block, next in the log, is executed (so the test above can fail)
        await peer.send(append(me, node.id, term, 2, block.encode(), term))
        await until("the good block executes", lambda: node.status()["height"] == tip.height + 1)
        assert node.tx_status(tx_hash).status == "committed"
        async with http.get(alice) as r:
            assert (await r.json())["balances"]["USD"] == balances["USD"] - 7


async def next_request(peer: Peer, timeout: float = 5.0) -> Request:
    """The node's next REQUEST to us (its Raft traffic skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await peer.next_frame(max(0.01, deadline - time.monotonic()))
        if isinstance(frame, Request):
            return frame


@pytest.mark.parametrize("kind", ["merkle", "signature", "unlicensed-proposer", "not-a-block",
                                  "intact"])
async def test_blocks_fetched_while_catching_up_are_verified_before_execution(inst1, caplog, kind):
    """A leader's SNAPSHOT sends the node to fetch blocks from it: they arrive outside the
    Raft log, and must pass the same block rules."""
    node, keys, peer = inst1
    me, term, index = keys["inst1"].address_hex, 3, 5
    tip = node.tip
    block, tx_hash = good_block(node, keys, term, tip)
    data, why = (block.encode(), "") if kind == "intact" else broken(kind, block, keys)
    if kind == "not-a-block":
        why = "a block is [header, signature, txs]"
    await peer.send(Raft(Message(MessageType.SNAPSHOT, me, node.id, term, snapshot_index=index,
                                 snapshot_term=term).to_wire()))
    request = await next_request(peer)
    assert request.payload == ["blocks", tip.height + 1, 64]
    await peer.send(Response(request.request_id, None, [[data, index]]))
    if kind == "intact":  # the control: the same path executes a good block
        request = await next_request(peer)
        assert request.payload == ["conf"]
        await peer.send(Response(request.request_id, "NOT NOW", None))
        await until("the block executes", lambda: node.status()["height"] == tip.height + 1)
        assert node.tx_status(tx_hash).status == "committed"
        return
    await until("the node gives up on the bad block", lambda: logged(caplog, "catch-up from"))
    assert logged(caplog, why)
    st_ = node.status()
    assert (st_["height"], st_["block_hash"], st_["state_hash"], st_["applied_index"]) == \
           (tip.height, tip.block_hash.hex(), tip.state_hash.hex(), 0)
    assert node.tx_status(tx_hash).status == "unknown"
    await still_serves(node)


# ---- after the handshake, as a licensed observer -------------------------------------------------

async def raft_drops(node: Node) -> float:
    """The node's lichen_raft_dropped_messages_total, summed over reasons, read from /metrics."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{node.config.listen}/metrics") as r:
            assert r.status == 200
            text = await r.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("lichen_raft_dropped_messages_total{"))


@pytest.mark.parametrize("kind", [MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT,
                                  MessageType.TIMEOUT_NOW, MessageType.VOTE])
async def test_an_observer_forging_raft_traffic_at_a_high_term_moves_nothing(start_follower,
                                                                             caplog, kind):
    """Attack: a licensed observer (its key passes the handshake, its frames are sealed and
    attributed to it) sends leader or election traffic at term 50 in its own name, to make
    the node adopt its term, follow it, commit what it says, catch up from it or campaign.
    The node's term, leader and commit stay as they were, it keeps serving, and the refusal
    shows on its /metrics."""
    caplog.set_level(logging.INFO, logger="lichen")
    node, keys = await start_follower(observers=1)
    observer = keys["inst3"]
    peer, _ = await authenticate(node, observer)
    try:
        before, drops = chain_state(node), await raft_drops(node)
        frm = observer.address_hex
        entries = (Entry(1, 50, EntryType.NORMAL, b""),) if kind == MessageType.APPEND else ()
        msg = Message(kind, frm, node.id, 50, log_term=50 if kind == MessageType.VOTE else 0,
                      index=100 if kind == MessageType.VOTE else 0, entries=entries, commit=1,
                      snapshot_index=100, snapshot_term=50)
        for _ in range(3):
            await peer.send(Raft(msg.to_wire()))
        await peer.request(["conf"])  # barrier: every frame before it was handled
        await until("the refusals are counted", lambda: node.raft.status().dropped >= 3)
        assert chain_state(node) == before  # term, leader, commit, chain: as they were
        assert await raft_drops(node) == drops + 3
        await still_serves(node)
    finally:
        await peer.close()


# ---- the peer listener (config peer_listen) ------------------------------------------------------

async def hold_api_connections(node: Node, n: int) -> list[asyncio.StreamWriter]:
    """n idle TCP connections to the node's API port: each holds one of its connection slots."""
    writers = []
    for _ in range(n):
        _, writer = await asyncio.open_connection(node.config.host, node.config.port)
        writers.append(writer)
    return writers


async def test_with_every_api_slot_held_a_validator_still_connects_on_the_peer_listener(
        start_follower):
    """Attack: a few client IPs open connections to the public API port until every slot is
    held; on one shared port that locks the validators out of each other. With peer_listen the
    peers have their own listener and connection budget, which clients cannot use up."""
    node, keys = await start_follower(peer_listen=f"127.0.0.1:{free_port()}",
                                      max_http_connections=4, max_connections_per_ip=4)
    held = await hold_api_connections(node, 4)
    try:
        await asyncio.sleep(0.1)  # the node has accepted (and counted) them
        with pytest.raises(aiohttp.ClientError):  # the API is full, as the attack wants ...
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://{node.config.listen}/v1/status") as r:
                    r.raise_for_status()
        peer, _ = await authenticate(node, keys["inst1"])  # ... the peers are not
        try:
            assert keys["inst1"].address_hex in node.p2p.connected_peers()
        finally:
            await peer.close()
    finally:
        for writer in held:
            writer.close()


async def test_with_a_peer_listener_the_api_port_serves_no_peers(start_follower):
    """/v1/peer lives only on peer_listen (else clients' slots and peers' would mix again), and
    the peer listener serves no API."""
    node, _ = await start_follower(peer_listen=f"127.0.0.1:{free_port()}")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{node.config.listen}/v1/peer") as r:
            assert r.status == 404
        async with http.get(f"http://{node.config.peer_listen}/v1/status") as r:
            assert r.status == 404
        async with http.get(f"http://{node.config.listen}/v1/status") as r:
            assert r.status == 200


async def test_a_txs_frame_over_the_item_cap_disconnects_the_peer(inst1, caplog):
    """Attack: a licensed peer sends one TXS frame of thousands of tiny items (a 4 MiB frame
    holds about two million), admitted synchronously on the consensus loop. Over the cap the
    peer is disconnected with a logged reason and nothing reaches the pool."""
    node, _, peer = inst1
    await peer.send(Txs([b"x"] * 5000))
    await peer.wait_closed()
    assert node.status()["mempool_size"] == 0
    assert logged(caplog, "5000 txs in one TXS frame")
    assert node.p2p.stats().misbehaving_disconnected == 1
