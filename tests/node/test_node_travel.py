"""The travel rule (node.ledger.rules.travel). Test genesis: alice US (bank_a's customer, tier 1
USD per_tx 1_000), bob DE (bank_b's, tier 2 per_tx 100_000); bank_a is a US institution. USD
gets a report threshold of 1_000 here."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger.codec import pack, sha256
from node.ledger.types import (
    AssetUpdate,
    KycAttest,
    KycRevoke,
    Transfer,
    decode_tx,
    sign_tx,
)

from .support import YEAR_LATER, Ledger

RECORD = sha256(b"salt" + b"IVMS101 record of bob and alice")


@pytest.fixture
def ledger(genesis, keys) -> Ledger:
    ledger = Ledger(genesis)
    ledger.ok(keys.regulator, AssetUpdate("USD", False, 0, 1_000))
    return ledger


def bob_pays_alice(keys, amount: int = 1_000, rule=()) -> Transfer:
    return Transfer("USD", keys.alice.address, amount, "", rule)


def test_a_cross_border_transfer_at_the_threshold_needs_travel_rule_data(ledger, keys):
    """Attack: a DE -> US payment at the reporting threshold leaves out who the originating and
    beneficiary institutions are, so neither side can screen the other's customer."""
    ledger.reject(E.TravelRuleRequired, keys.bob, bob_pays_alice(keys))
    ledger.ok(keys.bob, bob_pays_alice(keys, 999))  # below the threshold
    ledger.ok(keys.bob, bob_pays_alice(keys, rule=("bank_b", "bank_a", RECORD)))
    assert ledger.view.account(keys.alice.address).balance("USD") == 11_999


def test_within_one_jurisdiction_none_is_required(ledger, keys):
    ledger.ok(keys.bank_a, Transfer("USD", keys.alice.address, 5_000))  # US -> US


def test_no_threshold_none_is_required(genesis, keys):
    Ledger(genesis).ok(keys.bob, bob_pays_alice(keys, 50_000))


def test_the_originator_must_know_the_sender(ledger, keys):
    """Attack: the travel rule names an institution that never vetted the sender as its
    originator (a respectable name on a payment from someone else's customer)."""
    ledger.reject(E.OriginatorMismatch, keys.bob,
                  bob_pays_alice(keys, rule=("bank_a", "bank_a", RECORD)))
    ledger.reject(E.OriginatorMismatch, keys.bob,
                  bob_pays_alice(keys, 10, rule=("pay_c", "bank_a", RECORD)))  # given: checked


def test_the_beneficiary_must_hold_a_valid_attestation_of_the_recipient(ledger, keys):
    """Attack: the beneficiary institution is one whose attestation of the recipient was
    revoked (or that never attested it): the payment would reach an unvetted customer's
    account under another's name."""
    ledger.reject(E.BeneficiaryMismatch, keys.bob,
                  bob_pays_alice(keys, rule=("bank_b", "bank_b", RECORD)))
    ledger.ok(keys.bank_b, KycAttest(keys.alice.address, 1, "US", YEAR_LATER, RECORD))
    ledger.ok(keys.bank_a, KycRevoke(keys.alice.address))  # alice stays valid: bank_b's
    ledger.reject(E.BeneficiaryMismatch, keys.bob,
                  bob_pays_alice(keys, rule=("bank_b", "bank_a", RECORD)))
    ledger.ok(keys.bob, bob_pays_alice(keys, rule=("bank_b", "bank_b", RECORD)))


def test_an_exempt_institution_is_its_own_originator(ledger, keys):
    ledger.ok(keys.bank_a, Transfer("USD", keys.bob.address, 5_000, "", ("bank_a", "bank_b",
                                                                       RECORD)))
    ledger.reject(E.OriginatorMismatch, keys.bank_a,
                  Transfer("USD", keys.bob.address, 5_000, "", ("bank_b", "bank_b", RECORD)))


def test_old_transfer_encodings_are_unchanged_and_an_empty_rule_is_malformed(genesis, keys):
    plain = Transfer("USD", keys.alice.address, 5, "rent")
    assert plain.to_wire() == ["USD", keys.alice.address, 5, "rent"]
    with_rule = Transfer("USD", keys.alice.address, 5, "rent", ("bank_b", "bank_a", RECORD))
    tx = sign_tx(keys.bob, genesis.chain_id, 0, with_rule)
    assert decode_tx(tx.raw).payload == with_rule
    body = [genesis.chain_id, "transfer", keys.bob.address, 0,
            ["USD", keys.alice.address, 5, "rent", []]]
    with pytest.raises(E.Malformed):
        decode_tx(pack(body + [keys.bob.sign(pack(body))]))
