"""Typed ledger errors. Each carries a stable, upper-case reason code (DESIGN section 3).

The mempool, block execution, the HTTP API and the CLI all speak in these codes; tests assert
the exact type. A rejection changes nothing.
"""
from __future__ import annotations


class LedgerError(Exception):
    """A rejection with a reason code and a human sentence."""

    code = "REJECTED"
    http_status = 422

    def __init__(self, message: str = ""):
        super().__init__(message or self.code)
        self.message = message or self.code

    def to_json(self) -> dict:
        return {"error": self.code, "message": self.message}


def _error(name: str, code: str, doc: str, http_status: int = 422) -> type[LedgerError]:
    return type(name, (LedgerError,), {"code": code, "http_status": http_status, "__doc__": doc})


# Encoding and envelope
Malformed = _error("Malformed", "MALFORMED", "Not a well-formed, canonical transaction.", 400)
TooLarge = _error("TooLarge", "TOO_LARGE", "Request or transaction over the size limit.", 413)
BadSignature = _error("BadSignature", "BAD_SIGNATURE", "Signature does not verify for the sender.")
WrongChain = _error("WrongChain", "WRONG_CHAIN", "Signed for another chain id.")
BadNonce = _error("BadNonce", "BAD_NONCE", "Nonce is not the sender's next nonce.")
UnknownKind = _error("UnknownKind", "UNKNOWN_KIND", "Transaction kind not known.", 400)

# KYC
KycMissing = _error("KycMissing", "KYC_MISSING", "Account holds no attestation.")
KycExpired = _error("KycExpired", "KYC_EXPIRED", "Attestation expired at the block's time.")
KycRevoked = _error("KycRevoked", "KYC_REVOKED", "Attestation was revoked.")
IssuerNotLicensed = _error(
    "IssuerNotLicensed", "ISSUER_NOT_LICENSED",
    "Attestation's issuer is no longer licensed as kyc_issuer.")
UnknownTier = _error("UnknownTier", "UNKNOWN_TIER", "KYC tier not defined in genesis.")

# Licensing and controls
NotLicensed = _error("NotLicensed", "NOT_LICENSED", "Sender lacks the license this action needs.")
Unauthorized = _error("Unauthorized", "UNAUTHORIZED", "Sender may not act on this object.")
UnknownInstitution = _error("UnknownInstitution", "UNKNOWN_INSTITUTION", "No such institution.")
UnknownAsset = _error("UnknownAsset", "UNKNOWN_ASSET", "No such asset.")
Frozen = _error("Frozen", "FROZEN", "Account is frozen by the regulator.")
JurisdictionBlocked = _error(
    "JurisdictionBlocked", "JURISDICTION_BLOCKED", "Account's jurisdiction is blocked.")
LimitExceeded = _error("LimitExceeded", "LIMIT_EXCEEDED", "Over the tier's transfer limit.")
InsufficientFunds = _error("InsufficientFunds", "INSUFFICIENT_FUNDS", "Balance too low.")
AssetFrozen = _error("AssetFrozen", "ASSET_FROZEN", "The asset is frozen: nothing of it moves.")
ClawbackDisabled = _error("ClawbackDisabled", "CLAWBACK_DISABLED",
                          "The asset was not created clawback-able.")
SelfTransfer = _error("SelfTransfer", "SELF_TRANSFER", "Sender and recipient are the same.")

# Governance of licenses (genesis `license_policy`)
GovernanceRequired = _error(
    "GovernanceRequired", "GOVERNANCE_REQUIRED",
    "License changes on this chain need a validator majority (governance_propose).")
GovernanceDisabled = _error(
    "GovernanceDisabled", "GOVERNANCE_DISABLED",
    "License changes on this chain are the regulator's alone (license_grant/license_revoke).")
UnknownProposal = _error("UnknownProposal", "UNKNOWN_PROPOSAL", "No such governance proposal.")
ProposalExpired = _error("ProposalExpired", "PROPOSAL_EXPIRED",
                         "The proposal expired at the block's time.")
ProposalClosed = _error("ProposalClosed", "PROPOSAL_CLOSED",
                        "The proposal was already applied; it takes no more approvals.")
AlreadyApproved = _error("AlreadyApproved", "ALREADY_APPROVED",
                         "This institution already approved the proposal.")

# Pool and node
Duplicate = _error("Duplicate", "DUPLICATE", "Transaction already pending or committed.", 409)
MempoolFull = _error("MempoolFull", "MEMPOOL_FULL", "Pool is full; retry later.", 503)
NotFound = _error("NotFound", "NOT_FOUND", "No such object.", 404)
Unavailable = _error("Unavailable", "UNAVAILABLE", "Node cannot serve this now.", 503)
LastValidator = _error("LastValidator", "LAST_VALIDATOR", "Would leave the chain without validators.")
NotLeaderError = _error("NotLeaderError", "NOT_LEADER", "Only the leader can do this.", 409)


class RateLimited(LedgerError):
    """The client submitted more transactions than its rate allows; nothing of this request
    was admitted. `retry_after` (seconds) says when the same request would be accepted."""

    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str = "", retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after


ALL_ERRORS: tuple[type[LedgerError], ...] = tuple(
    v for v in list(globals().values())
    if isinstance(v, type) and issubclass(v, LedgerError) and v is not LedgerError
)
