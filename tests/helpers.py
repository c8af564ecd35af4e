"""The test helpers every test module shares: free loopback ports, and one poller each for
async and blocking code. A poller waits for public state to hold and fails the test, saying
what it waited for, when it does not within the timeout.

    from .helpers import free_port, free_port_range, until, wait_until
"""
from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A free loopback port (the OS picks it)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def free_port_range(n: int, tries: int = 200) -> int:
    """A base port with n consecutive free loopback ports from it (a devnet's node i listens
    on base + i), and n more from base + 100 (its peer listener, devnet.network.peer_port).
    Below Linux's ephemeral range (32768-), so no outgoing connection takes one meanwhile."""
    for _ in range(tries):
        base = random.randint(20_000, 32_000)
        socks = []
        try:
            for p in [*range(base, base + n), *range(base + 100, base + 100 + n)]:
                s = socket.socket()
                socks.append(s)
                s.bind((LOOPBACK, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free loopback ports found")


async def until(what: str, predicate: Callable[[], T], timeout: float = 10.0,
                interval: float = 0.01) -> T:
    """Poll `predicate` on the running loop until it returns something truthy, and return it;
    AssertionError naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting until {what}")
        await asyncio.sleep(interval)


def wait_until(what: str, predicate: Callable[[], T], timeout: float = 15.0,
               interval: float = 0.1) -> T:
    """The blocking twin of `until`, for tests that drive real processes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting until {what}")
        time.sleep(interval)


async def shake_hands(transport, chain_id: bytes, signing_key):
    """Play a peer's side of the sealed handshake by hand over `transport` (no PeerManager),
    licensing every key; returns the handshake's channel once it completes."""
    from p2p import Handshake
    outgoing: list[bytes] = []
    handshake = Handshake(chain_id=chain_id, signing_key=signing_key,
                          is_licensed=lambda key: True, send=outgoing.append)
    handshake.start()
    while True:
        for data in outgoing:
            await transport.send(data)
        outgoing.clear()
        if handshake.complete:
            return handshake.channel
        handshake.receive(await transport.recv())

