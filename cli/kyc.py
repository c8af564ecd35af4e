"""lichen kyc: attestations by licensed KYC issuers."""
from __future__ import annotations

import datetime as dt
import hashlib
import time

import click

from node.ledger.types import KycAttest, KycRevoke

from .common import json_option, load_key, node_option, resolve_address, submit_tx, wait_option


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
    """Attest and revoke customers' KYC standing (KYC issuers only)."""


@kyc.command("attest")
@click.option("--key", required=True, help="The attesting institution's key.")
@click.option("--subject", required=True, help="Customer: address, key file or devnet key name.")
@click.option("--tier", required=True, type=click.IntRange(0, 255),
              help="KYC tier (genesis defines the limits).")
@click.option("--jurisdiction", required=True, help="Two-letter country code, e.g. SG.")
@click.option("--expires", required=True, help="Days from now, or a date YYYY-MM-DD.")
@click.option("--evidence", default="",
              help="The off-chain KYC file reference; only its hash goes on chain.")
@node_option
@json_option
@wait_option
def attest(key, subject, tier, jurisdiction, expires, evidence, node_url, as_json, no_wait,
           timeout) -> None:
    """Attest a customer. No personal data goes on chain: only a hash of the evidence."""
    address = resolve_address(subject)
    evidence_hash = hashlib.sha256((evidence or f"kyc:{address.hex()}").encode()).digest()
    payload = KycAttest(address, tier, jurisdiction.upper(), parse_expiry(expires), evidence_hash)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"attest {subject} (tier {tier}, {jurisdiction.upper()})")


@kyc.command("revoke")
@click.option("--key", required=True, help="The institution that issued the attestation.")
@click.option("--subject", required=True, help="Customer: address, key file or devnet key name.")
@node_option
@json_option
@wait_option
def revoke(key, subject, node_url, as_json, no_wait, timeout) -> None:
    """Revoke an attestation this institution issued."""
    submit_tx(node_url, load_key(key), KycRevoke(resolve_address(subject)), no_wait, as_json,
              f"revoke attestation of {subject}")
