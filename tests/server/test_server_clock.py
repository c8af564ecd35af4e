"""node.server.clock: the manual clock moves only when advanced, and fires timers in due order."""
from __future__ import annotations

import asyncio

import pytest

from node.server.clock import ManualClock, now_ms, sleep


def test_time_stands_still_until_advanced():
    clock = ManualClock(1_000)
    assert (clock.time(), clock.monotonic(), now_ms(clock)) == (1.0, 0.0, 1_000)
    clock.advance(250)
    assert (clock.time(), clock.monotonic(), now_ms(clock)) == (1.25, 0.25, 1_250)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_timers_fire_once_due_in_due_order_and_not_when_cancelled():
    clock = ManualClock(0)
    fired = []
    clock.call_later(0.3, lambda: fired.append("c"))
    clock.call_later(0.1, lambda: fired.append("a"))
    clock.call_later(0.1, lambda: fired.append("b"))  # a tie: in the order set
    clock.call_later(0.2, lambda: fired.append("x")).cancel()
    assert clock.advance(99) == 0 and fired == []
    assert clock.advance(101) == 2 and fired == ["a", "b"]
    assert clock.pending() == 1
    clock.advance(100)
    assert fired == ["a", "b", "c"] and clock.pending() == 0
    clock.advance(1_000)
    assert fired == ["a", "b", "c"]


async def test_sleep_ends_only_when_the_clock_has_moved_far_enough():
    clock = ManualClock(0)
    task = asyncio.ensure_future(sleep(clock, 0.5))
    await asyncio.sleep(0)
    clock.advance(499)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(1)
    await asyncio.sleep(0)
    assert task.done()


async def test_a_cancelled_sleep_leaves_no_timer():
    clock = ManualClock(0)
    task = asyncio.ensure_future(sleep(clock, 5))
    await asyncio.sleep(0)
    assert clock.pending() == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.pending() == 0
