"""The node daemon: consensus, store, pool and HTTP API wired together on one asyncio loop.

The loop that handles consensus output is in one place (`_drain_ready`) and always runs in
this order: persist hard state and new entries in one synced batch, send messages, execute
committed blocks (one atomic batch each), advance.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import msgpack
from aiohttp import web

from . import errors as E
from .codec import pack
from .config import NodeConfig
from .crypto import KeyPair
from .execution import BlockResult, ChainTip, InvalidBlock, build_block, execute_block
from .genesis import Genesis
from .mempool import Dropped, Mempool, PoolLimits
from .metrics import Metrics
from .rules import SignatureCache
from .solo import Entry, SoloCore
from .store import Store
from .types import Block, Receipt, Transaction, decode_tx

log = logging.getLogger("lichen.node")


@dataclass(frozen=True)
class TxStatus:
    """What a client learns about a transaction."""
    status: str  # pending | committed | failed | unknown
    receipt: Receipt | None = None
    code: str = ""
    message: str = ""


class Node:
    def __init__(self, config: NodeConfig, genesis: Genesis | None = None,
                 key: KeyPair | None = None):
        self.config = config
        self.genesis = genesis or Genesis.load(config.genesis)
        self.key = key or KeyPair.load(config.key_file)
        self.institution = self.genesis.institution_by_key(self.key.address)
        self.id = self.key.address_hex
        self.metrics = Metrics()
        self.sigs = SignatureCache()
        self.store = Store(f"{config.data_dir}/db", self.genesis)
        self.state = self.store.load_state()
        self.tip = self.store.tip()
        self.mempool = Mempool(self.state, self.sigs, PoolLimits(
            config.mempool_max_txs, config.mempool_max_bytes, config.mempool_max_per_sender))
        self.mempool.last_block_time = self.tip.timestamp
        self.core = SoloCore(self.id, self.store.hard_state(), self._last_log_index(),
                             self.store.applied_index(), self._read_entries)
        self._proposed: set[bytes] = set()  # tx hashes in proposed, not yet executed blocks
        self._proposal_tip = self.tip
        self._inflight = 0
        self._waiters: dict[bytes, list[asyncio.Future]] = {}
        self._dropped: dict[bytes, E.LedgerError] = {}  # recent drops, for status queries
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._runner: web.AppRunner | None = None
        self.started_at = time.time()

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        from .api import build_app
        self._runner = web.AppRunner(build_app(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._drain_ready()  # replay committed entries not yet applied before the crash
        self._tasks = [asyncio.create_task(self._ready_loop(), name="ready"),
                       asyncio.create_task(self._producer_loop(), name="producer")]
        log.info("%s serving on http://%s at height %d", self.config.name, self.config.listen,
                 self.tip.height)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        self.store.close()

    # -- consensus seam -------------------------------------------------------------------------
    def _last_log_index(self) -> int:
        entries = self.store.raft_entries()
        return entries[-1][0] if entries else self.store.applied_index()

    def _read_entries(self, lo: int, hi: int) -> list[Entry]:
        out = []
        for index, data in self.store.raft_entries(lo):
            if index >= hi:
                break
            term, payload = msgpack.unpackb(data)
            out.append(Entry(index, term, payload))
        return out

    async def _ready_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                self._drain_ready()
            except Exception:
                log.exception("consensus loop failed; stopping the node to protect its data")
                raise

    def _drain_ready(self) -> None:
        while self.core.has_ready():
            rd = self.core.ready()
            self.store.save_raft(rd.hard_state, [(e.index, pack([e.term, e.data])) for e in rd.entries])
            self.metrics.fsyncs.inc()
            # (messages go out here once peers exist)
            for entry in rd.committed_entries:
                self._apply_entry(entry)
            self.core.advance(rd)
            if rd.committed_entries:
                self.store.compact_raft_log(rd.committed_entries[-1].index)

    def _apply_entry(self, entry: Entry) -> None:
        if not entry.data:
            self.store.skip_entry(entry.index)
            return
        try:
            block = Block.decode(entry.data)
            result = execute_block(self.state, block, self.tip, self.sigs, self.mempool.ready.get)
        except (InvalidBlock, E.LedgerError) as exc:
            log.warning("skipping committed entry %d: %s", entry.index, exc)
            self.store.skip_entry(entry.index)
            self._inflight = max(0, self._inflight - 1)
            return
        self.tip = self.store.write_block(result, entry.index)
        result.overlay.commit()
        self._after_block(result)

    def _after_block(self, result: BlockResult) -> None:
        self._inflight = max(0, self._inflight - 1)
        if self._proposal_tip.height < self.tip.height:
            self._proposal_tip = self.tip
        all_ok = True
        for r in result.receipts:
            self._proposed.discard(r.tx_hash)
            if r.ok:
                self.metrics.committed.inc()
            else:
                all_ok = False
                self.metrics.failed.labels(r.code).inc()
            self._resolve(r.tx_hash, TxStatus("committed" if r.ok else "failed", r))
        for d in self.mempool.block_committed(result.tx_hashes, all_ok, self.tip.timestamp):
            self._note_dropped(d)
        self.metrics.blocks.inc()
        self.metrics.height.set(self.tip.height)
        self.metrics.mempool.set(len(self.mempool))
        self.metrics.signatures.set(self.sigs.verified)

    def _note_dropped(self, d: Dropped) -> None:
        self.metrics.dropped.labels(d.error.code).inc()
        if len(self._dropped) > 10_000:
            del self._dropped[next(iter(self._dropped))]
        self._dropped[d.tx.hash] = d.error
        self._resolve(d.tx.hash, TxStatus("failed", None, d.error.code, d.error.message))

    # -- block production -----------------------------------------------------------------------
    async def _producer_loop(self) -> None:
        interval = self.config.block_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self.produce_block()

    def produce_block(self) -> Block | None:
        """Leader only: cut a block from the pool if there is anything to include."""
        if self.core.role != "leader" or self._inflight >= self.config.max_inflight_blocks:
            return None
        txs = self.mempool.take(self.config.block_max_txs, self.config.block_max_bytes, self._proposed)
        if not txs:
            return None
        block = build_block(self._proposal_tip, [t.raw for t in txs], [t.hash for t in txs],
                            int(time.time() * 1000), self.key, self.core.term)
        self.core.propose(block.encode())
        self._proposed.update(t.hash for t in txs)
        self._proposal_tip = ChainTip(block.header.height, block.hash, block.header.timestamp, b"")
        self._inflight += 1
        self._kick.set()
        return block

    # -- submissions and queries ---------------------------------------------------------------
    def submit(self, raw: bytes) -> Transaction:
        """Admit one encoded transaction to the pool, or raise the LedgerError saying why not."""
        try:
            tx = decode_tx(raw)
            if self.store.receipt(tx.hash) is not None:
                raise E.Duplicate("transaction is already committed")
            dropped = self.mempool.add(tx)
        except E.LedgerError as err:
            self.metrics.rejected.labels(err.code).inc()
            raise
        for d in dropped:
            self._note_dropped(d)
        self._dropped.pop(tx.hash, None)
        self.metrics.mempool.set(len(self.mempool))
        return tx

    def tx_status(self, tx_hash: bytes) -> TxStatus:
        r = self.store.receipt(tx_hash)
        if r is not None:
            return TxStatus("committed" if r.ok else "failed", r)
        if tx_hash in self.mempool:
            return TxStatus("pending")
        err = self._dropped.get(tx_hash)
        if err is not None:
            return TxStatus("failed", None, err.code, err.message)
        return TxStatus("unknown")

    async def wait_for(self, tx_hash: bytes, timeout: float) -> TxStatus:
        """The tx's status once it is final (committed or failed), or as it is at the timeout."""
        status = self.tx_status(tx_hash)
        if status.status in ("committed", "failed") or timeout <= 0:
            return status
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            return self.tx_status(tx_hash)
        finally:
            waiters = self._waiters.get(tx_hash)
            if waiters is not None:
                if fut in waiters:
                    waiters.remove(fut)
                if not waiters:
                    del self._waiters[tx_hash]

    def _resolve(self, tx_hash: bytes, status: TxStatus) -> None:
        for fut in self._waiters.pop(tx_hash, ()):
            if not fut.done():
                fut.set_result(status)

    def status(self) -> dict:
        return {
            "node_id": self.id,
            "name": self.config.name,
            "institution": self.institution.name if self.institution else None,
            "role": self.core.role,
            "term": self.core.term,
            "leader_id": self.core.leader_id,
            "commit_index": self.core.commit,
            "height": self.tip.height,
            "block_hash": self.tip.block_hash.hex(),
            "state_hash": self.tip.state_hash.hex(),
            "timestamp": self.tip.timestamp,
            "mempool_size": len(self.mempool),
            "peers": [],
            "chain_id": self.genesis.chain_id.hex(),
        }


async def run_node(config: NodeConfig) -> None:
    """Run until SIGINT/SIGTERM: what `lichen node run` does."""
    import signal
    node = Node(config)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("%s shutting down", config.name)
    await node.stop()
