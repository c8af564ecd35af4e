"""The OpenAPI 3.1 document of the HTTP API (node.server.api), served at GET /v1/openapi.json.

Built from Python rather than kept as a file, so it stays in step with the code: the reason
codes are read off the error classes (node.ledger.errors and the API's own), and
tests/test_openapi.py fails when a route the app registers is missing here, or when a real
response does not match its schema. Every object schema allows additional properties: the
contract grows by adding fields (DESIGN section 8), so a client must ignore what it does not
know.
"""
from __future__ import annotations

from typing import Any

from node.ledger import errors as E
from node.server.limits import BLOCK_RECORDS_BYTES, MAX_BLOCK_RECORDS

Schema = dict[str, Any]

JSON = "application/json"
MSGPACK = "application/msgpack"
OCTETS = "application/octet-stream"

# Codes the API answers with that are no ledger rejection (node.server.api's middleware and
# /readyz): an unknown route or method, another HTTP failure, a bug, a node not ready.
TRANSPORT_CODES = ("NOT_FOUND", "METHOD_NOT_ALLOWED", "HTTP_ERROR", "INTERNAL", "NOT_READY")


def reason_codes() -> list[str]:
    """Every reason code a response may carry: each class under LedgerError that defines one
    (the API's and auth's included, once imported), and the transport codes. Sorted."""
    codes: set[str] = set(TRANSPORT_CODES)
    todo: list[type[E.LedgerError]] = [E.LedgerError]
    while todo:
        cls = todo.pop()
        if "code" in vars(cls) and cls is not E.LedgerError:
            codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    return sorted(codes)


# ---- schema helpers -------------------------------------------------------------------------

def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None,
        description: str = "") -> Schema:
    """An object with these fields; others may be added later (clients ignore them)."""
    out: Schema = {"type": "object", "required": list(required),
                   "properties": {**required, **(optional or {})},
                   "additionalProperties": True}
    if description:
        out["description"] = description
    return out


def nullable(s: Schema) -> Schema:
    return {"anyOf": [s, {"type": "null"}]}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer", "minimum": 0}
BOOL: Schema = {"type": "boolean"}
NUM: Schema = {"type": "number"}
HEX: Schema = {"type": "string", "pattern": "^([0-9a-f]{2})*$", "description": "lowercase hex"}
HASH: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$",
                "description": "32 bytes, lowercase hex"}
NODE_ID: Schema = {"type": "string", "description": "a node key, lowercase hex"}


def schemas() -> dict[str, Schema]:
    tx = obj({"hash": HASH, "kind": STR, "sender": HASH, "nonce": INT,
              "payload": {"type": "object", "additionalProperties": True,
                          "description": "the kind's fields; bytes as hex"}})
    certificate = obj({"chain_id": HASH, "height": INT, "block_hash": HASH, "state_hash": HASH,
                       "signatures": {"type": "array", "items": obj({"signer": HASH,
                                                                     "signature": HEX})}},
                      description="a majority of the validators signed (chain, height, block "
                                  "hash, state hash)")
    return {
        "Error": obj({"error": ref("ReasonCode"), "message": STR},
                     {"retry_after": NUM, "dropped": BOOL},
                     "every refusal: a stable reason code and a sentence"),
        "ReasonCode": {"type": "string", "enum": reason_codes(),
                       "description": "generated from the error classes (node.ledger.errors)"},
        "Status": obj({
            "node_id": NODE_ID, "name": STR, "institution": nullable(STR),
            "role": {"type": "string", "enum": ["leader", "follower", "candidate", "observer",
                                                "joining", "unlicensed"]},
            "term": INT, "leader_id": nullable(NODE_ID), "commit_index": INT,
            "applied_index": INT, "height": INT, "block_hash": HEX, "state_hash": HEX,
            "timestamp": INT, "mempool_size": INT,
            "peers": {"type": "array", "items": NODE_ID},
            "voters": {"type": "array", "items": NODE_ID},
            "learners": {"type": "array", "items": NODE_ID},
            "chain_id": HASH, "certified_height": INT, "diverged": nullable(STR)}),
        "SubmitBody": {"oneOf": [
            obj({"tx": HEX}, description="one signed transaction, its msgpack bytes as hex"),
            obj({"txs": {"type": "array", "items": HEX}}, description="a batch")]},
        "Submitted": {"oneOf": [
            obj({"hash": HASH, "status": {"const": "pending"}}),
            obj({"hash": HASH, "error": ref("ReasonCode"), "message": STR})]},
        "BatchSubmitted": obj({"results": {"type": "array", "items": ref("Submitted")}}),
        "Tx": tx,
        "TxStatus": obj(
            {"hash": HASH, "status": {"type": "string",
                                      "enum": ["pending", "committed", "failed", "unknown"]}},
            {"height": nullable(INT), "index": INT, "code": ref("ReasonCode"), "message": STR,
             "dropped": BOOL, "tx": ref("Tx")}),
        "Certificate": certificate,
        "BlockRecords": {
            "type": "array", "description": "msgpack: one entry per block, in height order",
            "items": {"type": "array", "minItems": 4, "maxItems": 4, "prefixItems": [
                {**INT, "description": "height"},
                {"description": "the block's canonical msgpack bytes (bin)"},
                {"description": "the state hash after the block (bin, 32 bytes)"},
                {"description": "the commit certificate in wire form, [chain_id, height, "
                                "block_hash, state_hash, [[signer, signature], ...]] (bytes as "
                                "bin), or nil while the node holds none"}]}},
        "Block": obj({
            "height": INT, "hash": HASH, "prev_hash": HASH, "tx_root": HASH, "timestamp": INT,
            "proposer": HASH, "term": INT, "state_hash": HASH, "tx_count": INT,
            "signers": {"type": "array", "items": HASH},
            "validators": {"type": "array", "items": HASH},
            "certificate": nullable(ref("Certificate"))}, {
            "txs": {"type": "array", "description": "left out with ?txs=false",
                    "items": {"allOf": [ref("Tx"), obj({
                        "status": {"type": "string", "enum": ["committed", "failed"]}},
                        {"code": ref("ReasonCode"), "message": STR})]}}}),
        "Account": obj({
            "address": HASH, "nonce": INT, "next_nonce": INT,
            "balances": {"type": "object", "additionalProperties": {"type": "integer"},
                         "description": "asset code -> integer minor units"},
            "frozen": BOOL,
            "attestation": nullable(obj({"issuer": STR, "tier": INT, "jurisdiction": STR,
                                         "expires_at": INT, "evidence_hash": HEX,
                                         "revoked": BOOL})),
            "kyc": obj({"valid": BOOL}, {"error": ref("ReasonCode"), "message": STR})},
            {"institution": obj({"name": STR, "roles": {"type": "array", "items": STR}})}),
        "Proposal": obj({
            "id": HASH, "action": STR, "institution": STR, "role": STR, "expires_at": INT,
            "expired": BOOL, "proposer": STR, "approvals": {"type": "array", "items": STR},
            "status": STR, "validators": {"type": "array", "items": STR}}),
        "Proof": obj({
            "tx_hash": HASH, "tx": HEX, "index": INT, "tree_size": INT,
            "path": {"type": "array", "items": HASH},
            "header": {"type": "object", "additionalProperties": True},
            "block_hash": HASH, "signature": HEX,
            "certificate": nullable(ref("Certificate")),
            "validators": {"type": "array", "items": HASH}},
            {"receipt": obj({"code": STR, "message": STR})}),
        "Institution": obj({"name": STR, "node_key": HASH, "authority_key": HASH,
                            "rotated": BOOL, "roles": {"type": "array", "items": STR},
                            "jurisdiction": STR, "address": STR},
                           {"peer_address": STR, "display": STR}),
        "Institutions": obj({"institutions": {"type": "array", "items": ref("Institution")}}),
        "Policy": obj({
            "blocked_jurisdictions": {"type": "array", "items": STR},
            "tiers": {"type": "array", "items": obj({
                "tier": INT, "name": STR, "limits": {"type": "object", "additionalProperties":
                                                     obj({"per_tx": INT, "daily": INT})}})},
            "institutions": {"type": "array", "items": ref("Institution")}}),
        "Asset": obj({
            "code": STR, "issuer": STR, "decimals": INT, "clawback": BOOL,
            "reserve_backed": BOOL, "reserve_max_age_ms": INT, "report_threshold": INT,
            "frozen": BOOL, "supply": INT, "held": INT, "coverage_bps": nullable(INT),
            "reserves": nullable(obj({
                "report": HASH, "amount": INT, "as_of": INT, "evidence_hash": HASH,
                "reporter": STR, "reported_at": INT, "auditor": nullable(STR),
                "attested_at": nullable(INT), "stale": BOOL}))},
            description="coverage_bps: reserves per unit of supply in basis points (10000: "
                        "fully covered), rounded down; null without a report or supply; held: "
                        "units locked in open FX offers and escrows (balances + held = supply)"),
        "Offer": obj({
            "id": HASH, "maker": HASH, "give_asset": STR, "give_amount": INT, "want_asset": STR,
            "want_amount": INT, "given": INT, "paid": INT, "locked": INT, "remaining_want": INT,
            "partial": BOOL, "counterparty": nullable(HASH), "expires_at": INT, "expired": BOOL,
            "created_at": INT,
            "status": {"type": "string", "enum": ["open", "filled", "cancelled", "expired"]},
            "closed_at": nullable(INT)},
            description="an FX offer: give give_amount of give_asset for want_amount of "
                        "want_asset; a taker paying p of the want leg receives floor(p * "
                        "give_amount / want_amount); locked: give-leg units still held; "
                        "expired: open but past expiry at the last block (the next block "
                        "releases it)"),
        "Offers": obj({"offers": {"type": "array", "items": ref("Offer")}},
                      description="by pair; within a pair the best rate for a taker first"),
        "Escrow": obj({
            "id": HASH, "payer": HASH, "to": HASH, "asset": STR, "amount": INT,
            "release_after": INT, "cancel_after": INT, "condition": nullable(HASH),
            "created_at": INT,
            "status": {"type": "string", "enum": ["open", "released", "cancelled"]},
            "closed_at": nullable(INT), "releasable": BOOL, "cancellable": BOOL},
            description="condition: sha256 of the secret a release may show (anyone with it "
                        "may release); releasable/cancellable judged at the last block's time"),
        "Escrows": obj({"escrows": {"type": "array", "items": ref("Escrow")}},
                       description="soonest release first"),
        "Assets": obj({"assets": {"type": "array", "items": ref("Asset")}}),
        "Reports": obj({"reports": {"type": "array", "items": obj({
            "seq": INT, "kind": {"type": "string", "enum": ["large", "structuring"]},
            "asset": STR, "sender": HASH, "recipient": HASH, "amount": INT,
            "window_total": INT, "threshold": INT, "time": INT, "tx_hash": HASH})}},
            description="the supervisory reports the state holds (the last 4096), oldest "
                        "first; window_total: the sender's 24 h total with the transfer "
                        "(0 for an exempt institution)"),
        "Readiness": obj({"ready": BOOL, "role": STR, "leader_id": nullable(NODE_ID),
                          "commit_index": INT, "applied_index": INT, "peers": INT,
                          "diverged": BOOL}),
        "NotReady": {"allOf": [ref("Readiness"), ref("Error"), obj(
            {"reasons": {"type": "array", "items": STR}})]},
        "Genesis": {"type": "object", "additionalProperties": True,
                    "description": "the genesis document; its canonical hash is the chain id"},
        "Health": obj({"ok": {"const": True}}),
        "Faults": {"oneOf": [
            obj({"partition": {"type": "array", "items": STR}}),
            obj({"lossy": obj({"fraction": {"type": "number", "minimum": 0, "maximum": 1}},
                              {"peers": nullable({"type": "array", "items": STR})})}),
            obj({"heal": {"const": True}})]},
        "FaultsNow": obj({"ok": BOOL, "partitioned": {"type": "array", "items": STR},
                          "loss": {"type": "object", "additionalProperties": NUM},
                          "loss_all": NUM}),
        "FaultsInForce": obj({"partitioned": {"type": "array", "items": STR},
                              "loss": {"type": "object", "additionalProperties": NUM},
                              "loss_all": NUM}),
        "TransferLeader": obj({"to": NODE_ID}),
        "LeaderTransferred": obj({"ok": BOOL, "from": NODE_ID, "to": NODE_ID}),
        **loan_schemas(),
    }


LOAN_STATUSES = ["offered", "current", "late", "defaulted", "paid_off", "written_off"]


def loan_schemas() -> dict[str, Schema]:
    """Microfinance loans (node.ledger.rules.loans) and credit records."""
    instalment = obj({"due_at": INT, "amount": INT, "state": {
        "type": "string", "enum": ["paid", "missed", "due", "upcoming"]}}, {"paid": INT},
        description="paid: what of the amount is paid (payments go to the earliest first)")
    return {
        "Loan": obj({
            "id": HASH, "lender": HASH, "lender_institution": nullable(STR), "borrower": HASH,
            "asset": STR, "principal": INT, "interest_bps": INT, "total": INT, "repaid": INT,
            "outstanding": INT, "arrears": INT,
            "status": {"type": "string", "enum": LOAN_STATUSES}, "offer_expired": BOOL,
            "schedule": {"type": "array", "items": instalment}, "grace_ms": INT,
            "default_after": INT, "misses": INT, "expires_at": INT, "created_at": INT,
            "accepted_at": nullable(INT), "closed_at": nullable(INT),
            "next_collection_at": nullable(INT)},
            description="total: principal + floor(principal * interest_bps / 10000); repaid "
                        "counts collections and repayments, earliest instalments first; "
                        "next_collection_at: the block time of its next collection turn"),
        "Loans": obj({"loans": {"type": "array", "items": ref("Loan")}}),
        "Credit": obj({
            "account": HASH, "loans": INT, "on_time": INT, "late": INT, "defaulted": INT,
            "paid_off": INT, "written_off": INT, "open": {"type": "array", "items": HASH},
            "history": {"type": "array", "items": obj({
                "id": HASH, "lender_institution": nullable(STR), "asset": STR,
                "principal": INT, "status": {"type": "string", "enum": LOAN_STATUSES},
                "misses": INT})}},
            description="a borrower's repayment record across every lender: on_time and late "
                        "count instalments (paid by, or unpaid at, their grace deadline); "
                        "defaulted, paid_off and written_off count loans"),
    }


# ---- operations ---------------------------------------------------------------------------------

ERROR_STATUS_TEXT = {400: "malformed request", 401: "no or wrong credentials",
                     403: "outside the token's scope", 404: "not found",
                     408: "the body did not arrive in time", 409: "conflict",
                     413: "too large", 422: "refused by a ledger rule",
                     429: "over the client's rate limit (Retry-After)",
                     500: "internal error", 503: "unavailable (Retry-After)"}


def body_of(schema: Schema, msgpack_too: bool = True) -> dict[str, Any]:
    content = {JSON: {"schema": schema}}
    if msgpack_too:  # reply() answers msgpack to `Accept: application/msgpack`
        content[MSGPACK] = {"schema": schema}
    return content


def op(summary: str, ok: dict[int, tuple[str, dict[str, Any]]], errors: tuple[int, ...] = (),
       params: tuple[str, ...] = (), read: bool = False, admin: bool = False,
       body: dict[str, Any] | None = None, tag: str = "ledger") -> dict[str, Any]:
    """One operation: its success responses (status -> (description, content)), the statuses
    of its error responses (each the Error schema), its path parameters and its auth."""
    responses: dict[str, Any] = {
        str(status): {"description": desc, "content": content}
        for status, (desc, content) in ok.items()}
    for status in sorted({*errors, 500}):
        responses[str(status)] = {"description": ERROR_STATUS_TEXT[status],
                                  "content": body_of(ref("Error"))}
    out: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if params:
        out["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in params]
    if read:  # bearer read tokens, when the node runs with read_auth; else open
        out["security"] = [{}, {"readToken": []}]
    if admin:
        out["security"] = [{"adminToken": []}]
    if body is not None:
        out["requestBody"] = body
    return out


def paths() -> dict[str, Any]:
    status = op("The node's consensus and chain position", {200: ("status", body_of(ref("Status")))},
                (429,), tag="node")
    submit_body = {"required": True, "description": (
        "JSON {tx: HEX} or {txs: [HEX, ...]}; or msgpack: one signed transaction's bytes (or "
        "those bytes as a bin), or an array of them as bin (a batch)"),
        "content": {JSON: {"schema": ref("SubmitBody")},
                    MSGPACK: {"schema": {"type": "string", "contentMediaType": MSGPACK}},
                    OCTETS: {"schema": {"type": "string", "contentMediaType": OCTETS}}}}
    return {
        "/v1/status": {"get": status},
        "/v1/txs": {"post": op(
            "Submit one signed transaction or a batch",
            {202: ("one transaction admitted: pending", body_of(ref("Submitted"))),
             200: ("a batch: one result per transaction", body_of(ref("BatchSubmitted")))},
            (400, 408, 409, 413, 422, 429, 503), body=submit_body)},
        "/v1/txs/{hash}": {"get": op(
            "A transaction's status; with ?wait=S, held until final or S seconds (at most 60)",
            {200: ("status, with the transaction once committed", body_of(ref("TxStatus")))},
            (400, 401, 403, 429, 503), ("hash", "wait"), read=True)},
        "/v1/blocks/latest": {"get": op(
            "The last committed block", {200: ("block", body_of(ref("Block")))},
            (401, 403, 404, 429), read=True)},
        "/v1/blocks/{height}": {"get": op(
            "A committed block with its transactions and receipts (?txs=false: the header, "
            "state hash and certificate only, for a replay)",
            {200: ("block", body_of(ref("Block")))}, (400, 401, 403, 404, 429),
            ("height", "txs"), read=True)},
        "/v1/blocks/{height}/raw": {"get": op(
            "A committed block's canonical msgpack bytes",
            {200: ("the block's bytes", {OCTETS: {"schema": {"type": "string",
                                                              "contentMediaType": OCTETS}}})},
            (400, 401, 403, 404, 429), ("height",), read=True)},
        "/v1/blocks/raw": {"get": op(
            "A run of committed blocks as stored, for a replay (`lichen chain verify`): from "
            f"height `from` on, at most `count` (default and cap {MAX_BLOCK_RECORDS}), fewer "
            f"once their bytes reach {BLOCK_RECORDS_BYTES // 2**20} MiB (always at least the "
            "first); fewer past the tip, and an empty list when `from` is beyond it",
            {200: ("the blocks, in height order", {MSGPACK: {"schema": ref("BlockRecords")}})},
            (400, 401, 403, 429), ("block_from", "count"), read=True)},
        "/v1/accounts/{address}": {"get": op(
            "An account: balances, nonces, attestation, frozen, KYC standing",
            {200: ("account", body_of(ref("Account")))}, (400, 401, 403, 429), ("address",),
            read=True)},
        "/v1/proposals/{id}": {"get": op(
            "A governance proposal", {200: ("proposal", body_of(ref("Proposal")))},
            (400, 404, 429), ("id",), tag="governance")},
        "/v1/proofs/{hash}": {"get": op(
            "The Merkle inclusion proof of a committed transaction, with its certificate",
            {200: ("proof", body_of(ref("Proof")))}, (400, 401, 403, 404, 429), ("hash",),
            read=True)},
        "/v1/institutions": {"get": op(
            "Every institution with its current node and authority keys and its licenses",
            {200: ("institutions", body_of(ref("Institutions")))}, (429,), tag="node")},
        "/v1/policy": {"get": op(
            "The policy in force: blocked jurisdictions, KYC tiers and limits, institutions "
            "(genesis, as changed on chain)", {200: ("policy", body_of(ref("Policy")))}, (429,),
            tag="node")},
        "/v1/assets": {"get": op(
            "Every asset with its supply, latest reserve report and coverage",
            {200: ("assets", body_of(ref("Assets")))}, (429,), tag="ledger")},
        "/v1/assets/{code}": {"get": op(
            "An asset: its record, supply, latest reserve report (who reported when, who "
            "co-signed) and coverage", {200: ("asset", body_of(ref("Asset")))},
            (400, 404, 429), ("code",), tag="ledger")},
        "/v1/reports": {"get": op(
            "Supervisory reports: large and structuring transfers (with read_auth: a token "
            "that sees every account)", {200: ("reports", body_of(ref("Reports")))},
            (400, 401, 403, 429), ("kind", "from", "to"), read=True)},
        "/v1/offers": {"get": op(
            "FX offers (open ones unless status=all), by give/want asset and maker; best rate "
            "for a taker first (with read_auth: offers open to anyone and the token's own)",
            {200: ("offers", body_of(ref("Offers")))}, (400, 401, 403, 429),
            ("give", "want", "maker", "status", "limit"), read=True, tag="settlement")},
        "/v1/offers/{id}": {"get": op(
            "An FX offer: its legs, fills, lock and status",
            {200: ("offer", body_of(ref("Offer")))}, (400, 401, 403, 404, 429), ("offer_id",),
            read=True, tag="settlement")},
        "/v1/escrows": {"get": op(
            "Escrows (open ones unless status=all) of an account, payer or recipient (with "
            "read_auth: the token's accounts')", {200: ("escrows", body_of(ref("Escrows")))},
            (400, 401, 403, 429), ("account", "status", "limit"), read=True, tag="settlement")},
        "/v1/escrows/{id}": {"get": op(
            "An escrow: its parties, amount, times, condition and status",
            {200: ("escrow", body_of(ref("Escrow")))}, (400, 401, 403, 404, 429),
            ("escrow_id",), read=True, tag="settlement")},
        "/v1/genesis": {"get": op("The genesis this node runs",
                                  {200: ("genesis", body_of(ref("Genesis")))}, (429,),
                                  tag="node")},
        "/v1/openapi.json": {"get": op("This document", {200: ("OpenAPI 3.1", {JSON: {
            "schema": {"type": "object"}}})}, tag="node")},
        "/healthz": {"get": op("Liveness: the process serves HTTP",
                               {200: ("alive", body_of(ref("Health")))}, tag="node")},
        "/readyz": {"get": op(
            "Readiness: current data and a quorum in reach",
            {200: ("ready", body_of(ref("Readiness"))),
             503: ("not ready, with the reasons", body_of(ref("NotReady")))}, tag="node")},
        "/metrics": {"get": op("Prometheus metrics", {200: ("Prometheus text format", {
            "text/plain": {"schema": {"type": "string"}}})}, tag="node")},
        "/dashboard": {"get": op("The live dashboard page (node.server.dashboard)", {200: (
            "the page", {"text/html": {"schema": {"type": "string"}}})}, tag="dashboard")},
        "/dashboard/{name}": {"get": op("A file of the dashboard page (app.js, style.css)", {200: (
            "the file", {"text/javascript": {"schema": {"type": "string"}},
                         "text/css": {"schema": {"type": "string"}}})}, (404,), ("name",),
            tag="dashboard")},
        "/v1/events": {"get": op(
            "Server-sent events for the dashboard: `hello` (history) on connect, `block` per "
            "committed block, `status` every second; with read_auth, a token that reads all",
            {200: ("an event stream", {"text/event-stream": {"schema": {"type": "string"}}})},
            (401, 403, 429, 503), read=True, tag="dashboard")},
        "/v1/admin/faults": {"get": op(
            "Devnet only: the faults in force on this node's peer links (no token)",
            {200: ("the faults in force", body_of(ref("FaultsInForce"), msgpack_too=False))},
            tag="devnet"), "post": op(
            "Devnet only: partition, make lossy or heal this node's peer links",
            {200: ("the faults now in force", body_of(ref("FaultsNow")))}, (400, 401),
            admin=True, tag="devnet", body={"required": True, "content": {
                JSON: {"schema": ref("Faults")}}})},
        "/v1/admin/transfer-leader": {"post": op(
            "Devnet only: hand leadership to a voter (sent to the leader)",
            {200: ("handed over", body_of(ref("LeaderTransferred")))}, (400, 401, 409),
            admin=True, tag="devnet", body={"required": True, "content": {
                JSON: {"schema": ref("TransferLeader")}}})},
        **loan_paths(),
    }


def loan_paths() -> dict[str, Any]:
    return {
        "/v1/loans": {"get": op(
            "Loans by id, filtered by borrower, lender and status (with read_auth: the loans "
            "of the token's accounts; a filter by another account is 403)",
            {200: ("loans", body_of(ref("Loans")))}, (400, 401, 403, 429),
            ("borrower", "lender", "loan_status"), read=True, tag="loans")},
        "/v1/loans/{id}": {"get": op(
            "A loan: terms, schedule with each instalment's state, repaid, arrears, status, "
            "next collection turn", {200: ("loan", body_of(ref("Loan")))},
            (400, 401, 404, 429), ("loan_id",), read=True, tag="loans")},
        "/v1/credit/{account}": {"get": op(
            "A borrower's on-chain credit history (any reader the node admits)",
            {200: ("credit record", body_of(ref("Credit")))}, (400, 401, 429),
            ("credit_account",),
            read=True, tag="loans")},
    }


PARAMETERS: dict[str, Any] = {
    "hash": {"name": "hash", "in": "path", "required": True, "schema": HASH,
             "description": "a transaction hash"},
    "wait": {"name": "wait", "in": "query", "required": False,
             "schema": {"type": "number", "maximum": 60},
             "description": "seconds to hold the request until the transaction is final"},
    "txs": {"name": "txs", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["true", "false"]},
            "description": "false: leave the transactions out (default true)"},
    "height": {"name": "height", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^([0-9]{1,20}|latest)$"}},
    "block_from": {"name": "from", "in": "query", "required": True,
                   "schema": {"type": "integer", "minimum": 1},
                   "description": "the first block height"},
    "count": {"name": "count", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BLOCK_RECORDS},
              "description": f"at most this many blocks (default {MAX_BLOCK_RECORDS})"},
    "address": {"name": "address", "in": "path", "required": True, "schema": HASH},
    "name": {"name": "name", "in": "path", "required": True, "schema": STR,
             "description": "a file of the dashboard page"},
    "id": {"name": "id", "in": "path", "required": True, "schema": HASH,
           "description": "a proposal id (the hash of its proposing transaction)"},
    "kind": {"name": "kind", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["large", "structuring"]}},
    "from": {"name": "from", "in": "query", "required": False, "schema": INT,
             "description": "block time, unix ms (inclusive)"},
    "to": {"name": "to", "in": "query", "required": False, "schema": INT,
           "description": "block time, unix ms (inclusive)"},
    "code": {"name": "code", "in": "path", "required": True, "schema": STR,
             "description": "an asset code, e.g. USD"},
    "offer_id": {"name": "id", "in": "path", "required": True, "schema": HASH,
                 "description": "an offer id (the hash of its fx_offer transaction)"},
    "escrow_id": {"name": "id", "in": "path", "required": True, "schema": HASH,
                  "description": "an escrow id (the hash of its escrow_create transaction)"},
    "give": {"name": "give", "in": "query", "required": False, "schema": STR,
             "description": "only offers giving this asset"},
    "want": {"name": "want", "in": "query", "required": False, "schema": STR,
             "description": "only offers wanting this asset"},
    "maker": {"name": "maker", "in": "query", "required": False, "schema": HASH,
              "description": "only this account's offers"},
    "account": {"name": "account", "in": "query", "required": False, "schema": HASH,
                "description": "only escrows this account pays or receives"},
    "status": {"name": "status", "in": "query", "required": False,
               "schema": {"type": "string", "enum": ["open", "all"]},
               "description": "open (default): open records only; all: every one"},
    "limit": {"name": "limit", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
              "description": "at most this many (default 100)"},
    # loans
    "loan_id": {"name": "id", "in": "path", "required": True, "schema": HASH,
                "description": "a loan id (the hash of its loan_offer transaction)"},
    "credit_account": {"name": "account", "in": "path", "required": True, "schema": HASH,
                       "description": "a borrower's address"},
    "borrower": {"name": "borrower", "in": "query", "required": False, "schema": HASH},
    "lender": {"name": "lender", "in": "query", "required": False, "schema": HASH,
               "description": "the lender's authority key"},
    "loan_status": {"name": "status", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": LOAN_STATUSES}},
}

PEER_NOTE = (
    "Peers (validators and observers) talk over GET /v1/peer, a websocket upgrade on this port "
    "or on the node's peer_listen: a signed handshake proves the node key, then msgpack frames "
    "carry Raft messages, gossip and requests (p2p/). It is no client API and so not an "
    "operation here.")


def document(version: str = "0.1.0") -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "lichen node HTTP API", "version": version, "description": (
            "Every node serves this API (DESIGN section 8). JSON unless the client sends "
            "`Accept: application/msgpack`. Every error is {error: CODE, message}. Objects may "
            "gain fields: ignore the ones you do not know.\n\n" + PEER_NOTE)},
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "parameters": PARAMETERS,
            "securitySchemes": {
                "readToken": {"type": "http", "scheme": "bearer", "description": (
                    "with read_auth on, reads of accounts, txs, blocks and proofs want a token "
                    "from `lichen node token issue` (401 UNAUTHENTICATED without, 403 "
                    "FORBIDDEN outside its scope)")},
                "adminToken": {"type": "http", "scheme": "bearer", "description": (
                    "the devnet's admin token (config admin_token); admin routes exist only "
                    "on devnet nodes")}},
        },
        "x-websocket": {"/v1/peer": PEER_NOTE},
    }
