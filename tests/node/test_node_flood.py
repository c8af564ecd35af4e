"""A flood of future-nonce transactions from throwaway keys, against whole nodes (tests/harness.py).

The attack modelled: holding a transaction for a future nonce costs nothing on chain, so
thousands of fresh keys, each sending nonces ahead of its next, used to fill every node's pool
(they were checked only for chain and signature) until real payments got MEMPOOL_FULL. Now a
held transaction needs a sender in good standing, so the flood is refused with KYC_MISSING and a
funded, attested account's payment still commits.
"""
from __future__ import annotations

from node.ledger.codec import sha256
from node.ledger.crypto import KeyPair
from node.ledger.types import Transaction, Transfer, sign_tx

from ..harness import TestNetwork

THROWAWAY_KEYS = 2000
POOL_MAX_TXS = 500  # small, so the flood would fill it many times over


async def test_thousands_of_throwaway_keys_never_stop_a_payment(tmp_path):
    net = TestNetwork(tmp_path, mempool_max_txs=POOL_MAX_TXS)
    try:
        nodes = await net.start_all()
        await net.elect()
        bob = net.keys["bob"].address
        flood = [sign_tx(KeyPair.from_seed(sha256(b"throwaway %d" % i)), net.chain_id, nonce,
                         Transfer("USD", bob, 1, "")).raw
                 for i in range(THROWAWAY_KEYS) for nonce in (1, 2)]
        codes: set[str] = set()
        for node in nodes:  # every node, as a flooder would
            for start in range(0, len(flood), 1000):
                for result in node.submit_many(flood[start:start + 1000]):
                    codes.add("admitted" if isinstance(result, Transaction) else result.code)

        payment = net.transfer("alice", "bob", 1)
        net.submit(nodes[1], payment)  # the old pool: refused MEMPOOL_FULL
        await net.until_committed(payment)
        assert codes == {"KYC_MISSING"}
        assert all(n.node_status().mempool_size == 0 for n in nodes)
    finally:
        await net.close()
