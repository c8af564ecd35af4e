"""The demo: KYC-gated, cross-border payments on a running devnet, step by step.

Each step is a transaction and the outcome it must have: committed, or refused with a reason
code. A step whose outcome differs stops the demo (`StepOutcome.surprise`).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from node.ledger.crypto import KeyPair
from node.ledger.rules.loans import equal_instalments
from node.ledger.types import (
    AssetUpdate,
    FxAccept,
    FxOffer,
    Issue,
    JurisdictionBlock,
    JurisdictionUnblock,
    KycAttest,
    LoanAccept,
    LoanOffer,
    LoanRepay,
    Payload,
    ReserveReport,
    Transfer,
)

from .client import ApiError, Client, sign_and_submit
from .errors import DevnetError
from .network import Devnet, NodeStatus, collect_status

YEAR_MS = 365 * 86_400_000


# A payload that names an earlier step's transaction (the offer it takes): built, when its
# turn comes, from the tx hashes of the steps with a `ref`.
LaterPayload = Callable[[dict[str, bytes]], Payload]


@dataclass(frozen=True)
class Step:
    title: str
    signer: str  # a key name in DIR/keys
    payload: Payload | LaterPayload
    expect: str  # "committed" or a reason code
    ref: str = ""  # a name later steps know this step's tx hash by


@dataclass
class StepOutcome:
    step: Step
    status: str  # committed | failed | pending | rejected (refused at admission)
    code: str | None  # the reason code when not committed
    message: str
    height: int | None = None
    hash: str = ""

    @property
    def got(self) -> str | None:
        return "committed" if self.status == "committed" else self.code

    @property
    def surprise(self) -> str:
        """"" when the step went as it must, else what went otherwise."""
        if self.got == self.step.expect:
            return ""
        return f"expected {self.step.expect}, got {self.got}"


@dataclass
class Summary:
    carol: dict  # carol's account document after the steps
    nodes: list[NodeStatus]


def steps(keys: dict[str, KeyPair], now_ms: int) -> list[Step]:
    carol = keys["carol"].address
    bob = keys["bob"].address
    return [
        Step("alice pays carol 10.00 EUR: carol holds no attestation", "alice",
             Transfer("EUR", carol, 1000, "first try"), "KYC_MISSING"),
        Step("inst2 (Lion City Payments, SG) attests carol: tier 1, SG, one year", "inst2",
             KycAttest(carol, 1, "SG", now_ms + YEAR_MS,
                       hashlib.sha256(b"kyc-file:carol").digest()),
             "committed"),
        Step("cross-border: alice (US) pays carol (SG) 15.00 EUR, a currency issued in DE", "alice",
             Transfer("EUR", carol, 1500, "invoice 42"), "committed"),
        Step("alice sends bob 1,500.00 USD: over her tier-1 limit of 1,000.00 per payment", "alice",
             Transfer("USD", bob, 150_000, "too much"), "LIMIT_EXCEEDED"),
        *sanctions_update(carol),
        *reserves(bob, now_ms),
        *fx_settlement(keys["alice"].address, carol, now_ms),
    ]


def sanctions_update(carol: bytes) -> list[Step]:
    """A sanctions-list update on the running chain, no restart: block, refuse, unblock."""
    return [
        Step("sanctions-list update, no restart: the regulator blocks SG (carol's jurisdiction)",
             "regulator", JurisdictionBlock("SG"), "committed"),
        Step("alice pays carol 5.00 EUR: SG is blocked from that block on", "alice",
             Transfer("EUR", carol, 500, "after the update"), "JURISDICTION_BLOCKED"),
        Step("the regulator lifts the SG block", "regulator", JurisdictionUnblock("SG"),
             "committed"),
    ]


def reserves(bob: bytes, now_ms: int) -> list[Step]:
    """USD made reserve-backed on the running chain; issuance past the reserves is refused.
    The devnet's USD supply is 15,000.00 (alice's 5,000.00 and bob's 10,000.00)."""
    return [
        Step("the regulator makes USD reserve-backed (reports go stale after a day)", "regulator",
             AssetUpdate("USD", True, 86_400_000, 0), "committed"),
        Step("inst0 (USD's issuer) reports 16,000.00 USD of reserves", "inst0",
             ReserveReport("USD", 1_600_000, now_ms - 1_000,
                           hashlib.sha256(b"custodian statement").digest()), "committed"),
        Step("inst0 issues 2,000.00 USD to bob: supply 17,000.00 would exceed the reserves",
             "inst0", Issue("USD", bob, 200_000), "RESERVES_EXCEEDED"),
        Step("inst0 issues 500.00 USD to bob: within the reserves", "inst0",
             Issue("USD", bob, 50_000), "committed"),
    ]


def fx_settlement(alice: bytes, carol: bytes, now_ms: int) -> list[Step]:
    """Payment versus payment: alice (US) sells carol (SG) USD for SGD at 1.35, both legs in one
    transaction. The offer is carol's alone; bob cannot take it."""
    return [
        Step("inst2 (SGD's issuer) issues 1,000.00 SGD to carol", "inst2",
             Issue("SGD", carol, 100_000), "committed"),
        Step("FX: alice offers carol alone 500.00 USD for 675.00 SGD (1 USD = 1.35 SGD), for "
             "10 minutes: her 500.00 USD is locked", "alice",
             FxOffer("USD", 50_000, "SGD", 67_500, now_ms + 600_000, False, carol), "committed",
             ref="offer"),
        Step("bob tries to take it: the offer is made to carol alone", "bob",
             lambda refs: FxAccept(refs["offer"], 67_500), "NOT_COUNTERPARTY"),
        Step("carol takes it: 675.00 SGD to alice and 500.00 USD to carol in one transaction, "
             "or neither (PvP)", "carol", lambda refs: FxAccept(refs["offer"], 67_500),
             "committed"),
    ]


class Demo:
    """The demo on the devnet in a folder: its first node, and the demo keys."""

    KEYS = ("alice", "bob", "carol", "inst0", "inst2", "regulator")
    LOAN_KEYS = ("inst3",)  # the loan steps' lender (Thames Microfinance)

    def __init__(self, net: Devnet):
        self.net = net
        self.manifest = net.load()
        self.client = Client(self.manifest.nodes[0].url)
        self.keys = {name: self._key(name) for name in self.KEYS + self.LOAN_KEYS}
        self.refs: dict[str, bytes] = {}  # step ref -> its committed tx hash

    def _key(self, name: str) -> KeyPair:
        path = self.net.dir / "keys" / f"{name}.key"
        try:
            return KeyPair.load(path)
        except (OSError, ValueError, KeyError) as exc:
            raise DevnetError(f"no usable key {path}: {exc}") from None

    def steps(self) -> list[Step]:
        return steps(self.keys, int(time.time() * 1000))

    def run_step(self, step: Step) -> StepOutcome:
        payload = step.payload(self.refs) if callable(step.payload) else step.payload
        try:
            result = sign_and_submit(self.client, self.keys[step.signer], payload, wait=True)
        except ApiError as err:
            return StepOutcome(step, "rejected", err.code, err.message)
        if step.ref:
            self.refs[step.ref] = bytes.fromhex(result["hash"])
        return StepOutcome(step, result["status"], result.get("code") or result.get("error"),
                           result.get("message", ""), result.get("height"), result["hash"])

    def summary(self) -> Summary:
        carol = self.client.account(self.keys["carol"].address_hex)
        return Summary(carol, collect_status(self.net, self.manifest))

    # ---- a microfinance loan collected on schedule (node.ledger.rules.loans) ----------------
    def loan_offer_steps(self) -> list[Step]:
        """inst3 funds its lending book and offers alice 500.00 GBP at 10 %: two instalments
        of 275.00, the first due LOAN_FIRST_DUE_MS from now, the second in 30 days (times are
        taken now: the first must still be ahead when alice accepts)."""
        return loan_offer_steps(self.keys, int(time.time() * 1000))

    def wait_for_collection(self, loan_id: bytes, timeout: float = 30.0) -> dict:
        """The loan once its first instalment is collected (no tx: the first block past its due
        time collects it; an idle leader cuts that block itself)."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.client.get(f"/v1/loans/{loan_id.hex()}")
            if doc["schedule"][0]["state"] == "paid":
                return doc
            if time.monotonic() > deadline:
                raise DevnetError(f"the first instalment of loan {loan_id.hex()[:16]} was not "
                                  f"collected within {timeout:g}s")
            time.sleep(0.2)

    def credit(self, name: str) -> dict:
        return self.client.get(f"/v1/credit/{self.keys[name].address_hex}")


LOAN_FIRST_DUE_MS = 5_000
LOAN_PERIOD_MS = 30 * 86_400_000


def loan_offer_steps(keys: dict[str, KeyPair], now_ms: int) -> list[Step]:
    inst3, alice = keys["inst3"].address, keys["alice"].address
    schedule = equal_instalments(50_000, 1_000, 2, now_ms + LOAN_FIRST_DUE_MS, LOAN_PERIOD_MS)
    return [
        Step("inst3 (Thames Microfinance, GB) issues 10,000.00 GBP to its lending book", "inst3",
             Issue("GBP", inst3, 1_000_000), "committed"),
        Step("inst3 offers alice 500.00 GBP at 10 %: 2 x 275.00, the first due in 5 s, the "
             "second in 30 days; a day's grace", "inst3",
             LoanOffer(alice, "GBP", 50_000, 1_000, schedule, 86_400_000, 2,
                       now_ms + 600_000), "committed"),
    ]


def loan_accept_steps(loan_id: bytes) -> list[Step]:
    return [
        Step("bob accepts alice's loan: only its borrower may", "bob", LoanAccept(loan_id),
             "NOT_BORROWER"),
        Step("alice accepts: the on-ledger debit mandate; 500.00 GBP are disbursed to her",
             "alice", LoanAccept(loan_id), "committed"),
    ]


def loan_repay_step(loan_id: bytes) -> Step:
    return Step("alice repays 100.00 GBP early", "alice", LoanRepay(loan_id, 10_000),
                "committed")
