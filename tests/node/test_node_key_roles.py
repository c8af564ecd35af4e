"""Two keys per institution: the node key runs the node (proposes, votes, peers), the authority
key signs the institution's transactions. A genesis that names no authority key keeps one key
for both."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger.execution import InvalidBlock
from node.ledger.genesis import Genesis, GenesisError
from node.ledger.rules import expected_membership, is_licensed_peer, is_licensed_validator
from node.ledger.state import State
from node.ledger.types import (
    Clawback,
    GovernancePropose,
    Issue,
    KycAttest,
    LicenseAction,
    Role,
    Transfer,
)

from .support import HOUR, T0, YEAR_LATER, Chain, Ledger, genesis_doc, key_for, majority_genesis_doc

AUTH_A = key_for("bank_a authority")
AUTH_B = key_for("bank_b authority")


def with_authorities(doc: dict) -> dict:
    """bank_a and bank_b name authority keys apart from their node keys."""
    by_name = {i["name"]: i for i in doc["institutions"]}
    by_name["bank_a"]["authority_key"] = AUTH_A.address_hex
    by_name["bank_b"]["authority_key"] = AUTH_B.address_hex
    return doc


@pytest.fixture
def split(keys) -> Ledger:
    return Ledger(Genesis.from_json(with_authorities(genesis_doc(keys))))


def test_the_node_key_can_no_longer_issue_or_attest_once_an_authority_key_is_named(split, keys):
    """Attack: a compromised node host (its online key) mints USD or attests a sybil's KYC. With
    an authority key named in genesis the node key is an ordinary account."""
    split.reject(E.NotLicensed, keys.bank_a, Issue("USD", keys.alice.address, 5_000))
    split.reject(E.NotLicensed, keys.bank_a,
                 KycAttest(keys.carol.address, 2, "FR", YEAR_LATER, b"\x01" * 32))
    split.reject(E.NotLicensed, keys.bank_a, Clawback("USD", keys.alice.address, 1, "fraud"))


def test_the_authority_key_issues_and_attests(split, keys):
    split.ok(AUTH_A, Issue("USD", keys.alice.address, 5_000))
    assert split.balance(keys.alice, "USD") == 15_000
    split.ok(AUTH_A, KycAttest(keys.carol.address, 2, "FR", YEAR_LATER, b"\x01" * 32))
    assert list(split.account(keys.carol).attestations) == ["bank_a"]


def test_the_node_key_needs_kyc_like_any_account_and_skips_no_limits(split, keys):
    """The institution's exemption from KYC and tier limits follows the authority key."""
    split.reject(E.KycMissing, keys.bank_a, Transfer("USD", keys.alice.address, 5, ""))


def test_the_node_key_cannot_vote_in_governance(keys):
    gov = Ledger(Genesis.from_json(with_authorities(majority_genesis_doc(keys))))
    propose = GovernancePropose(LicenseAction.GRANT, "pay_c", Role.KYC_ISSUER, T0 + 48 * HOUR)
    gov.reject(E.NotLicensed, keys.bank_a, propose)
    gov.ok(AUTH_A, propose)


def test_the_authority_key_cannot_propose_blocks_or_peer(keys):
    """Attack: the authority key (kept offline) should never run the node: a block it signs as
    proposer is invalid, and it is no licensed peer nor Raft member."""
    genesis = Genesis.from_json(with_authorities(genesis_doc(keys)))
    state = State.from_genesis(genesis)
    assert not is_licensed_validator(state, AUTH_A.address)
    assert not is_licensed_peer(state, AUTH_A.address)
    assert is_licensed_validator(state, keys.bank_a.address)
    assert is_licensed_peer(state, keys.bank_a.address)
    assert expected_membership(state).voters == tuple(sorted((keys.bank_a.address_hex,
                                                              keys.bank_b.address_hex)))
    by_authority = Chain(genesis, AUTH_A)
    with pytest.raises(InvalidBlock, match="validator"):
        by_authority.execute(by_authority.block([], T0 + HOUR))
    assert Chain(genesis, keys.bank_a).run([], T0 + HOUR).block.header.height == 1


def test_a_genesis_without_authority_keys_uses_the_node_key_for_both(genesis, keys):
    inst = genesis.institution("bank_a")
    assert inst.authority == inst.key == keys.bank_a.address
    assert genesis.institution_by_authority(keys.bank_a.address) is inst
    assert "authority_key" not in genesis.to_json()["institutions"][0]


def test_naming_the_node_key_as_authority_is_naming_none(keys, genesis):
    doc = genesis_doc(keys)
    doc["institutions"][0]["authority_key"] = keys.bank_a.address_hex
    assert Genesis.from_json(doc).chain_id == genesis.chain_id


def test_authority_keys_are_part_of_the_chain_and_round_trip(keys, genesis):
    split = Genesis.from_json(with_authorities(genesis_doc(keys)))
    assert split.chain_id != genesis.chain_id
    again = Genesis.from_json(split.to_json())
    assert again.chain_id == split.chain_id
    assert again.institution("bank_a").authority == AUTH_A.address


def test_an_authority_key_that_is_another_institutions_key_is_refused(keys):
    doc = genesis_doc(keys)
    doc["institutions"][0]["authority_key"] = keys.bank_b.address_hex
    with pytest.raises(GenesisError, match="authority key"):
        Genesis.from_json(doc)
