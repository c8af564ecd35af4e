"""lichen kyc: attestations by licensed KYC issuers."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from pathlib import Path

import click

from node.ledger.types import KycAttest, KycRevoke

from .common import (
    console,
    err_console,
    json_option,
    load_key,
    node_option,
    resolve_address,
    submit_tx,
    wait_option,
)


def parse_expiry(text: str) -> int:
    """`365` (days from now) or `2027-12-31` (UTC midnight) -> unix milliseconds."""
    if text.isdigit():
        return int(time.time() * 1000) + int(text) * 86_400_000
    try:
        day = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise click.BadParameter("give a number of days or a date YYYY-MM-DD") from None
    return int(day.timestamp() * 1000)


@click.group()
def kyc() -> None:
    """Attest and revoke customers' KYC standing (KYC issuers, each its own; the regulator
    revokes any)."""


SALT_BYTES = 32


def salted_evidence_hash(content: bytes) -> tuple[bytes, bytes]:
    """(salt, sha256(salt || content)) with a fresh random salt: without the salt, the hash
    cannot be brute-forced back to a short reference or a guessable file."""
    salt = secrets.token_bytes(SALT_BYTES)
    return salt, hashlib.sha256(salt + content).digest()


@kyc.command("attest")
@click.option("--key", required=True, help="The attesting institution's key.")
@click.option("--subject", required=True, help="Customer: address, key file or devnet key name.")
@click.option("--tier", required=True, type=click.IntRange(0, 255),
              help="KYC tier (genesis defines the limits).")
@click.option("--jurisdiction", required=True, help="Two-letter country code, e.g. SG.")
@click.option("--expires", required=True, help="Days from now, or a date YYYY-MM-DD.")
@click.option("--evidence", default="",
              help="The off-chain KYC file reference; only its salted hash goes on chain.")
@click.option("--evidence-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The off-chain KYC file; only sha256(salt || file) goes on chain.")
@node_option
@json_option
@wait_option
def attest(key, subject, tier, jurisdiction, expires, evidence, evidence_file, node_url, as_json,
           no_wait, timeout) -> None:
    """Attest a customer. No personal data goes on chain: only a salted hash of the evidence.

    The salt is random and printed (on stderr, with --json): keep it with the KYC file, it is
    what proves later that this hash is of that file."""
    if evidence and evidence_file:
        raise click.UsageError("give --evidence or --evidence-file, not both")
    address = resolve_address(subject)
    if evidence_file:
        content = Path(evidence_file).read_bytes()
    else:
        content = (evidence or f"kyc:{address.hex()}").encode()
    salt, evidence_hash = salted_evidence_hash(content)
    payload = KycAttest(address, tier, jurisdiction.upper(), parse_expiry(expires), evidence_hash)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"attest {subject} (tier {tier}, {jurisdiction.upper()})")
    print_salt(salt, evidence_hash, as_json)  # once it is on its way (a refusal exits above)


def print_salt(salt: bytes, evidence_hash: bytes, as_json: bool, kept_with: str = "the KYC file"
               ) -> None:
    line = f"evidence salt {salt.hex()} (keep it with {kept_with}); hash {evidence_hash.hex()}"
    (err_console if as_json else console).print(line, highlight=False)


@kyc.command("revoke")
@click.option("--key", required=True,
              help="The institution that issued the attestation, or the regulator.")
@click.option("--subject", required=True, help="Customer: address, key file or devnet key name.")
@click.option("--issuer", default="",
              help="Regulator only: the issuer whose attestation to revoke (default: every "
                   "live attestation of the subject).")
@node_option
@json_option
@wait_option
def revoke(key, subject, issuer, node_url, as_json, no_wait, timeout) -> None:
    """Revoke an attestation this institution issued (the regulator: anyone's)."""
    whose = f"{issuer}'s " if issuer else ""
    submit_tx(node_url, load_key(key), KycRevoke(resolve_address(subject), issuer), no_wait,
              as_json, f"revoke {whose}attestation of {subject}")
