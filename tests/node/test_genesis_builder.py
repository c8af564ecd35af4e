"""The genesis ceremony's engine (node.ledger.genesis_builder): pure steps over a genesis
document, each refusing bad input with a FieldError naming the field and leaving its input as
it was; and the devnet genesis, now built through the same steps, unchanged byte for byte."""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest

from devnet.genesis import key_names, make_genesis, node_key_names
from node.ledger import genesis_builder as ceremony
from node.ledger.crypto import KeyPair
from node.ledger.genesis import Genesis, GenesisError

T0 = 1_700_000_000_000


def key(name: str) -> bytes:
    return KeyPair.from_seed(hashlib.sha256(b"ceremony: " + name.encode()).digest()).address


def inst(name: str, **over) -> ceremony.InstitutionSpec:
    fields = {"name": name, "node_key": key(f"{name}-node"), "authority_key": key(name),
              "jurisdiction": "US", "roles": ["validator", "kyc_issuer", "asset_issuer"],
              "address": f"10.0.0.{len(name)}:7400"} | over
    return ceremony.InstitutionSpec(**fields)


@pytest.fixture
def draft() -> dict:
    doc = ceremony.init("lichen-test", key("regulator"), T0)
    doc = ceremony.add_institution(doc, inst("harbor"))
    return ceremony.add_asset(doc, "USD", "harbor", 2)


# ---- the devnet genesis is the one it was ---------------------------------------------------

def golden_key(name: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(b"golden:" + name.encode()).digest())


def saved_sha256(genesis: Genesis, tmp_path: Path) -> str:
    genesis.save(tmp_path / "genesis.json")
    return hashlib.sha256((tmp_path / "genesis.json").read_bytes()).hexdigest()


# sha256 of genesis.json as the devnet wrote it before make_genesis went through the ceremony
# engine (commit d0f49c2), for the same keys and time
GOLDEN = {
    "tls-observer": "4d8491bde1e0213653a4beaeb236af87efa4a7a0bbd77ebea3bfc193e5d59009",
    "majority": "110286d9a4330418a25a404b6afb625fe301a44383e23503d5a985ff195d2116",
    "harness": "2342fcd1e54f26ec0040a7dcafe1c978d84fba05bb1d754bb5e409c1ae829f72",
}


def test_the_devnet_genesis_is_byte_for_byte_what_it_was(tmp_path: Path):
    keys = {n: golden_key(n) for n in key_names(7) + node_key_names(7)}
    urls = [f"https://127.0.0.1:{7100 + i}" for i in range(7)]
    peers = [f"https://127.0.0.1:{7200 + i}" for i in range(7)]
    with_observer = make_genesis(keys, urls[:4], T0, 1, spare_urls=urls[4:], peer_urls=peers)
    majority = make_genesis(keys, urls[:3], T0, spare_urls=urls[3:], license_policy="majority",
                            peer_urls=peers)
    single_keys = {n: k for n, k in keys.items() if not n.endswith("-node")}
    harness = make_genesis(single_keys, [f"mem://node{i}" for i in range(3)], 1_000,
                           spare_urls=["mem://node3"])
    assert saved_sha256(with_observer, tmp_path) == GOLDEN["tls-observer"]
    assert saved_sha256(majority, tmp_path) == GOLDEN["majority"]
    assert saved_sha256(harness, tmp_path) == GOLDEN["harness"]
    assert harness.chain_id.hex() == \
        "53925235072c18712f9ce5ed1026a1df3ae8c96701c6039dc98fe144a06b3525"


# ---- display names ----------------------------------------------------------------------------

def test_a_display_name_is_part_of_the_chain_id_and_round_trips(draft):
    named = ceremony.add_institution(draft, inst("rhein", display="Rhein Clearing AG"))
    plain = ceremony.add_institution(draft, inst("rhein"))
    g = Genesis.from_json(named)
    assert g.institution("rhein").display == "Rhein Clearing AG"
    assert Genesis.from_json(g.to_json()).chain_id == g.chain_id
    assert g.chain_id != Genesis.from_json(plain).chain_id
    assert "display" not in Genesis.from_json(plain).to_json()["institutions"][1]


def test_a_display_name_with_a_bidi_override_is_refused(draft):
    """Models an institution named so that a summary reads as another's (U+202E reverses it)."""
    with pytest.raises(ceremony.FieldError) as err:
        ceremony.add_institution(draft, inst("rhein", display="Bank \u202eKNAB"))
    assert err.value.field == "display"


# ---- steps ------------------------------------------------------------------------------------

def test_a_ceremony_builds_a_startable_genesis_and_never_edits_its_input(draft):
    before = copy.deepcopy(draft)
    doc = ceremony.add_institution(draft, inst("rhein", jurisdiction="DE",
                                                peer_address="http://10.0.0.5:7500",
                                                address="http://10.0.0.5:7400"))
    doc = ceremony.add_tier(doc, 1, "basic", {"USD": (100, 300)})
    doc = ceremony.block_jurisdiction(doc, "KP")
    assert draft == before
    g = Genesis.from_json(doc)
    assert [i.name for i in g.institutions] == ["harbor", "rhein"]
    assert g.institution("harbor").address == "https://10.0.0.6:7400"  # https by default
    assert g.institution("rhein").peer_endpoint == "http://10.0.0.5:7500"
    assert g.tier(1).limits["USD"].daily == 300 and g.blocked_jurisdictions == ("KP",)
    assert ceremony.summary(doc).startable


def test_a_draft_without_a_validator_is_a_step_not_a_genesis():
    doc = ceremony.add_institution(ceremony.init("x", key("regulator"), T0),
                                   inst("issuer-only", roles=["asset_issuer"], address=""))
    assert ceremony.summary(doc).problems == ("genesis needs at least one validator",)
    with pytest.raises(GenesisError, match="validator"):
        Genesis.from_json(doc)


def refused(field: str, step, *args, **kwargs) -> None:
    with pytest.raises(ceremony.FieldError) as err:
        step(*args, **kwargs)
    assert err.value.field == field, err.value


@pytest.mark.parametrize("spec, field", [
    (inst("harbor"), "name"),  # duplicate name
    (inst("bad name!"), "name"),
    (inst("rhein", node_key=key("harbor-node")), "key"),  # another's node key
    (inst("rhein", node_key=key("harbor")), "key"),  # another's authority key
    (inst("rhein", authority_key=key("harbor-node")), "authority_key"),
    (inst("rhein", node_key=key("regulator")), "key"),
    (inst("rhein", node_key=b"short"), "key"),
    (inst("rhein", jurisdiction="DEU"), "jurisdiction"),
    (inst("rhein", roles=["validator", "banker"]), "roles"),
    (inst("rhein", roles=[]), "roles"),
    (inst("rhein", address=""), "address"),  # a validator runs a node
    (inst("rhein", address="10.0.0.1"), "address"),  # no port
    (inst("rhein", address="10.0.0.1:0"), "address"),
    (inst("rhein", address="10.0.0.1:70000"), "address"),
    (inst("rhein", address="ftp://10.0.0.1:21"), "address"),
    (inst("rhein", address="https://10.0.0.1:7400/x"), "address"),
    (inst("rhein", address="bad host:7400"), "address"),
    (inst("rhein", peer_address="10.0.0.1:port"), "peer_address"),
    (inst("rhein", address="http://10.0.0.1:1", peer_address="https://10.0.0.1:2"),
     "peer_address"),
])
def test_add_institution_refuses(draft, spec, field):
    refused(field, ceremony.add_institution, draft, spec)


@pytest.mark.parametrize("args, field", [
    (("EUR", "nobody", 2), "issuer"),
    (("USD", "harbor", 2), "code"),  # already there
    (("us$", "harbor", 2), "code"),
    (("EUR", "harbor", 19), "decimals"),
    (("EUR", "harbor", -1), "decimals"),
])
def test_add_asset_refuses(draft, args, field):
    refused(field, ceremony.add_asset, draft, *args)


@pytest.mark.parametrize("args, field", [
    ((1, "basic", {"EUR": (1, 1)}), "limits"),  # unknown asset
    ((1, "basic", {"USD": (-1, 1)}), "limits"),
    ((256, "basic", {"USD": (1, 1)}), "tier"),
    ((1, "bad\nname", {"USD": (1, 1)}), "name"),
])
def test_add_tier_refuses(draft, args, field):
    refused(field, ceremony.add_tier, draft, *args)


def test_a_tier_number_is_given_once(draft):
    doc = ceremony.add_tier(draft, 1, "basic", {"USD": (1, 1)})
    refused("tier", ceremony.add_tier, doc, 1, "again", {"USD": (1, 1)})


def test_block_jurisdiction_refuses_bad_and_repeated_codes(draft):
    refused("jurisdiction", ceremony.block_jurisdiction, draft, "KPX")
    refused("jurisdiction", ceremony.block_jurisdiction, ceremony.block_jurisdiction(draft, "KP"),
            "KP")


@pytest.mark.parametrize("args, field", [
    (("", key("regulator"), T0), "chain_name"),
    (("x", b"short", T0), "regulator"),
    (("x", key("regulator"), -1), "genesis_time"),
    (("x", key("regulator"), T0, "anarchy"), "license_policy"),
])
def test_init_refuses(args, field):
    refused(field, ceremony.init, *args)
