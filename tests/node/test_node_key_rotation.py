"""key_rotate: the regulator replaces an institution's node or authority key, and from the block
that commits it the old key counts for nothing (node.ledger.rules.keys)."""
from __future__ import annotations

import pytest

from node.ledger import errors as E
from node.ledger.certificates import Certificate, Statement, Vote, check_certificate
from node.ledger.execution import InvalidBlock
from node.ledger.genesis import Genesis
from node.ledger.rules import expected_membership, is_licensed_peer, is_licensed_validator
from node.ledger.state import State
from node.ledger.types import (
    GovernancePropose,
    Issue,
    KeyRotate,
    KycAttest,
    LicenseAction,
    LicenseRevoke,
    Role,
    Transfer,
    sign_tx,
)
from node.ledger.verify import verify_chain

from .support import HOUR, T0, YEAR_LATER, Chain, Ledger, genesis_doc, key_for, majority_genesis_doc

NEW = key_for("bank_a new key")


@pytest.fixture
def ledger(genesis) -> Ledger:
    return Ledger(genesis)


def rotate(chain: Chain, keys, which: str, new=NEW, institution: str = "bank_a", nonce: int = 0,
           at: int = T0 + HOUR):
    tx = sign_tx(keys.regulator, chain.genesis.chain_id, nonce, KeyRotate(institution, which,
                                                                          new.address))
    result = chain.run([tx], at)
    assert result.receipts[0].ok, result.receipts[0]
    return result


def test_only_the_regulator_rotates(ledger, keys):
    """Attack: an institution (or anyone) swaps in a key of its own for another institution."""
    ledger.reject(E.NotLicensed, keys.bank_b, KeyRotate("bank_a", "authority", NEW.address))
    ledger.reject(E.NotLicensed, keys.bank_a, KeyRotate("bank_a", "node", NEW.address))
    ledger.ok(keys.regulator, KeyRotate("bank_a", "authority", NEW.address))


def test_the_institution_must_exist_and_which_is_node_or_authority(ledger, keys):
    ledger.reject(E.UnknownInstitution, keys.regulator, KeyRotate("nobody", "node", NEW.address))
    with pytest.raises(E.Malformed, match="which must be one of node, authority"):
        KeyRotate.from_wire(["bank_a", "both", NEW.address])


def test_the_new_key_is_nobodys_current_key(ledger, keys):
    """Attack: a rotation that hands bank_a the key of bank_b (or the regulator's) would make one
    key speak for two parties."""
    for taken in (keys.bank_b, keys.pay_c, keys.regulator, keys.bank_a):
        ledger.reject(E.KeyInUse, keys.regulator, KeyRotate("bank_a", "authority", taken.address))
    ledger.ok(keys.regulator, KeyRotate("bank_a", "node", NEW.address))
    ledger.reject(E.KeyInUse, keys.regulator, KeyRotate("bank_b", "authority", NEW.address))


def test_a_stolen_authority_key_stops_counting_at_the_rotating_block(genesis, keys):
    """Attack: bank_a's authority key is stolen; the regulator rotates it. From that block the
    thief can no longer mint USD, attest KYC, or pass as the institution (no KYC needed), while
    the new key does all of it."""
    chain = Chain(genesis, keys.bank_a)
    rotate(chain, keys, "authority")
    mint = Issue("USD", keys.alice.address, 5_000)
    attest = KycAttest(keys.carol.address, 2, "FR", YEAR_LATER, b"\x01" * 32)
    old = [sign_tx(keys.bank_a, genesis.chain_id, n, p) for n, p in enumerate([mint, attest])]
    result = chain.run(old, T0 + 2 * HOUR)
    assert [r.code for r in result.receipts] == ["NOT_LICENSED", "NOT_LICENSED"]
    send = sign_tx(keys.bank_a, genesis.chain_id, 2, Transfer("USD", keys.alice.address, 5, ""))
    assert chain.run([send], T0 + 2 * HOUR).receipts[0].code == "KYC_MISSING"
    new = [sign_tx(NEW, genesis.chain_id, n, p) for n, p in enumerate([mint, attest])]
    assert all(r.ok for r in chain.run(new, T0 + 3 * HOUR).receipts)
    assert chain.state.account(keys.alice.address).balance("USD") == 15_000
    assert list(chain.state.account(keys.carol.address).attestations) == ["bank_a"]
    # a node-key rotation later keeps the rotated authority key
    rotate(chain, keys, "node", key_for("bank_a node 2"), nonce=1, at=T0 + 4 * HOUR)
    assert chain.state.authority_key_of(genesis.institution("bank_a")) == NEW.address


def test_an_old_authority_key_cannot_vote_in_governance(keys):
    """Attack: the stolen old authority key of a validator institution votes a license change."""
    g = Genesis.from_json(majority_genesis_doc(keys))
    chain = Chain(g, keys.bank_a)
    rotate(chain, keys, "authority")
    propose = GovernancePropose(LicenseAction.GRANT, "obs_d", Role.KYC_ISSUER, T0 + 48 * HOUR)
    result = chain.run([sign_tx(keys.bank_a, g.chain_id, 0, propose)], T0 + 2 * HOUR)
    assert result.receipts[0].code == "NOT_LICENSED"
    result = chain.run([sign_tx(NEW, g.chain_id, 0, propose)], T0 + 2 * HOUR)
    assert result.receipts[0].ok


def test_a_stolen_node_key_can_no_longer_propose_peer_or_vote(genesis, keys):
    """Attack: bank_a's node key is stolen; after the regulator rotates it, a block the thief
    proposes is invalid, its peer link and Raft vote count for nothing, and the new key takes
    its place in the membership the licenses call for."""
    chain = Chain(genesis, keys.bank_a)
    before = expected_membership(chain.state)
    rotate(chain, keys, "node")
    assert not is_licensed_validator(chain.state, keys.bank_a.address)
    assert not is_licensed_peer(chain.state, keys.bank_a.address)
    assert is_licensed_validator(chain.state, NEW.address)
    voters = expected_membership(chain.state).voters
    assert keys.bank_a.address_hex not in voters and NEW.address_hex in voters
    assert len(voters) == len(before.voters)
    with pytest.raises(InvalidBlock) as info:
        chain.execute(chain.block([], T0 + 2 * HOUR))  # proposed (signed) by the old key
    assert type(info.value) is E.ProposerNotLicensed
    chain.proposer = NEW
    chain.run([], T0 + 2 * HOUR)
    assert chain.tip.height == 2


def test_certificate_votes_count_by_the_node_keys_current_at_that_height(genesis, keys):
    """Attack: the stolen old node key signs commit certificates after its rotation."""
    chain = Chain(genesis, keys.bank_a)
    result = rotate(chain, keys, "node")
    voters = frozenset(bytes.fromhex(v) for v in expected_membership(result.overlay).voters)
    statement = Statement(genesis.chain_id, 1, result.block.hash, result.state_hash)
    stolen = Certificate.of(statement, [Vote.sign(k, statement) for k in (keys.bank_a, keys.bank_b)])
    with pytest.raises(E.CertificateError):
        check_certificate(stolen, voters)
    honest = Certificate.of(statement, [Vote.sign(k, statement) for k in (NEW, keys.bank_b)])
    check_certificate(honest, voters)


def test_a_rotation_is_in_the_state_hash_and_survives_reload_and_replay(genesis, keys):
    chain, other = Chain(genesis, keys.bank_a), Chain(genesis, keys.bank_a)
    rotated = rotate(chain, keys, "authority")
    plain = other.run([sign_tx(keys.regulator, genesis.chain_id, 0,
                               Transfer("USD", keys.alice.address, 1, ""))], T0 + HOUR)
    assert rotated.state_hash != plain.state_hash
    assert any(k.startswith(b"k") for k, _ in rotated.changes)
    reloaded = State(genesis)
    for k, v in chain.state.records():
        reloaded.load_record(k, v)
    inst = genesis.institution("bank_a")
    assert reloaded.authority_key_of(inst) == NEW.address
    assert reloaded.institution_by_authority_key(NEW.address) == inst
    assert reloaded.institution_by_authority_key(keys.bank_a.address) is None
    assert reloaded.records() == chain.state.records()
    report = verify_chain(genesis, [(rotated.block.encode(), rotated.state_hash)])
    assert report.ok and report.height == 1 and report.state_hash == rotated.state_hash


def test_an_old_key_may_be_taken_again_once_nobody_holds_it(genesis, keys):
    """The rule is about current keys: bank_a's rotated-away key (node and authority, one key in
    this genesis) is free for bank_b's node, and lookups then name bank_b, never bank_a."""
    chain = Chain(genesis, keys.bank_a)
    rotate(chain, keys, "node")
    chain.proposer = NEW
    rotate(chain, keys, "authority", key_for("bank_a authority 2"), nonce=1, at=T0 + 2 * HOUR)
    rotate(chain, keys, "node", keys.bank_a, institution="bank_b", nonce=2, at=T0 + 3 * HOUR)
    assert chain.state.institution_by_node_key(keys.bank_a.address).name == "bank_b"
    assert chain.state.institution_by_node_key(keys.bank_b.address) is None
    assert chain.state.institution_by_node_key(NEW.address).name == "bank_a"


def test_a_genesis_without_rotation_answers_as_before(genesis, keys):
    state = State.from_genesis(genesis)
    assert state.institution_by_node_key(keys.bank_a.address).name == "bank_a"
    assert state.institution_by_authority_key(keys.bank_b.address).name == "bank_b"
    assert state.records() == State.from_genesis(Genesis.from_json(genesis_doc(keys))).records()


def test_the_only_validators_node_key_is_not_rotated(ledger, keys):
    """A one-validator chain whose node key were rotated could never commit again: the old key
    may not propose and the new one has no voter to add it."""
    ledger.ok(keys.regulator, LicenseRevoke("bank_b", "validator"))
    ledger.reject(E.LastValidator, keys.regulator, KeyRotate("bank_a", "node", NEW.address))
    ledger.ok(keys.regulator, KeyRotate("bank_a", "authority", NEW.address))
