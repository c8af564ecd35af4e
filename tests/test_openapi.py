"""GET /v1/openapi.json: a valid OpenAPI 3.1 document that every route the app registers is in,
and that every real response of a running node matches (openapi-spec-validator checks the
document, openapi-schema-validator each body against its operation's schema)."""
from __future__ import annotations

import re
import time

import aiohttp
import msgpack
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from node.ledger import errors as E
from node.ledger.types import (
    AssetUpdate,
    EscrowCreate,
    FxAccept,
    FxOffer,
    Issue,
    LoanAccept,
    LoanOffer,
    ReserveReport,
    Transfer,
    sign_tx,
)
from node.server.api import build_app
from node.server.auth import issue_token
from node.server.openapi import reason_codes
from p2p.websocket import PEER_PATH
from tests.helpers import until

ADMIN = "s3cret"
URI = "urn:lichen:openapi"


def pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class Contract:
    """The document, and what a real exchange must match in it."""

    def __init__(self, doc: dict):
        validate_spec(doc)  # the document itself is valid OpenAPI 3.1
        self.doc = doc
        self.registry = Registry().with_resource(URI, Resource(doc, DRAFT202012))
        self.templates = [(re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", p) + "$"), p)
                          for p in doc["paths"]]
        self.seen: set[tuple[str, str, int]] = set()  # (method, template, status) checked

    def template_of(self, path: str) -> str:
        exact = [t for rx, t in self.templates if rx.match(path) and "{" not in t]
        matching = exact or [t for rx, t in self.templates if rx.match(path)]
        assert matching, f"{path} is in no path of the document"
        return matching[0]

    def check(self, schema_at: str, value) -> None:
        validator = OAS31Validator({"$ref": f"{URI}#/{schema_at}"}, registry=self.registry)
        errors = sorted(validator.iter_errors(value), key=str)
        assert not errors, f"{schema_at}: {errors[0].message} in {value!r:.300}"

    def response(self, method: str, path: str, status: int, content_type: str, body) -> None:
        template = self.template_of(path)
        op = self.doc["paths"][template].get(method.lower())
        assert op is not None, f"{method} {template} is not in the document"
        assert str(status) in op["responses"], f"{method} {path}: {status} is not documented"
        content = op["responses"][str(status)]["content"]
        assert content_type in content, f"{method} {path} {status}: no {content_type} response"
        if content_type in ("application/json", "application/msgpack"):
            self.check(pointer("paths", template, method.lower(), "responses", str(status),
                               "content", content_type, "schema"), body)
        self.seen.add((method, template, status))

    def request(self, method: str, path: str, body: dict) -> None:
        template = self.template_of(path)
        self.check(pointer("paths", template, method.lower(), "requestBody", "content",
                           "application/json", "schema"), body)


async def exchange(http: aiohttp.ClientSession, contract: Contract, method: str, path: str,
                   want: int, **kw):
    """One real request; its answer checked against the document (and a JSON body that is meant
    to be accepted, against the request schema). Returns the answer's body."""
    if "json" in kw and want < 400:
        contract.request(method, path.split("?")[0], kw["json"])
    async with http.request(method, path, **kw) as r:
        assert r.status == want, (method, path, r.status, await r.text())
        ctype = r.content_type
        if ctype == "application/json":
            body = await r.json()
        elif ctype == "application/msgpack":
            body = msgpack.unpackb(await r.read(), raw=False)
        else:
            body = await r.read()
    contract.response(method, path.split("?")[0], want, ctype, body)
    return body


@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


async def fetch_contract(url: str) -> Contract:
    async with aiohttp.ClientSession(url) as http, http.get("/v1/openapi.json") as r:
        assert r.status == 200 and r.content_type == "application/json"
        return Contract(await r.json())


async def test_every_route_answers_as_the_document_says(start_node, keys):
    node = await start_node(devnet=True, admin_token=ADMIN, max_event_streams=1)
    contract = await fetch_contract(f"http://{node.config.listen}")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    chain = node.genesis.chain_id
    tx = sign_tx(keys["alice"], chain, 0, Transfer("USD", keys["bob"].address, 5, "hi"))
    unattested = sign_tx(keys["alice"], chain, 1, Transfer("USD", keys["carol"].address, 5, ""))
    bob = keys["bob"].address_hex
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        async def call(method: str, path: str, want: int, **kw):
            return await exchange(http, contract, method, path, want, **kw)

        await call("GET", "/v1/status", 200)
        await call("GET", "/v1/status", 200, headers={"Accept": "application/msgpack"})
        await call("GET", "/v1/blocks/latest", 404)  # nothing committed yet
        await call("POST", "/v1/txs", 202, json={"tx": tx.raw.hex()})
        await call("POST", "/v1/txs", 400, json={"tx": "zz"})
        await call("POST", "/v1/txs", 409, json={"tx": tx.raw.hex()})  # DUPLICATE
        batch = await call("POST", "/v1/txs", 200, data=msgpack.packb([unattested.raw, b"\x01"]),
                           headers={"Content-Type": "application/msgpack"})
        assert batch["results"][0]["error"] == "KYC_MISSING"
        await call("POST", "/v1/txs", 422, data=unattested.raw,
                   headers={"Content-Type": "application/msgpack"})
        done = await call("GET", f"/v1/txs/{tx.hash_hex}?wait=5", 200)
        assert done["status"] == "committed"
        await call("GET", f"/v1/txs/{'00' * 32}", 200)  # unknown
        await call("GET", "/v1/txs/nothex", 400)
        await call("GET", "/v1/blocks/latest", 200)
        await call("GET", "/v1/blocks/1", 200)
        await call("GET", "/v1/blocks/1", 200, headers={"Accept": "application/msgpack"})
        light = await call("GET", "/v1/blocks/1?txs=false", 200)
        assert "txs" not in light and light["tx_count"] >= 1 and light["state_hash"]
        await call("GET", "/v1/blocks/1?txs=maybe", 400)
        await call("GET", "/v1/blocks/99", 404)
        await call("GET", "/v1/blocks/-1", 400)
        await call("GET", "/v1/blocks/1/raw", 200)
        await call("GET", "/v1/blocks/99/raw", 404)
        await call("GET", "/v1/blocks/x/raw", 400)
        run = await call("GET", "/v1/blocks/raw?from=1&count=2", 200)
        assert run[0][0] == 1 and run[0][1] == await call("GET", "/v1/blocks/1/raw", 200)
        assert await call("GET", "/v1/blocks/raw?from=99", 200) == []
        await call("GET", "/v1/blocks/raw?from=0", 400)
        await call("GET", f"/v1/accounts/{bob}", 200)
        await call("GET", f"/v1/accounts/{keys['carol'].address_hex}", 200)  # KYC invalid
        await call("GET", "/v1/accounts/bob", 400)
        await call("GET", f"/v1/proofs/{tx.hash_hex}", 200)
        await call("GET", f"/v1/proofs/{'00' * 32}", 404)
        await call("GET", "/v1/proofs/00", 400)
        await call("GET", f"/v1/proposals/{'00' * 32}", 404)
        await call("GET", "/v1/proposals/00", 400)
        await call("GET", "/v1/genesis", 200)
        await call("GET", "/v1/institutions", 200)
        await call("GET", "/v1/policy", 200)
        await call("GET", "/v1/assets", 200)
        await call("GET", "/v1/assets/USD", 200)
        await call("GET", "/v1/assets/XAU", 404)
        await call("GET", "/v1/assets/u$d", 400)
        await call("GET", "/v1/reports?kind=large&from=0", 200)
        await call("GET", "/v1/reports?kind=huge", 400)
        await call("GET", "/v1/offers?give=USD&want=EUR", 200)
        await call("GET", "/v1/offers?status=closed", 400)
        await call("GET", "/v1/offers?limit=0", 400)
        await call("GET", f"/v1/offers/{'00' * 32}", 404)
        await call("GET", "/v1/offers/00", 400)
        await call("GET", f"/v1/escrows?account={bob}&status=all", 200)
        await call("GET", "/v1/escrows?account=bob", 400)
        await call("GET", f"/v1/escrows/{'00' * 32}", 404)
        await call("GET", "/v1/escrows/xyz", 400)
        await call("GET", "/v1/openapi.json", 200)
        await call("GET", "/healthz", 200)
        await call("GET", "/readyz", 200)
        await call("GET", "/metrics", 200)
        await call("GET", "/dashboard", 200)
        await call("GET", "/dashboard/app.js", 200)
        await call("GET", "/dashboard/style.css", 200)
        await call("GET", "/dashboard/secrets.txt", 404)
        await call("GET", "/v1/admin/faults", 200)
        # loans (the filled answers: test_a_loan_collected_on_schedule_answers_as_documented)
        await call("GET", "/v1/loans", 200)
        await call("GET", "/v1/loans?status=overdue", 400)
        await call("GET", f"/v1/loans/{'00' * 32}", 404)
        await call("GET", "/v1/loans/00", 400)
        await call("GET", f"/v1/credit/{bob}", 200)
        await call("GET", "/v1/credit/bob", 400)
        async with http.get("/v1/events") as stream:  # the one stream allowed: open, then 503
            assert stream.status == 200 and stream.content_type == "text/event-stream"
            assert (await stream.content.readuntil(b"\n\n")).startswith(b"event: hello")
            contract.response("GET", "/v1/events", 200, stream.content_type, None)
            await call("GET", "/v1/events", 503)
        await call("POST", "/v1/admin/faults", 200, json={"lossy": {"fraction": 0.5}},
                   headers=admin)
        await call("POST", "/v1/admin/faults", 200, json={"heal": True}, headers=admin)
        await call("POST", "/v1/admin/faults", 401, json={"heal": True})
        await call("POST", "/v1/admin/faults", 400, json={"lossy": {"fraction": 2}},
                   headers=admin)
        await call("POST", "/v1/admin/transfer-leader", 400, json={}, headers=admin)
        await call("POST", "/v1/admin/transfer-leader", 401, json={"to": node.id})
    # every operation of the document was seen answering, and every one that can refuse did
    for template, ops in contract.doc["paths"].items():
        for method in ops:
            answered = {s for (m, t, s) in contract.seen if (m, t) == (method.upper(), template)}
            assert answered, f"{method.upper()} {template} was not exercised"
            if template in ("/healthz", "/metrics", "/v1/openapi.json", "/readyz",
                            "/v1/admin/transfer-leader", "/v1/status", "/v1/genesis",
                            "/v1/institutions", "/v1/policy", "/v1/assets",
                            "/dashboard") or (method, template) == (
                                "get", "/v1/admin/faults"):
                continue  # their refusals need another node: the tests below
            assert any(s >= 400 for s in answered), f"{method.upper()} {template}: no error seen"


async def test_an_assets_reserves_and_reports_answer_as_the_document_says(start_node, keys):
    """The nested reserve report and the report list, filled, against their schemas."""
    node = await start_node()
    contract = await fetch_contract(f"http://{node.config.listen}")
    chain = node.genesis.chain_id
    txs = [sign_tx(keys["regulator"], chain, 0, AssetUpdate("USD", True, 0, 1_000)),
           sign_tx(keys["inst0"], chain, 0, ReserveReport("USD", 10**12, node.genesis.genesis_time,
                                                          bytes(32))),
           sign_tx(keys["inst0"], chain, 1, Issue("USD", keys["inst0"].address, 5_000)),
           sign_tx(keys["inst0"], chain, 2, Transfer("USD", keys["alice"].address, 5_000, ""))]
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        for t in txs:
            await exchange(http, contract, "POST", "/v1/txs", 202, json={"tx": t.raw.hex()})
        for t in txs:
            done = await exchange(http, contract, "GET", f"/v1/txs/{t.hash_hex}?wait=5", 200)
            assert done["status"] == "committed", done
        usd = await exchange(http, contract, "GET", "/v1/assets/usd", 200)
        assert usd["reserves"]["reporter"] == "inst0" and usd["coverage_bps"] > 10_000
        reports = await exchange(http, contract, "GET", "/v1/reports?kind=large", 200)
        assert [(r["kind"], r["amount"], r["tx_hash"]) for r in reports["reports"]] == [
            ("large", 5_000, txs[3].hash_hex)]


async def commit_all(http, contract: Contract, txs, **kw) -> None:
    for t in txs:
        await exchange(http, contract, "POST", "/v1/txs", 202, json={"tx": t.raw.hex()})
    for t in txs:
        done = await exchange(http, contract, "GET", f"/v1/txs/{t.hash_hex}?wait=5", 200, **kw)
        assert done["status"] == "committed", done


def settlement_txs(node, keys):
    """alice offers 1,000 USD for 900 EUR to anyone, and 10 USD for 10 EUR to bob alone; bob
    takes half of the first; alice escrows 300 USD for bob."""
    chain, now = node.genesis.chain_id, int(time.time() * 1000)
    alice, bob = keys["alice"], keys["bob"]
    public = sign_tx(alice, chain, 0, FxOffer("USD", 1_000, "EUR", 900, now + 3_600_000, True,
                                              b""))
    private = sign_tx(alice, chain, 1, FxOffer("USD", 10, "EUR", 10, now + 3_600_000, False,
                                               bob.address))
    take = sign_tx(bob, chain, 0, FxAccept(public.hash, 450))
    escrow = sign_tx(alice, chain, 2, EscrowCreate("USD", bob.address, 300, now,
                                                   now + 3_600_000, b""))
    return public, private, take, escrow


async def test_offers_and_escrows_answer_as_the_document_says(start_node, keys):
    """Filled records against their schemas: the book by pair, best rate first; a partly
    filled offer; an escrow releasable now; the asset's held units."""
    node = await start_node()
    contract = await fetch_contract(f"http://{node.config.listen}")
    public, private, take, escrow = settlement_txs(node, keys)
    alice, bob = keys["alice"].address_hex, keys["bob"].address_hex
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        await commit_all(http, contract, [public, private, take, escrow])
        book = await exchange(http, contract, "GET", "/v1/offers?give=usd&want=EUR", 200)
        # 1,000 for 900 gives a taker more USD per EUR than 10 for 10: it comes first
        assert [o["id"] for o in book["offers"]] == [public.hash_hex, private.hash_hex]
        half = await exchange(http, contract, "GET", f"/v1/offers/{public.hash_hex}", 200)
        assert (half["paid"], half["given"], half["locked"], half["remaining_want"]) == (
            450, 500, 500, 450)
        assert half["status"] == "open" and half["maker"] == alice
        mine = await exchange(http, contract, "GET", f"/v1/offers?maker={bob}", 200)
        assert mine["offers"] == []
        held = await exchange(http, contract, "GET", f"/v1/escrows?account={bob}", 200)
        assert [(e["id"], e["amount"], e["releasable"]) for e in held["escrows"]] == [
            (escrow.hash_hex, 300, True)]
        one = await exchange(http, contract, "GET", f"/v1/escrows/{escrow.hash_hex}", 200)
        assert one["payer"] == alice and one["to"] == bob and one["condition"] is None
        usd = await exchange(http, contract, "GET", "/v1/assets/USD", 200)
        assert usd["held"] == 500 + 10 + 300


async def test_a_token_sees_public_offers_and_its_own_settlements_only(start_node, keys,
                                                                      tmp_path):
    """Attack: a customer's read token (scoped to carol) lists the book and the escrows to
    learn what other customers trade privately: an offer made to bob alone, and alice's
    escrow for bob. It sees the offer open to anyone (a taker must find it) and nothing
    else; a direct read of the others is 404, as if they did not exist."""
    tokens = tmp_path / "tokens.json"
    node = await start_node(read_auth=True, read_tokens_file=str(tokens))
    carol = {"Authorization": f"Bearer {issue_token(tokens, [keys['carol'].address], False)}"}
    bob = {"Authorization": f"Bearer {issue_token(tokens, [keys['bob'].address], False)}"}
    supervisor = {"Authorization": f"Bearer {issue_token(tokens, [], True)}"}
    contract = await fetch_contract(f"http://{node.config.listen}")
    public, private, take, escrow = settlement_txs(node, keys)
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        await commit_all(http, contract, [public, private, take, escrow], headers=supervisor)
        await exchange(http, contract, "GET", "/v1/offers", 401)
        seen = await exchange(http, contract, "GET", "/v1/offers", 200, headers=carol)
        assert [o["id"] for o in seen["offers"]] == [public.hash_hex]
        await exchange(http, contract, "GET", f"/v1/offers/{private.hash_hex}", 404,
                       headers=carol)
        none = await exchange(http, contract, "GET", "/v1/escrows", 200, headers=carol)
        assert none["escrows"] == []
        await exchange(http, contract, "GET", f"/v1/escrows/{escrow.hash_hex}", 404,
                       headers=carol)
        await exchange(http, contract, "GET", f"/v1/escrows?account={keys['bob'].address_hex}",
                       403, headers=carol)
        # bob, the counterparty and the recipient, sees both
        offers = await exchange(http, contract, "GET", "/v1/offers", 200, headers=bob)
        assert {o["id"] for o in offers["offers"]} == {public.hash_hex, private.hash_hex}
        await exchange(http, contract, "GET", f"/v1/escrows/{escrow.hash_hex}", 200, headers=bob)


async def test_supervisory_reports_need_a_token_that_sees_every_account(start_node, keys,
                                                                       tmp_path):
    """Attack: a customer's token (scoped to its own account) reads every large transfer of
    the chain through the supervisor's report feed."""
    tokens = tmp_path / "tokens.json"
    node = await start_node(read_auth=True, read_tokens_file=str(tokens))
    scoped = issue_token(tokens, [keys["bob"].address], everything=False)
    supervisor = issue_token(tokens, [], everything=True)
    contract = await fetch_contract(f"http://{node.config.listen}")
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        await exchange(http, contract, "GET", "/v1/reports", 401)
        await exchange(http, contract, "GET", "/v1/reports", 403,
                       headers={"Authorization": f"Bearer {scoped}"})
        await exchange(http, contract, "GET", "/v1/reports?kind=structuring", 200,
                       headers={"Authorization": f"Bearer {supervisor}"})


async def test_refusals_of_the_read_limit_auth_and_readiness_match_the_document(
        start_node, start_follower, keys, tmp_path):
    tokens = tmp_path / "tokens.json"
    node = await start_node(read_auth=True, read_tokens_file=str(tokens),
                            read_rate_limit_per_s=0.001, read_rate_limit_burst=3)
    scoped = issue_token(tokens, [keys["bob"].address], everything=False)
    contract = await fetch_contract(f"http://{node.config.listen}")
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        await exchange(http, contract, "GET", f"/v1/accounts/{keys['bob'].address_hex}", 401)
        await exchange(http, contract, "GET", f"/v1/accounts/{keys['carol'].address_hex}", 403,
                       headers={"Authorization": f"Bearer {scoped}"})
        await exchange(http, contract, "GET", "/v1/genesis", 200)
        await exchange(http, contract, "GET", "/v1/status", 429)  # the burst of 3 is spent
        await exchange(http, contract, "GET", "/v1/genesis", 429)
        await exchange(http, contract, "GET", "/v1/institutions", 429)
        await exchange(http, contract, "GET", "/v1/policy", 429)
        await exchange(http, contract, "GET", "/v1/assets", 429)
    follower, _ = await start_follower(devnet=True, admin_token=ADMIN)
    async with aiohttp.ClientSession(f"http://{follower.config.listen}") as http:
        await exchange(http, contract, "GET", "/readyz", 503)  # no leader: not ready
        await exchange(http, contract, "POST", "/v1/admin/transfer-leader", 409,
                       json={"to": follower.id}, headers={"Authorization": f"Bearer {ADMIN}"})


async def test_a_loan_collected_on_schedule_answers_as_documented(start_node, keys, tmp_path):
    """inst0 lends alice 1_000 USD (2 % interest) in two instalments a second apart, from 3 s on: the idle
    node cuts the blocks that collect them on schedule; the loan, the book and alice's credit
    record match their schemas. Attack (read_auth): bob's customer token reads alice's loan
    (404, as if there were none), or her loans by a filter (403), or finds them in the book (it
    lists none); any token reads her credit record (what lenders share), none without: 401."""
    tokens = tmp_path / "tokens.json"
    node = await start_node(read_auth=True, read_tokens_file=str(tokens))
    mine = {"Authorization": f"Bearer {issue_token(tokens, [keys['alice'].address], False)}"}
    other = {"Authorization": f"Bearer {issue_token(tokens, [keys['bob'].address], False)}"}
    everything = {"Authorization": f"Bearer {issue_token(tokens, [], True)}"}
    contract = await fetch_contract(f"http://{node.config.listen}")
    chain, alice = node.genesis.chain_id, keys["alice"].address
    start = int(time.time() * 1000)
    funds = sign_tx(keys["inst0"], chain, 0, Issue("USD", keys["inst0"].address, 10_000))
    offer = sign_tx(keys["inst0"], chain, 1, LoanOffer(
        alice, "USD", 1_000, 200, ((start + 3_000, 510), (start + 4_000, 510)), 500, 1,
        start + 60_000))
    accept = sign_tx(keys["alice"], chain, 0, LoanAccept(offer.hash))
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as http:
        for t in (funds, offer, accept):
            await exchange(http, contract, "POST", "/v1/txs", 202, json={"tx": t.raw.hex()})
            done = await exchange(http, contract, "GET", f"/v1/txs/{t.hash_hex}?wait=5", 200,
                                  headers=everything)
            assert done["status"] == "committed", done
        loan = await exchange(http, contract, "GET", f"/v1/loans/{offer.hash_hex}", 200,
                              headers=mine)
        assert (loan["status"], loan["total"], loan["lender_institution"]) == (
            "current", 1_020, "inst0")
        await until("both instalments are collected",
                    lambda: node.loan_view(offer.hash).loan.status == "paid_off", timeout=15)
        loan = await exchange(http, contract, "GET", f"/v1/loans/{offer.hash_hex}", 200,
                              headers=mine)
        assert [i["state"] for i in loan["schedule"]] == ["paid", "paid"]
        assert loan["repaid"] == 1_020 and loan["next_collection_at"] is None
        await exchange(http, contract, "GET", f"/v1/loans/{offer.hash_hex}", 404, headers=other)
        await exchange(http, contract, "GET", f"/v1/loans/{offer.hash_hex}", 401)
        book = await exchange(http, contract, "GET", f"/v1/loans?borrower={alice.hex()}", 200,
                              headers=mine)
        assert [x["id"] for x in book["loans"]] == [offer.hash_hex]
        assert (await exchange(http, contract, "GET", "/v1/loans", 200, headers=other)
                )["loans"] == []  # bob's token sees no loan of his
        await exchange(http, contract, "GET", f"/v1/loans?borrower={alice.hex()}", 403,
                       headers=other)
        await exchange(http, contract, "GET", "/v1/loans?status=paid_off", 200,
                       headers=everything)
        credit = await exchange(http, contract, "GET", f"/v1/credit/{alice.hex()}", 200,
                                headers=other)
        assert (credit["loans"], credit["on_time"], credit["paid_off"], credit["late"]) == (
            1, 2, 1, 0)
        await exchange(http, contract, "GET", f"/v1/credit/{alice.hex()}", 401)
        # the borrower's token reads the offer made to her (a loan_offer's party: its borrower)
        await exchange(http, contract, "GET", f"/v1/txs/{offer.hash_hex}", 200, headers=mine)
        await exchange(http, contract, "GET", f"/v1/txs/{offer.hash_hex}", 403, headers=other)


async def test_every_registered_route_is_in_the_document(start_node):
    """A route added to the app without its documentation fails here."""
    node = await start_node(devnet=True, admin_token=ADMIN)
    contract = await fetch_contract(f"http://{node.config.listen}")
    app = build_app(node)
    try:
        routes = {(r.method, r.resource.canonical) for r in app.router.routes()
                  if r.method != "HEAD" and r.resource is not None}
    finally:
        await app.cleanup()
    missing = [f"{m} {p}" for m, p in sorted(routes)
               if m.lower() not in contract.doc["paths"].get(p, {})]
    assert not missing, f"document {missing} in node/server/openapi.py paths()"
    assert len(routes) >= 15
    assert PEER_PATH in contract.doc["x-websocket"]


def test_the_reason_code_enum_is_generated_from_the_error_classes():
    """A new error class is in the enum without anyone editing the document."""
    class Meteor(E.NodeError):
        code = "METEOR_STRIKE"
    assert "METEOR_STRIKE" in reason_codes()
    assert {cls.code for cls in E.ALL_ERRORS} <= set(reason_codes())
    assert {"UNAUTHENTICATED", "FORBIDDEN", "REQUEST_TIMEOUT", "NOT_READY"} <= set(reason_codes())
