"""lichen license: the regulator grants and revokes institutions' roles."""
from __future__ import annotations

import time

import click

from node.ledger.types import ROLES, LicenseGrant, LicenseRevoke

from .common import json_option, load_key, node_option, submit_tx, wait_option
from .kyc import parse_expiry
from .render import when


@click.group()
def license() -> None:
    """Grant or revoke an institution's licensed roles (regulator only).

    On a chain whose genesis sets "license_policy": "majority" these are refused with
    GOVERNANCE_REQUIRED: the validators decide there (`lichen governance`), except the
    regulator's emergency revoke (`lichen license revoke --emergency`)."""


def licence_end(expires_at: str | None, expires_in: float | None) -> int:
    """--expires-at (days from now or YYYY-MM-DD) or --expires-in HOURS -> unix ms; 0: none."""
    if expires_at is not None and expires_in is not None:
        raise click.UsageError("give --expires-at or --expires-in, not both")
    if expires_at is not None:
        return parse_expiry(expires_at)
    if expires_in is not None:
        return int(time.time() * 1000 + expires_in * 3_600_000)
    return 0


@license.command("grant")
@click.option("--key", required=True, help="The regulator's key.")
@click.option("--institution", required=True, help="Institution name, as in genesis.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--expires-at", default=None,
              help="The licence lapses then (block time): days from now, or a date YYYY-MM-DD.")
@click.option("--expires-in", type=click.FloatRange(min=0, min_open=True), default=None,
              help="The licence lapses this many hours from now (block time).")
@click.option("--restore-attestations", is_flag=True,
              help="kyc_issuer after a gap: its earlier attestations count again (by default "
                   "they stay void and its customers must be attested anew).")
@node_option
@json_option
@wait_option
def grant(key, institution, role, expires_at, expires_in, restore_attestations, node_url,
          as_json, no_wait, timeout) -> None:
    """Grant an institution's license for a role (optionally until a time)."""
    ends = licence_end(expires_at, expires_in)
    describe = f"grant {role} license of {institution}"
    if ends:
        describe += f" until {when(ends)}"
    if restore_attestations:
        describe += ", restoring its attestations"
    submit_tx(node_url, load_key(key),
              LicenseGrant(institution, role, ends, restore_attestations), no_wait, as_json,
              describe)


@license.command("revoke")
@click.option("--key", required=True, help="The regulator's key.")
@click.option("--institution", required=True, help="Institution name, as in genesis.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--emergency", is_flag=True,
              help="The regulator acting alone, also on a chain whose licences a validator "
                   "majority decides; recorded as an emergency revoke.")
@node_option
@json_option
@wait_option
def revoke(key, institution, role, emergency, node_url, as_json, no_wait, timeout) -> None:
    """Revoke an institution's license for a role."""
    describe = f"{'EMERGENCY ' if emergency else ''}revoke {role} license of {institution}"
    submit_tx(node_url, load_key(key), LicenseRevoke(institution, role, emergency), no_wait,
              as_json, describe)
