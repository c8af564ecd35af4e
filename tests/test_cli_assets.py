"""lichen asset show/list render GET /v1/assets; add/update/reserve-report/reserve-attest sign
the right payloads. Against the fake node of test_cli."""
from __future__ import annotations

import copy
import hashlib

import pytest

import cli.common
from devnet.client import ApiError
from node.ledger.types import AssetAdd, AssetUpdate, ReserveAttest, ReserveReport, decode_tx

from .test_cli import FakeNode, run, text

REPORT = "ab" * 32
USD = {"code": "USD", "issuer": "inst0", "decimals": 2, "clawback": True, "reserve_backed": True,
       "reserve_max_age_ms": 86_400_000, "report_threshold": 0, "frozen": False,
       "supply": 1_550_000, "coverage_bps": 10_322,
       "reserves": {"report": REPORT, "amount": 1_600_000, "as_of": 1_796_254_378_000,
                    "evidence_hash": "cd" * 32, "reporter": "inst0",
                    "reported_at": 1_796_254_379_000, "auditor": "inst1",
                    "attested_at": 1_796_254_394_000, "stale": False}}
XAU = {**USD, "code": "XAU", "issuer": "inst2", "decimals": 3, "clawback": False,
       "reserve_backed": False, "reserve_max_age_ms": 0, "report_threshold": 5_000,
       "supply": 0, "coverage_bps": None, "reserves": None}


class AssetNode(FakeNode):
    def __init__(self) -> None:
        super().__init__()
        self.assets = {"USD": copy.deepcopy(USD), "XAU": copy.deepcopy(XAU)}

    def status(self) -> dict:
        return {**super().status(), "timestamp": 1_796_254_400_000}

    def get(self, path: str, timeout: float | None = None) -> dict:
        if path == "/v1/assets":
            return {"assets": list(self.assets.values())}
        code = path.removeprefix("/v1/assets/")
        if code not in self.assets:
            raise ApiError("NOT_FOUND", f"no asset {code}")
        return self.assets[code]


@pytest.fixture
def node(monkeypatch) -> AssetNode:
    fake = AssetNode()
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


def payloads(node: AssetNode) -> list:
    return [decode_tx(raw).payload for raw in node.received]


def test_show_renders_supply_reserves_coverage_and_who_reported(node):
    out = run("asset", "show", "usd", "--node", "http://fake")
    assert out.exit_code == 0, out.output
    shown = text(out.stdout)
    assert "USD issued by inst0, 2 decimals [clawback, reserve-backed]" in shown
    assert "supply 15,500.00" in shown and "reserves 16,000.00 as of 2026-12-02" in shown
    assert "coverage 103.22 %" in shown and "reported by inst0" in shown
    assert "co-signed by inst1" in shown and "stale after 86,400 s" in shown
    none = text(run("asset", "show", "XAU", "--node", "http://fake").stdout)
    assert "(no report)" in none and "report threshold 5.000" in none


def test_show_of_an_unknown_asset_fails_with_its_code(node):
    out = run("asset", "show", "EUR", "--node", "http://fake")
    assert out.exit_code == 1 and "NOT_FOUND" in out.stderr


def test_list_shows_every_asset(node):
    out = text(run("asset", "list", "--node", "http://fake").stdout)
    assert "USD inst0 supply 15,500.00 reserves 16,000.00 (103.22 %) reserve-backed" in out
    assert "XAU inst2 supply 0.000 no reserve report" in out


def test_add_and_update_sign_the_regulators_payloads(node, key_file):
    path = str(key_file[0])
    added = run("asset", "add", "xau", "--issuer", "inst2", "--decimals", "3", "--reserve-backed",
                "--reserve-max-age", "3600", "--report-threshold", "1000", "--key", path,
                "--node", "http://fake")
    assert added.exit_code == 0, added.output
    updated = run("asset", "update", "USD", "--report-threshold", "500", "--key", path,
                  "--node", "http://fake")  # the rest as the node shows it now
    assert updated.exit_code == 0, updated.output
    off = run("asset", "update", "USD", "--not-reserve-backed", "--key", path,
              "--node", "http://fake")
    assert off.exit_code == 0, off.output
    assert payloads(node) == [AssetAdd("XAU", "inst2", 3, False, True, 3_600_000, 1000),
                              AssetUpdate("USD", True, 86_400_000, 500),
                              AssetUpdate("USD", False, 86_400_000, 0)]


def test_reserve_report_hashes_the_evidence_with_a_printed_salt(node, key_file, tmp_path):
    evidence = tmp_path / "statement.pdf"
    evidence.write_bytes(b"custodian statement")
    out = run("asset", "reserve-report", "USD", "--amount", "1600000", "--evidence-file",
              str(evidence), "--key", str(key_file[0]), "--node", "http://fake")
    assert out.exit_code == 0, out.output
    (p,) = payloads(node)
    assert isinstance(p, ReserveReport) and (p.asset, p.amount) == ("USD", 1_600_000)
    assert p.as_of == 1_796_254_400_000  # the node's last block time: never after the next one
    salt = text(out.stdout).split("evidence salt ")[1].split()[0]
    assert hashlib.sha256(bytes.fromhex(salt) + b"custodian statement").digest() == p.evidence_hash


def test_reserve_attest_names_the_latest_report_by_default(node, key_file):
    out = run("asset", "reserve-attest", "USD", "--key", str(key_file[0]), "--node", "http://fake")
    assert out.exit_code == 0, out.output
    none = run("asset", "reserve-attest", "XAU", "--key", str(key_file[0]), "--node", "http://fake")
    assert none.exit_code == 1 and "UNKNOWN_REPORT" in none.stderr
    for report in ("zz", "abcd"):  # not hex; hex but not 32 bytes
        bad = run("asset", "reserve-attest", "USD", "--report", report, "--key",
                  str(key_file[0]), "--node", "http://fake")
        assert bad.exit_code == 2 and "a report id is 64 hex digits" in text(bad.stderr)
    assert payloads(node) == [ReserveAttest("USD", bytes.fromhex(REPORT))]


# ---- lichen report --------------------------------------------------------------------------

LARGE = {"seq": 0, "kind": "large", "asset": "USD", "sender": "aa" * 32, "recipient": "bb" * 32,
         "amount": 250_000, "window_total": 0, "threshold": 200_000, "time": 1_796_254_400_000,
         "tx_hash": "cc" * 32}


class ReportNode(AssetNode):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def get(self, path: str, timeout: float | None = None) -> dict:
        if path.startswith("/v1/reports"):
            self.paths.append(path)
            return {"reports": [LARGE] if "kind=large" in path else []}
        return super().get(path, timeout)


@pytest.fixture
def reports_node(monkeypatch) -> ReportNode:
    fake = ReportNode()
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


def test_report_large_asks_for_the_kind_and_time_range(reports_node):
    out = run("report", "large", "--from", "2026-12-02", "--to", "1796254500000",
              "--node", "http://fake")
    assert out.exit_code == 0, out.output
    assert reports_node.paths == ["/v1/reports?kind=large&from=1796169600000&to=1796254500000"]
    shown = text(out.stdout)
    assert "USD 2,500.00" in shown and "threshold 2,000.00" in shown and "tx cccccccccccccccc" in shown
    none = run("report", "structuring", "--node", "http://fake")
    assert "no structuring transfers reported" in text(none.stdout)
    bad = run("report", "large", "--from", "yesterday", "--node", "http://fake")
    assert bad.exit_code == 2


def test_report_exposure_groups_supply_and_reserves_by_issuer(reports_node):
    out = text(run("report", "exposure", "--node", "http://fake").stdout)
    assert "inst0 USD supply 15,500.00 reserves 16,000.00 coverage 103.22 % (reserve-backed)" in out
    assert "inst2 XAU supply 0.000 no reserve report" in out


# ---- lichen tx transfer with travel rule data ------------------------------------------------

def test_transfer_carries_travel_rule_data_with_a_salted_record_hash(node, key_file, tmp_path):
    record = tmp_path / "ivms101.json"
    record.write_bytes(b'{"originator": {"name": "Alice"}}')
    to = "bb" * 32
    out = run("tx", "transfer", "--key", str(key_file[0]), "--to", to, "--asset", "usd",
              "--amount", "500000", "--travel-rule-file", str(record), "--originator", "inst0",
              "--beneficiary", "inst1", "--node", "http://fake")
    assert out.exit_code == 0, out.output
    (p,) = payloads(node)
    originator, beneficiary, record_hash = p.travel_rule
    assert (originator, beneficiary) == ("inst0", "inst1")
    salt = text(out.stdout).split("evidence salt ")[1].split()[0]
    assert hashlib.sha256(bytes.fromhex(salt) + record.read_bytes()).digest() == record_hash
    assert b"Alice" not in node.received[0]  # no personal data on chain


def test_travel_rule_options_go_together(node, key_file, tmp_path):
    partial = run("tx", "transfer", "--key", str(key_file[0]), "--to", "bb" * 32, "--asset",
                  "USD", "--amount", "5", "--originator", "inst0", "--node", "http://fake")
    assert partial.exit_code == 2 and "together" in partial.stderr
    record = tmp_path / "r.json"
    record.write_text("{}")
    bad = run("tx", "transfer", "--key", str(key_file[0]), "--to", "bb" * 32, "--asset", "USD",
              "--amount", "5", "--travel-rule-file", str(record), "--originator", "inst 0",
              "--beneficiary", "inst1", "--node", "http://fake")
    assert bad.exit_code == 2 and node.received == []
