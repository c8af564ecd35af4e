"""The transaction pool (node.ledger.mempool): admission with the ledger rules, held future nonces,
bounds, block production order, and re-checking after a committed block."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.mempool import Mempool, PoolLimits
from node.ledger.types import (
    Freeze,
    Issue,
    KycAttest,
    KycRevoke,
    Redeem,
    Transfer,
    Unfreeze,
    decode_tx,
    sign_tx,
)

from .support import ERIN_EXPIRES, HOUR, T0, Chain


class Clock:
    """The pool's clock, in whole seconds (the pool reads time.time()-style seconds)."""

    def __init__(self, ms: int):
        self.ms = ms

    def __call__(self) -> float:
        return self.ms // 1000


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + HOUR)


@pytest.fixture
def pool(chain, clock) -> Mempool:
    """A pool over the chain fixture's committed state, sharing its signature cache."""
    return Mempool(chain.state, chain.sigs, clock=clock)


def pay(signer, frm, to, amount, nonce, asset="USD", memo=""):
    return signer(frm, Transfer(asset, to.address, amount, memo), nonce)


def hashes(txs) -> list[bytes]:
    return [t.hash for t in txs]


def rejects(pool: Mempool, err, tx):
    """Assert the exact error and that the pool is unchanged."""
    before = (len(pool), hashes(pool.take(10_000, 1 << 30)), pool.nbytes)
    with pytest.raises(E.LedgerError) as info:
        pool.add(tx)
    assert type(info.value) is err, f"expected {err.__name__}, got {info.value!r}"
    assert (len(pool), hashes(pool.take(10_000, 1 << 30)), pool.nbytes) == before
    assert tx.hash not in pool or err is E.Duplicate
    return info.value


def commit_block(chain, pool, txs, timestamp):
    """Execute and commit a block, then tell the pool, as the daemon does."""
    result = chain.run(txs, timestamp)
    return result, pool.block_committed(result.tx_hashes, all(r.ok for r in result.receipts),
                                        timestamp)


# ---- admission ------------------------------------------------------------------------------

def test_pool_admits_valid_txs(pool, keys, signer):
    txs = [pay(signer, keys.alice, keys.bob, 10, 0), pay(signer, keys.bob, keys.alice, 20, 0)]
    for tx in txs:
        pool.add(tx)
    assert len(pool) == 2
    assert all(t.hash in pool for t in txs)
    assert hashes(pool.take(10, 1 << 20)) == hashes(txs)


def test_pool_rejects_with_the_rules_error_and_stays_unchanged(pool, keys, signer):
    pool.add(pay(signer, keys.alice, keys.bob, 10, 0))
    rejects(pool, E.KycMissing, pay(signer, keys.carol, keys.bob, 10, 0))
    rejects(pool, E.KycMissing, pay(signer, keys.alice, keys.carol, 10, 1))
    rejects(pool, E.JurisdictionBlocked, pay(signer, keys.dave, keys.bob, 10, 0))
    rejects(pool, E.LimitExceeded, pay(signer, keys.alice, keys.bob, 5_000, 1))
    rejects(pool, E.WrongChain, signer(keys.alice, Transfer("USD", keys.bob.address, 1), 1,
                                       chain_id=sha256(b"elsewhere")))
    good = pay(signer, keys.alice, keys.bob, 10, 1)
    rejects(pool, E.BadSignature, decode_tx(good.raw[:-1] + bytes([good.raw[-1] ^ 1])))
    # the sender's next nonce is still 1: nothing of the rejections stuck
    pool.add(good)
    assert len(pool) == 2


def test_second_payment_is_judged_after_the_first(pool, keys, signer):
    pool.add(pay(signer, keys.alice, keys.bob, 300, 0, "EUR"))
    err = rejects(pool, E.InsufficientFunds, pay(signer, keys.alice, keys.bob, 300, 1, "EUR"))
    assert err.code == "INSUFFICIENT_FUNDS"
    pool.add(pay(signer, keys.alice, keys.bob, 200, 1, "EUR"))


def test_pending_payments_count_against_the_rolling_limit(pool, keys, signer):
    pool.add(pay(signer, keys.alice, keys.bob, 1_000, 0))
    pool.add(pay(signer, keys.alice, keys.bob, 1_000, 1))
    rejects(pool, E.LimitExceeded, pay(signer, keys.alice, keys.bob, 1_000, 2))


def test_replay_of_pending_tx_is_duplicate(pool, keys, signer):
    tx = pay(signer, keys.alice, keys.bob, 10, 0)
    pool.add(tx)
    err = rejects(pool, E.Duplicate, tx)
    assert err.code == "DUPLICATE"


def test_replay_of_committed_tx_is_bad_nonce(chain, pool, keys, signer):
    tx = pay(signer, keys.alice, keys.bob, 10, 0)
    pool.add(tx)
    commit_block(chain, pool, [tx], T0 + HOUR)
    rejects(pool, E.BadNonce, tx)


def test_future_nonces_are_held_then_promoted_in_order(pool, keys, signer):
    n0, n1, n2, n3 = (pay(signer, keys.alice, keys.bob, 10 + n, n) for n in range(4))
    pool.add(n3)
    pool.add(n1)
    assert len(pool) == 2 and n1.hash in pool and n3.hash in pool
    assert pool.take(10, 1 << 20) == []
    rejects(pool, E.Duplicate, n1)
    pool.add(n0)
    assert hashes(pool.take(10, 1 << 20)) == hashes([n0, n1])
    pool.add(n2)
    assert hashes(pool.take(10, 1 << 20)) == hashes([n0, n1, n2, n3])
    assert len(pool) == 4


def test_held_tx_with_a_taken_nonce_is_duplicate(pool, keys, signer):
    pool.add(pay(signer, keys.alice, keys.bob, 10, 2))
    rejects(pool, E.Duplicate, pay(signer, keys.alice, keys.bob, 11, 2))


def test_nonce_too_far_ahead_is_bad_nonce(genesis, chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(future_window=4), clock=clock)
    err = rejects(pool, E.BadNonce, pay(signer, keys.alice, keys.bob, 10, 5))
    assert err.code == "BAD_NONCE"
    pool.add(pay(signer, keys.alice, keys.bob, 10, 4))
    pool.add(pay(signer, keys.alice, keys.bob, 10, 0))
    # the window moves with the sender's next nonce
    pool.add(pay(signer, keys.alice, keys.bob, 10, 5))


def test_held_tx_needs_a_valid_signature_and_chain(pool, keys, signer):
    good = pay(signer, keys.alice, keys.bob, 10, 3)
    rejects(pool, E.BadSignature, decode_tx(good.raw[:-1] + bytes([good.raw[-1] ^ 1])))
    rejects(pool, E.WrongChain, signer(keys.alice, Transfer("USD", keys.bob.address, 1), 3,
                                       chain_id=sha256(b"elsewhere")))


def test_held_tx_that_fails_when_promoted_is_not_admitted(pool, keys, signer):
    pool.add(pay(signer, keys.alice, keys.bob, 400, 1, "EUR"))
    pool.add(pay(signer, keys.alice, keys.bob, 400, 0, "EUR"))  # leaves 100 EUR: n1 fails
    assert len(pool) == 1
    # the nonce is free again for a payment that fits
    pool.add(pay(signer, keys.alice, keys.bob, 100, 1, "EUR"))
    assert len(pool) == 2


# ---- bounds ---------------------------------------------------------------------------------

def test_pool_bounded_by_count_is_mempool_full(chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_txs=2), clock=clock)
    pool.add(pay(signer, keys.alice, keys.bob, 10, 0))
    pool.add(pay(signer, keys.bob, keys.alice, 10, 0))
    err = rejects(pool, E.MempoolFull, pay(signer, keys.erin, keys.bob, 10, 0, "EUR"))
    assert err.code == "MEMPOOL_FULL"
    rejects(pool, E.MempoolFull, pay(signer, keys.bob, keys.alice, 10, 1))


def test_held_txs_count_toward_the_pool_bound(chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_txs=2), clock=clock)
    pool.add(pay(signer, keys.alice, keys.bob, 10, 0))
    pool.add(pay(signer, keys.bob, keys.alice, 10, 1))  # held: counts too
    rejects(pool, E.MempoolFull, pay(signer, keys.alice, keys.bob, 10, 2))  # no room to hold


def test_pool_bounded_by_bytes_is_mempool_full(chain, clock, keys, signer):
    txs = [pay(signer, keys.alice, keys.bob, 10, n) for n in range(3)]
    limit = len(txs[0].raw) + len(txs[1].raw)
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_bytes=limit), clock=clock)
    pool.add(txs[0])
    pool.add(txs[1])
    assert pool.nbytes == limit
    rejects(pool, E.MempoolFull, txs[2])


def test_pool_bounded_per_sender_is_mempool_full(chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_per_sender=2), clock=clock)
    pool.add(pay(signer, keys.alice, keys.bob, 10, 0))
    pool.add(pay(signer, keys.alice, keys.bob, 10, 2))
    rejects(pool, E.MempoolFull, pay(signer, keys.alice, keys.bob, 10, 1))
    pool.add(pay(signer, keys.bob, keys.alice, 10, 0))  # other senders are not affected


def test_room_frees_up_after_a_block(chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_txs=1), clock=clock)
    tx = pay(signer, keys.alice, keys.bob, 10, 0)
    pool.add(tx)
    rejects(pool, E.MempoolFull, pay(signer, keys.bob, keys.alice, 10, 0))
    commit_block(chain, pool, [tx], T0 + HOUR)
    assert len(pool) == 0 and pool.nbytes == 0
    pool.add(pay(signer, keys.bob, keys.alice, 10, 0))


# ---- take -----------------------------------------------------------------------------------

def test_take_gives_admission_order_within_bounds(pool, keys, signer):
    txs = [pay(signer, keys.alice, keys.bob, 10, 0), pay(signer, keys.bob, keys.alice, 10, 0),
           pay(signer, keys.alice, keys.bob, 10, 1), pay(signer, keys.erin, keys.bob, 10, 0, "EUR"),
           pay(signer, keys.bob, keys.alice, 10, 1)]
    for tx in txs:
        pool.add(tx)
    assert hashes(pool.take(10, 1 << 20)) == hashes(txs)
    assert hashes(pool.take(3, 1 << 20)) == hashes(txs[:3])
    assert hashes(pool.take(10, len(txs[0].raw) + len(txs[1].raw))) == hashes(txs[:2])
    assert hashes(pool.take(10, 1 << 20, skip={txs[1].hash})) == hashes(txs[:1] + txs[2:])
    assert len(pool) == 5  # take does not remove


# ---- after a block --------------------------------------------------------------------------

def test_block_committed_removes_committed_txs(chain, pool, keys, signer):
    txs = [pay(signer, keys.alice, keys.bob, 10, n) for n in range(3)]
    for tx in txs:
        pool.add(tx)
    result, dropped = commit_block(chain, pool, pool.take(2, 1 << 20), T0 + HOUR)
    assert dropped == [] and [r.ok for r in result.receipts] == [True, True]
    assert hashes(pool.take(10, 1 << 20)) == hashes(txs[2:])
    assert txs[0].hash not in pool and len(pool) == 1
    pool.add(pay(signer, keys.alice, keys.bob, 10, 3))
    result, dropped = commit_block(chain, pool, pool.take(10, 1 << 20), T0 + HOUR)
    assert dropped == [] and len(pool) == 0 and pool.nbytes == 0
    assert chain.state.account(keys.alice.address).nonce == 4
    pool.add(pay(signer, keys.alice, keys.bob, 10, 4))


def test_block_from_another_node_keeps_still_valid_pending_txs(chain, pool, keys, signer):
    mine = pay(signer, keys.alice, keys.bob, 10, 0)
    pool.add(mine)
    _, dropped = commit_block(chain, pool, [pay(signer, keys.bob, keys.erin, 10, 0, "EUR")],
                              T0 + HOUR)
    assert dropped == []
    assert hashes(pool.take(10, 1 << 20)) == [mine.hash]


def test_block_committing_a_conflicting_nonce_drops_pending_tx_as_bad_nonce(chain, pool, keys,
                                                                           signer):
    mine = pay(signer, keys.alice, keys.bob, 10, 0)
    pool.add(mine)
    _, dropped = commit_block(chain, pool, [pay(signer, keys.alice, keys.bob, 99, 0)], T0 + HOUR)
    assert [(d.tx.hash, type(d.error)) for d in dropped] == [(mine.hash, E.BadNonce)]
    assert len(pool) == 0


def test_recheck_after_block_revoking_an_attestation_drops_pending_tx_as_kyc_revoked(
        chain, pool, keys, signer):
    from_alice = pay(signer, keys.alice, keys.bob, 10, 0)
    to_alice = pay(signer, keys.bob, keys.alice, 10, 0)
    unrelated = pay(signer, keys.erin, keys.bob, 10, 0, "EUR")
    for tx in (from_alice, to_alice, unrelated):
        pool.add(tx)
    _, dropped = commit_block(chain, pool, [signer(keys.bank_a, KycRevoke(keys.alice.address), 0)],
                              T0 + HOUR)
    assert [(d.tx.hash, type(d.error)) for d in dropped] == [
        (from_alice.hash, E.KycRevoked), (to_alice.hash, E.KycRevoked)]
    assert dropped[0].error.code == "KYC_REVOKED"
    assert hashes(pool.take(10, 1 << 20)) == [unrelated.hash]


def test_recheck_after_block_passing_an_expiry_drops_pending_tx_as_kyc_expired(
        chain, pool, keys, signer):
    from_erin = pay(signer, keys.erin, keys.bob, 10, 0, "EUR")
    other = pay(signer, keys.alice, keys.bob, 10, 0)
    pool.add(from_erin)
    pool.add(other)
    # a block from another node, at a time past erin's expiry; the local clock lags behind
    _, dropped = commit_block(chain, pool, [pay(signer, keys.bob, keys.alice, 10, 0)],
                              ERIN_EXPIRES)
    assert [(d.tx.hash, type(d.error)) for d in dropped] == [(from_erin.hash, E.KycExpired)]
    assert hashes(pool.take(10, 1 << 20)) == [other.hash]


def test_block_of_the_pools_head_passing_an_expiry_drops_pending_tx_as_kyc_expired(
        chain, pool, keys, signer):
    head = pay(signer, keys.bob, keys.alice, 10, 0)
    from_erin = pay(signer, keys.erin, keys.bob, 10, 0, "EUR")
    pool.add(head)
    pool.add(from_erin)
    # the block commits exactly the pool's head, all ok, at a time past erin's expiry
    result, dropped = commit_block(chain, pool, [head], ERIN_EXPIRES)
    assert result.receipts[0].ok
    assert [(d.tx.hash, type(d.error)) for d in dropped] == [(from_erin.hash, E.KycExpired)]
    assert len(pool) == 0


def test_admission_after_a_block_judges_against_the_block_time(chain, pool, keys, signer):
    commit_block(chain, pool, [pay(signer, keys.bob, keys.alice, 10, 0)], ERIN_EXPIRES)
    rejects(pool, E.KycExpired, pay(signer, keys.erin, keys.bob, 10, 0, "EUR"))


def test_block_spending_pending_funds_drops_pending_txs(chain, pool, keys, signer):
    first = pay(signer, keys.alice, keys.bob, 300, 0, "EUR")
    second = pay(signer, keys.alice, keys.bob, 100, 1, "EUR")
    pool.add(first)
    pool.add(second)
    # another node's block spends alice's EUR first, under a different tx at nonce 0
    result, dropped = commit_block(chain, pool, [pay(signer, keys.alice, keys.bob, 500, 0, "EUR")],
                                   T0 + HOUR)
    assert {(d.tx.hash, type(d.error)) for d in dropped} == {
        (first.hash, E.BadNonce), (second.hash, E.InsufficientFunds)}
    assert len(pool) == 0


def test_held_tx_is_promoted_when_a_block_fills_the_gap(chain, pool, keys, signer):
    held = pay(signer, keys.alice, keys.bob, 10, 1)
    pool.add(held)
    assert pool.take(10, 1 << 20) == []
    _, dropped = commit_block(chain, pool, [pay(signer, keys.alice, keys.bob, 10, 0)], T0 + HOUR)
    assert dropped == []
    assert hashes(pool.take(10, 1 << 20)) == [held.hash]


def test_pool_tx_failing_in_its_block_is_removed_and_the_rest_rechecked(chain, pool, keys, signer):
    n0 = pay(signer, keys.erin, keys.bob, 10, 0, "EUR")
    n1 = pay(signer, keys.erin, keys.bob, 10, 1, "EUR")
    pool.add(n0)
    pool.add(n1)
    result, dropped = commit_block(chain, pool, [n0], ERIN_EXPIRES)
    assert result.receipts[0].code == "KYC_EXPIRED"
    assert [(d.tx.hash, type(d.error)) for d in dropped] == [(n1.hash, E.KycExpired)]
    assert n0.hash not in pool and len(pool) == 0


def test_pool_rechecks_time_dependent_rules_once_block_time_moves_enough(chain, pool, keys,
                                                                        signer):
    from node.ledger.mempool import RECHECK_EVERY_MS
    heads = [pay(signer, keys.bob, keys.alice, 10, n) for n in range(2)]
    from_erin = pay(signer, keys.erin, keys.bob, 10, 0, "EUR")
    for tx in heads + [from_erin]:
        pool.add(tx)
    _, dropped = commit_block(chain, pool, heads[:1], ERIN_EXPIRES - RECHECK_EVERY_MS // 2)
    assert dropped == [] and from_erin.hash in pool
    _, dropped = commit_block(chain, pool, heads[1:], ERIN_EXPIRES + RECHECK_EVERY_MS // 2 + 100)
    assert [(d.tx.hash, type(d.error)) for d in dropped] == [(from_erin.hash, E.KycExpired)]
    assert len(pool) == 0


# ---- admission and execution agree ----------------------------------------------------------

ACTORS = ("alice", "bob", "carol", "dave", "erin", "bank_a", "bank_b", "regulator")
PAYERS = ("alice", "alice", "bob", "bob", "erin", "bank_a", "bank_b", "carol", "dave")
PAYEES = ("alice", "bob", "erin", "bank_a", "bank_b", "carol", "dave")
AMOUNTS = [1, 400, 999, 1_000, 1_001, 2_600, 600_000]


def random_tx(keys, draw):
    """One random (signer, payload), valid or not, over the genesis actors."""
    who = lambda: getattr(keys, draw(st.sampled_from(ACTORS)))  # noqa: E731
    kind = draw(st.sampled_from(["transfer"] * 6 + ["issue", "redeem", "attest", "revoke",
                                                     "freeze", "unfreeze"]))
    asset = draw(st.sampled_from(["USD", "USD", "EUR", "GBP"]))
    amount = draw(st.sampled_from(AMOUNTS))
    if kind == "transfer":
        sender = getattr(keys, draw(st.sampled_from(PAYERS)))
        return sender, Transfer(asset, getattr(keys, draw(st.sampled_from(PAYEES))).address, amount)
    if kind == "issue":
        return who(), Issue(asset, who().address, amount)
    if kind == "redeem":
        return who(), Redeem(asset, amount)
    if kind == "attest":
        return who(), KycAttest(who().address, draw(st.sampled_from([1, 2, 3])),
                                draw(st.sampled_from(["US", "KP"])), ERIN_EXPIRES + HOUR,
                                b"\x03" * 32)
    if kind == "revoke":
        return who(), KycRevoke(who().address)
    sender = keys.regulator if draw(st.booleans()) else who()
    return sender, (Freeze if kind == "freeze" else Unfreeze)(who().address)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), when=st.sampled_from([T0 + HOUR, ERIN_EXPIRES - 1_000, ERIN_EXPIRES]))
def test_what_the_pool_admits_executes_the_same_in_a_block(genesis, keys, data, when):
    chain = Chain(genesis, keys.bank_a)
    pool = Mempool(chain.state, chain.sigs, clock=lambda: when // 1000)  # the block's time
    for _ in range(data.draw(st.integers(4, 16))):
        key, payload = random_tx(keys, data.draw)
        try:
            pool.add(sign_tx(key, genesis.chain_id, pool.view.account(key.address).nonce, payload))
        except E.LedgerError:
            pass
    admitted = pool.take(100, 1 << 20)
    event(f"admitted {min(len(admitted), 5)}+")
    result = chain.run(admitted, when)
    assert [r.code for r in result.receipts] == [""] * len(admitted)
    for name in ACTORS:
        addr = getattr(keys, name).address
        assert pool.view.account(addr).to_wire() == chain.state.account(addr).to_wire()
    for code in ("USD", "EUR", "GBP"):
        assert pool.view.supply(code) == chain.state.supply(code)


# ---- held txs cannot clog the pool ------------------------------------------------------------
# The attack: holding a future-nonce tx costs nothing on chain, so throwaway keys (or any
# signer) sending nonces 1..64 used to fill every node's pool, and payments that could commit
# now were refused MEMPOOL_FULL.

def test_unattested_sender_is_not_held_for(pool, keys, signer):
    """Models a throwaway key parking a future-nonce tx: refused with its KYC code."""
    err = rejects(pool, E.KycMissing, pay(signer, keys.carol, keys.bob, 10, 1))
    assert err.code == "KYC_MISSING"
    rejects(pool, E.KycMissing, pay(signer, keys.frank, keys.bob, 10, 1))  # a key never seen


def test_frozen_or_blocked_sender_is_not_held_for(chain, clock, keys, signer):
    """Models a frozen account (or one of a blocked jurisdiction) parking future-nonce txs."""
    chain.run([signer(keys.regulator, Freeze(keys.alice.address), 0)], T0 + HOUR)
    pool = Mempool(chain.state, chain.sigs, clock=clock)
    rejects(pool, E.Frozen, pay(signer, keys.alice, keys.bob, 10, 1))
    rejects(pool, E.JurisdictionBlocked, pay(signer, keys.dave, keys.bob, 10, 1))


def test_institutions_and_the_regulator_may_hold_future_nonces(pool, keys, signer):
    pool.add(pay(signer, keys.bank_a, keys.bob, 10, 1))
    pool.add(signer(keys.regulator, Freeze(keys.carol.address), 1))
    assert len(pool) == 2 and pool.take(10, 1 << 20) == []


def test_held_txs_are_capped_per_sender(chain, clock, keys, signer):
    """Models one key parking its whole 64-nonce window."""
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_held_per_sender=2), clock=clock)
    pool.add(pay(signer, keys.alice, keys.bob, 10, 1))
    pool.add(pay(signer, keys.alice, keys.bob, 10, 2))
    rejects(pool, E.MempoolFull, pay(signer, keys.alice, keys.bob, 10, 3))
    pool.add(pay(signer, keys.bob, keys.alice, 10, 1))  # other senders are not affected
    pool.add(pay(signer, keys.alice, keys.bob, 10, 0))  # nor the sender's ready tx
    assert len(pool) == 4 and len(pool.held) == 1  # alice 0, 1, 2 ready; bob 1 held


def test_held_txs_are_capped_in_all(chain, clock, keys, signer):
    """Models many keys each parking a few future nonces."""
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_held=2), clock=clock)
    pool.add(pay(signer, keys.alice, keys.bob, 10, 1))
    pool.add(pay(signer, keys.bob, keys.alice, 10, 1))
    rejects(pool, E.MempoolFull, pay(signer, keys.erin, keys.bob, 10, 1, "EUR"))
    pool.add(pay(signer, keys.erin, keys.bob, 10, 0, "EUR"))  # ready txs are not capped so


def test_held_txs_expire_in_pool_time(chain, clock, keys, signer):
    """Models txs parked forever for a nonce gap that never fills."""
    pool = Mempool(chain.state, chain.sigs, PoolLimits(held_ttl_s=60), clock=clock)
    old = pay(signer, keys.alice, keys.bob, 10, 1)
    pool.add(old)
    clock.ms += 30_000
    young = pay(signer, keys.bob, keys.alice, 10, 1)
    pool.add(young)
    clock.ms += 30_000  # old has waited 60 s
    dropped = pool.add(pay(signer, keys.erin, keys.bob, 10, 0, "EUR"))
    assert [(d.tx.hash, d.error.code) for d in dropped] == [(old.hash, "BAD_NONCE")]
    assert old.hash not in pool and young.hash in pool and len(pool) == 2
    # the nonce is free again, and a block's commit expires the rest
    pool.add(old)
    clock.ms += 60_000
    result, dropped = commit_block(chain, pool, pool.take(10, 1 << 20), T0 + HOUR)
    assert sorted(d.tx.hash for d in dropped) == sorted([old.hash, young.hash])
    assert len(pool) == 0


def test_a_full_pool_evicts_held_txs_oldest_first_for_a_ready_tx(chain, clock, keys, signer):
    """Models a pool filled with held txs from many senders: a funded, attested account's
    payment that could commit now still gets in, and the oldest held txs make room."""
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_txs=6), clock=clock)
    held = []
    for who in (keys.alice, keys.erin, keys.bank_a):
        for n in (1, 2):
            tx = pay(signer, who, keys.bob, 10, n, "EUR" if who is keys.erin else "USD")
            pool.add(tx)
            held.append(tx)
            clock.ms += 1000
    assert len(pool) == 6 and pool.take(10, 1 << 20) == []
    payment = pay(signer, keys.bob, keys.alice, 10, 0)
    dropped = pool.add(payment)
    assert [(d.tx.hash, d.error.code) for d in dropped] == [(held[0].hash, "MEMPOOL_FULL")]
    assert hashes(pool.take(10, 1 << 20)) == [payment.hash] and len(pool) == 6
    # deterministic: the same pool, the same arrivals, the same survivors
    second = pay(signer, keys.bob, keys.alice, 10, 1)
    assert [d.tx.hash for d in pool.add(second)] == [held[1].hash]
    assert set(pool.held) == set(hashes(held[2:]))


def test_a_full_pool_of_ready_txs_still_refuses(chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_txs=2), clock=clock)
    pool.add(pay(signer, keys.alice, keys.bob, 10, 0))
    pool.add(pay(signer, keys.alice, keys.bob, 10, 2))  # held
    pool.add(pay(signer, keys.erin, keys.bob, 10, 0, "EUR"))  # evicts the held one
    rejects(pool, E.MempoolFull, pay(signer, keys.bob, keys.alice, 10, 0))


def test_eviction_happens_only_when_the_ready_tx_is_admitted(chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(max_txs=1), clock=clock)
    pool.add(pay(signer, keys.alice, keys.bob, 10, 1))  # held
    rejects(pool, E.InsufficientFunds, pay(signer, keys.erin, keys.bob, 20_000, 0, "EUR"))
    assert len(pool.held) == 1


def test_an_expiry_before_a_refusal_is_reported_by_the_next_admission(chain, clock, keys, signer):
    pool = Mempool(chain.state, chain.sigs, PoolLimits(held_ttl_s=60), clock=clock)
    old = pay(signer, keys.alice, keys.bob, 10, 1)
    pool.add(old)
    clock.ms += 60_000
    with pytest.raises(E.KycMissing):
        pool.add(pay(signer, keys.carol, keys.bob, 10, 0))
    assert old.hash not in pool
    dropped = pool.add(pay(signer, keys.bob, keys.alice, 10, 0))
    assert [(d.tx.hash, d.error.code) for d in dropped] == [(old.hash, "BAD_NONCE")]
