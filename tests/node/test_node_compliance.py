"""Compliance controls that hold (issue 12): each test models a bypass an examiner found and
asserts, on public state, that it is closed.

The world is support.py's: bank_a and bank_b are validator + kyc_issuer + asset_issuer, pay_c is
an observer-only institution with no attestation, alice is tier 1 (USD per_tx 1_000, daily
2_500) attested by bank_a, bob tier 2 by bank_b, carol has no attestation.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.ledger import errors as E
from node.ledger.codec import pack
from node.ledger.crypto import KeyPair
from node.ledger.rules import Context, KycStatus, apply_spend, check_limits
from node.ledger.state import Account
from node.ledger.types import (
    AssetFreeze,
    Clawback,
    Freeze,
    Issue,
    KycAttest,
    KycRevoke,
    LicenseGrant,
    LicenseRevoke,
    Redeem,
    Transfer,
    Unfreeze,
    sign_tx,
)

from .support import DAY, HOUR, T0, YEAR_LATER, Chain

EVIDENCE = hashlib.sha256(b"kyc file").digest()


def attest(subject: KeyPair, tier: int = 2, jurisdiction: str = "US",
           expires_at: int = YEAR_LATER) -> KycAttest:
    return KycAttest(subject.address, tier, jurisdiction, expires_at, EVIDENCE)


def pay(to: KeyPair, amount: int, asset: str = "USD") -> Transfer:
    return Transfer(asset, to.address, amount)


class Blocks:
    """Blocks on a Chain with each sender's nonces counted; `run` returns the receipt codes."""

    def __init__(self, chain: Chain):
        self.chain = chain
        self.nonces: dict[bytes, int] = defaultdict(int)

    def run(self, at: int, *txs: tuple[KeyPair, object]) -> list[str]:
        signed = []
        for key, payload in txs:
            signed.append(sign_tx(key, self.chain.genesis.chain_id, self.nonces[key.address],
                                  payload))
            self.nonces[key.address] += 1
        return [r.code for r in self.chain.run(signed, at).receipts]


# ---- 1. attestations belong to their issuer ---------------------------------------------------

def test_another_issuer_cannot_take_over_or_revive_a_revoked_attestation(ledger, keys):
    """Bypass: bank_a revokes alice; bank_b re-attests her at a higher tier, which overwrote
    bank_a's record, so bank_a's revocation vanished and its next revoke got UNAUTHORIZED."""
    ledger.ok(keys.bank_a, KycRevoke(keys.alice.address))
    ledger.ok(keys.bank_b, attest(keys.alice, tier=2, jurisdiction="DE"))
    # bank_a still owns its revocation: revoking again says it is revoked, not UNAUTHORIZED
    ledger.reject(E.KycRevoked, keys.bank_a, KycRevoke(keys.alice.address))
    atts = ledger.account(keys.alice).attestations
    assert atts["bank_a"].revoked and not atts["bank_b"].revoked  # bank_a's record stands
    # and bank_b's attestation is bank_b's: when bank_b revokes, nothing revives bank_a's
    ledger.ok(keys.bank_b, KycRevoke(keys.alice.address))
    ledger.reject(E.KycRevoked, keys.alice, pay(keys.bob, 10))


def test_another_issuer_cannot_overwrite_a_live_attestation(ledger, keys):
    """Bypass: any kyc_issuer replaced another issuer's attestation (here with a lower tier and
    a near expiry), taking it over."""
    ledger.ok(keys.bank_b, attest(keys.bob, tier=2))
    ledger.ok(keys.bank_a, attest(keys.bob, tier=1, expires_at=ledger.now + 1))
    atts = ledger.account(keys.bob).attestations
    assert (atts["bank_b"].tier, atts["bank_a"].tier) == (2, 1)
    # the best valid one counts: bob keeps tier 2 (a 5_000 payment is over tier 1's per_tx)
    ledger.ok(keys.bob, pay(keys.alice, 5_000), at=ledger.now + 2)
    # bank_a revokes only its own
    ledger.ok(keys.bank_a, KycRevoke(keys.bob.address))
    assert not ledger.account(keys.bob).attestations["bank_b"].revoked


def test_a_revoked_attestation_stays_revoked_for_its_issuer(ledger, keys):
    """Bypass: the issuer that revoked a customer silently re-attests it (a revoke undone
    without trace). It is refused with ATTESTATION_REVOKED."""
    ledger.ok(keys.bank_a, KycRevoke(keys.alice.address))
    err = ledger.reject(E.AttestationRevoked, keys.bank_a, attest(keys.alice, tier=2))
    assert err.code == "ATTESTATION_REVOKED"


def test_the_regulator_revokes_any_attestation(ledger, keys):
    """Bypass: only the issuer could revoke, so the regulator could not stop a customer that a
    kyc_issuer kept attested. The regulator revokes one issuer's, or every live one."""
    ledger.ok(keys.bank_b, attest(keys.alice, tier=2))
    ledger.ok(keys.regulator, KycRevoke(keys.alice.address, "bank_b"))
    atts = ledger.account(keys.alice).attestations
    assert atts["bank_b"].revoked and not atts["bank_a"].revoked
    ledger.ok(keys.alice, pay(keys.bob, 10))  # bank_a's tier 1 still counts
    ledger.ok(keys.regulator, KycRevoke(keys.alice.address))  # every live one
    assert all(a.revoked for a in ledger.account(keys.alice).attestations.values())
    ledger.reject(E.KycRevoked, keys.alice, pay(keys.bob, 10))
    # an issuer may not name another issuer's attestation
    ledger.reject(E.Unauthorized, keys.bank_a, KycRevoke(keys.bob.address, "bank_b"))
    # the regulator naming an issuer that never attested the subject
    ledger.reject(E.KycMissing, keys.regulator, KycRevoke(keys.bob.address, "bank_a"))


def test_any_valid_attestation_in_a_blocked_jurisdiction_blocks(ledger, keys):
    """Bypass: a second issuer's attestation in an allowed country hides the first issuer's
    finding that the customer is in a sanctioned one."""
    ledger.ok(keys.bank_b, attest(keys.alice, tier=2, jurisdiction="KP"))
    ledger.reject(E.JurisdictionBlocked, keys.alice, pay(keys.bob, 10))


# ---- 2. observers are not exempt ------------------------------------------------------------

def test_an_observer_only_institution_needs_an_attestation(ledger, keys):
    """Bypass: any institution with any licence skipped KYC, tiers and limits: the read-only
    observer pay_c, never attested, received 500,000 EUR and sent 400,000 on."""
    ledger.reject(E.KycMissing, keys.bank_b, Transfer("EUR", keys.pay_c.address, 500_000))
    ledger.reject(E.KycMissing, keys.pay_c, pay(keys.alice, 1))
    # attested like a customer, its tier's limits apply
    ledger.ok(keys.bank_b, attest(keys.pay_c, tier=1, jurisdiction="GB"))
    ledger.ok(keys.bank_b, Transfer("EUR", keys.pay_c.address, 5_000))
    ledger.reject(E.LimitExceeded, keys.pay_c, Transfer("EUR", keys.bob.address, 1_001))


def test_validator_kyc_issuer_and_asset_issuer_licences_exempt(ledger, keys):
    """The exempt roles: a licence as kyc_issuer (or validator, or asset_issuer) exempts the
    institution from KYC and tier limits; losing it makes it a customer again."""
    ledger.ok(keys.regulator, LicenseGrant("pay_c", "asset_issuer"))
    ledger.ok(keys.bank_b, Transfer("EUR", keys.pay_c.address, 500_000))
    ledger.ok(keys.pay_c, Transfer("EUR", keys.bob.address, 400_000))  # no tier limit
    ledger.ok(keys.regulator, LicenseRevoke("pay_c", "asset_issuer"))
    ledger.reject(E.KycMissing, keys.pay_c, Transfer("EUR", keys.bob.address, 1))


# ---- 3. an exact rolling 24 h window ----------------------------------------------------------

def test_the_daily_limit_holds_across_an_hour_boundary(ledger, keys):
    """Bypass: the window was 24 whole-hour buckets: alice (daily 2,500) sent 2,500 at hh:59 and
    2,500 again 23 h 01 min later."""
    t = T0 + 59 * 60_000  # hh:59
    for amount in (1_000, 1_000, 500):
        ledger.ok(keys.alice, pay(keys.bob, amount), at=t)
    ledger.reject(E.LimitExceeded, keys.alice, pay(keys.bob, 1), at=t + 23 * HOUR + 60_000)
    ledger.reject(E.LimitExceeded, keys.alice, pay(keys.bob, 1), at=t + DAY - 1)
    ledger.ok(keys.alice, pay(keys.bob, 1_000), at=t + DAY)  # exactly 24 h later: free again


DAILY = 2_500  # tier 1's USD limit


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(0, 6 * HOUR), st.integers(1, 1_000)),
                      min_size=1, max_size=120),
       max_spends=st.integers(1, 8))
def test_the_window_never_admits_more_than_daily_in_any_24h(genesis, steps, max_spends):
    """Property: whatever the spacing of the spends and however small the bound on kept
    entries (merging the oldest), the spends admitted within any 24 h span total at most
    `daily`."""
    status = KycStatus("US", genesis.tier(1))
    acct = Account()
    t, admitted = T0, []
    for gap, amount in steps:
        t += gap
        try:
            check_limits(status, acct, "USD", amount, Context(t))
        except E.LimitExceeded:
            continue
        apply_spend(acct, "USD", amount, t, max_spends=max_spends)
        admitted.append((t, amount))
        assert len(acct.spent["USD"]) <= max_spends
    for end, _ in admitted:  # every span (end - 24 h, end] that ends on a spend
        assert sum(a for s, a in admitted if end - DAY < s <= end) <= DAILY


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 8 * HOUR), st.integers(1, 1_000),
                                st.booleans()), min_size=1, max_size=120),
       max_spends=st.integers(1, 8))
def test_the_kept_window_total_is_the_sum_of_the_spends_in_the_window(steps, max_spends):
    """Property: the window total sent_in_window answers from the sum it keeps (a lookup) is
    always the sum of the kept spends inside the window, also after a copy or a reload from the
    wire (which keep no sum) and whatever left the window meanwhile."""
    from node.ledger.rules.limits import WINDOW_MS, sent_in_window
    acct, t = Account(), T0
    for gap, amount, reload in steps:
        t += gap
        apply_spend(acct, "USD", amount, t, max_spends=max_spends)
        acct = Account.from_wire(msgpack.unpackb(pack(acct.to_wire()))) if reload else acct.copy()
        for probe in (t, t + DAY // 2, t + DAY - 1, t + DAY):
            want = sum(v for s, v in acct.spent["USD"] if s > probe - WINDOW_MS)
            assert sent_in_window(acct, "USD", probe) == want


# ---- 4. a frozen institution is inert -------------------------------------------------------

def test_a_frozen_institution_can_do_nothing_but_be_unfrozen(ledger, keys):
    """Bypass: frozen bank_a still issued 1,000,000 USD, redeemed, attested and clawed back.
    Every kind its authority key sends is refused with FROZEN; the regulator still acts."""
    ledger.ok(keys.regulator, Freeze(keys.bank_a.address))
    for payload in (Issue("USD", keys.alice.address, 1_000_000), Redeem("USD", 1),
                    attest(keys.carol), KycRevoke(keys.alice.address),
                    Clawback("USD", keys.alice.address, 1, "fraud"), AssetFreeze("USD"),
                    pay(keys.alice, 1)):
        ledger.reject(E.Frozen, keys.bank_a, payload)
    assert ledger.view.supply("USD") == ledger.state.supply("USD")
    ledger.ok(keys.regulator, Freeze(keys.bank_b.address))  # the regulator is never frozen out
    ledger.ok(keys.regulator, Unfreeze(keys.bank_a.address))
    ledger.ok(keys.bank_a, Issue("USD", keys.alice.address, 1_000))


# ---- 5. licences with an end -----------------------------------------------------------------

def test_a_licence_lapses_at_its_expiry_by_block_time(chain, keys):
    """Bypass: licences never lapsed; a pilot kyc_issuer licence went on forever. Past its
    expires_at the licence counts as revoked at that block's time."""
    b = Blocks(chain)
    ends = T0 + 2 * HOUR
    assert b.run(T0 + HOUR, (keys.regulator, LicenseGrant("pay_c", "kyc_issuer", ends)),
                 (keys.pay_c, attest(keys.carol)), (keys.carol, pay(keys.alice, 5))) == [""] * 3
    assert chain.state.roles("pay_c") == {"observer", "kyc_issuer"}
    # the block at the expiry sweeps the licence before its transactions
    assert b.run(ends, (keys.carol, pay(keys.alice, 5)),
                 (keys.pay_c, attest(keys.frank))) == ["ISSUER_NOT_LICENSED", "NOT_LICENSED"]
    assert chain.state.roles("pay_c") == {"observer"}
    assert chain.state.license_expiries() == ()


def test_a_licence_cannot_be_granted_already_ended(ledger, keys):
    ledger.reject(E.LicenseExpired, keys.regulator,
                  LicenseGrant("pay_c", "kyc_issuer", ledger.now))
    ledger.ok(keys.regulator, LicenseGrant("pay_c", "kyc_issuer", ledger.now + 1))


def test_a_grant_without_expiry_makes_a_lapsing_licence_permanent(chain, keys):
    b = Blocks(chain)
    assert b.run(T0 + HOUR, (keys.regulator, LicenseGrant("pay_c", "asset_issuer", T0 + DAY)),
                 (keys.regulator, LicenseGrant("pay_c", "asset_issuer"))) == ["", ""]
    b.run(T0 + 2 * DAY, (keys.regulator, Unfreeze(keys.carol.address)))
    assert "asset_issuer" in chain.state.roles("pay_c")


# ---- 6. a re-grant does not revive attestations ---------------------------------------------

def test_regranting_kyc_issuer_does_not_revive_its_attestations(ledger, keys):
    """Bypass: revoking bank_a's kyc_issuer licence and granting it again silently revived
    every attestation bank_a had issued before, with no new KYC."""
    ledger.ok(keys.regulator, LicenseRevoke("bank_a", "kyc_issuer"))
    ledger.ok(keys.regulator, LicenseGrant("bank_a", "kyc_issuer"))
    ledger.reject(E.IssuerNotLicensed, keys.alice, pay(keys.bob, 10))
    # bank_a attests her again, in its new epoch
    ledger.ok(keys.bank_a, attest(keys.alice, tier=1))
    ledger.ok(keys.alice, pay(keys.bob, 10))


def test_a_lapsed_kyc_issuer_regranted_with_restore_attestations_gets_them_back(chain, keys):
    """After a lapse, a plain re-grant voids the earlier attestations (as after a revoke);
    `restore_attestations` is the regulator saying the gap did not taint them."""
    b = Blocks(chain)
    b.run(T0 + HOUR, (keys.regulator, LicenseGrant("pay_c", "kyc_issuer", T0 + 2 * HOUR)),
          (keys.pay_c, attest(keys.carol)))
    assert b.run(T0 + 3 * HOUR, (keys.carol, pay(keys.alice, 5))) == ["ISSUER_NOT_LICENSED"]
    assert b.run(T0 + 4 * HOUR, (keys.regulator, LicenseGrant("pay_c", "kyc_issuer",
                                                              restore_attestations=True)),
                 (keys.carol, pay(keys.alice, 5))) == ["", ""]


# ---- 7. the regulator's emergency revoke ----------------------------------------------------

def test_the_regulator_can_emergency_revoke_under_majority_policy(gov, keys):
    """Bypass: on a `majority` chain the regulator could not revoke a licence at all, however
    urgent. An emergency revoke works, is recorded in the tx, and keeps the last validator."""
    gov.reject(E.GovernanceRequired, keys.regulator, LicenseRevoke("pay_c", "validator"))
    tx = gov.ok(keys.regulator, LicenseRevoke("pay_c", "validator", emergency=True))
    assert tx.payload.emergency and msgpack.unpackb(tx.raw)[4][-1] is True
    assert "validator" not in gov.view.roles("pay_c")
    gov.reject(E.NotLicensed, keys.bank_a, LicenseRevoke("bank_b", "validator", emergency=True))
    gov.ok(keys.regulator, LicenseRevoke("bank_b", "validator", emergency=True))
    gov.reject(E.LastValidator, keys.regulator,
               LicenseRevoke("bank_a", "validator", emergency=True))
    # grants stay the majority's
    gov.reject(E.GovernanceRequired, keys.regulator, LicenseGrant("pay_c", "validator"))


# ---- the wire: optional trailing fields -----------------------------------------------------

def test_new_optional_fields_keep_old_encodings_and_one_encoding_each():
    """A licence change without the new fields encodes exactly as before (2 fields); a new
    field sent explicitly at its default is MALFORMED, so each payload has one encoding."""
    assert LicenseGrant("pay_c", "kyc_issuer").to_wire() == ["pay_c", "kyc_issuer"]
    assert LicenseGrant("pay_c", "kyc_issuer", 5).to_wire() == ["pay_c", "kyc_issuer", 5]
    assert LicenseGrant("pay_c", "kyc_issuer", 0, True).to_wire() == ["pay_c", "kyc_issuer", 0,
                                                                       True]
    assert LicenseGrant.from_wire(["pay_c", "kyc_issuer"]) == LicenseGrant("pay_c", "kyc_issuer")
    for bad in (["pay_c", "kyc_issuer", 0], ["pay_c", "kyc_issuer", 5, False]):
        with pytest.raises(E.Malformed):
            LicenseGrant.from_wire(bad)
    with pytest.raises(E.Malformed):
        KycRevoke.from_wire([b"\x01" * 32, ""])
    assert pack(KycRevoke(b"\x01" * 32).to_wire()) == pack([b"\x01" * 32])
