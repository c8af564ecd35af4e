"""Catching up beyond the Raft log: fetch blocks from a peer's block store.

When a follower needs entries its leader has already compacted, Raft hands the daemon a
`SnapshotRequest(index, term, leader)`. `CatchUp.run` fetches the committed blocks after our
tip from that leader, a batch at a time, and has each executed (verified first, like any
block) until the chain reaches `index`; then it asks the leader for its membership, since
membership changes in the skipped log range are not in the blocks. The daemon records the
result with Raft (node.server.daemon). Any bad answer, bad block or lost peer fails the whole
catch-up with CatchUpFailed; Raft then asks again.

What it trusts: only a current voter is a source (CatchUpRefused otherwise: a learner or a
stranger must not feed us blocks); each block is verified and executed like any other (a bad
one fails the fetch); and the chain may end short of the target index (the entries after the
last block were no-ops) only when the source says its own chain ends there too: an empty
answer from a source that holds more blocks is a short answer and fails the fetch, so nothing
is marked applied that was not executed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from consensus import ConfState, SnapshotRequest
from node.ledger import errors as E
from node.ledger.execution import InvalidBlock
from node.server.peer_rpc import MAX_FETCH_BLOCKS, BadPeerAnswer, FetchedBlock
from p2p import RequestFailed

log = logging.getLogger("lichen.node")


class CatchUpFailed(Exception):
    """Catching up stopped short; the message says why."""


class CatchUpRefused(CatchUpFailed):
    """The source is not one we take blocks from (not a current voter)."""


class BlockSource(Protocol):
    """The peer requests catch-up makes (node.server.peer_rpc.PeerClient)."""

    async def fetch_blocks(self, peer: str, start: int, count: int) -> list[FetchedBlock]: ...
    async def fetch_height(self, peer: str) -> int: ...
    async def fetch_membership(self, peer: str) -> ConfState: ...


class Chain(Protocol):
    """Where fetched blocks go."""

    def applied_index(self) -> int:
        """The Raft index of the last applied entry."""

    def next_height(self) -> int:
        """The height the next block must have."""

    def voters(self) -> frozenset[str]:
        """The current Raft voters: the only sources we catch up from."""

    def apply_fetched(self, block: FetchedBlock) -> None:
        """Verify and execute one fetched block; raise InvalidBlock or LedgerError if it breaks a rule."""


@dataclass(frozen=True)
class CaughtUp:
    target: SnapshotRequest
    membership: ConfState | None  # the leader's, or None if it did not say


class CatchUp:
    def __init__(self, source: BlockSource, chain: Chain, batch: int = MAX_FETCH_BLOCKS):
        self.source = source
        self.chain = chain
        self.batch = batch

    async def run(self, target: SnapshotRequest) -> CaughtUp:
        """Fetch and execute blocks up to `target.index`; raises CatchUpFailed (CatchUpRefused
        for a source that is not a voter)."""
        if target.leader not in self.chain.voters():
            raise CatchUpRefused(f"{target.leader[:12]} is not a voter")
        try:
            while self.chain.applied_index() < target.index:
                blocks = await self.source.fetch_blocks(target.leader, self.chain.next_height(), self.batch)
                if not blocks:
                    await self._check_chain_ends(target.leader)
                    break
                if not self._apply(blocks, target.index):
                    break
        except (RequestFailed, BadPeerAnswer, ValueError, TypeError, E.LedgerError, InvalidBlock) as exc:
            raise CatchUpFailed(str(exc)) from exc
        return CaughtUp(target, await self._membership(target.leader))

    async def _check_chain_ends(self, peer: str) -> None:
        """An empty answer ends the fetch only if the source's chain ends where ours does now."""
        ours = self.chain.next_height() - 1
        theirs = await self.source.fetch_height(peer)
        if theirs != ours:
            raise CatchUpFailed(f"short answer: {peer[:12]} holds {theirs} blocks but sent none "
                                f"after height {ours}")

    def _apply(self, blocks: list[FetchedBlock], upto: int) -> bool:
        """Execute the blocks up to `upto`; False when there is nothing more to take."""
        took = False
        for block in blocks:
            if block.raft_index > upto:
                return False
            self.chain.apply_fetched(block)
            took = True
        return took

    async def _membership(self, peer: str) -> ConfState | None:
        try:
            return await self.source.fetch_membership(peer)
        except (RequestFailed, BadPeerAnswer) as exc:
            log.warning("could not fetch the membership from %s: %s", peer[:12], exc)
            return None
