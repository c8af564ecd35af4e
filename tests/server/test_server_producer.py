"""node.server.producer: when the leader cuts a block, and what it builds on."""
from __future__ import annotations

import pytest

from node.ledger.execution import ChainTip
from node.ledger.mempool import Mempool
from node.ledger.rules import SignatureCache
from node.ledger.state import State
from node.server.producer import BlockProducer, ProducerLimits

from ..harness import T0

LIMITS = ProducerLimits(max_txs=3, max_bytes=1024 * 1024, interval_ms=10, max_inflight=2)


@pytest.fixture
def world(genesis, keys, clock, pay):
    """(producer, pool, add(n) -> the txs added, genesis tip)."""
    state = State.from_genesis(genesis)
    pool = Mempool(state, SignatureCache(1000), clock=clock.time)
    tip = ChainTip(0, genesis.chain_id, T0, state.genesis_hash())
    producer = BlockProducer(keys["inst0"], pool, LIMITS, clock, tip)
    nonce = iter(range(1000))

    def add(n: int) -> list:
        txs = [pay(next(nonce)) for _ in range(n)]
        for t in txs:
            pool.add(t)
        return txs
    return producer, pool, add, tip


def test_no_block_while_the_pool_is_empty(world, clock):
    producer, _, _, _ = world
    clock.advance(1_000)
    assert producer.cut(term=1, log_applied=True) is None


def test_a_partial_block_waits_for_the_interval(world, clock):
    producer, _, add, _ = world
    txs = add(1)
    assert producer.cut(1, True) is None
    clock.advance(LIMITS.interval_ms - 1)
    assert producer.cut(1, True) is None
    clock.advance(1)
    assert producer.cut(1, True).tx_hashes == [t.hash for t in txs]


def test_a_full_block_is_cut_at_once(world, clock):
    producer, _, add, _ = world
    txs = add(LIMITS.max_txs + 1)
    cut = producer.cut(1, True)  # no time has passed
    assert cut is not None and cut.tx_hashes == [t.hash for t in txs[:LIMITS.max_txs]]


def test_blocks_chain_on_the_last_proposed_and_skip_what_it_holds(world, clock, keys):
    producer, _, add, tip = world
    first_txs = add(3)
    first = producer.cut(term=4, log_applied=True)
    producer.proposed_cut(first)
    second_txs = add(3)
    second = producer.cut(term=4, log_applied=True)
    h1, h2 = first.block.header, second.block.header
    assert (h1.height, h1.prev_hash, h1.term, h1.proposer) == (1, tip.block_hash, 4, keys["inst0"].address)
    assert (h2.height, h2.prev_hash) == (2, first.block.hash)
    assert first.tx_hashes == [t.hash for t in first_txs]
    assert second.tx_hashes == [t.hash for t in second_txs]


def test_the_timestamp_is_the_clocks_and_never_before_the_tip(world, clock):
    producer, _, add, tip = world
    add(3)
    clock.advance(1234)
    assert producer.cut(1, True).block.header.timestamp == T0 + 1234
    producer.restart(ChainTip(0, tip.block_hash, T0 + 10_000, tip.state_hash))  # tip ahead of us
    assert producer.cut(1, True).block.header.timestamp == T0 + 10_000


def test_at_most_max_inflight_blocks_and_execution_frees_a_slot(world, clock):
    producer, _, add, tip = world
    cuts = []
    for _ in range(LIMITS.max_inflight):
        add(3)
        cuts.append(producer.cut(1, True))
        producer.proposed_cut(cuts[-1])
    add(3)
    assert producer.cut(1, True) is None
    executed = ChainTip(1, cuts[0].block.hash, cuts[0].block.header.timestamp, b"s")
    producer.executed(executed, cuts[0].tx_hashes)
    third = producer.cut(1, True)
    assert third is not None and third.block.header.height == 3  # still on the last proposed


def test_a_new_leader_first_applies_its_log_then_pipelines(world, clock):
    producer, _, add, _ = world
    add(3)
    assert producer.cut(1, log_applied=False) is None  # nothing in flight: apply the log first
    first = producer.cut(1, log_applied=True)
    producer.proposed_cut(first)
    add(3)
    assert producer.cut(1, log_applied=False) is not None  # its own block in flight: go on


def test_a_restart_builds_on_the_executed_tip_and_offers_every_pooled_tx_again(world, clock):
    producer, _, add, tip = world
    txs = add(3)
    producer.proposed_cut(producer.cut(1, True))
    add(3)
    producer.proposed_cut(producer.cut(1, True))
    assert producer.cut(1, True) is None  # both slots taken
    producer.restart(tip)  # e.g. a new leader: what was proposed may be lost
    again = producer.cut(2, True)
    assert again.block.header.height == 1 and again.block.header.prev_hash == tip.block_hash
    assert again.tx_hashes == [t.hash for t in txs]


def test_an_idle_leader_cuts_an_empty_block_once_timed_work_is_due(genesis, keys, clock):
    """An FX offer expiring on an idle chain: no tx will come to carry the sweep, so the
    producer cuts an empty block once the expiry has passed, and only then; never while a
    block is in flight (its execution may be the very sweep)."""
    state = State.from_genesis(genesis)
    pool = Mempool(state, SignatureCache(1000), clock=clock.time)
    tip = ChainTip(0, genesis.chain_id, T0, state.genesis_hash())
    due: list[int | None] = [None]
    producer = BlockProducer(keys["inst0"], pool, LIMITS, clock, tip, lambda: due[0])
    clock.advance(1_000)
    assert producer.cut(1, True) is None  # nothing scheduled
    due[0] = int(clock.time() * 1000) + 500
    assert producer.cut(1, True) is None  # scheduled, not yet due
    clock.advance(500)
    cut = producer.cut(1, True)
    assert cut is not None and cut.block.txs == () and cut.tx_hashes == []
    assert cut.block.header.timestamp >= due[0]
    producer.proposed_cut(cut)
    clock.advance(1_000)
    assert producer.cut(1, True) is None  # in flight: wait for its execution
