"""Who may act, and who decides a license change.

The regulator (a key named in genesis) freezes accounts and, under the default license policy,
grants and revokes licenses. Institutions act through their authority key and only within the roles
they are licensed for right now (node.ledger.rules.membership answers who holds which).

The genesis `license_policy` says who decides license changes: "regulator" (the default) with
license_grant / license_revoke, or "majority", a strict majority of the validators
(node.ledger.rules.governance). Under each policy the other path is refused, with a reason code
that names the right one. Either way the change itself is `apply_license`, and no change may
leave the chain without a validator. One exception works under every policy: the regulator's
emergency revoke (license_revoke with `emergency`, recorded so in the tx).

A licence may have an end: license_grant's `expires_at` (unix ms of block time). The licences
that lapse are kept in one schedule sorted by expiry (StateView.license_expiries); every block
begins with `apply_license_expiries`, which revokes those due by the block's timestamp, so
`view.roles()` stays a lookup and everything that follows the licences (membership, KYC, who may
act) follows the lapse. Between blocks (an idle chain) a lapsed licence is revoked by the next
block. The last validator's licence does not lapse while it is the last (as it cannot be
revoked): it stays scheduled and lapses at the first block after another validator is licensed.
A grant of a role already held replaces its expiry (no expires_at: it no longer lapses).

kyc_issuer and its attestations (node.ledger.rules.kyc): while an institution does not hold
kyc_issuer (revoked or lapsed), its attestations do not count (ISSUER_NOT_LICENSED). Re-granting
kyc_issuer after such a gap starts a new kyc epoch: the attestations it issued before stay
void, and it must attest its customers again; a grant with `restore_attestations` keeps the old
epoch, and they count again.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Institution
from node.ledger.rules.context import Context
from node.ledger.rules.membership import authority_as, licensed_validators
from node.ledger.state import LicenseExpiry, StateView
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
    inst = view.institution(name)  # genesis's, or added by institution_add
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


def check_license_not_yet_expired(expires_at: int, ctx: Context) -> None:
    """A licence granted with an end must not have ended already at the block's time."""
    if expires_at and expires_at <= ctx.timestamp:
        raise E.LicenseExpired(f"the licence would already have lapsed at {expires_at}")


def apply_license(view: StateView, action: str, institution: str, role: str,
                  expires_at: int = 0, restore_attestations: bool = False) -> None:
    """Grant or revoke one role: the same write for the regulator's path and a majority's.

    A grant of kyc_issuer to an institution that does not hold it starts a new kyc epoch
    (its earlier attestations stay void) unless it restores attestations."""
    roles = view.roles(institution)
    if action == LicenseAction.GRANT:
        if role == Role.KYC_ISSUER and role not in roles and not restore_attestations:
            view.set_kyc_epoch(institution, view.kyc_epoch(institution) + 1)
        view.set_roles(institution, roles | {role})
    else:
        view.set_roles(institution, roles - {role})
        expires_at = 0
    _schedule_expiry(view, institution, role, expires_at)


def _schedule_expiry(view: StateView, institution: str, role: str, expires_at: int) -> None:
    """The licence lapses at expires_at (0: never)."""
    old = view.license_expiries()
    new = tuple(x for x in old if (x.institution, x.role) != (institution, role))
    if expires_at:
        new = tuple(sorted((*new, LicenseExpiry(expires_at, institution, role))))
    if new != old:
        view.set_license_expiries(new)


def apply_license_expiries(view: StateView, ctx: Context) -> list[LicenseExpiry]:
    """At the start of a block: revoke every licence due to lapse by its timestamp (soonest
    first); returns those revoked. The schedule is sorted, so an idle one costs one lookup."""
    due = [x for x in view.license_expiries() if x.expires_at <= ctx.timestamp]
    lapsed = []
    for x in due:
        if (x.role == Role.VALIDATOR
                and licensed_validators(view) == frozenset({x.institution})):
            continue  # the last validator: it lapses once another is licensed
        apply_license(view, LicenseAction.REVOKE, x.institution, x.role)
        lapsed.append(x)
    return lapsed


def apply_license_change(view: StateView, tx: Transaction, p: LicenseGrant | LicenseRevoke,
                         ctx: Context) -> None:
    """license_grant / license_revoke: the regulator's, unless genesis gives licenses to a
    validator majority (node.ledger.rules.governance). The regulator's emergency revoke works
    under either policy."""
    if not (isinstance(p, LicenseRevoke) and p.emergency):
        check_policy(view, LicensePolicy.REGULATOR)
    check_regulator(view, tx.sender)
    check_institution(view, p.institution)
    check_keeps_a_validator(view, p.KIND, p.institution, p.role)
    if isinstance(p, LicenseGrant):
        check_license_not_yet_expired(p.expires_at, ctx)
        apply_license(view, p.KIND, p.institution, p.role, p.expires_at,
                      p.restore_attestations)
    else:
        apply_license(view, p.KIND, p.institution, p.role)
