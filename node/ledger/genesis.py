"""Genesis: the file every node of a network shares. Its canonical hash is the chain id.

The JSON form is what operators edit; `Genesis.canonical()` turns it into msgpack arrays in a
fixed order (lists sorted by their natural key), so two files that say the same thing in a
different order or layout name the same chain.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from node.ledger.codec import pack, sha256
from node.ledger.crypto import parse_address
from node.ledger.errors import LedgerError
from node.ledger.text import printable_text
from node.ledger.types import ROLES, LicensePolicy, Role, _asset, _institution, _jurisdiction


class GenesisError(ValueError):
    """The genesis file is not valid; the message says where."""


# Who decides license changes: the regulator alone (license_grant / license_revoke), or a strict
# majority of the institutions licensed as validator at the time (governance_propose / _approve).
LICENSE_POLICIES: tuple[str, ...] = tuple(p.value for p in LicensePolicy)


@dataclass(frozen=True)
class Institution:
    name: str
    key: bytes  # node key: its peer links, the blocks it proposes, its certificate votes
    address: str  # where its node serves the HTTP API and peer websocket, e.g. http://host:port
    jurisdiction: str
    roles: tuple[str, ...]  # licensed roles (Role values) at genesis, sorted
    # authority key: signs the institution's transactions (issuance, attestations, governance,
    # clawback, asset freezes). None: the node key does both (genesis files from before it).
    authority_key: bytes | None = None

    @property
    def authority(self) -> bytes:
        """The key the institution's transactions are signed with."""
        return self.authority_key if self.authority_key is not None else self.key

    peer_address: str = ""  # where its node serves the peer websocket, if not at `address`
    display: str = ""  # the name people know it by, e.g. "Harbor Bank" (for summaries only)

    @property
    def peer_endpoint(self) -> str:
        """Where peers dial this institution's node."""
        return self.peer_address or self.address


@dataclass(frozen=True)
class Asset:
    code: str
    issuer: str  # institution name
    decimals: int
    clawback: bool = False  # whether its issuer may take units back (set at creation only)
    # reserves (node.ledger.rules.reserves): issuance within the issuer's latest reserve report
    reserve_backed: bool = False
    reserve_max_age_ms: int = 0  # a report older than this at block time is stale; 0: never
    report_threshold: int = 0  # minor units: a transfer at or above it is reported; 0: none

    @property
    def reserve_fields(self) -> tuple[bool, int, int]:
        return (self.reserve_backed, self.reserve_max_age_ms, self.report_threshold)


@dataclass(frozen=True)
class TierLimit:
    per_tx: int  # largest single transfer, minor units
    daily: int  # rolling 24 h total sent, minor units


@dataclass(frozen=True)
class Tier:
    tier: int
    name: str
    limits: dict[str, TierLimit]  # asset code -> limits; an asset not listed cannot be sent


@dataclass(frozen=True)
class GenesisAttestation:
    subject: bytes
    issuer: str
    tier: int
    jurisdiction: str
    expires_at: int  # unix ms
    evidence_hash: bytes


@dataclass(frozen=True)
class GenesisBalance:
    account: bytes
    asset: str
    amount: int


@dataclass(frozen=True)
class Genesis:
    chain_name: str
    genesis_time: int  # unix ms; the timestamp of height 0
    regulator: bytes
    institutions: tuple[Institution, ...]
    assets: tuple[Asset, ...]
    tiers: tuple[Tier, ...]
    blocked_jurisdictions: tuple[str, ...]
    attestations: tuple[GenesisAttestation, ...]
    balances: tuple[GenesisBalance, ...]
    license_policy: str = LicensePolicy.REGULATOR  # a LicensePolicy

    # -- lookups (the rules call these for every transaction: indexed once) ----------------
    @cached_property
    def _by_name(self) -> dict[str, Institution]:
        return {i.name: i for i in self.institutions}

    @cached_property
    def _by_key(self) -> dict[bytes, Institution]:
        return {i.key: i for i in self.institutions}

    @cached_property
    def _by_authority(self) -> dict[bytes, Institution]:
        return {i.authority: i for i in self.institutions}

    @cached_property
    def _assets(self) -> dict[str, Asset]:
        return {a.code: a for a in self.assets}

    @cached_property
    def _tiers(self) -> dict[int, Tier]:
        return {t.tier: t for t in self.tiers}

    def institution(self, name: str) -> Institution | None:
        return self._by_name.get(name)

    def institution_by_key(self, key: bytes) -> Institution | None:
        """The institution whose node key this is."""
        return self._by_key.get(key)

    def institution_by_authority(self, key: bytes) -> Institution | None:
        """The institution whose authority key this is (its node key when it names none)."""
        return self._by_authority.get(key)

    def asset(self, code: str) -> Asset | None:
        return self._assets.get(code)

    def tier(self, level: int) -> Tier | None:
        return self._tiers.get(level)

    # -- identity -------------------------------------------------------------------------
    def canonical(self) -> list[Any]:
        return [
            self.chain_name, self.genesis_time, self.regulator,
            [[i.name, i.key, i.address, i.jurisdiction, list(i.roles)]
             + _optional_institution_fields(i)  # absent: older chain ids unchanged
             for i in self.institutions],
            [[a.code, a.issuer, a.decimals, a.clawback]
             + (list(a.reserve_fields) if a.reserve_fields != (False, 0, 0) else [])  # older ids
             for a in self.assets],
            [[t.tier, t.name, [[code, lim.per_tx, lim.daily] for code, lim in sorted(t.limits.items())]]
             for t in self.tiers],
            list(self.blocked_jurisdictions),
            [[a.subject, a.issuer, a.tier, a.jurisdiction, a.expires_at, a.evidence_hash]
             for a in self.attestations],
            [[b.account, b.asset, b.amount] for b in self.balances],
            self.license_policy,  # always present: the same rules, whichever way it is written
        ]

    @cached_property
    def chain_id(self) -> bytes:
        return sha256(pack(self.canonical()))

    # -- JSON -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Genesis:
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise GenesisError(f"{path}: {exc}") from None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Genesis:
        g = cls.draft_from_json(doc)
        _check_startable(g)
        return g

    @classmethod
    def draft_from_json(cls, doc: dict[str, Any]) -> Genesis:
        """A genesis being assembled (node.ledger.genesis_builder): every field and reference
        checked as in `from_json`, but it may not yet be startable (no validator yet)."""
        try:
            g = _parse(doc)
        except GenesisError:
            raise
        except LedgerError as exc:  # a field validator from node.ledger.types
            raise GenesisError(f"genesis: {exc.message}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GenesisError(f"genesis: {exc.__class__.__name__}: {exc}") from None
        _check_references(g)
        return g

    def startable_problems(self) -> list[str]:
        """Why a network cannot start from this genesis yet (empty: it can)."""
        try:
            _check_startable(self)
        except GenesisError as exc:
            return [str(exc)]
        return []

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_name": self.chain_name,
            "genesis_time": self.genesis_time,
            "regulator": self.regulator.hex(),
            "institutions": [{"name": i.name, "key": i.key.hex(), "address": i.address,
                              "jurisdiction": i.jurisdiction, "roles": list(i.roles)}
                             | ({"authority_key": i.authority_key.hex()}
                                if i.authority_key is not None else {})
                             | ({"peer_address": i.peer_address} if i.peer_address else {})
                             | ({"display": i.display} if i.display else {})
                             for i in self.institutions],
            "assets": [{"code": a.code, "issuer": a.issuer, "decimals": a.decimals,
                        "clawback": a.clawback}
                       | ({"reserve_backed": a.reserve_backed,
                           "reserve_max_age_ms": a.reserve_max_age_ms,
                           "report_threshold": a.report_threshold}
                          if a.reserve_fields != (False, 0, 0) else {})
                       for a in self.assets],
            "tiers": [{"tier": t.tier, "name": t.name,
                       "limits": {c: {"per_tx": lim.per_tx, "daily": lim.daily}
                                  for c, lim in sorted(t.limits.items())}} for t in self.tiers],
            "blocked_jurisdictions": list(self.blocked_jurisdictions),
            "attestations": [{"subject": a.subject.hex(), "issuer": a.issuer, "tier": a.tier,
                              "jurisdiction": a.jurisdiction, "expires_at": a.expires_at,
                              "evidence_hash": a.evidence_hash.hex()} for a in self.attestations],
            "balances": [{"account": b.account.hex(), "asset": b.asset, "amount": b.amount}
                         for b in self.balances],
            "license_policy": self.license_policy,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")


def _nonneg_int(v: Any, what: str) -> int:
    if type(v) is not int or v < 0:
        raise GenesisError(f"{what} must be a non-negative integer (minor units), got {v!r}")
    return v


def _bool(v: Any, what: str) -> bool:
    if type(v) is not bool:
        raise GenesisError(f"{what} must be true or false, got {v!r}")
    return v


def _license_policy(v: Any) -> str:
    if v not in LICENSE_POLICIES:
        raise GenesisError(f"license_policy must be one of {', '.join(LICENSE_POLICIES)}, "
                           f"got {v!r}")
    return cast(str, v)


def _parse(doc: dict[str, Any]) -> Genesis:
    institutions = []
    for i in doc["institutions"]:
        roles = tuple(sorted(set(i["roles"])))
        for r in roles:
            if r not in ROLES:
                raise GenesisError(f"institution {i['name']}: unknown role {r!r}")
        institutions.append(Institution(
            name=_institution("institution name", i["name"]), key=parse_address(i["key"]),
            address=str(i.get("address", "")), jurisdiction=_jurisdiction("jurisdiction", i["jurisdiction"]),
            roles=roles, authority_key=_authority_key(i),
            peer_address=str(i.get("peer_address", "")),
            display=_display(i.get("display", ""))))
    tiers = [Tier(tier=_nonneg_int(t["tier"], "tier"), name=str(t.get("name", "")),
                  limits={_asset("asset", c): TierLimit(_nonneg_int(v["per_tx"], f"tier {t['tier']} {c} per_tx"),
                                                        _nonneg_int(v["daily"], f"tier {t['tier']} {c} daily"))
                          for c, v in t["limits"].items()})
             for t in doc["tiers"]]
    return Genesis(
        chain_name=str(doc["chain_name"]),
        genesis_time=_nonneg_int(doc["genesis_time"], "genesis_time"),
        regulator=parse_address(doc["regulator"]),
        institutions=tuple(sorted(institutions, key=lambda i: i.name)),
        assets=tuple(sorted((Asset(_asset("asset code", a["code"]), a["issuer"],
                                   _nonneg_int(a["decimals"], "decimals"),
                                   _bool(a.get("clawback", False), f"asset {a['code']} clawback"),
                                   _bool(a.get("reserve_backed", False),
                                         f"asset {a['code']} reserve_backed"),
                                   _nonneg_int(a.get("reserve_max_age_ms", 0), "reserve_max_age_ms"),
                                   _nonneg_int(a.get("report_threshold", 0), "report_threshold"))
                             for a in doc["assets"]), key=lambda a: a.code)),
        tiers=tuple(sorted(tiers, key=lambda t: t.tier)),
        blocked_jurisdictions=tuple(sorted({_jurisdiction("jurisdiction", j)
                                            for j in doc.get("blocked_jurisdictions", [])})),
        attestations=tuple(sorted((GenesisAttestation(
            subject=parse_address(a["subject"]), issuer=a["issuer"], tier=_nonneg_int(a["tier"], "tier"),
            jurisdiction=_jurisdiction("jurisdiction", a["jurisdiction"]),
            expires_at=_nonneg_int(a["expires_at"], "expires_at"),
            evidence_hash=bytes.fromhex(a.get("evidence_hash", "00" * 32)))
            for a in doc.get("attestations", [])), key=lambda a: a.subject)),
        balances=tuple(sorted((GenesisBalance(parse_address(b["account"]), _asset("asset", b["asset"]),
                                              _nonneg_int(b["amount"], "amount"))
                               for b in doc.get("balances", [])), key=lambda b: (b.account, b.asset))),
        license_policy=_license_policy(doc.get("license_policy", "regulator")),
    )


def _optional_institution_fields(i: Institution) -> list[Any]:
    """The institution fields added after the first genesis format, in the chain id's encoding:
    nothing when none is set (so older chain ids stay the same), the authority key when only
    it is set, [authority key or b"", peer address] once a peer address is set, and
    [authority key or b"", peer address or "", display name] once a display name is set: each
    form has its own length, so it decodes one way only."""
    if i.display:
        return [i.authority_key or b"", i.peer_address, i.display]
    if i.peer_address:
        return [i.authority_key or b"", i.peer_address]
    return [i.authority_key] if i.authority_key is not None else []


MAX_DISPLAY_BYTES = 128


def _display(v: Any) -> str:
    """A display name: printable text (node.ledger.text), like every text people read."""
    if type(v) is not str or len(v.encode()) > MAX_DISPLAY_BYTES:
        raise GenesisError(f"display name must be a string of at most {MAX_DISPLAY_BYTES} bytes")
    return printable_text("display name", v)


def _authority_key(doc: dict[str, Any]) -> bytes | None:
    """The authority key an institution names; naming its node key is naming none."""
    if doc.get("authority_key") is None:
        return None
    key = parse_address(doc["authority_key"])
    return None if key == parse_address(doc["key"]) else key


def _check_references(g: Genesis) -> None:
    """Every name a genesis uses must be defined in it, once."""
    names = [i.name for i in g.institutions]
    if len(set(names)) != len(names):
        raise GenesisError("institution names must be unique")
    if len({i.key for i in g.institutions}) != len(names):
        raise GenesisError("institution keys must be unique")
    keys = [i.key for i in g.institutions] + [i.authority_key for i in g.institutions
                                              if i.authority_key is not None]
    if len(set(keys)) != len(keys):
        raise GenesisError("an authority key must be no other institution's node or authority key")
    if len({a.code for a in g.assets}) != len(g.assets):
        raise GenesisError("asset codes must be unique")
    if len({t.tier for t in g.tiers}) != len(g.tiers):
        raise GenesisError("tier numbers must be unique")
    for a in g.assets:
        if g.institution(a.issuer) is None:
            raise GenesisError(f"asset {a.code}: issuer {a.issuer!r} is not an institution")
    for t in g.tiers:
        for code in t.limits:
            if g.asset(code) is None:
                raise GenesisError(f"tier {t.tier}: unknown asset {code}")
    for att in g.attestations:
        if g.institution(att.issuer) is None:
            raise GenesisError(f"attestation of {att.subject.hex()}: unknown issuer {att.issuer!r}")
        if g.tier(att.tier) is None:
            raise GenesisError(f"attestation of {att.subject.hex()}: unknown tier {att.tier}")
    if len({a.subject for a in g.attestations}) != len(g.attestations):
        raise GenesisError("at most one attestation per subject")
    for b in g.balances:
        if g.asset(b.asset) is None:
            raise GenesisError(f"balance of {b.account.hex()}: unknown asset {b.asset}")


def _check_startable(g: Genesis) -> None:
    """A chain needs someone to order its blocks."""
    if not any(Role.VALIDATOR in i.roles for i in g.institutions):
        raise GenesisError("genesis needs at least one validator")
