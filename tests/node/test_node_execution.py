"""Block validation and deterministic execution (node.ledger.execution)."""
from __future__ import annotations

import dataclasses

import pytest

from node.ledger.codec import pack, sha256
from node.ledger.execution import (
    InvalidBlock,
    build_block,
    execute_block,
    next_state_hash,
    validate_block,
)
from node.ledger.mempool import Mempool
from node.ledger.merkle import merkle_root
from node.ledger.rules import SignatureCache
from node.ledger.state import Account, AccountTable, Overlay
from node.ledger.types import (
    Block,
    Freeze,
    Issue,
    KycAttest,
    KycRevoke,
    LicenseRevoke,
    Transfer,
    decode_tx,
)

from .support import ERIN_EXPIRES, HOUR, T0, YEAR_LATER


def codes(result) -> list[str]:
    return [r.code for r in result.receipts]


def resign(block: Block, key, **changes) -> Block:
    """The block with header fields changed, signed again by `key`."""
    header = dataclasses.replace(block.header, **changes)
    return Block(header, key.sign(header.hash), block.txs)


def three_blocks(keys, signer):
    """A short history mixing successes and every kind of failure."""
    return [
        ([signer(keys.alice, Transfer("USD", keys.bob.address, 700), 0),
          signer(keys.carol, Transfer("USD", keys.bob.address, 10), 0),  # KYC_MISSING
          signer(keys.bank_a, Issue("USD", keys.alice.address, 5_000), 0),
          signer(keys.erin, Transfer("EUR", keys.bob.address, 10), 0),
          signer(keys.bob, Transfer("EUR", keys.erin.address, 20), 0)], T0 + HOUR),
        ([signer(keys.bank_a, KycAttest(keys.carol.address, 2, "FR", YEAR_LATER, b"\x01" * 32), 1),
          signer(keys.carol, Transfer("USD", keys.alice.address, 100), 1),
          signer(keys.regulator, Freeze(keys.bob.address), 0),
          signer(keys.bob, Transfer("USD", keys.alice.address, 5), 1),  # FROZEN
          signer(keys.alice, Transfer("USD", keys.bob.address, 9), 0)], T0 + 2 * HOUR),  # BAD_NONCE
        ([signer(keys.erin, Transfer("EUR", keys.bob.address, 10), 1),  # KYC_EXPIRED
          signer(keys.bank_a, KycRevoke(keys.alice.address), 2),
          signer(keys.alice, Transfer("USD", keys.carol.address, 1), 1)], ERIN_EXPIRES),  # REVOKED
    ]


# ---- determinism ----------------------------------------------------------------------------

def test_execution_is_deterministic_across_fresh_states(make_chain, keys, signer):
    a, b = make_chain(), make_chain()
    assert a.tip == b.tip
    for txs, ts in three_blocks(keys, signer):
        block = a.block(txs, ts)
        ra, rb = a.commit(a.execute(block)), b.commit(b.execute(Block.decode(block.encode())))
        assert ra.receipts == rb.receipts
        assert codes(ra) == codes(rb)
        assert ra.changes == rb.changes
        assert ra.state_hash == rb.state_hash
    assert a.tip == b.tip
    assert a.state.records() == b.state.records()


def test_history_receipts_carry_the_rule_that_failed(chain, keys, signer):
    results = [chain.run(txs, ts) for txs, ts in three_blocks(keys, signer)]
    assert [codes(r) for r in results] == [
        ["", "KYC_MISSING", "", "", ""],
        ["", "", "", "FROZEN", "BAD_NONCE"],
        ["KYC_EXPIRED", "", "KYC_REVOKED"],
    ]
    r = results[0].receipts[1]
    assert (r.height, r.index, r.ok) == (1, 1, False) and r.message
    r = results[2].receipts[1]
    assert (r.height, r.index, r.ok, r.message) == (3, 1, True, "")


def test_state_hash_does_not_depend_on_dict_order(genesis, make_chain, keys, signer):
    a, b = make_chain(), make_chain()
    # b's records were inserted in the opposite order, and so were each account's balances
    reordered = AccountTable()
    reordered.update({addr: Account(acct.nonce, dict(reversed(list(acct.balances.items()))),
                                    acct.attestations, acct.frozen, acct.spent)
                      for addr, acct in reversed(list(b.state.accounts.items()))})
    b.state.accounts = reordered
    b.state.licenses = dict(reversed(list(b.state.licenses.items())))
    b.state.supplies = dict(reversed(list(b.state.supplies.items())))
    assert a.state.genesis_hash() == b.state.genesis_hash()
    for txs, ts in three_blocks(keys, signer):
        block = a.block(txs, ts)
        assert a.commit(a.execute(block)).state_hash == b.commit(b.execute(block)).state_hash


def test_overlay_changes_do_not_depend_on_the_order_accounts_were_touched(state, keys):
    x, y = Overlay(state), Overlay(state)
    for who in (keys.alice, keys.bob, keys.frank):
        x.account_mut(who.address).balances["EUR"] = 1
    x.account_mut(keys.alice.address).balances["ZZZ"] = 2
    for who in (keys.frank, keys.bob, keys.alice):
        y.account_mut(who.address).balances["EUR"] = 1
    y.account_mut(keys.alice.address).balances["ZZZ"] = 2
    y.set_supply("USD", 3), y.set_supply("EUR", 4)
    x.set_supply("EUR", 4), x.set_supply("USD", 3)
    assert x.changes() == y.changes()
    assert [k for k, _ in x.changes()] == sorted(k for k, _ in x.changes())


def test_state_hash_changes_with_any_change_of_a_transaction(make_chain, keys, signer):
    def state_hash(txs, ts=T0 + HOUR):
        c = make_chain()
        return c.run(txs, ts).state_hash

    base = state_hash([signer(keys.alice, Transfer("USD", keys.bob.address, 10, "a"), 0)])
    variants = [
        [signer(keys.alice, Transfer("USD", keys.bob.address, 11, "a"), 0)],
        [signer(keys.alice, Transfer("USD", keys.bob.address, 10, "b"), 0)],
        [signer(keys.alice, Transfer("EUR", keys.bob.address, 10, "a"), 0)],
        [signer(keys.alice, Transfer("USD", keys.erin.address, 10, "a"), 0)],
        [signer(keys.alice, Transfer("USD", keys.bob.address, 10, "a"), 1)],  # fails: BAD_NONCE
    ]
    hashes = {base} | {state_hash(v) for v in variants}
    hashes.add(state_hash([signer(keys.alice, Transfer("USD", keys.bob.address, 10, "a"), 0)],
                          T0 + HOUR + 1))
    assert len(hashes) == len(variants) + 2
    # two failing txs that differ only in amount change no balance, but the hash still differs
    assert state_hash([signer(keys.carol, Transfer("USD", keys.bob.address, 10), 0)]) != \
        state_hash([signer(keys.carol, Transfer("USD", keys.bob.address, 11), 0)])


def test_state_hash_chains_over_blocks(chain, keys, signer):
    genesis_hash = chain.tip.state_hash
    r1 = chain.run([signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0)], T0 + HOUR)
    assert r1.state_hash == next_state_hash(genesis_hash, 1, r1.block.hash, r1.changes, r1.receipts)
    assert r1.state_hash != genesis_hash
    r2 = chain.run([signer(keys.alice, Transfer("USD", keys.bob.address, 10), 1)], T0 + HOUR)
    assert r2.state_hash == next_state_hash(r1.state_hash, 2, r2.block.hash, r2.changes,
                                            r2.receipts)


# ---- nonces at execution --------------------------------------------------------------------

def test_failed_rule_consumes_the_nonce(chain, keys, signer):
    result = chain.run([signer(keys.alice, Transfer("USD", keys.carol.address, 10), 0),
                        signer(keys.alice, Transfer("USD", keys.bob.address, 10), 1)], T0 + HOUR)
    assert codes(result) == ["KYC_MISSING", ""]
    acct = chain.state.account(keys.alice.address)
    assert acct.nonce == 2 and acct.balance("USD") == 9_990


def test_bad_signature_at_execution_does_not_consume_the_nonce(chain, keys, signer):
    good = signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0)
    forged = good.raw[:-1] + bytes([good.raw[-1] ^ 0x80])
    result = chain.run([forged, good], T0 + HOUR)
    assert codes(result) == ["BAD_SIGNATURE", ""]
    assert chain.state.account(keys.alice.address).nonce == 1


def test_bad_nonce_at_execution_does_not_consume_the_nonce(chain, keys, signer):
    result = chain.run([signer(keys.alice, Transfer("USD", keys.bob.address, 10), 5),
                        signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0),
                        signer(keys.alice, Transfer("USD", keys.bob.address, 11), 0)], T0 + HOUR)
    assert codes(result) == ["BAD_NONCE", "", "BAD_NONCE"]
    assert chain.state.account(keys.alice.address).nonce == 1


def test_wrong_chain_and_malformed_txs_fail_without_touching_state(chain, keys, signer):
    wrong = signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0, chain_id=sha256(b"x"))
    unknown = pack([chain.genesis.chain_id, "swap", keys.alice.address, 0, [], b"\x00" * 64])
    result = chain.run([wrong, b"\x93\x01\x02\x03", b"\xc1", b"\x00" * 5000, unknown], T0 + HOUR)
    assert codes(result) == ["WRONG_CHAIN", "MALFORMED", "MALFORMED", "TOO_LARGE", "UNKNOWN_KIND"]
    assert result.changes == []


def test_replaying_a_committed_tx_in_a_later_block_is_bad_nonce(chain, keys, signer):
    tx = signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0)
    chain.run([tx], T0 + HOUR)
    result = chain.run([tx], T0 + HOUR)
    assert codes(result) == ["BAD_NONCE"]
    assert chain.state.account(keys.alice.address).balance("USD") == 9_990


def test_execution_judges_kyc_expiry_by_block_time(make_chain, keys, signer):
    tx = signer(keys.erin, Transfer("EUR", keys.bob.address, 10), 0)
    assert codes(make_chain().run([tx], ERIN_EXPIRES - 1)) == [""]
    assert codes(make_chain().run([tx], ERIN_EXPIRES)) == ["KYC_EXPIRED"]


def test_license_revoke_earlier_in_block_applies_to_later_txs(chain, keys, signer):
    result = chain.run([signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0),
                        signer(keys.regulator, LicenseRevoke("bank_a", "kyc_issuer"), 0),
                        signer(keys.alice, Transfer("USD", keys.bob.address, 10), 1)], T0 + HOUR)
    assert codes(result) == ["", "", "ISSUER_NOT_LICENSED"]


def test_execute_block_leaves_state_alone_until_commit(chain, keys, signer):
    before = chain.state.records()
    tx = signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0)
    result = chain.execute(chain.block([tx], T0 + HOUR))
    assert result.changes and chain.state.records() == before
    result.overlay.commit()
    assert chain.state.records() != before


# ---- validate_block -------------------------------------------------------------------------

@pytest.fixture
def block1(chain, keys, signer) -> Block:
    return chain.block([signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0),
                        signer(keys.bob, Transfer("USD", keys.alice.address, 10), 0)], T0 + HOUR)


def test_valid_block_returns_its_tx_hashes(chain, block1):
    assert validate_block(block1, chain.tip, chain.state) == [sha256(t) for t in block1.txs]


def test_block_at_wrong_height_is_invalid(chain, keys, block1):
    for h in (0, 2, 5):
        with pytest.raises(InvalidBlock, match="height"):
            validate_block(resign(block1, keys.bank_a, height=h), chain.tip, chain.state)


def test_block_executed_twice_is_invalid(chain, block1):
    chain.commit(chain.execute(block1))
    with pytest.raises(InvalidBlock):
        chain.execute(block1)


def test_block_with_wrong_prev_hash_is_invalid(chain, keys, block1):
    with pytest.raises(InvalidBlock, match="link"):
        validate_block(resign(block1, keys.bank_a, prev_hash=b"\x00" * 32), chain.tip, chain.state)


def test_block_with_decreasing_timestamp_is_invalid(chain, keys, block1):
    chain.commit(chain.execute(block1))
    block2 = chain.block([], T0 + HOUR)
    validate_block(block2, chain.tip, chain.state)  # equal time is fine
    with pytest.raises(InvalidBlock, match="timestamp"):
        validate_block(resign(block2, keys.bank_a, timestamp=T0 + HOUR - 1), chain.tip, chain.state)


def test_build_block_never_goes_back_in_time(chain, keys):
    tip = dataclasses.replace(chain.tip, timestamp=T0 + 5 * HOUR)
    block = build_block(tip, [], [], T0, keys.bank_a, 1)
    assert block.header.timestamp == T0 + 5 * HOUR


def test_block_from_non_validator_proposer_is_invalid(chain, keys, block1):
    for key in (keys.pay_c, keys.alice, keys.regulator):
        with pytest.raises(InvalidBlock, match="validator"):
            validate_block(resign(block1, key, proposer=key.address), chain.tip, chain.state)


def test_block_from_proposer_whose_validator_license_was_revoked_is_invalid(chain, keys, signer,
                                                                            block1):
    by_bank_b = resign(block1, keys.bank_b, proposer=keys.bank_b.address)
    validate_block(by_bank_b, chain.tip, chain.state)  # a validator: fine
    chain.run([signer(keys.regulator, LicenseRevoke("bank_b", "validator"), 0)], T0 + HOUR)
    block2 = chain.block([], T0 + HOUR)
    with pytest.raises(InvalidBlock, match="validator"):
        validate_block(resign(block2, keys.bank_b, proposer=keys.bank_b.address), chain.tip,
                       chain.state)


def test_block_with_bad_proposer_signature_is_invalid(chain, keys, block1):
    with pytest.raises(InvalidBlock, match="signature"):
        validate_block(Block(block1.header, keys.bank_b.sign(block1.header.hash), block1.txs),
                       chain.tip, chain.state)
    with pytest.raises(InvalidBlock, match="signature"):
        validate_block(Block(dataclasses.replace(block1.header, term=9), block1.signature,
                             block1.txs), chain.tip, chain.state)


def test_block_with_wrong_merkle_root_is_invalid(chain, keys, signer, block1):
    extra = signer(keys.bob, Transfer("USD", keys.alice.address, 10), 1).raw
    for txs in (block1.txs[:1], block1.txs + (extra,), tuple(reversed(block1.txs))):
        with pytest.raises(InvalidBlock, match="Merkle"):
            validate_block(Block(block1.header, block1.signature, txs), chain.tip, chain.state)
    with pytest.raises(InvalidBlock, match="Merkle"):
        validate_block(resign(block1, keys.bank_a, tx_root=merkle_root([b"x"])), chain.tip,
                       chain.state)


# ---- signature cache ------------------------------------------------------------------------

def test_signature_admitted_by_the_pool_is_not_verified_again_at_execution(make_chain, keys,
                                                                          signer):
    sigs = SignatureCache()
    chain = make_chain(sigs)
    pool = Mempool(chain.state, sigs, clock=lambda: (T0 + HOUR) / 1000)
    txs = [signer(keys.alice, Transfer("USD", keys.bob.address, 10), n) for n in range(3)]
    txs.append(signer(keys.bob, Transfer("USD", keys.alice.address, 10), 0))
    for tx in txs:
        pool.add(tx)
    assert sigs.verified == 4
    result = chain.run(pool.take(100, 1 << 20), T0 + HOUR)
    assert codes(result) == ["", "", "", ""]
    assert sigs.verified == 4


def test_execution_verifies_each_unseen_signature_once(chain, keys, signer):
    txs = [signer(keys.alice, Transfer("USD", keys.bob.address, 10), n) for n in range(3)]
    chain.run(txs, T0 + HOUR)
    assert chain.sigs.verified == 3


def test_signature_cache_does_not_remember_bad_signatures(keys, signer):
    sigs = SignatureCache()
    good = signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0)
    bad = decode_tx(good.raw[:-1] + bytes([good.raw[-1] ^ 1]))
    assert not sigs.check(bad) and not sigs.check(bad)
    assert sigs.verified == 2
    assert sigs.check(good) and sigs.check(good)
    assert sigs.verified == 3


def test_signature_cache_is_bounded(keys, signer):
    sigs = SignatureCache(capacity=2)
    txs = [signer(keys.alice, Transfer("USD", keys.bob.address, 10), n) for n in range(3)]
    for tx in txs:
        assert sigs.check(tx)
    assert sigs.check(txs[2]) and sigs.check(txs[1])
    assert sigs.verified == 3
    assert sigs.check(txs[0])  # evicted, verified again
    assert sigs.verified == 4


def test_execution_with_the_pools_decoded_txs_equals_execution_from_bytes(make_chain, keys,
                                                                         signer):
    with_pool, from_bytes = make_chain(), make_chain()
    pool = Mempool(with_pool.state, with_pool.sigs, clock=lambda: (T0 + HOUR) // 1000)
    txs = [signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0),
           signer(keys.bob, Transfer("USD", keys.carol.address, 10), 0)]  # fails at execution
    pool.add(txs[0])
    block = with_pool.block(txs, T0 + HOUR)
    a = execute_block(with_pool.state, block, with_pool.tip, with_pool.sigs, pool.ready.get)
    b = from_bytes.execute(block)
    assert a.receipts == b.receipts and [r.code for r in a.receipts] == ["", "KYC_MISSING"]
    assert a.changes == b.changes and a.state_hash == b.state_hash
    assert with_pool.sigs.verified == 2  # the pool's tx was not verified again


def test_block_holding_a_transaction_twice_is_invalid(chain, keys, signer):
    tx = signer(keys.alice, Transfer("USD", keys.bob.address, 10), 0)
    with pytest.raises(InvalidBlock, match="twice"):
        chain.execute(chain.block([tx, tx], T0 + HOUR))
