"""The bench: load a devnet with pre-signed transfers and measure commits and latency.

Stages: set up (attest and fund its own accounts with an institution key from the devnet
folder), pre-sign (so signing is not measured), load (batches spread over the nodes, each
account always through the same node so its nonces arrive in order), and report. Commit times
come from watching new blocks on one node: a tx's latency is from its batch's submission to
the moment its block is seen.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from node.ledger.crypto import KeyPair
from node.ledger.types import Block, Transfer, sign_tx

from .aioclient import connector, get_json, post_batch
from .errors import DevnetError
from .html_report import Verdict, render
from .network import Devnet
from .profile import NodeProfile, Sample, profile_of, sample
from .seed import attest_and_fund
from .timeline import Timeline, sample_heights

MAX_RATE_TOTAL_PER_S = 12_000  # with no rate asked: txs pre-signed per second of load
BLOCK_FETCHES = 16  # blocks the watcher fetches at once: over a WAN one at a time falls behind
DRAIN_S = 10.0  # after the load: how long what was accepted may take to commit
WINDOW_S = 20.0  # the report's committed rate per window of the load
ATTESTATION_DAYS = 7


@dataclass
class Options:
    """What the bench runs: `rate` 0 means as fast as the network commits, keeping at most
    `window` txs submitted but not yet committed."""
    accounts: int = 200
    duration: float = 20.0
    rate: float = 0.0
    batch: int = 100  # txs per POST
    window: int = 6000
    streams: int = 1  # concurrent POST streams per node (each account stays in one)
    profile: bool = False  # read every node's stage counters around the load (devnet.profile)


class Observer:
    """What the bench tells as it goes; the default says nothing."""

    def say(self, text: str) -> None:
        """A stage begins."""

    def load_started(self, duration: float) -> None:
        """The load begins; it lasts `duration` seconds."""

    def load_tick(self, elapsed: float, committed_per_s: float) -> None:
        """Four times a second during the load."""

    def load_done(self) -> None:
        """The load is over (what was accepted may still be committing)."""


@dataclass
class Latency:
    """Submit-to-commit, in milliseconds."""
    p50: float
    p95: float
    p99: float
    max: float


@dataclass
class Report:
    nodes: int
    accounts: int
    duration_s: float
    offered_rate: float | str  # tx/s, or "max"
    submitted: int
    committed: int
    committed_per_s: float  # committed within the load's duration, per second of it
    latency_ms: Latency
    rejected: dict[str, int]  # reason code -> txs refused at admission
    failed_receipts_on_node0_since_start: dict[str, int]  # reason code -> failed receipts
    timeline: Timeline | None = None  # heights, throughput and latency over the run (--report)
    profile: list[NodeProfile] = field(default_factory=list)  # with Options.profile
    # committed tx/s in each WINDOW_S of the load, in order (does the rate hold over a long run?)
    by_window: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        lat = self.latency_ms
        return {
            "nodes": self.nodes, "accounts": self.accounts, "duration_s": self.duration_s,
            "offered_rate": self.offered_rate,
            "submitted": self.submitted, "committed": self.committed,
            "committed_per_s": self.committed_per_s,
            "latency_ms": {"p50": lat.p50, "p95": lat.p95, "p99": lat.p99, "max": lat.max},
            "rejected": self.rejected,
            "failed_receipts_on_node0_since_start": self.failed_receipts_on_node0_since_start,
            "committed_per_s_by_window": {"window_s": WINDOW_S, "rates": self.by_window},
            **({"profile": [p.to_json() for p in self.profile]} if self.profile else {}),
        }


@dataclass
class Load:
    """Pre-signed work: per node, the raw txs in submission order."""
    per_node: list[list[tuple[bytes, bytes]]]  # (hash, raw)
    total: int


@dataclass
class Tally:
    submitted: dict[bytes, float] = field(default_factory=dict)  # hash -> submit time
    committed: dict[bytes, float] = field(default_factory=dict)  # hash -> seen-in-block time
    rejected: Counter = field(default_factory=Counter)
    first_block_time: float | None = None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


async def set_up_accounts(session: aiohttp.ClientSession, url: str, chain_id: bytes,
                          institution: KeyPair, accounts: list[KeyPair], asset: str, tier: int,
                          funding: int) -> None:
    """Attest every bench account and issue it funds, from one institution key (the
    pipelined batches of `lichen devnet seed`)."""
    await attest_and_fund(session, url, chain_id, institution, [a.address for a in accounts],
                          asset, tier, funding, ATTESTATION_DAYS)


def presign(chain_id: bytes, accounts: list[KeyPair], n_nodes: int, total: int, asset: str) -> Load:
    """Transfers of 1 unit around a ring of accounts; account i always goes through node i % n."""
    per_node: list[list[tuple[bytes, bytes]]] = [[] for _ in range(n_nodes)]
    nonces = [0] * len(accounts)
    for k in range(total):
        i = k % len(accounts)
        tx = sign_tx(accounts[i], chain_id, nonces[i],
                     Transfer(asset, accounts[(i + 1) % len(accounts)].address, 1, ""))
        nonces[i] += 1
        per_node[i % n_nodes].append((tx.hash, tx.raw))
    return Load(per_node, total)


def split_streams(work: list[tuple[bytes, bytes]], streams: int, n_accounts: int,
                  n_nodes: int, node: int) -> list[list[tuple[bytes, bytes]]]:
    """Node `node`'s share in `streams` parts, every account's txs in one part in nonce order
    (presign: the k-th tx is account k % n_accounts's, and account i goes through node
    i % n_nodes, so the node's list is rounds of one tx per account it holds)."""
    parts: list[list[tuple[bytes, bytes]]] = [[] for _ in range(streams)]
    per_round = len(range(node, n_accounts, n_nodes))
    for k, tx in enumerate(work):
        parts[(k % per_round) % streams].append(tx)
    return parts


async def submit_load(session: aiohttp.ClientSession, urls: list[str], load: Load, tally: Tally,
                      rate: float, batch: int, window: int, deadline: float,
                      streams: int = 1, n_accounts: int = 1) -> None:
    """Each node gets its share in batches, over `streams` concurrent POST streams (one stream
    waits for each answer: over a WAN that caps it at a batch per round trip); rate-limited,
    or as fast as commits keep up."""
    per_node_rate = rate / len(urls) / streams if rate else 0

    async def feed(url: str, work: list[tuple[bytes, bytes]]) -> None:
        start = time.monotonic()
        for i in range(0, len(work), batch):
            if time.monotonic() >= deadline:
                return
            if per_node_rate:
                due = start + i / per_node_rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            else:
                while (len(tally.submitted) - len(tally.committed) > window
                       and time.monotonic() < deadline):
                    await asyncio.sleep(0.005)
            chunk = work[i:i + batch]
            now = time.monotonic()
            for h, _ in chunk:
                tally.submitted[h] = now
            try:
                results = await post_batch(session, url, [raw for _, raw in chunk])
            except aiohttp.ClientError:
                results = [{"error": "UNREACHABLE"}] * len(chunk)
            for (h, _), r in zip(chunk, results, strict=False):  # a short answer drops none
                if "error" in r:
                    tally.rejected[r["error"]] += 1
                    tally.submitted.pop(h, None)

    await asyncio.gather(*(feed(url, part)
                           for j, (url, work) in enumerate(zip(urls, load.per_node, strict=True))
                           for part in split_streams(work, streams, n_accounts, len(urls), j)))


async def watch_blocks(session: aiohttp.ClientSession, url: str, tally: Tally, start_height: int,
                       stop: asyncio.Event, timeline: Timeline | None = None,
                       t0: float = 0.0) -> None:
    """Follow new blocks on one node; every tx in them is committed (or failed) now (and
    goes into the timeline's bin of `now - t0`). The new blocks are fetched BLOCK_FETCHES at a
    time, so the watcher keeps up across a WAN."""
    height = start_height
    gate = asyncio.Semaphore(BLOCK_FETCHES)

    async def seen(h: int) -> None:
        async with gate, session.get(f"{url}/v1/blocks/{h}/raw") as r:
            raw = await r.read()
        now = time.monotonic()
        for tx_raw in Block.decode(raw).txs:
            tx_hash = hashlib.sha256(tx_raw).digest()
            if tx_hash in tally.submitted and tx_hash not in tally.committed:
                tally.committed[tx_hash] = now
                if timeline is not None:
                    timeline.commit(now - t0, (now - tally.submitted[tx_hash]) * 1000)
                if tally.first_block_time is None:
                    tally.first_block_time = now

    while not stop.is_set():
        status = await get_json(session, f"{url}/v1/status")
        await asyncio.gather(*(seen(h) for h in range(height + 1, status["height"] + 1)))
        height = max(height, status["height"])
        await asyncio.sleep(0.01)


async def run_bench(net: Devnet, o: Options, observer: Observer | None = None) -> Report:
    """Set up, pre-sign, load the running nodes of the devnet for `o.duration` seconds, drain,
    and report."""
    obs = observer or Observer()
    running = net.running(net.load())
    urls = [n.url for n in running]
    if not urls:
        raise DevnetError("no devnet node is running; `lichen devnet up` first")
    institution = net.key("inst0")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                     connector=connector()) as session:
        status = await get_json(session, f"{urls[0]}/v1/status")
        chain_id = bytes.fromhex(status["chain_id"])
        genesis = net.genesis_doc()
        asset = next(a["code"] for a in genesis["assets"] if a["issuer"] == "inst0")
        tier = max(t["tier"] for t in genesis["tiers"])
        accounts = [KeyPair.generate() for _ in range(o.accounts)]
        total = int(o.rate * o.duration) if o.rate else int(o.duration * MAX_RATE_TOTAL_PER_S)
        per_account = -(-total // o.accounts)
        obs.say(f"setting up {o.accounts} accounts (attest + fund {asset}) via inst0…")
        await set_up_accounts(session, urls[0], chain_id, institution, accounts, asset, tier,
                              per_account + 10)
        obs.say(f"pre-signing {total} transfers…")
        load = presign(chain_id, accounts, len(urls), total, asset)
        start_height = (await get_json(session, f"{urls[0]}/v1/status"))["height"]
        before = await sample_all(session, urls) if o.profile else []
        tally = Tally()
        stop = asyncio.Event()
        timeline = Timeline([n.name for n in running], o.duration + DRAIN_S)
        t0 = time.monotonic()
        watcher = asyncio.create_task(watch_blocks(session, urls[0], tally, start_height, stop,
                                                   timeline, t0))
        sampler = asyncio.create_task(sample_heights(
            session, {n.name: n.url for n in running}, timeline,
            lambda: time.monotonic() - t0, stop))
        deadline = t0 + o.duration
        feeder = asyncio.create_task(
            submit_load(session, urls, load, tally, o.rate, o.batch, o.window, deadline,
                        o.streams, o.accounts))
        obs.load_started(o.duration)
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                elapsed = time.monotonic() - t0
                obs.load_tick(min(elapsed, o.duration), len(tally.committed) / max(elapsed, 1e-9))
        finally:
            obs.load_done()
        await feeder
        drain_until = time.monotonic() + DRAIN_S
        while len(tally.committed) < len(tally.submitted) and time.monotonic() < drain_until:
            await asyncio.sleep(0.05)
        stop.set()
        await watcher
        await sampler
        failed = await failed_receipts(session, urls[0])
        profile = (await profiles(session, running, before, len(tally.committed))
                   if o.profile else [])
    report = report_of(tally, t0, o, len(urls), failed)
    report.timeline = timeline
    report.profile = profile
    return report


async def sample_all(session: aiohttp.ClientSession, urls: list[str]) -> list[Sample]:
    return list(await asyncio.gather(*(sample(session, url) for url in urls)))


async def profiles(session: aiohttp.ClientSession, running, before: list[Sample],
                   committed: int) -> list[NodeProfile]:
    """Each node's stage times over the load, per committed tx (devnet.profile)."""
    after = await sample_all(session, [n.url for n in running])
    roles = [(await get_json(session, f"{n.url}/v1/status"))["role"] for n in running]
    return [profile_of(n.name, role, b, a, committed)
            for n, role, b, a in zip(running, roles, before, after, strict=True)]


async def failed_receipts(session: aiohttp.ClientSession, url: str) -> dict[str, int]:
    """The node's failed-receipt counters by reason code, from its /metrics."""
    async with session.get(f"{url}/metrics") as r:
        text = await r.text()
    out = {}
    for line in text.splitlines():
        if line.startswith("lichen_failed_txs_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            out[reason] = int(float(line.rsplit(" ", 1)[1]))
    return out


def report_of(tally: Tally, t0: float, o: Options, nodes: int, failed: dict[str, int]) -> Report:
    lat = [(tally.committed[h] - tally.submitted[h]) * 1000 for h in tally.committed]
    in_window = sum(1 for t in tally.committed.values() if t <= t0 + o.duration)
    return Report(
        nodes=nodes, accounts=o.accounts, duration_s=o.duration, offered_rate=o.rate or "max",
        submitted=len(tally.submitted), committed=len(tally.committed),
        committed_per_s=round(in_window / o.duration, 1),
        latency_ms=Latency(round(percentile(lat, 50), 1), round(percentile(lat, 95), 1),
                           round(percentile(lat, 99), 1), round(max(lat, default=0), 1)),
        rejected=dict(tally.rejected), failed_receipts_on_node0_since_start=failed,
        by_window=rates_by_window(list(tally.committed.values()), t0, o.duration))


def rates_by_window(commit_times: list[float], t0: float, duration: float) -> list[float]:
    """Committed tx/s in each whole WINDOW_S of the load (none for a load shorter than one)."""
    windows = int(duration // WINDOW_S)
    counts = [0] * windows
    for t in commit_times:
        k = int((t - t0) // WINDOW_S)
        if 0 <= k < windows:
            counts[k] += 1
    return [round(c / WINDOW_S, 1) for c in counts]


# ---- the HTML report (lichen bench --report FILE.html) ----------------------------------------

THROUGHPUT_TARGET = 3_000  # committed tx/s, flat out (DESIGN section 10)
P50_TARGET_MS, P99_TARGET_MS = 100, 400  # at an offered rate (DESIGN: at 1,000 tx/s)


def verdicts_of(r: Report) -> list[Verdict]:
    """The DESIGN section 10 target this run measures, and that nothing was lost or refused."""
    lat = r.latency_ms
    out = []
    if r.offered_rate == "max":
        out.append(Verdict(f"throughput ≥ {THROUGHPUT_TARGET:,} tx/s",
                           r.committed_per_s >= THROUGHPUT_TARGET,
                           f"{r.committed_per_s:,.0f} committed tx/s flat out"))
    else:
        out.append(Verdict(f"latency p50 ≤ {P50_TARGET_MS} ms", lat.p50 <= P50_TARGET_MS,
                           f"p50 {lat.p50} ms at {r.offered_rate} tx/s offered"))
        out.append(Verdict(f"latency p99 ≤ {P99_TARGET_MS} ms", lat.p99 <= P99_TARGET_MS,
                           f"p99 {lat.p99} ms at {r.offered_rate} tx/s offered"))
    out.append(Verdict("every accepted tx committed", r.committed == r.submitted,
                       f"{r.committed:,} of {r.submitted:,} within the drain"))
    out.append(Verdict("no tx refused", not r.rejected,
                       ", ".join(f"{k} {v}" for k, v in sorted(r.rejected.items())) or "none"))
    return out


def to_html(r: Report) -> str:
    lat = r.latency_ms
    verdicts = verdicts_of(r)
    ok = all(v.ok for v in verdicts)
    facts = [("nodes", str(r.nodes)), ("accounts", str(r.accounts)),
             ("duration", f"{r.duration_s:.0f}s of load, then up to {DRAIN_S:.0f}s to drain"),
             ("offered", f"{r.offered_rate} tx/s"),
             ("submitted / committed", f"{r.submitted:,} / {r.committed:,}"),
             ("committed tx/s", f"{r.committed_per_s:,.1f}"),
             ("latency", f"p50 {lat.p50} · p95 {lat.p95} · p99 {lat.p99} · max {lat.max} ms"),
             ("failed receipts on node0", ", ".join(
                 f"{k} {v}" for k, v in sorted(r.failed_receipts_on_node0_since_start.items()))
              or "none")]
    subtitle = (f"lichen bench · {r.committed_per_s:,.0f} committed tx/s on {r.nodes} node(s) · "
                f"latency from a batch's submission to its block seen on the first node")
    return render(f"Bench: {r.committed_per_s:,.0f} tx/s, p50 {lat.p50} ms, p99 {lat.p99} ms",
                  subtitle, ok, verdicts, facts, r.timeline or Timeline([], r.duration_s), [],
                  {"report": r.to_json()})
