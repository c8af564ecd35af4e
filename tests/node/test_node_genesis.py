"""Genesis (node.ledger.genesis) and keys (node.ledger.crypto): the chain id, the references a genesis must
keep, the state it starts, and key files."""
from __future__ import annotations

import copy
import os
import stat

import pytest

from node.ledger.crypto import KeyPair, parse_address, verify
from node.ledger.genesis import Genesis, GenesisError
from node.ledger.state import State

from .support import T0, genesis_doc


def test_genesis_json_round_trips_to_the_same_chain_id(genesis, tmp_path):
    genesis.save(tmp_path / "genesis.json")
    again = Genesis.load(tmp_path / "genesis.json")
    assert again == genesis
    assert again.chain_id == genesis.chain_id


def test_chain_id_does_not_depend_on_list_order_in_the_file(keys, genesis):
    doc = genesis_doc(keys)
    for k in ("institutions", "assets", "tiers", "blocked_jurisdictions", "attestations",
              "balances"):
        doc[k] = list(reversed(doc[k]))
    doc["institutions"][0]["roles"] = list(reversed(doc["institutions"][0]["roles"]))
    assert Genesis.from_json(doc).chain_id == genesis.chain_id


def test_chain_id_changes_with_any_field(keys, genesis):
    doc = genesis_doc(keys)
    doc["balances"][0]["amount"] += 1
    assert Genesis.from_json(doc).chain_id != genesis.chain_id
    doc = genesis_doc(keys)
    doc["genesis_time"] = T0 + 1
    assert Genesis.from_json(doc).chain_id != genesis.chain_id


def test_genesis_state_holds_balances_supplies_licenses_and_attestations(genesis, keys):
    state = State.from_genesis(genesis)
    assert state.account(keys.alice.address).balance("USD") == 10_000
    assert state.supply("USD") == 10_000 + 500_000 + 1_000 + 10_000 + 1_000_000
    assert state.roles("pay_c") == frozenset({"observer"})
    att = state.account(keys.erin.address).attestations["bank_b"]
    assert (att.issuer, att.tier, att.jurisdiction, att.revoked) == ("bank_b", 2, "SG", False)
    assert state.account(keys.carol.address).attestations == {}
    assert state.account(keys.frank.address).nonce == 0


def _broken(keys, change) -> dict:
    doc = copy.deepcopy(genesis_doc(keys))
    change(doc)
    return doc


@pytest.mark.parametrize("change", [
    lambda d: d["assets"].append({"code": "JPY", "issuer": "nobody", "decimals": 0}),
    lambda d: d["assets"].append(dict(d["assets"][0])),
    lambda d: d["institutions"].append(dict(d["institutions"][0])),
    lambda d: d["institutions"][2].update(key=d["institutions"][0]["key"]),
    lambda d: d["institutions"][0].update(roles=["validator", "king"]),
    lambda d: [i.update(roles=["kyc_issuer"]) for i in d["institutions"]],
    lambda d: d["tiers"].append(dict(d["tiers"][0])),
    lambda d: d["tiers"][0]["limits"].update(XAU={"per_tx": 1, "daily": 1}),
    lambda d: d["tiers"][0]["limits"]["USD"].update(per_tx=-1),
    lambda d: d["tiers"][0]["limits"]["USD"].update(daily=1.5),
    lambda d: d["attestations"][0].update(issuer="nobody"),
    lambda d: d["attestations"][0].update(tier=9),
    lambda d: d["attestations"].append(dict(d["attestations"][0])),
    lambda d: d["balances"][0].update(asset="XAU"),
    lambda d: d["balances"][0].update(amount=-5),
    lambda d: d["balances"][0].update(account="not hex"),
    lambda d: d.update(regulator="ab" * 31),
    lambda d: d.pop("tiers"),
    lambda d: d.update(genesis_time="yesterday"),
], ids=["asset-issuer-unknown", "asset-twice", "institution-twice", "key-twice", "unknown-role",
        "no-validator", "tier-twice", "tier-limit-unknown-asset", "negative-limit", "float-limit",
        "attestation-issuer-unknown", "attestation-tier-unknown", "attestation-twice",
        "balance-asset-unknown", "negative-balance", "account-not-hex", "short-regulator",
        "no-tiers", "time-not-int"])
def test_inconsistent_genesis_is_genesis_error(keys, change):
    with pytest.raises(GenesisError):
        Genesis.from_json(_broken(keys, change))


@pytest.mark.parametrize("change", [
    lambda d: d["institutions"][0].update(jurisdiction="us"),
    lambda d: d["assets"][0].update(code="usd"),
    lambda d: d["institutions"][2].update(name="pay c"),
], ids=["jurisdiction", "asset-code", "institution-name"])
def test_genesis_with_malformed_code_or_name_is_genesis_error(keys, change):
    # the operator gets GenesisError (which `lichen node run` reports), not a stray Malformed
    with pytest.raises(GenesisError):
        Genesis.from_json(_broken(keys, change))


def test_unreadable_genesis_file_is_genesis_error(tmp_path):
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(GenesisError):
        Genesis.load(tmp_path / "g.json")
    with pytest.raises(GenesisError):
        Genesis.load(tmp_path / "missing.json")


def test_key_file_round_trips_and_is_private(tmp_path, keys):
    keys.alice.save(tmp_path / "keys" / "alice.key")
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "alice.key").st_mode) == 0o600
    assert KeyPair.load(tmp_path / "keys" / "alice.key") == keys.alice


def test_key_file_whose_address_does_not_match_its_seed_is_refused(tmp_path, keys):
    path = tmp_path / "alice.key"
    keys.alice.save(path)
    path.write_text(path.read_text().replace(keys.alice.address_hex, keys.bob.address_hex))
    with pytest.raises(ValueError):
        KeyPair.load(path)


def test_verify_accepts_only_the_signers_signature_over_the_message(keys):
    sig = keys.alice.sign(b"message")
    assert verify(keys.alice.address, b"message", sig)
    assert not verify(keys.bob.address, b"message", sig)
    assert not verify(keys.alice.address, b"messagE", sig)
    assert not verify(keys.alice.address, b"message", sig[:63])
    assert not verify(keys.alice.address[:31], b"message", sig)


def test_parse_address(keys):
    assert parse_address(keys.alice.address_hex.upper()) == keys.alice.address
    for bad in ("zz" * 32, "ab" * 31, ""):
        with pytest.raises(ValueError):
            parse_address(bad)
