"""Reason codes (node.ledger.errors): the stable codes of DESIGN section 3 exist, once each."""
from __future__ import annotations

import pytest

from node.ledger import errors as E

DESIGN_CODES = ["BAD_SIGNATURE", "WRONG_CHAIN", "BAD_NONCE", "KYC_MISSING", "KYC_EXPIRED",
                "KYC_REVOKED", "ISSUER_NOT_LICENSED", "NOT_LICENSED", "FROZEN",
                "JURISDICTION_BLOCKED", "LIMIT_EXCEEDED", "INSUFFICIENT_FUNDS", "MALFORMED",
                "TOO_LARGE", "MEMPOOL_FULL"]


@pytest.mark.parametrize("code", DESIGN_CODES)
def test_design_reason_code_exists_on_an_error_class(code):
    assert [cls for cls in E.ALL_ERRORS if cls.code == code]


def test_reason_codes_are_unique_and_upper_case():
    codes = [cls.code for cls in E.ALL_ERRORS]
    assert len(codes) == len(set(codes))
    assert all(c == c.upper() and c.replace("_", "").isalpha() for c in codes)


def test_every_error_is_a_ledger_error_with_a_sentence():
    for cls in E.ALL_ERRORS:
        assert issubclass(cls, E.LedgerError) and cls is not E.LedgerError
        err = cls("why it failed")
        assert err.to_json() == {"error": cls.code, "message": "why it failed"}
        assert cls().message == cls.code  # a default sentence, never empty
        assert 400 <= cls.http_status < 600


# ---- the hierarchy: each reason code under one category ---------------------------------------

CATEGORIES = {
    E.EnvelopeError: {"MALFORMED", "BAD_TEXT", "TOO_LARGE", "UNKNOWN_KIND", "WRONG_CHAIN",
                      "BAD_SIGNATURE", "BAD_NONCE"},
    E.KycError: {"KYC_MISSING", "KYC_EXPIRED", "KYC_REVOKED", "ISSUER_NOT_LICENSED",
                 "UNKNOWN_TIER", "JURISDICTION_BLOCKED", "ATTESTATION_REVOKED",
                 "ALREADY_BLOCKED", "NOT_BLOCKED", "TRAVEL_RULE_REQUIRED", "ORIGINATOR_MISMATCH",
                 "BENEFICIARY_MISMATCH"},
    E.LicensingError: {"NOT_LICENSED", "UNAUTHORIZED", "UNKNOWN_INSTITUTION", "LAST_VALIDATOR",
                       "LICENSE_EXPIRED", "KEY_IN_USE", "INSTITUTION_EXISTS"},
    E.ControlError: {"FROZEN", "ASSET_FROZEN"},
    E.AssetError: {"UNKNOWN_ASSET", "CLAWBACK_DISABLED", "ASSET_EXISTS", "RESERVES_EXCEEDED",
                   "RESERVES_STALE", "RESERVE_IN_FUTURE", "RESERVE_OUT_OF_ORDER",
                   "UNKNOWN_REPORT", "ALREADY_ATTESTED"},
    E.LimitError: {"LIMIT_EXCEEDED", "INSUFFICIENT_FUNDS", "SELF_TRANSFER", "BAD_TIER_LIMITS"},
    E.SettlementError: {"BAD_OFFER", "UNKNOWN_OFFER", "OFFER_CLOSED", "OFFER_EXPIRED",
                        "NOT_COUNTERPARTY", "PARTIAL_NOT_ALLOWED", "BAD_FILL", "BAD_ESCROW",
                        "UNKNOWN_ESCROW", "ESCROW_CLOSED", "ESCROW_NOT_YET", "ESCROW_EXPIRED",
                        "ESCROW_CONDITION"},
    E.LoanError: {"BAD_SCHEDULE", "UNKNOWN_LOAN", "LOAN_OFFER_EXPIRED", "LOAN_NOT_OFFERED",
                  "LOAN_NOT_ACCEPTED", "LOAN_CLOSED", "NOT_BORROWER", "NOT_LENDER", "OVERPAYMENT"},
    E.GovernanceError: {"GOVERNANCE_REQUIRED", "GOVERNANCE_DISABLED", "UNKNOWN_PROPOSAL",
                        "PROPOSAL_EXPIRED", "PROPOSAL_CLOSED", "ALREADY_APPROVED"},
    E.CertificateError: {"BAD_CERTIFICATE", "CERT_BAD_SIGNATURE", "CERT_NOT_A_VOTER",
                         "CERT_DUPLICATE_SIGNER", "SUB_QUORUM"},
    E.NodeError: {"DUPLICATE", "MEMPOOL_FULL", "NOT_FOUND", "UNAVAILABLE", "NOT_LEADER",
                  "RATE_LIMITED"},
}


# codes that refine another code of their category (an `except` of the parent still catches them)
REFINEMENTS = {E.BadText: E.Malformed}


def test_a_refinement_keeps_its_parents_http_status():
    for cls, parent in REFINEMENTS.items():
        assert cls.__mro__[1] is parent and cls.http_status == parent.http_status


@pytest.mark.parametrize("category", list(CATEGORIES), ids=lambda c: c.__name__)
def test_each_category_holds_exactly_its_reason_codes(category):
    assert {cls.code for cls in E.ALL_ERRORS if issubclass(cls, category)} == CATEGORIES[category]


def test_every_reason_code_is_in_exactly_one_category_and_categories_carry_none():
    for cls in E.ALL_ERRORS:
        category = cls.__mro__[2] if cls in REFINEMENTS else cls.__mro__[1]
        assert [c for c in CATEGORIES if issubclass(cls, c)] == [category]
    assert not set(CATEGORIES) & set(E.ALL_ERRORS)
    assert {cls.code for cls in E.ALL_ERRORS} == set().union(*CATEGORIES.values())


def test_http_statuses_of_the_contract():
    assert {cls.__name__: cls.http_status for cls in E.ALL_ERRORS if cls.http_status != 422} == {
        "Malformed": 400, "BadText": 400, "TooLarge": 413, "UnknownKind": 400, "Duplicate": 409,
        "MempoolFull": 503, "NotFound": 404, "Unavailable": 503, "NotLeaderError": 409,
        "RateLimited": 429}


def test_a_rate_limited_error_says_when_to_retry():
    assert E.RateLimited("slow down", retry_after=2.5).retry_after == 2.5
    assert E.RateLimited().retry_after == 1.0


def test_block_errors_are_invalid_blocks_not_rejections():
    subclasses = E.InvalidBlock.__subclasses__()
    assert {c.__name__ for c in subclasses} == {
        "BadHeight", "BadParent", "TimeWentBackwards", "ProposerNotLicensed",
        "BadBlockSignature", "DuplicateTx", "BadTxRoot"}
    assert not any(issubclass(c, E.LedgerError) for c in [E.InvalidBlock, *subclasses])


def test_a_key_pair_never_shows_its_seed():
    """Models a secret leaking through a log line, an error message or a test failure that
    prints a KeyPair: its repr (and str) show the address, never the seed."""
    from node.ledger.crypto import KeyPair
    key = KeyPair.from_seed(bytes(range(32)))
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert key.seed.hex() not in text and repr(key.seed) not in text
        assert key.address.hex() in text or repr(key.address) in text
