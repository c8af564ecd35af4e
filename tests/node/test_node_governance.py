"""Governance of licenses (node.ledger.rules.governance).

Under genesis license_policy "majority", a strict majority of the institutions licensed as
validator at the moment decides license changes (governance_propose / governance_approve);
under "regulator" (the default) the regulator alone does (license_grant / license_revoke).
The world is tests/node/support.py's: `gov` is a Ledger on majority_genesis_doc, whose
validators are bank_a, bank_b and pay_c (a majority is two) and whose obs_d is an observer.
"""
from __future__ import annotations

import pytest

from devnet import key_names, make_genesis
from node.ledger import errors as E
from node.ledger.crypto import KeyPair
from node.ledger.genesis import Genesis, GenesisError
from node.ledger.mempool import COMMUTATIVE_KINDS
from node.ledger.rules import licensed_validators as validators
from node.ledger.state import APPLIED, OPEN, PROPOSAL, Proposal, State
from node.ledger.types import (
    GovernanceApprove,
    GovernancePropose,
    LicenseGrant,
    LicenseRevoke,
    Payload,
    Transaction,
    sign_tx,
)

from .support import DAY, HOUR, T0, Chain, genesis_doc, majority_genesis_doc

EXPIRES = T0 + DAY


def propose(action: str = "license_grant", institution: str = "obs_d", role: str = "kyc_issuer",
            expires_at: int = EXPIRES) -> GovernancePropose:
    return GovernancePropose(action, institution, role, expires_at)


def approve(proposal_tx: Transaction) -> GovernanceApprove:
    return GovernanceApprove(proposal_tx.hash)


def signed(chain: Chain, key: KeyPair, payload: Payload, nonce: int) -> Transaction:
    return sign_tx(key, chain.genesis.chain_id, nonce, payload)


# ---- the majority decides --------------------------------------------------------------------

def test_the_approval_that_reaches_a_majority_applies_the_change_and_not_before(gov, keys):
    p = gov.ok(keys.bank_a, propose())
    assert gov.view.roles("obs_d") == {"observer"}  # the proposer alone: 1 of 3
    assert gov.view.proposal(p.hash) == Proposal("license_grant", "obs_d", "kyc_issuer", EXPIRES,
                                                 "bank_a", ("bank_a",), OPEN)
    gov.ok(keys.pay_c, approve(p))  # 2 of 3
    assert gov.view.roles("obs_d") == {"observer", "kyc_issuer"}
    assert gov.view.proposal(p.hash).approvals == ("bank_a", "pay_c")
    assert gov.view.proposal(p.hash).status == APPLIED


def test_an_applied_proposal_takes_no_more_approvals(gov, keys):
    p = gov.ok(keys.bank_a, propose())
    gov.ok(keys.bank_b, approve(p))
    gov.reject(E.ProposalClosed, keys.pay_c, approve(p))


def test_a_majority_revokes_a_role_as_license_revoke_does(gov, keys):
    p = gov.ok(keys.bank_b, propose("license_revoke", "bank_a", "kyc_issuer"))
    gov.ok(keys.pay_c, approve(p))
    assert gov.view.roles("bank_a") == {"validator", "asset_issuer"}


def test_regulator_license_changes_are_refused_under_majority(gov, keys):
    gov.reject(E.GovernanceRequired, keys.regulator, LicenseGrant("obs_d", "kyc_issuer"))
    gov.reject(E.GovernanceRequired, keys.regulator, LicenseRevoke("bank_a", "validator"))


def test_regulator_license_changes_are_accepted_under_the_regulator_policy(ledger, keys):
    assert ledger.genesis.license_policy == "regulator"
    ledger.ok(keys.regulator, LicenseGrant("pay_c", "kyc_issuer"))
    assert ledger.view.roles("pay_c") == {"observer", "kyc_issuer"}


def test_governance_is_refused_under_the_regulator_policy(ledger, keys):
    ledger.reject(E.GovernanceDisabled, keys.bank_a, propose(institution="pay_c"))
    ledger.reject(E.GovernanceDisabled, keys.bank_b, GovernanceApprove(b"\x01" * 32))


# ---- who may propose and approve -------------------------------------------------------------

@pytest.mark.parametrize("who", ["obs_d", "alice", "regulator", "frank"],
                         ids=["observer-institution", "customer", "regulator", "stranger"])
def test_only_validator_institutions_propose_or_approve(gov, keys, who):
    p = gov.ok(keys.bank_a, propose())
    gov.reject(E.NotLicensed, getattr(keys, who), propose())
    gov.reject(E.NotLicensed, getattr(keys, who), approve(p))


def test_an_approver_that_lost_its_validator_license_no_longer_counts(gov, keys):
    p = gov.ok(keys.bank_a, propose())  # bank_a approves: 1 of 3
    q = gov.ok(keys.bank_b, propose("license_revoke", "bank_a", "validator"))
    gov.ok(keys.pay_c, approve(q))
    assert validators(gov.view) == {"bank_b", "pay_c"}

    gov.reject(E.NotLicensed, keys.bank_a, approve(p))
    gov.ok(keys.bank_b, approve(p))  # bank_a's approval no longer counts: 1 of 2
    assert gov.view.roles("obs_d") == {"observer"}
    assert gov.view.proposal(p.hash).status == OPEN
    gov.ok(keys.pay_c, approve(p))  # 2 of 2
    assert gov.view.roles("obs_d") == {"observer", "kyc_issuer"}


def test_a_new_validator_raises_the_bar(gov, keys):
    p = gov.ok(keys.bank_a, propose(role="validator"))
    gov.ok(keys.bank_b, approve(p))
    assert validators(gov.view) == {"bank_a", "bank_b", "pay_c", "obs_d"}

    q = gov.ok(keys.obs_d, propose("license_revoke", "pay_c", "validator"))
    gov.ok(keys.bank_a, approve(q))  # 2 of 4 is not a strict majority
    assert "validator" in gov.view.roles("pay_c")
    gov.ok(keys.bank_b, approve(q))  # 3 of 4
    assert "validator" not in gov.view.roles("pay_c")


# ---- proposals: expiry, double approval, unknown ids -----------------------------------------

def test_an_expired_proposal_takes_no_approvals(gov, keys):
    p = gov.ok(keys.bank_a, propose(expires_at=T0 + HOUR))
    gov.reject(E.ProposalExpired, keys.pay_c, approve(p), at=T0 + HOUR)
    gov.ok(keys.pay_c, approve(p), at=T0 + HOUR - 1)  # the last millisecond still counts
    assert gov.view.proposal(p.hash).status == APPLIED


def test_a_proposal_that_would_already_be_expired_is_refused(gov, keys):
    gov.reject(E.ProposalExpired, keys.bank_a, propose(expires_at=gov.now))


def test_approving_twice_is_refused(gov, keys):
    p = gov.ok(keys.bank_a, propose())
    gov.reject(E.AlreadyApproved, keys.bank_a, approve(p))  # the proposer's approval counts


def test_unknown_proposal_and_unknown_institution_are_refused(gov, keys):
    gov.reject(E.UnknownProposal, keys.bank_b, GovernanceApprove(b"\x00" * 32))
    gov.reject(E.UnknownInstitution, keys.bank_a, propose(institution="nobody"))


def test_governance_kinds_are_not_in_the_pools_commutative_fast_path():
    # they change licenses, so they can turn other pending transactions invalid
    assert not COMMUTATIVE_KINDS & {"governance_propose", "governance_approve"}


# ---- blocks, state hash, persistence ---------------------------------------------------------

@pytest.fixture
def gov_chains(majority_genesis, keys):
    return Chain(majority_genesis, keys.bank_a), Chain(majority_genesis, keys.bank_a)


def test_the_change_applies_in_the_block_of_the_deciding_approval(gov_chains, keys):
    chain, _ = gov_chains
    ts = T0 + HOUR // 2
    p = signed(chain, keys.bank_a, propose(), 0)
    r1 = chain.run([p], ts)
    assert r1.receipts[0].ok and chain.state.roles("obs_d") == {"observer"}
    r2 = chain.run([signed(chain, keys.bank_b, approve(p), 0),
                    signed(chain, keys.pay_c, approve(p), 0)], ts + 1)
    assert [r.code for r in r2.receipts] == ["", "PROPOSAL_CLOSED"]  # the late one fails alike
    assert chain.state.roles("obs_d") == {"observer", "kyc_issuer"}
    assert chain.state.account(keys.pay_c.address).nonce == 1  # a rule failure takes the nonce


def test_proposals_are_in_the_state_hash_and_survive_a_reload(gov_chains, keys, majority_genesis):
    a, b = gov_chains
    p = signed(a, keys.bank_a, propose(), 0)
    for txs, ts in (([p], T0 + 1), ([signed(a, keys.bank_b, approve(p), 0)], T0 + 2)):
        block = a.block(txs, ts)
        ra, rb = a.commit(a.execute(block)), b.commit(b.execute(block))
        assert PROPOSAL + p.hash in [k for k, _ in ra.changes]  # hashed with the block
        assert ra.state_hash == rb.state_hash
    reloaded = State(majority_genesis)
    for k, v in a.state.records():
        reloaded.load_record(k, v)
    assert reloaded.proposal(p.hash).status == APPLIED
    assert reloaded.records() == a.state.records()


def test_a_proposals_encoding_does_not_depend_on_approval_order():
    one = Proposal("license_grant", "obs_d", "kyc_issuer", EXPIRES, "pay_c", ("pay_c", "bank_a"))
    two = Proposal("license_grant", "obs_d", "kyc_issuer", EXPIRES, "pay_c", ("bank_a", "pay_c"))
    assert one.to_wire() == two.to_wire()
    assert Proposal.from_wire(one.to_wire()) == two


# ---- genesis --------------------------------------------------------------------------------

def test_license_policy_defaults_to_the_regulator_and_is_part_of_the_chain_id(keys, genesis,
                                                                               majority_genesis):
    assert "license_policy" not in genesis_doc(keys) and genesis.license_policy == "regulator"
    doc = genesis_doc(keys)
    doc["license_policy"] = "regulator"  # written out or left out: the same chain
    assert Genesis.from_json(doc).chain_id == genesis.chain_id
    doc["license_policy"] = "majority"
    assert Genesis.from_json(doc).chain_id != genesis.chain_id


def test_license_policy_survives_the_json_round_trip(majority_genesis, tmp_path):
    majority_genesis.save(tmp_path / "genesis.json")
    again = Genesis.load(tmp_path / "genesis.json")
    assert again.license_policy == "majority" and again.chain_id == majority_genesis.chain_id


@pytest.mark.parametrize("policy", ["Majority", "", None, 1, ["majority"]])
def test_unknown_license_policy_is_a_genesis_error(keys, policy):
    doc = majority_genesis_doc(keys)
    doc["license_policy"] = policy
    with pytest.raises(GenesisError):
        Genesis.from_json(doc)


def test_devnet_genesis_takes_a_license_policy():
    keys = {n: KeyPair.from_seed(n.encode().ljust(32, b".")) for n in key_names(3)}
    urls = [f"http://127.0.0.1:{9000 + i}" for i in range(3)]
    assert make_genesis(keys, urls, T0).license_policy == "regulator"
    assert make_genesis(keys, urls, T0, license_policy="majority").license_policy == "majority"


def test_the_last_validator_cannot_be_revoked_by_the_regulator(keys):
    from node.ledger.genesis import Genesis
    from node.ledger.types import LicenseRevoke

    from .support import Ledger, genesis_doc
    doc = genesis_doc(keys)
    # bank_b: no longer a validator
    doc["institutions"][1]["roles"] = ["kyc_issuer", "asset_issuer"]
    ledger = Ledger(Genesis.from_json(doc))
    ledger.reject(E.LastValidator, keys.regulator, LicenseRevoke("bank_a", "validator"))
    ledger.ok(keys.regulator, LicenseRevoke("bank_a", "kyc_issuer"))  # other roles may go
