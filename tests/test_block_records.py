"""GET /v1/blocks/raw (issue 15): a run of blocks as stored, read in one request, and the replay
of `lichen chain verify` over it.

In-process nodes with real sockets (start_node: tests/conftest.py)."""
from __future__ import annotations

import asyncio
import json
import struct

import aiohttp
import msgpack
import pytest
from click.testing import CliRunner

from cli.main import lichen
from devnet.client import ApiError, Client
from devnet.replay import read_records, verify_node
from node.ledger.certificates import Certificate
from node.ledger.types import Block, Transfer, sign_tx
from node.ledger.verify import state_hash_mismatch
from node.server.auth import issue_token
from node.server.daemon import Node
from node.server.limits import MAX_BLOCK_RECORDS
from node.server.service import BlockRecord

from .helpers import until

BLOCKS = 4


@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


async def commit_blocks(node: Node, keys, blocks: int = BLOCKS) -> int:
    """`blocks` transfers, each committed (and certified) before the next: a block each. The
    chain's height."""
    for nonce in range(blocks):
        tx = sign_tx(keys["alice"], node.genesis.chain_id, nonce,
                     Transfer("USD", keys["bob"].address, 5, f"payment {nonce}"))
        assert not isinstance(node.submit_many([tx.raw])[0], Exception)
        await until("the transfer is committed", lambda t=tx: node.tx_status(t.hash).final)
    height = node.height()
    await until("the tip is certified", lambda: node.node_status().certified_height >= height)
    return height


async def records(http: aiohttp.ClientSession, query: str,
                  token: str | None = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(f"/v1/blocks/raw?{query}", headers=headers) as r:
        if r.content_type == "application/msgpack":
            return r.status, msgpack.unpackb(await r.read(), raw=False)
        return r.status, await r.json()


def session(node: Node) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(f"http://{node.config.listen}",
                                 timeout=aiohttp.ClientTimeout(total=10))


# ---- the route -----------------------------------------------------------------------------------

async def test_each_entry_is_what_the_single_block_routes_serve(start_node, keys):
    node = await start_node()
    height = await commit_blocks(node, keys)
    async with session(node) as http:
        status, entries = await records(http, "from=1")
        assert status == 200 and [e[0] for e in entries] == list(range(1, height + 1))
        for h, raw, state_hash, cert in entries:
            async with http.get(f"/v1/blocks/{h}/raw") as r:
                assert raw == await r.read()
            async with http.get(f"/v1/blocks/{h}?txs=false") as r:
                doc = await r.json()
            assert state_hash.hex() == doc["state_hash"]
            assert Certificate.from_wire(cert).to_json() == doc["certificate"]


async def test_a_read_stops_at_its_count_at_the_tip_and_past_it(start_node, keys):
    node = await start_node()
    height = await commit_blocks(node, keys)
    async with session(node) as http:
        assert [e[0] for e in (await records(http, "from=2&count=2"))[1]] == [2, 3]
        assert [e[0] for e in (await records(http, f"from={height - 1}&count=5"))[1]] == [
            height - 1, height]
        assert await records(http, f"from={height + 1}") == (200, [])
        assert await records(http, f"from={2**64 - 1}&count={MAX_BLOCK_RECORDS}") == (200, [])


async def test_a_read_stops_at_its_byte_budget_but_always_gives_one_block(start_node, keys):
    node = await start_node()
    height = await commit_blocks(node, keys)
    one = len(node.block_bytes(1))
    assert [r.height for r in node.block_records(1, height, max_bytes=1)] == [1]
    assert [r.height for r in node.block_records(1, height, max_bytes=2 * one)] == [1, 2]
    assert len(node.block_records(1, height, max_bytes=10**9)) == height


@pytest.mark.parametrize("query, refusal", [
    ("", "from must be a block height"),
    ("from=0", "from must be a block height"),
    ("from=-1", "from must be a block height"),
    ("from=x", "from must be a block height"),
    (f"from={2**64}", "from must be a block height"),
    ("from=1&count=0", f"count must be an integer from 1 to {MAX_BLOCK_RECORDS}"),
    (f"from=1&count={MAX_BLOCK_RECORDS + 1}", "count must be an integer from 1 to"),
    ("from=1&count=two", "count must be an integer from 1 to"),
])
async def test_bad_parameters_are_malformed_and_say_which(start_node, query, refusal):
    node = await start_node()
    async with session(node) as http:
        status, doc = await records(http, query)
    assert status == 400 and doc["error"] == "MALFORMED" and doc["message"].startswith(refusal)


async def test_an_account_scoped_token_reads_no_run_of_blocks(start_node, keys, tmp_path):
    """Attack modelled: a bank's service, holding a token for its own customers only, pulls
    whole blocks (every institution's payments) through the bulk route, as /v1/blocks/{h}/raw
    refuses it: 403 FORBIDDEN, as no token is 401; a token that sees everything reads them."""
    tokens = tmp_path / "tokens.json"
    node = await start_node(read_auth=True, read_tokens_file=str(tokens))
    await commit_blocks(node, keys, 1)
    bobs = issue_token(tokens, [keys["bob"].address], everything=False)
    auditor = issue_token(tokens, [], everything=True)
    async with session(node) as http:
        status, doc = await records(http, "from=1", bobs)
        assert (status, doc["error"]) == (403, "FORBIDDEN")
        status, doc = await records(http, "from=1")
        assert (status, doc["error"]) == (401, "UNAUTHENTICATED")
        status, entries = await records(http, "from=1", auditor)
        assert status == 200 and entries[0][0] == 1


# ---- the replay over it --------------------------------------------------------------------------

class Answers:
    """A kept-alive connection that answers with canned bytes."""

    def __init__(self, body: bytes):
        self.body = body

    def get_bytes(self, path: str) -> bytes:
        return self.body


@pytest.mark.parametrize("entries, why", [
    ([[2, b"raw", b"h" * 32, None]], "block 2 where block 1 belongs"),
    ([[1, b"raw", b"h" * 32, None], [3, b"raw", b"h" * 32, None]], "block 3 where block 2"),
    ([[1, b"raw", b"h" * 32, None]] * 3, "not a list of at most 2 blocks"),
    ([[1, "raw", b"h" * 32, None]], "its block and state hash bytes"),
    ([[1, b"raw", b"h" * 32, {"not": "wire"}]], "certificate is a list or nil"),
    ({"blocks": []}, "not a list"),
])
def test_an_answer_that_is_not_the_blocks_asked_for_is_a_bad_answer(entries, why):
    with pytest.raises(ApiError) as err:
        read_records(Answers(msgpack.packb(entries, use_bin_type=True)), 1, 2)  # type: ignore
    assert err.value.code == "BAD_ANSWER" and why in err.value.message


def test_bytes_that_are_not_msgpack_are_a_bad_answer():
    with pytest.raises(ApiError) as err:
        read_records(Answers(b"\xc1"), 1, 2)  # type: ignore[arg-type]
    assert err.value.code == "BAD_ANSWER"


def test_a_record_round_trips_its_wire_form():
    record = BlockRecord(7, b"block", b"s" * 32, [b"c" * 32, 7, b"b" * 32, b"s" * 32, []])
    assert BlockRecord.from_wire(msgpack.unpackb(msgpack.packb(record.to_wire()))) == record


def overwrite(node: Node, key: bytes, value: bytes) -> None:
    """What a tampered node's operator does: rewrite a committed record under the node."""
    node.store.db.put(key, value)


COMMIT, BLOCK = b"C", b"B"  # node.store.db's prefixes of the state hash and block records


async def test_the_replay_names_the_block_whose_state_hash_the_node_misreports(start_node, keys):
    node = await start_node()
    await commit_blocks(node, keys)
    real = node.store.state_hash_at(2)
    overwrite(node, COMMIT + struct.pack(">Q", 2), msgpack.packb([b"\xee" * 32, 0]))
    status, report, problem = await asyncio.to_thread(
        verify_node, Client(f"http://{node.config.listen}"))
    assert (report.bad_height, report.blocks_checked, report.height) == (2, 1, 1)
    assert problem == report.reason == state_hash_mismatch(2, real, b"\xee" * 32)


async def test_the_replay_names_a_block_the_node_altered(start_node, keys):
    node = await start_node()
    await commit_blocks(node, keys)
    block = Block.decode(node.block_bytes(2))
    altered = Block(block.header, block.signature, (block.txs[0][:-1] + b"\x00",))
    overwrite(node, BLOCK + struct.pack(">Q", 2), altered.encode())
    status, report, problem = await asyncio.to_thread(
        verify_node, Client(f"http://{node.config.listen}"))
    assert (report.bad_height, report.blocks_checked) == (2, 1)
    assert problem == report.reason and "Merkle root" in problem, problem


async def test_chain_verify_refuses_a_certificate_signed_by_too_few(start_node, keys):
    node = await start_node()
    await commit_blocks(node, keys)
    cert, voters = node.store.certificate(3)
    node.store.put_certificate(3, [[*cert[:4], []], voters])  # its signatures struck out
    url = f"http://{node.config.listen}"
    result = await asyncio.to_thread(CliRunner().invoke, lichen,
                                     ["chain", "verify", "--node", url, "--json"])
    assert result.exit_code != 0
    report = json.loads(result.stdout)
    assert report["first_bad"]["height"] == 3
    assert "block 3: certificate refused (SUB_QUORUM)" in report["first_bad"]["reason"]
    assert report["certified_blocks"] == 3  # carrying one: blocks 1 and 2 passed, 3 did not


async def test_a_replay_of_a_node_that_lost_a_block_ends_short_of_its_tip(start_node, keys):
    """A node whose store lacks block 3 serves the blocks before it only: the replay stops
    there and says the node's tip is not where its blocks end."""
    node = await start_node()
    height = await commit_blocks(node, keys)
    node.store.db.delete(BLOCK + struct.pack(">Q", 3))
    status, report, problem = await asyncio.to_thread(
        verify_node, Client(f"http://{node.config.listen}"))
    assert report.ok and report.height == 2 and status["height"] == height
    assert problem == f"the node reports height {height} but serves blocks up to 2"
