"""Policy on chain: jurisdiction_block / jurisdiction_unblock change the blocked set, tier_set the
KYC tiers, without a new chain (node.ledger.rules.policy). The test genesis blocks IR and KP;
alice is US (tier 1: USD per_tx 1_000, daily 2_500), bob DE, dave KP."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger.genesis import Genesis
from node.ledger.mempool import Mempool
from node.ledger.rules import SignatureCache, expected_membership
from node.ledger.state import State
from node.ledger.types import (
    InstitutionAdd,
    Issue,
    JurisdictionBlock,
    JurisdictionUnblock,
    KycAttest,
    LicenseGrant,
    TierSet,
    Transfer,
    sign_tx,
)
from node.ledger.verify import verify_chain

from .support import HOUR, T0, YEAR_LATER, Chain, Ledger, key_for, majority_genesis_doc


@pytest.fixture
def ledger(genesis) -> Ledger:
    return Ledger(genesis)


def test_only_the_regulator_changes_the_blocked_set(ledger, keys):
    """Attack: an institution lifts a sanctions block (or imposes one on a rival's customers)."""
    ledger.reject(E.NotLicensed, keys.bank_a, JurisdictionUnblock("KP"))
    ledger.reject(E.NotLicensed, keys.bank_b, JurisdictionBlock("US"))
    ledger.reject(E.NotLicensed, keys.alice, JurisdictionBlock("DE"))
    assert ledger.view.blocked_jurisdictions() == {"IR", "KP"}
    ledger.ok(keys.regulator, JurisdictionBlock("DE"))
    assert ledger.view.blocked_jurisdictions() == {"DE", "IR", "KP"}


def test_the_regulator_decides_under_majority_licensing_too(keys):
    """Under `majority` the validators vote on licences, not on the sanctions list: a validator
    still cannot unblock, the regulator still can block at once."""
    ledger = Ledger(Genesis.from_json(majority_genesis_doc(keys)))
    ledger.reject(E.NotLicensed, keys.bank_a, JurisdictionUnblock("KP"))
    ledger.ok(keys.regulator, JurisdictionBlock("DE"))
    ledger.ok(keys.regulator, JurisdictionUnblock("KP"))
    assert ledger.view.blocked_jurisdictions() == {"DE", "IR"}


def test_a_block_adds_an_unblocked_one_and_an_unblock_removes_a_blocked_one(ledger, keys):
    ledger.reject(E.AlreadyBlocked, keys.regulator, JurisdictionBlock("KP"))
    ledger.reject(E.NotBlocked, keys.regulator, JurisdictionUnblock("DE"))


def test_a_newly_blocked_jurisdiction_is_refused_from_that_block_on(genesis, keys):
    """Attack: a sanctions update is published, but payments to and from the newly listed
    jurisdiction keep flowing (today's chain reads genesis only). From the block that commits
    the block, bob (DE) can neither receive, send nor be issued to; an unblock restores him."""
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    pay_bob = sign_tx(keys.alice, g, 0, Transfer("USD", keys.bob.address, 10, ""))
    assert chain.run([pay_bob], T0 + HOUR).receipts[0].ok
    block = sign_tx(keys.regulator, g, 0, JurisdictionBlock("DE"))
    after = [sign_tx(keys.alice, g, 1, Transfer("USD", keys.bob.address, 10, "")),
             sign_tx(keys.bob, g, 0, Transfer("USD", keys.alice.address, 10, "")),
             sign_tx(keys.bank_a, g, 0, Issue("USD", keys.bob.address, 10))]
    result = chain.run([block, *after], T0 + 2 * HOUR)
    assert [r.ok for r in result.receipts] == [True, False, False, False]
    assert {r.code for r in result.receipts[1:]} == {"JURISDICTION_BLOCKED"}
    unblock = sign_tx(keys.regulator, g, 1, JurisdictionUnblock("DE"))
    again = sign_tx(keys.alice, g, 2, Transfer("USD", keys.bob.address, 10, ""))
    assert all(r.ok for r in chain.run([unblock, again], T0 + 3 * HOUR).receipts)
    assert chain.state.account(keys.bob.address).balance("USD") == 500_020


def test_unblocking_a_genesis_jurisdiction_lets_its_parties_pay(genesis, keys):
    """The genesis set is only the initial value: dave (KP) pays once KP is unblocked."""
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    pay = sign_tx(keys.dave, g, 0, Transfer("USD", keys.bob.address, 10, ""))
    assert chain.run([pay], T0 + HOUR).receipts[0].code == "JURISDICTION_BLOCKED"
    unblock = sign_tx(keys.regulator, g, 0, JurisdictionUnblock("KP"))
    pay = sign_tx(keys.dave, g, 1, Transfer("USD", keys.bob.address, 10, ""))
    assert [r.ok for r in chain.run([unblock, pay], T0 + 2 * HOUR).receipts] == [True, True]


def test_pool_admission_reads_the_blocked_set_of_the_committed_state(genesis, keys):
    """The pool uses the same rule: after the block commits, a payment to bob is refused at
    admission, and one the pool held from before is dropped by the re-check with the code."""
    chain = Chain(genesis, keys.bank_a)
    pool = Mempool(chain.state, SignatureCache(), clock=lambda: (T0 + HOUR) / 1000)
    g = genesis.chain_id
    held = sign_tx(keys.alice, g, 0, Transfer("USD", keys.bob.address, 10, ""))
    assert pool.add(held) == [] and held.hash in pool
    block = sign_tx(keys.regulator, g, 0, JurisdictionBlock("DE"))
    result = chain.run([block], T0 + HOUR)
    dropped = pool.block_committed([block.hash], all(r.ok for r in result.receipts), T0 + HOUR)
    assert [(d.tx.hash, d.error.code) for d in dropped] == [(held.hash, "JURISDICTION_BLOCKED")]
    with pytest.raises(E.JurisdictionBlocked):
        pool.add(sign_tx(keys.bob, g, 0, Transfer("USD", keys.alice.address, 1, "")))


def test_the_blocked_set_is_a_state_record_replay_reaches_the_same_hash(genesis, keys):
    """The blocked set is in the state hash (record b"j"), reloads from the store's records, and
    a chain replay from genesis reaches the same state hash. Genesis writes no record."""
    assert not any(k.startswith(b"j") for k, _ in State.from_genesis(genesis).records())
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    r1 = chain.run([sign_tx(keys.regulator, g, 0, JurisdictionBlock("DE"))], T0 + HOUR)
    r2 = chain.run([sign_tx(keys.regulator, g, 1, JurisdictionUnblock("KP"))], T0 + 2 * HOUR)
    assert any(k.startswith(b"j") for k, _ in r1.changes)
    plain = Chain(genesis, keys.bank_a).run([], T0 + HOUR)
    assert r1.state_hash != plain.state_hash
    reloaded = State(genesis)
    for k, v in chain.state.records():
        reloaded.load_record(k, v)
    assert reloaded.blocked_jurisdictions() == {"DE", "IR"}
    report = verify_chain(genesis, [(r1.block.encode(), r1.state_hash),
                                    (r2.block.encode(), r2.state_hash)])
    assert report.ok and report.height == 2 and report.state_hash == r2.state_hash


# ---- tier_set ----------------------------------------------------------------------------------

LOWER = TierSet(1, "basic", (("EUR", 1_000, 2_500), ("USD", 500, 1_000)))


def test_only_the_regulator_sets_tiers(ledger, keys):
    """Attack: an issuer raises the limits of its customers' tier (or a customer its own)."""
    lax = TierSet(1, "basic", (("USD", 10**9, 10**12),))
    for who in (keys.bank_a, keys.pay_c, keys.alice):
        ledger.reject(E.NotLicensed, who, lax)
    ledger.ok(keys.regulator, LOWER)
    assert ledger.view.tier(1).limits["USD"].daily == 1_000


def test_lowering_a_tier_binds_the_next_transfer_and_counts_the_window(genesis, keys):
    """Attack: limits are lowered (a risk review) but a customer keeps the old allowance. From
    the tier_set's block alice is held to the new per_tx, and what she sent in the last 24 h
    counts against the new daily limit."""
    chain = Chain(genesis, keys.bank_a)
    g, bob = genesis.chain_id, keys.bob.address
    assert chain.run([sign_tx(keys.alice, g, 0, Transfer("USD", bob, 900, ""))],
                     T0 + HOUR).receipts[0].ok
    result = chain.run([sign_tx(keys.regulator, g, 0, LOWER),
                        sign_tx(keys.alice, g, 1, Transfer("USD", bob, 600, "")),  # over per_tx
                        sign_tx(keys.alice, g, 2, Transfer("USD", bob, 400, "")),  # 900+400 > 1000
                        sign_tx(keys.alice, g, 3, Transfer("USD", bob, 100, ""))],  # 1000: ok
                       T0 + 2 * HOUR)
    assert [r.code for r in result.receipts] == ["", "LIMIT_EXCEEDED", "LIMIT_EXCEEDED", ""]
    assert "per-transaction limit of 500" in result.receipts[1].message
    assert "24 h limit of 1000" in result.receipts[2].message


def test_a_tier_is_replaced_whole_an_asset_it_drops_cannot_be_sent(ledger, keys):
    ledger.ok(keys.regulator, TierSet(1, "basic", (("EUR", 1_000, 2_500),)))
    err = ledger.reject(E.LimitExceeded, keys.alice, Transfer("USD", keys.bob.address, 1, ""))
    assert "may not send USD" in err.message
    ledger.ok(keys.alice, Transfer("EUR", keys.bob.address, 1, ""))


def test_a_new_tier_can_be_attested_from_its_block_on(ledger, keys):
    attest = KycAttest(keys.carol.address, 7, "FR", YEAR_LATER, b"\x01" * 32)
    ledger.reject(E.UnknownTier, keys.bank_a, attest)
    ledger.ok(keys.regulator, TierSet(7, "corporate", (("USD", 50_000, 500_000),)))
    ledger.ok(keys.bank_a, attest)
    ledger.ok(keys.bank_a, Issue("USD", keys.carol.address, 60_000))
    ledger.reject(E.LimitExceeded, keys.carol, Transfer("USD", keys.bob.address, 50_001, ""))
    ledger.ok(keys.carol, Transfer("USD", keys.bob.address, 50_000, ""))


def test_tier_limits_name_known_assets_per_tx_within_daily_and_one_encoding(ledger, keys):
    ledger.reject(E.BadTierLimits, keys.regulator, TierSet(1, "basic", (("USD", 11, 10),)))
    ledger.reject(E.UnknownAsset, keys.regulator, TierSet(1, "basic", (("XAU", 1, 10),)))
    for bad in ([["USD", 1, 2], ["EUR", 1, 2]], [["USD", 1, 2], ["USD", 1, 2]], [["USD", 1]],
                "USD"):
        with pytest.raises(E.Malformed):
            TierSet.from_wire([1, "basic", bad])
    with pytest.raises(E.Malformed, match="must not be empty"):
        TierSet.from_wire([1, "", []])


def test_tiers_are_state_records_and_replay_to_the_same_hash(genesis, keys):
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    r1 = chain.run([sign_tx(keys.regulator, g, 0, LOWER),
                    sign_tx(keys.regulator, g, 1, TierSet(9, "new", ()))], T0 + HOUR)
    assert [k for k, _ in r1.changes if k.startswith(b"t")] == [b"t\x01", b"t\x09"]
    reloaded = State(genesis)
    for k, v in chain.state.records():
        reloaded.load_record(k, v)
    assert reloaded.tier(1) == chain.state.tier(1) and reloaded.tier(1).limits["USD"].per_tx == 500
    assert reloaded.tier(2) == genesis.tier(2) and reloaded.tier(9).limits == {}
    assert [t.tier for t in reloaded.current_tiers()] == [1, 2, 9]
    report = verify_chain(genesis, [(r1.block.encode(), r1.state_hash)])
    assert report.ok and report.state_hash == r1.state_hash


# ---- institution_add ---------------------------------------------------------------------------

NEWBANK = key_for("bank_z node")
NEWAUTH = key_for("bank_z authority")
ADD_Z = InstitutionAdd("bank_z", "Bank Z", "FR", NEWBANK.address, NEWAUTH.address,
                       "https://z.example:7000")


def test_only_the_regulator_adds_an_institution(ledger, keys):
    """Attack: a licensed institution adds a puppet institution (then votes it in)."""
    for who in (keys.bank_a, keys.pay_c, keys.alice):
        ledger.reject(E.NotLicensed, who, ADD_Z)
    ledger.ok(keys.regulator, ADD_Z)


def test_the_name_is_new_and_the_keys_are_nobodys(ledger, keys):
    """Attack: an added institution that takes an existing name or key would speak for it."""
    ledger.reject(E.InstitutionExists, keys.regulator,
                  InstitutionAdd("bank_a", "", "US", NEWBANK.address, NEWBANK.address, ""))
    for taken in (keys.bank_a, keys.regulator):
        ledger.reject(E.KeyInUse, keys.regulator,
                      InstitutionAdd("bank_z", "", "FR", taken.address, NEWAUTH.address, ""))
        ledger.reject(E.KeyInUse, keys.regulator,
                      InstitutionAdd("bank_z", "", "FR", NEWBANK.address, taken.address, ""))
    ledger.ok(keys.regulator, ADD_Z)
    ledger.reject(E.InstitutionExists, keys.regulator, ADD_Z)


def test_an_added_institution_exists_unlicensed_until_granted(genesis, keys):
    """From its block it exists: licences can be granted to it, and only then does it act (its
    authority key issues nothing while unlicensed; once kyc_issuer, it attests)."""
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    attest = KycAttest(keys.carol.address, 1, "FR", YEAR_LATER, b"\x01" * 32)
    grant_early = sign_tx(keys.regulator, g, 0, LicenseGrant("bank_z", "kyc_issuer"))
    assert chain.run([grant_early], T0 + HOUR).receipts[0].code == "UNKNOWN_INSTITUTION"
    result = chain.run([sign_tx(keys.regulator, g, 1, ADD_Z),
                        sign_tx(NEWAUTH, g, 0, attest),
                        sign_tx(keys.regulator, g, 2, LicenseGrant("bank_z", "kyc_issuer")),
                        sign_tx(NEWAUTH, g, 1, attest)], T0 + 2 * HOUR)
    assert [r.code for r in result.receipts] == ["", "NOT_LICENSED", "", ""]
    s = chain.state
    z = s.institution("bank_z")
    assert z is not None and z.jurisdiction == "FR" and s.roles("bank_z") == {"kyc_issuer"}
    assert s.institution_by_authority_key(NEWAUTH.address) == z
    assert s.institution_by_node_key(NEWBANK.address) == z
    assert "bank_z" in {i.name for i in s.institutions()}
    assert s.account(keys.carol.address).attestations["bank_z"].tier == 1


def test_an_added_institution_is_a_state_record_and_replays(genesis, keys):
    chain = Chain(genesis, keys.bank_a)
    g = genesis.chain_id
    r1 = chain.run([sign_tx(keys.regulator, g, 0, ADD_Z),
                    sign_tx(keys.regulator, g, 1, LicenseGrant("bank_z", "observer"))], T0 + HOUR)
    assert all(r.ok for r in r1.receipts)
    assert any(k == b"nbank_z" for k, _ in r1.changes)
    reloaded = State(genesis)
    for k, v in chain.state.records():
        reloaded.load_record(k, v)
    assert reloaded.institution("bank_z") == chain.state.institution("bank_z")
    assert reloaded.institution_by_node_key(NEWBANK.address).name == "bank_z"
    assert NEWBANK.address_hex in expected_membership(reloaded).learners
    report = verify_chain(genesis, [(r1.block.encode(), r1.state_hash)])
    assert report.ok and report.state_hash == r1.state_hash
