"""node.server.catchup: fetching blocks from a peer up to a Raft index, with fakes for the peer
and the chain (no network)."""
from __future__ import annotations

import re

import pytest

from consensus import ConfState, SnapshotRequest
from node.ledger import errors as E
from node.ledger.execution import InvalidBlock
from node.server.catchup import CatchUp, CatchUpFailed, CatchUpRefused
from node.server.peer_rpc import BadPeerAnswer, FetchedBlock
from p2p import RequestFailed

LEADER = "ab" * 32
MEMBERS = ConfState({LEADER, "cd" * 32})


class Peer:
    """A leader whose block store holds heights 1..len(indexes); block h was committed at
    Raft index indexes[h - 1]."""

    def __init__(self, indexes: list[int], fail: Exception | None = None,
                 membership: Exception | ConfState = MEMBERS):
        self.indexes = indexes
        self.fail = fail
        self.membership = membership
        self.asked: list[tuple[int, int]] = []

    async def fetch_blocks(self, peer, start, count):
        assert peer == LEADER
        self.asked.append((start, count))
        if self.fail is not None:
            raise self.fail
        return [FetchedBlock(b"block %d" % h, self.indexes[h - 1])
                for h in range(start, min(start + count, len(self.indexes) + 1))]

    async def fetch_height(self, peer):
        return len(self.indexes)

    async def fetch_membership(self, peer):
        if isinstance(self.membership, Exception):
            raise self.membership
        return self.membership


class Chain:
    def __init__(self, height: int = 0, applied: int = 0, bad: bytes | None = None):
        self.height, self.applied, self.bad = height, applied, bad
        self.executed: list[bytes] = []

    def applied_index(self):
        return self.applied

    def next_height(self):
        return self.height + 1

    def voters(self):
        return MEMBERS.voters

    def apply_fetched(self, block):
        if block.raw == self.bad:
            raise InvalidBlock("block 3 does not link to the previous block")
        self.executed.append(block.raw)
        self.height += 1
        self.applied = block.raft_index


async def test_fetches_batch_after_batch_up_to_the_index_and_takes_the_membership():
    peer, chain = Peer(list(range(2, 12))), Chain()  # heights 1..10 at indexes 2..11
    done = await CatchUp(peer, chain, batch=4).run(SnapshotRequest(11, 3, LEADER))
    assert chain.height == 10 and chain.applied == 11
    assert peer.asked == [(1, 4), (5, 4), (9, 4)]
    assert done.target == (11, 3, LEADER) and done.membership == MEMBERS


async def test_starts_after_its_own_tip_and_stops_before_a_block_past_the_index():
    peer, chain = Peer([2, 3, 4, 5, 9]), Chain(height=2, applied=3)
    await CatchUp(peer, chain).run(SnapshotRequest(6, 3, LEADER))
    assert peer.asked[0][0] == 3
    assert chain.executed == [b"block 3", b"block 4"] and chain.applied == 5


async def test_an_answer_with_nothing_new_ends_the_fetch():
    peer, chain = Peer([2, 3]), Chain()
    done = await CatchUp(peer, chain).run(SnapshotRequest(9, 3, LEADER))  # the rest were no-ops
    assert chain.applied == 3 and len(peer.asked) == 2 and done.membership == MEMBERS


@pytest.mark.parametrize("fail", [RequestFailed("peer gone"), BadPeerAnswer("not blocks"),
                                  E.Malformed("a block is [header, signature, txs]")])
async def test_a_lost_peer_or_a_bad_answer_fails_the_catch_up(fail):
    with pytest.raises(CatchUpFailed, match=re.escape(str(fail.args[0]))):
        await CatchUp(Peer([2, 3], fail=fail), Chain()).run(SnapshotRequest(3, 1, LEADER))


async def test_a_block_that_breaks_a_rule_fails_it_and_nothing_after_it_is_executed():
    chain = Chain(bad=b"block 3")
    with pytest.raises(CatchUpFailed, match="does not link"):
        await CatchUp(Peer([2, 3, 4, 5]), chain).run(SnapshotRequest(5, 1, LEADER))
    assert chain.executed == [b"block 1", b"block 2"]


async def test_without_the_leaders_membership_it_still_catches_up():
    peer = Peer([2], membership=RequestFailed("NOT NOW"))
    done = await CatchUp(peer, Chain()).run(SnapshotRequest(2, 1, LEADER))
    assert done.membership is None


async def test_a_source_that_is_not_a_voter_is_refused_before_anything_is_fetched():
    """Attack: a learner or a stranger (its SNAPSHOT slipped past, or a forged target) offers
    itself as the catch-up source, to feed us its own chain. Only a current voter is a source:
    refused, nothing asked, nothing executed."""
    peer, chain = Peer([2, 3]), Chain()
    with pytest.raises(CatchUpRefused, match="not a voter"):
        await CatchUp(peer, chain).run(SnapshotRequest(3, 1, "ef" * 32))
    assert peer.asked == [] and chain.executed == [] and chain.applied == 0


class ShortPeer(Peer):
    """A source that holds `indexes` but answers only the first `gives` blocks, then nothing."""

    def __init__(self, indexes: list[int], gives: int):
        super().__init__(indexes)
        self.gives = gives

    async def fetch_blocks(self, peer, start, count):
        blocks = await super().fetch_blocks(peer, start, count)
        return [b for b in blocks if int(b.raw.split()[1]) <= self.gives]


@pytest.mark.parametrize("gives", [0, 2])
async def test_an_empty_or_short_answer_fails_the_fetch_and_marks_nothing_applied(gives):
    """Attack: a source withholds blocks (answers nothing, or stops early) so that we mark the
    Raft entries up to the target applied without executing their blocks, and fork from the
    chain. The fetch fails; only the blocks actually executed count as applied."""
    peer, chain = ShortPeer([2, 3, 4, 5], gives), Chain()
    with pytest.raises(CatchUpFailed, match="short answer"):
        await CatchUp(peer, chain).run(SnapshotRequest(5, 1, LEADER))
    assert chain.height == gives and chain.applied == (gives + 1 if gives else 0)
