"""A transaction end to end: its envelope, then its kind's rules, then its nonce.

Admission (the pool) and a block treat a rule failure differently, and only that:
    admit         the pool's verdict: a failure rejects the tx and changes nothing.
    apply_in_block  in a committed block, once the envelope passed, the nonce is consumed
                  whether the kind's rules pass or fail (the failure is a receipt).
Each kind's `apply_*` runs all of its checks before it writes, so a failure never leaves a
partial change behind.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.ledger.rules.assets import (
    apply_asset_add,
    apply_asset_freeze,
    apply_asset_unfreeze,
    apply_asset_update,
    apply_clawback,
    apply_issue,
    apply_redeem,
    apply_reserve_attest,
    apply_reserve_report,
    apply_transfer,
)
from node.ledger.rules.context import Context
from node.ledger.rules.controls import apply_freeze, apply_unfreeze, check_sender_not_frozen
from node.ledger.rules.envelope import SignatureCache, apply_nonce, check_envelope
from node.ledger.rules.escrow import (
    apply_escrow_cancel,
    apply_escrow_create,
    apply_escrow_release,
)
from node.ledger.rules.fx import (
    apply_fx_accept,
    apply_fx_cancel,
    apply_fx_offer,
    apply_offer_expiries,
)
from node.ledger.rules.governance import apply_governance_approve, apply_governance_propose
from node.ledger.rules.institutions import apply_institution_add
from node.ledger.rules.keys import apply_key_rotate
from node.ledger.rules.kyc import apply_kyc_attest, apply_kyc_revoke
from node.ledger.rules.licensing import apply_license_change, apply_license_expiries
from node.ledger.rules.loans import (
    apply_loan_accept,
    apply_loan_collections,
    apply_loan_offer,
    apply_loan_repay,
    apply_loan_writeoff,
)
from node.ledger.rules.policy import (
    apply_jurisdiction_block,
    apply_jurisdiction_unblock,
    apply_tier_set,
)
from node.ledger.state import StateView
from node.ledger.types import Transaction, TxKind

# kind -> its rules: (view, tx, payload, ctx) -> None, raising a LedgerError before any write.
ApplyFn = Callable[[StateView, Transaction, Any, Context], None]

APPLY: dict[str, ApplyFn] = {
    TxKind.TRANSFER: apply_transfer,
    TxKind.ISSUE: apply_issue,
    TxKind.REDEEM: apply_redeem,
    TxKind.KYC_ATTEST: apply_kyc_attest,
    TxKind.KYC_REVOKE: apply_kyc_revoke,
    TxKind.LICENSE_GRANT: apply_license_change,
    TxKind.LICENSE_REVOKE: apply_license_change,
    TxKind.FREEZE: apply_freeze,
    TxKind.UNFREEZE: apply_unfreeze,
    TxKind.ASSET_FREEZE: apply_asset_freeze,
    TxKind.ASSET_UNFREEZE: apply_asset_unfreeze,
    TxKind.CLAWBACK: apply_clawback,
    TxKind.GOVERNANCE_PROPOSE: apply_governance_propose,
    TxKind.GOVERNANCE_APPROVE: apply_governance_approve,
    TxKind.KEY_ROTATE: apply_key_rotate,
    TxKind.JURISDICTION_BLOCK: apply_jurisdiction_block,
    TxKind.JURISDICTION_UNBLOCK: apply_jurisdiction_unblock,
    TxKind.TIER_SET: apply_tier_set,
    TxKind.INSTITUTION_ADD: apply_institution_add,
    TxKind.ASSET_ADD: apply_asset_add,
    TxKind.ASSET_UPDATE: apply_asset_update,
    TxKind.RESERVE_REPORT: apply_reserve_report,
    TxKind.RESERVE_ATTEST: apply_reserve_attest,
    TxKind.FX_OFFER: apply_fx_offer,
    TxKind.FX_ACCEPT: apply_fx_accept,
    TxKind.FX_CANCEL: apply_fx_cancel,
    TxKind.ESCROW_CREATE: apply_escrow_create,
    TxKind.ESCROW_RELEASE: apply_escrow_release,
    TxKind.ESCROW_CANCEL: apply_escrow_cancel,
    TxKind.LOAN_OFFER: apply_loan_offer,
    TxKind.LOAN_ACCEPT: apply_loan_accept,
    TxKind.LOAN_REPAY: apply_loan_repay,
    TxKind.LOAN_WRITEOFF: apply_loan_writeoff,
}


def apply_rules(view: StateView, tx: Transaction, ctx: Context) -> None:
    """The kind's rules, after the one rule of every kind (a frozen sender does nothing);
    raises a LedgerError and writes nothing, or applies the effect."""
    check_sender_not_frozen(view, tx)
    APPLY[tx.kind](view, tx, tx.payload, ctx)


def admit(view: StateView, tx: Transaction, ctx: Context, sigs: SignatureCache) -> None:
    """Would tx succeed now? If so, apply it to `view` (the pool's speculative state)."""
    check_envelope(view, tx, sigs)
    apply_rules(view, tx, ctx)
    apply_nonce(view, tx)


def apply_block_start(view: StateView, ctx: Context) -> None:
    """A block's timed work, before its transactions and by its time alone: licences lapse,
    expired FX offers give their locks back, loans whose turn has come are collected (each
    bounded per block; one test each when nothing is due)."""
    apply_license_expiries(view, ctx)
    apply_offer_expiries(view, ctx)
    apply_loan_collections(view, ctx)


def apply_in_block(view: StateView, tx: Transaction, ctx: Context) -> None:
    """A tx whose envelope passed, in a block: its kind's rules, then its nonce, consumed even
    when the rules fail (the LedgerError propagates, for the failed receipt)."""
    try:
        apply_rules(view, tx, ctx)
    finally:
        apply_nonce(view, tx)
