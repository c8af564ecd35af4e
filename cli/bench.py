"""lichen bench: load a devnet with pre-signed transfers and measure commits and latency.

Stages: set up (attest and fund its own accounts with an institution key from the devnet
folder), pre-sign (so signing is not measured), load (batches spread over the nodes, each
account always through the same node so its nonces arrive in order), and report. Commit times
come from watching new blocks on one node: a tx's latency is from its batch's submission to
the moment its block is seen.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from node.ledger.crypto import KeyPair
from node.ledger.types import Issue, KycAttest, Transfer, sign_tx

from .common import console, emit_json, json_option
from .devnet import Devnet, dir_option

MSGPACK = "application/msgpack"


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


async def post_batch(session: aiohttp.ClientSession, url: str, raws: list[bytes]) -> list[dict]:
    import msgpack
    async with session.post(f"{url}/v1/txs", data=msgpack.packb(raws, use_bin_type=True),
                            headers={"Content-Type": MSGPACK, "Accept": MSGPACK}) as r:
        body = msgpack.unpackb(await r.read(), raw=False)
        if "results" not in body:
            return [{"error": body.get("error", "HTTP_ERROR")}] * len(raws)
        return body["results"]


async def get_json(session: aiohttp.ClientSession, url: str) -> dict:
    async with session.get(url) as r:
        return await r.json()


async def wait_committed(session, url: str, hash_hex: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = await get_json(session, f"{url}/v1/txs/{hash_hex}?wait=5")
        if doc["status"] in ("committed", "failed"):
            return doc
    raise click.ClickException(f"set-up transaction {hash_hex[:16]} did not commit in {timeout:.0f}s")


async def set_up_accounts(session, url: str, chain_id: bytes, institution: KeyPair,
                          accounts: list[KeyPair], asset: str, tier: int, funding: int) -> None:
    """Attest every bench account and issue it funds, from one institution key."""
    nonce = (await get_json(session, f"{url}/v1/accounts/{institution.address_hex}"))["next_nonce"]
    expires = int(time.time() * 1000) + 7 * 86_400_000
    txs = []
    for acct in accounts:
        evidence = hashlib.sha256(b"bench:" + acct.address).digest()
        txs.append(sign_tx(institution, chain_id, nonce, KycAttest(acct.address, tier, "US", expires, evidence)))
        txs.append(sign_tx(institution, chain_id, nonce + 1, Issue(asset, acct.address, funding)))
        nonce += 2
    for i in range(0, len(txs), 50):  # 50: the pool holds a sender's future nonces in a small window
        chunk = txs[i:i + 50]
        results = await post_batch(session, url, [t.raw for t in chunk])
        bad = [r for r in results if "error" in r]
        if bad:
            raise click.ClickException(f"bench set-up refused: {bad[0]['error']} {bad[0].get('message', '')}")
        doc = await wait_committed(session, url, chunk[-1].hash_hex)
        if doc["status"] != "committed":
            raise click.ClickException(f"bench set-up failed: {doc.get('code')} {doc.get('message', '')}")


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


async def submit_load(session, urls: list[str], load: Load, tally: Tally, rate: float,
                      batch: int, window: int, deadline: float) -> None:
    """Each node gets its share in batches; rate-limited, or as fast as commits keep up."""
    per_node_rate = rate / len(urls) if rate else 0

    async def feed(url: str, work: list[tuple[bytes, bytes]]) -> None:
        start = time.monotonic()
        for i in range(0, len(work), batch):
            if time.monotonic() >= deadline:
                return
            if per_node_rate:
                due = start + i / per_node_rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            else:
                while len(tally.submitted) - len(tally.committed) > window and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
            chunk = work[i:i + batch]
            now = time.monotonic()
            for h, _ in chunk:
                tally.submitted[h] = now
            try:
                results = await post_batch(session, url, [raw for _, raw in chunk])
            except aiohttp.ClientError:
                results = [{"error": "UNREACHABLE"}] * len(chunk)
            for (h, _), r in zip(chunk, results):
                if "error" in r:
                    tally.rejected[r["error"]] += 1
                    tally.submitted.pop(h, None)

    await asyncio.gather(*(feed(url, work) for url, work in zip(urls, load.per_node)))


async def watch_blocks(session, url: str, tally: Tally, start_height: int, stop: asyncio.Event) -> None:
    """Follow new blocks on one node; every tx in them is committed (or failed) now."""
    height = start_height
    while not stop.is_set():
        status = await get_json(session, f"{url}/v1/status")
        while height < status["height"]:
            height += 1
            async with session.get(f"{url}/v1/blocks/{height}/raw") as r:
                raw = await r.read()
            from node.ledger.types import Block
            now = time.monotonic()
            for tx_raw in Block.decode(raw).txs:
                h = hashlib.sha256(tx_raw).digest()
                if h in tally.submitted and h not in tally.committed:
                    tally.committed[h] = now
                    if tally.first_block_time is None:
                        tally.first_block_time = now
        await asyncio.sleep(0.01)


async def run_bench(net: Devnet, accounts_n: int, duration: float, rate: float, batch: int,
                    window: int, quiet: bool) -> dict:
    doc = net.load()
    urls = [n["url"] for n in doc["nodes"] if net.alive(n)]
    if not urls:
        raise click.ClickException("no devnet node is running; `lichen devnet up` first")
    institution = KeyPair.load(net.dir / "keys" / "inst0.key")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        status = await get_json(session, f"{urls[0]}/v1/status")
        chain_id = bytes.fromhex(status["chain_id"])
        genesis = json.loads((net.dir / "genesis.json").read_text())
        asset = next(a["code"] for a in genesis["assets"] if a["issuer"] == "inst0")
        tier = max(t["tier"] for t in genesis["tiers"])
        accounts = [KeyPair.generate() for _ in range(accounts_n)]
        total = int(rate * duration) if rate else int(duration * 12_000)
        per_account = -(-total // accounts_n)
        if not quiet:
            console.print(f"setting up {accounts_n} accounts (attest + fund {asset}) via inst0…")
        await set_up_accounts(session, urls[0], chain_id, institution, accounts, asset, tier, per_account + 10)
        if not quiet:
            console.print(f"pre-signing {total} transfers…")
        load = presign(chain_id, accounts, len(urls), total, asset)
        start_height = (await get_json(session, f"{urls[0]}/v1/status"))["height"]
        tally = Tally()
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_blocks(session, urls[0], tally, start_height, stop))
        t0 = time.monotonic()
        deadline = t0 + duration
        feeder = asyncio.create_task(submit_load(session, urls, load, tally, rate, batch, window, deadline))
        with Progress(TextColumn("[bold]load[/]"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeRemainingColumn(), console=console, disable=quiet, transient=True) as bar:
            task = bar.add_task("load", total=duration, info="")
            while time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                elapsed = time.monotonic() - t0
                bar.update(task, completed=min(elapsed, duration),
                           info=f"{len(tally.committed) / max(elapsed, 1e-9):,.0f} tx/s committed")
        await feeder
        drain_until = time.monotonic() + 10  # let what was accepted commit
        while len(tally.committed) < len(tally.submitted) and time.monotonic() < drain_until:
            await asyncio.sleep(0.05)
        stop.set()
        await watcher
        failed = await failed_receipts(session, urls[0])
    return report_of(tally, t0, duration, len(urls), accounts_n, rate, failed)


async def failed_receipts(session, url: str) -> dict:
    async with session.get(f"{url}/metrics") as r:
        text = await r.text()
    out = {}
    for line in text.splitlines():
        if line.startswith("lichen_failed_txs_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            out[reason] = int(float(line.rsplit(" ", 1)[1]))
    return out


def report_of(tally: Tally, t0: float, duration: float, nodes: int, accounts: int, rate: float,
              failed: dict) -> dict:
    lat = [(tally.committed[h] - tally.submitted[h]) * 1000 for h in tally.committed]
    in_window = sum(1 for t in tally.committed.values() if t <= t0 + duration)
    return {
        "nodes": nodes, "accounts": accounts, "duration_s": duration,
        "offered_rate": rate or "max",
        "submitted": len(tally.submitted), "committed": len(tally.committed),
        "committed_per_s": round(in_window / duration, 1),
        "latency_ms": {"p50": round(percentile(lat, 50), 1), "p95": round(percentile(lat, 95), 1),
                       "p99": round(percentile(lat, 99), 1), "max": round(max(lat, default=0), 1)},
        "rejected": dict(tally.rejected), "failed_receipts_on_node0_since_start": failed,
    }


@click.command("bench")
@click.option("--accounts", default=200, show_default=True, type=click.IntRange(2, 100_000))
@click.option("--duration", default=20.0, show_default=True, help="Seconds of load.")
@click.option("--rate", default=0.0, show_default=True, help="Offered tx/s in total; 0 = as fast as the network commits.")
@click.option("--batch", default=0, help="Transactions per POST; 0 = 20 with --rate (a steady "
              "stream), 100 flat out.")
@click.option("--window", default=6000, show_default=True, help="With --rate 0: most txs submitted but not yet committed.")
@dir_option
@json_option
def bench(accounts, duration, rate, batch, window, dir_, as_json) -> None:
    """Measure committed tx/s and submit-to-commit latency on a running devnet."""
    net = Devnet(dir_)
    batch = batch or (20 if rate else 100)
    result = asyncio.run(run_bench(net, accounts, duration, rate, batch, window, as_json))
    if as_json:
        emit_json(result)
        return
    lat = result["latency_ms"]
    console.print(f"[bold]{result['committed_per_s']:,.0f} committed tx/s[/] over {duration:.0f}s on "
                  f"{result['nodes']} node(s), {accounts} accounts, offered {result['offered_rate']} tx/s")
    console.print(f"latency submit→commit: p50 {lat['p50']} ms · p95 {lat['p95']} ms · "
                  f"p99 {lat['p99']} ms · max {lat['max']} ms")
    console.print(f"submitted {result['submitted']:,}, committed {result['committed']:,}; "
                  f"rejected {result['rejected'] or 'none'}; failed receipts {result['failed_receipts_on_node0_since_start'] or 'none'}")
