"""Moved: license governance is node.ledger.rules.governance (the rulebook). These names stay
importable for callers written before the move."""
from __future__ import annotations

from node.ledger.rules.governance import (apply_governance_approve, apply_governance_propose,
                                          check_not_approved, check_open, check_proposal,
                                          check_unexpired, check_validator, has_majority)
from node.ledger.rules.licensing import (apply_license as change_license, check_institution,
                                         check_keeps_a_validator, check_policy)
from node.ledger.rules.membership import licensed_validators as validators
from node.ledger.types import LicensePolicy

REGULATOR, MAJORITY = LicensePolicy.REGULATOR, LicensePolicy.MAJORITY

__all__ = ["MAJORITY", "REGULATOR", "apply_governance_approve", "apply_governance_propose",
           "change_license", "check_institution", "check_keeps_a_validator", "check_not_approved",
           "check_open", "check_policy", "check_proposal", "check_unexpired", "check_validator",
           "has_majority", "validators"]
