"""The node daemon: the loop that drives the Raft core, and what it serves.

Everything that touches the Raft core happens in `_drain_ready`, synchronously, in this order:
persist hard state and new entries in one synced LevelDB batch, send messages, execute committed
blocks (one atomic batch each), advance. Because no await separates those steps, nothing else
can call into the core between ready() and advance(). Ticks, peer messages and proposals only
feed the core and kick the loop, so many of them share one synced write (group commit).

The parts come from the composition root (node.server.compose); the policies are units of
their own: block production (producer), membership (membership), catching up by block fetch
(catchup), peer requests (peer_rpc), forwarding the pool to the leader (forwarding), clients
waiting for a commit (waiters), read-only queries (queries).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgpack

from consensus import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    NotLeader,
    ProposalDropped,
    Role,
    SnapshotRequest,
)
from consensus import Dropped as RaftDropped
from node.ledger import errors as E
from node.ledger.certificates import Vote
from node.ledger.codec import pack
from node.ledger.crypto import Signer
from node.ledger.execution import BlockResult, InvalidBlock, execute_block, next_timed_work
from node.ledger.genesis import Genesis, Institution
from node.ledger.mempool import Dropped
from node.ledger.rules import expected_membership
from node.ledger.sigpool import SignaturePool, warm
from node.ledger.state import SupervisoryReport
from node.ledger.types import Block, Receipt, Transaction, decode_tx
from node.server.catchup import CatchUp, CatchUpFailed, CatchUpRefused, CaughtUp
from node.server.certificates import CertificateCollector, VoteSender
from node.server.clock import SYSTEM_CLOCK, Clock, daemon_clock, now_ms, sleep
from node.server.compose import FatalHandler, Listener, TcpListener, assemble, exit_process
from node.server.config import NodeConfig
from node.server.feed import EventFeed
from node.server.forwarding import PoolForwarder
from node.server.logs import note
from node.server.membership import (
    Licensed,
    is_licensed_peer,
    is_membership_step,
    member_institution,
    next_membership_change,
    peer_table,
    public_role,
    short_ids,
)
from node.server.metrics import stage_clock
from node.server.peer_rpc import (
    MAX_FETCH_BYTES,
    BadPeerRequest,
    FetchedBlock,
    PeerClient,
    answer,
    decode_request,
)
from node.server.producer import BlockProducer, ProducerLimits
from node.server.queries import ChainReader
from node.server.service import (
    AccountView,
    AssetView,
    BlockRecord,
    BlockView,
    CreditView,
    DashboardStatus,
    EscrowQuery,
    EscrowView,
    InstitutionView,
    LoanView,
    NetworkMember,
    NodeRole,
    NodeStatus,
    OfferQuery,
    OfferView,
    PeerLink,
    PolicyView,
    ProposalView,
    Readiness,
    TxProof,
    TxState,
    TxStatus,
)
from node.server.waiters import RecentDrops, Waiters, dropped_status, receipt_status
from p2p import FaultFilter

log = logging.getLogger("lichen.node")
VOTE_REQUESTS = (MessageType.PREVOTE, MessageType.VOTE)
LEADER_TRAFFIC = (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT,
                  MessageType.TIMEOUT_NOW)
MAX_WARNED_RAFT = 4096  # (sender, type) pairs remembered for warn-once; senders are licensed keys

__all__ = ["Node", "TxStatus", "run_node"]


def block_timestamp(entry: Entry) -> int:
    """The header timestamp of the block a NORMAL entry carries (0 for anything else, or if it
    does not parse: execution skips those alike). Reads the header only, not the transactions."""
    if entry.type != EntryType.NORMAL or not entry.data:
        return 0
    try:
        unpacker = msgpack.Unpacker(max_buffer_size=len(entry.data))
        unpacker.feed(entry.data)
        unpacker.read_array_header()
        header = unpacker.unpack()
        timestamp = header[3]
    except Exception:  # noqa: BLE001 - any malformed block: not ours to judge here
        return 0
    return timestamp if type(timestamp) is int else 0


class Node:
    def __init__(self, config: NodeConfig, genesis: Genesis | None = None,
                 key: Signer | None = None, dialer=None, db=None, *,
                 clock: Clock = SYSTEM_CLOCK, listener: Listener | None = None,
                 on_fatal: FatalHandler = exit_process):
        """A node from its config. By default it serves on the config's TCP port, dials peers
        over websockets and runs on the system clock; each of these can be injected. `key` is
        the node key as a Signer (node.ledger.crypto): it signs peer handshakes, block proposals
        and certificate votes, and nothing here reads a seed from it."""
        parts = assemble(config, genesis, key, handlers=self, clock=clock, dialer=dialer, db=db)
        self.config = config
        self.clock = clock
        self.genesis = parts.genesis
        self.key = parts.key
        self.id = self.key.address.hex()
        self.metrics = parts.metrics
        self.sigs = parts.sigs
        self.stages = parts.metrics.stages
        self.sig_pool = SignaturePool(config.sig_workers) if config.sig_workers else None
        self.store = parts.store
        self.state = parts.state
        self.mempool = parts.pool
        self.raft_log = parts.raft_log
        self.raft = parts.raft
        self.p2p = parts.p2p
        self.listener = listener or TcpListener(config)
        self.tip = self.store.tip()
        peers = PeerClient(self.p2p)
        self.producer = BlockProducer(self.key, self.mempool, ProducerLimits.of(config), clock,
                                      self.tip, lambda: next_timed_work(self.state))
        self.catch_up = CatchUp(peers, self)
        self.forwarder = PoolForwarder(self.id, peers)
        self.waiters = Waiters(clock)
        self.drops = RecentDrops()
        self.events = EventFeed(clock.time, config.max_event_streams, config.event_queue_len)
        self.certs = CertificateCollector(self.key, self.genesis.chain_id, self.store,
                                          self.tip.height, self._voters())
        self.votes = VoteSender(peers, self.p2p.connected_peers)
        self.reader = ChainReader(self.genesis, self.store, self.state, self.mempool, lambda: self.tip)
        self._peers = peer_table(self.genesis, self.state, self.key.address, self.raft.conf_state.members)
        self._on_fatal = on_fatal
        self._kick = asyncio.Event()
        self._catching_up: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self._warned_raft: set[tuple[str, MessageType]] = set()
        self._shunned: dict[str, int] = {}  # leader id -> the term we stopped following it in
        self._last_role: NodeRole | None = None  # as last logged: says elected or stepped down

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.listener.start(self)
        await self.p2p.start()
        if self.raft.conf_state.voters == {self.id}:
            self.raft.campaign()  # alone: no one to wait for
        self._drain_ready()  # replays committed entries not applied before a crash
        self._tasks = [asyncio.create_task(self._ready_loop(), name="ready"),
                       asyncio.create_task(self._ticker(), name="ticker"),
                       asyncio.create_task(self._producer_loop(), name="producer"),
                       asyncio.create_task(self._held_sweeper(), name="held-sweeper")]
        if self.store.resync_until():  # wiped by `lichen node resync`: refetching the chain
            note(log, logging.INFO, "resync_started", "%s was wiped for a resync: it fetches the "
                 "chain from its peers and votes again at log index %d", self.config.name,
                 self.store.resync_until(), until_index=self.store.resync_until())
        if self.tip.height:  # a restart: what the store held is what the node serves from
            note(log, logging.INFO, "store_recovered", "%s recovered its store at height %d "
                 "(applied index %d)", self.config.name, self.tip.height,
                 self.store.applied_index(), height=self.tip.height,
                 applied_index=self.store.applied_index())
        note(log, logging.INFO, "node_started", "%s serving on %s at height %d", self.config.name,
             self.listener.describe(), self.tip.height, listen=self.listener.describe(),
             height=self.tip.height)

    async def stop(self) -> None:
        tasks = self._tasks + ([self._catching_up] if self._catching_up else [])
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.forwarder.close()
        await self.votes.close()
        await self.p2p.close()
        await self.listener.stop()
        if self.sig_pool is not None:
            await asyncio.to_thread(self.sig_pool.close)
        self.store.close()

    # -- the loop -----------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        interval = self.config.tick_ms / 1000
        while True:
            await sleep(self.clock, interval)
            self.raft.tick()
            self._reconcile_membership()
            self._kick.set()

    async def _ready_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            if not self._drain_or_halt():
                return

    async def _producer_loop(self) -> None:
        interval = self.config.block_interval_ms / 1000
        while True:
            await sleep(self.clock, interval / 2)
            if self.produce_block() is not None and not self._drain_or_halt():
                return

    async def _held_sweeper(self) -> None:
        """Drop held future-nonce txs past their ttl on a cadence: the pool expires them itself
        only when touched (an admission, a block), so a node left idle after a flood would hold
        them, and their room, for good."""
        while True:
            await sleep(self.clock, self.config.mempool_held_sweep_s)
            self._sweep_held()

    def _sweep_held(self) -> None:
        for d in self.mempool.sweep_expired():
            self._note_dropped(d)

    def _drain_or_halt(self) -> bool:
        try:
            self._drain_ready()
            return True
        except Exception as exc:
            log.critical("consensus loop failed; stopping the node to protect its data",
                         exc_info=True)
            for task in self._tasks:  # nothing drives the core any more
                if task is not asyncio.current_task():
                    task.cancel()
            self._on_fatal(exc)  # by default the process exits
            return False

    def _drain_ready(self) -> None:
        if self.certs.diverged:
            return  # our state left the quorum's: apply nothing more (node.server.certificates)
        while self.raft.has_ready():
            rd = self.raft.ready()
            self._note_raft_dropped(rd.dropped)
            with self.stages.timed("raft_persist"):
                if self.raft_log.persist(rd):
                    self.metrics.fsyncs.inc()
            with self.stages.timed("raft_send"):
                for m in rd.messages:
                    self.p2p.send_raft(m.to, m.to_wire())
            for entry in rd.committed_entries:
                self._apply_entry(entry)
            if rd.snapshot is not None:
                self._start_catch_up(rd.snapshot)
            self.raft.advance(rd)
            if rd.soft_state is not None:
                self._role_changed()
            if rd.committed_entries:
                self.raft_log.compact(self.store.applied_index(), self.config.log_tail)

    def _note_raft_dropped(self, dropped: list[RaftDropped]) -> None:
        """Raft messages the core refused because of who sent them: count each, and log a
        warning once per (sender, message type), so a flood of forgeries does not flood the
        log too."""
        for d in dropped:
            self._refuse_raft(d.sender, d.type, d.reason.value, f"at term {d.term}")

    def _refuse_raft(self, sender: str, kind: MessageType, reason: str, detail: str) -> None:
        """Count one refused Raft message; warn the first time this sender sends this kind."""
        self.metrics.raft_dropped.labels(reason).inc()
        if (sender, kind) in self._warned_raft:
            return
        if len(self._warned_raft) < MAX_WARNED_RAFT:
            self._warned_raft.add((sender, kind))
        note(log, logging.WARNING, "peer_refused", "%s refuses Raft %s from %s (%s, %s); further "
             "ones from it are only counted", self.config.name, kind.name, sender[:12], reason,
             detail, peer=sender, what=f"raft {kind.name}", reason=reason, detail=detail)

    def _role_changed(self) -> None:
        role, was = self.role, self._last_role
        self._last_role = role
        event = ("leader_elected" if role == NodeRole.LEADER and was != NodeRole.LEADER else
                 "stepped_down" if was == NodeRole.LEADER and role != NodeRole.LEADER else
                 "role_changed")
        note(log, logging.INFO, event, "%s is now %s (term %d, leader %s)", self.config.name,
             role, self.raft.term, (self.raft.leader_id or "-")[:12], role=role.value,
             previous=was.value if was else None, term=self.raft.term,
             leader=self.raft.leader_id)
        self.metrics.term.set(self.raft.term)
        self.producer.restart(self.tip)
        self._forward_pool_to_leader()

    # -- block production (leader) ------------------------------------------------------------------
    def produce_block(self) -> Block | None:
        """Leader only: cut a block from the pool when it is full or the interval has passed."""
        if self.raft.role != Role.LEADER or self.certs.diverged:
            return None
        with self.stages.timed("produce"):
            log_applied = self.store.applied_index() >= self.raft.status().last_index
            cut = self.producer.cut(self.raft.term, log_applied)
            if cut is None:
                return None
            try:
                self.raft.propose(cut.block.encode())
            except (NotLeader, ProposalDropped):
                return None
            self.producer.proposed_cut(cut)
            return cut.block

    # -- membership follows the licenses (leader) ---------------------------------------------------
    def _reconcile_membership(self) -> None:
        """Propose the next step from the Raft membership towards what the licenses say."""
        if self.raft.role != Role.LEADER:
            return
        change = next_membership_change(self.raft.conf_state, Licensed.of(self.state),
                                        self.raft.status())
        if change is None:
            return
        try:
            self.raft.propose_conf_change(pack(change.to_wire()))
        except (NotLeader, ProposalDropped):
            return
        note(log, logging.INFO, "membership_proposed", "%s proposes membership voters=%s "
             "learners=%s", self.config.name, short_ids(change.voters),
             short_ids(change.learners), voters=change.voters, learners=change.learners)

    def _refresh_peers(self) -> None:
        """Licenses may have changed: dial who is licensed now, and end every link, inbound or
        outbound, of a key no longer licensed, at the height its revocation commits (the
        handshake refuses it from then on). A voter keeps its link until the membership drops
        it: the quorum that removes it may need it."""
        voters = self.raft.conf_state.voters
        table = peer_table(self.genesis, self.state, self.key.address, voters)
        if table != self._peers:
            self._peers = table
            self.p2p.set_peers(table)
        for peer in self.p2p.connected_peers():
            if peer not in voters and not self._licensed_peer(peer):
                note(log, logging.INFO, "peer_refused", "%s ends the link to %s: no longer "
                     "licensed", self.config.name, peer[:12], peer=peer, what="link",
                     reason="NOT_LICENSED")
                asyncio.ensure_future(self.p2p.disconnect(peer))

    def _licensed_peer(self, peer: str) -> bool:
        try:
            return is_licensed_peer(self.state, bytes.fromhex(peer))
        except ValueError:
            return False

    # -- what peers send ----------------------------------------------------------------------------
    def on_raft(self, peer_id: str, payload: list) -> None:
        try:
            msg = Message.from_wire(payload)
        except ValueError as exc:
            note(log, logging.WARNING, "peer_refused", "dropping a malformed Raft message from "
                 "%s: %s", peer_id[:12], exc, peer=peer_id, what="raft", reason="MALFORMED")
            return
        if msg.frm != peer_id:
            note(log, logging.WARNING, "peer_refused", "dropping a Raft message from %s that "
                 "claims to be from %s", peer_id[:12], msg.frm[:12], peer=peer_id, what="raft",
                 reason="SPOOFED_SENDER", claimed=msg.frm)
            return
        if msg.type in VOTE_REQUESTS and self._resyncing():
            return  # a wiped node votes again only once it holds what was committed
        if msg.type in LEADER_TRAFFIC and not self._follows(msg):
            return
        with self.stages.timed("raft_in"):
            self.raft.step(msg)
        self._kick.set()

    # -- blocks from the future (an admission check, not a ledger rule) ---------------------------
    # Execution takes a block's timestamp as given (it reads no clock, so every node computes the
    # same state). What bounds that timestamp is this check before the core sees an APPEND: a
    # follower does not acknowledge a block stamped more than max_clock_skew_ms ahead of its own
    # clock, and ignores that leader for the rest of its term. With a majority of honest clocks
    # such a block never reaches a quorum: the followers time out and elect another leader, whose
    # log replaces the refused entry. Clocks differ between nodes, so this decides nothing in the
    # committed chain; it only decides what a follower is willing to vote into it.
    def _follows(self, msg: Message) -> bool:
        """False for leader traffic we refuse: from a leader we stopped following in its term,
        or an APPEND carrying a block from the future (which also stops us following it)."""
        if self._shunned.get(msg.frm) == msg.term:
            self._refuse_raft(msg.frm, msg.type, "LEADER_SHUNNED", f"at term {msg.term}")
            return False
        if msg.type != MessageType.APPEND:
            return True
        stamped = max((block_timestamp(e) for e in msg.entries), default=0)
        ahead = stamped - now_ms(self.clock)
        if ahead <= self.config.max_clock_skew_ms:
            return True
        self._shunned = {msg.frm: msg.term}  # one leader per term: only the latest matters
        self._refuse_raft(msg.frm, msg.type, "BLOCK_FROM_THE_FUTURE",
                          f"a block stamped {ahead} ms ahead of our clock at term {msg.term}; "
                          "not following it this term")
        return False

    def _resyncing(self) -> bool:
        until = self.store.resync_until()
        if until and self.store.applied_index() >= until:
            self.store.set_resync_until(0)
            note(log, logging.INFO, "resync_done", "%s has caught up after its resync and "
                 "votes again", self.config.name, applied_index=self.store.applied_index())
            return False
        return bool(until)

    def on_peer_txs(self, peer_id: str, raws: list[bytes]) -> list[bool]:
        """Gossip from a peer: p2p forwards the admitted ones itself."""
        start = stage_clock()
        verdicts = []
        for raw in raws:
            try:
                self.admit(raw)
                verdicts.append(True)
            except E.LedgerError:
                verdicts.append(False)
        self.stages.add("gossip_in", stage_clock() - start)
        return verdicts

    def on_peer_up(self, peer_id: str) -> None:
        if peer_id == self.raft.leader_id:
            self._forward_pool_to_leader()

    async def on_peer_request(self, peer_id: str, payload: Any) -> Any:
        try:
            request = decode_request(payload)
        except BadPeerRequest as exc:
            self.metrics.peer_requests_refused.labels(exc.reason).inc()
            raise
        return answer(request, self)

    # what we serve them (node.server.peer_rpc.PeerServices)
    def blocks_from(self, start: int, count: int) -> list[FetchedBlock]:
        return [FetchedBlock(raw, index)
                for raw, index in self.store.blocks_from(start, count, MAX_FETCH_BYTES)]

    def membership(self) -> ConfState:
        return self.raft.conf_state

    def admit_forwarded(self, txs: tuple[bytes, ...]) -> int:
        return sum(1 for r in self.submit_many(list(txs)) if isinstance(r, Transaction))

    def receive_vote(self, vote: Vote) -> bool:
        try:
            self.certs.received(vote)
            return True
        except E.CertificateError as exc:
            self.metrics.peer_requests_refused.labels(exc.code).inc()
            return False

    def _forward_pool_to_leader(self) -> None:
        if self.mempool.ready:
            self.forwarder.to_leader(self.raft.leader_id, [tx.raw for tx in self.mempool.ready.values()])

    # -- applying committed entries -----------------------------------------------------------------
    def _apply_entry(self, entry: Entry) -> None:
        if entry.type == EntryType.CONF_CHANGE:
            self._apply_conf_change(entry)
            return
        if entry.type != EntryType.NORMAL or not entry.data:
            self.store.skip_entry(entry.index)
            return
        try:
            with self.stages.timed("execute"):
                block = Block.decode(entry.data)
                result = execute_block(self.state, block, self.tip, self.sigs,
                                       self.mempool.ready.get)
        except (InvalidBlock, E.LedgerError) as exc:
            # Every node sees the same committed entry and skips it alike (e.g. a block an old
            # leader proposed on a tip that a newer leader's block replaced).
            log.info("skipping committed entry %d: %s", entry.index, exc)
            self.store.skip_entry(entry.index)
            self.producer.restart(self.tip)  # anything we chained on it is void too
            return
        self._commit_block(result, entry.index)

    def _apply_conf_change(self, entry: Entry) -> None:
        """A membership change the leader derived from the licenses: every node applies it at
        the same log index, and keeps it with its applied index."""
        try:
            conf = ConfState.from_wire(msgpack.unpackb(entry.data))
        except (ValueError, TypeError) as exc:
            note(log, logging.ERROR, "membership_skipped", "skipping malformed membership "
                 "change at %d: %s", entry.index, exc, index=entry.index, reason="MALFORMED")
            self.store.skip_entry(entry.index)
            return
        if not is_membership_step(self.raft.conf_state, Licensed.of(self.state), conf):
            # Not what the licenses at this height allow (a faulty or hostile leader, or the
            # licenses changed after it was proposed): every node judges it on the same state
            # and skips it alike; the leader proposes a fresh step.
            note(log, logging.WARNING, "membership_skipped", "skipping membership change at "
                 "%d: not a step the licenses allow (voters=%s learners=%s)", entry.index,
                 short_ids(conf.voters), short_ids(conf.learners), index=entry.index,
                 reason="CONF_CHANGE_NOT_LICENSED")
            self.metrics.raft_dropped.labels("CONF_CHANGE_NOT_LICENSED").inc()
            self.store.skip_entry(entry.index)
            return
        self._adopt_membership(conf, entry.index)
        note(log, logging.INFO, "membership_changed", "%s: membership now voters=%s learners=%s",
             self.config.name, short_ids(conf.voters), short_ids(conf.learners),
             voters=conf.voters, learners=conf.learners, index=entry.index)

    def _adopt_membership(self, conf: ConfState, index: int) -> None:
        self.raft.apply_conf_change(conf)
        self.store.skip_entry(index, conf.to_wire())
        self._refresh_peers()

    def _commit_block(self, result: BlockResult, raft_index: int, fetched: bool = False) -> None:
        start = stage_clock()
        self.tip = self.store.write_block(result, raft_index, restart_log=fetched)
        result.overlay.commit()
        stored = stage_clock()
        self.stages.add("store", stored - start)
        self._after_block(result)
        self.stages.add("after_block", stage_clock() - stored)

    def _after_block(self, result: BlockResult) -> None:
        self.producer.executed(self.tip, result.tx_hashes)
        all_ok = self._count_receipts(result.receipts)
        self.waiters.resolve_receipts(result.receipts)
        for d in self.mempool.block_committed(result.tx_hashes, all_ok, self.tip.timestamp):
            self._note_dropped(d)
        self._refresh_peers()
        self._vote(self.tip)
        self.metrics.blocks.inc()
        self.metrics.height.set(self.tip.height)
        self.metrics.mempool.set(len(self.mempool))
        self.metrics.signatures.set(self.sigs.verified)
        self.events.block_committed(self.tip.height, self.tip.block_hash, self.tip.state_hash,
                                    self.tip.timestamp, result.receipts)

    def _voters(self) -> frozenset[bytes]:
        return frozenset(bytes.fromhex(v) for v in expected_membership(self.state).voters)

    def _vote(self, tip) -> None:
        vote = self.certs.executed(tip, self._voters())
        if vote is not None:
            self.votes.send(vote)

    def _count_receipts(self, receipts: list[Receipt]) -> bool:
        """Count committed and failed transactions; True if none failed."""
        ok = 0
        for r in receipts:
            if r.ok:
                ok += 1
            else:
                self.metrics.failed.labels(r.code).inc()
        if ok:
            self.metrics.committed.inc(ok)
        return ok == len(receipts)

    def _note_dropped(self, d: Dropped) -> None:
        self.metrics.dropped.labels(d.error.code).inc()
        self.drops.note(d.tx.hash, d.error)
        self.waiters.resolve(d.tx.hash, dropped_status(d.error))

    # -- catching up beyond the log (node.server.catchup) -------------------------------------------
    def _start_catch_up(self, target: SnapshotRequest) -> None:
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._catch_up(target))

    async def _catch_up(self, target: SnapshotRequest) -> None:
        note(log, logging.INFO, "catch_up_started", "%s catching up to log index %d from %s",
             self.config.name, target.index, target.leader[:12], index=target.index,
             peer=target.leader)
        try:
            caught_up = await self.catch_up.run(target)
        except CatchUpRefused as exc:
            self._refuse_raft(target.leader, MessageType.SNAPSHOT, "CATCH_UP_NOT_A_VOTER", str(exc))
            self.raft.snapshot_failed()
            self._kick.set()
            return
        except CatchUpFailed as exc:
            note(log, logging.WARNING, "catch_up_failed", "catch-up from %s failed: %s",
                 target.leader[:12], exc, peer=target.leader, reason=str(exc))
            self.raft.snapshot_failed()
            self._kick.set()
            return
        self._install(caught_up)
        note(log, logging.INFO, "caught_up", "%s caught up to height %d", self.config.name,
             self.tip.height, height=self.tip.height)
        self._kick.set()

    def _install(self, caught_up: CaughtUp) -> None:
        """Record the catch-up with the store and the core. Membership changes in the skipped
        range are not in the blocks: take the leader's current membership (a later change in
        the log is applied again, harmlessly)."""
        index, term, _ = caught_up.target
        if self.store.applied_index() < index:
            self.store.skip_entry(index)  # the entries after the last block were no-ops
        conf = caught_up.membership
        if conf is not None and conf != self.raft.conf_state:
            self._adopt_membership(conf, self.store.applied_index())
        self.raft_log.restart_after(index, term)
        self.raft.snapshot_installed(index, term)

    # where fetched blocks go (node.server.catchup.Chain)
    def applied_index(self) -> int:
        return self.store.applied_index()

    def next_height(self) -> int:
        return self.tip.height + 1

    def voters(self) -> frozenset[str]:
        return self.raft.conf_state.voters

    def apply_fetched(self, block: FetchedBlock) -> None:
        result = execute_block(self.state, Block.decode(block.raw), self.tip, self.sigs)
        self._commit_block(result, block.raft_index, fetched=True)
        self.metrics.fetched.inc()

    # -- submissions --------------------------------------------------------------------------------
    async def verify_ahead(self, raws: list[bytes]) -> None:
        """Check a batch's signatures in the signature pool before it is admitted, while the
        loop serves others; admission then finds them verified (node.ledger.sigpool: what a
        worker could not verify is checked, and refused, by the rules as before). A small
        batch is left to the rules: the round trip would cost more."""
        if self.sig_pool is None or len(raws) < self.sig_pool.min_batch:
            return
        try:
            start = time.perf_counter()
            hashes = await asyncio.wrap_future(self.sig_pool.submit(raws))
            self.stages.add("verify_ahead", time.perf_counter() - start)
        except Exception:  # noqa: BLE001 - a broken pool costs speed, never a verdict
            log.warning("the signature pool failed; admission checks signatures itself",
                        exc_info=True)
            return
        warm(self.sigs, hashes)

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
            with self.stages.timed("decode"):
                tx = decode_tx(raw)
            with self.stages.timed("admit"):
                dropped = self._add_to_pool(tx)
        except E.LedgerError as err:
            self.metrics.rejected.labels(err.code).inc()
            raise
        for d in dropped:
            self._note_dropped(d)
        self.drops.forget(tx.hash)
        self.events.seen(tx.hash)
        return tx

    def _add_to_pool(self, tx: Transaction) -> list[Dropped]:
        try:
            return self.mempool.add(tx)
        except E.BadNonce:
            if self.store.receipt(tx.hash) is not None:  # only a stale nonce can be a replay
                raise E.Duplicate("transaction is already committed") from None
            raise

    def transfer_leadership(self, target: str) -> None:
        """Hand leadership to another voter (maintenance); raises the reason it cannot."""
        try:
            self.raft.transfer_leader(target)
        except NotLeader as exc:
            raise E.NotLeaderError(f"this node is not the leader; the leader is {exc.leader or 'unknown'}") from None
        except ValueError as exc:
            raise E.Malformed(str(exc)) from None
        self._kick.set()

    # -- what it tells (node.server.service.NodeService) ----------------------------------------------
    @property
    def role(self) -> NodeRole:
        licensed = is_licensed_peer(self.state, self.key.address)
        return public_role(self.id, licensed, self.raft.conf_state, self.raft.role)

    @property
    def institution(self) -> Institution | None:
        """The institution whose node key this node runs with, as the state says now."""
        return self.state.institution_by_node_key(self.key.address)

    def node_status(self) -> NodeStatus:
        conf = self.raft.conf_state
        return NodeStatus(
            node_id=self.id, name=self.config.name,
            institution=self.institution.name if self.institution else None,
            role=self.role, term=self.raft.term, leader_id=self.raft.leader_id,
            commit_index=self.raft.status().commit, applied_index=self.store.applied_index(),
            height=self.tip.height, block_hash=self.tip.block_hash, state_hash=self.tip.state_hash,
            timestamp=self.tip.timestamp, mempool_size=len(self.mempool),
            peers=tuple(sorted(self.p2p.connected_peers())), voters=tuple(sorted(conf.voters)),
            learners=tuple(sorted(conf.learners)), chain_id=self.genesis.chain_id,
            certified_height=self.certs.certified_height, diverged=self.certs.diverged)

    def status(self) -> dict:
        """GET /v1/status, as JSON."""
        return self.node_status().to_json()

    def readiness(self) -> Readiness:
        return Readiness(self.id, self.role, self.raft.leader_id, self.raft.status().commit,
                         self.store.applied_index(), frozenset(self.p2p.connected_peers()),
                         self.raft.conf_state.voters, self.certs.diverged)

    def tx_status(self, tx_hash: bytes) -> TxStatus:
        r = self.store.receipt(tx_hash)
        if r is not None:
            return receipt_status(r)
        if tx_hash in self.mempool:
            return TxStatus(TxState.PENDING)
        err = self.drops.get(tx_hash)
        if err is not None:
            return dropped_status(err)
        return TxStatus(TxState.UNKNOWN)

    async def wait_for(self, tx_hash: bytes, timeout: float) -> TxStatus:
        """The tx's status once it is final (committed or failed), or as it is at the timeout
        (seconds of the node's clock)."""
        return await self.waiters.wait(tx_hash, timeout, self.tx_status)

    def height(self) -> int:
        return self.tip.height

    def committed_tx(self, receipt: Receipt) -> Transaction:
        return self.reader.committed_tx(receipt)

    def block_bytes(self, height: int) -> bytes | None:
        return self.reader.block_bytes(height)

    def block_view(self, height: int, with_txs: bool = True) -> BlockView | None:
        return self.reader.block_view(height, with_txs)

    def block_records(self, start: int, count: int, max_bytes: int) -> list[BlockRecord]:
        return self.reader.block_records(start, count, max_bytes)

    def account_view(self, address: bytes) -> AccountView:
        return self.reader.account_view(address)

    def proposal_view(self, proposal_id: bytes) -> ProposalView | None:
        return self.reader.proposal_view(proposal_id)

    def institutions(self) -> list[InstitutionView]:
        return self.reader.institutions()

    def policy(self) -> PolicyView:
        return self.reader.policy()

    def assets(self) -> list[AssetView]:
        return self.reader.assets()

    def asset_view(self, code: str) -> AssetView | None:
        return self.reader.asset_view(code)

    def supervisory_reports(self) -> list[SupervisoryReport]:
        return self.reader.supervisory_reports()

    def offers(self, query: OfferQuery) -> list[OfferView]:
        return self.reader.offers(query)

    def offer_view(self, offer_id: bytes) -> OfferView | None:
        return self.reader.offer_view(offer_id)

    def escrows(self, query: EscrowQuery) -> list[EscrowView]:
        return self.reader.escrows(query)

    def escrow_view(self, escrow_id: bytes) -> EscrowView | None:
        return self.reader.escrow_view(escrow_id)
    def loans(self) -> list[LoanView]:
        return self.reader.loans()

    def loan_view(self, loan_id: bytes) -> LoanView | None:
        return self.reader.loan_view(loan_id)

    def credit_view(self, address: bytes) -> CreditView:
        return self.reader.credit_view(address)

    def tx_proof(self, tx_hash: bytes) -> TxProof | None:
        return self.reader.tx_proof(tx_hash)

    def genesis_json(self) -> dict:
        return self.genesis.to_json()

    def metrics_text(self) -> bytes:
        self.metrics.mempool.set(len(self.mempool))
        self.metrics.held.set(len(self.mempool.held))
        return self.metrics.render()

    def faults(self) -> FaultFilter:
        return self.p2p.faults

    def dashboard_status(self) -> DashboardStatus:
        """What the dashboard shows of this node each second, from what it holds already."""
        connected = set(self.p2p.connected_peers())
        links = tuple(PeerLink(peer, self._peer_name(peer), peer in connected)
                      for peer in sorted(set(self._peers) | connected))
        faults = self.p2p.faults.state() if self.config.devnet else None
        return DashboardStatus(self.node_status(), links, self.metrics.refusals(),
                               len(self.mempool.held), faults)

    def network_members(self) -> list[NetworkMember]:
        """This node and every node it should link to (of genesis, or added on chain), by
        institution name, at their API address and current node key."""
        members = self.raft.conf_state.members
        s = self.state
        return [NetworkMember(key.hex(), i.name, i.address) for i in s.institutions()
                if i.address and ((key := s.node_key_of(i)) == self.key.address
                                  or key.hex() in members or is_licensed_peer(s, key))]

    def _peer_name(self, peer: str) -> str:
        try:
            inst = member_institution(self.genesis, self.state, peer)
        except ValueError:
            inst = None
        return inst.name if inst is not None else ""


def log_memory_owners(top: int = 25) -> None:
    """On SIGUSR2: the code lines holding the most Python memory, when the node runs with
    PYTHONTRACEMALLOC=1 (tracing costs time, so it is the operator's choice); memory outside
    Python's allocator (LevelDB's memtables and mapped tables) is not in it."""
    import tracemalloc
    if not tracemalloc.is_tracing():
        note(log, logging.WARNING, "memory_untraced", "SIGUSR2: start the node with "
             "PYTHONTRACEMALLOC=1 to see where its memory goes")
        return
    stats = tracemalloc.take_snapshot().statistics("lineno")[:top]
    total = sum(s.size for s in stats)
    note(log, logging.INFO, "memory_owners", "top %d lines hold %d KiB:\n%s", top, total // 1024,
         "\n".join(str(s) for s in stats), total_kib=total // 1024)


async def run_node(config: NodeConfig, key: Signer | None = None) -> None:
    """Run until SIGINT/SIGTERM: what `lichen node run` does. `key` defaults to the config's
    key file (a sealed one opened with the passphrase LICHEN_PASSPHRASE_FILE holds)."""
    import os
    import signal
    node = Node(config, key=key, clock=daemon_clock(config.devnet, dict(os.environ)))
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR2, log_memory_owners)
    await stop.wait()
    note(log, logging.INFO, "node_stopping", "%s shutting down", config.name)
    await node.stop()
