"""Seeding a devnet with many customers through the normal transaction path: each account is
attested (KYC) and funded by the devnet's first institution, in batches pipelined so the pool
always holds the next batch while a block takes the last. For measuring a node at a bank's
scale (a million accounts: `lichen devnet seed --accounts 1000000`).

Accounts are derived from their index (`seed_key`), so a later run can use them again without
keeping a million key files.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import aiohttp

from node.ledger.crypto import KeyPair
from node.ledger.types import Issue, KycAttest, sign_tx

from .aioclient import connector, get_json, post_batch, wait_committed
from .errors import DevnetError
from .network import Devnet

BATCH = 1_000  # accounts per batch: 2,000 txs, one block's worth
IN_FLIGHT = 2  # batches submitted and not yet known committed (the pool's per-sender room)
ATTESTATION_DAYS = 365
FUNDING = 1_000_000  # minor units of the asset each account receives


def seed_key(index: int) -> KeyPair:
    """Seeded account number `index`: the same key on every run."""
    return KeyPair.from_seed(hashlib.sha256(b"lichen devnet seed:" + index.to_bytes(8, "big"))
                             .digest())


@dataclass(frozen=True)
class SeedReport:
    accounts: int
    txs: int
    seconds: float
    height: int  # the chain's height when the last batch committed

    @property
    def txs_per_s(self) -> float:
        return self.txs / self.seconds if self.seconds else 0.0


async def seed(net: Devnet, count: int, start: int = 0,
               progress: Callable[[int], object] = lambda done: None) -> SeedReport:
    """Attest and fund accounts start .. start+count-1 from inst0 (a kyc_issuer and the issuer
    of its asset on every devnet); `progress(accounts done)` after each batch commits."""
    running = net.running(net.load())
    if not running:
        raise DevnetError("no devnet node is running; `lichen devnet up` first")
    url = running[0].url
    genesis = net.genesis_doc()
    asset = next(a["code"] for a in genesis["assets"] if a["issuer"] == "inst0")
    tier = max(t["tier"] for t in genesis["tiers"])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120),
                                     connector=connector()) as session:
        chain_id = bytes.fromhex((await get_json(session, f"{url}/v1/status"))["chain_id"])
        t0 = time.monotonic()
        addresses = (seed_key(i).address for i in range(start, start + count))
        height = await attest_and_fund(session, url, chain_id, net.key("inst0"), addresses,
                                       asset, tier, FUNDING, ATTESTATION_DAYS, progress)
        return SeedReport(count, 2 * count, time.monotonic() - t0, height)


async def attest_and_fund(session: aiohttp.ClientSession, url: str, chain_id: bytes,
                          inst: KeyPair, addresses: Iterable[bytes], asset: str, tier: int,
                          funding: int, days: int,
                          progress: Callable[[int], object] = lambda done: None) -> int:
    """Attest each account at `tier` for `days` and issue it `funding` of `asset`, all signed
    by `inst` (a kyc_issuer and the asset's issuer) with consecutive nonces, in batches of
    BATCH accounts, IN_FLIGHT of them submitted ahead; returns the height the last committed
    at. The bench's set-up and `lichen devnet seed` both go through here."""
    expires = int(time.time() * 1000) + days * 86_400_000
    nonce = (await get_json(session, f"{url}/v1/accounts/{inst.address_hex}"))["next_nonce"]
    pending: list[tuple[int, str]] = []  # (accounts done once it commits, its last tx)
    done = height = 0
    for batch in batches(addresses, BATCH):
        txs = []
        for address in batch:
            evidence = hashlib.sha256(b"seed:" + address).digest()
            txs.append(sign_tx(inst, chain_id, nonce,
                               KycAttest(address, tier, "US", expires, evidence)))
            txs.append(sign_tx(inst, chain_id, nonce + 1, Issue(asset, address, funding)))
            nonce += 2
        if len(pending) >= IN_FLIGHT:
            height = await _committed(session, url, *pending.pop(0), progress)
        refused = [r for r in await post_batch(session, url, [t.raw for t in txs])
                   if "error" in r]
        if refused:
            raise DevnetError(f"set-up refused: {refused[0]['error']} "
                              f"{refused[0].get('message', '')}")
        done += len(batch)
        pending.append((done, txs[-1].hash_hex))
    for n, last in pending:
        height = await _committed(session, url, n, last, progress)
    return height


def batches(items: Iterable[bytes], n: int) -> Iterator[list[bytes]]:
    """`items` in lists of n (the last shorter), read lazily (a million keys are not made at
    once). itertools.batched from Python 3.12."""
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch


async def _committed(session: aiohttp.ClientSession, url: str, done: int, last_tx: str,
                     progress: Callable[[int], object]) -> int:
    doc = await wait_committed(session, url, last_tx, timeout=300)
    if doc["status"] != "committed":
        raise DevnetError(f"set-up failed: {doc.get('code')} {doc.get('message', '')}")
    progress(done)
    return int(doc["height"])


def run_seed(net: Devnet, count: int, start: int = 0,
             progress: Callable[[int], object] = lambda done: None) -> SeedReport:
    return asyncio.run(seed(net, count, start, progress))
