"""Policy on chain: the blocked jurisdictions change without a new chain.

Genesis names the initial blocked set; a regulator-signed jurisdiction_block or
jurisdiction_unblock changes it, and from the block that commits it the state (StateView.
blocked_jurisdictions, record b"j") holds the current set: every party check of a transfer,
issuance and pool admission (node.ledger.rules.kyc.check_jurisdiction) reads it, so a payment to
or from a party of a newly blocked jurisdiction is refused JURISDICTION_BLOCKED from that block
on, and one a pool held before is refused when it is re-checked or executed.

Who decides: the regulator, under both license policies. Under `majority` the validators decide
licences (node.ledger.rules.governance); a sanctions list is the supervisor's to keep, and it
must take effect at once, like the regulator's emergency revoke, so it is not put to a vote.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.rules.context import Context
from node.ledger.rules.licensing import check_regulator
from node.ledger.state import StateView
from node.ledger.types import JurisdictionBlock, JurisdictionUnblock, Transaction


def check_not_blocked(view: StateView, jurisdiction: str) -> None:
    """A jurisdiction_block adds a jurisdiction that is not blocked yet."""
    if jurisdiction in view.blocked_jurisdictions():
        raise E.AlreadyBlocked(f"jurisdiction {jurisdiction} is already blocked")


def check_blocked(view: StateView, jurisdiction: str) -> None:
    """A jurisdiction_unblock removes a jurisdiction that is blocked."""
    if jurisdiction not in view.blocked_jurisdictions():
        raise E.NotBlocked(f"jurisdiction {jurisdiction} is not blocked")


def apply_jurisdiction_block(view: StateView, tx: Transaction, p: JurisdictionBlock,
                             ctx: Context) -> None:
    """jurisdiction_block: the regulator's; the jurisdiction joins the blocked set."""
    check_regulator(view, tx.sender)
    check_not_blocked(view, p.jurisdiction)
    view.set_blocked_jurisdictions(view.blocked_jurisdictions() | {p.jurisdiction})


def apply_jurisdiction_unblock(view: StateView, tx: Transaction, p: JurisdictionUnblock,
                               ctx: Context) -> None:
    """jurisdiction_unblock: the regulator's; the jurisdiction leaves the blocked set."""
    check_regulator(view, tx.sender)
    check_blocked(view, p.jurisdiction)
    view.set_blocked_jurisdictions(view.blocked_jurisdictions() - {p.jurisdiction})
