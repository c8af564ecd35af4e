"""Gossip as a protocol object: what goes to the node, what goes to which peer, and when."""

from __future__ import annotations

import pytest

from p2p import Gossip, SeenCache, tx_hash


class Wire:
    """Records what Gossip hands to each peer; can refuse (a congested connection)."""

    def __init__(self) -> None:
        self.sent: dict[str, list[list[bytes]]] = {}
        self.congested: set[str] = set()

    def send_txs(self, peer_id: str, txs: list[bytes]) -> bool:
        if peer_id in self.congested:
            return False
        self.sent.setdefault(peer_id, []).append(list(txs))
        return True

    def txs_to(self, peer_id: str) -> list[bytes]:
        return [tx for batch in self.sent.get(peer_id, []) for tx in batch]

    def frames_to(self, peer_id: str) -> int:
        return len(self.sent.get(peer_id, []))


class NodeStub:
    """The node's on_txs: admits what `admit` says and records what it was asked."""

    def __init__(self, admit=lambda tx: True) -> None:
        self.admit = admit
        self.asked: list[tuple[str, list[bytes]]] = []

    def on_txs(self, peer_id: str, txs: list[bytes]) -> list[bool]:
        self.asked.append((peer_id, list(txs)))
        return [self.admit(tx) for tx in txs]

    def txs_from(self, peer_id: str) -> list[bytes]:
        return [tx for p, batch in self.asked if p == peer_id for tx in batch]


def make_gossip(peers=("a", "b", "c"), admit=lambda tx: True,
                **kw) -> tuple[Gossip, Wire, NodeStub]:
    wire, node = Wire(), NodeStub(admit)
    gossip = Gossip(send_txs=wire.send_txs, on_txs=node.on_txs, **kw)
    for peer in peers:
        gossip.peer_up(peer)
    return gossip, wire, node


def txs(*names: str) -> list[bytes]:
    return [f"tx-{n}".encode() for n in names]


def test_local_txs_are_pushed_to_every_peer():
    gossip, wire, _ = make_gossip()
    assert gossip.announce_local(txs("1", "2")) == 2
    gossip.flush()
    for peer in "abc":
        assert wire.txs_to(peer) == txs("1", "2")


def test_a_tx_announced_twice_is_pushed_once():
    gossip, wire, _ = make_gossip()
    gossip.announce_local(txs("1"))
    assert gossip.announce_local(txs("1", "2")) == 1
    gossip.flush()
    assert wire.txs_to("a") == txs("1", "2")


def test_new_txs_from_a_peer_go_to_the_node_with_the_sender():
    gossip, _, node = make_gossip()
    gossip.receive("a", txs("1", "2"))
    assert node.asked == [("a", txs("1", "2"))]


def test_already_seen_txs_are_not_handed_to_the_node_again():
    gossip, _, node = make_gossip()
    gossip.receive("a", txs("1", "2"))
    gossip.receive("b", txs("2", "3", "3"))  # 2 seen from a; 3 twice in one batch
    assert node.txs_from("b") == txs("3")
    assert gossip.stats.duplicates == 2


def test_locally_announced_txs_coming_back_are_dropped():
    gossip, _, node = make_gossip()
    gossip.announce_local(txs("1"))
    gossip.receive("a", txs("1"))
    assert node.asked == []


def test_admitted_txs_are_forwarded_to_the_other_peers_but_not_back_to_the_sender():
    gossip, wire, _ = make_gossip()
    gossip.receive("a", txs("1", "2"))
    gossip.flush()
    assert wire.txs_to("b") == txs("1", "2")
    assert wire.txs_to("c") == txs("1", "2")
    assert wire.txs_to("a") == []


def test_only_admitted_txs_are_forwarded():
    gossip, wire, _ = make_gossip(admit=lambda tx: tx != b"tx-bad")
    gossip.receive("a", txs("1", "bad", "2"))
    gossip.flush()
    assert wire.txs_to("b") == txs("1", "2")
    assert gossip.stats.rejected == 1


def test_a_rejected_tx_is_reconsidered_when_it_arrives_again():
    # e.g. rejected for a nonce gap, then valid once its predecessor is in the mempool
    valid: set[bytes] = set()
    gossip, wire, node = make_gossip(admit=lambda tx: tx in valid)
    gossip.receive("a", txs("2"))
    valid.add(b"tx-2")
    gossip.receive("b", txs("2"))
    gossip.flush()
    assert node.txs_from("b") == txs("2")
    assert wire.txs_to("c") == txs("2")


def test_a_tx_rejected_from_gossip_can_still_be_announced_locally():
    gossip, wire, _ = make_gossip(admit=lambda tx: False)
    gossip.receive("a", txs("1"))
    assert gossip.announce_local(txs("1")) == 1


def test_verdicts_must_match_the_txs_and_a_failed_call_forgets_them():
    wire, node = Wire(), NodeStub()
    buggy = True

    def on_txs(peer_id: str, batch: list[bytes]) -> list[bool]:
        return [True] if buggy else node.on_txs(peer_id, batch)  # first: one verdict for two txs

    gossip = Gossip(send_txs=wire.send_txs, on_txs=on_txs)
    with pytest.raises(ValueError):
        gossip.receive("a", txs("1", "2"))
    buggy = False
    gossip.receive("a", txs("1", "2"))  # not wrongly remembered as seen
    assert node.txs_from("a") == txs("1", "2")


def test_txs_wait_in_a_batch_until_flush():
    gossip, wire, _ = make_gossip(batch_size=10)
    gossip.announce_local(txs("1", "2", "3"))
    assert wire.sent == {}
    assert gossip.has_pending
    gossip.flush()
    assert wire.frames_to("a") == 1
    assert not gossip.has_pending


def test_a_full_batch_is_sent_at_once_as_one_frame():
    gossip, wire, _ = make_gossip(batch_size=4)
    gossip.announce_local(txs(*"123456"))
    assert wire.sent["a"] == [txs(*"1234")]  # the rest waits for more or for flush()
    gossip.flush()
    assert wire.sent["a"] == [txs(*"1234"), txs(*"56")]


def test_batches_respect_the_byte_limit():
    gossip, wire, _ = make_gossip(batch_size=100, batch_bytes=25)
    gossip.announce_local([b"x" * 10, b"y" * 10, b"z" * 10])
    gossip.flush()
    assert wire.sent["a"] == [[b"x" * 10, b"y" * 10], [b"z" * 10]]


def test_a_tx_larger_than_a_batch_is_not_gossiped():
    gossip, wire, _ = make_gossip(batch_bytes=25)
    gossip.announce_local([b"x" * 26])
    gossip.flush()
    assert wire.sent == {}
    assert gossip.stats.dropped_too_large == 3  # once per peer


def test_a_congested_peer_keeps_its_batch_and_gets_it_later():
    gossip, wire, _ = make_gossip()
    wire.congested.add("a")
    gossip.announce_local(txs("1"))
    gossip.flush()
    assert wire.txs_to("a") == [] and wire.txs_to("b") == txs("1")
    assert gossip.has_pending
    wire.congested.clear()
    gossip.flush()
    assert wire.txs_to("a") == txs("1")


def test_the_backlog_of_a_congested_peer_is_bounded():
    gossip, wire, _ = make_gossip(batch_size=2, max_pending=3)
    wire.congested.add("a")
    gossip.announce_local(txs(*"12345"))
    wire.congested.clear()
    gossip.flush()
    assert wire.txs_to("a") == txs(*"123")
    assert wire.txs_to("b") == txs(*"12345")
    assert gossip.stats.dropped_backlog == 2


def test_a_peer_that_goes_down_loses_its_batch_and_gets_nothing_more():
    gossip, wire, _ = make_gossip()
    gossip.announce_local(txs("1"))
    gossip.peer_down("a")
    gossip.announce_local(txs("2"))
    gossip.flush()
    assert wire.txs_to("a") == []
    assert gossip.peers == {"b", "c"}


def test_seen_cache_is_bounded_and_evicts_the_least_recently_seen():
    cache = SeenCache(capacity=3)
    for h in (b"1", b"2", b"3"):
        assert cache.add(h)
    assert not cache.add(b"1")  # seen again: now the most recent
    assert cache.add(b"4")  # evicts b"2", the least recently seen
    assert len(cache) == 3
    assert b"2" not in cache and b"1" in cache


def test_gossip_seen_cache_stays_within_its_bound():
    gossip, _, node = make_gossip(seen_capacity=100)
    gossip.receive("a", [b"%d" % i for i in range(250)])
    assert gossip.seen_count == 100
    gossip.receive("b", [b"0", b"249"])  # 0 was evicted, 249 is still remembered
    assert node.txs_from("b") == [b"0"]


def test_tx_hash_is_sha256_of_the_raw_bytes():
    import hashlib

    assert tx_hash(b"abc") == hashlib.sha256(b"abc").digest()
