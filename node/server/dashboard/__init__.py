"""The dashboard every node serves (GET /dashboard) and its live feed (GET /v1/events).

The page is three static files beside this module (index.html, app.js, style.css: no build
step, no CDN, plain SVG charts). It reads the node only through GET routes: the feed below,
and /v1/txs, /v1/blocks, /v1/accounts for its search box. With read_auth the feed wants a
token that sees everything (like /v1/blocks); the page asks for one and sends it as a bearer.

The feed is server-sent events (text/event-stream):
- `hello` once: this node, whether it is a devnet node, the per-second history of the last
  minutes, the recent blocks and the fault changes seen (node.server.feed.EventFeed.history)
- `block` for each block this node executes (node.server.feed.block_summary)
- `status` every second: this node's status, links, refusals by reason code, pool, faults, and
  the network: every node genesis names, as its own /v1/status says (polled by this node, not
  by the browser, so the page needs no CORS and no route to the other nodes), or down.
Streams are capped (config max_event_streams; beyond: 503 UNAVAILABLE) and each has a bounded
queue that drops its oldest event (config event_queue_len), so a slow page never holds up the
consensus loop. The once-a-second work runs only while a stream is open.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from node.ledger import errors as E
from node.server.auth import Scope
from node.server.feed import EventFeed
from node.server.service import NetworkMember, NodeService, render_faults
from node.server.tls import client_context

log = logging.getLogger("lichen.dashboard")
STATIC = Path(__file__).resolve().parent
FILES = {"app.js": "text/javascript", "style.css": "text/css"}  # served from /dashboard/NAME
STATUS_EVERY_S = 1.0
# A stream is written at most this often: under load blocks come every few milliseconds, and one
# write (a wake-up, a TLS record, a syscall) per block would cost the node more than the events.
FLUSH_EVERY_S = 0.1
PEER_TIMEOUT_S = 0.8  # a node that does not answer its status by then is shown down


class NetworkNode:
    """A node of the network, as the serving node last saw it."""

    def __init__(self, member: NetworkMember):
        self.node_id = member.node_id
        self.institution = member.institution
        self.address = member.address.rstrip("/")
        self.name = member.institution  # its config name (e.g. node0) once it has answered
        self.status: dict | None = None
        self.faults: dict | None = None
        self.error = "not asked yet"

    def to_json(self) -> dict:
        return {"node_id": self.node_id, "name": self.name, "institution": self.institution,
                "address": self.address, "up": self.status is not None,
                "error": self.error or None, "status": self.status, "faults": self.faults}


class NetworkWatch:
    """Polls every other node's /v1/status (and, on a devnet, /v1/admin/faults) over the API."""

    def __init__(self, node: NodeService):
        self.node = node
        self.nodes: list[NetworkNode] = []
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        if node.config.tls or node.config.tls_ca:
            self._ssl = client_context(node.config.tls_ca or None)

    def _follow(self, members: list[NetworkMember]) -> None:
        """Track who the network is now (licenses change), keeping what was seen of each."""
        known = {n.node_id: n for n in self.nodes}
        self.nodes = [known.get(m.node_id) or NetworkNode(m) for m in members]

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S),
                connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl else False, limit=16))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh(self, own: dict, own_faults: dict | None) -> None:
        self._follow(self.node.network_members())
        await asyncio.gather(*(self._refresh(n, own, own_faults) for n in self.nodes))

    async def _refresh(self, n: NetworkNode, own: dict, own_faults: dict | None) -> None:
        if n.node_id == self.node.id:  # ourselves: no request needed
            n.status, n.faults, n.error, n.name = own, own_faults, "", self.node.config.name
            return
        try:
            n.status = await self._get(f"{n.address}/v1/status")
            n.name = str(n.status.get("name") or n.name)
            n.faults = (await self._get(f"{n.address}/v1/admin/faults")
                        if self.node.config.devnet else None)
            n.error = ""
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            n.status, n.error = None, _reason(exc)

    async def _get(self, url: str) -> dict:
        async with self._client().get(url, headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}")
            doc = await resp.json(content_type=None)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            return doc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PEER_TIMEOUT_S:g}s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused"
    return str(exc) or type(exc).__name__


class Dashboard:
    """The feed's once-a-second status event and the network watch, while streams are open."""

    def __init__(self, node: NodeService, scope_of: Callable[[web.Request], Scope]):
        self.node = node
        self.scope_of = scope_of  # what a reader may see (read_auth: its token's scope)
        self.watch = NetworkWatch(node)
        self._task: asyncio.Task | None = None
        self._last_faults: dict[str, object] = {}

    @property
    def feed(self) -> EventFeed:
        return self.node.events

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._status_loop(), name="dashboard-status")

    async def _status_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self.feed.watched:
            started = loop.time()
            try:
                self.feed.publish("status", await self.snapshot())
            except Exception:  # noqa: BLE001 - the dashboard must never take the node down
                log.exception("dashboard status snapshot failed")
            await asyncio.sleep(max(0.0, STATUS_EVERY_S - (loop.time() - started)))
            if not self.feed.watched:
                await self.watch.close()  # a stream opened meanwhile keeps the loop going

    async def snapshot(self) -> dict:
        own = self.node.dashboard_status().to_json()
        await self.watch.refresh(own["status"], own["faults"])
        network = [n.to_json() for n in self.watch.nodes]
        self._mark_fault_changes(network)
        return {**own, "network": network, "streams": self.feed.streams,
                "fault_marks": list(self.feed.fault_marks)[-20:]}

    def _mark_fault_changes(self, network: list[dict]) -> None:
        for n in network:
            faults = n["faults"]
            if n["up"] and self._last_faults.get(n["node_id"], faults) != faults:
                self.feed.note_faults(n["name"], faults)
            if n["up"]:
                self._last_faults[n["node_id"]] = faults

    async def stop(self) -> None:
        self.feed.close_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.watch.close()


DASHBOARD = web.AppKey("dashboard", Dashboard)


def add_routes(app: web.Application, node: NodeService,
               scope_of: Callable[[web.Request], Scope]) -> None:
    """Mount the page, its files, the feed and (devnet) the fault state on the node's app."""
    app[DASHBOARD] = Dashboard(node, scope_of)
    app.router.add_get("/dashboard", get_page)
    app.router.add_get("/dashboard/{name}", get_file)
    app.router.add_get("/v1/events", get_events)
    if node.config.devnet:  # the fault state, read-only and without the admin token
        app.router.add_get("/v1/admin/faults", get_faults)
    app.on_shutdown.append(_stop)


async def _stop(app: web.Application) -> None:
    await app[DASHBOARD].stop()


async def get_page(request: web.Request) -> web.Response:
    return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def get_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FILES:
        raise E.NotFound(f"no dashboard file {name}")
    return web.Response(body=(STATIC / name).read_bytes(), content_type=FILES[name],
                        headers={"Cache-Control": "no-cache"})


async def get_faults(request: web.Request) -> web.Response:
    """The devnet fault filter's state: who this node is cut off from, and frame loss."""
    return web.json_response(render_faults(request.app[DASHBOARD].node.faults().state()))


async def get_events(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[DASHBOARD]
    dashboard.scope_of(request).require_everything("the live feed")
    feed = dashboard.feed
    sub = feed.subscribe()
    if sub is None:
        raise E.Unavailable(f"this node already serves {feed.max_streams} live feeds; retry later")
    try:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        node = dashboard.node
        hello = {"node_id": node.id, "name": node.config.name, "devnet": node.config.devnet,
                 "read_auth": node.config.read_auth, **feed.history()}
        await resp.write(f"event: hello\ndata: {json.dumps(hello)}\n\n".encode())
        dashboard.ensure_running()
        while True:
            batch = await sub.next_batch()
            if not batch:
                break  # the node is shutting down
            await resp.write(b"".join(e.wire() for e in batch))
            await asyncio.sleep(FLUSH_EVERY_S)  # what comes meanwhile goes in the next write
        return resp
    finally:
        feed.unsubscribe(sub)
