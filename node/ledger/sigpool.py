"""Signature checks apart from the rules: worker processes verify batches of transactions.

A signature's verdict depends only on the transaction's bytes (sender, signing bytes,
signature), never on state, so it can be checked ahead of the rules and on another core. The
pool only *warms* a SignatureCache with the hashes of the transactions whose signature
verifies; the rules still run check_signature in their order, which finds a warmed signature in
the cache and checks any other inline. A bad signature is simply not warmed: the rules check it
again and refuse it with BAD_SIGNATURE, as without the pool. So every decision and reason code
stays the rules' own; the pool can make them faster, never different.

Processes, not threads: the event loop holds the GIL nearly all the time under load, and a
thread returning from each libsodium call would wait for it.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

import msgpack

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.crypto import verify
from node.ledger.rules import SignatureCache
from node.ledger.types import SIG_SUFFIX_LEN, Block

MIN_BATCH = 8  # fewer txs are checked inline: a round trip to a worker costs more than they do


def verified_hashes(raws: Sequence[bytes]) -> list[bytes]:
    """The hashes of the encoded txs among `raws` whose signature verifies (what a worker
    runs). Only the envelope's sender and signature are read, not the payload: vouching for
    a hash is vouching for exactly these bytes (the signed part is decode_tx's signing_bytes),
    and bytes that decode_tx refuses are refused before anyone asks for their signature."""
    out = []
    for raw in raws:
        fields = envelope_fields(raw)
        if fields is not None and verify(fields[0], b"\x95" + raw[1:-SIG_SUFFIX_LEN], fields[1]):
            out.append(sha256(raw))
    return out


def envelope_fields(raw: bytes) -> tuple[bytes, bytes] | None:
    """(sender, signature) of an encoded tx where decode_tx reads them; None if it is not an
    array of 6 with bytes in those places."""
    try:
        obj = msgpack.unpackb(raw, raw=True, strict_map_key=False)
    except Exception:  # noqa: BLE001 - any malformed bytes: not ours to judge here
        return None
    if type(obj) is not list or len(obj) != 6:
        return None
    sender, signature = obj[2], obj[5]
    if type(sender) is not bytes or type(signature) is not bytes:
        return None
    return sender, signature


def warm(sigs: SignatureCache, hashes: Iterable[bytes]) -> None:
    """Record signatures a worker verified."""
    for h in hashes:
        sigs.remember(h)


class SignaturePool:
    """`workers` processes verifying batches; started at the first batch, closed by close()."""

    def __init__(self, workers: int, min_batch: int = MIN_BATCH):
        if workers < 1:
            raise ValueError("a signature pool needs at least one worker")
        self.workers = workers
        self.min_batch = min_batch
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, raws: Sequence[bytes]) -> Future[list[bytes]]:
        """Verify `raws` in a worker; the future gives verified_hashes(raws)."""
        return self._pool().submit(verified_hashes, list(raws))

    def submit_blocks(self, raw_blocks: Sequence[bytes]) -> Future[list[bytes]]:
        """Verify encoded blocks' txs in a worker; the future gives their verified hashes."""
        return self._pool().submit(blocks_verified_hashes, list(raw_blocks))

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: a fork would copy the node's open database, sockets and threads
            self._executor = ProcessPoolExecutor(self.workers,
                                                 mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


@contextmanager
def audit_pool() -> Iterator[SignaturePool | None]:
    """A pool for a replay (`lichen chain verify`, `lichen node verify`): a worker per core
    (the replay's own thread shares them); None on one core, where workers would only add
    their round trips."""
    cores = os.cpu_count() or 1
    if cores < 2:
        yield None
        return
    pool = SignaturePool(cores)
    try:
        yield pool
    finally:
        pool.close()


def blocks_verified_hashes(raw_blocks: Sequence[bytes]) -> list[bytes]:
    """verified_hashes of the txs of encoded blocks (none of a block that does not decode: the
    replay reports that block itself)."""
    out: list[bytes] = []
    for raw_block in raw_blocks:
        try:
            block = Block.decode(raw_block)
        except E.LedgerError:
            continue
        out += verified_hashes(block.txs)
    return out


GROUP_BYTES = 64 * 1024  # consecutive blocks travel to a worker together, up to about this much


def warmed_ahead(blocks: Iterable[tuple[bytes, bytes]], sigs: SignatureCache,
                 pool: SignaturePool, depth: int = 16) -> Iterator[tuple[bytes, bytes]]:
    """Pass (raw block, reported state hash) pairs through unchanged, each only once `sigs` is
    warmed with the signatures of its txs; up to `depth` groups of blocks are checked ahead in
    the pool while the caller replays the current one (a replay: signatures in the pool, rules
    here). A group is one block, or consecutive small ones up to GROUP_BYTES: a chain of
    one-transaction blocks then pays a worker's round trip per group, not per transaction."""
    window: deque[tuple[list[tuple[bytes, bytes]], Future[list[bytes]]]] = deque()
    group: list[tuple[bytes, bytes]] = []
    size = 0
    for entry in blocks:
        group.append(entry)
        size += len(entry[0])
        if size < GROUP_BYTES:
            continue
        window.append((group, pool.submit_blocks([raw for raw, _ in group])))
        group, size = [], 0
        if len(window) > depth:
            yield from _settled(window.popleft(), sigs)
    if group:
        window.append((group, pool.submit_blocks([raw for raw, _ in group])))
    while window:
        yield from _settled(window.popleft(), sigs)


def _settled(pending: tuple[list[tuple[bytes, bytes]], Future[list[bytes]]],
             sigs: SignatureCache) -> list[tuple[bytes, bytes]]:
    group, future = pending
    warm(sigs, future.result())
    return group
