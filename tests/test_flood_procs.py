"""A future-nonce flood against 3 real node processes (issue 10, point 1).

The attack modelled: holding a transaction for a future nonce costs its sender nothing on
chain. 3,000 throwaway keys each send nonces 1-17 (their next is 0, so none can ever run):
51,000 transactions, a third of the batches to each node, as fast as the batch endpoint takes
them. Bob, funded and attested, joins in with 64 future nonces to every node. Meanwhile alice,
funded and attested, keeps paying bob one ready transfer at a time, to each node in turn. The
flood comes from many client addresses (127.0.0.2-65, as a botnet would), each batch from its
own, so no client's rate limit (nor the extra cost of refused transactions) stops it before the
pool: what is tested is the pool.

Before the held-tx caps (commit a124fee) the pool held every one of them, gossip copied them to
every node, they never expired nor made room, and they counted toward the pool's 50,000: every
node's pool filled and alice's next payment was refused MEMPOOL_FULL on all three (checked
once by reverting the caps in a scratch copy: 50,000 held on each node, alice's payments 28
committed and 14 refused MEMPOOL_FULL, and this test failed). Now a held tx needs a
sender in good standing (the throwaway keys are refused KYC_MISSING), bob holds at most
mempool_max_held_per_sender, and every payment of alice's commits.
"""
from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from devnet.aioclient import connector, post_batch, wait_committed
from node.ledger.codec import sha256
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx
from node.server.config import NodeConfig

from .helpers import free_port_range
from .procs import client, nodes_of, running_devnet

pytestmark = pytest.mark.slow

THROWAWAY_KEYS = 3000
FUTURE_NONCES = range(1, 18)  # 17 each: 51,000 in all, over the default pool of 50,000
BATCH = 1000
FLOOD_IPS = [f"127.0.0.{i}" for i in range(2, 66)]  # Linux routes all of 127/8 to loopback
BOB_AHEAD = 64  # bob's future nonces, to every node (the old future window)
PAYMENTS_AFTER = 10  # alice's payments once the flood is in


def flood_batches(chain_id: bytes, to: bytes) -> list[list[bytes]]:
    flood = [sign_tx(KeyPair.from_seed(sha256(b"throwaway %d" % i)), chain_id, nonce,
                     Transfer("USD", to, 1, "")).raw
             for i in range(THROWAWAY_KEYS) for nonce in FUTURE_NONCES]
    return [flood[i:i + BATCH] for i in range(0, len(flood), BATCH)]


def held_txs(metrics_text: str) -> int:
    return int(float(re.search(r"^lichen_mempool_held_txs (\S+)$", metrics_text, re.M).group(1)))


class Alice:
    """Ready transfers of 1 USD to bob, one at a time, each waited for, to each node in turn."""

    def __init__(self, d: Path, chain_id: bytes, urls: list[str]):
        self.key = KeyPair.load(d / "keys" / "alice.key")
        self.bob = KeyPair.load(d / "keys" / "bob.key").address
        self.chain_id = chain_id
        self.urls = urls
        self.nonce = client(d, "node0").account(self.key.address_hex)["next_nonce"]
        self.outcomes: Counter[str] = Counter()  # "committed" or the refusal's reason code

    async def pay(self, session: aiohttp.ClientSession) -> None:
        url = self.urls[self.nonce % len(self.urls)]
        tx = sign_tx(self.key, self.chain_id, self.nonce, Transfer("USD", self.bob, 1, ""))
        [result] = await post_batch(session, url, [tx.raw])
        if "error" in result:
            self.outcomes[result["error"]] += 1
            return
        self.nonce += 1
        doc = await wait_committed(session, url, tx.hash_hex, timeout=15)
        self.outcomes[doc["status"]] += 1

    async def pay_until(self, session: aiohttp.ClientSession, done: asyncio.Event) -> None:
        while not done.is_set():
            await self.pay(session)
        for _ in range(PAYMENTS_AFTER):
            await self.pay(session)


async def flood(urls: list[str], batches: list[list[bytes]], bob_ahead: list[bytes],
                done: asyncio.Event) -> tuple[Counter[str], Counter[str]]:
    """The throwaway keys' batches, batch k from FLOOD_IPS[k] to node k mod 3; then bob's."""
    throwaway: Counter[str] = Counter()
    bob: Counter[str] = Counter()
    try:
        for k, batch in enumerate(batches):
            ip = FLOOD_IPS[k % len(FLOOD_IPS)]
            async with aiohttp.ClientSession(connector=connector(local_addr=(ip, 0))) as session:
                for r in await post_batch(session, urls[k % len(urls)], batch):
                    throwaway[r.get("error", "admitted")] += 1
        async with aiohttp.ClientSession(connector=connector()) as session:
            for url in urls:
                for r in await post_batch(session, url, bob_ahead):
                    bob[r.get("error", "admitted")] += 1
    finally:
        done.set()
    return throwaway, bob


def test_a_future_nonce_flood_never_stops_an_attested_payment_on_3_nodes(tmp_path):
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        urls = [n["url"] for n in nodes_of(d).values()]
        chain_id = bytes.fromhex(client(d, "node0").status()["chain_id"])
        bob_key = KeyPair.load(d / "keys" / "bob.key")
        bob_next = client(d, "node0").account(bob_key.address_hex)["next_nonce"]
        batches = flood_batches(chain_id, bob_key.address)
        bob_ahead = [sign_tx(bob_key, chain_id, bob_next + 1 + k,
                             Transfer("USD", bob_key.address, 1, "")).raw
                     for k in range(BOB_AHEAD)]
        alice = Alice(d, chain_id, urls)

        async def scenario() -> tuple[Counter[str], Counter[str], list[int]]:
            async with aiohttp.ClientSession(connector=connector()) as session:
                done = asyncio.Event()
                (throwaway, bob), _ = await asyncio.gather(
                    flood(urls, batches, bob_ahead, done),
                    alice.pay_until(session, done))
                held = []
                for url in urls:
                    async with session.get(f"{url}/metrics") as r:
                        held.append(held_txs(await r.text()))
                return throwaway, bob, held

        throwaway, bob, held = asyncio.run(asyncio.wait_for(scenario(), 60))
        print(f"\nflood: throwaway {dict(throwaway)}, bob {dict(bob)}; held per node {held}; "
              f"alice {dict(alice.outcomes)}")
        per_sender = NodeConfig.mempool_max_held_per_sender
        assert alice.outcomes == {"committed": sum(alice.outcomes.values())}, alice.outcomes
        assert alice.outcomes["committed"] > PAYMENTS_AFTER
        assert throwaway == {"KYC_MISSING": THROWAWAY_KEYS * len(FUTURE_NONCES)}
        assert set(bob) <= {"admitted", "DUPLICATE", "MEMPOOL_FULL"}  # gossip may come first
        assert bob["admitted"] >= per_sender and bob["MEMPOOL_FULL"] >= 3 * (BOB_AHEAD - per_sender)
        assert held == [per_sender] * 3  # bob's, nobody else's
