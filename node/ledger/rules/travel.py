"""The travel rule (FATF Recommendation 16): who sends and who receives, between institutions.

A transfer may carry travel rule data: the originator institution (that knows the sender), the
beneficiary institution (that knows the recipient) and a salted hash of the off-chain IVMS101
record the two exchange; no personal data goes on chain. It is required for a cross-
jurisdiction transfer (the sender's and the recipient's attested jurisdictions differ) at or
above the asset's report threshold: TRAVEL_RULE_REQUIRED. When given (required or not), the
originator must hold a valid attestation of the sender (ORIGINATOR_MISMATCH) and the
beneficiary one of the recipient (BENEFICIARY_MISMATCH): valid as check_kyc counts one
(unrevoked, its issuer licensed kyc_issuer without a gap since, unexpired). An exempt
institution sending or receiving as itself is its own originator or beneficiary.

A transfer of an asset without a threshold and without travel rule data pays one attribute
test (node.ledger.rules.assets.apply_transfer).
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Asset
from node.ledger.rules.context import Context
from node.ledger.rules.kyc import KycStatus, attestation_refusal, exempt_institution
from node.ledger.state import StateView
from node.ledger.types import TravelRule


def vouches_for(view: StateView, ctx: Context, institution: str, address: bytes) -> bool:
    """The institution holds a valid attestation of the account (or is that account)."""
    inst = exempt_institution(view, address)
    if inst is not None:
        return inst.name == institution
    att = view.account(address).attestations.get(institution)
    return att is not None and attestation_refusal(view, ctx, att, "party") is None


def travel_rule_required(asset: Asset, amount: int, sender: KycStatus,
                         recipient: KycStatus) -> bool:
    """Cross-jurisdiction, at or above the asset's report threshold (0: never required)."""
    return (0 < asset.report_threshold <= amount
            and sender.jurisdiction != recipient.jurisdiction)


def check_travel_rule(view: StateView, ctx: Context, sender: bytes, to: bytes, amount: int,
                      data: TravelRule, asset: Asset, sender_status: KycStatus,
                      recipient_status: KycStatus) -> None:
    """Present when required; when present, each institution knows its party. (A payment of
    `amount` of `asset` from `sender` to `to`: a transfer, or one leg of an FX settlement.)"""
    if not data:
        if travel_rule_required(asset, amount, sender_status, recipient_status):
            raise E.TravelRuleRequired(
                f"a {sender_status.jurisdiction} -> {recipient_status.jurisdiction} payment of "
                f"{amount} {asset.code} (threshold {asset.report_threshold}) needs travel rule "
                "data")
        return
    originator, beneficiary, _ = data
    if not vouches_for(view, ctx, originator, sender):
        raise E.OriginatorMismatch(f"{originator} holds no valid attestation of the sender")
    if not vouches_for(view, ctx, beneficiary, to):
        raise E.BeneficiaryMismatch(f"{beneficiary} holds no valid attestation of the recipient")
