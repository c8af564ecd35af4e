"""Hostile input to the HTTP API of one in-process node (DESIGN section 9), by hypothesis.

Every answer is success or a JSON error with an upper-case reason code and a status below 500;
rejected input changes neither the chain (height, block hash, state hash) nor any balance, nor
the pool; and the node goes on serving, down to committing a good transaction afterwards.

The transaction and block codecs themselves are fuzzed in tests/node/test_node_codec.py, and
p2p frames in tests/p2p/test_p2p_frames.py; here the input arrives over HTTP.
"""
from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote

import aiohttp
import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from yarl import URL

from node.ledger.types import Transfer, sign_tx
from node.server.daemon import Node

# One node serves every example of a test: the fixture is function-scoped on purpose.
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CODE = re.compile(r"[A-Z][A-Z_]*[A-Z]")
TOKEN = "fuzz-admin-token"
CONTENT_TYPES = ["application/json", "application/msgpack", "application/octet-stream",
                 "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/json; charset=latin-1", "", "*/*", "application/msgpack; q=0"]


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
async def node(start_node):
    return await start_node()


@pytest.fixture
async def devnet_node(start_node):
    return await start_node(devnet=True, admin_token=TOKEN)


@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def no_unhandled_errors(caplog):
    """Fails the test if the API's last-resort handler caught anything (an INTERNAL 500)."""
    caplog.set_level(logging.WARNING, logger="lichen.api")
    yield
    unhandled = [r for r in caplog.records if r.name == "lichen.api" and r.levelno >= logging.ERROR]
    assert not unhandled, unhandled[0].getMessage()


def url(node: Node, path: str) -> URL:
    return URL(f"http://{node.config.listen}{path}", encoded=True)


def transfer(node, keys, nonce=0, amount=100):
    return sign_tx(keys["alice"], node.genesis.chain_id, nonce,
                   Transfer("USD", keys["bob"].address, amount, ""))


# ---- what must hold after every example ---------------------------------------------------------

def decode_body(raw: bytes, content_type: str):
    if content_type == "application/msgpack":
        return msgpack.unpackb(raw, raw=False)
    return json.loads(raw)


async def call(http, method: str, target: URL, **kwargs) -> tuple[int, object, str]:
    """One request: (status, decoded body, content type); the body must decode."""
    async with http.request(method, target, **kwargs) as r:
        raw = await r.read()
        if r.content_type in ("application/octet-stream", "text/plain") and r.status < 400:
            return r.status, raw, r.content_type  # raw blocks and /metrics on success
        return r.status, decode_body(raw, r.content_type), r.content_type


def assert_error(status: int, body) -> None:
    """A refusal: 4xx, {"error": CODE, "message": sentence}."""
    assert 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and CODE.fullmatch(body.get("error", "")), body
    assert isinstance(body.get("message"), str) and body["message"], body


def assert_answer(status: int, body) -> None:
    """Success, or a well-formed refusal; never a server error."""
    assert status < 500, (status, body)
    if status >= 400:
        assert_error(status, body)


async def snapshot(http, node, keys) -> tuple:
    """The chain tip, the pool and the customers' accounts, as a client sees them."""
    _, st_, _ = await call(http, "GET", url(node, "/v1/status"))
    accounts = []
    for name in ("alice", "bob", "carol"):
        _, acct, _ = await call(http, "GET", url(node, f"/v1/accounts/{keys[name].address_hex}"))
        accounts.append((acct["balances"], acct["nonce"], acct["next_nonce"], acct["frozen"]))
    return (st_["height"], st_["block_hash"], st_["state_hash"], st_["mempool_size"], accounts)


async def still_serves(http, node, keys, nonce: int) -> None:
    """The node answers and still commits a good transaction."""
    status, body, _ = await call(http, "GET", url(node, "/healthz"))
    assert status == 200 and body == {"ok": True}
    tx = transfer(node, keys, nonce=nonce, amount=1)
    status, body, _ = await call(http, "POST", url(node, "/v1/txs"), json={"tx": tx.raw.hex()})
    assert status == 202, body
    status, body, _ = await call(http, "GET", url(node, f"/v1/txs/{tx.hash_hex}?wait=5"))
    assert body["status"] == "committed", body


# ---- strategies ----------------------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=8), kids, max_size=5)),
    max_leaves=25)
hexish = st.one_of(st.text(alphabet="0123456789abcdefABCDEF", max_size=80),
                   st.binary(max_size=40).map(bytes.hex), st.text(max_size=20))
json_submissions = st.one_of(
    json_values,
    st.fixed_dictionaries({"tx": st.one_of(hexish, json_values)}),
    st.fixed_dictionaries({"txs": st.one_of(st.lists(st.one_of(hexish, json_values), max_size=6),
                                            json_values)}),
    st.fixed_dictionaries({"tx": hexish}, optional={"txs": json_values, "extra": json_values}),
).map(lambda doc: json.dumps(doc).encode())
msgpack_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.binary(max_size=40),
              st.text(max_size=20), st.floats()),
    lambda kids: st.one_of(st.lists(kids, max_size=6),
                           st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=25)
msgpack_submissions = st.one_of(
    msgpack_values.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    st.binary(max_size=200).map(lambda b: b"\x96" + b),  # claims to be a bare signed tx
    st.lists(st.binary(max_size=80), max_size=8).map(lambda v: msgpack.packb(v, use_bin_type=True)),
)
bodies = st.one_of(st.binary(max_size=300), json_submissions, msgpack_submissions)

# A mutation of a valid signed transaction: each op at a relative position in its bytes.
mutation_ops = st.lists(
    st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
              st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
    min_size=1, max_size=4)


def mutate(raw: bytes, ops) -> bytes:
    data = bytearray(raw)
    for op, where, value in ops:
        if not data:
            data.append(value)
            continue
        i = int(where * len(data))
        if op == "flip":
            data[i] ^= 1 << (value % 8)
        elif op == "set":
            data[i] = value
        elif op == "insert":
            data.insert(i, value)
        elif op == "delete":
            del data[i]
        else:
            del data[i:]
    return bytes(data)


# ---- POST /v1/txs --------------------------------------------------------------------------------

@FUZZ
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES),
       accept=st.sampled_from(["", "application/json", "application/msgpack"]),
       nest=st.one_of(st.just(0), st.integers(1, 40), st.integers(900, 60_000)))
async def test_random_bodies_are_refused_with_reason_codes_and_change_nothing(
        node, http, keys, no_unhandled_errors, body, content_type, accept, nest):
    if nest:  # wrapped in arrays, as JSON or as msgpack: shallow, or deeper than parsers go
        body = (b"\x91" * nest + body if "msgpack" in content_type
                else b"[" * nest + body + b"]" * nest)
    before = await snapshot(http, node, keys)
    headers = {"Content-Type": content_type, "Accept": accept}
    status, doc, _ = await call(http, "POST", url(node, "/v1/txs"), data=body, headers=headers)
    assert status != 202, doc  # nothing here is a valid transaction
    assert_answer(status, doc)
    if status == 200:  # a batch: every transaction refused with its own code
        assert all(CODE.fullmatch(r["error"]) for r in doc["results"]), doc
    assert await snapshot(http, node, keys) == before


@FUZZ
@given(ops=mutation_ops, form=st.sampled_from(["json", "json-batch", "bare", "msgpack-bin",
                                               "msgpack-batch"]))
async def test_mutated_valid_transactions_are_refused_and_change_nothing(
        node, http, keys, no_unhandled_errors, ops, form):
    good = transfer(node, keys)
    raw = mutate(good.raw, ops)
    assume(raw != good.raw)
    before = await snapshot(http, node, keys)
    if form == "json":
        kwargs = {"json": {"tx": raw.hex()}}
    elif form == "json-batch":
        kwargs = {"json": {"txs": [raw.hex(), raw.hex()]}}
    else:
        body = {"bare": raw, "msgpack-bin": msgpack.packb(raw, use_bin_type=True),
                "msgpack-batch": msgpack.packb([raw], use_bin_type=True)}[form]
        kwargs = {"data": body, "headers": {"Content-Type": "application/msgpack"}}
    status, doc, _ = await call(http, "POST", url(node, "/v1/txs"), **kwargs)
    assert status != 202, (raw.hex(), doc)
    assert_answer(status, doc)
    if status == 200:
        assert all("error" in r for r in doc["results"]), (raw.hex(), doc)
    assert await snapshot(http, node, keys) == before


def nested_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_msgpack(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"


@pytest.mark.parametrize("body,content_type,status,code", [
    (nested_json(100_000), "application/json", 400, "MALFORMED"),  # once an INTERNAL 500
    (b'{"txs": ' + nested_json(50_000) + b"}", "application/json", 400, "MALFORMED"),
    (b'{"tx": ' + b'{"a": ' * 30_000 + b"1" + b"}" * 30_001, "application/json", 400, "MALFORMED"),
    (nested_msgpack(100_000), "application/msgpack", 400, "MALFORMED"),
    (b"\xdd\xff\xff\xff\xff", "application/msgpack", 400, "MALFORMED"),  # claims 4G elements
    (b"\xc6\xff\xff\xff\xff", "application/msgpack", 400, "MALFORMED"),  # claims a 4 GiB bin
    (json.dumps({"txs": ["00"] * 5_001}).encode(), "application/json", 413, "TOO_LARGE"),
    (msgpack.packb([b"\x00"] * 5_001), "application/msgpack", 413, "TOO_LARGE"),
    (json.dumps({"tx": "ab" * 5_000}).encode(), "application/json", 413, "TOO_LARGE"),
    (b"0" * (4 * 1024 * 1024 + 1), "application/json", 413, "TOO_LARGE"),
    (msgpack.packb(b"\x00" * 5_000), "application/msgpack", 413, "TOO_LARGE"),
    (b'{"tx": "' + b"9" * 5_000 + b'"}', "application/json", 400, "MALFORMED"),
    (b"1" * 10_000, "application/json", 400, "MALFORMED"),  # past int's digit limit
])
async def test_huge_and_deeply_nested_bodies_get_reason_codes(
        node, http, keys, no_unhandled_errors, body, content_type, status, code):
    before = await snapshot(http, node, keys)
    got, doc, _ = await call(http, "POST", url(node, "/v1/txs"), data=body,
                             headers={"Content-Type": content_type})
    if got == 200:  # a batch answers per transaction
        assert {r["error"] for r in doc["results"]} == {code}, doc
    else:
        assert (got, doc["error"]) == (status, code), doc
    assert await snapshot(http, node, keys) == before
    await still_serves(http, node, keys, nonce=0)


# ---- every GET endpoint --------------------------------------------------------------------------

GET_TEMPLATES = ["/v1/status", "/v1/txs/{}", "/v1/blocks/{}", "/v1/blocks/{}/raw",
                 "/v1/accounts/{}", "/v1/proofs/{}", "/v1/proposals/{}", "/v1/genesis",
                 "/healthz", "/readyz", "/metrics", "/v1/blocks/latest", "/v1/{}", "/{}"]
segments = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="0123456789abcdef", min_size=60, max_size=68),
    st.integers(-2**70, 2**70).map(str),
    st.sampled_from(["latest", "0", "1", "00", "1.0", "1e3", "²", "١", "0x1", " 1", "NaN", "..",
                     "%00", "18446744073709551615", "18446744073709551616", "9" * 400]),
)
queries = st.dictionaries(st.sampled_from(["wait", "x", "height", ""]), st.text(max_size=12),
                          max_size=3)


def waits_long(query: dict) -> bool:
    try:
        return float(query.get("wait", "0")) > 0.05
    except ValueError:
        return False


@pytest.fixture
async def chain(node, http, keys):
    """One committed transfer, so the success paths (a block, a proof) exist too."""
    tx = transfer(node, keys)
    status, _, _ = await call(http, "POST", url(node, "/v1/txs"), json={"tx": tx.raw.hex()})
    assert status == 202
    _, doc, _ = await call(http, "GET", url(node, f"/v1/txs/{tx.hash_hex}?wait=5"))
    assert doc["status"] == "committed"
    return tx


@FUZZ
@given(segment=segments, query=queries,
       accept=st.sampled_from(["", "application/msgpack", "text/html"]),
       method=st.sampled_from(["GET", "GET", "GET", "HEAD", "PUT", "DELETE", "PATCH"]))
async def test_every_get_endpoint_answers_random_paths_with_json(
        node, http, keys, chain, no_unhandled_errors, segment, query, accept, method):
    assume(not waits_long(query))  # a valid long-poll would only make the test slow
    before = await snapshot(http, node, keys)
    qs = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    for template in GET_TEMPLATES:  # every endpoint gets the same hostile segment and query
        path = template.format(quote(segment, safe=""))
        target = url(node, path + ("?" + qs if qs else ""))
        async with http.request(method, target, headers={"Accept": accept}) as r:
            raw = await r.read()
            status, content_type = r.status, r.content_type
        assert status < 500, (path, status, raw[:200])
        if method == "HEAD":
            continue
        if status >= 400:
            assert_error(status, decode_body(raw, content_type))
        elif content_type not in ("application/octet-stream", "text/plain"):
            decode_body(raw, content_type)  # well-formed JSON / msgpack
    assert await snapshot(http, node, keys) == before


async def test_gets_with_valid_and_edge_parameters(node, http, keys, chain, no_unhandled_errors):
    h = chain.hash_hex
    cases = {f"/v1/txs/{h}?wait=nan": 400, f"/v1/txs/{h}?wait=inf": 200,
             f"/v1/txs/{h}?wait=-1": 200,
             f"/v1/txs/{'0' * 64}?wait=-inf": 200, f"/v1/proofs/{h}": 200, "/v1/blocks/1": 200,
             "/v1/blocks/1/raw": 200, "/v1/blocks/18446744073709551615": 404,
             "/v1/blocks/18446744073709551616": 400, "/v1/blocks/99999999999999999999999/raw": 400,
             "/v1/blocks/%C2%B2": 400, "/v1/blocks/%D9%A1": 400, f"/v1/proofs/{'0' * 64}": 404,
             f"/v1/proposals/{h}": 404}
    for path, want in cases.items():
        status, doc, _ = await call(http, "GET", url(node, path))
        assert status == want, (path, doc)
        if status >= 400:
            assert_error(status, doc)


# ---- admin endpoints -----------------------------------------------------------------------------

ADMIN = ["/v1/admin/faults", "/v1/admin/transfer-leader"]
admin_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"partition": json_values}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"lossy": st.fixed_dictionaries(
        {"fraction": st.one_of(st.floats(0, 1), json_scalars)},
        optional={"peers": json_values})}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"to": json_values}).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=100),
    st.just(b"<deep>"),  # stands for 100,000 nested arrays (kept out of hypothesis' reports)
)
wrong_tokens = st.one_of(
    st.none(), st.just(TOKEN), st.just("Bearer "), st.just(f"bearer {TOKEN}"),
    st.just(f"Bearer {TOKEN}x"), st.just(f"Bearer {TOKEN[:-1]}"), st.just(f"Basic {TOKEN}"),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40))


async def post_admin(http, node, path: str, token: str | None, body: bytes):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = token
    if body == b"<deep>":
        body = nested_json(100_000)
    return await call(http, "POST", url(node, path), data=body, headers=headers)


@FUZZ
@given(path=st.sampled_from(ADMIN), token=wrong_tokens, body=admin_bodies)
async def test_admin_endpoints_refuse_any_call_without_the_token(
        devnet_node, http, keys, no_unhandled_errors, path, token, body):
    assume(token != f"Bearer {TOKEN}")
    before = await snapshot(http, devnet_node, keys)
    status, doc, _ = await post_admin(http, devnet_node, path, token, body)
    assert (status, doc["error"]) == (401, "UNAUTHORIZED"), doc
    assert devnet_node.p2p.faults.state().partitioned == frozenset()
    assert await snapshot(http, devnet_node, keys) == before


@FUZZ
@given(path=st.sampled_from(ADMIN), body=admin_bodies)
async def test_admin_endpoints_with_the_token_answer_fuzzed_bodies_and_change_no_ledger_state(
        devnet_node, http, keys, no_unhandled_errors, path, body):
    before = await snapshot(http, devnet_node, keys)
    status, doc, _ = await post_admin(http, devnet_node, path, f"Bearer {TOKEN}", body)
    assert_answer(status, doc)
    assert await snapshot(http, devnet_node, keys) == before
    devnet_node.p2p.faults.heal()  # a valid fault call may take effect; start each example clean


async def test_admin_endpoints_are_absent_outside_devnet_even_with_a_token(start_node, http):
    node = await start_node(devnet=False, admin_token=TOKEN)
    for path in ADMIN:
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            status, doc, _ = await call(http, "POST", url(node, path), json={"heal": True},
                                        headers=headers)
            assert (status, doc["error"]) == (404, "NOT_FOUND"), (path, doc)


async def test_admin_endpoints_work_with_the_token_on_devnet(devnet_node, http):
    node = devnet_node
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, doc, _ = await call(http, "POST", url(node, "/v1/admin/faults"),
                                json={"lossy": {"peers": ["ab"], "fraction": 0.5}}, headers=auth)
    assert status == 200 and doc["loss"] == {"ab": 0.5}
    status, doc, _ = await call(http, "POST", url(node, "/v1/admin/faults"),
                                json={"lossy": {"peers": 5, "fraction": 0.5}}, headers=auth)
    assert (status, doc["error"]) == (400, "MALFORMED")  # once an INTERNAL 500
    status, doc, _ = await call(http, "POST", url(node, "/v1/admin/transfer-leader"),
                                json={"to": "nobody"}, headers=auth)
    assert (status, doc["error"]) == (400, "MALFORMED")


async def test_a_non_ascii_authorization_header_is_refused_not_a_crash(devnet_node,
                                                                       no_unhandled_errors):
    """aiohttp decodes header bytes with surrogateescape; the token check must cope."""
    import asyncio
    host, port = devnet_node.config.host, devnet_node.config.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /v1/admin/faults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                 b"Connection: close\r\n\r\n{}")
    await writer.drain()
    head = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 401"), head[:200]
