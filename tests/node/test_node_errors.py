"""Reason codes (node.errors): the stable codes of DESIGN section 3 exist, once each."""
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
