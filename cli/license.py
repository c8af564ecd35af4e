"""lichen license: the regulator grants and revokes institutions' roles."""
from __future__ import annotations

import click

from node.ledger.types import ROLES, LicenseGrant, LicenseRevoke

from .common import json_option, load_key, node_option, submit_tx, wait_option


@click.group()
def license() -> None:
    """Grant or revoke an institution's licensed roles (regulator only).

    On a chain whose genesis sets "license_policy": "majority" these are refused with
    GOVERNANCE_REQUIRED: the validators decide there (`lichen governance`)."""


def _license_command(name: str, payload_type, verb: str):
    @license.command(name)
    @click.option("--key", required=True, help="The regulator's key.")
    @click.option("--institution", required=True, help="Institution name, as in genesis.")
    @click.option("--role", required=True, type=click.Choice(ROLES))
    @node_option
    @json_option
    @wait_option
    def command(key, institution, role, node_url, as_json, no_wait, timeout) -> None:
        submit_tx(node_url, load_key(key), payload_type(institution, role), no_wait, as_json,
                  f"{verb} {role} license of {institution}")
    command.__doc__ = f"{verb.capitalize()} an institution's license for a role."
    return command


grant = _license_command("grant", LicenseGrant, "grant")
revoke = _license_command("revoke", LicenseRevoke, "revoke")
