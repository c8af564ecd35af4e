"""Who decides a license change, and how a majority of the validators decides one.

The genesis `license_policy` says who decides:

    "regulator" (the default)  the regulator alone, with license_grant / license_revoke.
    "majority"                 a strict majority of the institutions licensed as validator.
        A validator institution proposes a change (governance_propose); the proposal's id is
        that transaction's hash, and the proposer's own approval counts. Other validator
        institutions approve it (governance_approve). The change applies on the approval that
        reaches the majority, and the proposal closes. A proposal expires at its expires_at,
        judged against the block's timestamp; after that it takes no approvals.

The electorate is counted afresh at every approval, from the licenses at that moment: an
approver that has since lost its validator license no longer counts, and a newly licensed
validator raises the bar. Under each policy the other path is refused, with a reason code that
names the right one.

Like node.rules, each check_* raises the typed error carrying its reason code, and each apply_*
runs all of its checks before it writes. node.rules imports this module (for its APPLY table and
the license effect); this module imports nothing from node.rules, so there is no import cycle.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from node.ledger import errors as E
from node.ledger.genesis import LICENSE_POLICIES, Institution
from node.ledger.state import OPEN, Proposal, StateView
from node.ledger.types import GovernanceApprove, GovernancePropose, Transaction

if TYPE_CHECKING:
    from node.ledger.rules import Context

REGULATOR, MAJORITY = LICENSE_POLICIES


# ---- the effect of a change, whoever decided it ---------------------------------------------

def check_keeps_a_validator(view: StateView, action: str, institution: str, role: str) -> None:
    """A chain without validators can never commit again: the last one cannot be revoked."""
    if (action == "license_revoke" and role == "validator"
            and validators(view) == frozenset({institution})):
        raise E.LastValidator(f"{institution} is the last validator; license another one first")


def change_license(view: StateView, action: str, institution: str, role: str) -> None:
    """Grant or revoke one role: the same write for the regulator's path and a majority's."""
    roles = view.roles(institution)
    view.set_roles(institution, roles | {role} if action == "license_grant" else roles - {role})


# ---- checks ---------------------------------------------------------------------------------

def check_policy(view: StateView, policy: str) -> None:
    """License changes on this chain are decided the `policy` way."""
    actual = view.genesis.license_policy
    if actual == policy:
        return
    if actual == MAJORITY:
        raise E.GovernanceRequired("license changes on this chain need a majority of the "
                                   "validators: a validator proposes with governance_propose")
    raise E.GovernanceDisabled("license changes on this chain are the regulator's alone "
                               "(license_grant / license_revoke)")


def check_institution(view: StateView, name: str) -> Institution:
    inst = view.genesis.institution(name)
    if inst is None:
        raise E.UnknownInstitution(f"no institution named {name!r}")
    return inst


def check_validator(view: StateView, sender: bytes) -> Institution:
    """The sender is an institution licensed as validator right now: a member of the electorate."""
    inst = view.genesis.institution_by_key(sender)
    if inst is None or "validator" not in view.roles(inst.name):
        raise E.NotLicensed("only an institution licensed as validator may propose or approve "
                            "a license change")
    return inst


def check_proposal(view: StateView, proposal_id: bytes) -> Proposal:
    proposal = view.proposal(proposal_id)
    if proposal is None:
        raise E.UnknownProposal(f"no proposal {proposal_id.hex()}")
    return proposal


def check_open(proposal: Proposal) -> None:
    if proposal.status != OPEN:
        raise E.ProposalClosed(f"the proposal to {_describe(proposal)} was already applied")


def check_unexpired(expires_at: int, ctx: Context) -> None:
    if expires_at <= ctx.timestamp:
        raise E.ProposalExpired(f"the proposal expires at {expires_at}, "
                                f"not after the block's time {ctx.timestamp}")


def check_not_approved(proposal: Proposal, institution: str) -> None:
    if institution in proposal.approvals:
        raise E.AlreadyApproved(f"{institution} already approved the proposal")


# ---- majority -------------------------------------------------------------------------------

def validators(view: StateView) -> frozenset[str]:
    """The electorate: the institutions licensed as validator right now."""
    return frozenset(i.name for i in view.genesis.institutions if "validator" in view.roles(i.name))


def has_majority(view: StateView, approvals: tuple[str, ...]) -> bool:
    """Strictly more than half of the current validators approve (former validators don't count)."""
    electorate = validators(view)
    return 2 * len(electorate.intersection(approvals)) > len(electorate)


def record(view: StateView, proposal_id: bytes, proposal: Proposal) -> None:
    """Store the proposal with its approvals; if they now make a majority, apply it and close it."""
    if has_majority(view, proposal.approvals):
        check_keeps_a_validator(view, proposal.action, proposal.institution, proposal.role)
        change_license(view, proposal.action, proposal.institution, proposal.role)
        proposal = proposal.applied()
    view.set_proposal(proposal_id, proposal)


def _describe(p: Proposal) -> str:
    verb = "grant" if p.action == "license_grant" else "revoke"
    return f"{verb} {p.institution}'s {p.role} license"


# ---- per kind -------------------------------------------------------------------------------

def apply_governance_propose(view: StateView, tx: Transaction, p: GovernancePropose,
                             ctx: Context) -> None:
    check_policy(view, MAJORITY)
    proposer = check_validator(view, tx.sender)
    check_institution(view, p.institution)
    check_unexpired(p.expires_at, ctx)

    record(view, tx.hash, Proposal(p.action, p.institution, p.role, p.expires_at,
                                   proposer=proposer.name, approvals=(proposer.name,)))


def apply_governance_approve(view: StateView, tx: Transaction, p: GovernanceApprove,
                             ctx: Context) -> None:
    check_policy(view, MAJORITY)
    approver = check_validator(view, tx.sender)
    proposal = check_proposal(view, p.proposal)
    check_open(proposal)
    check_unexpired(proposal.expires_at, ctx)
    check_not_approved(proposal, approver.name)

    record(view, p.proposal, proposal.approved_by(approver.name))
