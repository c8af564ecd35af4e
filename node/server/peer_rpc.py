"""The requests nodes make of each other over p2p REQUEST/RESPONSE frames, as typed values.

The wire is unchanged from the first version (p2p carries the payloads opaquely):

| request          | payload                     | answer                                   |
|------------------|-----------------------------|------------------------------------------|
| FetchBlocks      | ["blocks", start, count]    | [[block bytes, raft index], ...]         |
| FetchMembership  | ["conf"]                    | [voters, learners] (ConfState wire form) |
| ForwardTxs       | ["txs", [raw tx, ...]]      | number admitted                          |
| CastVote         | ["vote", [chain, height, block hash, state hash, signer, sig]] | accepted (bool) |
| FetchHeight      | ["height"]                  | the height of its last committed block   |

Every payload is decoded here and only here. A request that is not one of these, or is one
with a wrong shape, raises BadPeerRequest (p2p answers it with an error, the node counts it);
an answer with a wrong shape raises BadPeerAnswer. Nothing else escapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from consensus import ConfState
from node.ledger import errors as E
from node.ledger.certificates import Vote, decode_vote, encode_vote

MAX_FETCH_BLOCKS = 64  # blocks per FetchBlocks answer
MAX_FETCH_BYTES = 2 * 1024 * 1024  # block bytes per FetchBlocks answer (beyond the first block)
MAX_FORWARD_TXS = 1000  # txs per ForwardTxs
MAX_U64 = 2**64 - 1


class BadPeerRequest(ValueError):
    """A peer asked for something we do not serve, or asked wrongly; `reason` is a short code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class BadPeerAnswer(ValueError):
    """A peer's answer does not have the shape its request calls for."""


@dataclass(frozen=True, slots=True)
class FetchBlocks:
    """Committed blocks from height `start` on, at most `count` (capped at MAX_FETCH_BLOCKS)."""
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class FetchMembership:
    """The peer's current Raft membership."""


@dataclass(frozen=True, slots=True)
class ForwardTxs:
    """Pooled transactions for the leader's pool (gossip reached it once; this is the retry)."""
    txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CastVote:
    """A validator's signature over (chain, height, block hash, state hash), for the
    commit certificate (node.server.certificates)."""
    vote: Vote


@dataclass(frozen=True, slots=True)
class FetchHeight:
    """The height of the peer's last committed block (where a catch-up from it may end)."""


PeerRequest = FetchBlocks | FetchMembership | ForwardTxs | CastVote | FetchHeight


@dataclass(frozen=True, slots=True)
class FetchedBlock:
    raw: bytes  # the block's canonical bytes, verified by the receiver before execution
    raft_index: int  # the Raft log index that committed it


# ---- requests ---------------------------------------------------------------------------------

def encode_request(request: PeerRequest) -> list:
    match request:
        case FetchBlocks(start, count):
            return ["blocks", start, count]
        case FetchMembership():
            return ["conf"]
        case ForwardTxs(txs):
            return ["txs", list(txs)]
        case CastVote(vote):
            return ["vote", encode_vote(vote)]
        case FetchHeight():
            return ["height"]
    raise TypeError(f"not a peer request: {request!r}")


def decode_request(payload: Any) -> PeerRequest:
    if type(payload) is not list or not payload or type(payload[0]) is not str:
        raise BadPeerRequest("UNKNOWN", "a request is an array starting with its name")
    name, args = payload[0], payload[1:]
    if name == "blocks":
        return _decode_fetch_blocks(args)
    if name == "conf":
        if args:
            raise BadPeerRequest("MALFORMED", "conf takes no arguments")
        return FetchMembership()
    if name == "txs":
        return _decode_forward_txs(args)
    if name == "vote":
        if len(args) != 1:
            raise BadPeerRequest("MALFORMED", "vote takes one vote")
        try:
            return CastVote(decode_vote(args[0]))
        except E.BadCertificate as exc:
            raise BadPeerRequest("MALFORMED", exc.message) from None
    if name == "height":
        if args:
            raise BadPeerRequest("MALFORMED", "height takes no arguments")
        return FetchHeight()
    raise BadPeerRequest("UNKNOWN", f"no request named {name[:32]!r}")


def _decode_fetch_blocks(args: list) -> FetchBlocks:
    if len(args) != 2 or not all(type(a) is int and 0 <= a <= MAX_U64 for a in args):
        raise BadPeerRequest("MALFORMED", "blocks takes a start height and a count (uint64)")
    return FetchBlocks(args[0], args[1])


def _decode_forward_txs(args: list) -> ForwardTxs:
    if len(args) != 1 or type(args[0]) is not list:
        raise BadPeerRequest("MALFORMED", "txs takes one array of raw transactions")
    txs = args[0]
    if len(txs) > MAX_FORWARD_TXS:
        raise BadPeerRequest("MALFORMED", f"txs takes at most {MAX_FORWARD_TXS} transactions")
    if not all(type(t) is bytes for t in txs):
        raise BadPeerRequest("MALFORMED", "txs holds raw transactions (bin) only")
    return ForwardTxs(tuple(txs))


# ---- answers ----------------------------------------------------------------------------------

def encode_blocks(blocks: list[FetchedBlock]) -> list:
    return [[b.raw, b.raft_index] for b in blocks]


def decode_blocks(payload: Any) -> list[FetchedBlock]:
    if type(payload) is not list:
        raise BadPeerAnswer("a blocks answer is an array")
    out = []
    for item in payload:
        if (type(item) is not list or len(item) != 2 or type(item[0]) is not bytes
                or type(item[1]) is not int or item[1] < 0):
            raise BadPeerAnswer("a fetched block is [block bytes, raft index]")
        out.append(FetchedBlock(item[0], item[1]))
    return out


def encode_membership(conf: ConfState) -> list:
    return conf.to_wire()


def decode_membership(payload: Any) -> ConfState:
    try:
        return ConfState.from_wire(payload)
    except (ValueError, TypeError) as exc:
        raise BadPeerAnswer(f"not a membership: {exc}") from None


def decode_height(payload: Any) -> int:
    if type(payload) is not int or not 0 <= payload <= MAX_U64:
        raise BadPeerAnswer("a height answer is a uint64")
    return payload


def decode_admitted(payload: Any) -> int:
    if type(payload) is not int or payload < 0:
        raise BadPeerAnswer("a txs answer is the number admitted")
    return payload


# ---- both ends ----------------------------------------------------------------------------------

class Requester(Protocol):
    """p2p.PeerManager.request: one REQUEST, its RESPONSE payload; raises p2p.RequestFailed."""

    async def request(self, peer_id: str, payload: Any, *, timeout: float | None = None) -> Any: ...


class PeerClient:
    """Typed requests to peers over a PeerManager."""

    def __init__(self, p2p: Requester):
        self._p2p = p2p

    async def fetch_blocks(self, peer: str, start: int, count: int) -> list[FetchedBlock]:
        return decode_blocks(await self._p2p.request(peer, encode_request(FetchBlocks(start, count))))

    async def fetch_membership(self, peer: str) -> ConfState:
        return decode_membership(await self._p2p.request(peer, encode_request(FetchMembership())))

    async def cast_vote(self, peer: str, vote: Vote) -> bool:
        return await self._p2p.request(peer, encode_request(CastVote(vote))) is True

    async def fetch_height(self, peer: str) -> int:
        return decode_height(await self._p2p.request(peer, encode_request(FetchHeight())))

    async def forward_txs(self, peer: str, txs: list[bytes]) -> int:
        return decode_admitted(await self._p2p.request(peer, encode_request(ForwardTxs(tuple(txs)))))


class PeerServices(Protocol):
    """What a node serves its peers."""

    def blocks_from(self, start: int, count: int) -> list[FetchedBlock]: ...
    def membership(self) -> ConfState: ...
    def admit_forwarded(self, txs: tuple[bytes, ...]) -> int: ...
    def receive_vote(self, vote: Vote) -> bool: ...
    def height(self) -> int: ...


def answer(request: PeerRequest, services: PeerServices) -> Any:
    """The answer payload to a decoded request."""
    match request:
        case FetchBlocks(start, count):
            return encode_blocks(services.blocks_from(start, min(count, MAX_FETCH_BLOCKS)))
        case FetchMembership():
            return encode_membership(services.membership())
        case ForwardTxs(txs):
            return services.admit_forwarded(txs)
        case CastVote(vote):
            return services.receive_vote(vote)
        case FetchHeight():
            return services.height()
    raise TypeError(f"not a peer request: {request!r}")
