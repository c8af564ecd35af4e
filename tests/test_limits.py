"""Limits that protect a node (node.limits, node.api): per-client submission rate, long-poll
and connection bounds, slow-client timeouts, and bounded pools and caches.

HTTP behaviour is checked against an in-process node on 127.0.0.1 with small limits; slow and
surplus clients are raw sockets, and a second client is a second loopback source address
(127.0.0.2), so "per client" is real. The token bucket itself runs on a fake clock.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import aiohttp
import pytest
from aiohttp import web

from node.ledger import errors as E
from node.ledger.crypto import KeyPair
from node.ledger.rules import SignatureCache
from node.ledger.types import Transfer, TxState, decode_tx, sign_tx
from node.server.api import build_app
from node.server.config import NodeConfig
from node.server.daemon import Node
from node.server.limits import (
    LINGER_S,
    ConnectionGuard,
    RateLimiter,
    Slots,
    TokenBucket,
    app_runner,
    client_key,
    retry_after_header,
)

from .helpers import free_port

OTHER_CLIENT = "127.0.0.2"  # any 127/8 address reaches a node listening on 127.0.0.1


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- the token bucket and the rate limiter, on a fake clock --------------------------------------

def test_a_bucket_grants_its_burst_then_its_rate():
    b = TokenBucket(rate=10, burst=20, now=0)
    assert b.take(20, now=0) == 0  # the whole burst at once
    assert b.take(1, now=0) == pytest.approx(0.1)  # then one token per 1/rate seconds
    assert b.take(5, now=0.5) == 0  # 0.5 s refilled five
    assert b.take(1, now=0.5) > 0


def test_a_refused_request_takes_nothing():
    b = TokenBucket(rate=10, burst=20, now=0)
    b.take(15, now=0)
    assert b.take(6, now=0) == pytest.approx(0.1)  # 5 left, 6 asked: wait for one more
    assert b.take(5, now=0) == 0  # the refusal did not spend the five


def test_a_batch_bigger_than_the_burst_passes_on_a_full_bucket_and_leaves_a_debt():
    b = TokenBucket(rate=10, burst=20, now=0)
    assert b.take(50, now=0) == 0  # never starved...
    assert b.take(1, now=2.9) > 0  # ...but the long-run rate holds: 30 owed, 29 refilled
    assert b.take(1, now=3.1) == 0


def test_the_limiter_counts_transactions_per_client_and_says_when_to_retry():
    clock = FakeClock()
    rl = RateLimiter(rate=100, burst=500, clock=clock)
    rl.take("a", 500)  # one batch of 500 costs 500
    with pytest.raises(E.RateLimited) as exc:
        rl.take("a", 1)
    assert exc.value.code == "RATE_LIMITED" and exc.value.http_status == 429
    assert exc.value.retry_after == pytest.approx(0.01)
    rl.take("b", 500)  # another client has its own bucket
    clock.now += 1.0
    rl.take("a", 100)  # a second later, 100 more


def test_the_limiter_is_off_at_rate_zero():
    rl = RateLimiter(rate=0, burst=1, clock=FakeClock())
    for _ in range(1000):
        rl.take("a", 5000)
    assert not rl.enabled and len(rl) == 0  # and keeps no state


def test_the_limiter_keeps_a_bounded_number_of_clients():
    rl = RateLimiter(rate=1, burst=1, max_clients=100, clock=FakeClock())
    for i in range(10_000):
        rl.take(f"10.0.{i // 256}.{i % 256}", 1)
    assert len(rl) == 100


def test_the_default_limit_never_throttles_a_loopback_bench():
    """`lichen bench` posts up to ~12,000 tx/s in batches of 500 from one address."""
    defaults = NodeConfig(name="n", key_file="", genesis="", data_dir="")
    clock = FakeClock()
    rl = RateLimiter(defaults.rate_limit_txs_per_s, defaults.rate_limit_burst,
                     defaults.rate_limit_clients, clock)
    for _ in range(12_000 * 30 // 500):  # thirty seconds of it
        rl.take("127.0.0.1", 500)
        clock.now += 500 / 12_000


@pytest.mark.parametrize("remote,key", [
    ("203.0.113.7", "203.0.113.7"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"), ("::ffff:203.0.113.7", "203.0.113.7"),
    (None, "unknown"), ("fe80::1%eth0", "fe80::/64")])
def test_a_client_is_its_ip_and_an_ipv6_client_its_64(remote, key):
    assert client_key(remote) == key


def test_retry_after_is_whole_seconds_never_zero():
    assert [retry_after_header(s) for s in (0.001, 0.5, 1.0, 1.2, 30)] == ["1", "1", "1", "2", "30"]


def test_slots_bound_concurrent_holders():
    slots = Slots(2, "long-polls")
    with slots.hold(), slots.hold():
        with pytest.raises(E.Unavailable):
            with slots.hold():
                pass
    with slots.hold():
        assert slots.in_use == 1


# ---- nodes with small limits (start_node: tests/conftest.py) -------------------------------------

@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


def transfers(node, keys, count, start=0, sender="alice", to="bob"):
    return [sign_tx(keys[sender], node.genesis.chain_id, start + i,
                    Transfer("USD", keys[to].address, 1, "")) for i in range(count)]


def session(node: Node, source: str = "127.0.0.1") -> aiohttp.ClientSession:
    return aiohttp.ClientSession(f"http://{node.config.listen}",
                                 connector=aiohttp.TCPConnector(local_addr=(source, 0)),
                                 timeout=aiohttp.ClientTimeout(total=10))


async def post(http, txs) -> tuple[int, dict, dict]:
    async with http.post("/v1/txs", json={"txs": [t.raw.hex() for t in txs]}) as r:
        return r.status, await r.json(), r.headers


async def test_over_the_rate_a_client_gets_429_with_retry_after_and_nothing_is_admitted(
        start_node, keys):
    node = await start_node(rate_limit_txs_per_s=4, rate_limit_burst=10)
    txs = transfers(node, keys, 14)
    async with session(node) as http:
        status, doc, _ = await post(http, txs[:8])  # under the limit: fine
        assert status == 200 and all(r["status"] == "pending" for r in doc["results"])
        status, doc, headers = await post(http, txs[8:11])  # 3 more, 2 tokens left: a batch costs 3
        assert status == 429 and doc["error"] == "RATE_LIMITED" and "retry" in doc["message"]
        assert int(headers["Retry-After"]) >= 1
        for t in txs[8:11]:  # nothing of that request was admitted
            assert node.tx_status(t.hash).status == "unknown"
        status, doc, _ = await post(http, txs[8:10])  # two fit
        assert status == 200
        async with http.post("/v1/txs", data=b"not even json") as r:  # an empty bucket is refused
            assert r.status == 429 and r.headers["Retry-After"]  # before its body is read
        await asyncio.sleep(int(headers["Retry-After"]))
        status, doc, _ = await post(http, txs[10:12])  # after Retry-After it gets through
        assert status == 200 and all(r["status"] == "pending" for r in doc["results"])


async def test_the_rate_limit_is_per_client(start_node, keys):
    node = await start_node(rate_limit_txs_per_s=1, rate_limit_burst=5)
    txs = transfers(node, keys, 5) + transfers(node, keys, 5, sender="bob", to="alice")
    async with session(node) as first, session(node, OTHER_CLIENT) as second:
        assert (await post(first, txs[:5]))[0] == 200
        assert (await post(first, transfers(node, keys, 1, start=5)))[0] == 429
        status, doc, _ = await post(second, txs[5:])  # another address, its own bucket
        assert status == 200 and all(r["status"] == "pending" for r in doc["results"])


@pytest.mark.parametrize("refused_cost", [9, 0])
async def test_a_client_sending_refused_transactions_pays_extra_for_each(
        start_node, keys, refused_cost):
    """Attack modelled: a client floods well-formed but worthless transactions (forged
    signatures, unattested senders) just under the rate limit, so every one costs the node a
    signature check on its consensus loop while the client is never refused. A refused
    transaction costs its client `rate_limit_refused_cost` tokens more, so after a batch of
    junk its next submission is RATE_LIMITED; another client, and duplicates, pay nothing
    extra. With the cost at 0 (the old behaviour) the junk sender is never slowed."""
    node = await start_node(rate_limit_txs_per_s=1, rate_limit_burst=40,
                            rate_limit_refused_cost=refused_cost)
    stranger = KeyPair.generate()  # no attestation: KYC_MISSING
    junk = [sign_tx(stranger, node.genesis.chain_id, 0, Transfer("USD", keys["bob"].address, 1, ""))]
    forged = [decode_tx(t.raw[:-1] + bytes([t.raw[-1] ^ 1])) for t in transfers(node, keys, 3)]
    good = transfers(node, keys, 2)
    async with session(node) as attacker, session(node, OTHER_CLIENT) as honest:
        status, doc, _ = await post(attacker, junk + forged)  # 4 tokens, 4 refused
        assert status == 200 and {r["error"] for r in doc["results"]} == {"KYC_MISSING",
                                                                          "BAD_SIGNATURE"}
        status, doc, _ = await post(attacker, good[:1])  # 40 - 4 - 4 * cost tokens left
        if refused_cost:
            assert (status, doc["error"]) == (429, "RATE_LIMITED")
        else:
            assert status == 200
        status, doc, _ = await post(honest, good[1:])  # its own bucket, untouched
        assert status == 200 and doc["results"][0]["status"] == "pending"
        status, doc, _ = await post(honest, good[1:])  # a duplicate is no junk
        assert doc["results"][0]["error"] == "DUPLICATE"
        status, doc, _ = await post(honest, good[1:])
        assert status == 200


async def test_a_single_tx_over_the_rate_is_429_too(start_node, keys):
    node = await start_node(rate_limit_txs_per_s=1, rate_limit_burst=1)
    a, b = transfers(node, keys, 2)
    async with session(node) as http:
        async with http.post("/v1/txs", json={"tx": a.raw.hex()}) as r:
            assert r.status == 202
        async with http.post("/v1/txs", json={"tx": b.raw.hex()}) as r:
            assert r.status == 429 and (await r.json())["error"] == "RATE_LIMITED"


async def test_long_polls_beyond_the_bound_get_503_unavailable(start_node, keys):
    node = await start_node(max_long_polls=2)
    txs = transfers(node, keys, 3)
    async with session(node) as http:
        async def long_poll(t):
            async with http.get(f"/v1/txs/{t.hash_hex}?wait=10") as r:
                return r.status, await r.json(), r.headers.get("Retry-After")
        polls = [asyncio.create_task(long_poll(t)) for t in txs]  # for txs not yet sent
        done, pending = await asyncio.wait(polls, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        (refused,) = done  # two hold the two slots; the third is turned away at once
        status, doc, retry_after = refused.result()
        assert (status, doc["error"], retry_after) == (503, "UNAVAILABLE", "1")
        await asyncio.sleep(0.2)
        assert all(not p.done() for p in pending)  # still waiting for their txs
        async with http.get(f"/v1/txs/{'0' * 64}") as r:  # no wait, no slot needed
            assert r.status == 200
        async with http.post("/v1/txs", json={"txs": [t.raw.hex() for t in txs]}) as r:
            assert r.status == 200
        for status, doc, _ in await asyncio.gather(*pending):  # the commit answers both
            assert status == 200 and doc["status"] == "committed"
        async with http.get(f"/v1/txs/{txs[0].hash_hex}?wait=5") as r:  # final: answered at once
            assert r.status == 200
        async with http.get(f"/v1/txs/{'0' * 64}?wait=0.01") as r:  # and the slots are free again
            assert r.status == 200


# ---- slow clients --------------------------------------------------------------------------------

async def raw_connect(node: Node, source: str = "127.0.0.1"):
    return await asyncio.open_connection(node.config.host, node.config.port, local_addr=(source, 0))


async def closed_after(reader: asyncio.StreamReader, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it said before."""
    t0, data = time.monotonic(), b""
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), limit)
        if not chunk:
            return time.monotonic() - t0, data
        data += chunk


async def test_a_client_that_connects_and_sends_nothing_is_cut_off(start_node):
    node = await start_node(http_idle_timeout_s=0.5)
    reader, writer = await raw_connect(node)
    took, said = await closed_after(reader, 3)
    writer.close()
    assert 0.4 <= took < 2 and said == b""


async def test_a_client_dribbling_its_request_head_is_cut_off(start_node):
    node = await start_node(http_idle_timeout_s=0.5)
    reader, writer = await raw_connect(node)
    writer.write(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")

    async def dribble():
        for _ in range(40):
            await asyncio.sleep(0.05)
            writer.write(b"X-Slow: yes\r\n")  # always more, never the blank line
    task = asyncio.create_task(dribble())
    try:
        took, said = await closed_after(reader, 3)
    finally:
        task.cancel()
        writer.close()
    assert took < 1.5 and b"200" not in said


async def test_a_client_dribbling_its_body_gets_408_and_is_cut_off(start_node):
    node = await start_node(http_body_timeout_s=0.5, http_idle_timeout_s=30)
    reader, writer = await raw_connect(node)
    writer.write(b"POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{")

    async def dribble():
        for _ in range(100):
            await asyncio.sleep(0.05)
            writer.write(b" ")
    task = asyncio.create_task(dribble())
    try:
        took, said = await closed_after(reader, 6)
    finally:
        task.cancel()
        writer.close()
    head, _, body = said.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["error"] == "REQUEST_TIMEOUT"
    assert took < 0.5 + LINGER_S + 0.5  # answered, drained briefly, cut off: not after 5 s


async def test_a_prompt_keep_alive_client_is_served_across_requests(start_node):
    node = await start_node(http_idle_timeout_s=0.5)
    reader, writer = await raw_connect(node)
    for _ in range(3):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        await reader.readexactly(length)
        await asyncio.sleep(0.3)  # idle, but less than the timeout each time
    writer.close()


# ---- the connection bound ------------------------------------------------------------------------

async def open_served(host: str, port: int, source: str):
    """A keep-alive connection that has been served once (so the server has counted it)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = await asyncio.wait_for(reader.read(65536), 3)
    return reader, writer, data


async def check_connection_bounds(host: str, port: int) -> None:
    """Bounds 4 in total and 2 per client (see the callers)."""
    conns = []
    try:
        for source in ("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"):
            reader, writer, data = await open_served(host, port, source)
            assert data.startswith(b"HTTP/1.1 200"), data[:80]
            conns.append((reader, writer))
        reader, writer, data = await open_served(host, port, "127.0.0.1")  # a third from one client
        _, said = await closed_after(reader, 3)
        writer.close()
        head, _, body = (data + said).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and json.loads(body)["error"] == "UNAVAILABLE"
        reader, writer, data = await open_served(host, port, "127.0.0.3")  # a fifth in all
        writer.close()
        assert data.startswith(b"HTTP/1.1 503")
        conns.pop()[1].close()  # one of 127.0.0.2's closes: room for another
        await asyncio.sleep(0.1)
        reader, writer, data = await open_served(host, port, "127.0.0.3")
        conns.append((reader, writer))
        assert data.startswith(b"HTTP/1.1 200")
    finally:
        for _, writer in conns:
            writer.close()


async def test_the_guarded_runner_bounds_connections_in_total_and_per_client(start_node):
    node = await start_node()
    config = dataclasses.replace(node.config, max_http_connections=4, max_connections_per_ip=2)
    runner = app_runner(build_app(node), config)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await check_connection_bounds("127.0.0.1", port)
        assert runner.guard.refused == 2
    finally:
        await runner.cleanup()


async def test_the_node_serves_with_its_connection_bounds(start_node):
    """Needs node.daemon to serve with node.limits.app_runner (see the hand-over notes)."""
    node = await start_node(max_http_connections=4, max_connections_per_ip=2)
    await check_connection_bounds(node.config.host, node.config.port)


def test_a_connection_guard_refuses_nonsense_bounds():
    with pytest.raises(ValueError):
        ConnectionGuard(0, 1)


# ---- pools and caches are bounded ----------------------------------------------------------------

async def test_a_full_pool_answers_mempool_full_503(start_node, keys):
    node = await start_node(mempool_max_txs=3, block_interval_ms=60_000, block_max_txs=1_000)
    txs = transfers(node, keys, 5)
    async with session(node) as http:
        status, doc, _ = await post(http, txs)  # one batch: admitted before any block is cut
    assert status == 200
    assert [r.get("status") or r["error"] for r in doc["results"]] == \
           ["pending"] * 3 + ["MEMPOOL_FULL"] * 2
    async with session(node) as http:
        async with http.post("/v1/txs", json={"tx": txs[3].raw.hex()}) as r:
            assert r.status == 503 and (await r.json())["error"] == "MEMPOOL_FULL"
    assert node.status()["mempool_size"] == 3


async def test_the_pool_is_bounded_in_bytes_too(start_node, keys):
    node = await start_node(mempool_max_bytes=400, block_interval_ms=60_000, block_max_txs=1_000)
    one = len(transfers(node, keys, 1)[0].raw)
    async with session(node) as http:
        _, doc, _ = await post(http, transfers(node, keys, 4))
    admitted = sum(1 for r in doc["results"] if r.get("status") == "pending")
    assert admitted == 400 // one and doc["results"][-1]["error"] == "MEMPOOL_FULL"


def test_the_signature_cache_evicts_its_oldest_beyond_its_capacity(keys):
    chain = b"\x01" * 32
    txs = [sign_tx(keys["alice"], chain, i, Transfer("USD", keys["bob"].address, 1, ""))
           for i in range(3)]
    sigs = SignatureCache(capacity=2)
    for t in txs:
        assert sigs.check(t)
    assert sigs.verified == 3
    assert sigs.check(txs[2]) and sigs.verified == 3  # remembered
    assert sigs.check(txs[0]) and sigs.verified == 4  # evicted, verified again


async def test_the_node_sizes_its_signature_cache_from_its_config(start_node):
    """Needs node.daemon to pass config.sig_cache_size (see the hand-over notes)."""
    node = await start_node(sig_cache_size=123)
    assert node.sigs.capacity == 123


async def test_a_node_with_a_one_account_cache_serves_and_survives_a_restart(start_node, keys):
    """The account cache is a cache: with room for one account, a node commits transfers
    among three, answers each account's balance from LevelDB, and after a restart starts with
    none of them decoded and serves the same."""
    node = await start_node(account_cache_size=1)
    assert node.state.accounts.capacity == 1
    chain = node.genesis.chain_id
    alice, bob, inst0 = keys["alice"], keys["bob"], keys["inst0"]
    txs = [sign_tx(alice, chain, 0, Transfer("USD", bob.address, 7, "")),
           sign_tx(bob, chain, 0, Transfer("USD", inst0.address, 3, "")),
           sign_tx(alice, chain, 1, Transfer("EUR", inst0.address, 2, ""))]
    assert all(isinstance(r, type(txs[0])) for r in node.submit_many([t.raw for t in txs]))
    for t in txs:
        done = await node.wait_for(t.hash, 5)
        assert done.status == TxState.COMMITTED and done.receipt is not None and done.receipt.ok
    before = {k.address: node.account_view(k.address).account.to_wire()
              for k in (alice, bob, inst0)}
    assert node.state.accounts.cached <= 1
    await node.stop()
    again = await start_node(account_cache_size=1)
    assert again.state.accounts.cached == 0 and again.height() == node.height()
    assert {a: again.account_view(a).account.to_wire() for a in before} == before


async def test_the_node_sizes_its_gossip_seen_cache_from_its_config(start_follower):
    """With a seen-cache of 4, a tx pushed again after 5 others is no longer recognised as a
    duplicate by gossip (the pool then refuses it itself). Needs node.daemon to pass
    config.p2p_seen_cache_size (see the hand-over notes)."""
    from p2p import Txs

    from .test_fuzz_peer import authenticate

    node, keys = await start_follower(p2p_seen_cache_size=4)
    peer, _ = await authenticate(node, keys["inst1"])
    try:
        txs = transfers(node, keys, 6)
        await peer.send(Txs([t.raw for t in txs]))  # not the leader: all six wait in the pool
        await peer.request(["conf"])
        assert node.status()["mempool_size"] == 6
        before = node.p2p.stats().gossip
        await peer.send(Txs([txs[5].raw]))  # the newest: still remembered
        await peer.send(Txs([txs[0].raw]))  # the oldest: forgotten, the node sees it again
        await peer.request(["conf"])
        after = node.p2p.stats().gossip
        assert after.duplicates == before.duplicates + 1
        assert after.rejected == before.rejected + 1  # DUPLICATE, said the pool
    finally:
        await peer.close()
