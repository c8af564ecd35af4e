"""How a majority of the validators decides a license change (genesis license_policy "majority").

A validator institution proposes a change (governance_propose); the proposal's id is that
transaction's hash, and the proposer's own approval counts. Other validator institutions
approve it (governance_approve). The change applies on the approval that reaches the majority,
and the proposal closes. A proposal expires at its expires_at, judged against the block's
timestamp; after that it takes no approvals.

The electorate is counted afresh at every approval, from the licenses at that moment: an
approver that has since lost its validator license no longer counts, and a newly licensed
validator raises the bar. Which policy a chain has, and the license change itself, are
node.ledger.rules.licensing's (check_policy, apply_license).
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Institution
from node.ledger.rules.context import Context
from node.ledger.rules.licensing import (
    apply_license,
    check_institution,
    check_keeps_a_validator,
    check_policy,
)
from node.ledger.rules.membership import authority_as, licensed_validators
from node.ledger.state import Proposal, StateView
from node.ledger.types import (
    GovernanceApprove,
    GovernancePropose,
    LicenseAction,
    LicensePolicy,
    ProposalStatus,
    Role,
    Transaction,
)


def check_validator(view: StateView, sender: bytes) -> Institution:
    """The sender is an institution licensed as validator right now: a member of the electorate."""
    inst = authority_as(view, sender, Role.VALIDATOR)
    if inst is None:
        raise E.NotLicensed("only an institution licensed as validator may propose or approve "
                            "a license change")
    return inst


def check_proposal(view: StateView, proposal_id: bytes) -> Proposal:
    proposal = view.proposal(proposal_id)
    if proposal is None:
        raise E.UnknownProposal(f"no proposal {proposal_id.hex()}")
    return proposal


def check_open(proposal: Proposal) -> None:
    if proposal.status != ProposalStatus.OPEN:
        raise E.ProposalClosed(f"the proposal to {_describe(proposal)} was already applied")


def check_unexpired(expires_at: int, ctx: Context) -> None:
    if expires_at <= ctx.timestamp:
        raise E.ProposalExpired(f"the proposal expires at {expires_at}, "
                                f"not after the block's time {ctx.timestamp}")


def check_not_approved(proposal: Proposal, institution: str) -> None:
    if institution in proposal.approvals:
        raise E.AlreadyApproved(f"{institution} already approved the proposal")


def has_majority(view: StateView, approvals: tuple[str, ...]) -> bool:
    """Strictly more than half of the current validators approve (former validators don't count)."""
    electorate = licensed_validators(view)
    return 2 * len(electorate.intersection(approvals)) > len(electorate)


def apply_proposal(view: StateView, proposal_id: bytes, proposal: Proposal) -> None:
    """Store the proposal with its approvals; if they now make a majority, apply it and close it."""
    if has_majority(view, proposal.approvals):
        check_keeps_a_validator(view, proposal.action, proposal.institution, proposal.role)
        apply_license(view, proposal.action, proposal.institution, proposal.role)
        proposal = proposal.applied()
    view.set_proposal(proposal_id, proposal)


def _describe(p: Proposal) -> str:
    verb = "grant" if p.action == LicenseAction.GRANT else "revoke"
    return f"{verb} {p.institution}'s {p.role} license"


def apply_governance_propose(view: StateView, tx: Transaction, p: GovernancePropose,
                             ctx: Context) -> None:
    check_policy(view, LicensePolicy.MAJORITY)
    proposer = check_validator(view, tx.sender)
    check_institution(view, p.institution)
    check_unexpired(p.expires_at, ctx)

    apply_proposal(view, tx.hash, Proposal(p.action, p.institution, p.role, p.expires_at,
                                           proposer=proposer.name, approvals=(proposer.name,)))


def apply_governance_approve(view: StateView, tx: Transaction, p: GovernanceApprove,
                             ctx: Context) -> None:
    check_policy(view, LicensePolicy.MAJORITY)
    approver = check_validator(view, tx.sender)
    proposal = check_proposal(view, p.proposal)
    check_open(proposal)
    check_unexpired(proposal.expires_at, ctx)
    check_not_approved(proposal, approver.name)

    apply_proposal(view, p.proposal, proposal.approved_by(approver.name))
