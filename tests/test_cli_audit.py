"""lichen audit export: the filters (--account, --asset, --kind) and the `target` column of
freezes and clawbacks. Against a fake node serving two blocks."""
from __future__ import annotations

import csv

import pytest

import cli.common

from .test_cli import FakeNode, run

A, B, C = "aa" * 32, "bb" * 32, "cc" * 32


def tx(kind: str, sender: str, **payload) -> dict:
    return {"hash": f"{len(payload)}{kind}"[:8].ljust(64, "0"), "kind": kind, "sender": sender,
            "nonce": 0, "payload": payload, "status": "committed"}


BLOCKS = {
    1: [tx("transfer", A, asset="USD", to=B, amount=5, memo=""),
        tx("transfer", B, asset="EUR", to=C, amount=7, memo="")],
    2: [tx("freeze", "re" * 32, account=C),
        tx("clawback", "is" * 32, asset="EUR", account=C, amount=7, reason="court order")],
}


class AuditNode(FakeNode):
    def status(self) -> dict:
        return {**super().status(), "height": 2}

    def block(self, height: int) -> dict:
        return {"height": height, "hash": f"{height:064x}", "timestamp": height,
                "txs": BLOCKS[height]}


@pytest.fixture
def node(monkeypatch) -> AuditNode:
    fake = AuditNode()
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


def export(tmp_path, *filters: str) -> list[dict]:
    out = tmp_path / "audit.csv"
    result = run("audit", "export", "--out", str(out), "--node", "http://fake", *filters)
    assert result.exit_code == 0, result.output
    with out.open(newline="") as f:
        return list(csv.DictReader(f))


def test_freezes_and_clawbacks_name_their_target_in_a_column(node, tmp_path):
    rows = export(tmp_path)
    assert [(r["kind"], r["target"]) for r in rows] == [("transfer", ""), ("transfer", ""),
                                                        ("freeze", C), ("clawback", C)]


def test_filters_by_account_asset_and_kind(node, tmp_path):
    assert [r["kind"] for r in export(tmp_path, "--account", C)] == ["transfer", "freeze",
                                                                     "clawback"]
    assert [r["amount"] for r in export(tmp_path, "--asset", "eur")] == ["7", "7"]
    assert [r["kind"] for r in export(tmp_path, "--kind", "freeze", "--kind", "clawback")] == [
        "freeze", "clawback"]
    assert [r["sender"] for r in export(tmp_path, "--account", A, "--asset", "USD")] == [A]
    assert export(tmp_path, "--account", A, "--kind", "freeze") == []
