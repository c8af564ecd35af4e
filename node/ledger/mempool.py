"""The transaction pool: admits only what the ledger rules accept, and says so when full.

Admission applies the same rule functions as block execution (node.ledger.rules), against a
speculative overlay: committed state plus every pending transaction, in order. So a sender's
second payment is judged after the first, on nonce, balance and limits alike.

Transactions with a nonce a little ahead of the sender's next are held in a small per-sender
window and promoted, in order, once the gap fills. Holding costs the sender nothing on chain, so
it is bounded on every side: only a sender in good standing (check_sender_standing: KYC or a
licensed institution, not frozen) is held for; at most max_held txs in all and
max_held_per_sender each; a held tx expires after held_ttl_s of pool time; and a full pool evicts
held txs, oldest first, before it refuses a ready one. So throwaway keys cannot crowd out
payments that could commit now.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Set
from dataclasses import dataclass, field

from node.ledger import errors as E
from node.ledger.rules import (
                               Context,
                               SignatureCache,
                               admit,
                               check_sender_standing,
                               check_signed,
)
from node.ledger.state import Overlay, State
from node.ledger.types import Transaction, TxKind

# Time-dependent rules (attestation expiry, the rolling limit window) can turn a pending tx
# invalid without any tx touching it: re-check everything at least this often in block time.
# (A tx that turns invalid in between still gets a failed receipt with its reason; the re-check
# only spares it the trip. It re-applies the whole pool, so it is kept rare.)
RECHECK_EVERY_MS = 5000

# Kinds whose successful effects commute with every other pending tx of another sender: they
# move value and nonces only. A block of these, all ok and all from our pool, leaves the rest of
# the pool exactly as valid as it was, whatever order the leader chose.
COMMUTATIVE_KINDS = frozenset({TxKind.TRANSFER, TxKind.ISSUE, TxKind.REDEEM})


@dataclass(frozen=True)
class PoolLimits:
    max_txs: int = 50_000
    max_bytes: int = 64 * 1024 * 1024
    max_per_sender: int = 5_000
    future_window: int = 64  # how far ahead of the next nonce a tx may be held
    max_held: int = 10_000  # txs held for a future nonce, in all
    max_held_per_sender: int = 16
    held_ttl_s: float = 60.0  # pool time a tx may wait for its nonce gap to fill


@dataclass
class Dropped:
    """A pending transaction dropped after a block made it invalid."""
    tx: Transaction
    error: E.LedgerError


@dataclass(frozen=True)
class _Held:
    tx: Transaction
    since: float  # pool time (seconds) it was first held


@dataclass
class _Sender:
    ready: int = 0  # pending txs applied to the speculative view
    future: dict[int, Transaction] = field(default_factory=dict)  # nonce -> held tx


class Mempool:
    def __init__(self, state: State, sigs: SignatureCache, limits: PoolLimits = PoolLimits(),
                 *, clock: Callable[[], float]):
        """`clock` gives the local time in seconds (injected: the ledger reads no clock itself);
        it paces only the re-check of time-dependent rules, never a verdict."""
        self.state = state
        self.sigs = sigs
        self.limits = limits
        self.clock = clock
        self.ready: OrderedDict[bytes, Transaction] = OrderedDict()  # admission order
        self.senders: dict[bytes, _Sender] = {}
        self.held: OrderedDict[bytes, _Held] = OrderedDict()  # future-nonce txs, oldest first
        self.nbytes = 0  # of every pending tx, ready and held
        self.held_bytes = 0
        self.expired: list[Dropped] = []  # expired held txs not yet reported
        self.view = Overlay(state)
        self.last_block_time = state.genesis.genesis_time
        self.last_recheck_time = self.last_block_time

    def __len__(self) -> int:
        return len(self.ready) + len(self.held)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self.ready or tx_hash in self.held

    def context(self) -> Context:
        """Admission judges against now, never earlier than the last block."""
        return Context(max(int(self.clock() * 1000), self.last_block_time))

    # -- admission --------------------------------------------------------------------------
    def add(self, tx: Transaction) -> list[Dropped]:
        """Admit tx or raise the LedgerError that says why not. Nothing changes on a raise.

        Returns the held txs dropped meanwhile: failed when tx filled their nonce gap, evicted
        to make room for it, or expired (an expiry before a raise is returned next time)."""
        if self.held:
            self.expire_held()
        if tx.hash in self.ready:
            raise E.Duplicate("transaction is already pending")
        sender = self.senders.get(tx.sender) or _Sender()
        check_sender_room(sender, self.limits)
        expected = self.view.account(tx.sender).nonce
        if tx.nonce > expected:
            self.check_room(tx, evictable=False)
            self.hold_future(tx, sender, expected)
            return self._take_expired()
        self.check_room(tx, evictable=True)
        admit(self.view, tx, self.context(), self.sigs)
        dropped = self._evict_held_for(tx) if self.held else []  # plain transfers skip both
        if self.expired:
            dropped = self._take_expired() + dropped
        self._append_ready(tx, sender)
        return dropped + self._promote(tx.sender)

    def check_room(self, tx: Transaction, *, evictable: bool) -> None:
        """Room for tx; a ready tx may count the held txs' room as its own (they are evicted)."""
        count, size = len(self), self.nbytes
        if evictable:
            count, size = count - len(self.held), size - self.held_bytes
        if count >= self.limits.max_txs or size + len(tx.raw) > self.limits.max_bytes:
            raise E.MempoolFull(f"pool holds {len(self)} transactions ({self.nbytes} bytes)")

    def hold_future(self, tx: Transaction, sender: _Sender, expected: int) -> None:
        """Hold tx until its nonce comes up: signed, by a sender in good standing, within caps."""
        if tx.nonce > expected + self.limits.future_window:
            raise E.BadNonce(f"nonce {tx.nonce} is too far ahead of the next nonce {expected}")
        if tx.nonce in sender.future:
            raise E.Duplicate(f"a transaction with nonce {tx.nonce} is already held")
        check_sender_standing(self.view, self.context(), tx.sender)  # a lookup: before the
        check_signed(tx, self.state.genesis, self.sigs)  # signature, so junk is refused cheaply
        if len(sender.future) >= self.limits.max_held_per_sender:
            raise E.MempoolFull(f"sender has {self.limits.max_held_per_sender} transactions "
                                "held for future nonces")
        if len(self.held) >= self.limits.max_held:
            raise E.MempoolFull(f"pool holds {self.limits.max_held} transactions for future nonces")
        self._hold(tx, sender, self.clock())

    def _hold(self, tx: Transaction, sender: _Sender, since: float) -> None:
        sender.future[tx.nonce] = tx
        self.senders[tx.sender] = sender
        self.held[tx.hash] = _Held(tx, since)
        self.nbytes += len(tx.raw)
        self.held_bytes += len(tx.raw)

    def _release(self, tx: Transaction) -> None:
        """Take tx out of the held set and its bytes off the pool's count."""
        del self.held[tx.hash]
        self.nbytes -= len(tx.raw)
        self.held_bytes -= len(tx.raw)

    def _unhold(self, tx: Transaction) -> None:
        """Forget a held tx entirely (expired or evicted; not promoted)."""
        self._release(tx)
        del self.senders[tx.sender].future[tx.nonce]
        self._forget_if_idle(tx.sender)

    def expire_held(self) -> None:
        """Drop held txs whose nonce gap did not fill within held_ttl_s (oldest first); they
        are reported by the next add, block_committed or recheck."""
        cutoff = self.clock() - self.limits.held_ttl_s
        while self.held:
            first = next(iter(self.held.values()))
            if first.since > cutoff:
                break
            self._unhold(first.tx)
            self.expired.append(Dropped(first.tx, E.BadNonce(
                f"nonce {first.tx.nonce} was still ahead of the sender's next after "
                f"{self.limits.held_ttl_s:g} s")))

    def sweep_expired(self) -> list[Dropped]:
        """Expire held txs now and return every expiry not yet reported: what the daemon's
        timer calls, so an idle pool (no admission, no block) frees them too."""
        if self.held:
            self.expire_held()
        return self._take_expired()

    def _take_expired(self) -> list[Dropped]:
        expired, self.expired = self.expired, []
        return expired

    def _evict_held_for(self, tx: Transaction) -> list[Dropped]:
        """Make room for a ready tx by evicting held txs, oldest first (check_room vouched)."""
        dropped = []
        while self.held and (len(self) >= self.limits.max_txs
                             or self.nbytes + len(tx.raw) > self.limits.max_bytes):
            first = next(iter(self.held.values()))
            self._unhold(first.tx)
            dropped.append(Dropped(first.tx, E.MempoolFull(
                "evicted: the pool was full and a ready transaction needed the room")))
        return dropped

    def _append_ready(self, tx: Transaction, sender: _Sender) -> None:
        self.ready[tx.hash] = tx
        sender.ready += 1
        self.senders[tx.sender] = sender
        self.nbytes += len(tx.raw)

    def _promote(self, address: bytes) -> list[Dropped]:
        """Move held txs whose turn has come into the ready queue, in nonce order."""
        sender = self.senders[address]
        dropped = []
        while True:
            tx = sender.future.pop(self.view.account(address).nonce, None)
            if tx is None:
                break
            self._release(tx)
            try:
                admit(self.view, tx, self.context(), self.sigs)
            except E.LedgerError as err:
                dropped.append(Dropped(tx, err))
                continue
            self._append_ready(tx, sender)
        self._forget_if_idle(address)
        return dropped

    def _forget_if_idle(self, address: bytes) -> None:
        s = self.senders.get(address)
        if s is not None and s.ready == 0 and not s.future:
            del self.senders[address]

    # -- block production -----------------------------------------------------------------
    def take(self, max_txs: int, max_bytes: int, skip: set[bytes] | None = None) -> list[Transaction]:
        """The oldest ready transactions, in admission order (so each sender's in nonce order)."""
        out: list[Transaction] = []
        size = 0
        for h, tx in self.ready.items():
            if skip and h in skip:
                continue
            if len(out) >= max_txs or size + len(tx.raw) > max_bytes:
                break
            out.append(tx)
            size += len(tx.raw)
        return out

    # -- after a block ----------------------------------------------------------------------
    def block_committed(self, tx_hashes: list[bytes], all_ok: bool, timestamp: int) -> list[Dropped]:
        """Remove what the block committed; re-check the rest against the new state.

        Fast path: every tx of the block succeeded, came from our ready queue, and is of a
        commutative kind. The speculative view already holds their effects (it holds every
        pending tx's), and the rest of the pool stays valid as it was, so nothing is re-applied.
        """
        self.last_block_time = max(self.last_block_time, timestamp)
        time_moved = timestamp - self.last_recheck_time >= RECHECK_EVERY_MS
        if all_ok and not time_moved and self._all_pending_and_commutative(tx_hashes):
            for h in tx_hashes:
                self._remove_ready(h)
            if self.held:
                self.expire_held()
            if not self.ready and not self.held:
                self.view = Overlay(self.state)
            return self._take_expired()
        return self.recheck(set(tx_hashes))

    def _all_pending_and_commutative(self, tx_hashes: list[bytes]) -> bool:
        for h in tx_hashes:
            tx = self.ready.get(h)
            if tx is None or tx.kind not in COMMUTATIVE_KINDS:
                return False
        return True

    def recheck(self, committed: Set[bytes] = frozenset()) -> list[Dropped]:
        """Rebuild the speculative view from committed state, dropping what no longer passes."""
        self.last_recheck_time = self.last_block_time
        pending = [tx for h, tx in self.ready.items() if h not in committed]
        held = list(self.held.values())
        self.ready.clear()
        self.senders.clear()
        self.held.clear()
        self.nbytes = self.held_bytes = 0
        self.view = Overlay(self.state)
        dropped = []
        ctx = self.context()
        for tx in pending:
            sender = self.senders.get(tx.sender) or _Sender()
            try:
                admit(self.view, tx, ctx, self.sigs)
            except E.LedgerError as err:
                dropped.append(Dropped(tx, err))
                continue
            self._append_ready(tx, sender)
        for h in held:
            tx = h.tx
            sender = self.senders.get(tx.sender) or _Sender()
            expected = self.view.account(tx.sender).nonce
            if tx.nonce < expected:
                dropped.append(Dropped(tx, E.BadNonce(f"nonce {tx.nonce} was used by another transaction")))
                continue
            self._hold(tx, sender, h.since)
        for address in list(self.senders):
            dropped += self._promote(address)
        self.expire_held()
        return dropped + self._take_expired()

    def _remove_ready(self, tx_hash: bytes) -> None:
        tx = self.ready.pop(tx_hash)
        self.nbytes -= len(tx.raw)
        sender = self.senders[tx.sender]
        sender.ready -= 1
        self._forget_if_idle(tx.sender)


def check_sender_room(sender: _Sender, limits: PoolLimits) -> None:
    if sender.ready + len(sender.future) >= limits.max_per_sender:
        raise E.MempoolFull(f"sender has {limits.max_per_sender} pending transactions")
