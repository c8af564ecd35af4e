"""lichen policy: block-jurisdiction / unblock-jurisdiction sign the regulator's tx; show renders
GET /v1/policy. Against the fake node of test_cli."""
from __future__ import annotations

import pytest

import cli.common
from node.ledger.crypto import KeyPair
from node.ledger.types import (
    InstitutionAdd,
    JurisdictionBlock,
    JurisdictionUnblock,
    TierSet,
    decode_tx,
)

from .test_cli import FakeNode, run, text

POLICY = {"blocked_jurisdictions": ["DE", "IR", "KP"],
          "tiers": [{"tier": 1, "name": "basic",
                     "limits": {"USD": {"per_tx": 100000, "daily": 250000}}},
                    {"tier": 3, "name": "frozen out", "limits": {}}],
          "institutions": [{"name": "inst0", "jurisdiction": "US", "roles": ["validator"]},
                           {"name": "inst7", "jurisdiction": "FR", "roles": []}]}


class PolicyNode(FakeNode):
    def get(self, path: str, timeout: float | None = None) -> dict:
        assert path == "/v1/policy"
        return POLICY


@pytest.fixture
def node(monkeypatch) -> PolicyNode:
    fake = PolicyNode()
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


def test_block_and_unblock_sign_the_regulators_tx(node, key_file):
    path, regulator = key_file
    blocked = run("policy", "block-jurisdiction", "de", "--key", str(path), "--node", "http://fake")
    assert blocked.exit_code == 0, blocked.output
    assert text(blocked.stdout).startswith("✔ block jurisdiction DE: committed at height 7")
    unblocked = run("policy", "unblock-jurisdiction", "DE", "--key", str(path),
                    "--node", "http://fake")
    assert unblocked.exit_code == 0, unblocked.output
    txs = [decode_tx(raw) for raw in node.received]
    assert [t.sender for t in txs] == [regulator.address] * 2
    assert [t.payload for t in txs] == [JurisdictionBlock("DE"), JurisdictionUnblock("DE")]


def test_a_bad_jurisdiction_code_is_a_usage_error_and_submits_nothing(node, key_file):
    bad = run("policy", "block-jurisdiction", "DEU", "--key", str(key_file[0]),
              "--node", "http://fake")
    assert bad.exit_code == 2 and "jurisdiction" in bad.stderr
    assert node.received == []


def test_show_renders_the_blocked_set_tiers_and_institutions(node):
    shown = run("policy", "show", "--node", "http://fake")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines() == [
        "blocked jurisdictions: DE, IR, KP", "tiers:", "  1 basic",
        "      USD    per tx        100,000   24 h          250,000",
        "  3 frozen out: sends nothing", "institutions:", "  inst0 (US): validator",
        "  inst7 (FR): (no licence)"]
    as_json = run("policy", "show", "--json", "--node", "http://fake")
    assert as_json.exit_code == 0 and '"blocked_jurisdictions"' in as_json.stdout


def test_set_tier_signs_a_tier_set_with_its_limits_sorted(node, key_file):
    path, regulator = key_file
    result = run("policy", "set-tier", "--tier", "1", "--name", "basic", "--limit",
                 "usd:50000:100000", "--limit", "EUR:1000:2000", "--key", str(path),
                 "--node", "http://fake")
    assert result.exit_code == 0, result.output
    assert text(result.stdout).startswith(
        "✔ set tier 1 basic: EUR 1000/2000, USD 50000/100000: committed at height 7")
    tx = decode_tx(node.received[0])
    assert tx.sender == regulator.address
    assert tx.payload == TierSet(1, "basic", (("EUR", 1000, 2000), ("USD", 50000, 100000)))


@pytest.mark.parametrize("limit,complaint", [("USD:10", "is not ASSET:PER_TX:DAILY"),
                                             ("USD:-1:5", "is not ASSET:PER_TX:DAILY"),
                                             ("usd dollars:1:2", "asset")])
def test_set_tier_refuses_a_bad_limit_and_submits_nothing(node, key_file, limit,
                                                          complaint):
    bad = run("policy", "set-tier", "--tier", "1", "--name", "basic", "--limit", limit,
              "--key", str(key_file[0]), "--node", "http://fake")
    assert bad.exit_code == 2 and complaint in text(bad.stderr)
    assert node.received == []


def test_add_institution_checks_like_the_genesis_ceremony_and_signs(node, key_file, tmp_path):
    path, regulator = key_file
    new = KeyPair.generate()
    result = run("policy", "add-institution", "--name", "newbank", "--display", "New Bank",
                 "--jurisdiction", "fr", "--node-key", new.address_hex, "--address",
                 "newbank.example:7000", "--key", str(path), "--node", "http://fake")
    assert result.exit_code == 0, result.output
    assert text(result.stdout).startswith("✔ add institution newbank (FR) at "
                                          "https://newbank.example:7000: committed")
    tx = decode_tx(node.received[0])
    assert tx.sender == regulator.address
    assert tx.payload == InstitutionAdd("newbank", "New Bank", "FR", new.address, new.address,
                                        "https://newbank.example:7000")
    bad = run("policy", "add-institution", "--name", "newbank", "--jurisdiction", "FR",
              "--node-key", new.address_hex, "--peer-address", "p.example:1", "--key", str(path),
              "--node", "http://fake")
    assert bad.exit_code == 1 and "--peer-address: a peer address needs an API address" in \
        text(bad.stderr)
    assert len(node.received) == 1
