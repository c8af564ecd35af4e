"""What the HTTP API asks of a node, and the typed values it gets back.

`NodeService` is the whole surface the API (node.server.api) sees: no store, state, pool, Raft
or peer manager behind it. The values are plain dataclasses of ledger types; the API renders
them to the JSON of DESIGN section 8. `NodeStatus.to_json` and `Readiness.to_json` live here
because the node reports its status as that same JSON too.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from node.ledger import errors as E
from node.ledger.certificates import Certificate
from node.ledger.genesis import Asset, Tier
from node.ledger.state import (
    Account,
    Attestation,
    CreditRecord,
    Escrow,
    Loan,
    Offer,
    Proposal,
    Reserves,
    SupervisoryReport,
)
from node.ledger.types import Block, Receipt, Transaction, TxState
from node.server.config import NodeConfig
from node.server.feed import EventFeed
from node.server.metrics import StageTimes


class NodeRole(StrEnum):
    """A node's part in consensus, as /v1/status reports it."""
    LEADER = "leader"
    FOLLOWER = "follower"
    CANDIDATE = "candidate"  # campaigning (PreVote included)
    OBSERVER = "observer"  # a Raft learner: follows the chain, never votes
    JOINING = "joining"  # licensed, not yet in the Raft membership
    UNLICENSED = "unlicensed"  # e.g. a validator whose license the regulator revoked


FINAL = (TxState.COMMITTED, TxState.FAILED)


@dataclass(frozen=True)
class TxStatus:
    """What a client learns about a transaction."""
    status: TxState
    receipt: Receipt | None = None  # once committed (ok or failed)
    code: str = ""  # dropped from the pool: why
    message: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True)
class NodeStatus:
    """GET /v1/status."""
    node_id: str
    name: str
    institution: str | None
    role: NodeRole
    term: int
    leader_id: str | None
    commit_index: int
    applied_index: int
    height: int
    block_hash: bytes
    state_hash: bytes
    timestamp: int  # of the last block, unix ms
    mempool_size: int
    peers: tuple[str, ...]  # connected, sorted
    voters: tuple[str, ...]  # sorted
    learners: tuple[str, ...]  # sorted
    chain_id: bytes
    certified_height: int = 0  # the highest height with a commit certificate stored here
    diverged: str = ""  # why this node stopped applying (its state left the quorum's); "" if not

    def to_json(self) -> dict:
        return {
            "node_id": self.node_id, "name": self.name, "institution": self.institution,
            "role": self.role.value, "term": self.term, "leader_id": self.leader_id,
            "commit_index": self.commit_index, "applied_index": self.applied_index,
            "height": self.height, "block_hash": self.block_hash.hex(),
            "state_hash": self.state_hash.hex(), "timestamp": self.timestamp,
            "mempool_size": self.mempool_size, "peers": list(self.peers),
            "voters": list(self.voters), "learners": list(self.learners),
            "chain_id": self.chain_id.hex(),
            "certified_height": self.certified_height, "diverged": self.diverged or None,
        }


MAX_APPLY_LAG = 32  # committed Raft entries not yet applied before a node counts as behind


@dataclass(frozen=True)
class Readiness:
    """GET /readyz: can this node serve current data and take part in commits?"""
    node_id: str
    role: NodeRole
    leader_id: str | None
    commit_index: int
    applied_index: int
    peers: frozenset[str]  # connected
    voters: frozenset[str]
    diverged: str = ""  # node.server.certificates: our state left the quorum's

    def reasons(self) -> list[str]:
        """Why not, in words; empty when ready."""
        reasons = []
        if self.diverged:
            reasons.append(f"diverged from the certified chain, not applying blocks: {self.diverged}")
        if self.leader_id is None:
            reasons.append("no known leader")
        if self.role == NodeRole.OBSERVER:
            if not self.peers & self.voters:
                reasons.append("not connected to any validator")
        else:
            quorum = len(self.voters) // 2 + 1
            reachable = 1 + len(self.peers & (self.voters - {self.node_id}))  # itself included
            if reachable < quorum:
                reasons.append(f"connected to {reachable - 1} of {len(self.voters) - 1} other "
                               f"validators; a quorum needs {quorum - 1}")
        lag = self.commit_index - self.applied_index
        if lag > MAX_APPLY_LAG:
            reasons.append(f"catching up: {lag} committed entries not yet applied")
        return reasons

    def to_json(self) -> dict:
        return {"ready": not self.reasons(), "role": self.role.value, "leader_id": self.leader_id,
                "commit_index": self.commit_index, "applied_index": self.applied_index,
                "peers": len(self.peers), "diverged": bool(self.diverged)}


@dataclass(frozen=True)
class BlockTx:
    tx: Transaction
    receipt: Receipt | None  # None: committed before receipts were kept apart (never failed)


@dataclass(frozen=True)
class BlockView:
    """A committed block with its transactions' receipts and the state hash after it."""
    block: Block
    state_hash: bytes
    txs: tuple[BlockTx, ...]
    certificate: Certificate | None = None  # a majority of the voters signed it (if stored)
    voters: tuple[bytes, ...] = ()  # the validators at that height the certificate counts


@dataclass(frozen=True)
class BlockRecord:
    """A committed block as a replay reads it (GET /v1/blocks/raw): its canonical bytes, the
    state hash after it and its commit certificate in wire form (Certificate.to_wire; None
    while the node holds none). Nothing decoded: the auditor decodes and checks it all."""
    height: int
    raw: bytes
    state_hash: bytes
    certificate: list[Any] | None

    def to_wire(self) -> list[Any]:
        return [self.height, self.raw, self.state_hash, self.certificate]

    @classmethod
    def from_wire(cls, w: Any) -> BlockRecord:
        """An entry as a node sent it; ValueError names what is wrong (the certificate's own
        fields are the replay's to check, block by block)."""
        if type(w) is not list or len(w) != 4:
            raise ValueError("an entry is [height, block bytes, state hash, certificate or nil]")
        height, raw, state_hash, cert = w
        if type(height) is not int or type(raw) is not bytes or type(state_hash) is not bytes:
            raise ValueError("an entry's height is an integer, its block and state hash bytes")
        if cert is not None and type(cert) is not list:
            raise ValueError("an entry's certificate is a list or nil")
        return cls(height, raw, state_hash, cert)


@dataclass(frozen=True)
class AccountView:
    """An account as committed, with what the pool and the licenses add to it."""
    address: bytes
    account: Account  # committed state; read only
    next_nonce: int  # with the pending transactions counted
    kyc_refusal: E.LedgerError | None  # why it could not transact at the last block's time
    institution: str | None  # the institution whose key this is
    roles: frozenset[str]  # that institution's licensed roles
    # the attestation that counts at the last block's time (or the first by issuer, if none does)
    attestation: Attestation | None = None
    license_expiries: tuple[tuple[str, int], ...] = ()  # (role, expires_at) of its lapsing roles


@dataclass(frozen=True)
class InstitutionView:
    """An institution as the ledger knows it now: its current keys (a key_rotate replaces
    genesis's) and licenses (GET /v1/institutions)."""
    name: str
    node_key: bytes
    authority_key: bytes
    rotated: bool  # a key_rotate replaced a genesis key
    roles: frozenset[str]
    jurisdiction: str
    address: str
    peer_address: str = ""  # where peers dial its node, when not at `address`
    display: str = ""


@dataclass(frozen=True)
class PolicyView:
    """The policy the ledger applies now (GET /v1/policy): the blocked jurisdictions as
    jurisdiction_block/_unblock left them, the KYC tiers, and the institutions."""
    blocked_jurisdictions: tuple[str, ...]  # sorted
    tiers: tuple[Tier, ...]  # by tier number
    institutions: tuple[InstitutionView, ...]  # by name


@dataclass(frozen=True)
class AssetView:
    """An asset now (GET /v1/assets/{code}): its record (genesis's, as asset_add / asset_update
    left it), supply, whether it is frozen, and its latest reserve report."""
    asset: Asset
    supply: int  # minor units in existence
    frozen: bool
    reserves: Reserves | None  # the latest reserve report, co-signed or not
    stale: bool  # the report is older than reserve_max_age_ms at the last block's time
    held: int = 0  # units locked in open FX offers and escrows (balances + held = supply)

    @property
    def coverage_bps(self) -> int | None:
        """Reserves per unit of supply in basis points (10_000: fully covered), rounded down;
        None without a report or without supply. Integers: no floats for money."""
        if self.reserves is None or self.supply == 0:
            return None
        return self.reserves.amount * 10_000 // self.supply


@dataclass(frozen=True)
class OfferView:
    """An FX offer (GET /v1/offers/{id}); its id is its fx_offer tx hash."""
    offer_id: bytes
    offer: Offer
    expired: bool  # open, but past its expiry at the last block's time (the next sweep closes it)


@dataclass(frozen=True)
class OfferQuery:
    """Which offers GET /v1/offers lists: each filter unset matches every offer."""
    give: str = ""  # the give leg's asset
    want: str = ""  # the want leg's asset
    maker: bytes = b""
    open_only: bool = True  # open and not past expiry, else every offer ever made
    limit: int = 100


@dataclass(frozen=True)
class EscrowView:
    """An escrow (GET /v1/escrows/{id}); its id is its escrow_create tx hash. What may be done
    with it is judged at the last block's time, as the next block would."""
    escrow_id: bytes
    escrow: Escrow
    releasable: bool  # open and inside [release_after, cancel_after)
    cancellable: bool  # open and at or past cancel_after


@dataclass(frozen=True)
class EscrowQuery:
    """Which escrows GET /v1/escrows lists."""
    account: bytes = b""  # its payer or its recipient
    open_only: bool = True
    limit: int = 100


@dataclass(frozen=True)
class ProposalView:
    proposal_id: bytes
    proposal: Proposal
    expired: bool  # judged at the last block's timestamp
    validators: frozenset[str]  # the current electorate


@dataclass(frozen=True)
class LoanView:
    """A microfinance loan (GET /v1/loans/{id}), with its lender's institution name and whether
    its offer lapsed (judged at the last block's time)."""
    loan_id: bytes
    loan: Loan
    lender_institution: str | None
    offer_expired: bool  # offered, and past its expiry or first due time: cannot be accepted


@dataclass(frozen=True)
class CreditView:
    """A borrower's on-chain credit history (GET /v1/credit/{account}): its repayment record
    across every lender and its loans by id."""
    address: bytes
    record: CreditRecord
    loans: tuple[LoanView, ...]  # every loan offered to it, accepted or not


@dataclass(frozen=True)
class TxProof:
    """What the Merkle inclusion proof of a committed transaction is built from."""
    block: Block
    index: int
    receipt: Receipt
    certificate: Certificate | None = None
    voters: tuple[bytes, ...] = ()  # the validators at that height (node keys)


@dataclass(frozen=True)
class PeerLink:
    """A peer this node should be linked to (or is), and whether the link is up."""
    node_id: str
    name: str  # its institution's name in genesis ("" if unknown)
    connected: bool


@dataclass(frozen=True)
class NetworkMember:
    """A node of the network (of genesis or added on chain): licensed to run one now, or a Raft member."""
    node_id: str
    institution: str
    address: str  # its HTTP API, e.g. https://host:port


@dataclass(frozen=True)
class DashboardStatus:
    """What the dashboard's status event says of the serving node, once a second."""
    status: NodeStatus
    links: tuple[PeerLink, ...]
    refusals: dict[str, dict[str, int]]  # kind -> reason code -> count since start
    held: int  # of the pool, transactions held for a future nonce
    faults: object | None  # p2p.FaultState on a devnet node, else None

    def to_json(self) -> dict:
        return {"status": self.status.to_json(),
                "links": [{"node_id": p.node_id, "name": p.name, "connected": p.connected}
                          for p in self.links],
                "refusals": self.refusals, "pool": {"size": self.status.mempool_size,
                                                    "held": self.held},
                "faults": render_faults(self.faults)}


def render_faults(state) -> dict | None:
    """A p2p.FaultState as JSON (None: not a devnet node)."""
    if state is None:
        return None
    return {"partitioned": sorted(state.partitioned), "loss": dict(sorted(state.loss.items())),
            "loss_all": state.loss_all}


class FaultControl(Protocol):
    """The devnet fault filter (p2p.FaultFilter) as the admin endpoint drives it."""

    def partition(self, peers: list[str]) -> None: ...
    def lossy(self, peers: list[str] | None, fraction: float) -> None: ...
    def heal(self) -> None: ...
    def state(self): ...


class NodeService(Protocol):
    """Everything the HTTP API needs from a node."""
    config: NodeConfig
    id: str
    events: EventFeed  # the dashboard's live feed (node.server.feed)

    def node_status(self) -> NodeStatus: ...
    def readiness(self) -> Readiness: ...
    stages: StageTimes  # where the loop's time goes (node.server.metrics)

    def submit_many(self, raws: list[bytes]) -> list[Transaction | E.LedgerError]: ...
    async def verify_ahead(self, raws: list[bytes]) -> None: ...
    def tx_status(self, tx_hash: bytes) -> TxStatus: ...
    async def wait_for(self, tx_hash: bytes, timeout: float) -> TxStatus: ...
    def committed_tx(self, receipt: Receipt) -> Transaction: ...
    def height(self) -> int: ...
    def block_bytes(self, height: int) -> bytes | None: ...
    def block_view(self, height: int, with_txs: bool = True) -> BlockView | None: ...
    def block_records(self, start: int, count: int, max_bytes: int) -> list[BlockRecord]: ...
    def account_view(self, address: bytes) -> AccountView: ...
    def proposal_view(self, proposal_id: bytes) -> ProposalView | None: ...
    def institutions(self) -> list[InstitutionView]: ...
    def policy(self) -> PolicyView: ...
    def assets(self) -> list[AssetView]: ...
    def asset_view(self, code: str) -> AssetView | None: ...
    def supervisory_reports(self) -> list[SupervisoryReport]: ...
    def offers(self, query: OfferQuery) -> list[OfferView]: ...
    def offer_view(self, offer_id: bytes) -> OfferView | None: ...
    def escrows(self, query: EscrowQuery) -> list[EscrowView]: ...
    def escrow_view(self, escrow_id: bytes) -> EscrowView | None: ...
    def loans(self) -> list[LoanView]: ...
    def loan_view(self, loan_id: bytes) -> LoanView | None: ...
    def credit_view(self, address: bytes) -> CreditView: ...
    def tx_proof(self, tx_hash: bytes) -> TxProof | None: ...
    def genesis_json(self) -> dict: ...
    def metrics_text(self) -> bytes: ...
    def faults(self) -> FaultControl: ...
    def transfer_leadership(self, target: str) -> None: ...
    def dashboard_status(self) -> DashboardStatus: ...
    def network_members(self) -> list[NetworkMember]: ...
