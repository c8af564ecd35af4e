"""Typed ledger errors. Each carries a stable, upper-case reason code (DESIGN section 3).

The mempool, block execution, the HTTP API and the CLI all speak in these codes; tests assert
the exact type. A rejection changes nothing. The class names and codes are the contract.

    LedgerError                      a rejection: `code` (reason code), `http_status`
      EnvelopeError                  not a well-formed, signed next transaction of its sender:
                                       MALFORMED (BAD_TEXT a kind of it) TOO_LARGE UNKNOWN_KIND
                                       WRONG_CHAIN BAD_SIGNATURE BAD_NONCE  (these never consume
                                       the nonce)
      KycError                       a party's KYC standing: KYC_MISSING KYC_EXPIRED KYC_REVOKED
                                       ISSUER_NOT_LICENSED UNKNOWN_TIER JURISDICTION_BLOCKED
                                       ATTESTATION_REVOKED; the travel rule:
                                       TRAVEL_RULE_REQUIRED ORIGINATOR_MISMATCH
                                       BENEFICIARY_MISMATCH
      LicensingError                 who may act: NOT_LICENSED UNAUTHORIZED UNKNOWN_INSTITUTION
                                       LAST_VALIDATOR LICENSE_EXPIRED
      ControlError                   the regulator's controls: FROZEN ASSET_FROZEN
      AssetError                     the asset itself: UNKNOWN_ASSET CLAWBACK_DISABLED
                                       ASSET_EXISTS; its reserves: RESERVES_EXCEEDED
                                       RESERVES_STALE RESERVE_IN_FUTURE RESERVE_OUT_OF_ORDER
                                       UNKNOWN_REPORT ALREADY_ATTESTED
      LimitError                     value that cannot move as asked: LIMIT_EXCEEDED
                                       INSUFFICIENT_FUNDS SELF_TRANSFER
      SettlementError                an FX offer or an escrow that cannot proceed: BAD_OFFER
                                       UNKNOWN_OFFER OFFER_CLOSED OFFER_EXPIRED NOT_COUNTERPARTY
                                       PARTIAL_NOT_ALLOWED BAD_FILL BAD_ESCROW UNKNOWN_ESCROW
                                       ESCROW_CLOSED ESCROW_NOT_YET ESCROW_EXPIRED
                                       ESCROW_CONDITION
      LoanError                      a microfinance loan that cannot proceed: BAD_SCHEDULE
                                       UNKNOWN_LOAN LOAN_OFFER_EXPIRED LOAN_NOT_OFFERED
                                       LOAN_NOT_ACCEPTED LOAN_CLOSED NOT_BORROWER NOT_LENDER
                                       OVERPAYMENT
      GovernanceError                licenses decided by a majority: GOVERNANCE_REQUIRED
                                       GOVERNANCE_DISABLED UNKNOWN_PROPOSAL PROPOSAL_EXPIRED
                                       PROPOSAL_CLOSED ALREADY_APPROVED
      CertificateError               a commit certificate that does not prove a quorum:
                                       BAD_CERTIFICATE CERT_BAD_SIGNATURE CERT_NOT_A_VOTER
                                       CERT_DUPLICATE_SIGNER SUB_QUORUM
      NodeError                      this node, not the ledger: DUPLICATE MEMPOOL_FULL NOT_FOUND
                                       UNAVAILABLE NOT_LEADER RATE_LIMITED

    InvalidBlock                     a block that does not extend the chain (no reason code:
                                     every node skips it alike); one subclass per header rule.

The category classes carry no code of their own and are not in ALL_ERRORS.
"""
from __future__ import annotations

from typing import ClassVar


class LedgerError(Exception):
    """A rejection with a reason code and a human sentence."""

    code: ClassVar[str] = "REJECTED"
    http_status: ClassVar[int] = 422

    def __init__(self, message: str = ""):
        super().__init__(message or self.code)
        self.message = message or self.code

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


# ---- categories -------------------------------------------------------------------------------

class EnvelopeError(LedgerError):
    """Not a well-formed, signed next transaction of its sender. Changes nothing, not even the
    nonce (node.ledger.rules.transaction.apply_in_block)."""


class KycError(LedgerError):
    """A party to a movement of value lacks a valid KYC standing."""


class LicensingError(LedgerError):
    """The sender lacks the license or the authority this action needs."""


class ControlError(LedgerError):
    """A regulator's or issuer's control stops the movement."""


class AssetError(LedgerError):
    """The asset does not exist, or was not created for this action."""


class LimitError(LedgerError):
    """Value that cannot move as asked: over a limit, beyond the balance, or to its sender."""


class SettlementError(LedgerError):
    """An FX offer or an escrow that cannot be made, taken, released or cancelled as asked."""


class LoanError(LedgerError):
    """A loan that cannot be offered, accepted, repaid or written off as asked."""


class GovernanceError(LedgerError):
    """A license change by a validator majority that cannot proceed."""


class NodeError(LedgerError):
    """This node cannot take the request now; the ledger's rules are not involved."""


# ---- encoding and envelope --------------------------------------------------------------------

class Malformed(EnvelopeError):
    """Not a well-formed, canonical transaction."""
    code = "MALFORMED"
    http_status = 400


class BadText(Malformed):
    """Free text (a memo, a clawback reason) holding a character that is not printable: a
    control, format (bidirectional, zero-width), private-use or surrogate code point, or a line
    or paragraph separator (node.ledger.text)."""
    code = "BAD_TEXT"


class TooLarge(EnvelopeError):
    """Request or transaction over the size limit."""
    code = "TOO_LARGE"
    http_status = 413


class UnknownKind(EnvelopeError):
    """Transaction kind not known."""
    code = "UNKNOWN_KIND"
    http_status = 400


class BadSignature(EnvelopeError):
    """Signature does not verify for the sender."""
    code = "BAD_SIGNATURE"


class WrongChain(EnvelopeError):
    """Signed for another chain id."""
    code = "WRONG_CHAIN"


class BadNonce(EnvelopeError):
    """Nonce is not the sender's next nonce."""
    code = "BAD_NONCE"


# ---- KYC ----------------------------------------------------------------------------------------

class KycMissing(KycError):
    """Account holds no attestation."""
    code = "KYC_MISSING"


class KycExpired(KycError):
    """Attestation expired at the block's time."""
    code = "KYC_EXPIRED"


class KycRevoked(KycError):
    """Attestation was revoked."""
    code = "KYC_REVOKED"


class IssuerNotLicensed(KycError):
    """Attestation's issuer is no longer licensed as kyc_issuer."""
    code = "ISSUER_NOT_LICENSED"


class UnknownTier(KycError):
    """KYC tier not defined in genesis."""
    code = "UNKNOWN_TIER"


class JurisdictionBlocked(KycError):
    """Account's jurisdiction is blocked."""
    code = "JURISDICTION_BLOCKED"


class AlreadyBlocked(KycError):
    """A jurisdiction_block names a jurisdiction that is already blocked."""
    code = "ALREADY_BLOCKED"


class NotBlocked(KycError):
    """A jurisdiction_unblock names a jurisdiction that is not blocked."""
    code = "NOT_BLOCKED"


class AttestationRevoked(KycError):
    """The issuer's attestation of this subject was revoked: it stays revoked for that issuer."""
    code = "ATTESTATION_REVOKED"


# ---- licensing ----------------------------------------------------------------------------------

class NotLicensed(LicensingError):
    """Sender lacks the license this action needs."""
    code = "NOT_LICENSED"


class Unauthorized(LicensingError):
    """Sender may not act on this object."""
    code = "UNAUTHORIZED"


class UnknownInstitution(LicensingError):
    """No such institution."""
    code = "UNKNOWN_INSTITUTION"


class InstitutionExists(LicensingError):
    """An institution_add names an institution that already exists."""
    code = "INSTITUTION_EXISTS"


class LicenseExpired(LicensingError):
    """A licence granted with an end that has already passed at the block's time."""
    code = "LICENSE_EXPIRED"


class LastValidator(LicensingError):
    """Would leave the chain without validators."""
    code = "LAST_VALIDATOR"


class KeyInUse(LicensingError):
    """A key_rotate's new key is already some institution's current key or the regulator's."""
    code = "KEY_IN_USE"


# ---- controls, assets, limits -------------------------------------------------------------------

class Frozen(ControlError):
    """Account is frozen by the regulator."""
    code = "FROZEN"


class AssetFrozen(ControlError):
    """The asset is frozen: nothing of it moves."""
    code = "ASSET_FROZEN"


class TravelRuleRequired(KycError):
    """A cross-jurisdiction transfer at or above the asset's report threshold without travel
    rule data."""
    code = "TRAVEL_RULE_REQUIRED"


class OriginatorMismatch(KycError):
    """The travel rule's originator institution holds no valid attestation of the sender."""
    code = "ORIGINATOR_MISMATCH"


class BeneficiaryMismatch(KycError):
    """The travel rule's beneficiary institution holds no valid attestation of the recipient."""
    code = "BENEFICIARY_MISMATCH"


class UnknownAsset(AssetError):
    """No such asset."""
    code = "UNKNOWN_ASSET"


class ClawbackDisabled(AssetError):
    """The asset was not created clawback-able."""
    code = "CLAWBACK_DISABLED"


class AssetExists(AssetError):
    """An asset_add names an asset code that already exists."""
    code = "ASSET_EXISTS"


class ReservesExceeded(AssetError):
    """An issue of a reserve-backed asset would take its supply above the reported reserves."""
    code = "RESERVES_EXCEEDED"


class ReservesStale(AssetError):
    """An issue of a reserve-backed asset with no reserve report, or one older than the
    asset's reserve_max_age_ms at block time."""
    code = "RESERVES_STALE"


class ReserveInFuture(AssetError):
    """A reserve_report whose as_of is after the block's time."""
    code = "RESERVE_IN_FUTURE"


class ReserveOutOfOrder(AssetError):
    """A reserve_report not newer (as_of) than the asset's latest one."""
    code = "RESERVE_OUT_OF_ORDER"


class UnknownReport(AssetError):
    """A reserve_attest naming a report that is not the asset's latest."""
    code = "UNKNOWN_REPORT"


class AlreadyAttested(AssetError):
    """A reserve_attest of a report an auditor already co-signed."""
    code = "ALREADY_ATTESTED"


class BadTierLimits(LimitError):
    """A tier_set whose per-transaction limit exceeds its daily limit for an asset."""
    code = "BAD_TIER_LIMITS"


class LimitExceeded(LimitError):
    """Over the tier's transfer limit."""
    code = "LIMIT_EXCEEDED"


class InsufficientFunds(LimitError):
    """Balance too low."""
    code = "INSUFFICIENT_FUNDS"


class SelfTransfer(LimitError):
    """Sender and recipient are the same."""
    code = "SELF_TRANSFER"


# ---- governance of licenses (genesis `license_policy`) ------------------------------------------

class GovernanceRequired(GovernanceError):
    """License changes on this chain need a validator majority (governance_propose)."""
    code = "GOVERNANCE_REQUIRED"


class GovernanceDisabled(GovernanceError):
    """License changes on this chain are the regulator's alone (license_grant/license_revoke)."""
    code = "GOVERNANCE_DISABLED"


class UnknownProposal(GovernanceError):
    """No such governance proposal."""
    code = "UNKNOWN_PROPOSAL"


class ProposalExpired(GovernanceError):
    """The proposal expired at the block's time."""
    code = "PROPOSAL_EXPIRED"


class ProposalClosed(GovernanceError):
    """The proposal was already applied; it takes no more approvals."""
    code = "PROPOSAL_CLOSED"


class AlreadyApproved(GovernanceError):
    """This institution already approved the proposal."""
    code = "ALREADY_APPROVED"


# ---- FX offers and escrows (node.ledger.rules.fx, node.ledger.rules.escrow) ------------------

class BadOffer(SettlementError):
    """An fx_offer giving and wanting the same asset, or already expired at block time."""
    code = "BAD_OFFER"


class UnknownOffer(SettlementError):
    """No offer has this id."""
    code = "UNKNOWN_OFFER"


class OfferClosed(SettlementError):
    """The offer was filled, cancelled or expired: it settles nothing more."""
    code = "OFFER_CLOSED"


class OfferExpired(SettlementError):
    """The offer's expiry is at or before the block's time."""
    code = "OFFER_EXPIRED"


class NotCounterparty(SettlementError):
    """The offer names another account as its only counterparty."""
    code = "NOT_COUNTERPARTY"


class PartialNotAllowed(SettlementError):
    """A fill of less than the whole of an offer made all-or-nothing."""
    code = "PARTIAL_NOT_ALLOWED"


class BadFill(SettlementError):
    """A fill paying more than the offer still wants, or too little to receive one unit."""
    code = "BAD_FILL"


class BadEscrow(SettlementError):
    """An escrow_create whose cancel time is not after its release time."""
    code = "BAD_ESCROW"


class UnknownEscrow(SettlementError):
    """No escrow has this id."""
    code = "UNKNOWN_ESCROW"


class EscrowClosed(SettlementError):
    """The escrow was released or cancelled already."""
    code = "ESCROW_CLOSED"


class EscrowNotYet(SettlementError):
    """A release before the escrow's release time, or a cancel before its cancel time."""
    code = "ESCROW_NOT_YET"


class EscrowExpired(SettlementError):
    """A release at or after the escrow's cancel time: it can only be cancelled now."""
    code = "ESCROW_EXPIRED"


class EscrowCondition(SettlementError):
    """The preimage is missing or does not hash to the escrow's condition."""
    code = "ESCROW_CONDITION"


# ---- microfinance loans (node.ledger.rules.loans) -----------------------------------------------

class BadSchedule(LoanError):
    """A loan_offer whose instalments are out of order, not all ahead of block time, or do not
    add up to the principal plus its interest."""
    code = "BAD_SCHEDULE"


class UnknownLoan(LoanError):
    """No loan has this id."""
    code = "UNKNOWN_LOAN"


class LoanOfferExpired(LoanError):
    """The loan offer's expiry is at or before block time, or its first instalment is already
    due: it can no longer be accepted."""
    code = "LOAN_OFFER_EXPIRED"


class LoanNotOffered(LoanError):
    """A loan_accept of a loan that was accepted already or is closed."""
    code = "LOAN_NOT_OFFERED"


class LoanNotAccepted(LoanError):
    """A repayment or write-off of a loan still only offered."""
    code = "LOAN_NOT_ACCEPTED"


class LoanClosed(LoanError):
    """The loan was paid off or written off: nothing more is owed on it."""
    code = "LOAN_CLOSED"


class NotBorrower(LoanError):
    """Only the loan's borrower accepts or repays it."""
    code = "NOT_BORROWER"


class NotLender(LoanError):
    """Only the loan's lender writes it off."""
    code = "NOT_LENDER"


class Overpayment(LoanError):
    """A repayment of more than the loan still owes."""
    code = "OVERPAYMENT"


# ---- pool and node ------------------------------------------------------------------------------

class Duplicate(NodeError):
    """Transaction already pending or committed."""
    code = "DUPLICATE"
    http_status = 409


class MempoolFull(NodeError):
    """Pool is full; retry later."""
    code = "MEMPOOL_FULL"
    http_status = 503


class NotFound(NodeError):
    """No such object."""
    code = "NOT_FOUND"
    http_status = 404


class Unavailable(NodeError):
    """Node cannot serve this now."""
    code = "UNAVAILABLE"
    http_status = 503


class NotLeaderError(NodeError):
    """Only the leader can do this."""
    code = "NOT_LEADER"
    http_status = 409


class RateLimited(NodeError):
    """The client submitted more transactions than its rate allows; nothing of this request
    was admitted. `retry_after` (seconds) says when the same request would be accepted."""

    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str = "", retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after


# ---- commit certificates (node.ledger.certificates) ------------------------------------------

class CertificateError(LedgerError):
    """A commit certificate (validators' signatures over chain id, height, block hash, state
    hash) that does not prove a majority of that height's voters agreed."""


class BadCertificate(CertificateError):
    """Malformed, or not about the block it comes with."""
    code = "BAD_CERTIFICATE"


class CertBadSignature(CertificateError):
    """A signature that is not its signer's over the statement (forged or altered)."""
    code = "CERT_BAD_SIGNATURE"


class CertNotAVoter(CertificateError):
    """A signer that was not a validator (Raft voter) at that height."""
    code = "CERT_NOT_A_VOTER"


class CertDuplicateSigner(CertificateError):
    """The same validator counted twice."""
    code = "CERT_DUPLICATE_SIGNER"


class SubQuorum(CertificateError):
    """Fewer signers than a majority of that height's voters."""
    code = "SUB_QUORUM"


def _with_codes(cls: type[LedgerError]) -> list[type[LedgerError]]:
    """cls's descendants that define a reason code of their own, in definition order."""
    out: list[type[LedgerError]] = []
    for sub in cls.__subclasses__():
        if "code" in vars(sub):
            out.append(sub)
        out += _with_codes(sub)
    return out


ALL_ERRORS: tuple[type[LedgerError], ...] = tuple(_with_codes(LedgerError))
"""Every error class that carries a reason code (the categories above carry none)."""


# ---- blocks -------------------------------------------------------------------------------------

class InvalidBlock(Exception):
    """A committed log entry that does not extend the chain; every node skips it alike.

    Not a LedgerError: a block has no reason code, it is simply not part of the chain. The
    subclasses name the header rule broken (node.ledger.rules.header)."""


class BadHeight(InvalidBlock):
    """The block's height is not the tip's height + 1."""


class BadParent(InvalidBlock):
    """The block's prev_hash is not the tip's block hash."""


class TimeWentBackwards(InvalidBlock):
    """The block's timestamp is earlier than the tip's."""


class ProposerNotLicensed(InvalidBlock):
    """The proposer's key is not an institution licensed as validator."""


class BadBlockSignature(InvalidBlock):
    """The proposer's signature over the header hash does not verify."""


class DuplicateTx(InvalidBlock):
    """The block holds one transaction twice."""


class BadTxRoot(InvalidBlock):
    """The header's Merkle root does not match the block's transactions."""
