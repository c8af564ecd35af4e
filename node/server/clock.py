"""The node's clock, injected: the wall time for block timestamps, a monotonic time for pacing,
and timers for its loops and long-polls.

`SystemClock` is the real one. `ManualClock` moves only when told to (`advance`), so tests run
whole nodes in one event loop with time under their control: elections, block cuts and
long-poll timeouts happen when the test says, never because the machine was slow.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None:
        """Do not call the callback (a no-op once it ran)."""


class Clock(Protocol):
    def time(self) -> float:
        """Wall time, unix seconds."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Call `callback` on the event loop once `delay` seconds have passed."""


async def sleep(clock: Clock, delay: float) -> None:
    """Wait `delay` seconds of `clock` time."""
    fut = asyncio.get_running_loop().create_future()
    timer = clock.call_later(delay, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        timer.cancel()


def now_ms(clock: Clock) -> int:
    """The wall time in unix milliseconds (what block timestamps are)."""
    return int(clock.time() * 1000)


class SystemClock:
    """The machine's clock and the event loop's timers."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


SYSTEM_CLOCK = SystemClock()
DEVNET_CLOCK_SKEW_ENV = "LICHEN_DEVNET_CLOCK_SKEW_MS"


class SkewedClock(SystemClock):
    """The machine's wall clock read `offset_s` seconds off; monotonic time and timers are the
    machine's. For the devnet's clock fault only."""

    def __init__(self, offset_s: float):
        self.offset_s = offset_s

    def time(self) -> float:
        return time.time() + self.offset_s


def daemon_clock(devnet: bool, environ: dict[str, str]) -> Clock:
    """The clock a daemon runs on: the machine's, or, for a devnet node started with
    LICHEN_DEVNET_CLOCK_SKEW_MS (the chaos runner's clock fault), the machine's skewed by that
    many milliseconds. Outside devnet mode the variable is ignored: an operator's node always
    reads the machine's clock."""
    skew = environ.get(DEVNET_CLOCK_SKEW_ENV, "")
    if not devnet or not skew:
        return SYSTEM_CLOCK
    return SkewedClock(int(skew) / 1000)


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]):
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that stands still until `advance(ms)`; time is kept in whole milliseconds, so
    runs are exact. Timers due by the new time fire in due order (ties in order of setting)."""

    def __init__(self, start_ms: int):
        self._wall_ms = start_ms
        self._elapsed_ms = 0
        self._timers: list[tuple[int, int, _ManualTimer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._wall_ms / 1000

    def monotonic(self) -> float:
        return self._elapsed_ms / 1000

    @property
    def now_ms(self) -> int:
        return self._wall_ms

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(callback)
        due = self._elapsed_ms + max(0, round(delay * 1000))
        heapq.heappush(self._timers, (due, next(self._order), timer))
        return timer

    def advance(self, ms: int) -> int:
        """Move time forward by `ms` milliseconds; returns how many timers fired."""
        if ms < 0:
            raise ValueError("a clock does not go back")
        self._wall_ms += ms
        self._elapsed_ms += ms
        fired = 0
        while self._timers and self._timers[0][0] <= self._elapsed_ms:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()
                fired += 1
        return fired

    def pending(self) -> int:
        """Timers set and neither fired nor cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)
