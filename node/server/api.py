"""The HTTP API (DESIGN section 8): JSON by default, msgpack when the client asks for it.

Every error is `{"error": CODE, "message": ...}` with a fitting HTTP status. The handlers see
the node only through node.server.service.NodeService and render the typed values it returns.

Reads are bounded twice: each client has a read bucket (429 RATE_LIMITED past it), and the
heavy ones (a block, a committed tx, a proof) are read and rendered on a small thread pool, so
a client pulling large blocks never stalls the consensus loop. What runs there reads only the
store (plyvel reads are thread-safe) and records that never change once committed; the live
state and the mempool are read on the loop.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import msgpack
from aiohttp import web

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.crypto import parse_address
from node.ledger.state import Attestation, Escrow, Offer, SupervisoryReport
from node.ledger.types import LoanStatus, OfferStatus, ReportKind, Transaction, decode_tx
from node.ledger.types import _asset as _check_asset_code
from node.ledger.verify import tx_proof
from node.server import dashboard
from node.server.auth import EVERYTHING, Scope, TokenBook
from node.server.limits import (
    BLOCK_RECORDS_BYTES,
    MAX_BLOCK_RECORDS,
    RateLimiter,
    Slots,
    client_key,
    handler_args,
    retry_after_header,
)
from node.server.logs import note
from node.server.metrics import stage_clock
from node.server.openapi import document as openapi_document
from node.server.service import (
    AccountView,
    AssetView,
    BlockView,
    CreditView,
    EscrowQuery,
    EscrowView,
    InstitutionView,
    LoanView,
    NodeService,
    OfferQuery,
    OfferView,
    PolicyView,
    ProposalView,
    Readiness,
    TxStatus,
)

log = logging.getLogger("lichen.api")
MSGPACK = "application/msgpack"
NODE = web.AppKey("node", NodeService)
RATE = web.AppKey("rate", RateLimiter)
LONG_POLLS = web.AppKey("long_polls", Slots)
READS = web.AppKey("reads", RateLimiter)  # requests per client on the read routes
READ_POOL = web.AppKey("read_pool", ThreadPoolExecutor)
TOKENS = web.AppKey("tokens", TokenBook)  # present only with read_auth
OPENAPI = web.AppKey("openapi", bytes)  # the OpenAPI document, rendered once at start
MAX_WAIT_S = 60.0  # the longest a GET /v1/txs/{hash}?wait= holds its connection


class AdminRefused(E.NodeError):
    """Admin call without the devnet token."""
    code = "UNAUTHORIZED"
    http_status = 401


class BodyTimeout(E.NodeError):
    """The request body did not arrive in time."""
    code = "REQUEST_TIMEOUT"
    http_status = 408


# ---- rendering --------------------------------------------------------------------------------

def wants_msgpack(request: web.Request) -> bool:
    return MSGPACK in request.headers.get("Accept", "")


def reply(request: web.Request, body: dict, status: int = 200) -> web.Response:
    if wants_msgpack(request):
        return web.Response(body=msgpack.packb(body, use_bin_type=True), status=status,
                            content_type=MSGPACK)
    return web.json_response(body, status=status)


def encode(as_msgpack: bool, body: dict) -> tuple[bytes, str]:
    if as_msgpack:
        return msgpack.packb(body, use_bin_type=True), MSGPACK
    return json.dumps(body).encode(), "application/json"


async def off_loop(request: web.Request, work: Callable[[], object]):
    """`work()` on the read pool. It may read the store and committed records only."""
    return await asyncio.get_running_loop().run_in_executor(request.app[READ_POOL], work)


async def reply_off_loop(request: web.Request, render: Callable[[], dict]) -> web.Response:
    """A reply whose body is built and encoded on the read pool (a 2,000-tx block is ~1 MB)."""
    as_msgpack = wants_msgpack(request)
    data, content_type = await off_loop(request, lambda: encode(as_msgpack, render()))
    return web.Response(body=data, content_type=content_type)


def error_reply(request: web.Request, err: E.LedgerError, **extra) -> web.Response:
    resp = reply(request, {**err.to_json(), **extra}, err.http_status)
    if isinstance(err, E.RateLimited):
        resp.headers["Retry-After"] = retry_after_header(err.retry_after)
    elif isinstance(err, E.Unavailable):
        resp.headers["Retry-After"] = "1"
    elif isinstance(err, BodyTimeout):
        resp.force_close()  # the rest of the body may still be dribbling in
    return resp


def render_value(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [render_value(x) for x in v]
    return v


# optional payload fields a client sees only when set (old transactions render as before)
OMITTED_WHEN_EMPTY = frozenset({"travel_rule"})


def render_tx(tx: Transaction) -> dict:
    payload = {k: render_value(v) for k, v in tx.payload.__dict__.items()
               if v != () or k not in OMITTED_WHEN_EMPTY}
    return {"hash": tx.hash_hex, "kind": tx.kind, "sender": tx.sender.hex(), "nonce": tx.nonce,
            "payload": payload}


def render_status(tx_hash: bytes, s: TxStatus) -> dict:
    out: dict = {"hash": tx_hash.hex(), "status": s.status.value}
    if s.receipt is not None:
        out.update(height=s.receipt.height, index=s.receipt.index)
        if not s.receipt.ok:
            out.update(code=s.receipt.code, message=s.receipt.message)
    elif s.code:
        out.update(height=None, code=s.code, message=s.message, dropped=True)
    return out


# ---- middleware: every failure is a JSON error ------------------------------------------------

@web.middleware
async def errors_as_json(request: web.Request, handler):
    try:
        return await handler(request)
    except E.LedgerError as err:
        return error_reply(request, err)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[NODE].config.max_request_bytes
        return error_reply(request, E.TooLarge(f"request body over the {limit}-byte limit"))
    except web.HTTPException as exc:
        if exc.status >= 400:
            code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status, "HTTP_ERROR")
            return reply(request, {"error": code, "message": exc.reason}, exc.status)
        raise
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return reply(request, {"error": "INTERNAL", "message": "internal error"}, 500)


@web.middleware
async def limit_reads(request: web.Request, handler):
    """Each read costs its client one token of its read bucket (probes and metrics are free)."""
    if request.method == "GET" and request.match_info.handler in READ_HANDLERS:
        request.app[READS].take(client_key(request.remote), 1)
    return await handler(request)


def reader_scope(request: web.Request) -> Scope:
    """What the client may read: everything without read_auth, else its token's scope."""
    book = request.app.get(TOKENS)
    if book is None:
        return EVERYTHING
    return book.scope_of(request.headers.get("Authorization", ""))


async def _close_read_pool(app: web.Application) -> None:
    """Let reads in flight finish (they hold the store) before the node closes it."""
    await asyncio.to_thread(app[READ_POOL].shutdown, True, cancel_futures=True)


def build_app(node: NodeService) -> web.Application:
    cfg = node.config
    app = web.Application(client_max_size=cfg.max_request_bytes,
                          middlewares=[errors_as_json, limit_reads], handler_args=handler_args(cfg))
    app[NODE] = node
    app[RATE] = RateLimiter(cfg.rate_limit_txs_per_s, cfg.rate_limit_burst, cfg.rate_limit_clients)
    app[LONG_POLLS] = Slots(cfg.max_long_polls, "long-polls")
    app[READS] = RateLimiter(cfg.read_rate_limit_per_s, cfg.read_rate_limit_burst,
                             cfg.rate_limit_clients, unit="reads")
    app[READ_POOL] = ThreadPoolExecutor(max(1, cfg.read_workers), thread_name_prefix="lichen-read")
    app.on_cleanup.append(_close_read_pool)
    if cfg.read_auth:
        app[TOKENS] = TokenBook(cfg.read_tokens_file or "tokens.json")
    app.router.add_get("/v1/status", get_status)
    app.router.add_post("/v1/txs", post_txs)
    app.router.add_get("/v1/txs/{hash}", get_tx)
    app.router.add_get("/v1/blocks/latest", get_latest_block)
    app.router.add_get("/v1/blocks/raw", get_block_records)  # before {height}, which it would match
    app.router.add_get("/v1/blocks/{height}", get_block)
    app.router.add_get("/v1/blocks/{height}/raw", get_block_raw)
    app.router.add_get("/v1/accounts/{address}", get_account)
    app.router.add_get("/v1/proposals/{id}", get_proposal)
    app.router.add_get("/v1/institutions", get_institutions)
    app.router.add_get("/v1/policy", get_policy)
    app.router.add_get("/v1/assets", get_assets)
    app.router.add_get("/v1/assets/{code}", get_asset)
    app.router.add_get("/v1/reports", get_reports)
    app.router.add_get("/v1/offers", get_offers)
    app.router.add_get("/v1/offers/{id}", get_offer)
    app.router.add_get("/v1/escrows", get_escrows)
    app.router.add_get("/v1/escrows/{id}", get_escrow)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/v1/proofs/{hash}", get_proof)
    app.router.add_get("/v1/genesis", get_genesis)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/openapi.json", get_openapi)
    # loans (issue 13)
    app.router.add_get("/v1/loans", get_loans)
    app.router.add_get("/v1/loans/{id}", get_loan)
    app.router.add_get("/v1/credit/{account}", get_credit)
    app[OPENAPI] = json.dumps(openapi_document()).encode()
    dashboard.add_routes(app, node, reader_scope)  # GET /dashboard, /v1/events (and devnet faults)
    if cfg.devnet:  # the admin endpoints exist only on devnet nodes, and want its token
        app.router.add_post("/v1/admin/faults", post_faults)
        app.router.add_post("/v1/admin/transfer-leader", post_transfer_leader)
    return app


# ---- handlers ---------------------------------------------------------------------------------

async def get_status(request: web.Request) -> web.Response:
    return reply(request, request.app[NODE].node_status().to_json())


async def read_body(request: web.Request) -> bytes:
    """The whole body, within the body timeout (a client dribbling it gets 408 and is cut off)."""
    timeout = request.app[NODE].config.http_body_timeout_s
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise BodyTimeout(f"the request body did not arrive within {timeout:g}s") from None


def parse_json(body: bytes):
    """Untrusted JSON; nesting too deep for the parser is malformed too, not a crash."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise E.Malformed("body is not valid JSON") from None


async def read_json(request: web.Request):
    return parse_json(await read_body(request))


async def read_submission(request: web.Request) -> tuple[list[bytes], bool]:
    """The posted transactions as raw bytes, and whether the client sent a batch."""
    body = await read_body(request)
    if request.content_type == MSGPACK or request.content_type == "application/octet-stream":
        return _msgpack_submission(body)
    doc = parse_json(body)
    if isinstance(doc, dict) and isinstance(doc.get("tx"), str):
        return [_unhex(doc["tx"])], False
    if isinstance(doc, dict) and isinstance(doc.get("txs"), list):
        return [_unhex(t) for t in doc["txs"]], True
    raise E.Malformed('expected {"tx": HEX} or {"txs": [HEX, ...]}')


def _unhex(v) -> bytes:
    if not isinstance(v, str):
        raise E.Malformed("transactions are hex strings of their msgpack encoding")
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise E.Malformed("transaction is not valid hex") from None


def _msgpack_submission(body: bytes) -> tuple[list[bytes], bool]:
    if body[:1] == b"\x96":  # a bare signed transaction (an array of 6)
        return [body], False
    try:
        obj = msgpack.unpackb(body, raw=False, max_ext_len=0)
    except Exception:
        raise E.Malformed("body is not valid msgpack") from None
    if isinstance(obj, bytes):
        return [obj], False
    if isinstance(obj, list) and all(isinstance(t, bytes) for t in obj):
        return obj, True
    raise E.Malformed("expected a signed transaction, or an array of them as bin")


async def post_txs(request: web.Request) -> web.Response:
    node = request.app[NODE]
    client = client_key(request.remote)
    request.app[RATE].check(client)  # a client out of tokens is refused before its body is read
    raws, batch = await read_submission(request)
    if len(raws) > node.config.max_batch_txs:
        raise E.TooLarge(f"a batch holds at most {node.config.max_batch_txs} transactions")
    request.app[RATE].take(client, len(raws))  # every tx costs, admitted or not
    await node.verify_ahead(raws)  # signatures in the pool's workers, off the loop
    start = stage_clock()  # the loop's share of a submission (the awaits excluded)
    verdicts = node.submit_many(raws)
    request.app[RATE].penalise(client, refused_cost(verdicts, node.config.rate_limit_refused_cost))
    response = submission_reply(request, raws, verdicts, batch)
    node.stages.add("http_submit", stage_clock() - start)
    return response


def submission_reply(request: web.Request, raws: list[bytes],
                     verdicts: list[Transaction | E.LedgerError], batch: bool) -> web.Response:
    results = [_result_of(raw, r) for raw, r in zip(raws, verdicts, strict=True)]
    if batch:
        return reply(request, {"results": results})
    result = results[0]
    if "error" in result:
        return reply(request, result, _status_of(result["error"]))
    return reply(request, result, 202)


# Refusals that are no fault of the client's transaction: a retry of one the pool already
# holds, or a node out of room. Every other refusal (bad signature, unknown or unattested
# sender, bad nonce, ...) cost the node a check for nothing, so it costs the client more.
_NOT_THE_CLIENTS_FAULT = frozenset({E.Duplicate.code, E.MempoolFull.code})


def refused_cost(verdicts: list[Transaction | E.LedgerError], cost: int) -> int:
    """The extra tokens a submission's refused transactions cost its client (`cost` each)."""
    if cost <= 0:
        return 0
    refused = sum(1 for v in verdicts
                  if isinstance(v, E.LedgerError) and v.code not in _NOT_THE_CLIENTS_FAULT)
    return refused * cost


def _result_of(raw: bytes, r: Transaction | E.LedgerError) -> dict:
    if isinstance(r, E.LedgerError):
        return {"hash": sha256(raw).hex(), **r.to_json()}
    return {"hash": r.hash_hex, "status": "pending"}


def _status_of(code: str) -> int:
    for cls in E.ALL_ERRORS:
        if cls.code == code:
            return cls.http_status
    return 422


def _parse_hash(text: str) -> bytes:
    try:
        h = bytes.fromhex(text)
    except ValueError:
        h = b""
    if len(h) != 32:
        raise E.Malformed("a transaction hash is 64 hex digits")
    return h


async def get_tx(request: web.Request) -> web.Response:
    node = request.app[NODE]
    scope = reader_scope(request)
    tx_hash = _parse_hash(request.match_info["hash"])
    try:
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        wait = math.nan
    if math.isnan(wait):
        raise E.Malformed("wait is a number of seconds")
    wait = min(wait, MAX_WAIT_S)
    status = node.tx_status(tx_hash)
    if wait > 0 and not status.final:
        with request.app[LONG_POLLS].hold():
            status = await node.wait_for(tx_hash, wait)
    body = render_status(tx_hash, status)
    receipt = status.receipt
    if receipt is None:
        return reply(request, body)

    def render() -> dict:  # finding the tx decodes its whole block
        tx = node.committed_tx(receipt)
        scope.require_tx(tx)
        return {**body, "tx": render_tx(tx)}
    return await reply_off_loop(request, render)


def _block_height(node: NodeService, text: str) -> int:
    if text == "latest":
        return node.height()
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or int(text) >= 2**64:
        raise E.Malformed("height is a non-negative 64-bit integer or 'latest'")
    return int(text)


def block_at(node: NodeService, height: int, tip: int, with_txs: bool = True) -> BlockView:
    """The committed block at `height` (`tip`: the chain's height, for the refusal)."""
    view = node.block_view(height, with_txs)
    if view is None:
        raise E.NotFound(f"no block at height {height} (the chain is at {tip})")
    return view


def render_block(view: BlockView, with_txs: bool = True) -> dict:
    """The block as JSON; with_txs False leaves out `txs` (a replay needs only the header's
    state hash and certificate, and the raw block from /raw)."""
    block = view.block
    h = block.header
    txs = []
    for item in view.txs:
        entry = render_tx(item.tx)
        receipt = item.receipt
        if receipt is not None and not receipt.ok:
            entry.update(code=receipt.code, message=receipt.message)
        entry["status"] = "committed" if receipt is None or receipt.ok else "failed"
        txs.append(entry)
    return {"height": h.height, "hash": block.hash.hex(), "prev_hash": h.prev_hash.hex(),
            "tx_root": h.tx_root.hex(), "timestamp": h.timestamp, "proposer": h.proposer.hex(),
            "term": h.term, "state_hash": view.state_hash.hex(), "tx_count": len(block.txs),
            **({"txs": txs} if with_txs else {}), **render_certificate(view)}


def render_certificate(view: BlockView) -> dict:
    """Who certified the block (a majority of `validators` signed chain, height, hash, state
    hash); null and [] while this node holds no certificate for it."""
    cert = view.certificate
    return {"signers": [s.hex() for s in cert.signers] if cert is not None else [],
            "validators": [v.hex() for v in view.voters],
            "certificate": cert.to_json() if cert is not None else None}


async def get_block(request: web.Request) -> web.Response:
    node = request.app[NODE]
    reader_scope(request).require_everything("blocks")
    height = _block_height(node, request.match_info["height"])
    with_txs = _flag(request, "txs", default=True)
    tip = node.height()
    return await reply_off_loop(request, lambda: render_block(block_at(node, height, tip, with_txs),
                                                              with_txs))


def _flag(request: web.Request, name: str, default: bool) -> bool:
    """A true/false query parameter; anything else is MALFORMED."""
    text = request.query.get(name)
    if text is None:
        return default
    if text not in ("true", "false"):
        raise E.Malformed(f"{name} must be true or false")
    return text == "true"


async def get_latest_block(request: web.Request) -> web.Response:
    node = request.app[NODE]
    reader_scope(request).require_everything("blocks")
    tip = node.height()
    if tip == 0:
        raise E.NotFound("no block has been committed yet")
    return await reply_off_loop(request, lambda: render_block(block_at(node, tip, tip)))


async def get_block_raw(request: web.Request) -> web.Response:
    """The block's canonical bytes, for peers catching up and for offline verification."""
    node = request.app[NODE]
    reader_scope(request).require_everything("blocks")
    height = _block_height(node, request.match_info["height"])
    raw = await off_loop(request, lambda: node.block_bytes(height))
    if raw is None:
        raise E.NotFound(f"no block at height {height}")
    return web.Response(body=raw, content_type="application/octet-stream")


async def get_block_records(request: web.Request) -> web.Response:
    """GET /v1/blocks/raw?from=H&count=N: a replay's read, the committed blocks from H on as
    msgpack [[height, raw block, state hash after it, certificate wire or nil], ...]; at most
    N (default and cap MAX_BLOCK_RECORDS), and fewer once their bytes reach
    BLOCK_RECORDS_BYTES; an empty list from beyond the tip."""
    node = request.app[NODE]
    reader_scope(request).require_everything("blocks")
    start = _int_param(request, "from", 1, 2**64 - 1, None,
                       "from must be a block height (an integer, 1 or more)")
    count = _int_param(request, "count", 1, MAX_BLOCK_RECORDS, MAX_BLOCK_RECORDS,
                       f"count must be an integer from 1 to {MAX_BLOCK_RECORDS}")
    body = await off_loop(request, lambda: msgpack.packb(
        [r.to_wire() for r in node.block_records(start, count, BLOCK_RECORDS_BYTES)],
        use_bin_type=True))
    return web.Response(body=body, content_type=MSGPACK)


def _int_param(request: web.Request, name: str, low: int, high: int, default: int | None,
               refusal: str) -> int:
    """An integer query parameter in [low, high], else MALFORMED with `refusal`; required
    when `default` is None."""
    raw = request.query.get(name, "")
    if raw == "" and default is not None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 20 or not low <= int(raw) <= high:
        raise E.Malformed(refusal)
    return int(raw)


async def get_account(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        address = parse_address(request.match_info["address"])
    except ValueError as exc:
        raise E.Malformed(str(exc)) from None
    reader_scope(request).require_account(address)
    return reply(request, render_account(node.account_view(address)))


def render_account(view: AccountView) -> dict:
    acct = view.account
    body = {"address": view.address.hex(), "nonce": acct.nonce, "next_nonce": view.next_nonce,
            "balances": dict(sorted(acct.balances.items())), "frozen": acct.frozen,
            "attestation": None, "kyc": render_kyc(view.kyc_refusal)}
    if view.attestation is not None:  # the one that counts (or the first, if none does)
        body["attestation"] = render_attestation(view.attestation)
    # every issuer's, by issuer name
    body["attestations"] = [render_attestation(a) for _, a in sorted(acct.attestations.items())]
    if view.institution is not None:
        body["institution"] = {"name": view.institution, "roles": sorted(view.roles)}
        if view.license_expiries:
            body["institution"]["expires_at"] = dict(sorted(view.license_expiries))
    return body


def render_attestation(a: Attestation) -> dict:
    return {"issuer": a.issuer, "tier": a.tier, "jurisdiction": a.jurisdiction,
            "expires_at": a.expires_at, "evidence_hash": a.evidence_hash.hex(),
            "revoked": a.revoked, "epoch": a.epoch}


def render_kyc(refusal: E.LedgerError | None) -> dict:
    """Whether the account could transact at the last block's time, and if not, why."""
    if refusal is None:
        return {"valid": True}
    return {"valid": False, **refusal.to_json()}


async def get_proposal(request: web.Request) -> web.Response:
    """A governance proposal: what it changes, who approved, open or applied, and whether it
    is still within its time (judged at the last block's timestamp)."""
    view = request.app[NODE].proposal_view(_parse_hash(request.match_info["id"]))
    if view is None:
        raise E.NotFound("no such proposal")
    return reply(request, render_proposal(view))


def render_proposal(view: ProposalView) -> dict:
    p = view.proposal
    return {"id": view.proposal_id.hex(), "action": p.action, "institution": p.institution,
            "role": p.role, "expires_at": p.expires_at, "expired": view.expired,
            "proposer": p.proposer, "approvals": list(p.approvals), "status": p.status,
            "validators": sorted(view.validators)}


async def healthz(request: web.Request) -> web.Response:
    return reply(request, {"ok": True})


# ---- readiness: what an orchestrator waits for before sending traffic --------------------------

async def readyz(request: web.Request) -> web.Response:
    """200 when the node can serve current data and take part in commits; 503 with reasons."""
    readiness = request.app[NODE].readiness()
    reasons = readiness.reasons()
    body = readiness.to_json()
    if reasons:
        return reply(request, {**body, "reasons": reasons, "error": "NOT_READY",
                               "message": "; ".join(reasons)}, 503)
    return reply(request, body)


def not_ready_reasons(node) -> list[str]:
    """The readiness rule (service.Readiness.reasons) for an object shaped like the first
    daemon (id, role, raft, p2p, store). Only tests/test_records.py still calls it; the API
    asks its service for a Readiness."""
    return Readiness(node.id, node.role, node.raft.leader_id, node.raft.status().commit,
                     node.store.applied_index(), frozenset(node.p2p.connected_peers()),
                     frozenset(node.raft.conf_state.voters)).reasons()


# ---- verifiable records -------------------------------------------------------------------------

async def get_proof(request: web.Request) -> web.Response:
    """The Merkle inclusion proof of a committed transaction, with its block header."""
    tx_hash = _parse_hash(request.match_info["hash"])
    node = request.app[NODE]
    scope = reader_scope(request)

    def render() -> dict:  # on the read pool: decodes the block, hashes its Merkle path
        proof = node.tx_proof(tx_hash)
        if proof is None:
            raise E.NotFound(f"no committed transaction {tx_hash.hex()}")
        scope.require_tx(decode_tx(proof.block.txs[proof.index]))
        return tx_proof(proof.block, proof.index, proof.receipt, proof.certificate, proof.voters)
    return await reply_off_loop(request, render)


async def get_institutions(request: web.Request) -> web.Response:
    """Every institution with its current node and authority keys (after any key_rotate) and
    its licenses now."""
    views = request.app[NODE].institutions()
    return reply(request, {"institutions": [render_institution(v) for v in views]})


def render_institution(view: InstitutionView) -> dict:
    return {"name": view.name, "node_key": view.node_key.hex(),
            "authority_key": view.authority_key.hex(), "rotated": view.rotated,
            "roles": sorted(view.roles), "jurisdiction": view.jurisdiction,
            "address": view.address, "peer_address": view.peer_address,
            "display": view.display}


async def get_policy(request: web.Request) -> web.Response:
    """The policy the ledger applies now: blocked jurisdictions (after any jurisdiction_block
    or _unblock), KYC tiers with their limits per asset, and the institutions."""
    return reply(request, render_policy(request.app[NODE].policy()))


def render_policy(view: PolicyView) -> dict:
    return {"blocked_jurisdictions": list(view.blocked_jurisdictions),
            "tiers": [{"tier": t.tier, "name": t.name,
                       "limits": {a: {"per_tx": lim.per_tx, "daily": lim.daily}
                                  for a, lim in sorted(t.limits.items())}} for t in view.tiers],
            "institutions": [render_institution(i) for i in view.institutions]}


async def get_assets(request: web.Request) -> web.Response:
    """Every asset now, with supply, reserves and coverage."""
    return reply(request, {"assets": [render_asset(v) for v in request.app[NODE].assets()]})


async def get_asset(request: web.Request) -> web.Response:
    """One asset: its record, supply, latest reserve report (who reported when, co-signed by
    whom) and the coverage of supply by reserves."""
    code = _check_asset_code("asset code", request.match_info["code"].upper())
    view = request.app[NODE].asset_view(code)
    if view is None:
        raise E.NotFound(f"no asset {code}")
    return reply(request, render_asset(view))


def _time_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 19:
        raise E.Malformed(f"{name} must be unix milliseconds")
    return int(raw)


async def get_reports(request: web.Request) -> web.Response:
    """The supervisory reports the ledger holds (large and structuring transfers), oldest
    first, filtered by kind and by block time in [from, to]. With read_auth, only a token that
    sees every account reads them."""
    reader_scope(request).require_everything("supervisory reports")
    kind = request.query.get("kind", "")
    if kind not in ("", *(k.value for k in ReportKind)):
        raise E.Malformed(f"kind must be one of {', '.join(k.value for k in ReportKind)}")
    start = _time_param(request, "from", 0)
    end = _time_param(request, "to", 2**63 - 1)
    reports = [r for r in request.app[NODE].supervisory_reports()
               if (not kind or r.kind == kind) and start <= r.time <= end]
    return reply(request, {"reports": [render_report(r) for r in reports]})


def render_report(r: SupervisoryReport) -> dict:
    return {"seq": r.seq, "kind": r.kind, "asset": r.asset, "sender": r.sender.hex(),
            "recipient": r.recipient.hex(), "amount": r.amount, "window_total": r.window_total,
            "threshold": r.threshold, "time": r.time, "tx_hash": r.tx_hash.hex()}


def render_asset(view: AssetView) -> dict:
    a, r = view.asset, view.reserves
    return {"code": a.code, "issuer": a.issuer, "decimals": a.decimals, "clawback": a.clawback,
            "reserve_backed": a.reserve_backed, "reserve_max_age_ms": a.reserve_max_age_ms,
            "report_threshold": a.report_threshold, "frozen": view.frozen,
            "supply": view.supply, "held": view.held, "coverage_bps": view.coverage_bps,
            "reserves": None if r is None else {
                "report": r.report.hex(), "amount": r.amount, "as_of": r.as_of,
                "evidence_hash": r.evidence_hash.hex(), "reporter": r.reporter,
                "reported_at": r.reported_at, "auditor": r.auditor or None,
                "attested_at": r.attested_at or None, "stale": view.stale}}


# ---- settlement: FX offers and escrows --------------------------------------------------------

LIST_LIMIT = 100  # default and
MAX_LIST_LIMIT = 1000  # largest `limit` of the offer and escrow lists


def _limit_param(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    if raw == "":
        return LIST_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        raise E.Malformed(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}")
    return int(raw)


def _status_param(request: web.Request) -> bool:
    """status=open (the default) or status=all: whether to list open records only."""
    status = request.query.get("status", "open")
    if status not in ("open", "all"):
        raise E.Malformed("status must be open or all")
    return status == "open"


def _address_text(text: str, name: str) -> bytes:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise E.Malformed(f"{name}: {exc}") from None


def _address_param(request: web.Request, name: str) -> bytes:
    """An address query parameter; b"" when absent."""
    raw = request.query.get(name, "")
    return _address_text(raw, name) if raw else b""


def _asset_param(request: web.Request, name: str) -> str:
    raw = request.query.get(name, "")
    return _check_asset_code(name, raw.upper()) if raw else ""


def offer_visible(scope: Scope, o: Offer) -> bool:
    """With read_auth a token sees offers open to anyone (a taker must find them), and those
    its accounts made or were made."""
    return not o.counterparty or scope.sees(o.maker) or scope.sees(o.counterparty)


async def get_offers(request: web.Request) -> web.Response:
    """FX offers: open ones by default (status=all for every offer), filtered by give/want
    asset and maker; within a pair the best rate for a taker first."""
    scope = reader_scope(request)
    query = OfferQuery(_asset_param(request, "give"), _asset_param(request, "want"),
                       _address_param(request, "maker"), _status_param(request),
                       _limit_param(request))
    views = [v for v in request.app[NODE].offers(query) if offer_visible(scope, v.offer)]
    return reply(request, {"offers": [render_offer(v) for v in views]})


async def get_offer(request: web.Request) -> web.Response:
    view = request.app[NODE].offer_view(_parse_hash(request.match_info["id"]))
    if view is None or not offer_visible(reader_scope(request), view.offer):
        raise E.NotFound("no such offer")
    return reply(request, render_offer(view))


def render_offer(view: OfferView) -> dict:
    o = view.offer
    return {"id": view.offer_id.hex(), "maker": o.maker.hex(),
            "give_asset": o.give_asset, "give_amount": o.give_amount,
            "want_asset": o.want_asset, "want_amount": o.want_amount,
            "given": o.given, "paid": o.paid, "locked": o.locked,
            "remaining_want": o.wanted if o.status == OfferStatus.OPEN else 0,
            "partial": o.partial, "counterparty": o.counterparty.hex() or None,
            "expires_at": o.expires_at, "expired": view.expired, "created_at": o.created_at,
            "status": o.status, "closed_at": o.closed_at or None}


def escrow_visible(scope: Scope, e: Escrow) -> bool:
    """A token sees the escrows its accounts pay or receive."""
    return scope.sees(e.payer) or scope.sees(e.to)


async def get_escrows(request: web.Request) -> web.Response:
    """Escrows: open ones by default (status=all for every one), filtered by account (the
    payer or the recipient); soonest release first. A token sees its accounts' escrows."""
    scope = reader_scope(request)
    account = _address_param(request, "account")
    if account:
        scope.require_account(account)
    query = EscrowQuery(account, _status_param(request), _limit_param(request))
    views = [v for v in request.app[NODE].escrows(query) if escrow_visible(scope, v.escrow)]
    return reply(request, {"escrows": [render_escrow(v) for v in views]})


async def get_escrow(request: web.Request) -> web.Response:
    view = request.app[NODE].escrow_view(_parse_hash(request.match_info["id"]))
    if view is None or not escrow_visible(reader_scope(request), view.escrow):
        raise E.NotFound("no such escrow")
    return reply(request, render_escrow(view))


def render_escrow(view: EscrowView) -> dict:
    e = view.escrow
    return {"id": view.escrow_id.hex(), "payer": e.payer.hex(), "to": e.to.hex(),
            "asset": e.asset, "amount": e.amount, "release_after": e.release_after,
            "cancel_after": e.cancel_after, "condition": e.condition.hex() or None,
            "created_at": e.created_at, "status": e.status, "closed_at": e.closed_at or None,
            "releasable": view.releasable, "cancellable": view.cancellable}


async def get_genesis(request: web.Request) -> web.Response:
    """The genesis this node runs (its canonical hash is the chain id), for offline replays."""
    return reply(request, request.app[NODE].genesis_json())


async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API (node.server.openapi)."""
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[NODE].metrics_text(), content_type="text/plain")


# ---- loans (node.ledger.rules.loans) -------------------------------------------------------------

async def get_loans(request: web.Request) -> web.Response:
    """Loans by id, filtered by borrower, lender and status. With read_auth a token sees the
    loans its accounts borrowed or lent (a filter by an account it does not cover: 403)."""
    borrower, lender = _address_param(request, "borrower"), _address_param(request, "lender")
    status = request.query.get("status", "")
    if status not in ("", *(s.value for s in LoanStatus)):
        raise E.Malformed(f"status must be one of {', '.join(s.value for s in LoanStatus)}")
    scope = reader_scope(request)
    for account in (borrower, lender):
        if account:
            scope.require_account(account)
    views = [v for v in request.app[NODE].loans()
             if (not borrower or v.loan.borrower == borrower)
             and (not lender or v.loan.lender == lender)
             and (not status or v.loan.status == status) and loan_visible(scope, v)]
    return reply(request, {"loans": [render_loan(v) for v in views]})


def loan_visible(scope: Scope, view: LoanView) -> bool:
    """A token sees the loans of the accounts it covers, as borrower or lender."""
    return scope.sees(view.loan.borrower) or scope.sees(view.loan.lender)


async def get_loan(request: web.Request) -> web.Response:
    """One loan: its terms, schedule (each instalment paid, missed, due or upcoming), what was
    repaid, what is in arrears, its status and its next collection turn."""
    view = request.app[NODE].loan_view(_parse_hash(request.match_info["id"]))
    if view is None or not loan_visible(reader_scope(request), view):
        raise E.NotFound("no such loan")
    return reply(request, render_loan(view))


async def get_credit(request: web.Request) -> web.Response:
    """A borrower's on-chain credit history: on-time and missed instalments, defaulted, paid-off
    and written-off loans, and its loans. Any reader the node admits reads it (with read_auth,
    any token): lenders check a borrower before they lend."""
    address = _address_text(request.match_info["account"], "account")
    reader_scope(request)
    return reply(request, render_credit(request.app[NODE].credit_view(address)))


def instalment_state(loan, k: int) -> str:
    """paid, missed (unpaid past its grace), due (unpaid, within grace) or upcoming."""
    if loan.repaid >= loan.owed_by(k + 1):
        return "paid"
    if k < loan.judged:
        return "missed"
    return "due" if k < loan.due_seen else "upcoming"


def render_loan(view: LoanView) -> dict:
    ln = view.loan
    return {"id": view.loan_id.hex(), "lender": ln.lender.hex(),
            "lender_institution": view.lender_institution, "borrower": ln.borrower.hex(),
            "asset": ln.asset, "principal": ln.principal, "interest_bps": ln.interest_bps,
            "total": ln.total, "repaid": ln.repaid, "outstanding": ln.outstanding,
            "arrears": ln.arrears, "status": ln.status, "offer_expired": view.offer_expired,
            "schedule": [{"due_at": due, "amount": amount, "state": instalment_state(ln, k),
                          "paid": min(amount, max(0, ln.repaid - ln.owed_by(k)))}
                         for k, (due, amount) in enumerate(ln.schedule)],
            "grace_ms": ln.grace_ms, "default_after": ln.default_after, "misses": ln.misses,
            "expires_at": ln.expires_at, "created_at": ln.created_at,
            "accepted_at": ln.accepted_at or None, "closed_at": ln.closed_at or None,
            "next_collection_at": ln.next_at}


def render_credit(view: CreditView) -> dict:
    r = view.record
    return {"account": view.address.hex(), "loans": r.loans, "on_time": r.on_time,
            "late": r.late, "defaulted": r.defaulted, "paid_off": r.paid_off,
            "written_off": r.written_off,
            "open": [v.loan_id.hex() for v in view.loans
                     if v.loan.status in (LoanStatus.CURRENT, LoanStatus.LATE,
                                          LoanStatus.DEFAULTED)],
            "history": [{"id": v.loan_id.hex(), "lender_institution": v.lender_institution,
                         "asset": v.loan.asset, "principal": v.loan.principal,
                         "status": v.loan.status, "misses": v.loan.misses}
                        for v in view.loans if v.loan.status != LoanStatus.OFFERED]}


# The routes a client reads the chain with: each costs a token of the client's read bucket.
READ_HANDLERS = frozenset({get_status, get_tx, get_latest_block, get_block, get_block_raw,
                           get_block_records,
                           get_account, get_proposal, get_proof, get_genesis, get_institutions,
                           dashboard.get_events, get_policy, get_assets, get_asset,
                           get_reports, get_offers, get_offer, get_escrows, get_escrow}
                          | {get_loans, get_loan, get_credit})


# ---- devnet administration ----------------------------------------------------------------------

def check_admin_token(request: web.Request) -> None:
    token = request.app[NODE].config.admin_token
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                            f"Bearer {token}".encode()):
        raise AdminRefused("the admin endpoint needs the devnet's token (Authorization: Bearer ...)")


async def post_faults(request: web.Request) -> web.Response:
    """{"partition": [node ids]} | {"lossy": {"peers": [ids] | null, "fraction": f}} | {"heal": true}"""
    check_admin_token(request)
    node = request.app[NODE]
    doc = await read_json(request)
    faults = node.faults()
    if not isinstance(doc, dict):
        raise E.Malformed("expected a JSON object")
    if doc.get("heal"):
        faults.heal()
    elif isinstance(doc.get("partition"), list):
        faults.partition([str(p) for p in doc["partition"]])
    elif isinstance(doc.get("lossy"), dict):
        lossy = doc["lossy"]
        fraction, peers = lossy.get("fraction"), lossy.get("peers")
        if type(fraction) not in (int, float) or not 0 <= fraction <= 1:
            raise E.Malformed("lossy.fraction is a number from 0 to 1")
        if peers is not None and not (isinstance(peers, list) and all(type(p) is str for p in peers)):
            raise E.Malformed("lossy.peers is a list of node ids, or null for every peer")
        faults.lossy(peers, float(fraction))
    else:
        raise E.Malformed('expected "partition", "lossy" or "heal"')
    st = faults.state()
    cleared = not (st.partitioned or st.loss or st.loss_all)
    note(log, logging.WARNING, "faults_cleared" if cleared else "faults_set",
         "devnet faults now %s", st, partitioned=sorted(st.partitioned), loss=dict(st.loss),
         loss_all=st.loss_all)
    return reply(request, {"ok": True, "partitioned": sorted(st.partitioned), "loss": st.loss,
                           "loss_all": st.loss_all})


async def post_transfer_leader(request: web.Request) -> web.Response:
    """{"to": node id}: hand leadership to that voter (on the leader; others answer NOT_LEADER)."""
    check_admin_token(request)
    node = request.app[NODE]
    doc = await read_json(request)
    target = doc.get("to") if isinstance(doc, dict) else None
    if not isinstance(target, str):
        raise E.Malformed('expected {"to": NODE_ID}')
    node.transfer_leadership(target)
    return reply(request, {"ok": True, "from": node.id, "to": target})
