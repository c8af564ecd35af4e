"""The commit-certificate collector: this node's vote after each block, its peers' votes, and
the certificate once a majority of that height's voters signed the same statement.

    executed(tip, voters)  after a block commits here: sign our statement (if we are a voter),
                           tally what peers already sent for that height; returns our vote
    received(vote)         a peer's vote: checked (chain, signature, voter), kept, tallied

A majority for our own statement is stored as the height's certificate (with the voter set it
was checked against, for proofs). A majority for any other statement at a height we executed
means our state left the quorum's: the node is `diverged`, records why, and stops applying
blocks (node.server.daemon) rather than serve a ledger the others do not agree with.

Votes for heights we have not executed yet wait (bounded: WINDOW heights ahead, signers that are
voters now); heights more than WINDOW behind our tip are forgotten. A node that was down while
a height was voted on has no certificate for it (votes are not fetched with catch-up).
"""
from __future__ import annotations

import asyncio
import logging

from node.ledger import errors as E
from node.ledger.certificates import Certificate, Statement, Vote, check_certificate, quorum
from node.ledger.crypto import Signer
from node.ledger.types import ChainTip
from node.store.db import Store

log = logging.getLogger("lichen.certs")
WINDOW = 256  # heights around our tip for which votes are kept


class CertificateCollector:
    def __init__(self, key: Signer, chain_id: bytes, store: Store, top: int = 0,
                 voters: frozenset[bytes] = frozenset()):
        """`top`: the height executed here so far; `voters`: the validators there."""
        self.key = key
        self.chain_id = chain_id
        self.store = store
        self.certified_height = store.certified_height()
        self.diverged = store.diverged()  # why we stopped applying; "" while in agreement
        self._top = top  # highest height executed here
        self._own: dict[int, Statement] = {}  # executed, not yet certified
        self._voters: dict[int, frozenset[bytes]] = {}  # the voters at each of those heights
        self._latest_voters = voters
        self._votes: dict[int, dict[bytes, Vote]] = {}  # height -> signer -> its first vote

    def executed(self, tip: ChainTip, voters: frozenset[bytes]) -> Vote | None:
        """Block tip.height committed here with this state hash; the licences after it name
        `voters`. Our vote to send to every peer, or None if we are not a voter."""
        h = tip.height
        statement = Statement(self.chain_id, h, tip.block_hash, tip.state_hash)
        self._top = max(self._top, h)
        self._own[h] = statement
        self._voters[h] = voters
        self._latest_voters = voters
        vote = Vote.sign(self.key, statement) if self.key.address in voters else None
        if vote is not None:
            self._votes.setdefault(h, {})[vote.signer] = vote
        self._forget_old()
        self._tally(h)
        return vote

    def received(self, vote: Vote) -> None:
        """A peer's vote; raises the CertificateError that says why it is refused."""
        s = vote.statement
        if s.chain_id != self.chain_id:
            raise E.BadCertificate("a vote for another chain")
        h = s.height
        if h in self._own:
            voters = self._voters[h]
        elif h > self._top and h <= self._top + WINDOW:
            voters = self._latest_voters  # not executed yet: who votes now, checked again later
        else:
            return  # certified already, or too old or too far ahead to matter
        if vote.signer not in voters:
            raise E.CertNotAVoter(f"{vote.signer.hex()} is not a validator")
        if not vote.verifies():
            raise E.CertBadSignature(f"the vote of {vote.signer.hex()} does not verify")
        self._votes.setdefault(h, {}).setdefault(vote.signer, vote)
        if h in self._own:
            self._tally(h)

    def _tally(self, h: int) -> None:
        own, voters = self._own[h], self._voters[h]
        groups: dict[Statement, list[Vote]] = {}
        for v in self._votes.get(h, {}).values():
            if v.signer in voters:
                groups.setdefault(v.statement, []).append(v)
        for statement, votes in groups.items():
            if len(votes) < quorum(len(voters)):
                continue
            if statement == own:
                self._certify(Certificate.of(statement, votes), voters)
            else:
                self._diverge(own, statement, len(votes), len(voters))
            return

    def _certify(self, cert: Certificate, voters: frozenset[bytes]) -> None:
        check_certificate(cert, voters)  # ours by construction; a bug must not be stored
        h = cert.statement.height
        self.store.put_certificate(h, [cert.to_wire(), sorted(voters)])
        self.certified_height = max(self.certified_height, h)
        for table in (self._own, self._voters, self._votes):
            table.pop(h, None)

    def _diverge(self, own: Statement, theirs: Statement, signed: int, voters: int) -> None:
        if self.diverged:
            return
        why = (f"height {own.height}: {signed} of {voters} validators certify block "
               f"{theirs.block_hash.hex()} with state hash {theirs.state_hash.hex()}; this node "
               f"has block {own.block_hash.hex()} with state hash {own.state_hash.hex()}")
        log.critical("STATE DIVERGED, this node stops applying blocks: %s", why)
        self.store.set_diverged(why)
        self.diverged = why

    def _forget_old(self) -> None:
        floor = self._top - WINDOW
        for table in (self._own, self._voters, self._votes):
            for h in [h for h in table if h < floor]:
                del table[h]


def stored_certificate(store: Store, height: int) -> tuple[Certificate, tuple[bytes, ...]] | None:
    """The certificate stored for `height` and the voter set it was checked against."""
    record = store.certificate(height)
    if record is None:
        return None
    return Certificate.from_wire(record[0]), tuple(record[1])


class VoteSender:
    """Sends each of our votes to every connected peer (one request per peer per block)."""

    def __init__(self, peers, connected):
        self._peers = peers  # node.server.peer_rpc.PeerClient
        self._connected = connected  # () -> peer ids
        self._pending: set[asyncio.Task] = set()

    def send(self, vote: Vote) -> None:
        for peer in self._connected():
            task = asyncio.ensure_future(self._send(peer, vote))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _send(self, peer: str, vote: Vote) -> None:
        try:
            await self._peers.cast_vote(peer, vote)
        except Exception as exc:  # a peer that is gone or slow misses this vote; no retry
            log.debug("vote for %d to %s not delivered: %s", vote.statement.height, peer[:12], exc)

    async def close(self) -> None:
        for t in list(self._pending):
            t.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
