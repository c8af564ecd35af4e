"""The things that move between modules: the ledger's vocabulary, transactions, blocks, receipts.

A transaction on the wire is the msgpack array
    [chain_id, kind, sender, nonce, payload, signature]
with a fixed field order; the signature covers the array of the first five fields.
Its hash (sha256 of the signed encoding) is its id. The signed bytes are kept and passed
through (gossip, blocks, storage) and never re-encoded.

A payload is a frozen dataclass per kind; its fields, in declaration order, are its wire array.
Each field names the check that validates it on decode (`field(metadata=checked_by(...))`):
the value bounds of the ledger (amounts in [1, 2^63-1], memos of at most 256 bytes, ...) live
there, beside the field they bound.

The vocabulary is `enum.StrEnum`: each member *is* its wire string, so JSON and msgpack carry
the same values as before and a decoded plain string compares, hashes and looks up equal to its
member (no conversion on the hot path).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, cast

from node.ledger.codec import pack, sha256, unpack_canonical
from node.ledger.crypto import ADDRESS_LEN, SIGNATURE_LEN, Signer
from node.ledger.errors import Malformed, TooLarge, UnknownKind
from node.ledger.text import printable_text

MAX_TX_BYTES = 4096
MAX_MEMO_BYTES = 256
MAX_AMOUNT = 2**63 - 1
HASH_LEN = 32
_ASSET_CODE = re.compile(r"[A-Z][A-Z0-9]{1,11}")
_JURISDICTION = re.compile(r"[A-Z]{2}")
_INSTITUTION = re.compile(r"[A-Za-z0-9_.-]{1,64}")


# ---- vocabulary -------------------------------------------------------------------------------

class Role(StrEnum):
    """A license an institution holds (genesis; license_grant / license_revoke)."""
    VALIDATOR = "validator"  # a Raft voter: proposes and signs blocks, votes on governance
    KYC_ISSUER = "kyc_issuer"  # its attestations count
    ASSET_ISSUER = "asset_issuer"  # issues, redeems, freezes and claws back its own assets
    OBSERVER = "observer"  # runs a non-voting node that follows the chain (regulator, auditor)


class TxKind(StrEnum):
    """A transaction's kind: the second field of the wire array, the key of PAYLOADS."""
    TRANSFER = "transfer"
    ISSUE = "issue"
    REDEEM = "redeem"
    KYC_ATTEST = "kyc_attest"
    KYC_REVOKE = "kyc_revoke"
    LICENSE_GRANT = "license_grant"
    LICENSE_REVOKE = "license_revoke"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    ASSET_FREEZE = "asset_freeze"
    ASSET_UNFREEZE = "asset_unfreeze"
    CLAWBACK = "clawback"
    GOVERNANCE_PROPOSE = "governance_propose"
    GOVERNANCE_APPROVE = "governance_approve"
    KEY_ROTATE = "key_rotate"
    JURISDICTION_BLOCK = "jurisdiction_block"
    JURISDICTION_UNBLOCK = "jurisdiction_unblock"
    TIER_SET = "tier_set"
    INSTITUTION_ADD = "institution_add"
    ASSET_ADD = "asset_add"
    ASSET_UPDATE = "asset_update"
    RESERVE_REPORT = "reserve_report"
    RESERVE_ATTEST = "reserve_attest"
    FX_OFFER = "fx_offer"
    FX_ACCEPT = "fx_accept"
    FX_CANCEL = "fx_cancel"
    ESCROW_CREATE = "escrow_create"
    ESCROW_RELEASE = "escrow_release"
    ESCROW_CANCEL = "escrow_cancel"
    LOAN_OFFER = "loan_offer"
    LOAN_ACCEPT = "loan_accept"
    LOAN_REPAY = "loan_repay"
    LOAN_WRITEOFF = "loan_writeoff"


class TxState(StrEnum):
    """What a client learns of a transaction (GET /v1/txs/{hash} `status`)."""
    PENDING = "pending"  # admitted to a pool, not yet in a committed block
    COMMITTED = "committed"  # executed in a committed block with an ok receipt
    FAILED = "failed"  # executed with a reason code, or dropped from the pool with one
    UNKNOWN = "unknown"  # this node has never seen it (or has forgotten a drop)


class LicenseAction(StrEnum):
    """What a license change does: the regulator's tx kind, or a proposal's `action`."""
    GRANT = "license_grant"
    REVOKE = "license_revoke"


class ProposalStatus(StrEnum):
    """A governance proposal's stored status; expiry is judged by time, not stored."""
    OPEN = "open"
    APPLIED = "applied"


class ReportKind(StrEnum):
    """What a supervisory report is of (node.ledger.rules.reports)."""
    LARGE = "large"  # one transfer at or above the asset's report threshold
    STRUCTURING = "structuring"  # smaller ones taking the sender's 24 h total across it


class OfferStatus(StrEnum):
    """Where an FX offer is (node.ledger.rules.fx); only `open` settles."""
    OPEN = "open"
    FILLED = "filled"  # the whole want leg was paid
    CANCELLED = "cancelled"  # by its maker (fx_cancel)
    EXPIRED = "expired"  # released at the first block past its expiry


class EscrowStatus(StrEnum):
    """Where an escrow is (node.ledger.rules.escrow)."""
    OPEN = "open"
    RELEASED = "released"  # paid to its recipient
    CANCELLED = "cancelled"  # returned to its payer


class LoanStatus(StrEnum):
    """Where a microfinance loan is (node.ledger.rules.loans)."""
    OFFERED = "offered"  # made by the lender, not yet accepted by the borrower
    CURRENT = "current"  # disbursed; every instalment past its grace is paid
    LATE = "late"  # an instalment is unpaid past its grace
    DEFAULTED = "defaulted"  # default_after missed instalments, or the schedule ended unpaid
    PAID_OFF = "paid_off"  # everything the schedule asked was paid
    WRITTEN_OFF = "written_off"  # the lender wrote it off (loan_writeoff)


class LicensePolicy(StrEnum):
    """Who decides license changes (genesis `license_policy`)."""
    REGULATOR = "regulator"  # the regulator alone, with license_grant / license_revoke
    MAJORITY = "majority"  # a strict majority of the validators, with governance_propose/_approve


class KeyKind(StrEnum):
    """Which of an institution's two keys a key_rotate replaces."""
    NODE = "node"  # runs its node: peer links, blocks, certificate votes
    AUTHORITY = "authority"  # signs its transactions: issuance, attestations, governance


# Plain strings, for messages and click choices (which would show an enum member's name).
ROLES: tuple[str, ...] = tuple(r.value for r in Role)
LICENSE_ACTIONS: tuple[str, ...] = tuple(a.value for a in LicenseAction)
KEY_KINDS: tuple[str, ...] = tuple(k.value for k in KeyKind)


# ---- field validators: each raises Malformed with the field's name --------------------------

FieldCheck = Callable[[str, Any], Any]


def _int(name: str, v: Any, lo: int = 0, hi: int = 2**64 - 1) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise Malformed(f"{name} must be an integer in [{lo}, {hi}]")
    return v


def _amount(name: str, v: Any) -> int:
    return _int(name, v, 1, MAX_AMOUNT)


def _time(name: str, v: Any) -> int:
    """A unix-ms instant (an expiry), judged against block time."""
    return _int(name, v, 0, MAX_AMOUNT)


def _tier(name: str, v: Any) -> int:
    return _int(name, v, 0, 255)


def _bytes(name: str, v: Any, length: int) -> bytes:
    if type(v) is not bytes or len(v) != length:
        raise Malformed(f"{name} must be {length} bytes")
    return v


def _address(name: str, v: Any) -> bytes:
    return _bytes(name, v, ADDRESS_LEN)


def _hash(name: str, v: Any) -> bytes:
    return _bytes(name, v, HASH_LEN)


def _str(name: str, v: Any, pattern: re.Pattern[str] | None = None, max_bytes: int = 64) -> str:
    if type(v) is not str or len(v.encode()) > max_bytes:
        raise Malformed(f"{name} must be a string of at most {max_bytes} bytes")
    if pattern is not None and not pattern.fullmatch(v):
        raise Malformed(f"{name} {v!r} is not of the form {pattern.pattern}")
    return v


def _asset(name: str, v: Any) -> str:
    return _str(name, v, _ASSET_CODE, 12)


def _jurisdiction(name: str, v: Any) -> str:
    return _str(name, v, _JURISDICTION, 2)


def _institution(name: str, v: Any) -> str:
    return _str(name, v, _INSTITUTION, 64)


def _issuer_name(name: str, v: Any) -> str:
    """An institution name, or "" for none."""
    return v if v == "" else _institution(name, v)


def _role(name: str, v: Any) -> str:
    if v not in ROLES:
        raise Malformed(f"{name} must be one of {', '.join(ROLES)}")
    return cast(str, v)


def _license_action(name: str, v: Any) -> str:
    if v not in LICENSE_ACTIONS:
        raise Malformed(f"{name} must be one of {', '.join(LICENSE_ACTIONS)}")
    return cast(str, v)


def _key_kind(name: str, v: Any) -> str:
    if v not in KEY_KINDS:
        raise Malformed(f"{name} must be one of {', '.join(KEY_KINDS)}")
    return cast(str, v)


def _memo(name: str, v: Any) -> str:
    """A reference for the parties, at most MAX_MEMO_BYTES of UTF-8, printable (node.ledger.text)."""
    text = _str(name, v, None, MAX_MEMO_BYTES)
    return text if text.isprintable() else printable_text(name, text)  # the common case inline


def _reason(name: str, v: Any) -> str:
    if v == "":
        raise Malformed(f"{name} must say why")
    return printable_text(name, _str(name, v, None, MAX_MEMO_BYTES))


def _flag(name: str, v: Any) -> bool:
    if type(v) is not bool:
        raise Malformed(f"{name} must be true or false")
    return v


def _maybe_address(name: str, v: Any) -> bytes:
    """An address, or b"" for none."""
    return v if v == b"" else _address(name, v)


def _maybe_hash(name: str, v: Any) -> bytes:
    """A 32-byte hash, or b"" for none."""
    return v if v == b"" else _hash(name, v)


MAX_PREIMAGE_BYTES = 256


def _preimage(name: str, v: Any) -> bytes:
    if type(v) is not bytes or len(v) > MAX_PREIMAGE_BYTES:
        raise Malformed(f"{name} must be at most {MAX_PREIMAGE_BYTES} bytes")
    return v


def checked_by(check: FieldCheck, optional: bool = False) -> dict[str, Any]:
    """A payload field's metadata: the check that validates its wire value on decode.

    `optional` marks a field added to a kind after its first version: such fields come last,
    and at their default they are left off the wire (so older encodings stay valid and each
    payload has exactly one encoding: a trailing optional field sent at its default is
    MALFORMED)."""
    return {"check": check, "optional": optional}


# ---- payloads: one frozen dataclass per kind, fields in wire order ---------------------------

@dataclass(frozen=True)
class Payload:
    """Base of the per-kind payloads. `KIND` names the kind; each field names its check."""

    KIND: ClassVar[TxKind]

    def to_wire(self) -> list[Any]:
        wire = [getattr(self, n) for n, _ in _WIRE_FIELDS[type(self)]]
        defaults = _OPTIONAL_DEFAULTS[type(self)]
        while defaults and wire[-1] == defaults[-1]:  # trailing optional fields at default
            wire.pop()
            defaults = defaults[:-1]
        return wire

    @classmethod
    def from_wire(cls, items: Any) -> Payload:
        spec = _WIRE_FIELDS[cls]
        defaults = _OPTIONAL_DEFAULTS[cls]
        least = len(spec) - len(defaults)
        if type(items) is not list or not least <= len(items) <= len(spec):
            sizes = f"{least} to {len(spec)}" if defaults else str(len(spec))
            raise Malformed(f"{cls.KIND} payload must be an array of {sizes} fields")
        values = [check(n, v) for (n, check), v in zip(spec, items, strict=False)]
        if len(items) > least and values[-1] == defaults[len(items) - least - 1]:
            raise Malformed(f"{spec[len(items) - 1][0]} at its default is left off the wire "
                            f"({cls.KIND} payload)")
        return cls(*values)


# FATF travel rule data of a transfer: (originator institution, beneficiary institution, salted
# hash of the off-chain IVMS101 record); () when the transfer carries none
TravelRule = tuple[str, str, bytes] | tuple[()]


def _travel_rule(name: str, v: Any) -> TravelRule:
    """[originator, beneficiary, record hash]: two institution names and a 32-byte hash."""
    if type(v) not in (list, tuple) or len(v) != 3:
        raise Malformed(f"{name} must be [originator, beneficiary, record hash]")
    return (_institution(f"{name} originator", v[0]),
            _institution(f"{name} beneficiary", v[1]), _hash(f"{name} record hash", v[2]))


@dataclass(frozen=True)
class Transfer(Payload):
    KIND = TxKind.TRANSFER
    asset: str = field(metadata=checked_by(_asset))
    to: bytes = field(metadata=checked_by(_address))
    amount: int = field(metadata=checked_by(_amount))
    memo: str = field(default="", metadata=checked_by(_memo))
    # travel rule data (node.ledger.rules.travel); no personal data: only the record's hash
    travel_rule: TravelRule = field(default=(), metadata=checked_by(_travel_rule, optional=True))


@dataclass(frozen=True)
class Issue(Payload):
    """New units of `asset` credited to `to`, by the asset's licensed issuer."""
    KIND = TxKind.ISSUE
    asset: str = field(metadata=checked_by(_asset))
    to: bytes = field(metadata=checked_by(_address))
    amount: int = field(metadata=checked_by(_amount))


@dataclass(frozen=True)
class Redeem(Payload):
    """Units of `asset` burned from the issuer's own account (holders pay them back first)."""
    KIND = TxKind.REDEEM
    asset: str = field(metadata=checked_by(_asset))
    amount: int = field(metadata=checked_by(_amount))


@dataclass(frozen=True)
class KycAttest(Payload):
    """An institution vouches for `subject`. Only a hash of the off-chain KYC file is kept."""
    KIND = TxKind.KYC_ATTEST
    subject: bytes = field(metadata=checked_by(_address))
    tier: int = field(metadata=checked_by(_tier))
    jurisdiction: str = field(metadata=checked_by(_jurisdiction))
    expires_at: int = field(metadata=checked_by(_time))  # unix ms, against the block's timestamp
    evidence_hash: bytes = field(metadata=checked_by(_hash))


@dataclass(frozen=True)
class KycRevoke(Payload):
    """A kyc_issuer revokes its own attestation of `subject`; the regulator revokes the one
    `issuer` gave (or, with issuer "", every live attestation of the subject)."""
    KIND = TxKind.KYC_REVOKE
    subject: bytes = field(metadata=checked_by(_address))
    issuer: str = field(default="", metadata=checked_by(_issuer_name, optional=True))


@dataclass(frozen=True)
class LicenseGrant(Payload):
    KIND = TxKind.LICENSE_GRANT
    institution: str = field(metadata=checked_by(_institution))
    role: str = field(metadata=checked_by(_role))
    # unix ms of block time at which the licence lapses; 0: it does not
    expires_at: int = field(default=0, metadata=checked_by(_time, optional=True))
    # a kyc_issuer re-granted after a gap: its earlier attestations count again
    restore_attestations: bool = field(default=False, metadata=checked_by(_flag, optional=True))


@dataclass(frozen=True)
class LicenseRevoke(Payload):
    KIND = TxKind.LICENSE_REVOKE
    institution: str = field(metadata=checked_by(_institution))
    role: str = field(metadata=checked_by(_role))
    # the regulator acting alone on a chain whose licences a validator majority decides
    emergency: bool = field(default=False, metadata=checked_by(_flag, optional=True))


@dataclass(frozen=True)
class Freeze(Payload):
    KIND = TxKind.FREEZE
    account: bytes = field(metadata=checked_by(_address))


@dataclass(frozen=True)
class Unfreeze(Payload):
    KIND = TxKind.UNFREEZE
    account: bytes = field(metadata=checked_by(_address))


@dataclass(frozen=True)
class AssetFreeze(Payload):
    """Stop every movement of an asset (by the regulator or the asset's issuer)."""
    KIND = TxKind.ASSET_FREEZE
    asset: str = field(metadata=checked_by(_asset))


@dataclass(frozen=True)
class AssetUnfreeze(Payload):
    KIND = TxKind.ASSET_UNFREEZE
    asset: str = field(metadata=checked_by(_asset))


@dataclass(frozen=True)
class Clawback(Payload):
    """The issuer takes units of its asset back from an account, with the reason on record.
    Only for assets created clawback-able; the units go to the issuer's own account."""
    KIND = TxKind.CLAWBACK
    asset: str = field(metadata=checked_by(_asset))
    account: bytes = field(metadata=checked_by(_address))
    amount: int = field(metadata=checked_by(_amount))
    reason: str = field(metadata=checked_by(_reason))


@dataclass(frozen=True)
class GovernancePropose(Payload):
    """A validator institution proposes a license change (genesis license_policy "majority").

    The proposal's id is this transaction's hash; the proposer's own approval counts."""
    KIND = TxKind.GOVERNANCE_PROPOSE
    action: str = field(metadata=checked_by(_license_action))  # a LicenseAction
    institution: str = field(metadata=checked_by(_institution))
    role: str = field(metadata=checked_by(_role))
    expires_at: int = field(metadata=checked_by(_time))  # unix ms, against the block's timestamp


@dataclass(frozen=True)
class GovernanceApprove(Payload):
    """Another validator institution approves a pending proposal."""
    KIND = TxKind.GOVERNANCE_APPROVE
    proposal: bytes = field(metadata=checked_by(_hash))  # the hash of its governance_propose tx


@dataclass(frozen=True)
class KeyRotate(Payload):
    """The regulator replaces an institution's node or authority key; from the height of the
    block that commits it, the old key counts for nothing (node.ledger.rules.keys)."""
    KIND = TxKind.KEY_ROTATE
    institution: str = field(metadata=checked_by(_institution))
    which: str = field(metadata=checked_by(_key_kind))  # a KeyKind
    new_key: bytes = field(metadata=checked_by(_address))  # the new public key


@dataclass(frozen=True)
class JurisdictionBlock(Payload):
    """The regulator adds a jurisdiction to the blocked set (a sanctions-list update): from the
    block that commits it, no value moves to or from a party placed there
    (node.ledger.rules.policy)."""
    KIND = TxKind.JURISDICTION_BLOCK
    jurisdiction: str = field(metadata=checked_by(_jurisdiction))


@dataclass(frozen=True)
class JurisdictionUnblock(Payload):
    """The regulator takes a jurisdiction off the blocked set (node.ledger.rules.policy)."""
    KIND = TxKind.JURISDICTION_UNBLOCK
    jurisdiction: str = field(metadata=checked_by(_jurisdiction))


MAX_TIER_ASSETS = 64  # the assets one tier_set may list
TierLimitWire = tuple[str, int, int]  # (asset, per_tx, daily), minor units


def _tier_name(name: str, v: Any) -> str:
    text = printable_text(name, _str(name, v, None, 64))
    if not text:
        raise Malformed(f"{name} must not be empty")
    return text


def _tier_limits(name: str, v: Any) -> tuple[TierLimitWire, ...]:
    """[[asset, per_tx, daily], ...], sorted by asset, each asset once (so one encoding)."""
    if type(v) not in (list, tuple) or len(v) > MAX_TIER_ASSETS:
        raise Malformed(f"{name} must be an array of at most {MAX_TIER_ASSETS} limits")
    out: list[TierLimitWire] = []
    for item in v:
        if type(item) not in (list, tuple) or len(item) != 3:
            raise Malformed(f"each of {name} must be [asset, per_tx, daily]")
        out.append((_asset(f"{name} asset", item[0]), _time(f"{name} per_tx", item[1]),
                    _time(f"{name} daily", item[2])))
    codes = [a for a, _, _ in out]
    if codes != sorted(set(codes)):
        raise Malformed(f"{name} must be sorted by asset, each asset once")
    return tuple(out)


@dataclass(frozen=True)
class TierSet(Payload):
    """The regulator adds a KYC tier or replaces one's name and limits: from the block that
    commits it, attestations of that tier send within the new limits (node.ledger.rules.policy);
    an asset the tier does not list cannot be sent at that tier."""
    KIND = TxKind.TIER_SET
    tier: int = field(metadata=checked_by(_tier))
    name: str = field(metadata=checked_by(_tier_name))
    limits: tuple[TierLimitWire, ...] = field(metadata=checked_by(_tier_limits))


MAX_ENDPOINT_BYTES = 256


def _display_name(name: str, v: Any) -> str:
    return printable_text(name, _str(name, v, None, 128))


def _endpoint(name: str, v: Any) -> str:
    """An institution's API or peer URL as the CLI normalized it (genesis_builder.endpoint_url)."""
    return printable_text(name, _str(name, v, None, MAX_ENDPOINT_BYTES))


@dataclass(frozen=True)
class InstitutionAdd(Payload):
    """The regulator adds an institution, licensed for nothing yet (license_grant follows):
    from the block that commits it, it exists for every rule (node.ledger.rules.institutions)."""
    KIND = TxKind.INSTITUTION_ADD
    name: str = field(metadata=checked_by(_institution))
    display: str = field(metadata=checked_by(_display_name))
    jurisdiction: str = field(metadata=checked_by(_jurisdiction))
    node_key: bytes = field(metadata=checked_by(_address))
    authority_key: bytes = field(metadata=checked_by(_address))  # the node key: one key for both
    address: str = field(metadata=checked_by(_endpoint))  # "" for an institution with no node
    peer_address: str = field(default="", metadata=checked_by(_endpoint))


MAX_DECIMALS = 18


def _decimals(name: str, v: Any) -> int:
    return _int(name, v, 0, MAX_DECIMALS)


def _units(name: str, v: Any) -> int:
    """Minor units that may be zero (a threshold of none, reserves of nothing)."""
    return _int(name, v, 0, MAX_AMOUNT)


@dataclass(frozen=True)
class AssetAdd(Payload):
    """The regulator adds an asset issued by an existing institution (node.ledger.rules.reserves):
    from the block that commits it, its issuer (licensed asset_issuer) may issue it."""
    KIND = TxKind.ASSET_ADD
    code: str = field(metadata=checked_by(_asset))
    issuer: str = field(metadata=checked_by(_institution))
    decimals: int = field(metadata=checked_by(_decimals))
    clawback: bool = field(metadata=checked_by(_flag))
    reserve_backed: bool = field(metadata=checked_by(_flag))
    reserve_max_age_ms: int = field(metadata=checked_by(_time))  # 0: a report never goes stale
    report_threshold: int = field(metadata=checked_by(_units))  # 0: no reporting threshold


@dataclass(frozen=True)
class AssetUpdate(Payload):
    """The regulator changes an asset's reserve flags and reporting threshold (its code,
    issuer, decimals and clawback stay as created: holders took the asset on those terms)."""
    KIND = TxKind.ASSET_UPDATE
    code: str = field(metadata=checked_by(_asset))
    reserve_backed: bool = field(metadata=checked_by(_flag))
    reserve_max_age_ms: int = field(metadata=checked_by(_time))
    report_threshold: int = field(metadata=checked_by(_units))


@dataclass(frozen=True)
class ReserveReport(Payload):
    """The asset's issuer reports the reserves backing it as of a time; the report's id is
    this transaction's hash. Only a hash of the off-chain evidence goes on chain."""
    KIND = TxKind.RESERVE_REPORT
    asset: str = field(metadata=checked_by(_asset))
    amount: int = field(metadata=checked_by(_units))  # minor units of the asset
    as_of: int = field(metadata=checked_by(_time))  # unix ms, not after the block's time
    evidence_hash: bytes = field(metadata=checked_by(_hash))


@dataclass(frozen=True)
class ReserveAttest(Payload):
    """An auditor (an institution licensed validator or observer, not the asset's issuer)
    co-signs the asset's latest reserve report."""
    KIND = TxKind.RESERVE_ATTEST
    asset: str = field(metadata=checked_by(_asset))
    report: bytes = field(metadata=checked_by(_hash))  # the hash of its reserve_report tx


@dataclass(frozen=True)
class FxOffer(Payload):
    """Give `give_amount` of `give_asset` for `want_amount` of `want_asset` (node.ledger.rules.
    fx): the give leg is locked until the offer is filled, cancelled or expires."""
    KIND = TxKind.FX_OFFER
    give_asset: str = field(metadata=checked_by(_asset))
    give_amount: int = field(metadata=checked_by(_amount))
    want_asset: str = field(metadata=checked_by(_asset))
    want_amount: int = field(metadata=checked_by(_amount))
    expires_at: int = field(metadata=checked_by(_time))  # unix ms, judged by block time
    partial: bool = field(metadata=checked_by(_flag))  # fillable in parts (else all or nothing)
    counterparty: bytes = field(metadata=checked_by(_maybe_address))  # b"": anyone may take it


@dataclass(frozen=True)
class FxAccept(Payload):
    """Take an offer: pay `amount` of its want leg, receive the give leg at the offer's rate
    (rounded down), both legs in this one transaction or neither."""
    KIND = TxKind.FX_ACCEPT
    offer: bytes = field(metadata=checked_by(_hash))  # the fx_offer tx hash
    amount: int = field(metadata=checked_by(_amount))  # of the want leg, minor units
    # travel rule data for both legs: [maker's institution, taker's institution, record hash]
    travel_rule: TravelRule = field(default=(), metadata=checked_by(_travel_rule, optional=True))


@dataclass(frozen=True)
class FxCancel(Payload):
    """The maker withdraws its open offer; what is still locked comes back."""
    KIND = TxKind.FX_CANCEL
    offer: bytes = field(metadata=checked_by(_hash))


@dataclass(frozen=True)
class EscrowCreate(Payload):
    """Lock `amount` of `asset` for `to`: released from `release_after` (by the payer, or by
    anyone with the preimage of `condition`), cancellable by the payer from `cancel_after`."""
    KIND = TxKind.ESCROW_CREATE
    asset: str = field(metadata=checked_by(_asset))
    to: bytes = field(metadata=checked_by(_address))
    amount: int = field(metadata=checked_by(_amount))
    release_after: int = field(metadata=checked_by(_time))  # unix ms, block time
    cancel_after: int = field(metadata=checked_by(_time))  # unix ms, after release_after
    condition: bytes = field(metadata=checked_by(_maybe_hash))  # sha256 of a secret, or b""
    # travel rule data, as a transfer's (checked at creation, when the payment is made)
    travel_rule: TravelRule = field(default=(), metadata=checked_by(_travel_rule, optional=True))


@dataclass(frozen=True)
class EscrowRelease(Payload):
    """Pay an escrow to its recipient."""
    KIND = TxKind.ESCROW_RELEASE
    escrow: bytes = field(metadata=checked_by(_hash))  # the escrow_create tx hash
    preimage: bytes = field(metadata=checked_by(_preimage))  # b"" unless the condition is met


@dataclass(frozen=True)
class EscrowCancel(Payload):
    """The payer takes an escrow back once its cancel time has come."""
    KIND = TxKind.ESCROW_CANCEL
    escrow: bytes = field(metadata=checked_by(_hash))


MAX_INSTALMENTS = 36  # the entries of a loan's schedule, at most
MAX_INTEREST_BPS = 100_000  # 1000 %: a bound on the wire, not a usury rule
Instalment = tuple[int, int]  # (due_at unix ms, amount in minor units)


def _schedule(name: str, v: Any) -> tuple[Instalment, ...]:
    """[[due_at, amount], ...], 1 to MAX_INSTALMENTS entries (their order and total are a rule:
    node.ledger.rules.loans.check_schedule)."""
    if type(v) not in (list, tuple) or not 1 <= len(v) <= MAX_INSTALMENTS:
        raise Malformed(f"{name} must be an array of 1 to {MAX_INSTALMENTS} instalments")
    out: list[Instalment] = []
    for item in v:
        if type(item) not in (list, tuple) or len(item) != 2:
            raise Malformed(f"each of {name} must be [due_at, amount]")
        out.append((_time(f"{name} due_at", item[0]), _amount(f"{name} amount", item[1])))
    return tuple(out)


def _bps(name: str, v: Any) -> int:
    return _int(name, v, 0, MAX_INTEREST_BPS)


def _instalment_count(name: str, v: Any) -> int:
    return _int(name, v, 1, MAX_INSTALMENTS)


@dataclass(frozen=True)
class LoanOffer(Payload):
    """A licensed lender offers `principal` of `asset` to `borrower`, repaid on `schedule`
    (node.ledger.rules.loans): its amounts add up to principal + floor(principal * interest_bps
    / 10_000). An instalment unpaid `grace_ms` after its due time is missed; `default_after`
    misses default the loan. The borrower may accept until `expires_at`."""
    KIND = TxKind.LOAN_OFFER
    borrower: bytes = field(metadata=checked_by(_address))
    asset: str = field(metadata=checked_by(_asset))
    principal: int = field(metadata=checked_by(_amount))
    interest_bps: int = field(metadata=checked_by(_bps))
    schedule: tuple[Instalment, ...] = field(metadata=checked_by(_schedule))
    grace_ms: int = field(metadata=checked_by(_time))
    default_after: int = field(metadata=checked_by(_instalment_count))
    expires_at: int = field(metadata=checked_by(_time))  # unix ms, judged by block time


@dataclass(frozen=True)
class LoanAccept(Payload):
    """The borrower accepts: the on-ledger debit mandate for the schedule; the principal is
    disbursed from the lender to the borrower in this transaction."""
    KIND = TxKind.LOAN_ACCEPT
    loan: bytes = field(metadata=checked_by(_hash))  # the loan_offer tx hash
    # travel rule data of the disbursement: [lender's institution, borrower's, record hash]
    travel_rule: TravelRule = field(default=(), metadata=checked_by(_travel_rule, optional=True))


@dataclass(frozen=True)
class LoanRepay(Payload):
    """The borrower pays `amount` towards the loan now: arrears first, then early."""
    KIND = TxKind.LOAN_REPAY
    loan: bytes = field(metadata=checked_by(_hash))
    amount: int = field(metadata=checked_by(_amount))
    travel_rule: TravelRule = field(default=(), metadata=checked_by(_travel_rule, optional=True))


@dataclass(frozen=True)
class LoanWriteoff(Payload):
    """The lender writes the loan off: collection stops, what is unpaid is no longer owed."""
    KIND = TxKind.LOAN_WRITEOFF
    loan: bytes = field(metadata=checked_by(_hash))


PAYLOADS: dict[str, type[Payload]] = {
    p.KIND: p for p in (Transfer, Issue, Redeem, KycAttest, KycRevoke, LicenseGrant,
                        LicenseRevoke, Freeze, Unfreeze, AssetFreeze, AssetUnfreeze, Clawback,
                        GovernancePropose, GovernanceApprove, KeyRotate)
                        + (JurisdictionBlock, JurisdictionUnblock, TierSet, InstitutionAdd)
                        + (AssetAdd, AssetUpdate, ReserveReport, ReserveAttest)
                        + (FxOffer, FxAccept, FxCancel, EscrowCreate, EscrowRelease,
                           EscrowCancel)
                        + (LoanOffer, LoanAccept, LoanRepay, LoanWriteoff)
}

# kind -> ((field name, its check), ...) in wire order; a field without a check fails here.
_WIRE_FIELDS: dict[type[Payload], tuple[tuple[str, FieldCheck], ...]] = {
    p: tuple((f.name, f.metadata["check"]) for f in fields(p)) for p in PAYLOADS.values()
}
# kind -> the defaults of its trailing optional fields, in wire order (checked_by(optional=True))
_OPTIONAL_DEFAULTS: dict[type[Payload], tuple[Any, ...]] = {
    p: tuple(f.default for f in fields(p) if f.metadata.get("optional"))
    for p in PAYLOADS.values()
}
assert all(  # optional fields come last
    all(f.metadata.get("optional") for f in fields(p)[len(fields(p)) - len(d):])
    for p, d in _OPTIONAL_DEFAULTS.items())


# ---- transactions ---------------------------------------------------------------------------

# A canonical signed tx ends with the signature as bin8: 0xc4, 0x40, then 64 bytes.
SIG_SUFFIX_LEN = 2 + SIGNATURE_LEN  # bin8 header + signature: the raw tx's last bytes


@dataclass(frozen=True)
class Transaction:
    chain_id: bytes  # hash of the genesis this tx is meant for
    kind: str  # one of PAYLOADS
    sender: bytes  # signer's address
    nonce: int  # sender's next nonce, strictly sequential from 0
    payload: Payload
    signature: bytes  # ed25519 over signing_bytes
    raw: bytes = field(repr=False, compare=False)  # the signed encoding, as received
    hash: bytes = field(repr=False, compare=False)  # sha256(raw): the tx id

    @property
    def signing_bytes(self) -> bytes:
        """The array of the first five fields: the signed encoding minus its signature."""
        return b"\x95" + self.raw[1:-SIG_SUFFIX_LEN]

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()


def sign_tx(key: Signer, chain_id: bytes, nonce: int, payload: Payload) -> Transaction:
    body = [chain_id, payload.KIND, key.address, nonce, payload.to_wire()]
    signature = key.sign(pack(body))
    raw = pack(body + [signature])
    return decode_tx(raw)


def decode_tx(raw: bytes) -> Transaction:
    """Untrusted bytes -> Transaction, or Malformed / TooLarge / UnknownKind. No signature check."""
    if len(raw) > MAX_TX_BYTES:
        raise TooLarge(f"transaction is {len(raw)} bytes; the limit is {MAX_TX_BYTES}")
    obj = unpack_canonical(raw, MAX_TX_BYTES)
    if type(obj) is not list or len(obj) != 6:
        raise Malformed("a transaction is an array of 6 fields")
    chain_id, kind, sender, nonce, payload, signature = obj
    if type(kind) is not str:
        raise Malformed("kind must be a string")
    payload_type = PAYLOADS.get(kind)
    if payload_type is None:
        raise UnknownKind(f"unknown transaction kind {kind[:32]!r}")
    return Transaction(
        chain_id=_hash("chain_id", chain_id),
        kind=kind,
        sender=_address("sender", sender),
        nonce=_int("nonce", nonce),
        payload=payload_type.from_wire(payload),
        signature=_bytes("signature", signature, SIGNATURE_LEN),
        raw=bytes(raw),
        hash=sha256(raw),
    )


# ---- blocks and receipts --------------------------------------------------------------------

@dataclass(frozen=True)
class BlockHeader:
    height: int  # genesis state is height 0; the first block is 1
    prev_hash: bytes  # hash of the block at height - 1 (the chain id for height 1)
    tx_root: bytes  # Merkle root over the transaction hashes (node.merkle)
    timestamp: int  # unix ms, assigned by the proposer, never decreasing
    proposer: bytes  # the proposing validator's node key
    term: int  # the Raft term it was proposed in

    def to_wire(self) -> list[Any]:
        return [self.height, self.prev_hash, self.tx_root, self.timestamp, self.proposer, self.term]

    @classmethod
    def from_wire(cls, items: Any) -> BlockHeader:
        if type(items) is not list or len(items) != 6:
            raise Malformed("a block header is an array of 6 fields")
        h, prev, root, ts, proposer, term = items
        return cls(_int("height", h), _hash("prev_hash", prev), _hash("tx_root", root),
                   _int("timestamp", ts), _address("proposer", proposer), _int("term", term))

    @property
    def hash(self) -> bytes:
        return sha256(pack(self.to_wire()))


MAX_BLOCK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ChainTip:
    """What the next block builds on: the last committed block and the state after it."""
    height: int
    block_hash: bytes
    timestamp: int
    state_hash: bytes


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    signature: bytes  # the proposer's signature over the header hash
    txs: tuple[bytes, ...]  # signed transaction encodings, passed through untouched

    def encode(self) -> bytes:
        return pack([self.header.to_wire(), self.signature, list(self.txs)])

    @classmethod
    def decode(cls, raw: bytes) -> Block:
        obj = unpack_canonical(raw, MAX_BLOCK_BYTES)
        if type(obj) is not list or len(obj) != 3 or type(obj[2]) is not list:
            raise Malformed("a block is [header, signature, txs]")
        header = BlockHeader.from_wire(obj[0])
        txs = tuple(obj[2])
        if any(type(t) is not bytes for t in txs):
            raise Malformed("block transactions must be byte strings")
        return cls(header, _bytes("signature", obj[1], SIGNATURE_LEN), txs)

    @property
    def hash(self) -> bytes:
        return self.header.hash


@dataclass(frozen=True)
class Receipt:
    """What executing one transaction did: ok, or failed with its reason code."""
    tx_hash: bytes
    height: int
    index: int
    code: str = ""  # empty when ok
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.code

    def to_wire(self) -> list[Any]:
        return [self.height, self.index, self.code, self.message]

    @classmethod
    def from_wire(cls, tx_hash: bytes, items: list[Any]) -> Receipt:
        return cls(tx_hash, *items)
