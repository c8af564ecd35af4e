"""The genesis ceremony: a genesis document assembled one step at a time, by people who do not
share a machine (`lichen genesis init | add-institution | add-asset | add-tier |
block-jurisdiction | show`), and by the devnet (devnet.genesis.make_genesis) the same way.

Every step is a pure function: a genesis document (the JSON form of node.ledger.genesis) in, a
new document out, the input untouched. A step checks what it is given before it adds it, and
raises FieldError naming the field at fault (unknown issuer, duplicate name or key, bad address
or port, unknown role, bad code); then the whole draft is checked again as a genesis
(Genesis.draft_from_json), so no step can produce a document `lichen node run` would refuse for
its contents. The returned document is the draft's normal form (Genesis.to_json): the bytes a
ceremony writes are the bytes `Genesis.save` writes for the same genesis.

A draft need not be startable yet (a genesis with no validator is a step of the ceremony, not an
error); `summary` says what is still missing.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from node.ledger.errors import LedgerError, Malformed
from node.ledger.genesis import LICENSE_POLICIES, MAX_DISPLAY_BYTES, Genesis, GenesisError
from node.ledger.text import printable_text
from node.ledger.types import ROLES, FieldCheck, Role, _asset, _institution, _jurisdiction

Doc = dict[str, Any]

# Roles that run a node: the institution must say where it serves.
NODE_ROLES = (Role.VALIDATOR, Role.OBSERVER)
SCHEMES = ("https", "http")
MEMORY_SCHEME = "mem://"
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


class FieldError(GenesisError):
    """A ceremony step refused its input; `field` names the genesis field at fault (the CLI
    shows it as its option, e.g. `key` as --node-key)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class InstitutionSpec:
    """What an institution brings to the ceremony: public keys and addresses only."""
    name: str
    node_key: bytes
    jurisdiction: str
    roles: Sequence[str]
    address: str = ""  # HOST:PORT or a URL; "" for an institution that runs no node
    authority_key: bytes | None = None  # None: the node key signs its transactions too
    peer_address: str = ""  # HOST:PORT or a URL, where its node serves its peers
    display: str = ""


# ---- steps ------------------------------------------------------------------------------------

def init(chain_name: str, regulator: bytes, genesis_time: int,
         license_policy: str = "regulator") -> Doc:
    """An empty genesis: the chain's name, its regulator, when height 0 is, who licenses."""
    if not chain_name or not chain_name.isprintable() or len(chain_name.encode()) > 64:
        raise FieldError("chain_name", f"{chain_name!r} must be 1-64 bytes of printable text")
    if type(genesis_time) is not int or genesis_time < 0:
        raise FieldError("genesis_time", "must be unix milliseconds, not negative")
    if license_policy not in LICENSE_POLICIES:
        raise FieldError("license_policy", f"{license_policy!r} is not one of "
                                           f"{', '.join(LICENSE_POLICIES)}")
    _address_field("regulator", regulator)
    return _checked({"chain_name": chain_name, "genesis_time": genesis_time,
                     "regulator": regulator.hex(), "institutions": [], "assets": [], "tiers": [],
                     "blocked_jurisdictions": [], "attestations": [], "balances": [],
                     "license_policy": license_policy})


def checked_institution(spec: InstitutionSpec) -> InstitutionSpec:
    """An institution's own fields checked, its addresses as URLs (HOST:PORT -> https://...):
    the part of add_institution that needs no draft, shared with `lichen policy
    add-institution` (an institution added on chain). Roles are not looked at."""
    _field("name", _institution, spec.name)
    _field("jurisdiction", _jurisdiction, spec.jurisdiction)
    _address_field("key", spec.node_key)
    authority = None if spec.authority_key in (None, spec.node_key) else spec.authority_key
    if authority is not None:
        _address_field("authority_key", authority)
    address = endpoint_url("address", spec.address) if spec.address else ""
    peer_address = endpoint_url("peer_address", spec.peer_address) if spec.peer_address else ""
    if peer_address and not address:
        raise FieldError("peer_address", "a peer address needs an API address too")
    if peer_address and urlsplit(peer_address).scheme != urlsplit(address).scheme:
        raise FieldError("peer_address", "must use the same scheme (TLS or not) as the address")
    if spec.display:
        _field("display", _display, spec.display)
    return replace(spec, authority_key=authority, address=address, peer_address=peer_address)


def add_institution(doc: Doc, spec: InstitutionSpec) -> Doc:
    """A licensed institution: its node key, authority key, where its node serves, its roles."""
    _field("name", _institution, spec.name)
    _field("jurisdiction", _jurisdiction, spec.jurisdiction)
    if any(i["name"] == spec.name for i in doc["institutions"]):
        raise FieldError("name", f"an institution named {spec.name!r} is already in the genesis")
    roles = _roles(spec.roles)
    spec = checked_institution(spec)
    authority, address, peer_address = spec.authority_key, spec.address, spec.peer_address
    for field, key in (("key", spec.node_key), ("authority_key", authority)):
        if key is not None:
            _key_unused(doc, field, key)
    if not address and any(r in NODE_ROLES for r in roles):
        raise FieldError("address", f"a {' or '.join(NODE_ROLES)} runs a node: give the "
                                    "HOST:PORT its API serves on")
    entry: Doc = {"name": spec.name, "key": spec.node_key.hex(), "address": address,
                  "jurisdiction": spec.jurisdiction, "roles": list(roles)}
    if authority is not None:
        entry["authority_key"] = authority.hex()
    if peer_address:
        entry["peer_address"] = peer_address
    if spec.display:
        entry["display"] = spec.display
    return _checked(_with(doc, "institutions", entry))


def add_asset(doc: Doc, code: str, issuer: str, decimals: int, clawback: bool = False) -> Doc:
    """An asset, issued by an institution already in the genesis."""
    _field("code", _asset, code)
    if any(a["code"] == code for a in doc["assets"]):
        raise FieldError("code", f"asset {code} is already in the genesis")
    if not any(i["name"] == issuer for i in doc["institutions"]):
        raise FieldError("issuer", f"{issuer!r} is not an institution of the genesis "
                                   f"({_names(doc)})")
    if type(decimals) is not int or not 0 <= decimals <= 18:
        raise FieldError("decimals", f"{decimals!r} must be an integer from 0 to 18")
    return _checked(_with(doc, "assets", {"code": code, "issuer": issuer, "decimals": decimals,
                                          "clawback": bool(clawback)}))


def add_tier(doc: Doc, tier: int, name: str, limits: Mapping[str, tuple[int, int]]) -> Doc:
    """A KYC tier: per asset, the largest single transfer and the rolling 24 h total (minor
    units). An asset a tier does not list cannot be sent by its customers."""
    if type(tier) is not int or not 0 <= tier <= 255:
        raise FieldError("tier", f"{tier!r} must be an integer from 0 to 255")
    if any(t["tier"] == tier for t in doc["tiers"]):
        raise FieldError("tier", f"tier {tier} is already in the genesis")
    if not name.isprintable() or len(name.encode()) > 64:
        raise FieldError("name", f"{name!r} must be at most 64 bytes of printable text")
    codes = {a["code"] for a in doc["assets"]}
    for code, (per_tx, daily) in limits.items():
        if code not in codes:
            raise FieldError("limits", f"unknown asset {code!r} (the genesis has "
                                       f"{', '.join(sorted(codes)) or 'none yet'})")
        for what, v in (("per_tx", per_tx), ("daily", daily)):
            if type(v) is not int or v < 0:
                raise FieldError("limits", f"{code} {what} {v!r} must be a non-negative "
                                           "integer (minor units)")
    entry = {"tier": tier, "name": name,
             "limits": {c: {"per_tx": p, "daily": d} for c, (p, d) in limits.items()}}
    return _checked(_with(doc, "tiers", entry))


def block_jurisdiction(doc: Doc, code: str) -> Doc:
    """No account attested in this jurisdiction may transact."""
    _field("jurisdiction", _jurisdiction, code)
    if code in doc["blocked_jurisdictions"]:
        raise FieldError("jurisdiction", f"{code} is already blocked")
    return _checked(_with(doc, "blocked_jurisdictions", code))


def add_attestation(doc: Doc, subject: bytes, issuer: str, tier: int, jurisdiction: str,
                    expires_at: int, evidence_hash: bytes) -> Doc:
    """A customer attested from height 0 (the devnet's demo accounts)."""
    return _checked(_with(doc, "attestations", {
        "subject": subject.hex(), "issuer": issuer, "tier": tier, "jurisdiction": jurisdiction,
        "expires_at": expires_at, "evidence_hash": evidence_hash.hex()}))


def add_balances(doc: Doc, balances: Iterable[tuple[bytes, str, int]]) -> Doc:
    """Balances held from height 0: (account, asset code, amount in minor units)."""
    out = copy.deepcopy(doc)
    out["balances"] += [{"account": a.hex(), "asset": c, "amount": n} for a, c, n in balances]
    return _checked(out)


# ---- reading a draft --------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """What `lichen genesis show` prints: the draft as a genesis, its chain id, and what still
    keeps a network from starting on it."""
    genesis: Genesis
    problems: tuple[str, ...]

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id.hex()

    @property
    def startable(self) -> bool:
        return not self.problems


def parse(doc: Doc) -> Genesis:
    """The draft as a genesis (GenesisError when it is not one)."""
    return Genesis.draft_from_json(doc)


def summary(doc: Doc) -> Summary:
    g = parse(doc)
    problems = list(g.startable_problems())
    for i in g.institutions:
        if any(r in NODE_ROLES for r in i.roles) and not i.address:
            problems.append(f"{i.name} runs a node but has no address")
    return Summary(g, tuple(problems))


def endpoint_url(field: str, text: str, default_scheme: str = "https") -> str:
    """`HOST:PORT` (https unless said otherwise) or `http(s)://HOST:PORT` -> the URL the genesis
    keeps; FieldError for anything else (a path, no port, a port out of range)."""
    raw = text.strip()
    if raw.startswith(MEMORY_SCHEME) and len(raw) > len(MEMORY_SCHEME):
        return raw  # the in-memory transport's names (tests, one-process networks)
    url = raw if "://" in raw else f"{default_scheme}://{raw}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FieldError(field, f"{text!r} is not HOST:PORT ({exc})") from None
    if parts.scheme not in SCHEMES:
        raise FieldError(field, f"{text!r}: the scheme must be https or http")
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if port is None or not 1 <= port <= 65535:
        raise FieldError(field, f"{text!r} needs a port from 1 to 65535 (HOST:PORT)")
    if not _HOST.fullmatch(host) or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise FieldError(field, f"{text!r} is not HOST:PORT")
    return f"{parts.scheme}://{host}:{port}"


# ---- helpers ----------------------------------------------------------------------------------

def _checked(doc: Doc, field: str = "genesis") -> Doc:
    """The draft in its normal form, or the reason it is no genesis."""
    try:
        return Genesis.draft_from_json(doc).to_json()
    except FieldError:
        raise
    except GenesisError as exc:
        raise FieldError(field, str(exc).removeprefix("genesis: ")) from None


def _with(doc: Doc, key: str, item: Any) -> Doc:
    out = copy.deepcopy(doc)
    out[key].append(item)
    return out


def _display(name: str, v: str) -> str:
    if len(v.encode()) > MAX_DISPLAY_BYTES:
        raise Malformed(f"{name} must be at most {MAX_DISPLAY_BYTES} bytes")
    return printable_text(name, v)


def _field(field: str, check: FieldCheck, value: Any) -> None:
    try:
        check(field, value)
    except LedgerError as exc:
        reason = exc.message.removeprefix(f"{field} ")
        raise FieldError(field, reason if repr(value) in reason else f"{value!r}: {reason}") from None


def _address_field(field: str, key: bytes) -> None:
    if type(key) is not bytes or len(key) != 32:
        raise FieldError(field, "must be a 32-byte public key (64 hex digits)")


def _roles(roles: Sequence[str]) -> tuple[str, ...]:
    if not roles:
        raise FieldError("roles", f"give at least one of {', '.join(ROLES)}")
    for r in roles:
        if r not in ROLES:
            raise FieldError("roles", f"unknown role {r!r}; roles are {', '.join(ROLES)}")
    if len(set(roles)) != len(roles):
        raise FieldError("roles", "a role is named twice")
    return tuple(sorted(roles))


def _key_unused(doc: Doc, field: str, key: bytes) -> None:
    """A key names one role of one party: not the regulator, not another institution's."""
    if key.hex() == doc["regulator"]:
        raise FieldError(field, "that is the regulator's key; every institution needs its own")
    for i in doc["institutions"]:
        if key.hex() in (i["key"], i.get("authority_key")):
            raise FieldError(field, f"{key.hex()[:16]}… is already a key of {i['name']}")


def _names(doc: Doc) -> str:
    return ", ".join(i["name"] for i in doc["institutions"]) or "none yet"
