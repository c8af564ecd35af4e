"""lichen fx and lichen escrow: the payloads they sign and how they render the node's offers and
escrows (GET /v1/offers, /v1/escrows). Against the fake node of test_cli."""
from __future__ import annotations

import hashlib
import time

import pytest

import cli.common
from devnet.client import ApiError
from node.ledger.types import (
    EscrowCancel,
    EscrowCreate,
    EscrowRelease,
    FxAccept,
    FxCancel,
    FxOffer,
    decode_tx,
)

from .test_cli import BOB, FakeNode, run, text

MAKER = "aa" * 32
ASK_CHEAP, ASK_DEAR, BID = "01" * 32, "02" * 32, "03" * 32
EXPIRES = 1_796_254_400_000


def offer(oid: str, give: tuple[int, str], want: tuple[int, str], **kw) -> dict:
    doc = {"id": oid, "maker": MAKER, "give_asset": give[1], "give_amount": give[0],
           "want_asset": want[1], "want_amount": want[0], "given": 0, "paid": 0,
           "locked": give[0], "remaining_want": want[0], "partial": True, "counterparty": None,
           "expires_at": EXPIRES, "expired": False, "created_at": EXPIRES - 3_600_000,
           "status": "open", "closed_at": None}
    return {**doc, **kw}


class SettlementNode(FakeNode):
    """Two asks selling USD for SGD (the node lists the better rate first) and one bid."""

    def __init__(self) -> None:
        super().__init__()
        self.offers = {
            ASK_CHEAP: offer(ASK_CHEAP, (100_000, "USD"), (135_000, "SGD")),
            ASK_DEAR: offer(ASK_DEAR, (50_000, "USD"), (68_000, "SGD"), partial=False,
                            counterparty=BOB, given=0),
            BID: offer(BID, (130_000, "SGD"), (100_000, "USD"), paid=40_000,
                       remaining_want=60_000, locked=78_000, given=52_000)}
        self.queries: list[str] = []

    def get(self, path: str, timeout: float | None = None) -> dict:
        self.queries.append(path)
        if path == "/v1/assets":
            return {"assets": [{"code": "USD", "decimals": 2}, {"code": "SGD", "decimals": 2}]}
        if path.startswith("/v1/offers?"):
            give = path.split("give=")[1].split("&")[0]
            return {"offers": [o for o in self.offers.values() if o["give_asset"] == give]}
        if path.startswith("/v1/offers/"):
            oid = path.removeprefix("/v1/offers/")
            if oid not in self.offers:
                raise ApiError("NOT_FOUND", "no such offer")
            return self.offers[oid]
        if path.startswith("/v1/escrows"):
            return {"escrows": [{
                "id": "0e" * 32, "payer": MAKER, "to": BOB, "asset": "USD", "amount": 20_000,
                "release_after": EXPIRES, "cancel_after": EXPIRES + 1, "condition": None,
                "created_at": EXPIRES, "status": "open", "closed_at": None, "releasable": True,
                "cancellable": False}]}
        raise AssertionError(path)


@pytest.fixture
def node(monkeypatch) -> SettlementNode:
    fake = SettlementNode()
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


def signed(node: SettlementNode):
    (raw,) = node.received
    return decode_tx(raw).payload


def test_an_offer_signs_both_legs_an_expiry_and_its_counterparty(node, key_file):
    before = int(time.time() * 1000)
    out = run("fx", "offer", "--key", str(key_file[0]), "--give", "100000", "usd", "--want",
              "135000", "sgd", "--expires-in", "15m", "--all-or-nothing", "--to", BOB,
              "--node", "http://fake")
    assert out.exit_code == 0, out.output
    p = signed(node)
    assert isinstance(p, FxOffer)
    assert (p.give_asset, p.give_amount, p.want_asset, p.want_amount, p.partial,
            p.counterparty) == ("USD", 100_000, "SGD", 135_000, False, bytes.fromhex(BOB))
    assert before + 900_000 <= p.expires_at <= int(time.time() * 1000) + 900_000
    assert f"offer id {decode_tx(node.received[0]).hash_hex}" in text(out.stdout)


def test_a_bad_duration_is_refused_before_anything_is_signed(node, key_file):
    out = run("fx", "offer", "--key", str(key_file[0]), "--give", "1", "USD", "--want", "1",
              "SGD", "--expires-in", "soon", "--node", "http://fake")
    assert out.exit_code == 2 and "not a duration" in out.output
    assert node.received == []


def test_accept_pays_what_is_left_by_default_and_says_what_it_gets(node, key_file):
    out = run("fx", "accept", BID, "--key", str(key_file[0]), "--node", "http://fake")
    assert out.exit_code == 0, out.output
    assert signed(node) == FxAccept(bytes.fromhex(BID), 60_000)
    # floor(60,000 * 130,000 / 100,000): 78,000 SGD for the rest of the want leg
    assert "pay 60000 USD for 78000 SGD" in text(out.stdout)


def test_accept_of_an_unknown_offer_fails_with_the_nodes_reason(node, key_file):
    out = run("fx", "accept", "ff" * 32, "--key", str(key_file[0]), "--amount", "5",
              "--node", "http://fake")
    assert out.exit_code == 1 and "NOT_FOUND" in out.stderr and node.received == []


def test_cancel_signs_the_offer_id(node, key_file):
    out = run("fx", "cancel", ASK_CHEAP.upper(), "--key", str(key_file[0]), "--node",
              "http://fake")
    assert out.exit_code == 0, out.output
    assert signed(node) == FxCancel(bytes.fromhex(ASK_CHEAP))


def test_the_book_shows_asks_and_bids_in_quote_per_base_best_for_a_taker_first(node):
    out = run("fx", "book", "usd/sgd", "--node", "http://fake")
    assert out.exit_code == 0, out.output
    lines = [ln.split() for ln in out.stdout.splitlines()]
    asks = [ln for ln in lines if ln and ln[-1] in (ASK_CHEAP, ASK_DEAR)]
    bids = [ln for ln in lines if ln and ln[-1] == BID]
    assert [(a[0], a[1], a[-1]) for a in asks] == [("1.35", "1,000.00", ASK_CHEAP),
                                                   ("1.36", "500.00", ASK_DEAR)]
    assert (bids[0][0], bids[0][1]) == ("1.3", "600.00")  # 60,000 USD still wanted at 1.30
    assert "/v1/offers?give=USD&want=SGD&limit=1000" in node.queries
    assert "/v1/offers?give=SGD&want=USD&limit=1000" in node.queries


def test_the_book_refuses_a_pair_it_cannot_read(node):
    out = run("fx", "book", "USD-SGD", "--node", "http://fake")
    assert out.exit_code == 2 and "not a pair" in out.output


def test_show_renders_the_rate_fills_and_lock(node):
    out = run("fx", "show", BID, "--node", "http://fake")
    assert out.exit_code == 0, out.output
    shown = text(out.stdout)
    assert "rate 1 SGD = 0.769231 USD" in shown
    assert "paid 400.00 USD, given 520.00 SGD; locked 780.00 SGD" in shown


def test_an_escrow_puts_only_the_secrets_hash_on_chain(node, key_file, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"open sesame")
    before = int(time.time() * 1000)
    out = run("escrow", "create", "--key", str(key_file[0]), "--to", BOB, "--asset", "usd",
              "--amount", "20000", "--release-in", "1h", "--cancel-in", "2d", "--secret-file",
              str(secret), "--node", "http://fake")
    assert out.exit_code == 0, out.output
    p = signed(node)
    assert isinstance(p, EscrowCreate)
    assert (p.asset, p.to, p.amount) == ("USD", bytes.fromhex(BOB), 20_000)
    assert p.condition == hashlib.sha256(b"open sesame").digest()
    assert before + 3_600_000 <= p.release_after and p.cancel_after - p.release_after == (
        2 * 86_400_000 - 3_600_000)
    assert b"open sesame" not in node.received[0]


def test_release_shows_the_secret_and_cancel_signs_the_id(node, key_file, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"open sesame")
    out = run("escrow", "release", "0e" * 32, "--key", str(key_file[0]), "--secret-file",
              str(secret), "--node", "http://fake")
    assert out.exit_code == 0, out.output
    assert signed(node) == EscrowRelease(bytes.fromhex("0e" * 32), b"open sesame")
    node.received.clear()
    out = run("escrow", "cancel", "0e" * 32, "--key", str(key_file[0]), "--node", "http://fake")
    assert out.exit_code == 0 and signed(node) == EscrowCancel(bytes.fromhex("0e" * 32))


def test_an_oversized_secret_is_refused_before_anything_is_signed(node, key_file, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"x" * 257)
    out = run("escrow", "release", "0e" * 32, "--key", str(key_file[0]), "--secret-file",
              str(secret), "--node", "http://fake")
    assert out.exit_code == 2 and "1 to 256 bytes" in out.output and node.received == []


def test_list_filters_by_account_and_renders_units(node):
    out = run("escrow", "list", "--account", BOB, "--all", "--node", "http://fake")
    assert out.exit_code == 0, out.output
    assert f"/v1/escrows?limit=1000&status=all&account={BOB}" in node.queries
    assert "200.00 USD open (releasable now)" in text(out.stdout)
