"""The aiohttp websocket transport: a thin layer under the protocol objects.

Peers reach each other at `ws://host:port/v1/peer`, on the same port as the node's HTTP API.
Each frame is one binary websocket message: a cleartext HELLO, then sealed frames (p2p.channel),
so the websocket itself needs no TLS to keep peer traffic secret and intact; it only carries
bytes. A node with TLS serves `wss://` (an `https://` address), dialled with an ssl context. aiohttp enforces the frame size limit (`max_msg_size`, sealed size) before a message
is buffered, and its heartbeat (ping/pong) closes a
connection whose peer stopped answering, so a dead peer is noticed even without a TCP reset.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .errors import DialFailed, TransportClosed
from .frames import DEFAULT_MAX_FRAME_SIZE

PEER_PATH = "/v1/peer"
CLOSE_TIMEOUT = 2.0  # how long closing waits for the peer's close reply; a dead peer sends none


class WebSocketTransport:
    """Adapts a server- or client-side aiohttp websocket to the Transport interface."""

    def __init__(self, ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, name: str) -> None:
        self._ws = ws
        self.name = name

    async def send(self, data: bytes) -> None:
        if self._ws.closed:
            raise TransportClosed(f"{self.name}: closed")
        try:
            await self._ws.send_bytes(data)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            raise TransportClosed(f"{self.name}: {exc}") from exc

    async def recv(self) -> bytes:
        msg = await self._ws.receive()
        if msg.type is aiohttp.WSMsgType.BINARY:
            return msg.data
        if msg.type is aiohttp.WSMsgType.TEXT:
            await self.close()  # peers speak binary frames only
            raise TransportClosed(f"{self.name}: text message from peer")
        # CLOSE, CLOSING, CLOSED, ERROR (e.g. message too big, heartbeat timeout)
        raise TransportClosed(f"{self.name}: {msg.type.name} {msg.extra or ''}".rstrip())

    async def close(self) -> None:
        if not self._ws.closed:
            try:
                await self._ws.close()
            except (TimeoutError, ConnectionError, RuntimeError, aiohttp.ClientError):
                pass  # closing an already broken connection

    def __repr__(self) -> str:
        return f"<WebSocketTransport {self.name}>"


async def accept_websocket(
    request: web.Request, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, heartbeat: float | None = 5.0
) -> tuple[web.WebSocketResponse, WebSocketTransport]:
    """Upgrade a `GET /v1/peer` request to a websocket transport."""
    ws = web.WebSocketResponse(
        max_msg_size=max_frame_size, heartbeat=heartbeat, compress=False, timeout=CLOSE_TIMEOUT
    )
    await ws.prepare(request)
    return ws, WebSocketTransport(ws, name=f"from {request.remote}")


def peer_url(address: str) -> str:
    """`http://host:port` (as in genesis and the peer table) -> `ws://host:port/v1/peer`."""
    parts = urlsplit(address if "://" in address else f"http://{address}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not a peer address: {address!r}")
    return f"{scheme}://{parts.netloc}{PEER_PATH}"


class WebSocketDialer:
    """Dials peers with one shared aiohttp ClientSession (created on first use, inside the loop)."""

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        heartbeat: float | None = 5.0,
        connect_timeout: float = 3.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`ssl_context` verifies wss:// peers (default: the system's CAs)."""
        self._max_frame_size = max_frame_size
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def dial(self, address: str) -> WebSocketTransport:
        try:
            url = peer_url(address)
        except ValueError as exc:
            raise DialFailed(str(exc)) from None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout)
            )
        try:
            async with asyncio.timeout(self._connect_timeout):
                ws = await self._session.ws_connect(
                    url,
                    max_msg_size=self._max_frame_size,
                    heartbeat=self._heartbeat,
                    compress=0,
                    ssl=self._ssl or True,  # True: the system CAs (used for wss:// only)
                    timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT),
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DialFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
        return WebSocketTransport(ws, name=f"to {address}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
