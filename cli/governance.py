"""lichen governance: validator institutions propose and approve license changes.

Only on a chain whose genesis sets "license_policy": "majority"; there the regulator's
`lichen license grant|revoke` is refused with GOVERNANCE_REQUIRED.
"""
from __future__ import annotations

import time

import click

from node.ledger.types import ROLES, GovernanceApprove, GovernancePropose

from .common import (
    console,
    json_option,
    load_key,
    node_option,
    parse_hash,
    submit_tx,
    wait_option,
)

DAY_MS = 86_400_000
ACTIONS = {"grant": "license_grant", "revoke": "license_revoke"}


@click.group()
def governance() -> None:
    """Propose and approve license changes by a majority of the validators.

    A validator institution proposes (its own approval counts); the change applies on the
    approval that reaches a strict majority of the institutions licensed as validator at
    that moment. Proposals expire."""


@governance.command("propose")
@click.option("--key", required=True, help="The proposing validator institution's key.")
@click.option("--action", required=True, type=click.Choice(sorted(ACTIONS)))
@click.option("--institution", required=True, help="Institution name, as in genesis.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--expires", "days", type=click.FloatRange(min=0, min_open=True), default=7.0,
              show_default=True, help="Days from now until the proposal expires.")
@node_option
@json_option
@wait_option
def propose(key, action, institution, role, days, node_url, as_json, no_wait, timeout) -> None:
    """Propose to grant or revoke an institution's license for a role.

    Prints the proposal id (the transaction's hash; `hash` in --json) for the others to
    approve."""
    expires_at = int(time.time() * 1000 + days * DAY_MS)
    payload = GovernancePropose(ACTIONS[action], institution, role, expires_at)
    result = submit_tx(node_url, load_key(key), payload, no_wait, as_json,
                       f"propose to {action} {role} license of {institution}")
    if not as_json:
        console.print(f"proposal id: {result['hash']}", highlight=False)


def _proposal_id(ctx, param, value: str) -> bytes:
    return parse_hash(value, "a proposal id is 64 hex digits (the proposing transaction's hash)")


@governance.command("approve")
@click.option("--key", required=True, help="The approving validator institution's key.")
@click.argument("proposal_id", callback=_proposal_id)
@node_option
@json_option
@wait_option
def approve(key, proposal_id, node_url, as_json, no_wait, timeout) -> None:
    """Approve the proposal PROPOSAL_ID (the hash `governance propose` printed)."""
    submit_tx(node_url, load_key(key), GovernanceApprove(proposal_id), no_wait, as_json,
              f"approve proposal {proposal_id.hex()[:16]}…")


@governance.command("show")
@click.argument("proposal_id")
@node_option
@json_option
def show(proposal_id, node_url, as_json) -> None:
    """What a proposal changes, who approved it, and whether it is open, applied or expired."""
    from devnet.client import ApiError

    from .common import client_for, emit_json, fail
    try:
        doc = client_for(node_url).get(f"/v1/proposals/{proposal_id}")
    except ApiError as err:
        fail(err.code, err.message)
    if as_json:
        emit_json(doc)
        return
    state = "expired" if doc["expired"] and doc["status"] == "open" else doc["status"]
    verb = "grant" if doc["action"] == "license_grant" else "revoke"
    console.print(f"proposal {doc['id'][:16]}…: {verb} {doc['role']} license of "
                  f"{doc['institution']}, by {doc['proposer']}; {state}")
    console.print(f"approved by {', '.join(doc['approvals'])} "
                  f"of validators {', '.join(doc['validators'])}")
