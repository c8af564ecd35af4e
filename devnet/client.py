"""A small blocking HTTP client for the node API (the CLI and the devnet tools talk to nodes
only through it), and the sign-submit-wait of every submitting command."""
from __future__ import annotations

import http.client
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from node.ledger.crypto import Signer
from node.ledger.types import Payload, sign_tx
from node.server.tls import client_context

_trusted: list[str] = []  # the CA file this process trusts for https nodes, once one is set


def trust(ca_file: str | os.PathLike | None) -> None:
    """Trust `ca_file` for every https node this process talks to without a CA of its own:
    set by `--cacert` / LICHEN_CACERT, and by the devnet tools for their devnet's CA."""
    _trusted[:] = [str(ca_file)] if ca_file else []


def default_ca() -> str | None:
    """The CA set by trust(), else LICHEN_CACERT, else none (the system's CAs)."""
    return _trusted[0] if _trusted else os.environ.get("LICHEN_CACERT") or None


def ssl_context(ca_file: str | None = None) -> ssl.SSLContext:
    """How https nodes are verified: against `ca_file`, else default_ca(), TLS 1.3."""
    return client_context(ca_file or default_ca())


@dataclass
class ApiError(Exception):
    """The node refused: a reason code and a sentence, or a connection failure."""
    code: str
    message: str
    status: int = 0

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Client:
    def __init__(self, url: str, timeout: float = 10.0, ca_file: str | None = None,
                 token: str | None = None):
        """`token`: a read token the node's operator issued (nodes with read_auth want it)."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ssl = ssl_context(ca_file) if self.url.startswith("https://") else None
        self.token = token

    def _open(self, req: urllib.request.Request, timeout: float):
        if self.token and not req.has_header("Authorization"):
            req.add_header("Authorization", f"Bearer {self.token}")
        return urllib.request.urlopen(req, timeout=timeout, context=self._ssl)

    def get(self, path: str, timeout: float | None = None) -> dict:
        return self._call(urllib.request.Request(self.url + path), timeout)

    def post(self, path: str, body: dict, timeout: float | None = None,
             headers: dict | None = None) -> dict:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})},
                                     method="POST")
        return self._call(req, timeout)

    def _call(self, req: urllib.request.Request, timeout: float | None) -> dict:
        try:
            with self._open(req, timeout or self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                doc = json.loads(exc.read())
                raise ApiError(doc.get("error", "HTTP_ERROR"), doc.get("message", ""),
                               exc.code) from None
            except (ValueError, AttributeError):
                raise ApiError("HTTP_ERROR", f"HTTP {exc.code} from {self.url}", exc.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError("UNREACHABLE",
                           f"cannot reach the node at {self.url}: {reason}") from None

    # -- the API, by name -------------------------------------------------------------------
    def status(self) -> dict:
        return self.get("/v1/status")

    def account(self, address_hex: str) -> dict:
        return self.get(f"/v1/accounts/{address_hex}")

    def submit(self, raw: bytes) -> dict:
        return self.post("/v1/txs", {"tx": raw.hex()})

    def submit_batch(self, raws: list[bytes]) -> list[dict]:
        return self.post("/v1/txs", {"txs": [r.hex() for r in raws]})["results"]

    def tx(self, hash_hex: str, wait: float = 0) -> dict:
        suffix = f"?wait={wait}" if wait else ""
        return self.get(f"/v1/txs/{hash_hex}{suffix}", timeout=wait + self.timeout)

    def block(self, height: str | int, txs: bool = True) -> dict:
        """The block's JSON; without its transactions when txs is False (header, state hash,
        certificate)."""
        return self.get(f"/v1/blocks/{height}" + ("" if txs else "?txs=false"))

    # -- verifiable records ---------------------------------------------------------------------
    def proof(self, hash_hex: str) -> dict:
        return self.get(f"/v1/proofs/{hash_hex}")

    def genesis(self) -> dict:
        return self.get("/v1/genesis")

    def block_raw(self, height: int) -> bytes:
        """The block's canonical bytes (the JSON form is for reading, these are for checking)."""
        req = urllib.request.Request(f"{self.url}/v1/blocks/{height}/raw")
        try:
            with self._open(req, self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            raise ApiError("NOT_FOUND" if exc.code == 404 else "HTTP_ERROR",
                           f"HTTP {exc.code} fetching block {height} from {self.url}",
                           exc.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError("UNREACHABLE",
                           f"cannot reach the node at {self.url}: {reason}") from None


class KeptAlive:
    """GETs to one node over one kept-alive connection (one per thread: not thread-safe), for
    a replay's thousands of block reads: a TLS handshake per request cost a replay as much CPU
    as re-executing a fifth of its blocks. Answers and errors as Client's."""

    def __init__(self, client: Client):
        self.client = client
        parts = urllib.parse.urlsplit(client.url)
        self.host, self.port = parts.hostname or "", parts.port
        self.base = parts.path
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            c = self.client
            self.conn = (http.client.HTTPSConnection(self.host, self.port, timeout=c.timeout,
                                                     context=c._ssl)
                         if c._ssl is not None else
                         http.client.HTTPConnection(self.host, self.port, timeout=c.timeout))
        return self.conn

    def get_bytes(self, path: str) -> bytes:
        headers = {"Authorization": f"Bearer {self.client.token}"} if self.client.token else {}
        for attempt in (1, 2):  # a kept connection the server closed is opened again, once
            conn = self._connection()
            try:
                conn.request("GET", self.base + path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise ApiError("UNREACHABLE", f"cannot reach the node at "
                                                  f"{self.client.url}: {exc}") from None
        if resp.status >= 400:
            try:
                doc = json.loads(body)
                code, message = doc.get("error", "HTTP_ERROR"), doc.get("message", "")
            except (ValueError, AttributeError):
                code, message = "HTTP_ERROR", f"HTTP {resp.status} from {self.client.url}"
            raise ApiError(code, message, resp.status)
        return body

    def get(self, path: str) -> dict:
        return json.loads(self.get_bytes(path) or b"{}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---- submitting ----------------------------------------------------------------------------------

def sign_and_submit(client: Client, key: Signer, payload: Payload, wait: bool,
                    timeout: float = 30.0) -> dict:
    """Sign with the sender's next nonce and submit; by default wait for the outcome.

    Returns the node's answer for the tx (GET /v1/txs/{hash}), or {hash, status: pending} when
    not waiting. Raises ApiError when the node refuses admission (the reason code says why)."""
    chain_id = bytes.fromhex(client.status()["chain_id"])
    nonce = client.account(key.address.hex())["next_nonce"]
    tx = sign_tx(key, chain_id, nonce, payload)
    client.submit(tx.raw)
    if not wait:
        return {"hash": tx.hash_hex, "status": "pending"}
    return wait_final(client, tx.hash_hex, timeout)


def wait_final(client: Client, hash_hex: str, timeout: float) -> dict:
    """Long-poll the node until the tx is committed or failed; after `timeout` seconds the last
    answer with error TIMEOUT added."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        result = client.tx(hash_hex, wait=max(0.1, min(5.0, left)))
        if result["status"] in ("committed", "failed") or left <= 0:
            if result["status"] not in ("committed", "failed"):
                still = f"not committed within {timeout:.0f}s; still {result['status']}"
                result = {**result, "error": "TIMEOUT", "message": still}
            return result
