"""lichen devnet chaos: break a running devnet on a schedule under a bank workload, then check
that nothing the ledger promised was broken (in the spirit of Jepsen's bank test).

Stages, as in cometbft's end-to-end runner:

  set up   fresh accounts, attested by a KYC issuer and funded by asset issuers whose keys are
           in DIR/keys; the initial total of each asset over these accounts is recorded.
  load     clients transfer small amounts among the accounts; a reader reads all balances.
  perturb  at the same time, faults follow a schedule computed up front from the seed.
  heal     every link whole, every paused node resumed, every stopped node started.
  wait     until every node reports the same (height, block hash, state hash).
  check    the invariants below, on every node.
  report   faults, operations, reads, invariants; exit 1 on any violation.

The network is left running afterwards, for inspection (`lichen devnet status`, `logs`).

Invariants:

  totals_conserved            every snapshot read: each asset's total over the accounts is
                              what set-up issued (transfers move value, never make or lose it)
  no_negative_balance         every snapshot read: no account holds less than nothing
  acknowledged_outcomes_hold  a tx acknowledged committed is in every node's chain exactly once,
                              at the acknowledged height, with the same outcome
  no_tx_twice                 no tx hash is in any chain twice
  rejections_stay_out         a tx refused at admission is in no chain
  nodes_converged             all nodes agree on (height, block hash, state hash)
  chains_verify               every node's chain replays from genesis (`lichen chain verify`)
  daemons_stayed_up           no daemon exited unless the injector killed it

Each transfer is one operation with one outcome, as a client would see it:

  ok       the node acknowledged it committed (a successful receipt at a height);
  failed   a definite no: an error code at admission, or a committed, failed receipt;
  unknown  anything else (timeouts, lost connections, still pending, dropped from a pool):
           it may or may not commit later, and either is fine.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable

import aiohttp
import click
from rich.table import Table

from node.ledger.crypto import KeyPair
from node.ledger.errors import LedgerError
from node.ledger.types import Block, Issue, KycAttest, Transfer, sign_tx

from .bench import post_batch, wait_committed
from .chain import BadGenesis, verify_node
from .client import ApiError, Client
from .common import console, emit_json, err_console, json_option
from .devnet import Devnet, admin, dir_option, pid_alive
from .render import short

# ---- the fault schedule: a pure function of its inputs ----------------------------------------

FAULT_KINDS = ("kill", "pause", "partition", "lossy", "restart-all")
LEADER = "leader"  # a target resolved when the fault is injected
PARTITION_VARIANTS = ("one", "minority", "leader")


@dataclass(frozen=True)
class Fault:
    """One planned fault: at `t` seconds into the load, for `duration` seconds, then undone."""
    t: float
    action: str  # one of FAULT_KINDS
    targets: tuple[str, ...]  # node names, or LEADER
    duration: float
    variant: str = ""  # partition: one | minority | leader
    drop: float = 0.0  # lossy: the fraction of frames dropped


def fault_schedule(seed: int, duration: float, interval: float, kinds: list[str],
                   nodes: list[str]) -> list[Fault]:
    """The faults of a run. One per interval, the first interval left fault-free as a baseline;
    each starts within the first fifth of its interval and ends before the next one starts.
    The kinds come round in shuffled rounds, so every requested kind is injected as soon as
    there are as many intervals as kinds."""
    rng = random.Random(seed)
    nodes = sorted(nodes)
    schedule: list[Fault] = []
    order: list[str] = []
    k = 1
    while kinds and (k + 0.9) * interval <= duration:
        if not order:
            order = sorted(kinds)
            rng.shuffle(order)
        action = order.pop()
        t = round(k * interval + rng.uniform(0, 0.2 * interval), 1)
        length = round(rng.uniform(0.4, 0.7) * interval, 1)
        schedule.append(plan_fault(rng, action, t, length, nodes))
        k += 1
    return schedule


def plan_fault(rng: random.Random, action: str, t: float, length: float, nodes: list[str]) -> Fault:
    if action == "restart-all":
        return Fault(t, action, tuple(nodes), length)
    if action == "partition":
        variant = rng.choice(PARTITION_VARIANTS)
        if variant == "one":
            targets = (rng.choice(nodes),)
        elif variant == "minority":
            targets = tuple(sorted(rng.sample(nodes, max(1, (len(nodes) - 1) // 2))))
        else:
            targets = (LEADER,)
        return Fault(t, action, targets, length, variant)
    target = rng.choice(nodes + [LEADER])  # kill, pause, lossy: one node, sometimes the leader
    drop = round(rng.uniform(0.2, 0.5), 2) if action == "lossy" else 0.0
    return Fault(t, action, (target,), length, drop=drop)


def describe(f: Fault, targets: list[str] | tuple[str, ...] | None = None) -> str:
    """In words; with the targets it was injected on, when known."""
    if targets is None:
        who = ", ".join(f.targets)
    else:
        who = ", ".join(f"{t} (the leader)" if planned == LEADER else t
                        for planned, t in zip(f.targets, targets))
    if f.action == "partition":
        return f"partition ({f.variant}): {who} cut off"
    if f.action == "lossy":
        return f"lossy: {who} drops {f.drop:.0%}"
    if f.action == "restart-all":
        return "restart-all: kill -9 every node, then start them"
    return f"{f.action} {who}"


# ---- the injector: follows the schedule in wall time ------------------------------------------

RESTART_TIMEOUT = 15.0  # seconds a restarted node may take to serve again

class Injector:
    """Injects and undoes faults on the devnet's processes and links; watches for daemons that
    exit without being killed. Blocking work (signals, process starts, admin calls) runs in
    worker threads so the workload's event loop keeps going."""

    def __init__(self, net: Devnet, doc: dict, say: Callable[[str], object]):
        self.net, self.doc, self.say = net, doc, say
        self.names = [n["name"] for n in doc["nodes"]]
        self.down: set[str] = set()  # killed by us, not started again yet
        self.crashed: set[str] = set()  # exited on their own, not started again yet
        self.injected: list[dict] = []
        self.crashes: list[dict] = []
        self.t0 = time.monotonic()

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def node(self, name: str) -> dict:
        return self.net.node(self.doc, name)

    def reachable(self) -> list[str]:
        """Nodes a client may try: running, as far as the injector knows (paused ones included:
        clients cannot tell)."""
        return [n for n in self.names if n not in self.down and n not in self.crashed]

    # -- following the schedule --
    async def follow(self, schedule: list[Fault]) -> None:
        for f in schedule:
            await sleep_until(self.t0 + f.t)
            record = await asyncio.to_thread(self.inject, f)
            self.injected.append(record)
            self.say(f"[yellow]⚡[/] {record['t']:6.1f}s  {describe(f, record['targets'])}"
                     + (f"  [red]{'; '.join(record['errors'])}[/]" if record["errors"] else ""))
            await sleep_until(self.t0 + max(f.t + f.duration, record["t"] + 0.5))
            await asyncio.to_thread(self.undo, f, record)
            self.say(f"[green]↺[/] {record['undone_at']:6.1f}s  undone: {f.action}")

    def inject(self, f: Fault) -> dict:
        record = {"t": self.now(), "planned_t": f.t, "action": f.action, "variant": f.variant,
                  "planned_targets": list(f.targets), "targets": [], "duration": f.duration,
                  "drop": f.drop, "undone_at": None, "errors": []}
        targets = self.resolve(f.targets, record)
        record["targets"] = targets
        if f.action in ("kill", "restart-all"):
            self.kill(targets, record)
        elif f.action == "pause":
            self.pause(targets)
        elif f.action == "partition":
            self.cut_off(targets, record)
        elif f.action == "lossy":
            for name in targets:
                self.admin(name, {"lossy": {"peers": None, "fraction": f.drop}}, record)
        return record

    def undo(self, f: Fault, record: dict) -> None:
        targets = record["targets"]
        if f.action in ("kill", "restart-all"):
            started = [n for n in targets if n in self.down]
            self.restart(started)
            # Undone once they serve again, so the next fault meets a running network.
            record["serving_after"] = self.wait_serving(started, RESTART_TIMEOUT, record)
        elif f.action == "pause":
            self.resume(targets)
        else:  # partition, lossy: every link whole again
            self.heal_links(record)
        record["undone_at"] = self.now()

    def resolve(self, targets: tuple[str, ...], record: dict) -> list[str]:
        if LEADER not in targets:
            return list(targets)
        leader = self.leader()
        if leader is None:  # mid-election: the fault still goes ahead, on some node
            leader = random.Random(record["planned_t"]).choice(self.reachable() or self.names)
            record["errors"].append(f"no leader at injection; chose {leader}")
        record["leader"] = leader
        return [leader if t == LEADER else t for t in targets]

    def leader(self) -> str | None:
        best = None
        for name in self.reachable():
            try:
                st = Client(self.node(name)["url"], timeout=1).status()
            except ApiError:
                continue
            if st["role"] == "leader" and (best is None or st["term"] > best[1]):
                best = (name, st["term"])
        return best[0] if best else None

    # -- processes --
    def kill(self, names: list[str], record: dict) -> None:
        for name in names:
            n = self.node(name)
            if name in self.down or not self.net.alive(n):
                record["errors"].append(f"{name} was not running")
                continue
            self.down.add(name)  # before the signal, so the crash watcher knows
            send(n, signal.SIGKILL)

    def restart(self, names: list[str]) -> None:
        for name in names:
            n = self.node(name)
            n["pid"] = self.net.start(n)
            self.down.discard(name)
            self.crashed.discard(name)
        self.net.save(self.doc)

    def wait_serving(self, names: list[str], timeout: float, record: dict) -> float | None:
        """Seconds until every named node answers /v1/status, or None at the timeout."""
        t0 = time.monotonic()
        waiting = set(names)
        while waiting and time.monotonic() - t0 < timeout:
            for name in sorted(waiting):
                try:
                    Client(self.node(name)["url"], timeout=1).status()
                    waiting.discard(name)
                except ApiError:
                    pass
            time.sleep(0.1)
        if waiting:
            record["errors"].append(f"{', '.join(sorted(waiting))} not serving {timeout:.0f}s after a restart")
            return None
        return round(time.monotonic() - t0, 2)

    def pause(self, names: list[str]) -> None:
        for name in names:
            n = self.node(name)
            if self.net.alive(n):
                send(n, signal.SIGSTOP)

    def resume(self, names: list[str]) -> None:
        for name in names:
            n = self.node(name)
            if self.net.alive(n):
                send(n, signal.SIGCONT)

    # -- links (the nodes' devnet fault filters) --
    def cut_off(self, names: list[str], record: dict) -> None:
        """Both directions, as `lichen devnet partition` does."""
        others = [n for n in self.names if n not in names]
        for name in names:
            self.admin(name, {"partition": [self.node(o)["node_id"] for o in others]}, record)
        for o in others:
            self.admin(o, {"partition": [self.node(n)["node_id"] for n in names]}, record)

    def heal_links(self, record: dict | None = None) -> None:
        for name in self.reachable():
            self.admin(name, {"heal": True}, record)

    def admin(self, name: str, body: dict, record: dict | None) -> None:
        if name in self.down or name in self.crashed:
            return  # a stopped node has no links; a restarted one starts whole
        try:
            admin(self.net, self.node(name), body)
        except click.ClickException as exc:
            if record is not None:
                record["errors"].append(exc.message)

    # -- daemons that exit on their own are a finding --
    async def watch_exits(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.note_exits()
            await asyncio.sleep(0.5)

    def note_exits(self) -> None:
        for name in self.names:
            n = self.node(name)
            if name in self.down or name in self.crashed or pid_alive(n.get("pid")):
                continue
            self.crashed.add(name)
            tail = log_tail(self.net, name)
            self.crashes.append({"t": self.now(), "node": name, "pid": n.get("pid"), "log_tail": tail})
            self.say(f"[red]✖[/] {self.now():6.1f}s  {name} (pid {n.get('pid')}) exited on its own")

    # -- the heal stage --
    def heal_everything(self, timeout: float) -> list[str]:
        """Resume every node, start every stopped one, make every link whole. Returns problems."""
        problems = []
        self.resume(self.names)
        self.note_exits()
        stopped = [n for n in self.names if not self.net.alive(self.node(n))]
        self.restart(stopped)
        deadline = time.monotonic() + timeout
        healed: set[str] = set()
        while len(healed) < len(self.names) and time.monotonic() < deadline:
            self.note_exits()
            for name in self.reachable():
                if name not in healed:
                    try:
                        admin(self.net, self.node(name), {"heal": True})
                        healed.add(name)
                    except click.ClickException:
                        pass  # still starting
            time.sleep(0.2)
        for name in sorted(set(self.names) - healed):
            problems.append(f"{name} did not serve again within {timeout:.0f}s")
        return problems


def send(n: dict, sig: signal.Signals) -> None:
    try:
        os.kill(n["pid"], sig)
    except ProcessLookupError:
        pass  # it exited meanwhile: the crash watcher reports it


def log_tail(net: Devnet, name: str, lines: int = 15) -> str:
    path = net.dir / name / "node.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


# ---- HTTP, as clients see it --------------------------------------------------------------------

SUBMIT_TIMEOUT = 2.0  # seconds for a node to answer a submission
COMMIT_WAIT = 3.0  # seconds a node is asked to long-poll for the outcome
READ_TIMEOUT = 2.0
INDEFINITE_CODES = {"INTERNAL", "HTTP_ERROR"}  # answers that say nothing about the tx


async def call(session: aiohttp.ClientSession, method: str, url: str, timeout: float,
               **kw) -> tuple[int, dict]:
    async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=timeout), **kw) as r:
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
    """One transfer and what its client learned about it."""
    hash: str
    client: int
    node: str
    t: float
    outcome: str = "unknown"  # ok | failed | unknown
    why: str = ""  # failed: the reason code; unknown: why nobody knows
    stage: str = ""  # failed: "admission" or "receipt"
    height: int | None = None  # ok, or failed with a receipt: the block it is in
    done: float = 0.0  # when the client stopped waiting


@dataclass
class Reads:
    """Balance reads of every account from one node, kept only when its height did not move
    during the read (a read across a block boundary is not a snapshot)."""
    checked: int = 0
    discarded: int = 0
    unreachable: int = 0
    total_violations: list[str] = field(default_factory=list)
    negative_violations: list[str] = field(default_factory=list)


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
        self.reads = Reads()
        self.stop = asyncio.Event()

    async def run(self, clients: int) -> None:
        owners = [self.accounts[i::clients] for i in range(clients)]
        await asyncio.gather(self.read_loop(), *(self.client_loop(i, owned)
                                                 for i, owned in enumerate(owners) if owned))

    # -- transfers --
    async def client_loop(self, cid: int, owned: list[Account]) -> None:
        rng = random.Random(f"{self.seed}:{cid}")
        k = 0
        while not self.stop.is_set():
            acct = rng.choice(owned)
            if acct.next_nonce is None:
                acct.next_nonce = await self.read_next_nonce(acct, rng)
                if acct.next_nonce is None:
                    await asyncio.sleep(0.2)
                    continue
            to = rng.choice([a for a in self.accounts if a is not acct])
            # The memo makes every tx unique: a retry is a new tx, never the same bytes again.
            payload = Transfer(rng.choice(self.assets), to.key.address, rng.randint(1, 100), f"chaos {cid}.{k}")
            tx = sign_tx(acct.key, self.chain_id, acct.next_nonce, payload)
            k += 1
            node = rng.choice(self.injector.reachable() or self.injector.names)
            op = Op(tx.hash_hex, cid, node, self.injector.now())
            self.ops.append(op)
            await self.transfer(op, tx.raw)
            op.done = self.injector.now()
            # Only a commit tells us the nonce for sure; otherwise ask a node next time.
            acct.next_nonce = acct.next_nonce + 1 if op.outcome == "ok" else None

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
        self.learn_outcome(op, doc)

    @staticmethod
    def learn_outcome(op: Op, doc: dict) -> None:
        status = doc.get("status")
        if status == "committed":
            op.outcome, op.height = "ok", doc["height"]
        elif status == "failed" and doc.get("height") is not None:
            op.outcome, op.why, op.stage, op.height = "failed", doc.get("code", ""), "receipt", doc["height"]
        elif status == "failed":  # dropped from this node's pool: another pool may still hold it
            op.why = f"dropped {doc.get('code', '')}".strip()
        else:
            op.why = f"still {status}"

    async def read_next_nonce(self, acct: Account, rng: random.Random) -> int | None:
        url = self.urls[rng.choice(self.injector.reachable() or self.injector.names)]
        try:
            _, doc = await call(self.session, "GET", f"{url}/v1/accounts/{acct.key.address_hex}", READ_TIMEOUT)
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

    async def read_balances(self, node: str) -> tuple[str, int, list[dict]] | None:
        """(node, height, every account's balances), or None when not a snapshot."""
        url = self.urls[node]
        try:
            _, before = await call(self.session, "GET", f"{url}/v1/status", READ_TIMEOUT)
            docs = await asyncio.gather(*(
                call(self.session, "GET", f"{url}/v1/accounts/{a.key.address_hex}", READ_TIMEOUT)
                for a in self.accounts))
            _, after = await call(self.session, "GET", f"{url}/v1/status", READ_TIMEOUT)
        except NO_ANSWER:
            self.reads.unreachable += 1
            return None
        if before.get("height") != after.get("height") or any("balances" not in d for _, d in docs):
            self.reads.discarded += 1
            return None
        return node, before["height"], [d["balances"] for _, d in docs]

    def check_read(self, node: str, height: int, balances: list[dict]) -> None:
        self.reads.checked += 1
        for asset, want in self.initial.items():
            got = sum(b.get(asset, 0) for b in balances)
            if got != want:
                self.reads.total_violations.append(
                    f"{node} at height {height}: {asset} totals {got}, not {want}")
        for acct, b in zip(self.accounts, balances):
            for asset, amount in b.items():
                if amount < 0:
                    self.reads.negative_violations.append(
                        f"{node} at height {height}: {short(acct.key.address_hex, 8)} holds {amount} {asset}")


# ---- set-up --------------------------------------------------------------------------------------

FUNDING = 1_000_000  # minor units of each asset per account: transfers never run it dry


@dataclass
class Setup:
    """Who sets the accounts up, and at which KYC tier."""
    attestor: str  # the institution that attests the accounts
    assets: dict[str, str]  # asset code -> issuing institution
    tier: int


def plan_setup(net: Devnet) -> Setup:
    """From DIR/genesis.json: a KYC issuer and up to two asset issuers whose keys are in
    DIR/keys, and the highest KYC tier (the biggest limits)."""
    genesis = json.loads((net.dir / "genesis.json").read_text())
    has_key = {i["name"] for i in genesis["institutions"] if (net.dir / "keys" / f"{i['name']}.key").exists()}
    roles = {i["name"]: set(i["roles"]) for i in genesis["institutions"]}
    attestors = [n for n in roles if "kyc_issuer" in roles[n] and n in has_key]
    assets = {a["code"]: a["issuer"] for a in genesis["assets"]
              if a["issuer"] in has_key and "asset_issuer" in roles.get(a["issuer"], ())}
    if not attestors or not assets:
        raise click.ClickException(f"no KYC issuer or asset issuer key in {net.dir}/keys")
    return Setup(attestors[0], dict(list(assets.items())[:2]), max(t["tier"] for t in genesis["tiers"]))


async def set_up_accounts(session, url: str, chain_id: bytes, net: Devnet, plan: Setup,
                          accounts: list[Account]) -> dict[str, int]:
    """Attest and fund every account; returns the total of each asset they should now hold."""
    genesis = json.loads((net.dir / "genesis.json").read_text())
    jurisdiction = next(i["jurisdiction"] for i in genesis["institutions"] if i["name"] == plan.attestor)
    expires = int(time.time() * 1000) + 7 * 86_400_000

    def attest(a: Account) -> KycAttest:
        evidence = hashlib.sha256(b"chaos:" + a.key.address).digest()
        return KycAttest(a.key.address, plan.tier, jurisdiction, expires, evidence)

    await submit_all(session, url, chain_id, net, plan.attestor, [attest(a) for a in accounts])
    for asset, issuer in plan.assets.items():
        await submit_all(session, url, chain_id, net, issuer,
                         [Issue(asset, a.key.address, FUNDING) for a in accounts])
    return {asset: FUNDING * len(accounts) for asset in plan.assets}


async def submit_all(session, url: str, chain_id: bytes, net: Devnet, institution: str, payloads: list) -> None:
    """Sign with consecutive nonces, submit in chunks the pool's nonce window holds, and wait
    for each chunk to commit successfully."""
    key = KeyPair.load(net.dir / "keys" / f"{institution}.key")
    _, acct = await call(session, "GET", f"{url}/v1/accounts/{key.address_hex}", 10)
    nonce = acct["next_nonce"]
    txs = [sign_tx(key, chain_id, nonce + i, p) for i, p in enumerate(payloads)]
    for i in range(0, len(txs), 50):
        chunk = txs[i:i + 50]
        refused = [r for r in await post_batch(session, url, [t.raw for t in chunk]) if "error" in r]
        if refused:
            raise click.ClickException(f"set-up refused: {refused[0]['error']} {refused[0].get('message', '')}")
        for t in chunk:
            doc = await wait_committed(session, url, t.hash_hex)
            if doc["status"] != "committed":
                raise click.ClickException(f"set-up failed: {doc.get('code')} {doc.get('message', '')}")


# ---- heal and wait for convergence ---------------------------------------------------------------

async def statuses(session, urls: dict[str, str]) -> dict[str, dict | None]:
    async def one(url):
        try:
            return (await call(session, "GET", f"{url}/v1/status", READ_TIMEOUT))[1]
        except NO_ANSWER:
            return None
    docs = await asyncio.gather(*(one(u) for u in urls.values()))
    return dict(zip(urls, docs))


def tips(st: dict[str, dict | None]) -> set:
    return {(s["height"], s["block_hash"], s["state_hash"]) if s else None for s in st.values()}


async def wait_converged(session, urls: dict[str, str], timeout: float,
                         since: float) -> tuple[float | None, dict]:
    """Seconds from `since` until every node serves the same (height, block hash, state hash),
    seen twice in a row half a second apart (so late commits have settled); None at the timeout."""
    last: set = set()
    first_seen = 0.0
    st: dict = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = await statuses(session, urls)
        now = tips(st)
        if len(now) == 1 and None not in now:
            if now == last:
                return round(first_seen - since, 2), st
            first_seen = time.monotonic()
        last = now
        await asyncio.sleep(0.5)
    return None, st


# ---- checks: each returns (ok, detail) -----------------------------------------------------------

Check = tuple[bool, str]


def check_totals_conserved(reads: Reads, initial: dict[str, int]) -> Check:
    if reads.total_violations:
        return False, f"{len(reads.total_violations)} reads off, first: {reads.total_violations[0]}"
    if not reads.checked:
        return False, "no read was a snapshot, so nothing was checked"
    totals = ", ".join(f"{a} {v}" for a, v in initial.items())
    return True, f"{reads.checked} reads, each totalling {totals}"


def check_no_negative_balance(reads: Reads) -> Check:
    if reads.negative_violations:
        return False, f"{len(reads.negative_violations)} negative, first: {reads.negative_violations[0]}"
    return True, f"no negative balance in {reads.checked} reads"


@dataclass
class NodeChain:
    """What one node's chain holds, from a full replay of its blocks."""
    name: str
    status: dict | None = None
    problem: str = ""  # chain verification: "" when it passed
    blocks: int = 0
    where: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # tx hash -> [(height, status)]
    index: dict[str, dict] = field(default_factory=dict)  # GET /v1/txs/{h} for acknowledged txs


def replay_node(name: str, url: str) -> NodeChain:
    """Verify the node's chain as `lichen chain verify` does, noting every tx it holds."""
    chain = NodeChain(name)

    def note(height: int, raw: bytes, doc: dict) -> None:
        # Hashes from the block's bytes, which the replay checks; outcomes from the node's JSON.
        try:
            txs = Block.decode(raw).txs
        except LedgerError:
            return  # the replay reports the undecodable block
        chain.blocks += 1
        outcomes = [tx.get("status") for tx in doc.get("txs", [])]
        for i, tx_raw in enumerate(txs):
            outcome = outcomes[i] if i < len(outcomes) else None
            chain.where.setdefault(hashlib.sha256(tx_raw).hexdigest(), []).append((height, outcome))

    try:
        chain.status, _, chain.problem = verify_node(Client(url, timeout=10), note)
    except (ApiError, BadGenesis) as exc:
        chain.problem = str(exc)
    return chain


async def read_tx_index(session, url: str, hashes: list[str], chain: NodeChain) -> None:
    """The node's own answer (GET /v1/txs/{h}) for each acknowledged tx."""
    gate = asyncio.Semaphore(16)

    async def one(h: str) -> None:
        async with gate:
            try:
                chain.index[h] = (await call(session, "GET", f"{url}/v1/txs/{h}", 10))[1]
            except NO_ANSWER as exc:
                chain.index[h] = {"status": f"no answer ({no_answer(exc)})"}

    await asyncio.gather(*(one(h) for h in hashes))


def check_acknowledged_outcomes_hold(ops: list[Op], chains: list[NodeChain]) -> Check:
    """Every tx acknowledged committed (ok, or with a failed receipt) is in every node's chain
    exactly once, at the acknowledged height, with the same outcome, and the node says so."""
    acked = [op for op in ops if op.height is not None]
    for op in acked:
        want = "committed" if op.outcome == "ok" else "failed"
        for c in chains:
            found = c.where.get(op.hash, [])
            if found != [(op.height, want)]:
                return False, (f"tx {short(op.hash, 12)} ({want} at height {op.height}): "
                               f"{c.name}'s blocks hold it as {found or 'nothing'}")
            told = c.index.get(op.hash, {})
            if told.get("status") != want or told.get("height") != op.height:
                return False, (f"tx {short(op.hash, 12)} ({want} at height {op.height}): {c.name} "
                               f"answers {told.get('status')} at height {told.get('height')}")
    return True, f"{len(acked)} acknowledged txs found once, at their height, on {len(chains)} nodes"


def check_no_tx_twice(chains: list[NodeChain]) -> Check:
    for c in chains:
        for h, found in c.where.items():
            if len(found) > 1:
                return False, f"{c.name}: tx {short(h, 12)} is in blocks {[x[0] for x in found]}"
    return True, f"no tx hash appears twice in any of {len(chains)} chains"


def check_rejections_stay_out(ops: list[Op], chains: list[NodeChain]) -> Check:
    """A tx refused at admission was never accepted anywhere: it must be in no chain."""
    refused = [op for op in ops if op.stage == "admission"]
    for op in refused:
        for c in chains:
            if op.hash in c.where:
                return False, (f"tx {short(op.hash, 12)} refused with {op.why} by {op.node} is in "
                               f"{c.name}'s block {c.where[op.hash][0][0]} as {c.where[op.hash][0][1]}")
    return True, f"none of {len(refused)} refused txs is in any chain"


def check_nodes_converged(converged_after: float | None, st: dict[str, dict | None]) -> Check:
    if converged_after is None:
        rows = ", ".join(f"{n}: " + (f"{s['height']}/{short(s['block_hash'], 8)}/{short(s['state_hash'], 8)}"
                                      if s else "down") for n, s in st.items())
        return False, f"no agreement: {rows}"
    s = next(iter(st.values()))
    return True, (f"{len(st)} nodes at height {s['height']}, block {short(s['block_hash'], 12)}, "
                  f"state {short(s['state_hash'], 12)}")


def check_chains_verify(chains: list[NodeChain]) -> Check:
    bad = [c for c in chains if c.problem]
    if bad:
        return False, f"{bad[0].name}: {bad[0].problem}"
    return True, f"{len(chains)} chains replayed from genesis ({chains[0].blocks if chains else 0} blocks each)"


def check_daemons_stayed_up(injector: Injector, heal_problems: list[str]) -> Check:
    if injector.crashes:
        c = injector.crashes[0]
        last = c["log_tail"].splitlines()[-1:] or [""]
        return False, f"{c['node']} exited on its own at {c['t']:.1f}s; its log ends: {last[0]}"
    if heal_problems:
        return False, heal_problems[0]
    return True, "no daemon exited without being killed"


# ---- the run -------------------------------------------------------------------------------------

@dataclass
class Options:
    """The command's options, as one value."""
    duration: float
    seed: int
    faults: list[str]
    interval: float
    clients: int
    accounts: int
    converge_timeout: float
    history: str | None = None  # a file for every operation, one JSON object per line


async def run_chaos(net: Devnet, o: Options, say: Callable[[str], object]) -> dict:
    doc = net.load()
    stopped = [n["name"] for n in doc["nodes"] if not net.alive(n)]
    if stopped:
        raise click.ClickException(f"{', '.join(stopped)} not running; start with `lichen devnet start NAME`")
    urls = {n["name"]: n["url"] for n in doc["nodes"]}
    schedule = fault_schedule(o.seed, o.duration, o.interval, o.faults, list(urls))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        injector = Injector(net, doc, say)
        load = await set_up(session, net, urls, injector, o, say)
        watching = asyncio.Event()
        watcher = asyncio.create_task(injector.watch_exits(watching))
        try:
            say(f"load + perturb: {o.duration:.0f}s, {o.clients} clients, {len(schedule)} faults (seed {o.seed})")
            await load_and_perturb(load, injector, schedule, o)
        finally:  # on Ctrl-C too: never leave the network cut, paused or down
            say("heal: every link whole, every node resumed and running; waiting for convergence")
            healing = time.monotonic()
            heal_problems = await asyncio.to_thread(injector.heal_everything, 30.0)
        converged_after, st = await wait_converged(session, urls, o.converge_timeout, healing)
        watching.set()
        await watcher
        say("check: final reads, every node's chain replayed from genesis")
        chains = await final_reads_and_replays(session, load, urls)
        injector.note_exits()
    if o.history:
        write_history(o.history, load.ops)
    invariants = [
        ("totals_conserved", check_totals_conserved(load.reads, load.initial)),
        ("no_negative_balance", check_no_negative_balance(load.reads)),
        ("acknowledged_outcomes_hold", check_acknowledged_outcomes_hold(load.ops, chains)),
        ("no_tx_twice", check_no_tx_twice(chains)),
        ("rejections_stay_out", check_rejections_stay_out(load.ops, chains)),
        ("nodes_converged", check_nodes_converged(converged_after, st)),
        ("chains_verify", check_chains_verify(chains)),
        ("daemons_stayed_up", check_daemons_stayed_up(injector, heal_problems)),
    ]
    return report_of(o, schedule, injector, load, converged_after, invariants)


async def set_up(session, net: Devnet, urls: dict[str, str], injector: Injector, o: Options,
                 say: Callable[[str], object]) -> Workload:
    """Fresh accounts, attested and funded; the initial totals read back from a node."""
    first = next(iter(urls.values()))
    chain_id = bytes.fromhex((await call(session, "GET", f"{first}/v1/status", 10))[1]["chain_id"])
    plan = plan_setup(net)
    accounts = [Account(KeyPair.generate()) for _ in range(o.accounts)]
    say(f"set up: {o.accounts} accounts attested by {plan.attestor} (tier {plan.tier}), funded "
        f"with {', '.join(f'{a} by {i}' for a, i in plan.assets.items())}")
    funded = await set_up_accounts(session, first, chain_id, net, plan, accounts)
    load = Workload(session, urls, chain_id, accounts, list(plan.assets), funded, injector, o.seed)
    for _ in range(20):
        read = await load.read_balances(next(iter(urls)))
        if read is not None:
            break
    else:
        raise click.ClickException("could not read the new accounts' balances after set-up")
    load.initial = {asset: sum(b.get(asset, 0) for b in read[2]) for asset in funded}
    if load.initial != funded:
        raise click.ClickException(f"set-up funded {load.initial}, not {funded}")
    load.reads = Reads()  # the set-up read is not part of the run
    return load


async def load_and_perturb(load: Workload, injector: Injector, schedule: list[Fault], o: Options) -> None:
    injector.t0 = time.monotonic()
    loader = asyncio.create_task(load.run(o.clients))
    try:
        await injector.follow(schedule)
        await sleep_until(injector.t0 + o.duration)
    finally:
        load.stop.set()
        await loader  # in-flight operations finish (bounded by their timeouts) and are classified


async def final_reads_and_replays(session, load: Workload, urls: dict[str, str]) -> list[NodeChain]:
    """One more balance read per node, now that nothing moves; then every node's chain replayed,
    and every node asked about every acknowledged tx."""
    for name in urls:
        for _ in range(5):  # a late commit can still move the height: a few tries
            read = await load.read_balances(name)
            if read is not None:
                load.check_read(*read)
                break
    chains = list(await asyncio.gather(*(asyncio.to_thread(replay_node, n, u) for n, u in urls.items())))
    acked = [op.hash for op in load.ops if op.height is not None]
    await asyncio.gather(*(read_tx_index(session, urls[c.name], acked, c) for c in chains))
    return chains


def write_history(path: str, ops: list[Op]) -> None:
    """Every operation and its outcome, in the order the clients started them."""
    with open(path, "w") as f:
        for op in ops:
            f.write(json.dumps(asdict(op)) + "\n")


def report_of(o: Options, schedule: list[Fault], injector: Injector, load: Workload,
              converged_after: float | None,
              invariants: list[tuple[str, Check]]) -> dict:
    outcomes = Counter(op.outcome for op in load.ops)
    return {
        "ok": all(ok for _, (ok, _) in invariants),
        "seed": o.seed, "duration_s": o.duration, "interval_s": o.interval, "faults_requested": o.faults,
        "nodes": injector.names, "clients": o.clients, "accounts": o.accounts, "initial_totals": load.initial,
        "schedule": [asdict(f) for f in schedule],
        "faults": injector.injected,
        "crashes": injector.crashes,
        "ops": {"ok": outcomes["ok"], "failed": outcomes["failed"], "unknown": outcomes["unknown"],
                "failed_by_code": dict(Counter(op.why for op in load.ops if op.outcome == "failed")),
                "unknown_by_reason": dict(Counter(op.why for op in load.ops if op.outcome == "unknown"))},
        "reads": {"checked": load.reads.checked, "discarded": load.reads.discarded,
                  "unreachable": load.reads.unreachable},
        "convergence_s": converged_after,
        "invariants": [{"name": name, "ok": ok, "detail": detail} for name, (ok, detail) in invariants],
    }


def print_report(r: dict) -> None:
    faults = Table("planned", "at", "fault", "for", "undone", "note", title="faults", title_justify="left")
    for f in r["faults"]:
        fault = Fault(f["planned_t"], f["action"], tuple(f["planned_targets"]), f["duration"], f["variant"], f["drop"])
        notes = f["errors"] + ([f"serving again after {f['serving_after']:.1f}s"]
                               if f.get("serving_after") is not None else [])
        faults.add_row(f"{f['planned_t']:.1f}s", f"{f['t']:.1f}s", describe(fault, f["targets"]),
                       f"{f['duration']:.1f}s", f"{f['undone_at']:.1f}s" if f["undone_at"] is not None else "-",
                       "; ".join(notes))
    console.print(faults)
    ops = r["ops"]
    console.print(f"[bold]operations[/]: {ops['ok']} ok, {ops['failed']} failed, {ops['unknown']} unknown"
                  f"   failed: {ops['failed_by_code'] or 'none'}   unknown: {ops['unknown_by_reason'] or 'none'}",
                  highlight=False)
    reads = r["reads"]
    console.print(f"[bold]reads[/]: {reads['checked']} checked, {reads['discarded']} discarded "
                  f"(height moved), {reads['unreachable']} unanswered", highlight=False)
    conv = r["convergence_s"]
    console.print(f"[bold]convergence[/]: " + (f"{conv:.1f}s after healing" if conv is not None else "[red]none[/]"),
                  highlight=False)
    inv = Table("invariant", "", "detail", title="invariants", title_justify="left")
    for i in r["invariants"]:
        inv.add_row(i["name"], "[green]PASS[/]" if i["ok"] else "[red]FAIL[/]", i["detail"])
    console.print(inv)
    verdict = "[green]✔ every invariant holds[/]" if r["ok"] else "[red]✖ invariants violated[/]"
    console.print(f"{verdict} (seed {r['seed']}; the network is left running)")


def parse_faults(ctx, param, value: str) -> list[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise click.BadParameter(f"unknown fault {unknown[0]!r}; choose from {', '.join(FAULT_KINDS)}")
    return list(dict.fromkeys(kinds))


@click.command("chaos")
@click.option("--duration", default=60.0, show_default=True, type=click.FloatRange(1),
              help="Seconds of load and faults.")
@click.option("--seed", type=int, default=None, help="Seed of the fault schedule (default: random, printed).")
@click.option("--faults", default=",".join(FAULT_KINDS), show_default=True, callback=parse_faults,
              help="Comma-separated fault kinds to inject.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(1),
              help="Seconds between fault starts (each is undone before the next).")
@click.option("--clients", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--accounts", default=16, show_default=True, type=click.IntRange(2, 1000))
@click.option("--converge-timeout", default=60.0, show_default=True,
              help="Seconds to wait, after healing, for all nodes to agree.")
@click.option("--history", type=click.Path(dir_okay=False), default=None,
              help="Write every operation and its outcome to this file (JSON lines).")
@dir_option
@json_option
def chaos(duration, seed, faults, interval, clients, accounts, converge_timeout, history, dir_,
          as_json) -> None:
    """Inject faults into a running devnet under a transfer workload, then check the invariants.

    Faults: kill (kill -9, then start), pause (SIGSTOP, then SIGCONT), partition (one node, a
    minority, or the leader), lossy (drop a fraction of a node's frames), restart-all. The same
    seed gives the same schedule. Exits 1 when an invariant is violated."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
    say = (lambda msg: err_console.print(msg, highlight=False)) if as_json else \
        (lambda msg: console.print(msg, highlight=False))
    o = Options(duration, seed, faults, interval, clients, accounts, converge_timeout, history)
    report = asyncio.run(run_chaos(Devnet(dir_), o, say))
    if as_json:
        emit_json(report)
    else:
        print_report(report)
    if not report["ok"]:
        raise SystemExit(1)
