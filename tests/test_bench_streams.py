"""The bench's concurrent streams keep every account's transactions in nonce order."""
from __future__ import annotations

from devnet.bench import presign, split_streams
from node.ledger.crypto import KeyPair
from node.ledger.types import decode_tx


def test_streams_split_a_nodes_share_by_account_keeping_nonce_order():
    accounts = [KeyPair.generate() for _ in range(7)]  # not a multiple of the 3 nodes
    load = presign(b"c" * 32, accounts, 3, 7 * 4, "USD")
    for node, work in enumerate(load.per_node):
        parts = split_streams(work, 2, len(accounts), 3, node)
        assert sorted(tx for part in parts for tx in part) == sorted(work)
        for part in parts:
            nonces: dict[bytes, list[int]] = {}
            for _, raw in part:
                tx = decode_tx(raw)
                nonces.setdefault(tx.sender, []).append(tx.nonce)
            assert all(n == list(range(len(n))) for n in nonces.values())
        senders = [{decode_tx(raw).sender for _, raw in part} for part in parts]
        assert not senders[0] & senders[1]  # an account is in one stream only
