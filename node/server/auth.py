"""Who may read accounts and transactions (config `read_auth`).

The operator issues each client a bearer token (`lichen node token issue`); the node keeps only
its SHA-256 in the tokens file, with its scope: a list of account addresses the client sees
(a bank's customer-facing service), or everything (the regulator, observers, auditors). A
request to a guarded read without a known token is 401 UNAUTHENTICATED; one outside the
token's scope is 403 FORBIDDEN. Blocks carry every account's transactions, so only tokens
that see everything read them.

Tokens file (JSON): {"tokens": [{"sha256": HEX, "all": bool, "accounts": [HEX, ...],
"label": TEXT}]}. The node rereads it when it changes, so a token issued is usable at once.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from node.ledger import errors as E
from node.ledger.crypto import parse_address
from node.ledger.types import Transaction

TOKEN_PREFIX = "lct_"


class Unauthenticated(E.NodeError):
    """A guarded read without a token this node issued."""
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(E.NodeError):
    """The token does not cover what was asked for."""
    code = "FORBIDDEN"
    http_status = 403


@dataclass(frozen=True)
class Scope:
    everything: bool
    accounts: frozenset[bytes] = frozenset()

    def sees(self, address: bytes) -> bool:
        return self.everything or address in self.accounts

    def require_account(self, address: bytes) -> None:
        if not self.sees(address):
            raise Forbidden(f"this token does not cover account {address.hex()}")

    def require_tx(self, tx: Transaction) -> None:
        """A transaction is seen by a token covering its sender or its recipient."""
        if not any(self.sees(a) for a in parties(tx)):
            raise Forbidden(f"this token covers neither party of transaction {tx.hash_hex}")

    def require_everything(self, what: str) -> None:
        if not self.everything:
            raise Forbidden(f"{what} hold every account's transactions; this token sees only "
                            f"{len(self.accounts)} account(s)")


EVERYTHING = Scope(True)


def parties(tx: Transaction) -> list[bytes]:
    """The accounts a transaction is about: its sender, and its recipient if it has one (a
    loan_offer's: its borrower)."""
    to = getattr(tx.payload, "to", None)
    if to is None:
        to = getattr(tx.payload, "borrower", None)
    return [tx.sender] + ([to] if isinstance(to, bytes) else [])


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def bearer(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class TokenBook:
    """The issued tokens' hashes and scopes, reread from `path` whenever the file changes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._scopes: dict[str, Scope] = {}

    def scope_of(self, authorization: str) -> Scope:
        """The scope of the request's `Authorization: Bearer TOKEN`, or Unauthenticated."""
        token = bearer(authorization)
        if not token:
            raise Unauthenticated("this read needs a token: Authorization: Bearer TOKEN "
                                  "(the node's operator issues them)")
        scope = self._current().get(token_hash(token))
        if scope is None:
            raise Unauthenticated("this node issued no such token")
        return scope

    def _current(self) -> dict[str, Scope]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._scopes = None, {}
            return self._scopes
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._scopes = {rec["sha256"]: scope_of_record(rec) for rec in read_records(self.path)}
            self._stamp = stamp
        return self._scopes


def scope_of_record(rec: dict) -> Scope:
    if rec.get("all"):
        return EVERYTHING
    return Scope(False, frozenset(parse_address(a) for a in rec.get("accounts", [])))


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return list(json.loads(path.read_text()).get("tokens", []))


def issue_token(path: str | Path, accounts: list[bytes], everything: bool,
                label: str = "") -> str:
    """A new token, its hash and scope added to the tokens file (owner-only); the token itself
    is returned once and stored nowhere."""
    if everything == bool(accounts):
        raise ValueError("a token covers either a list of accounts or everything")
    path = Path(path)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    records = read_records(path)
    records.append({"sha256": token_hash(token), "all": everything,
                    "accounts": [a.hex() for a in accounts], "label": label})
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"tokens": records}, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return token
