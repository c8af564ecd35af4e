"""The signature pool (node.ledger.sigpool) only warms the SignatureCache: admission and a chain
replay decide exactly as without it, bad signatures mixed into a batch included."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger import sigpool
from node.ledger.mempool import Mempool
from node.ledger.rules import SignatureCache
from node.ledger.sigpool import SignaturePool, verified_hashes, warm
from node.ledger.state import State
from node.ledger.types import Block, Transaction, Transfer, decode_tx, sign_tx
from node.ledger.verify import verify_chain

from .support import HOUR, T0, Chain


@pytest.fixture(scope="module")
def pool():
    p = SignaturePool(2)
    yield p
    p.close()


def forged(tx: Transaction) -> bytes:
    """tx with one bit of its signature flipped: still canonical, no longer signed."""
    raw = bytearray(tx.raw)
    raw[-1] ^= 1
    return bytes(raw)


def mixed_batch(genesis, keys) -> list[bytes]:
    """alice's nonces 0..5 with 1 and 4 forged, a transfer with a too-high nonce from bob, a
    forged one from carol, and bytes that are no transaction."""
    g = genesis.chain_id
    alice = [sign_tx(keys.alice, g, n, Transfer("USD", keys.bob.address, 1, "")) for n in range(6)]
    raws = [t.raw for t in alice]
    raws[1], raws[4] = forged(alice[1]), forged(alice[4])
    raws.append(sign_tx(keys.bob, g, 7, Transfer("USD", keys.alice.address, 1, "")).raw)
    raws.append(forged(sign_tx(keys.carol, g, 0, Transfer("USD", keys.alice.address, 1, ""))))
    raws.append(b"\x93\x01\x02\x03")
    return raws


def admission(genesis, raws: list[bytes], sigs: SignatureCache) -> list[str]:
    """Each raw's verdict from a fresh pool, in order: 'ok' or its reason code."""
    pool = Mempool(State.from_genesis(genesis), sigs, clock=lambda: (T0 + HOUR // 2) / 1000)
    out = []
    for raw in raws:
        try:
            pool.add(decode_tx(raw))
            out.append("ok")
        except E.LedgerError as err:
            out.append(err.code)
    return out


def test_a_worker_vouches_only_for_signatures_that_verify(genesis, keys, pool):
    raws = mixed_batch(genesis, keys)
    good = {decode_tx(r).hash for r in raws[:-1] if r not in (raws[1], raws[4], raws[7])}
    assert set(pool.submit(raws).result()) == good == set(verified_hashes(raws))


def test_a_warmed_cache_admits_and_refuses_exactly_as_inline_checks(genesis, keys, pool):
    """The same batch, bad signatures mixed in, gets the same verdicts and reason codes with
    the cache warmed by the pool as with every signature checked inline; and the pool spared
    the inline checks of the good signatures only."""
    raws = mixed_batch(genesis, keys)
    inline = SignatureCache()
    expected = admission(genesis, raws, inline)
    assert "BAD_SIGNATURE" in expected and "ok" in expected
    warmed = SignatureCache()
    warm(warmed, pool.submit(raws).result())
    assert admission(genesis, raws, warmed) == expected
    assert warmed.inline == expected.count("BAD_SIGNATURE")


def test_a_replay_with_the_pool_reports_the_first_bad_block_as_without(genesis, keys, pool):
    """A node that took a forged signature for good (its block 3 applied the forged transfer)
    is caught at block 3, with the same report, whether the replay checks signatures in the
    pool or inline; an honest chain with the same forged tx (a failed receipt) passes alike."""
    g = genesis.chain_id
    honest, lying = Chain(genesis, keys.bank_a), Chain(genesis, keys.bank_a)
    bad = decode_tx(forged(sign_tx(keys.bob, g, 0, Transfer("USD", keys.alice.address, 5, ""))))
    lying.sigs.remember(bad.hash)  # the lie: a cache that vouches for the forgery
    chains: dict[str, list[tuple[bytes, bytes]]] = {"honest": [], "lying": []}
    for height in range(1, 6):
        txs = [sign_tx(keys.alice, g, height - 1, Transfer("USD", keys.bob.address, 1, ""))]
        if height == 3:
            txs.append(bad)
        for name, chain in (("honest", honest), ("lying", lying)):
            result = chain.run(txs, T0 + height * 1000)
            chains[name].append((result.block.encode(), result.state_hash))
    for name, blocks in chains.items():
        plain = verify_chain(genesis, blocks)
        with_pool = verify_chain(genesis, blocks, pool=pool)
        assert with_pool == plain
        assert plain.ok == (name == "honest")
        assert plain.bad_height == (None if name == "honest" else 3)
        assert plain.txs_failed == (1 if name == "honest" else 0)


def test_blocks_go_to_the_workers_in_groups_and_come_out_in_order_each_warmed(
        genesis, keys, pool, monkeypatch):
    """warmed_ahead sends consecutive small blocks to a worker together (up to GROUP_BYTES):
    every block still comes out unchanged, in order, and only once each of its signatures is
    in the cache (not one left for the replay to check inline)."""
    g = genesis.chain_id
    chain = Chain(genesis, keys.bank_a)
    blocks, nonce = [], 0
    for height, count in enumerate((1, 1, 1, 6, 1, 2, 1), start=1):
        txs = [sign_tx(keys.alice, g, nonce + i, Transfer("USD", keys.bob.address, 1, ""))
               for i in range(count)]
        nonce += count
        result = chain.run(txs, T0 + height * 1000)
        blocks.append((result.block.encode(), result.state_hash))
    monkeypatch.setattr(sigpool, "GROUP_BYTES", 2 * len(blocks[0][0]) + 1)  # 3 small, or 1 big
    sigs = SignatureCache()
    out = []
    for entry in sigpool.warmed_ahead(iter(blocks), sigs, pool, depth=1):
        assert all(sigs.check(decode_tx(raw)) for raw in Block.decode(entry[0]).txs)
        out.append(entry)
    assert out == blocks and sigs.inline == 0 and sigs.verified == nonce
