"""The dashboard's server side on one in-process node: the page and its files, the live feed
(GET /v1/events: hello, block and status events, the stream cap, read_auth) and the devnet's
read-only fault state. The page itself runs in a real browser in test_dashboard_browser.py."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from node.ledger.types import Transfer, sign_tx
from node.server.auth import issue_token
from node.server.feed import Event, Subscription

from .helpers import until


def transfer(node, keys, amount=100, nonce=0):
    return sign_tx(keys["alice"], node.genesis.chain_id, nonce,
                   Transfer("USD", keys["bob"].address, amount, ""))


@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


async def events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict]]:
    """The server-sent events of a stream, as (name, body)."""
    name, data = "message", ""
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif not line and data:
            yield name, json.loads(data)
            name, data = "message", ""


async def next_event(stream: AsyncIterator[tuple[str, dict]], wanted: str,
                     matching=lambda body: True) -> dict:
    async for name, body in stream:
        if name == wanted and matching(body):
            return body
    raise AssertionError(f"the stream ended before a {wanted} event")


async def test_every_node_serves_the_page_and_only_its_own_files(start_node):
    node = await start_node()
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        async with http.get("/dashboard") as r:
            assert r.status == 200 and r.content_type == "text/html"
            page = await r.text()
        assert "/dashboard/app.js" in page and "/dashboard/style.css" in page
        async with http.get("/dashboard/app.js") as r:
            assert r.status == 200 and r.content_type == "text/javascript"
            assert "/v1/events" in await r.text()
        for name in ("__init__.py", "..%2F..%2Fconfig.py", "index.html.bak"):
            async with http.get(f"/dashboard/{name}") as r:
                assert r.status == 404 and (await r.json())["error"] == "NOT_FOUND"


async def test_feed_says_hello_then_pushes_each_block_with_outcomes_and_latency(start_node, keys):
    node = await start_node()
    tx = transfer(node, keys)
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        async with http.get("/v1/events") as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            stream = events(resp)
            hello = await next_event(stream, "hello")
            assert hello["node_id"] == node.id and hello["blocks"] == []
            async with http.post("/v1/txs", json={"tx": tx.raw.hex()}) as r:
                assert r.status == 202
            block = await next_event(stream, "block")
            assert block["height"] == 1 and block["tx_count"] == 1 and block["ok"] == 1
            assert block["txs"] == [{"hash": tx.hash_hex, "code": None}]
            assert block["state_hash"] == node.status()["state_hash"]
            assert len(block["latency_ms"]) == 1  # sampled from its admission on this node
            status = await next_event(stream, "status")
            assert status["status"]["height"] == 1 and status["pool"]["size"] == 0
            assert [(n["name"], n["up"]) for n in status["network"]] == [("node0", True)]
        # a new page starts with what it missed: the block, and the second it committed in
        async with http.get("/v1/events") as resp:
            hello = await next_event(events(resp), "hello")
            assert [b["height"] for b in hello["blocks"]] == [1]
            assert sum(s["ok"] for s in hello["seconds"]) == 1


async def test_status_event_counts_refusals_by_reason_code(start_node, keys):
    node = await start_node()
    held = transfer(node, keys, nonce=7)  # a future nonce is held, not refused
    wrong = sign_tx(keys["carol"], node.genesis.chain_id, 0,
                    Transfer("USD", keys["bob"].address, 1, ""))  # carol has no attestation
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        async with http.post("/v1/txs", json={"txs": [wrong.raw.hex(), held.raw.hex()]}) as r:
            codes = [res.get("error") for res in (await r.json())["results"]]
        async with http.get("/v1/events") as resp:
            status = await next_event(events(resp), "status")
    refused = status["refusals"]["admission"]
    assert codes == ["KYC_MISSING", None] and refused == {"KYC_MISSING": 1}


async def test_feed_streams_are_capped_and_a_closed_one_frees_its_slot(start_node):
    """The attack modelled: a client opening live feeds without end, each holding a queue and a
    connection on the node: past max_event_streams it gets 503 UNAVAILABLE."""
    node = await start_node(max_event_streams=2)
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        first = await http.get("/v1/events")
        second = await http.get("/v1/events")
        assert first.status == second.status == 200
        await next_event(events(second), "hello")
        async with http.get("/v1/events") as third:
            assert third.status == 503 and (await third.json())["error"] == "UNAVAILABLE"
        first.close()
        await until("the closed stream's slot is free", lambda: node.events.streams < 2)
        async with http.get("/v1/events") as again:
            assert again.status == 200
        second.close()


async def test_feed_with_read_auth_wants_a_token_that_sees_everything(start_node, keys, tmp_path):
    """The attack modelled: a client without a token, or with one scoped to one account, reads
    every block's transactions from the live feed on a node with read_auth. Checked once by
    removing the feed's scope check: the tokenless stream opened (200, not 401) and this failed."""
    tokens = tmp_path / "tokens.json"
    everything = issue_token(tokens, [], True)
    alice_only = issue_token(tokens, [keys["alice"].address], False)
    node = await start_node(read_auth=True, read_tokens_file=str(tokens))
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        async with http.get("/dashboard") as r:
            assert r.status == 200  # the page itself is public: it asks for the token
        async with http.get("/v1/events") as r:
            assert r.status == 401
        async with http.get("/v1/events", headers={"Authorization": f"Bearer {alice_only}"}) as r:
            assert r.status == 403
        async with http.get("/v1/events", headers={"Authorization": f"Bearer {everything}"}) as r:
            assert r.status == 200
            assert (await next_event(events(r), "hello"))["read_auth"] is True


async def test_fault_state_is_readable_without_a_token_on_devnet_nodes_only(start_node):
    node = await start_node(devnet=True, admin_token="secret")
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        node.faults().partition(["ab" * 32])
        async with http.get("/v1/admin/faults") as r:
            assert r.status == 200
            assert await r.json() == {"partitioned": ["ab" * 32], "loss": {}, "loss_all": 0.0}
        async with http.get("/v1/events") as resp:
            status = await next_event(events(resp), "status")
        assert status["faults"]["partitioned"] == ["ab" * 32]
        assert status["network"][0]["faults"] == status["faults"]


async def test_fault_state_route_does_not_exist_off_devnet(start_node):
    node = await start_node()
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        async with http.get("/v1/admin/faults") as r:
            assert r.status == 404


async def test_a_full_stream_queue_drops_its_oldest_events():
    sub = Subscription(capacity=3)
    for i in range(5):
        sub.push(Event("block", {"height": i}))
    batch = await sub.next_batch()
    assert [e.body["height"] for e in batch] == [2, 3, 4] and sub.dropped == 2
    sub.close()
    assert await sub.next_batch() == []
