"""lichen loan: offer builds an equal schedule from now that the ledger's check accepts; accept,
repay and writeoff sign the right payloads; show, list and history render the loan routes.
Against the fake node of test_cli."""
from __future__ import annotations

import time

import pytest

import cli.common
from cli.common import parse_duration
from devnet.client import ApiError
from node.ledger import rules as R
from node.ledger.types import LoanAccept, LoanOffer, LoanRepay, LoanWriteoff, decode_tx

from .test_cli import BOB, FakeNode, run, text

LOAN_ID = "ab" * 32
LOAN = {"id": LOAN_ID, "lender": "cd" * 32, "lender_institution": "inst3", "borrower": BOB,
        "asset": "GBP", "principal": 50_000, "interest_bps": 1_200, "total": 56_000,
        "repaid": 20_000, "outstanding": 36_000, "arrears": 17_332, "status": "late",
        "offer_expired": False,
        "schedule": [{"due_at": 1_796_254_400_000, "amount": 18_666, "state": "paid"},
                     {"due_at": 1_796_254_420_000, "amount": 18_666, "state": "missed"},
                     {"due_at": 1_796_254_440_000, "amount": 18_668, "state": "upcoming"}],
        "grace_ms": 10_000, "default_after": 2, "misses": 1, "expires_at": 1_796_255_000_000,
        "created_at": 1_796_254_380_000, "accepted_at": 1_796_254_385_000, "closed_at": None,
        "next_collection_at": 1_796_254_440_000}
CREDIT = {"account": BOB, "loans": 2, "on_time": 5, "late": 1, "defaulted": 0, "paid_off": 1,
          "written_off": 0, "open": [LOAN_ID],
          "history": [{"id": LOAN_ID, "lender_institution": "inst3", "asset": "GBP",
                       "principal": 50_000, "status": "late", "misses": 1}]}


class LoanNode(FakeNode):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get(self, path: str, timeout: float | None = None) -> dict:
        self.asked.append(path)
        if path.startswith("/v1/loans/"):
            if path != f"/v1/loans/{LOAN_ID}":
                raise ApiError("NOT_FOUND", "no such loan")
            return LOAN
        if path.startswith("/v1/loans"):
            return {"loans": [LOAN]}
        return CREDIT


@pytest.fixture
def node(monkeypatch) -> LoanNode:
    fake = LoanNode()
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


def sent(node: LoanNode):
    return [decode_tx(raw).payload for raw in node.received]


def test_an_offer_sends_equal_instalments_from_now_that_add_up(node, key_file):
    path, _ = key_file
    before = int(time.time() * 1000)
    out = run("loan", "offer", "--key", str(path), "--to", BOB, "--asset", "gbp",
              "--principal", "50000", "--interest-bps", "1200", "--instalments", "3",
              "--period", "20s", "--grace", "10s", "--default-after", "2", "--expires", "10m",
              "--node", "http://fake")
    assert out.exit_code == 0, out.output
    (p,) = sent(node)
    assert isinstance(p, LoanOffer) and p.asset == "GBP" and p.default_after == 2
    assert [a for _, a in p.schedule] == [18_666, 18_666, 18_668]
    first = p.schedule[0][0]
    assert before + 20_000 <= first <= int(time.time() * 1000) + 20_000
    assert [d - first for d, _ in p.schedule] == [0, 20_000, 40_000]
    assert p.grace_ms == 10_000 and before + 600_000 <= p.expires_at
    R.check_schedule(p, R.Context(before))  # what the ledger will check passes
    assert "loan id" in out.stdout and "56000 in all" in text(out.stdout)


def test_an_offer_that_cannot_be_split_is_refused_before_sending(node, key_file):
    path, _ = key_file
    out = run("loan", "offer", "--key", str(path), "--to", BOB, "--asset", "USD",
              "--principal", "2", "--instalments", "3", "--node", "http://fake")
    assert out.exit_code != 0 and "cannot be split" in out.output and not node.received


def test_accept_repay_and_writeoff_sign_their_payloads(node, key_file):
    path, _ = key_file
    for args in (("accept", LOAN_ID), ("repay", LOAN_ID, "--amount", "500"),
                 ("writeoff", LOAN_ID)):
        out = run("loan", *args, "--key", str(path), "--node", "http://fake")
        assert out.exit_code == 0, out.output
    assert sent(node) == [LoanAccept(bytes.fromhex(LOAN_ID)),
                          LoanRepay(bytes.fromhex(LOAN_ID), 500),
                          LoanWriteoff(bytes.fromhex(LOAN_ID))]
    out = run("loan", "accept", "nothex", "--key", str(path), "--node", "http://fake")
    assert out.exit_code != 0 and "64 hex digits" in out.output


def test_show_list_and_history_render_the_loan_routes(node):
    shown = text(run("loan", "show", LOAN_ID, "--node", "http://fake").stdout)
    assert "[late]" in shown and "18666 missed" in shown and "arrears 17332" in shown
    listed = run("loan", "list", "--borrower", BOB, "--status", "late", "--node", "http://fake")
    assert listed.exit_code == 0 and "arrears 17332" in listed.stdout
    assert node.asked[-1] == f"/v1/loans?borrower={BOB}&status=late"
    hist = text(run("loan", "history", BOB, "--node", "http://fake").stdout)
    assert "loans 2: paid off 1" in hist and "on time 5, missed 1" in hist
    missing = run("loan", "show", "00" * 32, "--node", "http://fake")
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.stderr


def test_durations_read_as_milliseconds():
    assert [parse_duration(t) for t in ("500ms", "30s", "5m", "2h", "7d")] == [
        500, 30_000, 300_000, 7_200_000, 604_800_000]
