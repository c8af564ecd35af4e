"""The node API over aiohttp, for the load generators (bench, chaos): batches go as msgpack,
so the node reads raw tx bytes without hex."""
from __future__ import annotations

import time

import aiohttp
import msgpack

from .client import ssl_context
from .errors import DevnetError

MSGPACK = "application/msgpack"


def connector(**kwargs) -> aiohttp.TCPConnector:
    """A connector that verifies https nodes the way devnet.client does (the trusted CA)."""
    return aiohttp.TCPConnector(ssl=ssl_context(), **kwargs)


async def post_batch(session: aiohttp.ClientSession, url: str, raws: list[bytes]) -> list[dict]:
    """POST /v1/txs with a batch: per tx {hash, status} or {error, message}."""
    async with session.post(f"{url}/v1/txs", data=msgpack.packb(raws, use_bin_type=True),
                            headers={"Content-Type": MSGPACK, "Accept": MSGPACK}) as r:
        body = msgpack.unpackb(await r.read(), raw=False)
        if "results" not in body:
            return [{"error": body.get("error", "HTTP_ERROR")}] * len(raws)
        return body["results"]


async def get_json(session: aiohttp.ClientSession, url: str) -> dict:
    async with session.get(url) as r:
        return await r.json()


async def wait_committed(session: aiohttp.ClientSession, url: str, hash_hex: str,
                         timeout: float = 60) -> dict:
    """The tx's final answer (committed or failed); DevnetError when a set-up tx does not
    reach one within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = await get_json(session, f"{url}/v1/txs/{hash_hex}?wait=5")
        if doc["status"] in ("committed", "failed"):
            return doc
    raise DevnetError(f"set-up transaction {hash_hex[:16]} did not commit in {timeout:.0f}s")
