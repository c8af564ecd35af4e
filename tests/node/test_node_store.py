"""The LevelDB store (node.store): blocks, receipts, state and Raft log survive a reopen."""
from __future__ import annotations

import pytest

from node.ledger.execution import ChainTip, execute_block
from node.ledger.rules import SignatureCache
from node.ledger.state import State
from node.ledger.types import Block, Freeze, Issue, KycAttest, KycRevoke, LicenseRevoke, Transfer
from node.store.db import Store, StoreError

from .support import ERIN_EXPIRES, HOUR, T0, YEAR_LATER


def history(keys, signer):
    return [
        ([signer(keys.alice, Transfer("EUR", keys.bob.address, 500), 0),  # alice's EUR to zero
          signer(keys.alice, Transfer("USD", keys.bob.address, 1_000), 1),  # a spend bucket
          signer(keys.carol, Transfer("USD", keys.bob.address, 10), 0),  # fails: KYC_MISSING
          signer(keys.bank_a, Issue("USD", keys.alice.address, 5_000), 0)], T0 + HOUR),
        ([signer(keys.bank_a, KycAttest(keys.carol.address, 2, "FR", YEAR_LATER, b"\x02" * 32), 1),
          signer(keys.regulator, Freeze(keys.dave.address), 0),
          signer(keys.regulator, LicenseRevoke("pay_c", "observer"), 1),
          signer(keys.bank_b, KycRevoke(keys.bob.address), 0)], T0 + 2 * HOUR),
        ([signer(keys.erin, Transfer("EUR", keys.alice.address, 10), 0)], ERIN_EXPIRES),
    ]


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "node0"


def test_new_store_starts_at_the_genesis_tip(genesis, chain, db_path):
    store = Store(db_path, genesis)
    try:
        assert store.tip() == chain.tip == ChainTip(0, genesis.chain_id, T0, chain.tip.state_hash)
        assert store.applied_index() == 0
        assert store.load_state().records() == State.from_genesis(genesis).records()
        assert store.state_hash_at(0) == chain.tip.state_hash
        assert store.block_bytes(1) is None and store.hard_state() is None
    finally:
        store.close()


def test_blocks_state_tip_and_receipts_survive_a_reopen(genesis, chain, keys, signer, db_path):
    store = Store(db_path, genesis)
    results = []
    for i, (txs, ts) in enumerate(history(keys, signer), start=1):
        result = chain.execute(chain.block(txs, ts))
        tip = store.write_block(result, raft_index=10 * i)
        chain.commit(result)
        assert tip == chain.tip
        results.append(result)
    store.close()

    store = Store(db_path, genesis)
    try:
        assert store.load_state().records() == chain.state.records()
        assert store.tip() == chain.tip
        assert store.applied_index() == 30
        for result in results:
            h = result.block.header.height
            assert store.block_bytes(h) == result.block.encode()
            assert Block.decode(store.block_bytes(h)) == result.block
            assert store.height_of(result.block.hash) == h
            assert store.state_hash_at(h) == result.state_hash
            for receipt in result.receipts:
                assert store.receipt(receipt.tx_hash) == receipt
        assert store.receipt(results[0].receipts[2].tx_hash).code == "KYC_MISSING"
        assert store.receipt(results[2].receipts[0].tx_hash).code == "KYC_EXPIRED"
        assert store.receipt(b"\x00" * 32) is None
        assert store.height_of(b"\x00" * 32) is None
    finally:
        store.close()


def test_state_loaded_from_the_store_executes_like_the_in_memory_state(
        genesis, make_chain, keys, signer, db_path):
    chain = make_chain()
    store = Store(db_path, genesis)
    for i, (txs, ts) in enumerate(history(keys, signer), start=1):
        result = chain.execute(chain.block(txs, ts))
        store.write_block(result, i)
        chain.commit(result)
    store.close()
    store = Store(db_path, genesis)
    try:
        restarted = make_chain()
        restarted.state, restarted.tip = store.load_state(), store.tip()
    finally:
        store.close()
    # the next block touches what the history left behind: zero balance, spend bucket,
    # revoked attestation, frozen account, stripped license
    txs = [signer(keys.alice, Transfer("USD", keys.carol.address, 1_000), 2),
           signer(keys.alice, Transfer("USD", keys.carol.address, 1_000), 3),  # LIMIT_EXCEEDED
           signer(keys.alice, Transfer("EUR", keys.carol.address, 1), 4),  # INSUFFICIENT_FUNDS
           signer(keys.bob, Transfer("USD", keys.alice.address, 1), 0),  # KYC_REVOKED
           signer(keys.carol, Transfer("USD", keys.dave.address, 1), 1),  # FROZEN
           signer(keys.alice, Transfer("USD", keys.pay_c.address, 1), 5)]  # KYC_MISSING
    block = chain.block(txs, T0 + 3 * HOUR)
    a, b = chain.execute(block), restarted.execute(block)
    assert [r.code for r in a.receipts] == [r.code for r in b.receipts] == [
        "", "LIMIT_EXCEEDED", "INSUFFICIENT_FUNDS", "KYC_REVOKED", "FROZEN", "KYC_MISSING"]
    assert a.changes == b.changes
    assert a.state_hash == b.state_hash


def test_replayed_tx_in_a_later_block_keeps_its_committed_receipt(genesis, chain, keys, signer,
                                                                  db_path):
    tx = signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0)
    store = Store(db_path, genesis)
    try:
        first = chain.execute(chain.block([tx], T0 + HOUR))
        store.write_block(first, 1)
        chain.commit(first)
        # the same bytes again in a later block (a faulty or racing proposer): BAD_NONCE there
        replay = chain.execute(chain.block([tx], T0 + HOUR))
        assert replay.receipts[0].code == "BAD_NONCE"
        store.write_block(replay, 2)
        chain.commit(replay)
        # the tx was committed at height 1, and that is what the store must keep saying
        assert store.receipt(tx.hash) == first.receipts[0]
    finally:
        store.close()


def test_opening_a_store_with_another_genesis_is_store_error(genesis, other_genesis, db_path):
    Store(db_path, genesis).close()
    with pytest.raises(StoreError, match="genesis"):
        Store(db_path, other_genesis)
    store = Store(db_path, genesis)  # the failed open released the database
    store.close()


def test_opening_a_store_twice_is_store_error(genesis, db_path):
    store = Store(db_path, genesis)
    try:
        with pytest.raises(StoreError):
            Store(db_path, genesis)
    finally:
        store.close()


def test_skip_entry_advances_the_applied_index_only(genesis, db_path):
    store = Store(db_path, genesis)
    try:
        tip = store.tip()
        store.skip_entry(7)
        assert store.applied_index() == 7
        assert store.tip() == tip
    finally:
        store.close()


def test_raft_log_and_hard_state_survive_a_reopen(genesis, db_path):
    store = Store(db_path, genesis)
    store.save_raft([3, "node1", 5], [(1, b"a"), (2, b"b"), (3, b"c")])
    store.close()
    store = Store(db_path, genesis)
    try:
        assert store.hard_state() == [3, "node1", 5]
        assert store.raft_entries() == [(1, b"a"), (2, b"b"), (3, b"c")]
        assert store.raft_entries(2) == [(2, b"b"), (3, b"c")]
    finally:
        store.close()


def test_save_raft_replaces_a_conflicting_suffix(genesis, db_path):
    store = Store(db_path, genesis)
    try:
        store.save_raft([1, "", 0], [(i, b"term1-%d" % i) for i in range(1, 6)])
        store.save_raft([2, "node2", 2], [(3, b"term2-3")])
        assert store.raft_entries() == [(1, b"term1-1"), (2, b"term1-2"), (3, b"term2-3")]
        assert store.hard_state() == [2, "node2", 2]
        store.save_raft(None, [(4, b"term2-4"), (5, b"term2-5")])  # appending keeps the rest
        assert [i for i, _ in store.raft_entries()] == [1, 2, 3, 4, 5]
        assert store.hard_state() == [2, "node2", 2]
        store.save_raft([3, "", 4], [])
        assert len(store.raft_entries()) == 5 and store.hard_state() == [3, "", 4]
    finally:
        store.close()


def test_compact_raft_log_drops_entries_up_to_the_index(genesis, db_path):
    store = Store(db_path, genesis)
    try:
        store.save_raft(None, [(i, i.to_bytes(2, "big")) for i in range(1, 301)])
        store.compact_raft_log(256, 3)
        assert [i for i, _ in store.raft_entries()] == list(range(257, 301))
        assert store.raft_compacted() == (256, 3)
        store.compact_raft_log(10, 1)  # already gone: nothing happens
        assert store.raft_entries()[0] == (257, (257).to_bytes(2, "big"))
        assert store.raft_compacted() == (256, 3)
        store.compact_raft_log(300, 4)
        assert store.raft_entries() == [] and store.raft_compacted() == (300, 4)
    finally:
        store.close()


def test_a_store_backed_state_keeps_a_bounded_cache_and_executes_as_the_whole_state(
        genesis, chain, keys, signer, db_path):
    """With an account cache of 2, most accounts live only in LevelDB: every account reads
    back as the whole state has it, at most 2 stay decoded, and blocks executed on it give
    the state hashes and records the in-memory state gives (an evicted account's record is
    never older than what was evicted)."""
    store = Store(db_path, genesis)
    try:
        blocks = history(keys, signer)
        for txs, ts in blocks[:2]:
            result = chain.execute(chain.block(txs, ts))
            store.write_block(result, raft_index=0)
            chain.commit(result)
        bounded = store.load_state(account_cache=2)
        assert bounded.accounts.cached == 0  # a start decodes no account
        everyone = [keys.alice, keys.bob, keys.carol, keys.dave, keys.erin, keys.bank_a]
        for k in everyone + everyone:
            assert bounded.account(k.address).to_wire() == chain.state.account(k.address).to_wire()
            assert bounded.accounts.cached <= 2
        assert bounded.accounts.misses >= len(everyone)
        # the third block, executed on the bounded state and on the whole one
        txs, ts = blocks[2]
        block = chain.block(txs, ts)
        whole = chain.execute(block)
        on_bounded = execute_block(bounded, block, chain.tip, SignatureCache())
        assert on_bounded.state_hash == whole.state_hash and on_bounded.changes == whole.changes
        store.write_block(on_bounded, raft_index=0)
        on_bounded.overlay.commit()
        chain.commit(whole)
        assert bounded.records() == chain.state.records()
    finally:
        store.close()
