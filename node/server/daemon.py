"""The node daemon: consensus, peers, store, pool and HTTP API wired together on one asyncio loop.

Everything that touches the Raft core happens in `_drain_ready`, synchronously, in this order:
persist hard state and new entries in one synced LevelDB batch, send messages, execute committed
blocks (one atomic batch each), advance. Because no await separates those steps, nothing else
can call into the core between ready() and advance(). Ticks, peer messages and proposals only
feed the core and kick the loop, so many of them share one synced write (group commit).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass

import msgpack
from aiohttp import web

from consensus import (Config as RaftConfig, ConfState, Entry, EntryType, HardState, MemoryStorage,
                       Message, MessageType, NotLeader, ProposalDropped, Raft, Ready, Role)
from p2p import P2PConfig, PeerManager, RequestFailed

from node.ledger import errors as E
from node.ledger.codec import pack
from node.server.config import NodeConfig
from node.ledger.crypto import KeyPair
from node.ledger.execution import BlockResult, ChainTip, InvalidBlock, build_block, execute_block
from node.ledger.genesis import Genesis
from node.server.limits import app_runner
from node.ledger.mempool import Dropped, Mempool, PoolLimits
from node.server.metrics import Metrics
from node.ledger.rules import SignatureCache
from node.store.db import Store
from node.ledger.types import Block, Receipt, Transaction, decode_tx

log = logging.getLogger("lichen.node")

CATCH_UP_BATCH = 64  # blocks per fetch when catching up beyond the log
FORWARD_BATCH = 1000  # pooled txs per request when handing the pool to a new leader
PEER_ROLES = ("validator", "observer")


@dataclass(frozen=True)
class TxStatus:
    """What a client learns about a transaction."""
    status: str  # pending | committed | failed | unknown
    receipt: Receipt | None = None
    code: str = ""
    message: str = ""


class Node:
    def __init__(self, config: NodeConfig, genesis: Genesis | None = None,
                 key: KeyPair | None = None, dialer=None, db=None):
        self.config = config
        self.genesis = genesis or Genesis.load(config.genesis)
        self.key = key or KeyPair.load(config.key_file)
        self.institution = self.genesis.institution_by_key(self.key.address)
        self.id = self.key.address_hex
        self.metrics = Metrics()
        self.sigs = SignatureCache(config.sig_cache_size)
        self.store = Store(f"{config.data_dir}/db", self.genesis, db)
        self.state = self.store.load_state()
        self.tip = self.store.tip()
        self.mempool = Mempool(self.state, self.sigs, PoolLimits(
            config.mempool_max_txs, config.mempool_max_bytes, config.mempool_max_per_sender),
            clock=time.time)
        self.mempool.last_block_time = self.tip.timestamp
        seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(8), "big")
        self.log_storage = self._raft_storage()
        self.raft = Raft(self._raft_config(seed), self.log_storage)
        self.p2p = PeerManager(
            signing_seed=self.key.seed, chain_id=self.genesis.chain_id, peers=self._peer_table(),
            is_licensed=self._is_licensed_peer, on_raft=self._on_raft, on_txs=self._on_peer_txs,
            on_peer_up=self._on_peer_up,
            on_request=self._on_peer_request, raft_sender_of=_raft_sender, dialer=dialer,
            devnet=config.devnet, seed=seed, config=P2PConfig(max_frame_size=4 * 1024 * 1024,
                             seen_cache_size=config.p2p_seen_cache_size))
        self._peers = self._peer_table()
        self._proposed: set[bytes] = set()  # tx hashes in proposed, not yet executed blocks
        self._proposal_tip = self.tip
        self._inflight = 0
        self._waiters: dict[bytes, list[asyncio.Future]] = {}
        self._dropped: dict[bytes, E.LedgerError] = {}  # recent drops, for status queries
        self._kick = asyncio.Event()
        self._catching_up: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self._runner: web.AppRunner | None = None
        self._last_cut = time.monotonic()

    # -- set-up -----------------------------------------------------------------------------------
    def _members(self, role: str) -> list[str]:
        return sorted(i.key.hex() for i in self.genesis.institutions
                      if role in self.state.roles(i.name))

    def _raft_config(self, seed: int) -> RaftConfig:
        ticks_per_s = 1000 / self.config.tick_ms
        return RaftConfig(
            id=self.id, voters=self._members("validator"),
            learners=[m for m in self._members("observer") if m not in self._members("validator")],
            election_tick=max(2, round(ticks_per_s)), heartbeat_tick=1, rng=random.Random(seed),
            max_inflight=64, max_entries_per_msg=16, max_bytes_per_msg=1024 * 1024,
            applied=self.store.applied_index())

    def _raft_storage(self) -> MemoryStorage:
        """The Raft log as persisted: hard state, compaction point, the entries after it."""
        hard = self.store.hard_state()
        conf = self.store.raft_conf()
        storage = MemoryStorage(HardState.from_wire(hard) if hard else HardState(),
                                ConfState.from_wire(conf) if conf else None)
        index, term = self.store.raft_compacted()
        if index:
            storage.apply_snapshot(index, term)
        storage.append([Entry.from_wire(msgpack.unpackb(raw))
                        for _, raw in self.store.raft_entries(index + 1)])
        return storage

    def _peer_table(self) -> dict[str, str]:
        """Every other institution licensed to run a node (validator or observer) right now, and
        every Raft member (a revoked one stays connected until the membership drops it)."""
        members = self.raft.conf_state.members
        return {i.key.hex(): i.address for i in self.genesis.institutions
                if i.address and i.key != self.key.address
                and (self._is_licensed_peer(i.key) or i.key.hex() in members)}

    def _is_licensed_peer(self, key: bytes) -> bool:
        inst = self.genesis.institution_by_key(key)
        return inst is not None and any(r in self.state.roles(inst.name) for r in PEER_ROLES)

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        from node.server.api import build_app
        app = build_app(self)
        self.p2p.mount(app)
        self._runner = app_runner(app, self.config)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.host, self.config.port).start()
        await self.p2p.start()
        if self.raft.conf_state.voters == {self.id}:
            self.raft.campaign()  # alone: no one to wait for
        self._drain_ready()  # replays committed entries not applied before a crash
        self._tasks = [asyncio.create_task(self._ready_loop(), name="ready"),
                       asyncio.create_task(self._ticker(), name="ticker"),
                       asyncio.create_task(self._producer_loop(), name="producer")]
        log.info("%s serving on http://%s at height %d", self.config.name, self.config.listen,
                 self.tip.height)

    async def stop(self) -> None:
        for t in self._tasks + ([self._catching_up] if self._catching_up else []):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.p2p.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.store.close()

    # -- feeding the core ---------------------------------------------------------------------------
    async def _ticker(self) -> None:
        interval = self.config.tick_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self.raft.tick()
            self._reconcile_membership()
            self._kick.set()

    def _on_raft(self, peer_id: str, payload: list) -> None:
        try:
            msg = Message.from_wire(payload)
        except ValueError as exc:
            log.warning("dropping a malformed Raft message from %s: %s", peer_id[:12], exc)
            return
        if msg.frm != peer_id:
            log.warning("dropping a Raft message from %s that claims to be from %s",
                        peer_id[:12], msg.frm[:12])
            return
        if msg.type in (MessageType.PREVOTE, MessageType.VOTE) and self._resyncing():
            return  # a wiped node votes again only once it holds what was committed
        self.raft.step(msg)
        self._kick.set()

    def _resyncing(self) -> bool:
        until = self.store.resync_until()
        if until and self.store.applied_index() >= until:
            self.store.set_resync_until(0)
            log.info("%s has caught up after its resync and votes again", self.config.name)
            return False
        return bool(until)

    async def _ready_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                self._drain_ready()
            except Exception:
                log.critical("consensus loop failed; stopping the node to protect its data",
                             exc_info=True)
                os._exit(70)  # a node that cannot persist or apply must not keep answering

    def _drain_ready(self) -> None:
        while self.raft.has_ready():
            rd = self.raft.ready()
            self._persist(rd)
            for m in rd.messages:
                self.p2p.send_raft(m.to, m.to_wire())
            for entry in rd.committed_entries:
                self._apply_entry(entry)
            if rd.snapshot is not None:
                self._start_catch_up(rd.snapshot)
            self.raft.advance(rd)
            if rd.soft_state is not None:
                self._role_changed(rd.soft_state.role)
            if rd.committed_entries:
                self._compact_log()

    def _persist(self, rd: Ready) -> None:
        if not rd.entries and rd.hard_state is None:
            return
        self.store.save_raft(rd.hard_state.to_wire() if rd.hard_state else None,
                             [(e.index, pack(e.to_wire())) for e in rd.entries],
                             sync=rd.must_sync)
        self.log_storage.append(rd.entries)
        if rd.hard_state is not None:
            self.log_storage.set_hard_state(rd.hard_state)
        if rd.must_sync:
            self.metrics.fsyncs.inc()

    def _compact_log(self) -> None:
        """Keep only `log_tail` applied entries: older blocks live in the block store."""
        tail = self.config.log_tail
        upto = self.store.applied_index() - tail
        if upto > self.log_storage.snapshot_meta()[0] + tail:
            term = self.log_storage.term(upto)
            self.store.compact_raft_log(upto, term)
            self.log_storage.compact(upto)

    def _role_changed(self, role: Role) -> None:
        log.info("%s is now %s (term %d, leader %s)", self.config.name, self.role,
                 self.raft.term, (self.raft.leader_id or "-")[:12])
        self.metrics.term.set(self.raft.term)
        self._restart_proposals()
        self._forward_pool_to_leader()

    def _on_peer_up(self, peer_id: str) -> None:
        if peer_id == self.raft.leader_id:
            self._forward_pool_to_leader()

    def _forward_pool_to_leader(self) -> None:
        """Gossip is sent once; what reached our pool while the leader was unreachable (or not
        yet leader) would wait forever. So a new or reconnected leader gets our pool."""
        leader = self.raft.leader_id
        if leader is None or leader == self.id or not self.mempool.ready:
            return
        raws = [tx.raw for tx in self.mempool.ready.values()]
        for i in range(0, len(raws), FORWARD_BATCH):
            asyncio.ensure_future(self._forward(leader, raws[i:i + FORWARD_BATCH]))

    async def _forward(self, peer: str, raws: list[bytes]) -> None:
        try:
            await self.p2p.request(peer, ["txs", raws])
        except RequestFailed as exc:
            log.info("forwarding %d pooled txs to %s failed: %s", len(raws), peer[:12], exc)

    def _restart_proposals(self) -> None:
        """Build the next block on the executed tip again, and offer every pooled tx again:
        what we proposed may be lost (leader change) or void (skipped)."""
        self._proposed.clear()
        self._proposal_tip = self.tip
        self._inflight = 0

    # -- applying committed entries -------------------------------------------------------------------
    def _apply_entry(self, entry: Entry) -> None:
        if entry.type == EntryType.CONF_CHANGE:
            self._apply_conf_change(entry)
            return
        if entry.type != EntryType.NORMAL or not entry.data:
            self.store.skip_entry(entry.index)
            return
        try:
            block = Block.decode(entry.data)
            result = execute_block(self.state, block, self.tip, self.sigs, self.mempool.ready.get)
        except (InvalidBlock, E.LedgerError) as exc:
            # Every node sees the same committed entry and skips it alike (e.g. a block an old
            # leader proposed on a tip that a newer leader's block replaced).
            log.info("skipping committed entry %d: %s", entry.index, exc)
            self.store.skip_entry(entry.index)
            self._restart_proposals()  # anything we chained on it is void too
            return
        self._commit_block(result, entry.index)

    def _apply_conf_change(self, entry: Entry) -> None:
        """A membership change the leader derived from the licenses: every node applies it at
        the same log index, and keeps it with its applied index."""
        try:
            conf = ConfState.from_wire(msgpack.unpackb(entry.data))
        except (ValueError, TypeError) as exc:
            log.error("skipping malformed membership change at %d: %s", entry.index, exc)
            self.store.skip_entry(entry.index)
            return
        self.raft.apply_conf_change(conf)
        self.log_storage.set_conf_state(conf)
        self.store.skip_entry(entry.index, conf.to_wire())
        self._refresh_peers()
        log.info("%s: membership now voters=%s learners=%s", self.config.name,
                 _short_ids(conf.voters), _short_ids(conf.learners))

    def _commit_block(self, result: BlockResult, raft_index: int, fetched: bool = False) -> None:
        self.tip = self.store.write_block(result, raft_index, restart_log=fetched)
        result.overlay.commit()
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
        self._refresh_peers()
        self.metrics.blocks.inc()
        self.metrics.height.set(self.tip.height)
        self.metrics.mempool.set(len(self.mempool))
        self.metrics.signatures.set(self.sigs.verified)

    def _refresh_peers(self) -> None:
        """Licenses may have changed: dial who is licensed now, drop who no longer is."""
        table = self._peer_table()
        if table != self._peers:
            for gone in set(self._peers) - set(table):
                asyncio.ensure_future(self.p2p.disconnect(gone))
            self._peers = table
            self.p2p.set_peers(table)

    # -- membership follows the licenses (leader only) ------------------------------------------------
    def _reconcile_membership(self) -> None:
        """One step from the Raft membership towards what the licenses say.

        New validators join as learners, catch up, and only then become voters; a validator
        whose license was revoked leaves (an observer is kept as a learner). One change at a
        time: the core refuses a second while one is pending.
        """
        if self.raft.role != Role.LEADER:
            return
        change = self._next_membership_change()
        if change is None:
            return
        try:
            self.raft.propose_conf_change(pack(change.to_wire()))
        except (NotLeader, ProposalDropped):
            return
        log.info("%s proposes membership voters=%s learners=%s", self.config.name,
                 _short_ids(change.voters), _short_ids(change.learners))

    def _next_membership_change(self) -> ConfState | None:
        conf = self.raft.conf_state
        voters, learners = set(conf.voters), set(conf.learners)
        want_voters = set(self._members("validator"))
        want_learners = set(self._members("observer")) - want_voters
        for node in sorted(want_voters - voters - learners):
            return ConfState(voters, learners | {node})  # join as a learner first
        status = self.raft.status()
        for node in sorted(learners & want_voters):
            progress = status.progress.get(node)
            if progress is not None and progress.match >= status.commit:
                return ConfState(voters | {node}, learners - {node})  # caught up: promote
        for node in sorted(voters - want_voters):
            if len(voters) > 1:
                keep = {node} if node in want_learners else set()
                return ConfState(voters - {node}, learners | keep)
        for node in sorted(want_learners - learners - voters):
            return ConfState(voters, learners | {node})
        for node in sorted(learners - want_voters - want_learners):
            return ConfState(voters, learners - {node})
        return None

    def _note_dropped(self, d: Dropped) -> None:
        self.metrics.dropped.labels(d.error.code).inc()
        if len(self._dropped) > 10_000:
            del self._dropped[next(iter(self._dropped))]
        self._dropped[d.tx.hash] = d.error
        self._resolve(d.tx.hash, TxStatus("failed", None, d.error.code, d.error.message))

    # -- catching up beyond the log: fetch blocks from a peer's block store ---------------------------
    def _start_catch_up(self, request) -> None:
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._catch_up(request.index, request.term,
                                                                   request.leader))

    async def _catch_up(self, index: int, term: int, peer: str) -> None:
        log.info("%s catching up to log index %d from %s", self.config.name, index, peer[:12])
        try:
            while self.store.applied_index() < index:
                batch = await self.p2p.request(peer, ["blocks", self.tip.height + 1, CATCH_UP_BATCH])
                if not self._apply_fetched(batch, index):
                    break
        except (RequestFailed, ValueError, TypeError, E.LedgerError, InvalidBlock) as exc:
            log.warning("catch-up from %s failed: %s", peer[:12], exc)
            self.raft.snapshot_failed()
            self._kick.set()
            return
        if self.store.applied_index() < index:
            self.store.skip_entry(index)  # the entries after the last block were no-ops
        await self._adopt_peer_membership(peer)
        self.store.reset_raft_log(index, term)
        self.log_storage.apply_snapshot(index, term)
        self.raft.snapshot_installed(index, term)
        log.info("%s caught up to height %d", self.config.name, self.tip.height)
        self._kick.set()

    async def _adopt_peer_membership(self, peer: str) -> None:
        """Membership changes in the skipped log range are not in the blocks: take the
        leader's current membership (a later change in the log is applied again, harmlessly)."""
        try:
            conf = ConfState.from_wire(await self.p2p.request(peer, ["conf"]))
        except (RequestFailed, ValueError, TypeError) as exc:
            log.warning("could not fetch the membership from %s: %s", peer[:12], exc)
            return
        if conf != self.raft.conf_state:
            self.raft.apply_conf_change(conf)
            self.log_storage.set_conf_state(conf)
            self.store.skip_entry(self.store.applied_index(), conf.to_wire())

    def _apply_fetched(self, batch: list, upto: int) -> bool:
        """Execute fetched blocks (verifying each); False when there is nothing more to take."""
        took = False
        for raw, raft_index in batch:
            if raft_index > upto:
                return False
            result = execute_block(self.state, Block.decode(raw), self.tip, self.sigs)
            self._commit_block(result, raft_index, fetched=True)
            self.metrics.fetched.inc()
            took = True
        return took

    async def _on_peer_request(self, peer_id: str, payload):
        if (type(payload) is list and len(payload) == 3 and payload[0] == "blocks"
                and type(payload[1]) is int and type(payload[2]) is int):
            return self.store.blocks_from(payload[1], min(payload[2], CATCH_UP_BATCH), 2 * 1024 * 1024)
        if payload == ["conf"]:
            return self.raft.conf_state.to_wire()
        if (type(payload) is list and len(payload) == 2 and payload[0] == "txs"
                and type(payload[1]) is list and len(payload[1]) <= FORWARD_BATCH
                and all(type(t) is bytes for t in payload[1])):
            admitted = self.submit_many(payload[1])
            return sum(1 for r in admitted if isinstance(r, Transaction))
        raise ValueError("unknown request")

    # -- block production -------------------------------------------------------------------------------
    async def _producer_loop(self) -> None:
        interval = self.config.block_interval_ms / 1000
        while True:
            await asyncio.sleep(interval / 2)
            if self.produce_block() is not None:
                self._drain_ready()

    def produce_block(self) -> Block | None:
        """Leader only: cut a block from the pool when it is full or the interval has passed."""
        if self.raft.role != Role.LEADER or self._inflight >= self.config.max_inflight_blocks:
            return None
        if self._inflight == 0 and self.store.applied_index() < self.raft.status().last_index:
            return None  # a new leader first applies what its log holds (its no-op included)
        txs = self.mempool.take(self.config.block_max_txs, self.config.block_max_bytes, self._proposed)
        due = (time.monotonic() - self._last_cut) * 1000 >= self.config.block_interval_ms
        if not txs or (len(txs) < self.config.block_max_txs and not due):
            return None
        block = build_block(self._proposal_tip, [t.raw for t in txs], [t.hash for t in txs],
                            int(time.time() * 1000), self.key, self.raft.term)
        try:
            self.raft.propose(block.encode())
        except (NotLeader, ProposalDropped):
            return None
        self._last_cut = time.monotonic()
        self._proposed.update(t.hash for t in txs)
        self._proposal_tip = ChainTip(block.header.height, block.hash, block.header.timestamp, b"")
        self._inflight += 1
        return block

    # -- submissions and queries -------------------------------------------------------------------------
    def submit(self, raw: bytes) -> Transaction:
        """Admit one encoded transaction to the pool and gossip it, or raise the LedgerError
        saying why not."""
        tx = self.admit(raw)
        self.p2p.broadcast_txs([raw])
        return tx

    def submit_many(self, raws: list[bytes]) -> list[Transaction | E.LedgerError]:
        """Admit a batch; gossip the admitted ones in one go. Per tx: the tx or the error."""
        out: list[Transaction | E.LedgerError] = []
        for raw in raws:
            try:
                out.append(self.admit(raw))
            except E.LedgerError as err:
                out.append(err)
        self.p2p.broadcast_txs([t.raw for t in out if isinstance(t, Transaction)])
        return out

    def admit(self, raw: bytes) -> Transaction:
        """Decode and admit to the pool (no gossip)."""
        try:
            tx = decode_tx(raw)
            try:
                dropped = self.mempool.add(tx)
            except E.BadNonce:
                if self.store.receipt(tx.hash) is not None:  # only a stale nonce can be a replay
                    raise E.Duplicate("transaction is already committed") from None
                raise
        except E.LedgerError as err:
            self.metrics.rejected.labels(err.code).inc()
            raise
        for d in dropped:
            self._note_dropped(d)
        self._dropped.pop(tx.hash, None)
        return tx

    def _on_peer_txs(self, peer_id: str, raws: list[bytes]) -> list[bool]:
        """Gossip from a peer: p2p forwards the admitted ones itself."""
        verdicts = []
        for raw in raws:
            try:
                self.admit(raw)
                verdicts.append(True)
            except E.LedgerError:
                verdicts.append(False)
        return verdicts

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

    def transfer_leadership(self, target: str) -> None:
        """Hand leadership to another voter (maintenance); raises the reason it cannot."""
        try:
            self.raft.transfer_leader(target)
        except NotLeader as exc:
            raise E.NotLeaderError(f"this node is not the leader; the leader is {exc.leader or 'unknown'}") from None
        except ValueError as exc:
            raise E.Malformed(str(exc)) from None
        self._kick.set()

    @property
    def role(self) -> str:
        conf = self.raft.conf_state
        if not self._is_licensed_peer(self.key.address):
            return "unlicensed"  # e.g. a validator whose license the regulator revoked
        if self.id in conf.learners:
            return "observer"  # a learner: follows the chain, never votes
        if self.id not in conf.voters:
            return "joining"  # licensed, not yet in the membership
        return {Role.LEADER: "leader", Role.FOLLOWER: "follower"}.get(self.raft.role, "candidate")

    def status(self) -> dict:
        return {
            "node_id": self.id,
            "name": self.config.name,
            "institution": self.institution.name if self.institution else None,
            "role": self.role,
            "term": self.raft.term,
            "leader_id": self.raft.leader_id,
            "commit_index": self.raft.status().commit,
            "applied_index": self.store.applied_index(),
            "height": self.tip.height,
            "block_hash": self.tip.block_hash.hex(),
            "state_hash": self.tip.state_hash.hex(),
            "timestamp": self.tip.timestamp,
            "mempool_size": len(self.mempool),
            "peers": sorted(self.p2p.connected_peers()),
            "voters": sorted(self.raft.conf_state.voters),
            "learners": sorted(self.raft.conf_state.learners),
            "chain_id": self.genesis.chain_id.hex(),
        }


def _short_ids(ids) -> str:
    return "[" + ",".join(sorted(i[:8] for i in ids)) + "]"


def _raft_sender(payload: list) -> str | None:
    """The sender a Raft message claims (field 1 of its wire form), for p2p's forgery check."""
    return payload[1] if len(payload) > 1 and isinstance(payload[1], str) else None


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
