"""Reads are bounded (issue 10): a read bucket per client, and heavy renders off the loop.

In-process nodes with real sockets (start_node: tests/conftest.py)."""
from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import pytest
from click.testing import CliRunner

from cli.main import lichen
from devnet.client import ApiError, Client
from node.ledger.types import Transfer, sign_tx
from node.server.auth import issue_token, token_hash
from node.server.config import NodeConfig
from node.server.daemon import Node

from .helpers import until

OTHER_CLIENT = "127.0.0.2"  # any 127/8 address reaches a node listening on 127.0.0.1


@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


def session(node: Node, source: str = "127.0.0.1") -> aiohttp.ClientSession:
    return aiohttp.ClientSession(f"http://{node.config.listen}",
                                 connector=aiohttp.TCPConnector(local_addr=(source, 0)),
                                 timeout=aiohttp.ClientTimeout(total=10))


async def fill_a_block(node: Node, keys, count: int) -> int:
    """Commit `count` transfers in one block; its height."""
    txs = [sign_tx(keys["alice"], node.genesis.chain_id, i,
                   Transfer("USD", keys["bob"].address, 1, "a memo to fatten the block"))
           for i in range(count)]
    results = node.submit_many([t.raw for t in txs])
    assert all(not isinstance(r, Exception) for r in results)
    await until("the block is committed", lambda: node.tx_status(txs[-1].hash).final)
    height = node.store.receipt(txs[-1].hash).height
    assert node.store.receipt(txs[0].hash).height == height
    return height


# ---- the read bucket ----------------------------------------------------------------------------

def test_the_default_read_limit_is_generous():
    """`lichen chain verify` reads 64 blocks a request (GET /v1/blocks/raw), bench one document
    per block and a status."""
    defaults = NodeConfig(name="n", key_file="", genesis="", data_dir="")
    assert defaults.read_rate_limit_per_s >= 1_000 and defaults.read_rate_limit_burst >= 2_000


async def test_over_the_read_rate_a_client_gets_429_with_retry_after(start_node):
    """A client hammering reads is refused with RATE_LIMITED past its bucket; another client,
    and the probes, are served meanwhile."""
    node = await start_node(read_rate_limit_per_s=1, read_rate_limit_burst=3)
    async with session(node) as http, session(node, OTHER_CLIENT) as other:
        for _ in range(3):
            async with http.get("/v1/status") as r:
                assert r.status == 200
        async with http.get("/v1/genesis") as r:
            doc = await r.json()
            assert r.status == 429 and doc["error"] == "RATE_LIMITED" and "reads" in doc["message"]
            assert int(r.headers["Retry-After"]) >= 1
        for path in ("/healthz", "/readyz", "/metrics"):  # probes and metrics cost nothing
            async with http.get(path) as r:
                assert r.status != 429
        async with other.get("/v1/status") as r:  # another address has its own bucket
            assert r.status == 200
        async with http.post("/v1/txs", json={"txs": []}) as r:  # submissions: their own bucket
            assert r.status == 200


async def test_the_read_limit_can_be_turned_off(start_node):
    node = await start_node(read_rate_limit_per_s=0, read_rate_limit_burst=1)
    async with session(node) as http:
        for _ in range(20):
            async with http.get("/v1/status") as r:
                assert r.status == 200


# ---- heavy reads do not stall consensus ---------------------------------------------------------

BLOCK_TXS = 2_000
CLIENTS = 16
HAMMER_S = 1.5
MAX_TICK_GAP_S = 0.5  # ticks every 20 ms; the 16 clients' renders on the loop stalled it 1.8 s


async def test_pulling_large_blocks_leaves_the_consensus_ticks_on_cadence(start_node, keys):
    """Attack modelled: clients pull a full block (2,000 txs, ~1 MB of JSON) in a loop. Built on
    the event loop, each render stalls the Raft ticks (a leader's heartbeats, a follower's
    election timer) long enough to cost a cluster its leader; rendered off the loop, the ticks
    keep their cadence."""
    node = await start_node(tick_ms=20, block_max_txs=BLOCK_TXS, block_interval_ms=200,
                            read_rate_limit_per_s=0)
    height = await fill_a_block(node, keys, BLOCK_TXS)
    ticks: list[float] = []
    tick = node.raft.tick

    def counted_tick() -> None:
        ticks.append(time.monotonic())
        tick()
    node.raft.tick = counted_tick  # type: ignore[method-assign]
    pulled = 0

    async def pull(http: aiohttp.ClientSession, path: str, until_t: float) -> None:
        nonlocal pulled
        while time.monotonic() < until_t:
            async with http.get(path) as r:
                assert r.status == 200
                await r.read()
                pulled += 1

    end = time.monotonic() + HAMMER_S
    async with session(node) as http:
        paths = [f"/v1/blocks/{height}", "/v1/blocks/latest"]
        await asyncio.gather(*(pull(http, paths[i % 2], end) for i in range(CLIENTS)))
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert pulled >= CLIENTS and gaps
    assert max(gaps) < MAX_TICK_GAP_S, f"a tick came {max(gaps):.3f}s after the one before"
    assert len(ticks) > HAMMER_S / 0.02 / 3  # and they kept coming


# ---- read_auth: account and transaction reads want a token ---------------------------------------

async def committed_transfer(node: Node, keys):
    tx = sign_tx(keys["alice"], node.genesis.chain_id, 0,
                 Transfer("USD", keys["bob"].address, 5, ""))
    assert not isinstance(node.submit_many([tx.raw])[0], Exception)
    await until("the transfer is committed", lambda: node.tx_status(tx.hash).final)
    return tx


async def get(http, path: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.get(path, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else {})


@pytest.fixture
def tokens_file(tmp_path):
    return tmp_path / "tokens.json"


async def test_without_a_known_token_guarded_reads_are_401_unauthenticated(
        start_node, keys, tokens_file):
    """Attack modelled: anyone who reaches the API reads any customer's balance and payments.
    With read_auth, no token (or one the node did not issue) reads nothing guarded."""
    node = await start_node(read_auth=True, read_tokens_file=str(tokens_file))
    tx = await committed_transfer(node, keys)
    guarded = [f"/v1/accounts/{keys['alice'].address_hex}", f"/v1/txs/{tx.hash_hex}",
               f"/v1/proofs/{tx.hash_hex}", "/v1/blocks/1", "/v1/blocks/latest", "/v1/blocks/1/raw",
               "/v1/blocks/raw?from=1"]
    async with session(node) as http:
        for path in guarded:
            for token in (None, "lct_not-issued-here"):
                status, doc = await get(http, path, token)
                assert (status, doc["error"]) == (401, "UNAUTHENTICATED"), path
        for path in ("/v1/status", "/v1/genesis", "/healthz"):  # not about any account
            assert (await get(http, path))[0] == 200


async def test_a_scoped_token_sees_its_accounts_and_their_txs_only(start_node, keys, tokens_file):
    """Attack modelled: a bank's service, holding a token for its own customers, reads another
    bank's customer's account, payments or whole blocks: 403 FORBIDDEN."""
    node = await start_node(read_auth=True, read_tokens_file=str(tokens_file))
    tx = await committed_transfer(node, keys)  # alice -> bob
    bobs = issue_token(tokens_file, [keys["bob"].address], everything=False)
    carols = issue_token(tokens_file, [keys["carol"].address], everything=False)
    async with session(node) as http:
        status, doc = await get(http, f"/v1/accounts/{keys['bob'].address_hex}", bobs)
        assert status == 200 and doc["balances"]
        status, doc = await get(http, f"/v1/txs/{tx.hash_hex}", bobs)  # bob was paid
        assert status == 200 and doc["tx"]["hash"] == tx.hash_hex
        assert (await get(http, f"/v1/proofs/{tx.hash_hex}", bobs))[0] == 200
        for path in (f"/v1/accounts/{keys['alice'].address_hex}", f"/v1/txs/{tx.hash_hex}",
                     f"/v1/proofs/{tx.hash_hex}"):
            status, doc = await get(http, path, carols)
            assert (status, doc["error"]) == (403, "FORBIDDEN"), path
        for path in ("/v1/blocks/1", "/v1/blocks/latest", "/v1/blocks/1/raw",
                     "/v1/blocks/raw?from=1"):
            assert (await get(http, path, bobs))[0] == 403, path


async def test_an_all_token_reads_everything_and_the_file_holds_no_token(
        start_node, keys, tokens_file):
    node = await start_node(read_auth=True, read_tokens_file=str(tokens_file))
    tx = await committed_transfer(node, keys)
    regulator = issue_token(tokens_file, [], everything=True, label="regulator")
    async with session(node) as http:  # issued while the node runs: usable at once
        for path in (f"/v1/accounts/{keys['carol'].address_hex}", f"/v1/txs/{tx.hash_hex}",
                     "/v1/blocks/1", "/v1/blocks/1/raw", "/v1/blocks/raw?from=1",
                     f"/v1/proofs/{tx.hash_hex}"):
            assert (await get(http, path, regulator))[0] == 200, path
    stored = tokens_file.read_text()
    assert regulator not in stored and token_hash(regulator) in stored
    assert tokens_file.stat().st_mode & 0o077 == 0


async def test_read_auth_is_off_by_default(start_node, keys):
    node = await start_node()
    async with session(node) as http:
        assert (await get(http, f"/v1/accounts/{keys['alice'].address_hex}"))[0] == 200


async def test_the_operator_issues_tokens_with_the_cli_and_the_client_sends_them(
        start_node, single_node_config, keys, tmp_path):
    config = dataclasses.replace(single_node_config[0], read_auth=True)
    config.save(tmp_path / "node.json")
    runner = CliRunner()
    result = runner.invoke(lichen, ["node", "token", "issue", "--config",
                                    str(tmp_path / "node.json"), "--for",
                                    keys["alice"].address_hex, "--label", "alice's bank"])
    assert result.exit_code == 0, result.output
    alices = result.stdout.strip().splitlines()[-1]
    assert alices.startswith("lct_") and alices not in (tmp_path / "tokens.json").read_text()
    both = runner.invoke(lichen, ["node", "token", "issue", "--config",
                                  str(tmp_path / "node.json"), "--all", "--for", "x"])
    assert both.exit_code == 2 and "not both" in both.output
    node = await start_node(**{f.name: getattr(NodeConfig.load(tmp_path / "node.json"), f.name)
                               for f in dataclasses.fields(NodeConfig)})
    url = f"http://{node.config.listen}"
    doc = await asyncio.to_thread(Client(url, token=alices).account, keys["alice"].address_hex)
    assert doc["address"] == keys["alice"].address_hex
    for token, code in ((alices, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        with pytest.raises(ApiError) as err:
            await asyncio.to_thread(Client(url, token=token).account, keys["bob"].address_hex)
        assert err.value.code == code


async def test_a_replay_reads_every_block_over_kept_connections_with_its_token(
        start_node, keys, tokens_file):
    """The replay's fetchers (devnet.replay.fetch_blocks over KeptAlive) send the read token on
    every request of a kept connection, answer a refusal with the node's reason code, and
    open the connection again when the node has closed it."""
    from devnet.client import KeptAlive
    from devnet.replay import verify_node

    node = await start_node(read_auth=True, read_tokens_file=str(tokens_file))
    for nonce in range(3):  # a block each
        tx = sign_tx(keys["alice"], node.genesis.chain_id, nonce,
                     Transfer("USD", keys["bob"].address, 5, ""))
        assert not isinstance(node.submit_many([tx.raw])[0], Exception)
        await until("the transfer is committed", lambda t=tx: node.tx_status(t.hash).final)
    url = f"http://{node.config.listen}"
    auditor = issue_token(tokens_file, [], everything=True)
    status, report, problem = await asyncio.to_thread(verify_node, Client(url, token=auditor))
    assert problem == "" and report.ok and report.blocks_checked == status["height"] >= 3
    kept = KeptAlive(Client(url, token=auditor))
    first = await asyncio.to_thread(kept.get, "/v1/blocks/1?txs=false")
    kept.conn.close()  # as if the node had dropped the idle connection
    again = await asyncio.to_thread(kept.get, "/v1/blocks/1?txs=false")
    assert again["hash"] == first["hash"]
    with pytest.raises(ApiError) as refused:
        await asyncio.to_thread(KeptAlive(Client(url)).get_bytes, "/v1/blocks/1/raw")
    assert (refused.value.code, refused.value.status) == ("UNAUTHENTICATED", 401)
