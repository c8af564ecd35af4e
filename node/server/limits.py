"""Limits that protect a node from its clients (DESIGN section 9).

- `RateLimiter`: a token bucket per client IP on submitted transactions (a batch of 500 costs
  500). Over it a request is refused whole with RATE_LIMITED and a Retry-After. A second one,
  counting requests, bounds each client's reads.
- `Slots`: a bound on concurrent holders of something (long-polls); beyond it UNAVAILABLE.
- `ConnectionGuard` and `app_runner`: at most N open HTTP connections, and M from one client,
  counted as connections are accepted; the connection over a bound gets a 503 and is closed.
- `MAX_BLOCK_RECORDS`, `BLOCK_RECORDS_BYTES`: the most one read of a run of blocks
  (GET /v1/blocks/raw) answers, in blocks and in bytes (a few MB, read and packed off the loop).
- `handler_args`: aiohttp's idle timeout, so a client that connects and sends nothing (or
  dribbles its request head) is cut off. Bodies have their own timeout, in node.api.

No I/O here beyond what aiohttp hands in; the clock is injectable so the tests need no sleeps.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from node.ledger import errors as E
from node.server.config import NodeConfig

log = logging.getLogger("lichen.api")


def client_key(remote: str | None) -> str:
    """Whom a limit counts: the client's IP, an IPv6 client by its /64 (one subscriber's
    allocation, so rotating addresses within it buys nothing)."""
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# ---- submission rate ----------------------------------------------------------------------------

class TokenBucket:
    """`rate` tokens per second up to `burst`. A request for more than the burst is granted
    when the bucket is full and leaves it in debt, so big batches are never starved and the
    long-run rate still holds."""

    def __init__(self, rate: float, burst: int, now: float):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, n: int, now: float) -> float:
        """Seconds until `n` tokens may be taken (0: now). Takes nothing."""
        self._refill(now)
        need = min(n, self.burst)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate

    def take(self, n: int, now: float) -> float:
        """Take `n` tokens and return 0, or take nothing and return the seconds to wait."""
        wait = self.wait_for(n, now)
        if wait == 0.0:
            self.tokens -= n
        return wait

    def debit(self, n: int, now: float) -> None:
        """Take `n` tokens whatever is left: the bucket may go into debt, down to one burst
        below empty (so a penalty is paid off within burst / rate seconds at most)."""
        self._refill(now)
        self.tokens = max(self.tokens - n, -float(self.burst))


class RateLimiter:
    """One token bucket per client key, at most `max_clients` of them (least recently seen
    dropped first; a dropped bucket was, at worst, a client starting afresh)."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic, unit: str = "transactions"):
        if rate < 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate must be >= 0, burst and max_clients >= 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self.clock = clock
        self.unit = unit  # what a token is, for the refusal's message
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, client: str) -> TokenBucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst, self.clock())
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
        return bucket

    def check(self, client: str) -> None:
        """Refuse cheaply, before the body is read, a client with not even one token left."""
        if self.enabled:
            self._refuse(self._bucket(client).wait_for(1, self.clock()), client)

    def take(self, client: str, n: int) -> None:
        """Charge `n` transactions to the client, or raise RateLimited and charge nothing."""
        if self.enabled and n > 0:
            self._refuse(self._bucket(client).take(n, self.clock()), client)

    def penalise(self, client: str, n: int) -> None:
        """Charge `n` more tokens after the fact, refusing nothing now: the client's next
        requests wait until its bucket refills (node.server.api charges refused transactions)."""
        if self.enabled and n > 0:
            self._bucket(client).debit(n, self.clock())

    def _refuse(self, wait: float, client: str) -> None:
        if wait > 0:
            raise E.RateLimited(
                f"over {self.rate:g} {self.unit} per second (burst {self.burst}) from {client}; "
                f"retry in {wait:.2f}s", retry_after=wait)


def retry_after_header(seconds: float) -> str:
    """HTTP's Retry-After is whole seconds; never 0, so a client does not spin."""
    return str(max(1, math.ceil(seconds)))


# ---- concurrent holders (long-polls) ------------------------------------------------------------

class Slots:
    """At most `limit` concurrent holders; `hold()` raises Unavailable beyond it."""

    def __init__(self, limit: int, what: str):
        self.limit = limit
        self.what = what
        self.in_use = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self.in_use >= self.limit:
            raise E.Unavailable(f"this node already serves {self.limit} {self.what}; retry later")
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1


# ---- connections --------------------------------------------------------------------------------

_REFUSAL_BODY = json.dumps({"error": "UNAVAILABLE",
                            "message": "too many connections; retry later"}).encode()
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
           + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY)


class ConnectionGuard:
    """Counts an aiohttp server's open connections, in total and per client, and closes the one
    over a bound at once (after a 503 it can read), before any of its bytes are parsed."""

    def __init__(self, max_total: int, max_per_client: int):
        if max_total < 1 or max_per_client < 1:
            raise ValueError("connection bounds must be >= 1")
        self.max_total = max_total
        self.max_per_client = max_per_client
        self._open: dict[object, str] = {}  # request handler (one per connection) -> client
        self._per_client: dict[str, int] = {}
        self.refused = 0

    @property
    def open(self) -> int:
        return len(self._open)

    def install(self, server: web.Server) -> None:
        """Hook the server's connection callbacks (its request handlers call them)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler, transport) -> None:
            made(handler, transport)
            if not self._admit(handler, transport):
                self.refused += 1
                transport.write(REFUSAL)
                transport.close()

        def connection_lost(handler, exc=None) -> None:
            self._release(handler)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _admit(self, handler, transport) -> bool:
        peer = transport.get_extra_info("peername")
        client = client_key(peer[0] if isinstance(peer, tuple) and peer else None)
        if len(self._open) >= self.max_total:
            log.warning("refusing a connection from %s: %d connections open", client, len(self._open),
                        extra={"event": "connection_refused",
                               "fields": {"client": client, "open": len(self._open)}})
            return False
        if self._per_client.get(client, 0) >= self.max_per_client:
            log.warning("refusing a connection from %s: it has %d open", client, self.max_per_client,
                        extra={"event": "connection_refused",
                               "fields": {"client": client, "open": self.max_per_client}})
            return False
        self._open[handler] = client
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return True

    def _release(self, handler) -> None:
        client = self._open.pop(handler, None)
        if client is None:
            return  # a refused connection was never counted
        left = self._per_client[client] - 1
        if left:
            self._per_client[client] = left
        else:
            del self._per_client[client]


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose server is bounded by a ConnectionGuard."""

    def __init__(self, app: web.Application, guard: ConnectionGuard, **kwargs):
        super().__init__(app, **kwargs)
        self.guard = guard

    async def setup(self) -> None:
        await super().setup()
        assert self.server is not None
        self.guard.install(self.server)


def app_runner(app: web.Application, config: NodeConfig) -> GuardedAppRunner:
    """The runner a node serves its app with: connection bounds from the config, no access log."""
    guard = ConnectionGuard(config.max_http_connections, config.max_connections_per_ip)
    return GuardedAppRunner(app, guard, access_log=None)


def peer_app_runner(app: web.Application, config: NodeConfig) -> GuardedAppRunner:
    """The runner of a separate peer listener (config.peer_listen): its own connection budget,
    which the API's clients cannot use up, nor peers the API's."""
    guard = ConnectionGuard(config.max_peer_connections, config.max_peer_connections_per_ip)
    return GuardedAppRunner(app, guard, access_log=None)


MAX_BLOCK_RECORDS = 256  # blocks per GET /v1/blocks/raw ...
BLOCK_RECORDS_BYTES = 4 * 1024 * 1024  # ... and none more once their bytes reach this
LINGER_S = 1.0  # after answering a request whose body was not read, read (and drop) it this long


def handler_args(config: NodeConfig) -> dict:
    """aiohttp request-handler settings.

    `keepalive_timeout` runs from the moment a connection opens and again after each response:
    a connection that has not delivered a complete request head by then is closed (aiohttp has
    no separate header timeout). `lingering_time` bounds how long the rest of an unread body
    (a 429 before reading, a 408 on a dribbled body) is drained before the connection closes;
    aiohttp's default of 10 s would let a dribbling client hold on that much longer."""
    return {"keepalive_timeout": config.http_idle_timeout_s, "lingering_time": LINGER_S}


class BoundedHandshakeSite(web.TCPSite):
    """A TCP site whose TLS handshakes must finish within `handshake_timeout` seconds.

    aiohttp's site leaves asyncio's default of 60 s, and a connection is counted by the
    ConnectionGuard (and timed by the idle timeout) only once its handshake is done: a client
    opening TCP connections and never starting TLS would hold each for a minute, uncounted."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None, handshake_timeout: float):
        super().__init__(runner, host, port, ssl_context=ssl_context)
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        if self._ssl_context is None:
            await super().start()
            return
        # the body of web.TCPSite.start, with the handshake bound (aiohttp 3.x has no option)
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            server, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port,
            ssl_handshake_timeout=self._handshake_timeout)

