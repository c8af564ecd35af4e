"""The ledger state: records, a base state, and copy-on-write overlays.

State is these kinds of record, each under a byte key:
    b"a" + address -> Account        balances, nonce, attestations by issuer, frozen flag, spends
    b"l" + name    -> roles          an institution's licensed roles at this height
    b"e" + name    -> kyc epoch      bumped when kyc_issuer is re-granted after a gap (absent: 0)
    b"x"           -> expiries       the licences that lapse, sorted [expires_at, name, role]
    b"s" + code    -> supply         units of an asset in existence
    b"f" + code    -> frozen         whether an asset is frozen (absent: not frozen)
    b"p" + id      -> Proposal       a governance proposal of a license change (node.ledger.rules.governance)
    b"k" + name    -> InstitutionKeys an institution's current [node key, authority key], only once
                                     a key_rotate replaced one (absent: its genesis keys)
    b"j"           -> blocked        the blocked jurisdictions, sorted, once a jurisdiction_block
                                     or _unblock changed them (absent: genesis's)
    b"t" + tier    -> Tier           a tier's [name, [[asset, per_tx, daily], ...]] once a
                                     tier_set wrote it (absent: genesis's tier, if any)
    b"n" + name    -> Institution    an institution an institution_add added (not in genesis);
                                     its keys are under b"k" too, like rotated ones
    b"A" + code    -> Asset          an asset as asset_add or asset_update left it [issuer,
                                     decimals, clawback, reserve_backed, reserve_max_age_ms,
                                     report_threshold] (absent: genesis's asset, if any)
    b"R" + code    -> Reserves       the asset's latest reserve report and its co-signature
    b"q" + slot    -> SupervisoryReport  a large or structuring transfer (node.ledger.rules.
                                     reports), in a ring of MAX_REPORTS slots (slot: 4 bytes,
                                     big-endian, seq % MAX_REPORTS): the state stays bounded
    b"Q"           -> seq            the number of supervisory reports ever made (absent: 0)
    b"o" + id      -> Offer          an FX offer (node.ledger.rules.fx), id: its fx_offer tx hash
    b"w" + id      -> Escrow         an escrow (node.ledger.rules.escrow), id: its tx hash
    b"h" + code    -> held           units of an asset locked in open offers and escrows: out of
                                     every balance, still in supply (absent: 0)
    b"L" + id      -> Loan           a microfinance loan (node.ledger.rules.loans), id: its
                                     loan_offer tx hash
    b"c" + address -> CreditRecord   a borrower's repayment record: the on-chain credit history
Block execution and the mempool work on an `Overlay` over the committed `State`; an overlay's
`changes()` are what the store writes and what the state hash covers, sorted by key so the
hash never depends on dict order.

Accounts are the one kind that grows with the customers, so a node's committed accounts are an
`AccountTable`: with an `AccountSource` (the store's account records) only a bounded cache of
them is in memory, the rest read back on demand; without one (genesis, tests, replays) all of
them are. The store writes a block's records before its overlay commits into the State, so a
cached account is never newer than its record and may be dropped at any time.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import msgpack

from node.ledger.codec import pack, sha256
from node.ledger.genesis import Asset, Genesis, Institution, Tier, TierLimit
from node.ledger.types import (
    EscrowStatus,
    Instalment,
    LoanStatus,
    OfferStatus,
    ProposalStatus,
)


@dataclass(frozen=True, slots=True)
class Attestation:
    """One issuer's attestation of an account. Immutable: a revoke replaces it."""
    issuer: str  # institution name
    tier: int
    jurisdiction: str
    expires_at: int  # unix ms
    evidence_hash: bytes  # hash of the off-chain KYC file; no personal data on chain
    revoked: bool = False
    epoch: int = 0  # the issuer's kyc epoch when issued: it counts only within that epoch

    def to_wire(self) -> list[Any]:
        return [self.issuer, self.tier, self.jurisdiction, self.expires_at, self.evidence_hash,
                self.revoked, self.epoch]


Spend = tuple[int, int]  # (block time in unix ms, amount): one entry of the rolling window


@dataclass(slots=True)
class Account:
    nonce: int = 0  # the next nonce this account must use
    balances: dict[str, int] = field(default_factory=dict)
    # issuer name -> that issuer's attestation: each issuer writes only its own
    # (node.ledger.rules.kyc); encoded sorted by issuer
    attestations: dict[str, Attestation] = field(default_factory=dict)
    frozen: bool = False
    # asset -> the spends of the rolling limit window, sorted by time (node.ledger.rules.limits
    # reads and writes it, and bounds it)
    spent: dict[str, list[Spend]] = field(default_factory=dict)
    # asset -> the sum of spent[asset], derived (never encoded, never compared): a sender's
    # window total is one lookup while none of its spends has left the window
    spent_total: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def balance(self, asset: str) -> int:
        return self.balances.get(asset, 0)

    def copy(self) -> Account:
        return Account(self.nonce, dict(self.balances), dict(self.attestations), self.frozen,
                       {a: list(b) for a, b in self.spent.items()}, dict(self.spent_total))

    def to_wire(self) -> list[Any]:
        return [
            self.nonce,
            sorted([a, v] for a, v in self.balances.items() if v),
            [att.to_wire() for _, att in sorted(self.attestations.items())],
            self.frozen,
            # a spend is a tuple, which msgpack encodes as the same array a list would be
            sorted([a, b] for a, b in self.spent.items() if b),
        ]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Account:
        nonce, balances, atts, frozen, spent = w
        return cls(nonce, {a: v for a, v in balances},
                   {att[0]: Attestation(*att) for att in atts}, frozen,
                   {a: [(t, v) for t, v in b] for a, b in spent})


OPEN, APPLIED = ProposalStatus.OPEN, ProposalStatus.APPLIED  # expiry is judged by time, not stored


@dataclass(frozen=True)
class Proposal:
    """A proposed license change and the validator institutions that approved it.

    Immutable: an approval replaces the record (so overlays can share it without copying)."""
    action: str  # a LicenseAction
    institution: str
    role: str
    expires_at: int  # unix ms, judged against the block's timestamp
    proposer: str  # institution name
    approvals: tuple[str, ...]  # institution names, sorted; the proposer's among them
    status: str = OPEN  # a ProposalStatus

    def approved_by(self, institution: str) -> Proposal:
        return replace(self, approvals=tuple(sorted({*self.approvals, institution})))

    def applied(self) -> Proposal:
        return replace(self, status=APPLIED)

    def to_wire(self) -> list[Any]:
        return [self.action, self.institution, self.role, self.expires_at, self.proposer,
                sorted(self.approvals), self.status]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Proposal:
        action, institution, role, expires_at, proposer, approvals, status = w
        return cls(action, institution, role, expires_at, proposer, tuple(approvals), status)


@dataclass(frozen=True, order=True)
class LicenseExpiry:
    """A licence that lapses at a block time (license_grant expires_at)."""
    expires_at: int  # unix ms
    institution: str
    role: str


@dataclass(frozen=True, slots=True)
class InstitutionKeys:
    """An institution's current keys, as a key_rotate left them (node.ledger.rules.keys)."""
    node: bytes
    authority: bytes

    def to_wire(self) -> list[Any]:
        return [self.node, self.authority]

    @classmethod
    def from_wire(cls, w: list[Any]) -> InstitutionKeys:
        node, authority = w
        return cls(node, authority)


@dataclass(frozen=True, slots=True)
class Reserves:
    """An asset's latest reserve report (node.ledger.rules.reserves). Immutable: a co-sign or
    a newer report replaces it."""
    report: bytes  # the reserve_report tx hash: the report's id
    amount: int  # minor units of the asset held in reserve
    as_of: int  # unix ms the issuer reports them at
    evidence_hash: bytes  # hash of the off-chain evidence (statement, custodian letter)
    reporter: str  # institution name (the asset's issuer)
    reported_at: int  # block time of the report, unix ms
    auditor: str = ""  # the institution that co-signed it ("" : none yet)
    attested_at: int = 0  # block time of the co-sign

    def to_wire(self) -> list[Any]:
        return [self.report, self.amount, self.as_of, self.evidence_hash, self.reporter,
                self.reported_at, self.auditor, self.attested_at]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Reserves:
        return cls(*w)


def asset_to_wire(a: Asset) -> list[Any]:
    return [a.issuer, a.decimals, a.clawback, a.reserve_backed, a.reserve_max_age_ms,
            a.report_threshold]


def asset_from_wire(code: str, w: list[Any]) -> Asset:
    return Asset(code, *w)


MAX_REPORTS = 4096  # supervisory reports kept in state; older ones are overwritten


@dataclass(frozen=True, slots=True)
class SupervisoryReport:
    """A transfer the supervisor is told of: `large` (at or above the asset's report threshold)
    or `structuring` (smaller, but it took the sender's 24 h total for the asset across it)."""
    seq: int  # the n-th report of the chain, from 0
    kind: str  # a ReportKind
    asset: str
    sender: bytes
    recipient: bytes
    amount: int  # of this transfer, minor units
    window_total: int  # the sender's 24 h total for the asset with this transfer (0: exempt)
    threshold: int  # the asset's report threshold at the time
    time: int  # block time, unix ms
    tx_hash: bytes

    def to_wire(self) -> list[Any]:
        return [self.seq, self.kind, self.asset, self.sender, self.recipient, self.amount,
                self.window_total, self.threshold, self.time, self.tx_hash]

    @classmethod
    def from_wire(cls, w: list[Any]) -> SupervisoryReport:
        return cls(*w)


@dataclass(frozen=True, slots=True)
class Offer:
    """An FX offer (node.ledger.rules.fx). Immutable: a fill, cancel or expiry replaces it.

    The rate is give_amount : want_amount as offered; a fill paying p of the want leg receives
    floor(p * give_amount / want_amount) of the give leg, so `given` never runs ahead of it."""
    maker: bytes
    give_asset: str
    give_amount: int  # as offered, minor units
    want_asset: str
    want_amount: int  # as offered, minor units
    expires_at: int  # unix ms
    partial: bool
    counterparty: bytes  # b"": anyone
    created_at: int  # block time of the offer
    given: int = 0  # give-leg units paid out to takers so far
    paid: int = 0  # want-leg units received from takers so far
    status: str = OfferStatus.OPEN
    closed_at: int = 0  # block time it was filled, cancelled or expired

    @property
    def locked(self) -> int:
        """Give-leg units the offer still holds (0 once closed: they went back to the maker)."""
        return self.give_amount - self.given if self.status == OfferStatus.OPEN else 0

    @property
    def wanted(self) -> int:
        """Want-leg units a taker may still pay."""
        return self.want_amount - self.paid

    def to_wire(self) -> list[Any]:
        return [self.maker, self.give_asset, self.give_amount, self.want_asset, self.want_amount,
                self.expires_at, self.partial, self.counterparty, self.created_at, self.given,
                self.paid, self.status, self.closed_at]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Offer:
        return cls(*w)


@dataclass(frozen=True, slots=True)
class Escrow:
    """An escrow (node.ledger.rules.escrow). Immutable: a release or cancel replaces it."""
    payer: bytes
    asset: str
    to: bytes
    amount: int  # minor units, locked while open
    release_after: int  # unix ms
    cancel_after: int  # unix ms
    condition: bytes  # sha256 of the secret a release may show, or b""
    created_at: int  # block time
    status: str = EscrowStatus.OPEN
    closed_at: int = 0

    def to_wire(self) -> list[Any]:
        return [self.payer, self.asset, self.to, self.amount, self.release_after,
                self.cancel_after, self.condition, self.created_at, self.status, self.closed_at]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Escrow:
        return cls(*w)


COLLECTING = frozenset({LoanStatus.CURRENT, LoanStatus.LATE})  # statuses collection runs for


@dataclass(frozen=True, slots=True)
class Loan:
    """A microfinance loan (node.ledger.rules.loans). Immutable: every change replaces it.

    Payments go to the earliest instalments first, so one cumulative `repaid` says which are
    paid: instalment k (from 0) is paid once repaid >= the sum of amounts 0..k. `due_seen`
    counts the instalments whose due time a collection turn has passed, `judged` those whose
    grace deadline it has passed (judged <= due_seen)."""
    lender: bytes
    borrower: bytes
    asset: str
    principal: int
    interest_bps: int
    schedule: tuple[Instalment, ...]  # strictly increasing due times; amounts add to total
    grace_ms: int
    default_after: int  # missed instalments that default the loan
    expires_at: int  # of the offer, unix ms
    created_at: int  # block time of the offer
    status: str = LoanStatus.OFFERED
    accepted_at: int = 0
    repaid: int = 0  # units paid towards the schedule (collections and repayments)
    due_seen: int = 0
    judged: int = 0
    misses: int = 0  # instalments unpaid at their grace deadline
    closed_at: int = 0  # block time it was paid off, defaulted or written off

    @property
    def total(self) -> int:
        return sum(amount for _, amount in self.schedule)

    def owed_by(self, k: int) -> int:
        """What the first k instalments add up to."""
        return sum(amount for _, amount in self.schedule[:k])

    @property
    def arrears(self) -> int:
        """What is due (its due time passed) and not yet paid."""
        return max(0, self.owed_by(self.due_seen) - self.repaid)

    @property
    def outstanding(self) -> int:
        return self.total - self.repaid

    @property
    def next_at(self) -> int | None:
        """The block time of the loan's next collection turn: its next due time or grace
        deadline, whichever is first (None: collection does not run for it)."""
        if self.status not in COLLECTING:
            return None
        times = []
        if self.due_seen < len(self.schedule):
            times.append(self.schedule[self.due_seen][0])
        if self.judged < len(self.schedule):
            times.append(self.schedule[self.judged][0] + self.grace_ms)
        return min(times) if times else None

    def to_wire(self) -> list[Any]:
        return [self.lender, self.borrower, self.asset, self.principal, self.interest_bps,
                [list(i) for i in self.schedule], self.grace_ms, self.default_after,
                self.expires_at, self.created_at, self.status, self.accepted_at, self.repaid,
                self.due_seen, self.judged, self.misses, self.closed_at]

    @classmethod
    def from_wire(cls, w: list[Any]) -> Loan:
        w = list(w)
        w[5] = tuple((due, amount) for due, amount in w[5])
        return cls(*w)


@dataclass(frozen=True, slots=True)
class CreditRecord:
    """A borrower's repayment record across every loan and lender: what any licensed lender
    reads before lending (GET /v1/credit/{account}). Immutable: each event replaces it."""
    loans: int = 0  # loans accepted
    on_time: int = 0  # instalments paid by their grace deadline
    late: int = 0  # instalments unpaid at their grace deadline (missed)
    defaulted: int = 0  # loans that defaulted
    paid_off: int = 0  # loans paid in full
    written_off: int = 0  # loans the lender wrote off

    def to_wire(self) -> list[Any]:
        return [self.loans, self.on_time, self.late, self.defaulted, self.paid_off,
                self.written_off]

    @classmethod
    def from_wire(cls, w: list[Any]) -> CreditRecord:
        return cls(*w)


def _loan_due(loan_id: bytes, loan: Loan) -> tuple[int, bytes] | None:
    at = loan.next_at
    return None if at is None else (at, loan_id)


def _offer_due(offer_id: bytes, offer: Offer) -> tuple[int, bytes] | None:
    return (offer.expires_at, offer_id) if offer.status == OfferStatus.OPEN else None


Due = tuple[int, bytes]  # (block time, record id): an entry of a DueQueue


class DueQueue:
    """(time, id) entries kept sorted: a schedule derived from records (never encoded), so a
    block's sweep peeks its head instead of scanning every record (open FX offers by expiry,
    loans by their next collection turn)."""

    def __init__(self) -> None:
        self._entries: list[Due] = []

    def move(self, old: Due | None, new: Due | None) -> None:
        """A record's entry changed from `old` to `new` (None: it had, or has, none)."""
        if old is not None:
            i = bisect_left(self._entries, old)
            if i < len(self._entries) and self._entries[i] == old:
                del self._entries[i]
        if new is not None:
            insort(self._entries, new)

    def due(self, until: int, limit: int) -> list[bytes]:
        """At most `limit` ids due at or before `until`, soonest first (ties by id)."""
        entries = self._entries
        if not entries or entries[0][0] > until:  # every block asks: the common answer
            return []
        out: list[bytes] = []
        for at, rid in entries:
            if at > until or len(out) == limit:
                break
            out.append(rid)
        return out


R = TypeVar("R")


def merged_due(parent_due: list[bytes], ours: Mapping[bytes, R],
               parent_get: Callable[[bytes], R | None], due_of: Callable[[bytes, R], Due | None],
               until: int, limit: int) -> list[bytes]:
    """An overlay's due ids: its parent's (less the records it changed) with its own,
    re-sorted by their entries. `parent_due` must ask for limit + len(ours) ids."""
    entries = [due_of(rid, rec) for rid, rec in ours.items()]
    for rid in parent_due:
        rec = None if rid in ours else parent_get(rid)
        if rec is not None:  # the parent named it due: it has the record
            entries.append(due_of(rid, rec))
    due = sorted(d for d in entries if d is not None and d[0] <= until)
    return [rid for _, rid in due[:limit]]


ACCOUNT, LICENSE, SUPPLY, ASSET_FROZEN, PROPOSAL = b"a", b"l", b"s", b"f", b"p"
KYC_EPOCH, EXPIRIES, KEYS = b"e", b"x", b"k"
BLOCKED, TIER, ADDED = b"j", b"t", b"n"
ASSET, RESERVES = b"A", b"R"
REPORT, REPORT_SEQ = b"q", b"Q"
OFFER, ESCROW, HELD = b"o", b"w", b"h"
LOAN, CREDIT = b"L", b"c"


def institution_to_wire(i: Institution) -> list[Any]:
    return [i.key, i.address, i.jurisdiction, i.authority_key, i.peer_address, i.display]


def institution_from_wire(name: str, w: list[Any]) -> Institution:
    key, address, jurisdiction, authority_key, peer_address, display = w
    return Institution(name, key, address, jurisdiction, (), authority_key, peer_address, display)


def tier_to_wire(t: Tier) -> list[Any]:
    return [t.name, [[a, lim.per_tx, lim.daily] for a, lim in sorted(t.limits.items())]]


def tier_from_wire(level: int, w: list[Any]) -> Tier:
    name, limits = w
    return Tier(level, name, {a: TierLimit(per_tx, daily) for a, per_tx, daily in limits})


def encode_records(v: State | Overlay) -> list[tuple[bytes, bytes]]:
    """A state's (or an overlay's changed) records as sorted (key, encoded value) pairs."""
    return sorted(
        [(ACCOUNT + a, pack(acct.to_wire())) for a, acct in v.accounts.items()]
        + [(LICENSE + n.encode(), pack(sorted(r))) for n, r in v.licenses.items()]
        + [(SUPPLY + c.encode(), pack(n)) for c, n in v.supplies.items()]
        + [(ASSET_FROZEN + c.encode(), pack(f)) for c, f in v.frozen_assets.items()]
        + [(PROPOSAL + pid, pack(p.to_wire())) for pid, p in v.proposals.items()]
        + [(KYC_EPOCH + n.encode(), pack(e)) for n, e in v.kyc_epochs.items()]
        + ([(EXPIRIES, pack([[x.expires_at, x.institution, x.role] for x in v.expiries]))]
           if v.expiries is not None else [])
        + [(KEYS + n.encode(), pack(k.to_wire())) for n, k in v.keys.items()]
        + ([(BLOCKED, pack(sorted(v.blocked)))] if v.blocked is not None else [])
        + [(TIER + bytes([n]), pack(tier_to_wire(t))) for n, t in v.tiers.items()]
        + [(ADDED + n.encode(), pack(institution_to_wire(i))) for n, i in v.added.items()]
        + [(ASSET + c.encode(), pack(asset_to_wire(a))) for c, a in v.asset_records.items()]
        + [(RESERVES + c.encode(), pack(r.to_wire())) for c, r in v.reserve_records.items()]
        + [(REPORT + slot.to_bytes(4, "big"), pack(r.to_wire()))
           for slot, r in v.report_slots.items()]
        + ([(REPORT_SEQ, pack(v.next_report))] if v.next_report is not None else [])
        + [(OFFER + oid, pack(o.to_wire())) for oid, o in v.offer_records.items()]
        + [(ESCROW + eid, pack(e.to_wire())) for eid, e in v.escrow_records.items()]
        + [(HELD + c.encode(), pack(n)) for c, n in v.held_units.items()]
        + [(LOAN + lid, pack(loan.to_wire())) for lid, loan in v.loan_records.items()]
        + [(CREDIT + a, pack(r.to_wire())) for a, r in v.credit_records.items()])


class AccountSource(Protocol):
    """Where committed account records are kept (the store): each an encoded Account."""

    def get(self, address: bytes) -> bytes | None: ...
    def scan(self) -> Iterator[tuple[bytes, bytes]]: ...  # every (address, record), by address


DEFAULT_ACCOUNT_CACHE = 50_000  # accounts a store-backed State keeps decoded (~820 B each)


class AccountTable:
    """The committed accounts by address: every one in memory without a source; with one, the
    `capacity` most recently written or loaded, the rest decoded from the source when asked
    for. A read that finds its account (`hit`) is one dict lookup, as when every account was
    in memory, and does not refresh it: every committed change re-inserts the accounts it
    touched, so the accounts in use stay."""

    def __init__(self, source: AccountSource | None = None,
                 capacity: int = DEFAULT_ACCOUNT_CACHE):
        self.source = source
        self.capacity = capacity
        self._cached: OrderedDict[bytes, Account] = OrderedDict()
        self.hit = self._cached.get  # the cached account or None, no source asked
        self.misses = 0  # reads the source answered (for metrics and tests)

    def get(self, address: bytes) -> Account | None:
        acct = self._cached.get(address)
        if acct is not None or self.source is None:
            return acct
            return None
        raw = self.source.get(address)
        if raw is None:
            return None
        self.misses += 1
        acct = Account.from_wire(msgpack.unpackb(raw, raw=False))
        self._keep(address, acct)
        return acct

    def setdefault(self, address: bytes, default: Account) -> Account:
        acct = self.get(address)
        if acct is None:
            acct = default
            self._keep(address, acct)
        return acct

    def __setitem__(self, address: bytes, acct: Account) -> None:
        self._keep(address, acct)

    def update(self, accounts: Mapping[bytes, Account]) -> None:
        for address, acct in accounts.items():
            self._keep(address, acct)

    def _keep(self, address: bytes, acct: Account) -> None:
        self._cached[address] = acct
        if self.source is not None:
            self._cached.move_to_end(address)
            while len(self._cached) > self.capacity:
                self._cached.popitem(last=False)  # its record in the source is as new

    def items(self) -> Iterator[tuple[bytes, Account]]:
        """Every account, by address: from the source when there is one (the cache never
        holds an account newer than its record there)."""
        if self.source is None:
            yield from sorted(self._cached.items())
            return
        for address, raw in self.source.scan():
            yield address, Account.from_wire(msgpack.unpackb(raw, raw=False))

    def values(self) -> Iterator[Account]:
        return (acct for _, acct in self.items())

    @property
    def cached(self) -> int:
        """Accounts decoded in memory now."""
        return len(self._cached)


class RotationSeen:
    """Whether any key_rotate was ever applied or loaded under one State (sticky, shared by its
    overlays): until then every key lookup is the genesis index alone, so the transfers' KYC
    checks pay nothing for rotation."""
    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = False


class StateView:
    """Reads and writes of ledger records. Rules take a StateView and never see storage."""

    genesis: Genesis
    _rotation: RotationSeen

    def account(self, address: bytes) -> Account:
        """The account for reading. Never mutate it: use account_mut."""
        raise NotImplementedError

    def account_mut(self, address: bytes) -> Account:
        raise NotImplementedError

    def roles(self, institution: str) -> frozenset[str]:
        raise NotImplementedError

    def set_roles(self, institution: str, roles: frozenset[str]) -> None:
        raise NotImplementedError

    def supply(self, asset: str) -> int:
        raise NotImplementedError

    def set_supply(self, asset: str, amount: int) -> None:
        raise NotImplementedError

    def asset_frozen(self, asset: str) -> bool:
        raise NotImplementedError

    def set_asset_frozen(self, asset: str, frozen: bool) -> None:
        raise NotImplementedError

    def proposal(self, proposal_id: bytes) -> Proposal | None:
        raise NotImplementedError

    def set_proposal(self, proposal_id: bytes, proposal: Proposal) -> None:
        raise NotImplementedError

    def kyc_epoch(self, institution: str) -> int:
        """Which of its kyc_issuer licences the institution is in: its attestations of earlier
        epochs no longer count."""
        raise NotImplementedError

    def set_kyc_epoch(self, institution: str, epoch: int) -> None:
        raise NotImplementedError

    def license_expiries(self) -> tuple[LicenseExpiry, ...]:
        """The licences that lapse, soonest first."""
        raise NotImplementedError

    def set_license_expiries(self, expiries: tuple[LicenseExpiry, ...]) -> None:
        raise NotImplementedError
    def rotated_keys(self, institution: str) -> InstitutionKeys | None:
        """The institution's keys if a key_rotate replaced one; None: its genesis keys."""
        raise NotImplementedError

    def blocked_jurisdictions(self) -> frozenset[str]:
        """The jurisdictions blocked now: genesis's, as jurisdiction_block/_unblock left them."""
        raise NotImplementedError

    def set_blocked_jurisdictions(self, blocked: frozenset[str]) -> None:
        raise NotImplementedError

    def tier(self, level: int) -> Tier | None:
        """The KYC tier now: genesis's, unless a tier_set replaced or added it."""
        raise NotImplementedError

    def added_institution(self, name: str) -> Institution | None:
        """An institution an institution_add added (None: none by that name)."""
        raise NotImplementedError

    def add_institution(self, institution: Institution) -> None:
        raise NotImplementedError

    def added_institutions(self) -> list[Institution]:
        raise NotImplementedError

    def institution(self, name: str) -> Institution | None:
        """The institution of this name now: of genesis, or added since."""
        inst = self.genesis.institution(name)
        return inst if inst is not None else self.added_institution(name)

    def institutions(self) -> list[Institution]:
        """Every institution now, by name (genesis's first among equals: names are unique)."""
        added = self.added_institutions()
        if not added:
            return list(self.genesis.institutions)
        return sorted([*self.genesis.institutions, *added], key=lambda i: i.name)

    def set_tier(self, tier: Tier) -> None:
        raise NotImplementedError

    def asset(self, code: str) -> Asset | None:
        """The asset now: genesis's, as asset_add / asset_update left it."""
        raise NotImplementedError

    def set_asset(self, asset: Asset) -> None:
        raise NotImplementedError

    def assets(self) -> list[Asset]:
        """Every asset now, by code."""
        raise NotImplementedError

    def reserves(self, code: str) -> Reserves | None:
        """The asset's latest reserve report (None: never reported)."""
        raise NotImplementedError

    def set_reserves(self, code: str, reserves: Reserves) -> None:
        raise NotImplementedError

    def report_count(self) -> int:
        """How many supervisory reports the chain has made (the next one's seq)."""
        raise NotImplementedError

    def add_report(self, report: SupervisoryReport) -> None:
        """Keep the report in its ring slot (report.seq must be report_count())."""
        raise NotImplementedError

    def reports(self) -> list[SupervisoryReport]:
        """The supervisory reports still in the ring, oldest first."""
        raise NotImplementedError

    def offer(self, offer_id: bytes) -> Offer | None:
        raise NotImplementedError

    def set_offer(self, offer_id: bytes, offer: Offer) -> None:
        raise NotImplementedError

    def offers(self) -> list[tuple[bytes, Offer]]:
        """Every offer ever made, open or closed, by id."""
        raise NotImplementedError

    def offers_due(self, until: int, limit: int) -> list[bytes]:
        """At most `limit` open offers expiring at or before `until`, soonest first (ties by
        id): what a block's expiry sweep releases."""
        raise NotImplementedError

    def escrow(self, escrow_id: bytes) -> Escrow | None:
        raise NotImplementedError

    def set_escrow(self, escrow_id: bytes, escrow: Escrow) -> None:
        raise NotImplementedError

    def escrows(self) -> list[tuple[bytes, Escrow]]:
        """Every escrow ever made, by id."""
        raise NotImplementedError

    def held(self, asset: str) -> int:
        """Units of the asset locked in open offers and escrows."""
        raise NotImplementedError

    def set_held(self, asset: str, amount: int) -> None:
        raise NotImplementedError

    def loan(self, loan_id: bytes) -> Loan | None:
        raise NotImplementedError

    def set_loan(self, loan_id: bytes, loan: Loan) -> None:
        raise NotImplementedError

    def loans(self) -> list[tuple[bytes, Loan]]:
        """Every loan ever offered, by id."""
        raise NotImplementedError

    def loans_due(self, until: int, limit: int) -> list[bytes]:
        """At most `limit` loans whose next collection turn is at or before `until`, soonest
        first (ties by id): what a block's collection runs."""
        raise NotImplementedError

    def credit(self, borrower: bytes) -> CreditRecord:
        raise NotImplementedError

    def set_credit(self, borrower: bytes, record: CreditRecord) -> None:
        raise NotImplementedError

    def set_keys(self, institution: str, keys: InstitutionKeys) -> None:
        raise NotImplementedError

    def _rotated_owner(self, key: bytes, authority: bool) -> str | None:
        """A name that may hold `key` by rotation (a candidate the caller confirms)."""
        raise NotImplementedError

    # -- current keys: genesis, unless a key_rotate replaced them ------------------------------
    def node_key_of(self, institution: Institution) -> bytes:
        rotated = self.rotated_keys(institution.name)
        return rotated.node if rotated is not None else institution.key

    def authority_key_of(self, institution: Institution) -> bytes:
        rotated = self.rotated_keys(institution.name)
        return rotated.authority if rotated is not None else institution.authority

    def institution_by_node_key(self, key: bytes) -> Institution | None:
        """The institution whose node key this is now (a rotated-away key names none)."""
        if not self._rotation.seen:
            return self.genesis.institution_by_key(key)
        return self._current_owner(key, authority=False)

    def institution_by_authority_key(self, key: bytes) -> Institution | None:
        """The institution whose authority key this is now (a rotated-away key names none)."""
        if not self._rotation.seen:
            return self.genesis.institution_by_authority(key)
        return self._current_owner(key, authority=True)

    def _current_owner(self, key: bytes, authority: bool) -> Institution | None:
        g = self.genesis
        name = self._rotated_owner(key, authority)
        inst = self.institution(name) if name is not None else (
            g.institution_by_authority(key) if authority else g.institution_by_key(key))
        if inst is None:
            return None
        current = self.authority_key_of(inst) if authority else self.node_key_of(inst)
        return inst if current == key else None


class State(StateView):
    """Committed state: the store loads it at start (accounts on demand, through `accounts`)
    and persists changes."""

    def __init__(self, genesis: Genesis, accounts: AccountTable | None = None):
        self.genesis = genesis
        self.accounts = accounts if accounts is not None else AccountTable()
        self.licenses: dict[str, frozenset[str]] = {}
        self.supplies: dict[str, int] = {}
        self.frozen_assets: dict[str, bool] = {}
        self.proposals: dict[bytes, Proposal] = {}
        self.kyc_epochs: dict[str, int] = {}
        self.expiries: tuple[LicenseExpiry, ...] | None = None  # None: no record yet
        self.keys: dict[str, InstitutionKeys] = {}
        self.blocked: frozenset[str] | None = None  # None: no record yet (genesis's set counts)
        self._genesis_blocked = frozenset(genesis.blocked_jurisdictions)
        self.tiers: dict[int, Tier] = {}  # the tier_set records
        self._current_tiers: dict[int, Tier] = {t.tier: t for t in genesis.tiers}  # one lookup
        self.added: dict[str, Institution] = {}
        self.asset_records: dict[str, Asset] = {}  # the asset_add / asset_update records
        self._current_assets: dict[str, Asset] = {a.code: a for a in genesis.assets}
        self.reserve_records: dict[str, Reserves] = {}
        self.report_slots: dict[int, SupervisoryReport] = {}
        self.next_report: int | None = None  # None: no report yet
        self.offer_records: dict[bytes, Offer] = {}
        self.escrow_records: dict[bytes, Escrow] = {}
        self.held_units: dict[str, int] = {}
        self._open_offers = DueQueue()  # open offers by expiry, derived from offer_records
        self.loan_records: dict[bytes, Loan] = {}
        self.credit_records: dict[bytes, CreditRecord] = {}
        self._loans_due = DueQueue()  # loans by next collection turn, from loan_records
        self._rotation = RotationSeen()
        # current rotated key -> institution name, node and authority keys apart
        self._owners: tuple[dict[bytes, str], dict[bytes, str]] = ({}, {})

    @classmethod
    def from_genesis(cls, genesis: Genesis) -> State:
        s = cls(genesis)
        for inst in genesis.institutions:
            s.licenses[inst.name] = frozenset(inst.roles)
        for a in genesis.attestations:
            s._acct(a.subject).attestations[a.issuer] = Attestation(
                a.issuer, a.tier, a.jurisdiction, a.expires_at, a.evidence_hash)
        for b in genesis.balances:
            acct = s._acct(b.account)
            acct.balances[b.asset] = acct.balance(b.asset) + b.amount
            s.supplies[b.asset] = s.supplies.get(b.asset, 0) + b.amount
        return s

    def _acct(self, address: bytes) -> Account:
        return self.accounts.setdefault(address, Account())

    def account(self, address: bytes) -> Account:
        return self.accounts.hit(address) or self.accounts.get(address) or Account()

    def account_mut(self, address: bytes) -> Account:
        return self._acct(address)

    def roles(self, institution: str) -> frozenset[str]:
        return self.licenses.get(institution, frozenset())

    def set_roles(self, institution: str, roles: frozenset[str]) -> None:
        self.licenses[institution] = roles

    def supply(self, asset: str) -> int:
        return self.supplies.get(asset, 0)

    def set_supply(self, asset: str, amount: int) -> None:
        self.supplies[asset] = amount

    def asset_frozen(self, asset: str) -> bool:
        return self.frozen_assets.get(asset, False)

    def set_asset_frozen(self, asset: str, frozen: bool) -> None:
        self.frozen_assets[asset] = frozen

    def proposal(self, proposal_id: bytes) -> Proposal | None:
        return self.proposals.get(proposal_id)

    def set_proposal(self, proposal_id: bytes, proposal: Proposal) -> None:
        self.proposals[proposal_id] = proposal

    def kyc_epoch(self, institution: str) -> int:
        return self.kyc_epochs.get(institution, 0)

    def set_kyc_epoch(self, institution: str, epoch: int) -> None:
        self.kyc_epochs[institution] = epoch

    def license_expiries(self) -> tuple[LicenseExpiry, ...]:
        return self.expiries or ()

    def set_license_expiries(self, expiries: tuple[LicenseExpiry, ...]) -> None:
        self.expiries = expiries
    def rotated_keys(self, institution: str) -> InstitutionKeys | None:
        return self.keys.get(institution)

    def blocked_jurisdictions(self) -> frozenset[str]:
        return self.blocked if self.blocked is not None else self._genesis_blocked

    def set_blocked_jurisdictions(self, blocked: frozenset[str]) -> None:
        self.blocked = blocked

    def tier(self, level: int) -> Tier | None:
        return self._current_tiers.get(level)

    def set_tier(self, tier: Tier) -> None:
        self.tiers[tier.tier] = self._current_tiers[tier.tier] = tier

    def added_institution(self, name: str) -> Institution | None:
        return self.added.get(name)

    def add_institution(self, institution: Institution) -> None:
        self.added[institution.name] = institution

    def added_institutions(self) -> list[Institution]:
        return [self.added[n] for n in sorted(self.added)]

    def asset(self, code: str) -> Asset | None:
        return self._current_assets.get(code)

    def set_asset(self, asset: Asset) -> None:
        self.asset_records[asset.code] = self._current_assets[asset.code] = asset

    def assets(self) -> list[Asset]:
        return [self._current_assets[c] for c in sorted(self._current_assets)]

    def reserves(self, code: str) -> Reserves | None:
        return self.reserve_records.get(code)

    def set_reserves(self, code: str, reserves: Reserves) -> None:
        self.reserve_records[code] = reserves

    def report_count(self) -> int:
        return self.next_report or 0

    def add_report(self, report: SupervisoryReport) -> None:
        self.report_slots[report.seq % MAX_REPORTS] = report
        self.next_report = report.seq + 1

    def reports(self) -> list[SupervisoryReport]:
        return sorted(self.report_slots.values(), key=lambda r: r.seq)

    def offer(self, offer_id: bytes) -> Offer | None:
        return self.offer_records.get(offer_id)

    def set_offer(self, offer_id: bytes, offer: Offer) -> None:
        old = self.offer_records.get(offer_id)
        self._open_offers.move(_offer_due(offer_id, old) if old is not None else None,
                               _offer_due(offer_id, offer))
        self.offer_records[offer_id] = offer

    def offers(self) -> list[tuple[bytes, Offer]]:
        return sorted(self.offer_records.items())

    def offers_due(self, until: int, limit: int) -> list[bytes]:
        return self._open_offers.due(until, limit)

    def escrow(self, escrow_id: bytes) -> Escrow | None:
        return self.escrow_records.get(escrow_id)

    def set_escrow(self, escrow_id: bytes, escrow: Escrow) -> None:
        self.escrow_records[escrow_id] = escrow

    def escrows(self) -> list[tuple[bytes, Escrow]]:
        return sorted(self.escrow_records.items())

    def loan(self, loan_id: bytes) -> Loan | None:
        return self.loan_records.get(loan_id)

    def set_loan(self, loan_id: bytes, loan: Loan) -> None:
        old = self.loan_records.get(loan_id)
        self._loans_due.move(_loan_due(loan_id, old) if old is not None else None,
                             _loan_due(loan_id, loan))
        self.loan_records[loan_id] = loan

    def loans(self) -> list[tuple[bytes, Loan]]:
        return sorted(self.loan_records.items())

    def loans_due(self, until: int, limit: int) -> list[bytes]:
        return self._loans_due.due(until, limit)

    def credit(self, borrower: bytes) -> CreditRecord:
        return self.credit_records.get(borrower) or CreditRecord()

    def set_credit(self, borrower: bytes, record: CreditRecord) -> None:
        self.credit_records[borrower] = record

    def held(self, asset: str) -> int:
        return self.held_units.get(asset, 0)

    def set_held(self, asset: str, amount: int) -> None:
        self.held_units[asset] = amount

    def current_tiers(self) -> list[Tier]:
        """Every tier now, by number (GET /v1/policy)."""
        return [self._current_tiers[n] for n in sorted(self._current_tiers)]

    def set_keys(self, institution: str, keys: InstitutionKeys) -> None:
        old = self.keys.get(institution)
        nodes, authorities = self._owners
        if old is not None:  # an old key's entry goes, unless another rotation took it since
            if nodes.get(old.node) == institution:
                del nodes[old.node]
            if authorities.get(old.authority) == institution:
                del authorities[old.authority]
        self.keys[institution] = keys
        self._rotation.seen = True
        nodes[keys.node] = institution
        authorities[keys.authority] = institution

    def _rotated_owner(self, key: bytes, authority: bool) -> str | None:
        return self._owners[authority].get(key)

    # -- persistence: records as (key, value) byte pairs --------------------------------------
    def records(self) -> list[tuple[bytes, bytes]]:
        """Every record, sorted by key (for the genesis state hash and full dumps)."""
        return encode_records(self)

    def load_record(self, key: bytes, value: bytes) -> None:
        kind, rest = key[:1], key[1:]
        obj = msgpack.unpackb(value, raw=False)
        if kind == ACCOUNT:  # a store-backed State reads accounts on demand instead
            self.accounts[rest] = Account.from_wire(obj)
        elif kind == LICENSE:
            self.licenses[rest.decode()] = frozenset(obj)
        elif kind == SUPPLY:
            self.supplies[rest.decode()] = obj
        elif kind == ASSET_FROZEN:
            self.frozen_assets[rest.decode()] = obj
        elif kind == PROPOSAL:
            self.proposals[rest] = Proposal.from_wire(obj)
        elif kind == KYC_EPOCH:
            self.kyc_epochs[rest.decode()] = obj
        elif kind == EXPIRIES:
            self.expiries = tuple(LicenseExpiry(*x) for x in obj)
        elif kind == KEYS:
            self.set_keys(rest.decode(), InstitutionKeys.from_wire(obj))
        elif kind == BLOCKED:
            self.blocked = frozenset(obj)
        elif kind == TIER:
            self.set_tier(tier_from_wire(rest[0], obj))
        elif kind == ADDED:
            self.add_institution(institution_from_wire(rest.decode(), obj))
        elif kind == ASSET:
            self.set_asset(asset_from_wire(rest.decode(), obj))
        elif kind == RESERVES:
            self.reserve_records[rest.decode()] = Reserves.from_wire(obj)
        elif kind == REPORT:
            self.report_slots[int.from_bytes(rest, "big")] = SupervisoryReport.from_wire(obj)
        elif kind == REPORT_SEQ:
            self.next_report = obj
        elif kind == OFFER:
            self.set_offer(rest, Offer.from_wire(obj))
        elif kind == ESCROW:
            self.escrow_records[rest] = Escrow.from_wire(obj)
        elif kind == HELD:
            self.held_units[rest.decode()] = obj
        elif kind == LOAN:
            self.set_loan(rest, Loan.from_wire(obj))
        elif kind == CREDIT:
            self.credit_records[rest] = CreditRecord.from_wire(obj)

    def genesis_hash(self) -> bytes:
        """State hash at height 0: chain id and every genesis record."""
        return sha256(pack([self.genesis.chain_id, [list(r) for r in self.records()]]))


class Overlay(StateView):
    """Copy-on-write changes over a parent view. `commit()` pushes them into the parent."""

    def __init__(self, parent: StateView):
        self.parent = parent
        self.genesis = parent.genesis
        self.accounts: dict[bytes, Account] = {}
        self.licenses: dict[str, frozenset[str]] = {}
        self.supplies: dict[str, int] = {}
        self.frozen_assets: dict[str, bool] = {}
        self.proposals: dict[bytes, Proposal] = {}
        self.kyc_epochs: dict[str, int] = {}
        self.expiries: tuple[LicenseExpiry, ...] | None = None  # None: unchanged
        self.keys: dict[str, InstitutionKeys] = {}
        self.blocked: frozenset[str] | None = None  # None: unchanged
        self.tiers: dict[int, Tier] = {}
        self.added: dict[str, Institution] = {}
        self.asset_records: dict[str, Asset] = {}
        self.reserve_records: dict[str, Reserves] = {}
        self.report_slots: dict[int, SupervisoryReport] = {}
        self.next_report: int | None = None  # None: unchanged
        self.offer_records: dict[bytes, Offer] = {}
        self.escrow_records: dict[bytes, Escrow] = {}
        self.held_units: dict[str, int] = {}
        self.loan_records: dict[bytes, Loan] = {}
        self.credit_records: dict[bytes, CreditRecord] = {}
        self._rotation = parent._rotation

    def account(self, address: bytes) -> Account:
        acct = self.accounts.get(address)
        return acct if acct is not None else self.parent.account(address)

    def account_mut(self, address: bytes) -> Account:
        acct = self.accounts.get(address)
        if acct is None:
            acct = self.accounts[address] = self.parent.account(address).copy()
        return acct

    def roles(self, institution: str) -> frozenset[str]:
        r = self.licenses.get(institution)
        return r if r is not None else self.parent.roles(institution)

    def set_roles(self, institution: str, roles: frozenset[str]) -> None:
        self.licenses[institution] = roles

    def supply(self, asset: str) -> int:
        v = self.supplies.get(asset)
        return v if v is not None else self.parent.supply(asset)

    def set_supply(self, asset: str, amount: int) -> None:
        self.supplies[asset] = amount

    def asset_frozen(self, asset: str) -> bool:
        v = self.frozen_assets.get(asset)
        return v if v is not None else self.parent.asset_frozen(asset)

    def set_asset_frozen(self, asset: str, frozen: bool) -> None:
        self.frozen_assets[asset] = frozen

    def proposal(self, proposal_id: bytes) -> Proposal | None:
        p = self.proposals.get(proposal_id)
        return p if p is not None else self.parent.proposal(proposal_id)

    def set_proposal(self, proposal_id: bytes, proposal: Proposal) -> None:
        self.proposals[proposal_id] = proposal

    def kyc_epoch(self, institution: str) -> int:
        e = self.kyc_epochs.get(institution)
        return e if e is not None else self.parent.kyc_epoch(institution)

    def set_kyc_epoch(self, institution: str, epoch: int) -> None:
        self.kyc_epochs[institution] = epoch

    def license_expiries(self) -> tuple[LicenseExpiry, ...]:
        return self.expiries if self.expiries is not None else self.parent.license_expiries()

    def set_license_expiries(self, expiries: tuple[LicenseExpiry, ...]) -> None:
        self.expiries = expiries
    def rotated_keys(self, institution: str) -> InstitutionKeys | None:
        k = self.keys.get(institution)
        return k if k is not None else self.parent.rotated_keys(institution)

    def blocked_jurisdictions(self) -> frozenset[str]:
        b = self.blocked
        return b if b is not None else self.parent.blocked_jurisdictions()

    def set_blocked_jurisdictions(self, blocked: frozenset[str]) -> None:
        self.blocked = blocked

    def tier(self, level: int) -> Tier | None:
        t = self.tiers.get(level) if self.tiers else None
        return t if t is not None else self.parent.tier(level)

    def set_tier(self, tier: Tier) -> None:
        self.tiers[tier.tier] = tier

    def added_institution(self, name: str) -> Institution | None:
        i = self.added.get(name) if self.added else None
        return i if i is not None else self.parent.added_institution(name)

    def add_institution(self, institution: Institution) -> None:
        self.added[institution.name] = institution

    def added_institutions(self) -> list[Institution]:
        ours = self.parent.added_institutions()
        if self.added:
            ours = sorted([*(i for i in ours if i.name not in self.added),
                           *self.added.values()], key=lambda i: i.name)
        return ours

    def asset(self, code: str) -> Asset | None:
        a = self.asset_records.get(code) if self.asset_records else None  # hot: one test
        return a if a is not None else self.parent.asset(code)

    def set_asset(self, asset: Asset) -> None:
        self.asset_records[asset.code] = asset

    def assets(self) -> list[Asset]:
        ours = {a.code: a for a in self.parent.assets()} | self.asset_records
        return [ours[c] for c in sorted(ours)]

    def reserves(self, code: str) -> Reserves | None:
        r = self.reserve_records.get(code)
        return r if r is not None else self.parent.reserves(code)

    def set_reserves(self, code: str, reserves: Reserves) -> None:
        self.reserve_records[code] = reserves

    def report_count(self) -> int:
        n = self.next_report
        return n if n is not None else self.parent.report_count()

    def add_report(self, report: SupervisoryReport) -> None:
        self.report_slots[report.seq % MAX_REPORTS] = report
        self.next_report = report.seq + 1

    def reports(self) -> list[SupervisoryReport]:
        ring = {r.seq % MAX_REPORTS: r for r in self.parent.reports()} | self.report_slots
        return sorted(ring.values(), key=lambda r: r.seq)

    def offer(self, offer_id: bytes) -> Offer | None:
        o = self.offer_records.get(offer_id)
        return o if o is not None else self.parent.offer(offer_id)

    def set_offer(self, offer_id: bytes, offer: Offer) -> None:
        self.offer_records[offer_id] = offer

    def offers(self) -> list[tuple[bytes, Offer]]:
        return sorted((dict(self.parent.offers()) | self.offer_records).items())

    def offers_due(self, until: int, limit: int) -> list[bytes]:
        ours = self.offer_records
        if not ours:
            return self.parent.offers_due(until, limit)
        return merged_due(self.parent.offers_due(until, limit + len(ours)), ours,
                          self.parent.offer, _offer_due, until, limit)

    def escrow(self, escrow_id: bytes) -> Escrow | None:
        e = self.escrow_records.get(escrow_id)
        return e if e is not None else self.parent.escrow(escrow_id)

    def set_escrow(self, escrow_id: bytes, escrow: Escrow) -> None:
        self.escrow_records[escrow_id] = escrow

    def escrows(self) -> list[tuple[bytes, Escrow]]:
        return sorted((dict(self.parent.escrows()) | self.escrow_records).items())

    def loan(self, loan_id: bytes) -> Loan | None:
        loan = self.loan_records.get(loan_id)
        return loan if loan is not None else self.parent.loan(loan_id)

    def set_loan(self, loan_id: bytes, loan: Loan) -> None:
        self.loan_records[loan_id] = loan

    def loans(self) -> list[tuple[bytes, Loan]]:
        return sorted((dict(self.parent.loans()) | self.loan_records).items())

    def loans_due(self, until: int, limit: int) -> list[bytes]:
        ours = self.loan_records
        if not ours:
            return self.parent.loans_due(until, limit)
        return merged_due(self.parent.loans_due(until, limit + len(ours)), ours,
                          self.parent.loan, _loan_due, until, limit)

    def credit(self, borrower: bytes) -> CreditRecord:
        r = self.credit_records.get(borrower) if self.credit_records else None
        return r if r is not None else self.parent.credit(borrower)

    def set_credit(self, borrower: bytes, record: CreditRecord) -> None:
        self.credit_records[borrower] = record

    def held(self, asset: str) -> int:
        n = self.held_units.get(asset) if self.held_units else None
        return n if n is not None else self.parent.held(asset)

    def set_held(self, asset: str, amount: int) -> None:
        self.held_units[asset] = amount

    def set_keys(self, institution: str, keys: InstitutionKeys) -> None:
        self.keys[institution] = keys
        self._rotation.seen = True

    def _rotated_owner(self, key: bytes, authority: bool) -> str | None:
        if self.keys:  # rotations in this overlay (rare: scan them) come before the parent's
            for name, k in self.keys.items():
                if (k.authority if authority else k.node) == key:
                    return name
        return self.parent._rotated_owner(key, authority)

    def changes(self) -> list[tuple[bytes, bytes]]:
        """Changed records as sorted (key, encoded value) pairs."""
        return encode_records(self)

    def commit(self) -> None:
        """Apply these changes to the parent (the overlay's records become the parent's)."""
        assert isinstance(self.parent, State), "overlays commit only into the committed State"
        self.parent.accounts.update(self.accounts)
        self.parent.licenses.update(self.licenses)
        self.parent.supplies.update(self.supplies)
        self.parent.frozen_assets.update(self.frozen_assets)
        self.parent.proposals.update(self.proposals)
        self.parent.kyc_epochs.update(self.kyc_epochs)
        if self.expiries is not None:
            self.parent.expiries = self.expiries
        for name in sorted(self.keys):
            self.parent.set_keys(name, self.keys[name])
        if self.blocked is not None:
            self.parent.blocked = self.blocked
        for n in sorted(self.tiers):
            self.parent.set_tier(self.tiers[n])
        for name in sorted(self.added):
            self.parent.add_institution(self.added[name])
        for code in sorted(self.asset_records):
            self.parent.set_asset(self.asset_records[code])
        self.parent.reserve_records.update(self.reserve_records)
        self.parent.report_slots.update(self.report_slots)
        if self.next_report is not None:
            self.parent.next_report = self.next_report
        for oid in sorted(self.offer_records):
            self.parent.set_offer(oid, self.offer_records[oid])
        self.parent.escrow_records.update(self.escrow_records)
        self.parent.held_units.update(self.held_units)
        for lid in sorted(self.loan_records):
            self.parent.set_loan(lid, self.loan_records[lid])
        self.parent.credit_records.update(self.credit_records)
