"""What a client with only the public API can still do to degrade a node, measured (issue 10).

One real node (TLS, the devnet's defaults). An honest client (alice, funded and attested) pays
bob one transfer at a time and times each from submit to commit, while an attacker process
with only the public API runs one attack per phase:

    reads      16 concurrent loops of GET /v1/status, /v1/blocks/latest, /v1/accounts/{alice}
    invalid    batches of 500: bad signatures (claiming bob as sender) and unknown senders
    conns      900 idle TLS connections, 1,100 TCP connections that never start TLS (more
               than max_connections_per_ip), and 50 POST /v1/txs bodies dribbled a byte at a time
    future     throwaway keys' future nonces, and an attested sender's (bob) 64 ahead
    same_ip    the reads flood again, but from the honest client's own IP (a shared NAT)

The attacker comes from 127.0.0.2 (Linux routes all of 127/8 to loopback), so the node sees
another client, as it would on a network; the last phase shows what sharing an IP costs.
The figures are printed (pytest -s) for the issue's closing note. Asserted: in every phase each
honest payment commits; with the attacker on another IP its p95 stays under P95_BOUND_S.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import msgpack
import pytest

from devnet.aioclient import MSGPACK, connector, get_json, post_batch
from devnet.client import ssl_context
from node.ledger.codec import sha256
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx

from .helpers import free_port_range
from .procs import client, nodes_of, running_devnet

pytestmark = pytest.mark.slow

PHASE_S = 2.5  # how long each attack runs while the honest client pays
P95_BOUND_S = 2.0
ATTACKER_IP = "127.0.0.2"
HONEST_IP = "127.0.0.1"
ATTACKS = ("reads", "invalid", "conns", "future", "same_ip")


# ---- the attacker (a process of its own, so its CPU is not the honest client's) ---------------

@dataclass
class Target:
    url: str
    keys: Path
    chain_id: bytes


def attack(kind: str, target: Target, ready, stop, results) -> None:
    """Run attack `kind` until `stop` is set; put what it achieved on `results`."""
    results.put(asyncio.run(ATTACK[kind](target, ready, stop)))


def attacker_session(ip: str = ATTACKER_IP) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=connector(local_addr=(ip, 0), limit=0),
                                 timeout=aiohttp.ClientTimeout(total=10))


async def until_stopped(stop) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.05)


async def flood_reads(target: Target, ready, stop, ip: str = ATTACKER_IP) -> dict:
    alice = KeyPair.load(target.keys / "alice.key").address_hex
    paths = ["/v1/status", "/v1/blocks/latest", f"/v1/accounts/{alice}"]
    codes: Counter[str] = Counter()

    async def loop(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            try:
                async with session.get(target.url + random.choice(paths)) as r:
                    await r.read()
                    codes[str(r.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                codes[type(exc).__name__] += 1

    async with attacker_session(ip) as session:
        ready.set()
        await asyncio.gather(*(loop(session) for _ in range(16)))
    return {"requests by HTTP status": dict(codes)}


async def flood_reads_same_ip(target: Target, ready, stop) -> dict:
    return await flood_reads(target, ready, stop, HONEST_IP)


async def flood_batches(target: Target, ready, stop, batches: list[list[bytes]]) -> dict:
    verdicts: Counter[str] = Counter()

    async def loop(session: aiohttp.ClientSession, k: int) -> None:
        while not stop.is_set():
            batch = batches[k % len(batches)]
            k += 4
            try:
                for r in await post_batch(session, target.url, batch):
                    verdicts[r.get("error", "admitted")] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                verdicts[type(exc).__name__] += len(batch)

    async with attacker_session() as session:
        ready.set()
        await asyncio.gather(*(loop(session, k) for k in range(4)))
    return {"txs by verdict": dict(verdicts)}


def batched(raws: list[bytes], size: int = 500) -> list[list[bytes]]:
    return [raws[i:i + size] for i in range(0, len(raws), size)]


async def flood_invalid(target: Target, ready, stop) -> dict:
    bob = KeyPair.load(target.keys / "bob.key")
    forged = [sign_tx(bob, target.chain_id, 0, Transfer("USD", bob.address, 1 + i, "")).raw
              for i in range(2000)]
    forged = [raw[:-1] + bytes([raw[-1] ^ 1]) for raw in forged]  # the signature's last byte
    strangers = [sign_tx(KeyPair.from_seed(sha256(b"stranger %d" % i)), target.chain_id, 0,
                         Transfer("USD", bob.address, 1, "")).raw for i in range(2000)]
    mixed = [raw for pair in zip(forged, strangers, strict=True) for raw in pair]
    return await flood_batches(target, ready, stop, batched(mixed))


async def flood_future(target: Target, ready, stop) -> dict:
    bob = KeyPair.load(target.keys / "bob.key")
    throwaway = [sign_tx(KeyPair.from_seed(sha256(b"throwaway %d" % i)), target.chain_id, n,
                         Transfer("USD", bob.address, 1, "")).raw
                 for i in range(1000) for n in range(1, 5)]
    async with attacker_session() as session:
        account = await get_json(session, f"{target.url}/v1/accounts/{bob.address_hex}")
    ahead = [sign_tx(bob, target.chain_id, account["next_nonce"] + 1 + n,
                     Transfer("USD", bob.address, 1, "")).raw for n in range(64)]
    return await flood_batches(target, ready, stop, [ahead] + batched(throwaway))


async def hold_connections(target: Target, ready, stop) -> dict:
    host, port = target.url.split("//", 1)[1].rsplit(":", 1)
    tls = ssl_context()
    outcome: Counter[str] = Counter()

    async def opened(use_tls: bool):
        try:
            return await asyncio.open_connection(
                host, int(port), ssl=tls if use_tls else None, local_addr=(ATTACKER_IP, 0),
                server_hostname=host if use_tls else None)
        except (OSError, ssl.SSLError) as exc:
            outcome[f"not opened: {type(exc).__name__}"] += 1
            return None

    async def dribble() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        conn = await opened(True)
        if conn is None:
            return None
        reader, writer = conn
        writer.write(f"POST /v1/txs HTTP/1.1\r\nHost: {host}\r\nContent-Type: {MSGPACK}\r\n"
                     f"Content-Length: 1000000\r\n\r\n".encode())
        try:
            while not stop.is_set():
                writer.write(b"\x00")
                await writer.drain()
                await asyncio.sleep(0.2)
        except (OSError, ssl.SSLError):
            pass
        return conn

    idle_tls = [c for c in await asyncio.gather(*(opened(True) for _ in range(900))) if c]
    idle_tcp = [c for c in await asyncio.gather(*(opened(False) for _ in range(1100))) if c]
    ready.set()
    dribbled = [c for c in await asyncio.gather(*(dribble() for _ in range(50))) if c]
    for name, conns in (("idle TLS", idle_tls), ("idle TCP, no TLS", idle_tcp),
                        ("dribbled bodies", dribbled)):
        for state in await asyncio.gather(*(state_of(reader) for reader, _ in conns)):
            outcome[f"{name}: {state}"] += 1
        for _, writer in conns:
            writer.close()
    return {"connections": dict(outcome)}


async def state_of(reader: asyncio.StreamReader) -> str:
    """What became of a connection we held: still open, answered (a 503 or 408), or closed."""
    try:
        data = await asyncio.wait_for(reader.read(4096), 0.2)
    except TimeoutError:
        return "open at the end"
    except (OSError, ssl.SSLError):
        return "reset by the node"
    return f"answered {data.split(b' ', 2)[1].decode()}" if data else "closed by the node"


ATTACK = {"reads": flood_reads, "invalid": flood_invalid, "conns": hold_connections,
          "future": flood_future, "same_ip": flood_reads_same_ip}


# ---- the honest client ---------------------------------------------------------------------------

@dataclass
class Payments:
    latencies: list[float] = field(default_factory=list)  # seconds, submit to commit
    outcomes: Counter[str] = field(default_factory=Counter)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("inf")


class Honest:
    def __init__(self, d: Path, target: Target):
        self.key = KeyPair.load(d / "keys" / "alice.key")
        self.bob = KeyPair.load(d / "keys" / "bob.key").address
        self.target = target
        self.nonce = client(d, "node0").account(self.key.address_hex)["next_nonce"]

    async def pay_for(self, seconds: float) -> Payments:
        out = Payments()
        async with aiohttp.ClientSession(connector=connector(local_addr=(HONEST_IP, 0))) as s:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await self.pay(s, out)
        return out

    async def pay(self, session: aiohttp.ClientSession, out: Payments) -> None:
        tx = sign_tx(self.key, self.target.chain_id, self.nonce, Transfer("USD", self.bob, 1, ""))
        start = time.monotonic()
        while True:  # submit; a refusal for load (429, 503) is retried when the node says
            async with session.post(f"{self.target.url}/v1/txs", data=tx.raw,
                                    headers={"Content-Type": MSGPACK, "Accept": MSGPACK}) as r:
                body = msgpack.unpackb(await r.read(), raw=False)
            if r.status == 202:
                break
            out.outcomes[f"submit {body['error']}"] += 1
            if r.status not in (429, 503):
                return
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
        self.nonce += 1
        while True:
            async with session.get(f"{self.target.url}/v1/txs/{tx.hash_hex}?wait=5",
                                   headers={"Accept": MSGPACK}) as r:
                body = msgpack.unpackb(await r.read(), raw=False)
            if r.status == 200 and body["status"] in ("committed", "failed"):
                break
            if r.status != 200:
                out.outcomes[f"wait {body['error']}"] += 1
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
        out.outcomes[body["status"]] += 1
        out.latencies.append(time.monotonic() - start)


def run_phase(honest: Honest, target: Target, kind: str | None) -> tuple[Payments, dict]:
    """The honest client pays for PHASE_S while attack `kind` (None: none) runs."""
    if kind is None:
        return asyncio.run(honest.pay_for(PHASE_S)), {}
    ctx = mp.get_context("fork")  # nothing runs in this process between phases
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=attack, args=(kind, target, ready, stop, results), daemon=True)
    proc.start()
    try:
        assert ready.wait(30), f"the {kind} attacker did not get going"
        payments = asyncio.run(honest.pay_for(PHASE_S))
        stop.set()
        achieved = results.get(timeout=30)
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    return payments, achieved


def test_an_honest_client_keeps_committing_under_each_public_api_attack(tmp_path):
    with running_devnet(tmp_path / "devnet", 1, free_port_range(1)) as d:
        url = nodes_of(d)["node0"]["url"]
        target = Target(url, d / "keys", bytes.fromhex(client(d, "node0").status()["chain_id"]))
        honest = Honest(d, target)
        report = {kind: run_phase(honest, target, kind) for kind in (None, *ATTACKS)}

    print("\nhonest client (alice -> bob, one at a time, submit to commit) per attack:")
    for kind, (paid, achieved) in report.items():
        print(f"  {kind or 'baseline':8} n={len(paid.latencies):4} "
              f"p50={paid.quantile(0.5) * 1000:7.1f} ms  p95={paid.quantile(0.95) * 1000:7.1f} ms  "
              f"max={max(paid.latencies, default=0) * 1000:7.1f} ms  {dict(paid.outcomes)}")
        for what, figures in achieved.items():
            print(f"  {'':8} attacker, {what}: {figures}")
    for kind, (paid, _) in report.items():
        assert paid.latencies and paid.outcomes["committed"] == len(paid.latencies), (kind, paid)
        if kind != "same_ip":  # its own IP's read budget is the attacker's too: 429s, retried
            assert paid.outcomes == {"committed": len(paid.latencies)}, (kind, paid.outcomes)
            assert paid.quantile(0.95) < P95_BOUND_S, (kind, paid.latencies)
