"""Clients waiting for a transaction to become final, and what the pool recently dropped.

`Waiters` holds one future per waiting client, keyed by tx hash; the daemon resolves them as
blocks execute or the pool drops a transaction. A wait ends at the clock's timeout with the
status as it is then. `RecentDrops` remembers, boundedly, why a pending transaction was dropped,
so a client asking later learns `failed` with the reason instead of `unknown`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from node.ledger import errors as E
from node.ledger.types import Receipt
from node.server.clock import Clock
from node.server.service import TxState, TxStatus

MAX_RECENT_DROPS = 10_000


def receipt_status(r: Receipt) -> TxStatus:
    return TxStatus(TxState.COMMITTED if r.ok else TxState.FAILED, r)


def dropped_status(err: E.LedgerError) -> TxStatus:
    return TxStatus(TxState.FAILED, None, err.code, err.message)


class Waiters:
    def __init__(self, clock: Clock):
        self.clock = clock
        self._waiting: dict[bytes, list[asyncio.Future]] = {}

    def __len__(self) -> int:
        """Transactions someone waits for."""
        return len(self._waiting)

    async def wait(self, tx_hash: bytes, timeout: float,
                   current: Callable[[bytes], TxStatus]) -> TxStatus:
        """The tx's status once it is final (committed or failed), or as `current` tells it at
        the timeout."""
        status = current(tx_hash)
        if status.final or timeout <= 0:
            return status
        fut = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tx_hash, []).append(fut)
        timer = self.clock.call_later(timeout, lambda: fut.done() or fut.set_result(None))
        try:
            result = await fut
        finally:
            timer.cancel()
            self._forget(tx_hash, fut)
        return result if result is not None else current(tx_hash)

    def _forget(self, tx_hash: bytes, fut: asyncio.Future) -> None:
        waiting = self._waiting.get(tx_hash)
        if waiting is None:
            return
        if fut in waiting:
            waiting.remove(fut)
        if not waiting:
            del self._waiting[tx_hash]

    def resolve(self, tx_hash: bytes, status: TxStatus) -> None:
        for fut in self._waiting.pop(tx_hash, ()):
            if not fut.done():
                fut.set_result(status)

    def resolve_receipts(self, receipts: Iterable[Receipt]) -> None:
        """A block executed: wake whoever waits for one of its transactions."""
        if not self._waiting:
            return
        for r in receipts:
            if r.tx_hash in self._waiting:
                self.resolve(r.tx_hash, receipt_status(r))


class RecentDrops:
    """Why recently dropped pending transactions failed, the newest MAX_RECENT_DROPS of them."""

    def __init__(self, capacity: int = MAX_RECENT_DROPS):
        self.capacity = capacity
        self._errors: dict[bytes, E.LedgerError] = {}  # oldest first

    def note(self, tx_hash: bytes, err: E.LedgerError) -> None:
        self._errors.pop(tx_hash, None)
        self._errors[tx_hash] = err
        if len(self._errors) > self.capacity:
            del self._errors[next(iter(self._errors))]

    def forget(self, tx_hash: bytes) -> None:
        """The tx was admitted again."""
        self._errors.pop(tx_hash, None)

    def get(self, tx_hash: bytes) -> E.LedgerError | None:
        return self._errors.get(tx_hash)
