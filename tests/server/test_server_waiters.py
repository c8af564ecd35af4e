"""node.server.waiters: a client waiting for a tx is woken when it becomes final, or at its
timeout on the node's clock; the pool's recent drops are remembered, boundedly."""
from __future__ import annotations

import asyncio

from node.ledger import errors as E
from node.ledger.types import Receipt
from node.server.service import TxState, TxStatus
from node.server.waiters import RecentDrops, Waiters, dropped_status, receipt_status

H1, H2 = b"\x01" * 32, b"\x02" * 32
PENDING = TxStatus(TxState.PENDING)


def pending(_h: bytes) -> TxStatus:
    return PENDING


async def started(waiters: Waiters, tx_hash: bytes, timeout: float, current=pending) -> asyncio.Task:
    task = asyncio.ensure_future(waiters.wait(tx_hash, timeout, current))
    await asyncio.sleep(0)
    return task


async def test_a_final_status_is_answered_at_once_and_no_wait_means_no_wait(clock):
    waiters = Waiters(clock)
    final = receipt_status(Receipt(H1, 3, 0))
    assert await waiters.wait(H1, 10, lambda h: final) == final
    assert await waiters.wait(H1, 0, pending) == PENDING
    assert len(waiters) == 0


async def test_a_committed_block_wakes_the_waiters_of_its_txs_only(clock):
    waiters = Waiters(clock)
    one, other = await started(waiters, H1, 10), await started(waiters, H2, 10)
    twice = await started(waiters, H1, 10)
    waiters.resolve_receipts([Receipt(H1, 7, 0, "LIMIT_EXCEEDED", "over the limit")])
    await asyncio.sleep(0)
    assert one.done() and twice.done() and not other.done()
    assert one.result() == twice.result() == TxStatus(TxState.FAILED, Receipt(H1, 7, 0, "LIMIT_EXCEEDED", "over the limit"))
    assert len(waiters) == 1
    other.cancel()


async def test_at_the_timeout_the_status_is_as_it_is_then_and_the_waiter_is_forgotten(clock):
    waiters = Waiters(clock)
    task = await started(waiters, H1, 2.0)
    clock.advance(1999)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(1)
    assert await task == PENDING
    assert len(waiters) == 0 and clock.pending() == 0


async def test_a_drop_wakes_the_waiter_with_the_reason(clock):
    waiters = Waiters(clock)
    task = await started(waiters, H1, 10)
    err = E.InsufficientFunds("balance 0, amount 5")
    waiters.resolve(H1, dropped_status(err))
    status = await task
    assert (status.status, status.code, status.receipt) == (TxState.FAILED, "INSUFFICIENT_FUNDS", None)


async def test_a_cancelled_wait_leaves_nothing_behind(clock):
    waiters = Waiters(clock)
    task = await started(waiters, H1, 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(waiters) == 0 and clock.pending() == 0


def test_recent_drops_keep_the_newest_and_forget_a_readmitted_tx():
    drops = RecentDrops(capacity=2)
    errors = [E.BadNonce(f"nonce {i}") for i in range(3)]
    for i, err in enumerate(errors):
        drops.note(bytes([i]) * 32, err)
    assert drops.get(b"\x00" * 32) is None
    assert drops.get(b"\x01" * 32) is errors[1] and drops.get(b"\x02" * 32) is errors[2]
    drops.forget(b"\x01" * 32)
    assert drops.get(b"\x01" * 32) is None
