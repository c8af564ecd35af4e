"""The things that move between modules: transactions, blocks, receipts.

A transaction on the wire is the msgpack array
    [chain_id, kind, sender, nonce, payload, signature]
with a fixed field order; the signature covers the array of the first five fields.
Its hash (sha256 of the signed encoding) is its id. The signed bytes are kept and passed
through (gossip, blocks, storage) and never re-encoded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from node.ledger.codec import pack, sha256, unpack_canonical
from node.ledger.crypto import ADDRESS_LEN, SIGNATURE_LEN, KeyPair
from node.ledger.errors import Malformed, TooLarge, UnknownKind

MAX_TX_BYTES = 4096
MAX_MEMO_BYTES = 256
MAX_AMOUNT = 2**63 - 1
HASH_LEN = 32
ROLES = ("validator", "kyc_issuer", "asset_issuer", "observer")
LICENSE_ACTIONS = ("license_grant", "license_revoke")  # what a governance proposal may do
_ASSET_CODE = re.compile(r"[A-Z][A-Z0-9]{1,11}")
_JURISDICTION = re.compile(r"[A-Z]{2}")
_INSTITUTION = re.compile(r"[A-Za-z0-9_.-]{1,64}")


# ---- field validators: each raises Malformed with the field's name --------------------------

def _int(name: str, v: Any, lo: int = 0, hi: int = 2**64 - 1) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise Malformed(f"{name} must be an integer in [{lo}, {hi}]")
    return v


def _amount(name: str, v: Any) -> int:
    return _int(name, v, 1, MAX_AMOUNT)


def _bytes(name: str, v: Any, length: int) -> bytes:
    if type(v) is not bytes or len(v) != length:
        raise Malformed(f"{name} must be {length} bytes")
    return v


def _address(name: str, v: Any) -> bytes:
    return _bytes(name, v, ADDRESS_LEN)


def _hash(name: str, v: Any) -> bytes:
    return _bytes(name, v, HASH_LEN)


def _str(name: str, v: Any, pattern: re.Pattern | None = None, max_bytes: int = 64) -> str:
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


def _role(name: str, v: Any) -> str:
    if v not in ROLES:
        raise Malformed(f"{name} must be one of {', '.join(ROLES)}")
    return v


def _license_action(name: str, v: Any) -> str:
    if v not in LICENSE_ACTIONS:
        raise Malformed(f"{name} must be one of {', '.join(LICENSE_ACTIONS)}")
    return v


def _memo(name: str, v: Any) -> str:
    return _str(name, v, None, MAX_MEMO_BYTES)


def _reason(name: str, v: Any) -> str:
    if v == "":
        raise Malformed(f"{name} must say why")
    return _str(name, v, None, MAX_MEMO_BYTES)


# ---- payloads: one frozen dataclass per kind, fields in wire order ---------------------------

class Payload:
    """Base of the per-kind payloads. `KIND` names the kind; `_CHECKS` validate wire fields."""

    KIND: ClassVar[str]
    _CHECKS: ClassVar[tuple]

    def to_wire(self) -> list:
        return [getattr(self, n) for n in _FIELD_NAMES[type(self)]]

    @classmethod
    def from_wire(cls, items: Any) -> "Payload":
        names = _FIELD_NAMES[cls]
        if type(items) is not list or len(items) != len(names):
            raise Malformed(f"{cls.KIND} payload must be an array of {len(names)} fields")
        return cls(*[check(n, v) for check, n, v in zip(cls._CHECKS, names, items)])


@dataclass(frozen=True)
class Transfer(Payload):
    KIND = "transfer"
    _CHECKS = (_asset, _address, _amount, _memo)
    asset: str
    to: bytes
    amount: int
    memo: str = ""


@dataclass(frozen=True)
class Issue(Payload):
    """New units of `asset` credited to `to`, by the asset's licensed issuer."""
    KIND = "issue"
    _CHECKS = (_asset, _address, _amount)
    asset: str
    to: bytes
    amount: int


@dataclass(frozen=True)
class Redeem(Payload):
    """Units of `asset` burned from the issuer's own account (holders pay them back first)."""
    KIND = "redeem"
    _CHECKS = (_asset, _amount)
    asset: str
    amount: int


@dataclass(frozen=True)
class KycAttest(Payload):
    """An institution vouches for `subject`. Only a hash of the off-chain KYC file is kept."""
    KIND = "kyc_attest"
    _CHECKS = (_address, lambda n, v: _int(n, v, 0, 255), _jurisdiction,
               lambda n, v: _int(n, v, 0, MAX_AMOUNT), _hash)
    subject: bytes
    tier: int
    jurisdiction: str
    expires_at: int  # unix milliseconds, judged against the block's timestamp
    evidence_hash: bytes


@dataclass(frozen=True)
class KycRevoke(Payload):
    KIND = "kyc_revoke"
    _CHECKS = (_address,)
    subject: bytes


@dataclass(frozen=True)
class LicenseGrant(Payload):
    KIND = "license_grant"
    _CHECKS = (_institution, _role)
    institution: str
    role: str


@dataclass(frozen=True)
class LicenseRevoke(Payload):
    KIND = "license_revoke"
    _CHECKS = (_institution, _role)
    institution: str
    role: str


@dataclass(frozen=True)
class Freeze(Payload):
    KIND = "freeze"
    _CHECKS = (_address,)
    account: bytes


@dataclass(frozen=True)
class Unfreeze(Payload):
    KIND = "unfreeze"
    _CHECKS = (_address,)
    account: bytes


@dataclass(frozen=True)
class AssetFreeze(Payload):
    """Stop every movement of an asset (by the regulator or the asset's issuer)."""
    KIND = "asset_freeze"
    _CHECKS = (_asset,)
    asset: str


@dataclass(frozen=True)
class AssetUnfreeze(Payload):
    KIND = "asset_unfreeze"
    _CHECKS = (_asset,)
    asset: str


@dataclass(frozen=True)
class Clawback(Payload):
    """The issuer takes units of its asset back from an account, with the reason on record.
    Only for assets created clawback-able; the units go to the issuer's own account."""
    KIND = "clawback"
    _CHECKS = (_asset, _address, _amount, _reason)
    asset: str
    account: bytes
    amount: int
    reason: str


@dataclass(frozen=True)
class GovernancePropose(Payload):
    """A validator institution proposes a license change (genesis license_policy "majority").

    The proposal's id is this transaction's hash; the proposer's own approval counts."""
    KIND = "governance_propose"
    _CHECKS = (_license_action, _institution, _role, lambda n, v: _int(n, v, 0, MAX_AMOUNT))
    action: str  # one of LICENSE_ACTIONS
    institution: str
    role: str
    expires_at: int  # unix ms, judged against the block's timestamp


@dataclass(frozen=True)
class GovernanceApprove(Payload):
    """Another validator institution approves a pending proposal."""
    KIND = "governance_approve"
    _CHECKS = (_hash,)
    proposal: bytes  # the proposal id: the hash of its governance_propose transaction


PAYLOADS: dict[str, type[Payload]] = {
    p.KIND: p for p in (Transfer, Issue, Redeem, KycAttest, KycRevoke, LicenseGrant,
                        LicenseRevoke, Freeze, Unfreeze, AssetFreeze, AssetUnfreeze, Clawback,
                        GovernancePropose, GovernanceApprove)
}
_FIELD_NAMES = {p: tuple(f.name for f in fields(p)) for p in PAYLOADS.values()}


# ---- transactions ---------------------------------------------------------------------------

# A canonical signed tx ends with the signature as bin8: 0xc4, 0x40, then 64 bytes.
_SIG_SUFFIX_LEN = 2 + SIGNATURE_LEN


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
        return b"\x95" + self.raw[1:-_SIG_SUFFIX_LEN]

    @property
    def hash_hex(self) -> str:
        return self.hash.hex()


def sign_tx(key: KeyPair, chain_id: bytes, nonce: int, payload: Payload) -> Transaction:
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

    def to_wire(self) -> list:
        return [self.height, self.prev_hash, self.tx_root, self.timestamp, self.proposer, self.term]

    @classmethod
    def from_wire(cls, items: Any) -> "BlockHeader":
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
class Block:
    header: BlockHeader
    signature: bytes  # the proposer's signature over the header hash
    txs: tuple[bytes, ...]  # signed transaction encodings, passed through untouched

    def encode(self) -> bytes:
        return pack([self.header.to_wire(), self.signature, list(self.txs)])

    @classmethod
    def decode(cls, raw: bytes) -> "Block":
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

    def to_wire(self) -> list:
        return [self.height, self.index, self.code, self.message]

    @classmethod
    def from_wire(cls, tx_hash: bytes, items: list) -> "Receipt":
        return cls(tx_hash, *items)
