"""The devnet genesis template: demo institutions, their currencies, KYC tiers and customers."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from node.ledger import genesis_builder as ceremony
from node.ledger.crypto import KeyPair
from node.ledger.genesis import Genesis

TEMPLATE = Path(__file__).with_name("template.json")
DAY_MS = 86_400_000


def load_template() -> dict:
    return json.loads(TEMPLATE.read_text())


def make_genesis(keys: dict[str, KeyPair], node_urls: list[str], now_ms: int,
                 observers: int = 0, spare_urls: Sequence[str] = (),
                 license_policy: str = "regulator", peer_urls: Sequence[str] = ()) -> Genesis:
    """A devnet genesis: institution i runs node i (validator, KYC issuer, issuer of its
    currency); institutions without a node are still licensed issuers, so a one-node devnet
    has foreign currencies too. The last `observers` nodes are observers, not validators.
    `spare_urls` give the institutions after the nodes an address, so the regulator can license
    one of them as a validator or observer later and its node can join (`devnet add-node`).
    `license_policy` "majority" hands license changes to a majority of the validators
    (`lichen governance`) instead of the regulator.
    `keys[name]` is an institution's authority key; `keys[name + "-node"]`, when given, its node
    key (without one the institution's single key does both). `peer_urls[i]`, if given, is where
    institution i's node serves its peers (genesis `peer_address`)."""
    t = load_template()
    n_inst = max(len(node_urls) + len(spare_urls), t["min_institutions"])
    if n_inst > len(t["institutions"]):
        raise ValueError(f"the devnet template has {len(t['institutions'])} institutions")
    insts = t["institutions"][:n_inst]
    validators = len(node_urls) - observers
    urls = list(node_urls) + list(spare_urls)
    doc = ceremony.init(t["chain_name"], keys["regulator"].address, now_ms, license_policy)
    for i, inst in enumerate(insts):
        if i < validators:
            roles = ["validator", "kyc_issuer", "asset_issuer"]
        elif i < len(node_urls):
            roles = ["observer"]
        else:
            roles = ["kyc_issuer", "asset_issuer"]
        authority = keys[inst["name"]]
        node_key = keys.get(node_key_name(inst["name"]), authority)
        doc = ceremony.add_institution(doc, ceremony.InstitutionSpec(
            name=inst["name"], node_key=node_key.address, authority_key=authority.address,
            address=urls[i] if i < len(urls) else "", jurisdiction=inst["jurisdiction"],
            roles=roles, peer_address=peer_urls[i] if i < len(peer_urls) else ""))
    for inst in insts:
        doc = ceremony.add_asset(doc, inst["currency"], inst["name"], inst["decimals"],
                                 inst.get("clawback", False))
    codes = [inst["currency"] for inst in insts]
    for tier in t["tiers"]:
        doc = ceremony.add_tier(doc, tier["tier"], tier["name"],
                                {code: (tier["per_tx"], tier["daily"]) for code in codes})
    for j in t["blocked_jurisdictions"]:
        doc = ceremony.block_jurisdiction(doc, j)
    expires = now_ms + t["attestation_days"] * DAY_MS
    for c in t["customers"]:
        if "attested_by" not in c:
            continue
        account = keys[c["name"]].address
        evidence = hashlib.sha256(f"kyc-file:{c['name']}".encode()).digest()
        doc = ceremony.add_attestation(doc, account, c["attested_by"], c["tier"],
                                       c["jurisdiction"], expires, evidence)
        doc = ceremony.add_balances(doc, [(account, code, amount)
                                          for code, amount in c["balances"].items()
                                          if code in codes])
    return Genesis.from_json(doc)


def node_key_name(institution: str) -> str:
    """The devnet key name of an institution's node key (`inst0` names its authority key)."""
    return f"{institution}-node"


def node_key_names(n_institutions: int) -> list[str]:
    t = load_template()
    n_inst = max(n_institutions, t["min_institutions"])
    return [node_key_name(i["name"]) for i in t["institutions"][:n_inst]]


def key_names(n_institutions: int) -> list[str]:
    t = load_template()
    n_inst = max(n_institutions, t["min_institutions"])
    return (["regulator"] + [i["name"] for i in t["institutions"][:n_inst]]
            + [c["name"] for c in t["customers"]])
