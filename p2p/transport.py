"""The transport interface the PeerManager runs on, and an in-memory implementation of it.

A transport carries whole wire messages (bytes), in order, until closed; it neither knows nor
checks what is in them (after the handshake they are sealed frames, see p2p.channel). Two implementations ship:
`p2p.websocket` (aiohttp, for real nodes) and the memory pipes here, which let whole clusters
run in one event loop in tests without sockets.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from .errors import DialFailed, TransportClosed


class Transport(Protocol):
    """One connection to one (not yet authenticated) peer."""

    async def send(self, data: bytes) -> None:
        """Write one frame; waits while the connection is congested. Raises TransportClosed."""

    async def recv(self) -> bytes:
        """The next frame from the peer. Raises TransportClosed once the connection is gone."""

    async def close(self) -> None:
        """Close both directions; idempotent."""


class Dialer(Protocol):
    async def dial(self, address: str) -> Transport:
        """Open a connection to a peer address (as in the peer table); raises DialFailed."""

    async def close(self) -> None:
        """Release resources (e.g. an HTTP client session)."""


Accept = Callable[[Transport], Awaitable[None]]
"""A listener's handler: serves one inbound connection until it closes (PeerManager.accept)."""


# --- memory transport --------------------------------------------------------------------------


class _Pipe:
    """One direction of a memory connection: a bounded FIFO, so a slow reader slows the writer."""

    def __init__(self, capacity: int) -> None:
        self._frames: deque[bytes] = deque()
        self._capacity = capacity
        self._closed = False
        self._changed = asyncio.Condition()

    async def put(self, data: bytes) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._closed or len(self._frames) < self._capacity)
            if self._closed:
                raise TransportClosed("connection closed")
            self._frames.append(data)
            self._changed.notify_all()

    async def get(self) -> bytes:
        async with self._changed:
            await self._changed.wait_for(lambda: self._closed or bool(self._frames))
            if self._closed:
                raise TransportClosed("connection closed")
            data = self._frames.popleft()
            self._changed.notify_all()
            return data

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._frames.clear()
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class MemoryTransport:
    """One end of a connected pair made by `memory_pair`."""

    def __init__(self, inbound: _Pipe, outbound: _Pipe, name: str) -> None:
        self._inbound = inbound
        self._outbound = outbound
        self.name = name

    async def send(self, data: bytes) -> None:
        await self._outbound.put(data)

    async def recv(self) -> bytes:
        return await self._inbound.get()

    async def close(self) -> None:
        await self._outbound.close()
        await self._inbound.close()

    @property
    def closed(self) -> bool:
        return self._inbound.closed or self._outbound.closed

    def __repr__(self) -> str:
        return f"<MemoryTransport {self.name}>"


def memory_pair(capacity: int = 64, name: str = "mem") -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports: what one sends, the other receives; closing either closes both."""
    a_to_b, b_to_a = _Pipe(capacity), _Pipe(capacity)
    return MemoryTransport(b_to_a, a_to_b, f"{name}:a"), MemoryTransport(a_to_b, b_to_a, f"{name}:b")


class MemoryNetwork:
    """Addresses -> listeners, in one event loop. Use `dialer()` as a PeerManager's dialer and
    `listen(address, manager.accept)` as its listening socket."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._listeners: dict[str, Accept] = {}
        self._pairs: list[tuple[MemoryTransport, MemoryTransport]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def listen(self, address: str, accept: Accept) -> None:
        if address in self._listeners:
            raise OSError(f"address already in use: {address}")
        self._listeners[address] = accept

    def unlisten(self, address: str) -> None:
        """Stop accepting at `address` (a stopped node); open connections are the owner's to close."""
        self._listeners.pop(address, None)

    def dialer(self) -> MemoryDialer:
        return MemoryDialer(self)

    async def dial(self, address: str) -> MemoryTransport:
        accept = self._listeners.get(address)
        if accept is None:
            raise DialFailed(f"connection refused: nothing listens at {address}")
        client, server = memory_pair(self._capacity, name=address)
        self._pairs = [pair for pair in self._pairs if not pair[0].closed]
        self._pairs.append((client, server))
        task = asyncio.get_running_loop().create_task(self._serve(accept, server))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return client

    async def _serve(self, accept: Accept, server: MemoryTransport) -> None:
        try:
            await accept(server)
        finally:
            await server.close()

    def open_connections(self) -> int:
        """Connections not yet closed by either end (what a socket count would show)."""
        return sum(1 for client, _ in self._pairs if not client.closed)

    async def close(self) -> None:
        """Close every connection and wait for the listeners' handlers to finish."""
        for client, _ in self._pairs:
            await client.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class MemoryDialer:
    def __init__(self, network: MemoryNetwork) -> None:
        self._network = network

    async def dial(self, address: str) -> Transport:
        return await self._network.dial(address)

    async def close(self) -> None:
        pass
