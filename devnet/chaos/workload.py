"""The chaos workload: fresh accounts set up by the devnet's institutions, clients moving small
amounts among them, and a reader taking snapshots of every balance.

Most operations are transfers; some settle FX (an offer of one set-up asset for the other,
open to anyone, and takes of the offers other clients made) and escrows (made to another
account, then released or, past their cancel time, cancelled). Offers expire and escrows
time out under the faults, so block-time sweeps run too. What offers and escrows lock is
counted by the snapshots through each asset's `held` (GET /v1/assets/{code}): on a devnet where
nobody else locks those assets during the run, balances + held stay what set-up made.

Each operation is one transaction with one outcome, as a client would see it:

  ok       the node acknowledged it committed (a successful receipt at a height);
  failed   a definite no: an error code at admission, or a committed, failed receipt;
  unknown  anything else (timeouts, lost connections, still pending, dropped from a pool):
           it may or may not commit later, and either is fine.
"""
from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import dataclass, field

import aiohttp

from node.ledger.crypto import KeyPair
from node.ledger.types import (
    EscrowCancel,
    EscrowCreate,
    EscrowRelease,
    FxAccept,
    FxOffer,
    Issue,
    KycAttest,
    Payload,
    Transfer,
    sign_tx,
)

from ..aioclient import post_batch, wait_committed
from ..errors import DevnetError
from ..network import Devnet
from .faults import Injector

SUBMIT_TIMEOUT = 2.0  # seconds for a node to answer a submission
COMMIT_WAIT = 3.0  # seconds a node is asked to long-poll for the outcome
READ_TIMEOUT = 2.0
INDEFINITE_CODES = {"INTERNAL", "HTTP_ERROR"}  # answers that say nothing about the tx
FUNDING = 1_000_000  # minor units of each asset per account: transfers never run it dry
SETUP_CHUNK = 50  # txs per set-up batch: the pool's window of a sender's future nonces
ATTESTATION_DAYS = 7
# Of every 100 operations: FX offers, takes of offers, escrows made, escrows ended; the rest
# are transfers.
MIX = (("fx_offer", 6), ("fx_accept", 12), ("escrow_create", 6), ("escrow_end", 8))
OFFER_LIFE_S = (3, 15)  # an offer stands this many seconds (drawn per offer)
ESCROW_WINDOW_S = (2, 8)  # an escrow may be released this long, then only cancelled


# ---- HTTP, as clients see it ---------------------------------------------------------------------

async def call(session: aiohttp.ClientSession, method: str, url: str, timeout: float,
               **kw) -> tuple[int, dict]:
    async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=timeout),
                               **kw) as r:
        return r.status, await r.json(content_type=None)


def no_answer(exc: BaseException) -> str:
    """Why a request got no answer, for the `unknown` tally."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "unreachable"
    if isinstance(exc, aiohttp.ClientError):
        return "connection lost"
    return "bad reply"


NO_ANSWER = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


# ---- the workload -------------------------------------------------------------------------------

@dataclass
class Account:
    key: KeyPair
    next_nonce: int | None = 0  # None: not known; read from a node before the next transfer


@dataclass
class Op:
    """One transfer and what its client learned about it (the field order is the history's)."""
    hash: str
    client: int
    node: str
    t: float
    outcome: str = "unknown"  # ok | failed | unknown
    why: str = ""  # failed: the reason code; unknown: why nobody knows
    stage: str = ""  # failed: "admission" or "receipt"
    height: int | None = None  # ok, or failed with a receipt: the block it is in
    done: float = 0.0  # when the client stopped waiting
    kind: str = "transfer"  # or fx_offer, fx_accept, escrow_create, escrow_release, _cancel


@dataclass
class Reads:
    """Balance reads of every account from one node, kept only when its height did not move
    during the read (a read across a block boundary is not a snapshot)."""
    checked: int = 0
    discarded: int = 0
    unreachable: int = 0
    total_violations: list[str] = field(default_factory=list)
    negative_violations: list[str] = field(default_factory=list)


# (node, height, every account's balances, each asset's units held in offers and escrows)
Snapshot = tuple[str, int, list[dict], dict[str, int]]


@dataclass
class OpenEscrow:
    id: bytes
    payer: Account
    cancel_after: int  # unix ms


class Workload:
    """Clients moving small amounts among a fixed set of accounts; each client owns some of
    the accounts, so it alone manages their nonces."""

    def __init__(self, session: aiohttp.ClientSession, urls: dict[str, str], chain_id: bytes,
                 accounts: list[Account], assets: list[str], initial: dict[str, int],
                 injector: Injector, seed: int):
        self.session, self.urls, self.chain_id = session, urls, chain_id
        self.accounts, self.assets, self.initial = accounts, assets, initial
        self.injector, self.seed = injector, seed
        self.ops: list[Op] = []
        self.offers: list[bytes] = []  # offers acknowledged committed, for any client to take
        self.reads = Reads()
        self.stop = asyncio.Event()

    async def run(self, clients: int) -> None:
        owners = [self.accounts[i::clients] for i in range(clients)]
        await asyncio.gather(self.read_loop(), *(self.client_loop(i, owned)
                                                 for i, owned in enumerate(owners) if owned))

    # -- operations --
    async def client_loop(self, cid: int, owned: list[Account]) -> None:
        rng = random.Random(f"{self.seed}:{cid}")
        escrows: list[OpenEscrow] = []  # this client's, made from the accounts it owns
        k = 0
        while not self.stop.is_set():
            acct = rng.choice(owned)
            if acct.next_nonce is None:
                acct.next_nonce = await self.read_next_nonce(acct, rng)
                if acct.next_nonce is None:
                    await asyncio.sleep(0.2)
                    continue
            kind, payload, ending = self.next_operation(rng, acct, escrows, f"chaos {cid}.{k}")
            tx = sign_tx(acct.key, self.chain_id, acct.next_nonce, payload)
            k += 1
            node = rng.choice(self.injector.reachable() or self.injector.names)
            op = Op(tx.hash_hex, cid, node, self.injector.now(), kind=kind)
            self.ops.append(op)
            await self.transfer(op, tx.raw)
            op.done = self.injector.now()
            self.remember(op, tx.hash, payload, acct, escrows, ending)
            # Only a commit tells us the nonce for sure; otherwise ask a node next time.
            acct.next_nonce = acct.next_nonce + 1 if op.outcome == "ok" else None

    def next_operation(self, rng: random.Random, acct: Account, escrows: list[OpenEscrow],
                       memo: str) -> tuple[str, Payload, OpenEscrow | None]:
        """What the client does next with `acct`: (kind, payload, the escrow it ends)."""
        now = int(time.time() * 1000)
        to = rng.choice([a for a in self.accounts if a is not acct])
        roll = rng.randrange(100)
        for kind, share in MIX:
            if roll >= share:
                roll -= share
                continue
            if kind == "fx_offer" and len(self.assets) > 1:
                give, want = rng.sample(self.assets, 2)
                return kind, FxOffer(give, rng.randint(50, 500), want, rng.randint(50, 500),
                                     now + rng.randint(*OFFER_LIFE_S) * 1000, True, b""), None
            if kind == "fx_accept" and self.offers:
                return kind, FxAccept(rng.choice(self.offers[-20:]), rng.randint(1, 200)), None
            if kind == "escrow_create":
                return kind, EscrowCreate(rng.choice(self.assets), to.key.address,
                                          rng.randint(1, 100), now - 1_000,
                                          now + rng.randint(*ESCROW_WINDOW_S) * 1000, b""), None
            mine = [e for e in escrows if e.payer is acct]
            if kind == "escrow_end" and mine:
                e = rng.choice(mine)
                if now < e.cancel_after:
                    return "escrow_release", EscrowRelease(e.id, b""), e
                return "escrow_cancel", EscrowCancel(e.id), e
            break
        # The memo makes every tx unique: a retry is a new tx, never the same bytes again.
        return "transfer", Transfer(rng.choice(self.assets), to.key.address,
                                    rng.randint(1, 100), memo), None

    def remember(self, op: Op, tx_hash: bytes, payload: Payload, acct: Account,
                 escrows: list[OpenEscrow], ending: OpenEscrow | None) -> None:
        """Offers and escrows the client now knows exist; an escrow ended (or refused: it is
        closed, or it never was) is forgotten."""
        if op.outcome == "ok" and isinstance(payload, FxOffer):
            self.offers.append(tx_hash)
        elif op.outcome == "ok" and isinstance(payload, EscrowCreate):
            escrows.append(OpenEscrow(tx_hash, acct, payload.cancel_after))
        elif ending is not None and op.outcome != "unknown":
            escrows.remove(ending)

    async def transfer(self, op: Op, raw: bytes) -> None:
        url = self.urls[op.node]
        try:
            status, body = await call(self.session, "POST", f"{url}/v1/txs", SUBMIT_TIMEOUT,
                                      json={"tx": raw.hex()})
        except NO_ANSWER as exc:
            op.why = no_answer(exc)
            return
        if "error" in body:
            if status >= 500 or body["error"] in INDEFINITE_CODES:
                op.why = body["error"]
            else:
                op.outcome, op.why, op.stage = "failed", body["error"], "admission"
            return
        try:
            _, doc = await call(self.session, "GET", f"{url}/v1/txs/{op.hash}?wait={COMMIT_WAIT}",
                                COMMIT_WAIT + SUBMIT_TIMEOUT)
        except NO_ANSWER as exc:  # admitted, then the node went quiet: it may still commit
            op.why = f"{no_answer(exc)} after admission"
            return
        learn_outcome(op, doc)

    async def read_next_nonce(self, acct: Account, rng: random.Random) -> int | None:
        url = self.urls[rng.choice(self.injector.reachable() or self.injector.names)]
        try:
            _, doc = await call(self.session, "GET", f"{url}/v1/accounts/{acct.key.address_hex}",
                                READ_TIMEOUT)
            return int(doc["next_nonce"])
        except (*NO_ANSWER, KeyError, TypeError):
            return None

    # -- reads --
    async def read_loop(self) -> None:
        rng = random.Random(f"{self.seed}:reads")
        while not self.stop.is_set():
            node = rng.choice(self.injector.reachable() or self.injector.names)
            read = await self.read_balances(node)
            if read is not None:
                self.check_read(*read)
            await asyncio.sleep(0.2)

    async def read_balances(self, node: str) -> Snapshot | None:
        """(node, height, every account's balances, each asset's held units), or None when not
        a snapshot."""
        url = self.urls[node]
        try:
            _, before = await call(self.session, "GET", f"{url}/v1/status", READ_TIMEOUT)
            docs = await asyncio.gather(*(
                call(self.session, "GET", f"{url}/v1/accounts/{a.key.address_hex}", READ_TIMEOUT)
                for a in self.accounts))
            assets = await asyncio.gather(*(
                call(self.session, "GET", f"{url}/v1/assets/{code}", READ_TIMEOUT)
                for code in self.assets))
            _, after = await call(self.session, "GET", f"{url}/v1/status", READ_TIMEOUT)
        except NO_ANSWER:
            self.reads.unreachable += 1
            return None
        if before.get("height") != after.get("height") or any(
                "balances" not in d for _, d in docs) or any("held" not in d for _, d in assets):
            self.reads.discarded += 1
            return None
        return (node, before["height"], [d["balances"] for _, d in docs],
                {code: d["held"] for code, (_, d) in zip(self.assets, assets, strict=True)})

    def check_read(self, node: str, height: int, balances: list[dict],
                   held: dict[str, int]) -> None:
        self.reads.checked += 1
        for asset, want in self.initial.items():
            got = sum(b.get(asset, 0) for b in balances) + held.get(asset, 0)
            if got != want:
                self.reads.total_violations.append(
                    f"{node} at height {height}: {asset} totals {got} with what offers and "
                    f"escrows hold, not {want}")
        for acct, b in zip(self.accounts, balances, strict=True):
            for asset, amount in b.items():
                if amount < 0:
                    self.reads.negative_violations.append(
                        f"{node} at height {height}: {acct.key.address_hex[:8]}… holds "
                        f"{amount} {asset}")


def learn_outcome(op: Op, doc: dict) -> None:
    """What the node's answer for the tx (GET /v1/txs/{hash}) tells its client."""
    status = doc.get("status")
    if status == "committed":
        op.outcome, op.height = "ok", doc["height"]
    elif status == "failed" and doc.get("height") is not None:
        op.outcome, op.why, op.stage = "failed", doc.get("code", ""), "receipt"
        op.height = doc["height"]
    elif status == "failed":  # dropped from this node's pool: another pool may still hold it
        op.why = f"dropped {doc.get('code', '')}".strip()
    else:
        op.why = f"still {status}"


# ---- set-up --------------------------------------------------------------------------------------

@dataclass
class Setup:
    """Who sets the accounts up, and at which KYC tier."""
    attestor: str  # the institution that attests the accounts
    assets: dict[str, str]  # asset code -> issuing institution
    tier: int


def plan_setup(net: Devnet) -> Setup:
    """From DIR/genesis.json: a KYC issuer and up to two asset issuers whose keys are in
    DIR/keys, and the highest KYC tier (the biggest limits)."""
    genesis = net.genesis_doc()
    has_key = {i["name"] for i in genesis["institutions"]
               if (net.dir / "keys" / f"{i['name']}.key").exists()}
    roles = {i["name"]: set(i["roles"]) for i in genesis["institutions"]}
    attestors = [n for n in roles if "kyc_issuer" in roles[n] and n in has_key]
    assets = {a["code"]: a["issuer"] for a in genesis["assets"]
              if a["issuer"] in has_key and "asset_issuer" in roles.get(a["issuer"], ())}
    if not attestors or not assets:
        raise DevnetError(f"no KYC issuer or asset issuer key in {net.dir}/keys")
    return Setup(attestors[0], dict(list(assets.items())[:2]),
                 max(t["tier"] for t in genesis["tiers"]))


async def set_up_accounts(session: aiohttp.ClientSession, url: str, chain_id: bytes, net: Devnet,
                          plan: Setup, accounts: list[Account]) -> dict[str, int]:
    """Attest and fund every account; returns the total of each asset they should now hold."""
    genesis = net.genesis_doc()
    jurisdiction = next(i["jurisdiction"] for i in genesis["institutions"]
                        if i["name"] == plan.attestor)
    expires = int(time.time() * 1000) + ATTESTATION_DAYS * 86_400_000

    def attest(a: Account) -> KycAttest:
        evidence = hashlib.sha256(b"chaos:" + a.key.address).digest()
        return KycAttest(a.key.address, plan.tier, jurisdiction, expires, evidence)

    await submit_all(session, url, chain_id, net, plan.attestor, [attest(a) for a in accounts])
    for asset, issuer in plan.assets.items():
        await submit_all(session, url, chain_id, net, issuer,
                         [Issue(asset, a.key.address, FUNDING) for a in accounts])
    return {asset: FUNDING * len(accounts) for asset in plan.assets}


async def submit_all(session: aiohttp.ClientSession, url: str, chain_id: bytes, net: Devnet,
                     institution: str, payloads: list[Payload]) -> None:
    """Sign with consecutive nonces, submit in chunks the pool's nonce window holds, and wait
    for each chunk to commit successfully."""
    key = net.key(institution)
    _, acct = await call(session, "GET", f"{url}/v1/accounts/{key.address_hex}", 10)
    nonce = acct["next_nonce"]
    txs = [sign_tx(key, chain_id, nonce + i, p) for i, p in enumerate(payloads)]
    for i in range(0, len(txs), SETUP_CHUNK):
        chunk = txs[i:i + SETUP_CHUNK]
        results = await post_batch(session, url, [t.raw for t in chunk])
        refused = [r for r in results if "error" in r]
        if refused:
            raise DevnetError(f"set-up refused: {refused[0]['error']} "
                              f"{refused[0].get('message', '')}")
        for t in chunk:
            doc = await wait_committed(session, url, t.hash_hex)
            if doc["status"] != "committed":
                raise DevnetError(f"set-up failed: {doc.get('code')} {doc.get('message', '')}")
