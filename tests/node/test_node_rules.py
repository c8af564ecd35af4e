"""The ledger rules (node.ledger.rules), one rule per test, on an Overlay over the genesis State.

Every rejection goes through `ledger.reject`, which asserts the exact error type and that the
overlay's changes are the same before and after (a rejection changes nothing).
"""
from __future__ import annotations

import hashlib

from node.ledger import errors as E
from node.ledger.codec import pack, sha256
from node.ledger.state import Overlay
from node.ledger.types import (
    Freeze,
    Issue,
    KycAttest,
    KycRevoke,
    LicenseGrant,
    LicenseRevoke,
    Redeem,
    Transfer,
    Unfreeze,
    decode_tx,
)

from .support import DAY, ERIN_EXPIRES, HOUR, T0, YEAR_LATER

EVIDENCE = hashlib.sha256(b"kyc file").digest()


def attest(subject, tier=2, jurisdiction="US", expires_at=YEAR_LATER):
    return KycAttest(subject.address, tier, jurisdiction, expires_at, EVIDENCE)


# ---- envelope -------------------------------------------------------------------------------

def test_tx_signed_for_another_chain_is_wrong_chain(ledger, keys):
    tx = ledger.tx(keys.alice, Transfer("USD", keys.bob.address, 10),
                   chain_id=sha256(b"some other genesis"))
    err = ledger.reject(E.WrongChain, tx=tx)
    assert err.code == "WRONG_CHAIN"


def test_tampered_signature_is_bad_signature(ledger, keys):
    tx = ledger.tx(keys.alice, Transfer("USD", keys.bob.address, 10))
    raw = tx.raw[:-1] + bytes([tx.raw[-1] ^ 0x01])
    err = ledger.reject(E.BadSignature, tx=decode_tx(raw))
    assert err.code == "BAD_SIGNATURE"


def test_tampered_payload_is_bad_signature(ledger, keys):
    tx = ledger.tx(keys.alice, Transfer("USD", keys.bob.address, 10))
    forged = pack([tx.chain_id, tx.kind, tx.sender, tx.nonce,
                   Transfer("USD", keys.bob.address, 999).to_wire(), tx.signature])
    ledger.reject(E.BadSignature, tx=decode_tx(forged))


def test_signature_by_another_key_is_bad_signature(ledger, keys, signer):
    genuine = signer(keys.bob, Transfer("USD", keys.carol.address, 10), 0)
    # alice's name on a body signed by bob
    forged = pack([genuine.chain_id, "transfer", keys.alice.address, 0,
                   genuine.payload.to_wire(), genuine.signature])
    ledger.reject(E.BadSignature, tx=decode_tx(forged))


def test_replayed_tx_is_bad_nonce(ledger, keys):
    tx = ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 10))
    err = ledger.reject(E.BadNonce, tx=tx)
    assert err.code == "BAD_NONCE"
    assert ledger.account(keys.alice).nonce == 1


def test_gapped_nonce_is_bad_nonce(ledger, keys):
    ledger.reject(E.BadNonce, tx=ledger.tx(keys.alice, Transfer("USD", keys.bob.address, 10),
                                           nonce=1))
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 10))
    ledger.reject(E.BadNonce, tx=ledger.tx(keys.alice, Transfer("USD", keys.bob.address, 10),
                                           nonce=3))


def test_nonces_are_sequential_per_sender(ledger, keys):
    for _ in range(3):
        ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 1))
    ledger.ok(keys.bob, Transfer("USD", keys.alice.address, 1))
    assert ledger.account(keys.alice).nonce == 3
    assert ledger.account(keys.bob).nonce == 1


# ---- transfer: success ----------------------------------------------------------------------

def test_transfer_moves_the_amount(ledger, keys):
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 700, "rent"))
    assert ledger.balance(keys.alice, "USD") == 10_000 - 700
    assert ledger.balance(keys.bob, "USD") == 500_000 + 700
    assert ledger.view.supply("USD") == ledger.state.supply("USD")


def test_transfer_does_not_touch_committed_state_until_commit(ledger, keys):
    before = ledger.state.records()
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 700))
    assert ledger.state.records() == before
    ledger.view.commit()
    assert ledger.state.account(keys.alice.address).balance("USD") == 9_300


def test_institution_account_needs_no_attestation_and_has_no_tier_limit(ledger, keys):
    # far above tier 1's and tier 2's limits; bank_a holds no attestation
    ledger.ok(keys.bank_a, Transfer("USD", keys.alice.address, 500_000))
    assert ledger.balance(keys.alice, "USD") == 510_000
    # and an institution may receive without an attestation
    ledger.ok(keys.bob, Transfer("EUR", keys.bank_a.address, 50_000))
    assert ledger.balance(keys.bank_a, "EUR") == 50_000


# ---- KYC ------------------------------------------------------------------------------------

def test_transfer_from_unattested_sender_is_kyc_missing(ledger, keys):
    err = ledger.reject(E.KycMissing, keys.carol, Transfer("USD", keys.bob.address, 10))
    assert err.code == "KYC_MISSING"


def test_transfer_to_unattested_recipient_is_kyc_missing(ledger, keys):
    ledger.reject(E.KycMissing, keys.alice, Transfer("USD", keys.carol.address, 10))
    ledger.reject(E.KycMissing, keys.alice, Transfer("USD", keys.frank.address, 10))


def test_attestation_is_valid_before_expiry_and_kyc_expired_from_expires_at(ledger, keys):
    ledger.ok(keys.erin, Transfer("EUR", keys.bob.address, 10), at=ERIN_EXPIRES - 1)
    err = ledger.reject(E.KycExpired, keys.erin, Transfer("EUR", keys.bob.address, 10),
                        at=ERIN_EXPIRES)
    assert err.code == "KYC_EXPIRED"
    ledger.reject(E.KycExpired, keys.erin, Transfer("EUR", keys.bob.address, 10),
                  at=ERIN_EXPIRES + DAY)


def test_transfer_to_expired_recipient_is_kyc_expired(ledger, keys):
    ledger.ok(keys.bob, Transfer("EUR", keys.erin.address, 10), at=ERIN_EXPIRES - 1)
    ledger.reject(E.KycExpired, keys.bob, Transfer("EUR", keys.erin.address, 10),
                  at=ERIN_EXPIRES)


def test_kyc_revoke_makes_sender_and_recipient_kyc_revoked(ledger, keys):
    ledger.ok(keys.bank_a, KycRevoke(keys.alice.address))
    assert ledger.account(keys.alice).attestations["bank_a"].revoked
    err = ledger.reject(E.KycRevoked, keys.alice, Transfer("USD", keys.bob.address, 10))
    assert err.code == "KYC_REVOKED"
    ledger.reject(E.KycRevoked, keys.bob, Transfer("USD", keys.alice.address, 10))


def test_revoking_kyc_issuer_license_makes_its_attestations_issuer_not_licensed(ledger, keys):
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 10))
    ledger.ok(keys.regulator, LicenseRevoke("bank_a", "kyc_issuer"))
    assert "kyc_issuer" not in ledger.view.roles("bank_a")
    err = ledger.reject(E.IssuerNotLicensed, keys.alice, Transfer("USD", keys.bob.address, 10))
    assert err.code == "ISSUER_NOT_LICENSED"
    ledger.reject(E.IssuerNotLicensed, keys.bob, Transfer("USD", keys.alice.address, 10))
    # bob was attested by bank_b, whose license stands
    ledger.ok(keys.bob, Transfer("EUR", keys.erin.address, 10))
    # granting the license again with restore_attestations makes the attestation count again
    # (a plain re-grant does not: test_node_compliance)
    ledger.ok(keys.regulator, LicenseGrant("bank_a", "kyc_issuer", restore_attestations=True))
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 10))


def test_kyc_attest_by_unlicensed_institution_is_not_licensed(ledger, keys):
    err = ledger.reject(E.NotLicensed, keys.pay_c, attest(keys.carol))
    assert err.code == "NOT_LICENSED"
    ledger.reject(E.NotLicensed, keys.alice, attest(keys.carol))


def test_kyc_attest_after_kyc_issuer_license_revoked_is_not_licensed(ledger, keys):
    ledger.ok(keys.regulator, LicenseRevoke("bank_a", "kyc_issuer"))
    ledger.reject(E.NotLicensed, keys.bank_a, attest(keys.carol))


def test_kyc_attest_lets_subject_transact(ledger, keys):
    ledger.ok(keys.bank_a, attest(keys.carol, tier=2, jurisdiction="FR"))
    att = ledger.account(keys.carol).attestations["bank_a"]
    assert (att.issuer, att.tier, att.jurisdiction, att.expires_at, att.evidence_hash,
            att.revoked) == ("bank_a", 2, "FR", YEAR_LATER, EVIDENCE, False)
    ledger.ok(keys.carol, Transfer("USD", keys.alice.address, 100))
    assert ledger.balance(keys.carol, "USD") == 900


def test_kyc_attest_by_another_issuer_adds_beside_the_first_and_the_best_counts(ledger, keys):
    # alice is tier 1 (per_tx 1_000); bank_b attests her at tier 2 beside bank_a's
    ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 5_000))
    ledger.ok(keys.bank_b, attest(keys.alice, tier=2, jurisdiction="DE"))
    atts = ledger.account(keys.alice).attestations
    assert sorted((a.issuer, a.tier, a.jurisdiction) for a in atts.values()) == [
        ("bank_a", 1, "US"), ("bank_b", 2, "DE")]
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 5_000))


def test_kyc_attest_by_the_issuer_replaces_its_own_live_attestation(ledger, keys):
    ledger.ok(keys.bank_a, attest(keys.alice, tier=2, jurisdiction="US"))
    assert list(ledger.account(keys.alice).attestations) == ["bank_a"]
    assert ledger.account(keys.alice).attestations["bank_a"].tier == 2
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 5_000))


def test_kyc_attest_over_its_own_revoked_attestation_is_attestation_revoked(ledger, keys):
    ledger.ok(keys.bank_a, KycRevoke(keys.alice.address))
    err = ledger.reject(E.AttestationRevoked, keys.bank_a, attest(keys.alice, tier=1))
    assert err.code == "ATTESTATION_REVOKED"
    assert ledger.account(keys.alice).attestations["bank_a"].revoked


def test_kyc_attest_with_undefined_tier_is_unknown_tier(ledger, keys):
    err = ledger.reject(E.UnknownTier, keys.bank_a, attest(keys.carol, tier=9))
    assert err.code == "UNKNOWN_TIER"


def test_kyc_attest_already_expired_at_block_time_is_kyc_expired(ledger, keys):
    ledger.reject(E.KycExpired, keys.bank_a, attest(keys.carol, expires_at=ledger.now))
    ledger.ok(keys.bank_a, attest(keys.carol, expires_at=ledger.now + 1))


def test_kyc_revoke_of_another_institutions_attestation_is_unauthorized(ledger, keys):
    err = ledger.reject(E.Unauthorized, keys.bank_b, KycRevoke(keys.alice.address))
    assert err.code == "UNAUTHORIZED"


def test_kyc_revoke_by_non_issuer_is_not_licensed(ledger, keys):
    ledger.reject(E.NotLicensed, keys.pay_c, KycRevoke(keys.alice.address))
    ledger.reject(E.NotLicensed, keys.alice, KycRevoke(keys.bob.address))


def test_kyc_revoke_without_attestation_is_kyc_missing(ledger, keys):
    ledger.reject(E.KycMissing, keys.bank_a, KycRevoke(keys.carol.address))


def test_kyc_revoke_twice_is_kyc_revoked(ledger, keys):
    ledger.ok(keys.bank_a, KycRevoke(keys.alice.address))
    ledger.reject(E.KycRevoked, keys.bank_a, KycRevoke(keys.alice.address))


def test_kyc_revoke_does_not_mutate_committed_state(ledger, keys):
    ledger.ok(keys.bank_a, KycRevoke(keys.alice.address))
    assert not ledger.state.account(keys.alice.address).attestations["bank_a"].revoked


# ---- freeze, jurisdiction -------------------------------------------------------------------

def test_frozen_sender_is_frozen_and_unfreeze_restores(ledger, keys):
    ledger.ok(keys.regulator, Freeze(keys.alice.address))
    assert ledger.account(keys.alice).frozen
    err = ledger.reject(E.Frozen, keys.alice, Transfer("USD", keys.bob.address, 10))
    assert err.code == "FROZEN"
    ledger.ok(keys.regulator, Unfreeze(keys.alice.address))
    assert not ledger.account(keys.alice).frozen
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 10))


def test_transfer_to_frozen_recipient_is_frozen(ledger, keys):
    ledger.ok(keys.regulator, Freeze(keys.bob.address))
    ledger.reject(E.Frozen, keys.alice, Transfer("USD", keys.bob.address, 10))
    ledger.reject(E.Frozen, keys.bank_a, Issue("USD", keys.bob.address, 10))
    ledger.ok(keys.regulator, Unfreeze(keys.bob.address))
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 10))


def test_frozen_institution_cannot_send(ledger, keys):
    ledger.ok(keys.regulator, Freeze(keys.bank_a.address))
    ledger.reject(E.Frozen, keys.bank_a, Transfer("USD", keys.alice.address, 10))


def test_freeze_by_non_regulator_is_not_licensed(ledger, keys):
    ledger.reject(E.NotLicensed, keys.alice, Freeze(keys.bob.address))
    ledger.reject(E.NotLicensed, keys.bank_a, Freeze(keys.bob.address))
    ledger.ok(keys.regulator, Freeze(keys.bob.address))
    ledger.reject(E.NotLicensed, keys.bank_b, Unfreeze(keys.bob.address))


def test_sender_in_blocked_jurisdiction_is_jurisdiction_blocked(ledger, keys):
    err = ledger.reject(E.JurisdictionBlocked, keys.dave, Transfer("USD", keys.bob.address, 10))
    assert err.code == "JURISDICTION_BLOCKED"


def test_recipient_in_blocked_jurisdiction_is_jurisdiction_blocked(ledger, keys):
    ledger.reject(E.JurisdictionBlocked, keys.alice, Transfer("USD", keys.dave.address, 10))


def test_reattesting_in_blocked_jurisdiction_blocks_the_subject(ledger, keys):
    ledger.ok(keys.bank_b, attest(keys.bob, tier=2, jurisdiction="IR"))
    ledger.reject(E.JurisdictionBlocked, keys.bob, Transfer("USD", keys.alice.address, 10))


# ---- limits and funds -----------------------------------------------------------------------

def test_amount_over_per_transaction_limit_is_limit_exceeded(ledger, keys):
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 1_000))
    err = ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 1_001))
    assert err.code == "LIMIT_EXCEEDED"


def test_rolling_24h_limit_counts_several_transfers(ledger, keys):
    for amount in (1_000, 1_000, 400):
        ledger.ok(keys.alice, Transfer("USD", keys.bob.address, amount))
    ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 101))
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 100))  # exactly the daily 2_500
    ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 1))
    # the limit is per asset
    ledger.ok(keys.alice, Transfer("EUR", keys.bob.address, 400))


def test_rolling_limit_frees_up_after_24h_of_block_time(ledger, keys):
    t = T0 + HOUR // 2
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 1_000), at=t)
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 1_000), at=t + 5 * HOUR)
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 500), at=t + 10 * HOUR)
    # still inside the window of the first transfer
    ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 1),
                  at=t + 23 * HOUR)
    # 24 h after the first: its 1_000 dropped out, the later 1_500 still count
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 1_000), at=t + 24 * HOUR)
    ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 1),
                  at=t + 24 * HOUR)
    # 24 h after the last of them, the whole daily limit is free again
    for _ in range(2):
        ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 1_000), at=t + 48 * HOUR)
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 500), at=t + 48 * HOUR)
    ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 1),
                  at=t + 48 * HOUR)


def test_asset_not_in_sender_tier_is_limit_exceeded(ledger, keys):
    ledger.reject(E.LimitExceeded, keys.alice, Transfer("GBP", keys.bob.address, 1))


def test_limits_apply_to_the_sender_not_the_recipient(ledger, keys):
    # alice (tier 1) may receive far more than her own limits
    ledger.ok(keys.bob, Transfer("USD", keys.alice.address, 50_000))
    assert ledger.balance(keys.alice, "USD") == 60_000


def test_amount_over_balance_is_insufficient_funds(ledger, keys):
    err = ledger.reject(E.InsufficientFunds, keys.alice, Transfer("EUR", keys.bob.address, 501))
    assert err.code == "INSUFFICIENT_FUNDS"
    ledger.ok(keys.alice, Transfer("EUR", keys.bob.address, 500))
    assert ledger.balance(keys.alice, "EUR") == 0
    ledger.reject(E.InsufficientFunds, keys.alice, Transfer("EUR", keys.bob.address, 1))


def test_asset_never_held_is_insufficient_funds(ledger, keys):
    ledger.reject(E.InsufficientFunds, keys.erin, Transfer("USD", keys.bob.address, 1))


def test_transfer_of_unknown_asset_is_unknown_asset(ledger, keys):
    err = ledger.reject(E.UnknownAsset, keys.alice, Transfer("XAU", keys.bob.address, 1))
    assert err.code == "UNKNOWN_ASSET"


def test_transfer_to_self_is_self_transfer(ledger, keys):
    err = ledger.reject(E.SelfTransfer, keys.alice, Transfer("USD", keys.alice.address, 1))
    assert err.code == "SELF_TRANSFER"


def test_rejected_transfer_leaves_no_partial_change(ledger, keys):
    # passes KYC, limits and funds for the sender, fails on the recipient: nothing written
    before = Overlay(ledger.state).changes()
    ledger.reject(E.KycMissing, keys.alice, Transfer("USD", keys.carol.address, 10))
    assert ledger.view.changes() == before == []
    assert ledger.account(keys.alice).nonce == 0


# ---- issue and redeem -----------------------------------------------------------------------

def test_issue_credits_recipient_and_grows_supply(ledger, keys):
    supply = ledger.view.supply("USD")
    ledger.ok(keys.bank_a, Issue("USD", keys.alice.address, 5_000))
    assert ledger.balance(keys.alice, "USD") == 15_000
    assert ledger.view.supply("USD") == supply + 5_000


def test_issue_of_another_institutions_asset_is_unauthorized(ledger, keys):
    ledger.reject(E.Unauthorized, keys.bank_b, Issue("USD", keys.bob.address, 10))


def test_issue_by_institution_without_asset_issuer_is_not_licensed(ledger, keys):
    ledger.reject(E.NotLicensed, keys.pay_c, Issue("USD", keys.bob.address, 10))
    ledger.reject(E.NotLicensed, keys.alice, Issue("USD", keys.bob.address, 10))
    ledger.ok(keys.regulator, LicenseRevoke("bank_a", "asset_issuer"))
    ledger.reject(E.NotLicensed, keys.bank_a, Issue("USD", keys.bob.address, 10))


def test_issue_of_unknown_asset_is_unknown_asset(ledger, keys):
    ledger.reject(E.UnknownAsset, keys.bank_a, Issue("XAU", keys.alice.address, 10))


def test_issue_to_unattested_recipient_is_kyc_missing(ledger, keys):
    ledger.reject(E.KycMissing, keys.bank_a, Issue("USD", keys.carol.address, 10))


def test_issue_beyond_max_amount_is_limit_exceeded(ledger, keys):
    headroom = 2**63 - 1 - ledger.view.supply("USD")
    ledger.reject(E.LimitExceeded, keys.bank_a, Issue("USD", keys.bob.address, headroom + 1))
    ledger.ok(keys.bank_a, Issue("USD", keys.bank_a.address, headroom))
    assert ledger.view.supply("USD") == 2**63 - 1


def test_redeem_burns_from_issuer_and_shrinks_supply(ledger, keys):
    supply = ledger.view.supply("USD")
    ledger.ok(keys.bank_a, Redeem("USD", 300_000))
    assert ledger.balance(keys.bank_a, "USD") == 700_000
    assert ledger.view.supply("USD") == supply - 300_000


def test_redeem_over_issuer_balance_is_insufficient_funds(ledger, keys):
    ledger.reject(E.InsufficientFunds, keys.bank_a, Redeem("USD", 1_000_001))


def test_redeem_of_another_institutions_asset_is_unauthorized(ledger, keys):
    ledger.reject(E.Unauthorized, keys.bank_a, Redeem("EUR", 1))
    ledger.reject(E.NotLicensed, keys.alice, Redeem("USD", 1))


# ---- licensing ------------------------------------------------------------------------------

def test_license_grant_lets_institution_attest(ledger, keys):
    ledger.reject(E.NotLicensed, keys.pay_c, attest(keys.carol))
    ledger.ok(keys.regulator, LicenseGrant("pay_c", "kyc_issuer"))
    assert ledger.view.roles("pay_c") == frozenset({"observer", "kyc_issuer"})
    ledger.ok(keys.pay_c, attest(keys.carol))
    ledger.ok(keys.alice, Transfer("USD", keys.carol.address, 10))


def test_license_revoke_removes_only_that_role(ledger, keys):
    ledger.ok(keys.regulator, LicenseRevoke("bank_b", "validator"))
    assert ledger.view.roles("bank_b") == frozenset({"kyc_issuer", "asset_issuer"})
    assert ledger.state.roles("bank_b") == frozenset({"validator", "kyc_issuer", "asset_issuer"})


def test_license_change_by_non_regulator_is_not_licensed(ledger, keys):
    ledger.reject(E.NotLicensed, keys.bank_a, LicenseGrant("pay_c", "kyc_issuer"))
    ledger.reject(E.NotLicensed, keys.alice, LicenseRevoke("bank_b", "kyc_issuer"))


def test_license_for_unknown_institution_is_unknown_institution(ledger, keys):
    err = ledger.reject(E.UnknownInstitution, keys.regulator, LicenseGrant("nobody", "validator"))
    assert err.code == "UNKNOWN_INSTITUTION"
    ledger.reject(E.UnknownInstitution, keys.regulator, LicenseRevoke("nobody", "validator"))


def test_institution_stripped_of_all_roles_needs_an_attestation(ledger, keys):
    ledger.ok(keys.regulator, LicenseRevoke("pay_c", "observer"))
    ledger.reject(E.KycMissing, keys.bob, Transfer("EUR", keys.pay_c.address, 100))
