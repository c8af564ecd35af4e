"""Who may act, and who decides a license change.

The regulator (a key named in genesis) freezes accounts and, under the default license policy,
grants and revokes licenses. Institutions act through their authority key and only within the roles
they are licensed for right now (node.ledger.rules.membership answers who holds which).

The genesis `license_policy` says who decides license changes: "regulator" (the default) with
license_grant / license_revoke, or "majority", a strict majority of the validators
(node.ledger.rules.governance). Under each policy the other path is refused, with a reason code
that names the right one. Either way the change itself is `apply_license`, and no change may
leave the chain without a validator.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Institution
from node.ledger.rules.context import Context
from node.ledger.rules.membership import authority_as, licensed_validators
from node.ledger.state import StateView
from node.ledger.types import (
    LicenseAction,
    LicenseGrant,
    LicensePolicy,
    LicenseRevoke,
    Role,
    Transaction,
)


def check_regulator(view: StateView, sender: bytes) -> None:
    if sender != view.genesis.regulator:
        raise E.NotLicensed("only the regulator may do this")


def check_licensed(view: StateView, sender: bytes, role: str) -> Institution:
    """The sender is the authority key of an institution currently licensed for `role`."""
    inst = authority_as(view, sender, role)
    if inst is None:
        raise E.NotLicensed(f"sender is not an institution licensed as {role}")
    return inst


def check_institution(view: StateView, name: str) -> Institution:
    inst = view.genesis.institution(name)
    if inst is None:
        raise E.UnknownInstitution(f"no institution named {name!r}")
    return inst


def check_policy(view: StateView, policy: str) -> None:
    """License changes on this chain are decided the `policy` way."""
    actual = view.genesis.license_policy
    if actual == policy:
        return
    if actual == LicensePolicy.MAJORITY:
        raise E.GovernanceRequired("license changes on this chain need a majority of the "
                                   "validators: a validator proposes with governance_propose")
    raise E.GovernanceDisabled("license changes on this chain are the regulator's alone "
                               "(license_grant / license_revoke)")


def check_keeps_a_validator(view: StateView, action: str, institution: str, role: str) -> None:
    """A chain without validators can never commit again: the last one cannot be revoked."""
    if (action == LicenseAction.REVOKE and role == Role.VALIDATOR
            and licensed_validators(view) == frozenset({institution})):
        raise E.LastValidator(f"{institution} is the last validator; license another one first")


def apply_license(view: StateView, action: str, institution: str, role: str) -> None:
    """Grant or revoke one role: the same write for the regulator's path and a majority's."""
    roles = view.roles(institution)
    view.set_roles(institution, roles | {role} if action == LicenseAction.GRANT else roles - {role})


def apply_license_change(view: StateView, tx: Transaction, p: LicenseGrant | LicenseRevoke,
                         ctx: Context) -> None:
    """license_grant / license_revoke: the regulator's, unless genesis gives licenses to a
    validator majority (node.ledger.rules.governance)."""
    check_policy(view, LicensePolicy.REGULATOR)
    check_regulator(view, tx.sender)
    check_institution(view, p.institution)
    check_keeps_a_validator(view, p.KIND, p.institution, p.role)
    apply_license(view, p.KIND, p.institution, p.role)
