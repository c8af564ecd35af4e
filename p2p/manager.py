"""PeerManager: the only part of p2p that knows about connections.

It dials the peer table with backoff, accepts inbound connections, runs the handshake on each,
keeps exactly one authenticated connection per peer, and routes frames between the wire and
the node's callbacks (RAFT -> on_raft, TXS -> Gossip -> on_txs, REQUEST -> on_request).
After the handshake every frame is sealed (p2p.channel): one seal per frame on the way out, one
open per frame on the way in; a frame that does not open ends that connection (logged with its
ChannelFault, counted in `links_broken`), and the dialer redials with a fresh handshake.

Everything runs on one asyncio event loop and nothing here is thread-safe. Callbacks are plain
functions called on that loop (except `on_request`, a coroutine function); they must return
quickly, and no callback is called once `close()` has begun.

One connection per pair: both sides dial (so a one-sided peer table still connects), and when
two authenticated connections to the same peer exist, both sides keep the same one by this rule:
- same dialer as the existing one -> the new one wins (that dialer only redials after losing
  its connection, so the old one is stale);
- different dialers -> the one dialed by the lower node id wins.
Swapping connections is silent: on_peer_up/on_peer_down fire only when a peer becomes reachable
or unreachable.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from .channel import SEAL_OVERHEAD, SealedTransport, SecureChannel
from .errors import (
    ChannelBroken,
    FrameError,
    HandshakeRefused,
    Misbehaviour,
    Refusal,
    RequestFailed,
    TransportClosed,
    clip,
)
from .faults import FaultFilter
from .frames import (
    DEFAULT_MAX_FRAME_SIZE,
    Auth,
    Frame,
    Hello,
    Raft,
    Request,
    Response,
    Txs,
    decode,
    encode,
)
from .gossip import Gossip, GossipStats
from .handshake import Handshake, SeedSigner, Signer
from .transport import Dialer, Transport
from .websocket import PEER_PATH, WebSocketDialer, accept_websocket

log = logging.getLogger("lichen.p2p")

OnRaft = Callable[[str, list[Any]], None]
"""(peer_id_hex, payload): a RAFT payload from an authenticated peer."""
OnTxs = Callable[[str, list[bytes]], list[bool]]
"""(peer_id_hex, unseen raw txs) -> one verdict per tx, True = admitted (then forwarded)."""
OnPeer = Callable[[str], None]
"""(peer_id_hex): the peer became reachable / unreachable."""
OnRequest = Callable[[str, Any], Awaitable[Any]]
VerifyAhead = Callable[[list[bytes]], Awaitable[None]]
"""(new txs of a TXS frame) -> done: work the node does on them before on_txs, off the loop
(its signature checks in worker processes). The link's next frame waits for it, so a peer's
frames are still handled in order, and a flooding peer is held back by its own connection."""
"""async (peer_id_hex, payload) -> response payload; raising sends an error RESPONSE."""
RaftSenderOf = Callable[[list[Any]], str | None]
"""payload -> the node id hex the Raft message claims as its sender, or None if it names none."""


@dataclass(frozen=True)
class P2PConfig:
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    handshake_timeout: float = 5.0
    connect_timeout: float = 3.0
    heartbeat: float | None = 5.0  # websocket ping interval; a peer silent for half of it is dead
    backoff_initial: float = 0.05  # first redial delay (seconds); doubles per failure ...
    backoff_max: float = 2.0  # ... up to this, with jitter, so a devnet heals fast
    outbound_queue: int = 1024  # frames waiting per peer; beyond it RAFT frames are dropped
    gossip_batch_size: int = 512  # txs per TXS frame
    gossip_flush_interval: float = 0.005  # how long a partial batch may wait
    gossip_max_pending: int = 50_000  # txs waiting per peer while its connection is congested
    seen_cache_size: int = 100_000
    request_timeout: float = 5.0
    max_inflight_requests: int = 16  # per peer; more get a BUSY response
    # -- what a peer may cost us (issue 10) ------------------------------------------------
    max_handshake_frame: int = 512  # bytes per frame before AUTH (HELLO ~110, AUTH ~100)
    max_txs_per_frame: int = 4096  # items in one TXS frame; more: the peer is disconnected
    outbound_queue_bytes: int = 16 * 1024 * 1024  # bytes waiting per peer, besides the count
    misbehaviour_backoff: float = 30.0  # seconds a peer disconnected for misbehaving is refused

    def __post_init__(self) -> None:
        if self.gossip_batch_size > self.max_txs_per_frame:
            raise ValueError("gossip_batch_size exceeds max_txs_per_frame: peers would drop us")

    @property
    def gossip_batch_bytes(self) -> int:
        return min(1024 * 1024, self.max_frame_size // 2)  # leaves room for framing overhead


@dataclass(frozen=True)
class PeerConnection:
    peer_id: str
    outbound: bool  # True if we dialed it


@dataclass(frozen=True)
class P2PStats:
    connected_peers: int
    open_transports: int  # every connection we hold, including ones still in the handshake
    frames_sent: int
    frames_received: int
    dropped_queue_full: int  # frames not sent because the peer's outbound queue was full
    dropped_by_faults: int  # frames dropped by the devnet fault filter (both directions)
    bad_frames: int  # undecodable or unexpected frames from authenticated peers
    forged_raft_dropped: int  # RAFT payloads claiming another sender than their connection
    handshakes_refused: int
    misbehaving_disconnected: int  # links closed because the peer broke a cap (then backed off)
    misbehaving_by_reason: dict[str, int]  # the same, per Misbehaviour code
    links_broken: int  # authenticated connections closed because a sealed frame did not open
    duplicate_connections: int  # authenticated connections closed by the one-per-pair rule
    gossip: GossipStats


@dataclass
class _Counters:
    frames_sent: int = 0
    frames_received: int = 0
    dropped_queue_full: int = 0
    dropped_by_faults: int = 0
    bad_frames: int = 0
    forged_raft_dropped: int = 0
    handshakes_refused: int = 0
    misbehaving_disconnected: int = 0
    misbehaving_by_reason: dict[str, int] = field(default_factory=dict)
    links_broken: int = 0
    duplicate_connections: int = 0


@dataclass(eq=False)
class _Link:
    """One authenticated connection to one peer, with its outbound queue."""

    peer_id: str
    transport: Transport
    dialer_id: str  # node id hex of the side that dialed
    outbox: asyncio.Queue[bytes]
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    inflight_requests: int = 0
    outbox_bytes: int = 0  # bytes of the frames in `outbox`


@dataclass
class _PendingRequest:
    peer_id: str
    future: asyncio.Future[Any]


class Backoff:
    """Exponential backoff with jitter: each delay is uniform in [d/2, d], d doubling to a cap."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self._initial = initial
        self._maximum = maximum
        self._rng = rng
        self._current = initial

    def next(self) -> float:
        delay = self._rng.uniform(self._current / 2, self._current)
        self._current = min(self._current * 2, self._maximum)
        return delay

    def reset(self) -> None:
        self._current = self._initial


class PeerManager:
    def __init__(
        self,
        *,
        signer: Signer | None = None,
        signing_seed: bytes | None = None,
        chain_id: bytes,
        peers: Mapping[str, str],
        is_licensed: Callable[[bytes], bool],
        on_raft: OnRaft,
        on_txs: OnTxs,
        on_peer_up: OnPeer | None = None,
        on_peer_down: OnPeer | None = None,
        on_request: OnRequest | None = None,
        raft_sender_of: RaftSenderOf | None = None,
        verify_ahead: VerifyAhead | None = None,
        dialer: Dialer | None = None,
        devnet: bool = False,
        seed: int | None = None,
        config: P2PConfig = P2PConfig(),
    ) -> None:
        """
        signer: our node key (p2p.handshake.Signer: address + sign); our node id is its
            address. It signs one AUTH per connection and is never asked for its seed.
        signing_seed: instead of `signer`, a raw 32-byte ed25519 seed (tests).
        peers: {node_id_hex: "http://host:port"} to dial; our own entry is ignored. Inbound
            connections are accepted from any licensed key, listed or not.
        is_licensed: asked at every handshake with the peer's 32-byte node key.
        raft_sender_of: if given, a RAFT payload whose claimed sender differs from the
            connection's authenticated peer is dropped and logged; on_raft always receives
            the authenticated peer id either way.
        verify_ahead: if given, awaited with a TXS frame's unseen txs before they go to on_txs.
        dialer: how to reach peer addresses; default aiohttp websockets.
        devnet: enables `faults`; otherwise its control calls raise FaultFilterDisabled.
        seed: seeds the fault filter and backoff jitter (None = random).
        """
        if (signer is None) == (signing_seed is None):
            raise TypeError("give exactly one of signer and signing_seed")
        self._key: Signer = signer if signer is not None else SeedSigner(signing_seed or b"")
        self._node_id_hex = self._key.address.hex()
        if len(chain_id) != 32:
            raise ValueError("chain_id must be 32 bytes")
        self._chain_id = chain_id
        self._is_licensed = is_licensed
        self._on_raft = on_raft
        self._on_peer_up = on_peer_up
        self._on_peer_down = on_peer_down
        self._on_request = on_request
        self._raft_sender_of = raft_sender_of
        self._verify_ahead = verify_ahead
        self._config = config
        self._dialer = dialer or WebSocketDialer(
            max_frame_size=config.max_frame_size,
            heartbeat=config.heartbeat,
            connect_timeout=config.connect_timeout,
        )
        self._rng = random.Random(seed)
        self.faults = FaultFilter(enabled=devnet, seed=self._rng.randrange(2**32))
        self._gossip = Gossip(
            send_txs=self._send_txs,
            on_txs=on_txs,
            seen_capacity=config.seen_cache_size,
            batch_size=config.gossip_batch_size,
            batch_bytes=config.gossip_batch_bytes,
            max_pending=config.gossip_max_pending,
        )
        self._peer_table: dict[str, str] = {}
        self._dial_tasks: dict[str, asyncio.Task[None]] = {}
        self._links: dict[str, _Link] = {}
        self._transports: set[Transport] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # request handlers, closes of replaced links
        self._requests: dict[int, _PendingRequest] = {}
        self._request_ids = itertools.count(1)
        self._flush_handle: asyncio.TimerHandle | None = None
        self._counters = _Counters()
        self._shunned: dict[str, float] = {}  # peer id -> loop time until which it is refused
        self._started = False
        self._closing = False
        self._set_peer_table(peers)

    # --- identity and state ----------------------------------------------------------------------

    @property
    def node_id(self) -> bytes:
        return self._key.address

    @property
    def node_id_hex(self) -> str:
        return self._node_id_hex

    def connected_peers(self) -> list[str]:
        """Authenticated peers we have a connection to, sorted."""
        return sorted(self._links)

    def connections(self) -> list[PeerConnection]:
        """Each authenticated connection, and whether we dialed it."""
        links = sorted(self._links.items())
        return [PeerConnection(peer_id, self._dialed_by_us(link)) for peer_id, link in links]

    def _dialed_by_us(self, link: _Link) -> bool:
        return link.dialer_id == self._node_id_hex

    def stats(self) -> P2PStats:
        c = self._counters
        return P2PStats(
            connected_peers=len(self._links),
            open_transports=len(self._transports),
            frames_sent=c.frames_sent,
            frames_received=c.frames_received,
            dropped_queue_full=c.dropped_queue_full,
            dropped_by_faults=c.dropped_by_faults,
            bad_frames=c.bad_frames,
            forged_raft_dropped=c.forged_raft_dropped,
            handshakes_refused=c.handshakes_refused,
            misbehaving_disconnected=c.misbehaving_disconnected,
            misbehaving_by_reason=dict(c.misbehaving_by_reason),
            links_broken=c.links_broken,
            duplicate_connections=c.duplicate_connections,
            gossip=replace(self._gossip.stats),
        )

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin dialing the peer table. Call from the event loop the manager will live on."""
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        for peer_id in self._peer_table:
            self._start_dialing(peer_id)

    async def close(self) -> None:
        """Stop dialing, close every connection, fail pending requests. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        tasks = [*self._dial_tasks.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        for transport in list(self._transports):
            await transport.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pending in self._requests.values():
            if not pending.future.done():
                pending.future.set_exception(RequestFailed("peer manager closed"))
        await self._dialer.close()

    def set_peers(self, peers: Mapping[str, str]) -> None:
        """Replace the peer table (e.g. after a license_grant). Existing connections stay;
        use disconnect() to drop a peer whose license was revoked."""
        if self._closing:
            raise RuntimeError("peer manager is closed")
        old = dict(self._peer_table)
        self._set_peer_table(peers)
        for peer_id in old.keys() - self._peer_table.keys():
            self._stop_dialing(peer_id)
        for peer_id, address in self._peer_table.items():
            if old.get(peer_id) != address and self._started:
                self._stop_dialing(peer_id)
                self._start_dialing(peer_id)

    async def disconnect(self, peer_id: str) -> None:
        """Close the connection to a peer, whichever side dialed it (it may reconnect if it
        still passes the handshake: a revoked key does not, see `_adopt`)."""
        link = self._links.get(peer_id)
        if link is not None:
            await link.transport.close()

    # --- mounting on the node's aiohttp app ----------------------------------------------------

    def mount(self, app: web.Application) -> None:
        """Serve peers at GET /v1/peer on the node's app, and close them when the app shuts down."""
        app.router.add_get(PEER_PATH, self.websocket_handler)
        app.on_shutdown.append(self._close_on_shutdown)

    async def websocket_handler(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for GET /v1/peer; returns when the peer connection ends."""
        ws, transport = await accept_websocket(
            request, max_frame_size=self._config.max_frame_size, heartbeat=self._config.heartbeat
        )
        await self.accept(transport)
        return ws

    async def _close_on_shutdown(self, app: web.Application) -> None:
        await self.close()

    async def accept(self, transport: Transport) -> None:
        """Serve one inbound connection until it closes (a listener's handler)."""
        if self._closing:
            await transport.close()
            return
        await self._serve(transport, expected_peer=None)

    # --- sending ---------------------------------------------------------------------------------

    def send_raft(self, peer_id: str, payload: list[Any]) -> bool:
        """Queue a Raft message for a peer, without waiting. False if it was dropped because the
        peer is not connected or its queue is full (Raft retries). Raises FrameError if the
        payload is not encodable or exceeds the frame limit: a bug in the caller."""
        link = self._links.get(peer_id)
        if link is None:
            return False
        return self._send(link, self._encode(Raft(payload)))

    def broadcast_txs(self, txs: Iterable[bytes]) -> int:
        """Gossip txs this node admitted from its own clients; returns how many were new."""
        count = self._gossip.announce_local(txs)
        self._arm_flush()
        return count

    async def request(self, peer_id: str, payload: Any, *, timeout: float | None = None) -> Any:
        """Send a REQUEST and wait for the peer's RESPONSE payload; raises RequestFailed."""
        link = self._links.get(peer_id)
        if link is None:
            raise RequestFailed(f"peer {peer_id} is not connected")
        request_id = next(self._request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = _PendingRequest(peer_id, future)
        try:
            if not self._send(link, self._encode(Request(request_id, payload))):
                raise RequestFailed(f"outbound queue to {peer_id} is full")
            async with asyncio.timeout(timeout if timeout is not None else self._config.request_timeout):
                return await future
        except TimeoutError:
            raise RequestFailed(f"request to {peer_id} timed out") from None
        finally:
            del self._requests[request_id]

    def _send(self, link: _Link, data: bytes) -> bool:
        """Put one frame on a peer's outbound queue. A frame the fault filter eats counts as sent."""
        if not self.faults.allows(link.peer_id):
            self._counters.dropped_by_faults += 1
            return True
        if self._outbox_full(link, len(data)):
            self._counters.dropped_queue_full += 1
            return False
        link.outbox.put_nowait(data)
        link.outbox_bytes += len(data)
        return True

    def _outbox_full(self, link: _Link, size: int = 0) -> bool:
        """Bounded in frames and in bytes (a frame always fits an empty queue)."""
        if link.outbox.full():
            return True
        return link.outbox_bytes > 0 and link.outbox_bytes + size > self._config.outbound_queue_bytes

    def _send_txs(self, peer_id: str, txs: list[bytes]) -> bool:
        """Gossip's way out. False (keep the batch) only while the peer's queue is full."""
        link = self._links.get(peer_id)
        if link is None:
            return True  # peer gone; gossip forgets its batch on peer_down
        if self._outbox_full(link):
            return False  # back-pressure: the batch waits in Gossip for the next flush
        return self._send(link, self._encode(Txs(txs)))

    def _encode(self, frame: Frame) -> bytes:
        """A frame's bytes before sealing: the seal's tag must still fit the wire limit."""
        return encode(frame, max_size=self._config.max_frame_size - SEAL_OVERHEAD)

    def _decode(self, data: bytes) -> Frame:
        return decode(data, max_size=self._config.max_frame_size - SEAL_OVERHEAD)

    def _arm_flush(self) -> None:
        """Send partial gossip batches after a short wait; no timer runs while nothing waits."""
        if self._flush_handle is None and not self._closing and self._gossip.has_pending:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self._config.gossip_flush_interval, self._flush_gossip)

    def _flush_gossip(self) -> None:
        self._flush_handle = None
        self._gossip.flush()
        self._arm_flush()

    # --- dialing ---------------------------------------------------------------------------------

    def _set_peer_table(self, peers: Mapping[str, str]) -> None:
        table = {peer_id.lower(): address for peer_id, address in peers.items()}
        table.pop(self._node_id_hex, None)  # a shared devnet table lists us too
        self._peer_table = table

    def _start_dialing(self, peer_id: str) -> None:
        loop = asyncio.get_running_loop()
        self._dial_tasks[peer_id] = loop.create_task(self._dial_loop(peer_id), name=f"p2p-dial-{peer_id[:8]}")

    def _stop_dialing(self, peer_id: str) -> None:
        task = self._dial_tasks.pop(peer_id, None)
        if task is not None:
            task.cancel()

    async def _dial_loop(self, peer_id: str) -> None:
        """Keep one connection to `peer_id`: wait while connected, redial with backoff when not."""
        backoff = Backoff(self._config.backoff_initial, self._config.backoff_max, self._rng)
        failures = 0
        while not self._closing:
            link = self._links.get(peer_id)
            if link is not None:
                await link.closed.wait()
                backoff.reset()
                failures = 0
                continue
            if self._is_shunned(peer_id):
                await asyncio.sleep(self._shunned[peer_id] - asyncio.get_running_loop().time())
                continue
            address = self._peer_table[peer_id]
            try:
                transport = await self._dialer.dial(address)
            except ConnectionError as exc:
                failures += 1
                level = logging.INFO if failures == 1 else logging.DEBUG  # once per outage
                log.log(level, "cannot reach peer %s at %s (retrying): %s", peer_id[:8], address, exc,
                        extra=_event("peer_unreachable", peer=peer_id, address=address))
            else:
                if await self._serve(transport, expected_peer=peer_id):
                    backoff.reset()  # it was up: the next loss deserves a quick redial
                    failures = 0
            await asyncio.sleep(backoff.next())

    # --- one connection --------------------------------------------------------------------------

    async def _serve(self, transport: Transport, *, expected_peer: str | None) -> bool:
        """Handshake, then (if this connection is the one kept) run it until it closes.
        True if it became the peer's connection."""
        self._transports.add(transport)
        try:
            channel = await self._handshake(transport, expected_peer)
            peer_id = channel.peer_id.hex()
            dialer_id = self._node_id_hex if expected_peer is not None else peer_id
            sealed = SealedTransport(transport, channel)
            link = _Link(peer_id, sealed, dialer_id, asyncio.Queue(self._config.outbound_queue))
            if not self._adopt(link):
                return False
            try:
                await self._run(link)
            finally:
                self._release(link)
            return True
        except HandshakeRefused:
            self._counters.handshakes_refused += 1
            return False
        except TransportClosed as exc:
            log.debug("connection closed during handshake: %s", exc)
            return False
        except Exception:  # a bug (ours or a callback's) must not stop the dial loop for good
            log.exception("connection failed unexpectedly")
            return False
        finally:
            self._transports.discard(transport)
            await transport.close()

    async def _handshake(self, transport: Transport, expected_peer: str | None) -> SecureChannel:
        """Run the Handshake protocol object over `transport`; the channel to the authenticated peer."""
        outgoing: list[bytes] = []
        handshake = Handshake(
            chain_id=self._chain_id,
            signing_key=self._key,
            is_licensed=self._is_licensed,
            send=outgoing.append,
            expected_peer=bytes.fromhex(expected_peer) if expected_peer else None,
            max_frame_size=self._config.max_frame_size,
        )
        try:
            async with asyncio.timeout(self._config.handshake_timeout):
                handshake.start()
                while True:
                    for data in outgoing:
                        await transport.send(data)
                    outgoing.clear()
                    if handshake.complete:
                        return handshake.channel
                    handshake.receive(self._handshake_frame(await transport.recv()))
        except TimeoutError:
            timeout = self._config.handshake_timeout
            raise _refused(Refusal.TIMEOUT, f"no handshake within {timeout}s") from None

    def _handshake_frame(self, data: bytes) -> bytes:
        """Before AUTH nobody is known: a stranger's frames are as small as HELLO and AUTH."""
        limit = self._config.max_handshake_frame
        if len(data) > limit:
            raise _refused(Refusal.PROTOCOL_VIOLATION,
                           f"a {len(data)}-byte frame before authentication (limit {limit})")
        return data

    def _adopt(self, link: _Link) -> bool:
        """Make `link` the peer's connection unless the existing one is preferred."""
        if self._closing:
            return False
        if self._is_shunned(link.peer_id):
            self._counters.handshakes_refused += 1
            log.info("refusing %s: disconnected for misbehaving, backing off", link.peer_id[:8],
                     extra=_event("peer_refused", peer=link.peer_id, reason="MISBEHAVED"))
            return False
        if not self._is_licensed(bytes.fromhex(link.peer_id)):
            # its license went while the handshake ran (the handshake asked before)
            self._counters.handshakes_refused += 1
            log.info("refusing %s: no longer licensed", link.peer_id[:8],
                     extra=_event("peer_refused", peer=link.peer_id, reason="NOT_LICENSED"))
            return False
        current = self._links.get(link.peer_id)
        if current is not None:
            self._counters.duplicate_connections += 1
        if current is not None and not self._prefer(link, current):
            log.debug("keeping existing connection to %s, dropping duplicate", link.peer_id[:8])
            return False
        self._links[link.peer_id] = link
        if current is not None:
            log.debug("replacing connection to %s", link.peer_id[:8])
            self._spawn(current.transport.close())
            return True
        direction = "outbound" if self._dialed_by_us(link) else "inbound"
        log.info("peer up: %s (%s)", link.peer_id[:8], direction,
                 extra=_event("peer_up", peer=link.peer_id, direction=direction))
        self._gossip.peer_up(link.peer_id)
        self._notify(self._on_peer_up, link.peer_id)
        return True

    def _prefer(self, new: _Link, current: _Link) -> bool:
        """The one-connection-per-pair rule; both ends of the pair reach the same answer."""
        if new.dialer_id == current.dialer_id:
            return True  # a dialer redials only after losing its connection: the old one is stale
        return new.dialer_id == min(self._node_id_hex, new.peer_id)

    def _release(self, link: _Link) -> None:
        link.closed.set()
        if self._links.get(link.peer_id) is not link:
            return  # replaced by a newer connection: the peer never went away
        del self._links[link.peer_id]
        self._gossip.peer_down(link.peer_id)
        self._fail_requests(link.peer_id)
        log.info("peer down: %s", link.peer_id[:8], extra=_event("peer_down", peer=link.peer_id))
        if not self._closing:
            self._notify(self._on_peer_down, link.peer_id)

    async def _run(self, link: _Link) -> None:
        writer = asyncio.get_running_loop().create_task(self._write_loop(link))
        try:
            while True:
                ahead = self._on_data(link, await link.transport.recv())
                if ahead is not None:
                    await ahead
        except TransportClosed:
            pass
        except ChannelBroken as exc:
            self._counters.links_broken += 1
            log.warning("closing the link to %s: %s (%s)", link.peer_id[:8], exc.reason.value, exc.detail)
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def _write_loop(self, link: _Link) -> None:
        try:
            while True:
                data = await link.outbox.get()
                link.outbox_bytes -= len(data)
                await link.transport.send(data)
                self._counters.frames_sent += 1
        except TransportClosed:
            await link.transport.close()  # ends the reader too

    # --- receiving -------------------------------------------------------------------------------

    def _on_data(self, link: _Link, data: bytes) -> Coroutine[Any, Any, None] | None:
        """One opened frame from an authenticated peer: everything in it is attributed to
        link.peer_id (the channel proved it came from that peer, unchanged and in order).
        A TXS frame with a verify_ahead comes back as the coroutine that finishes it."""
        self._counters.frames_received += 1
        if not self.faults.allows(link.peer_id):
            self._counters.dropped_by_faults += 1
            return
        try:
            frame = self._decode(data)
        except FrameError as exc:
            self._bad_frame(link, str(exc))
            return
        match frame:
            case Raft(payload):
                self._deliver_raft(link.peer_id, payload)
            case Txs(txs) if len(txs) > self._config.max_txs_per_frame:
                self._misbehaved(link, Misbehaviour.TOO_MANY_TXS_IN_FRAME,
                                 f"{len(txs)} txs in one TXS frame "
                                 f"(limit {self._config.max_txs_per_frame})")
            case Txs(txs) if self._verify_ahead is not None:
                return self._receive_txs_verified(link.peer_id, txs)
            case Txs(txs):
                self._receive_txs(link.peer_id, txs)
            case Request():
                self._answer_request(link, frame)
            case Response():
                self._resolve_request(link.peer_id, frame)
            case Hello() | Auth():
                self._bad_frame(link, f"{type(frame).__name__} after the handshake")

    def _misbehaved(self, link: _Link, reason: Misbehaviour, why: str) -> None:
        """A peer that broke a cap is disconnected, and refused (both ways) for a while."""
        c = self._counters
        c.misbehaving_disconnected += 1
        c.misbehaving_by_reason[reason.value] = c.misbehaving_by_reason.get(reason.value, 0) + 1
        backoff = self._config.misbehaviour_backoff
        self._shunned[link.peer_id] = asyncio.get_running_loop().time() + backoff
        log.warning("disconnecting %s for %.0fs: %s (%s)", link.peer_id[:8], backoff, reason.value,
                    why, extra=_event("peer_refused", peer=link.peer_id, reason=reason.value,
                                      detail=clip(why, 200), backoff_s=backoff))
        self._spawn(link.transport.close())

    def _is_shunned(self, peer_id: str) -> bool:
        until = self._shunned.get(peer_id)
        if until is None:
            return False
        if until <= asyncio.get_running_loop().time():
            del self._shunned[peer_id]
            return False
        return True

    def _bad_frame(self, link: _Link, why: str) -> None:
        self._counters.bad_frames += 1
        log.warning("dropping bad frame from %s: %s", link.peer_id[:8], clip(why, 200),
                    extra=_event("peer_refused", peer=link.peer_id, what="frame",
                                 reason="BAD_FRAME", detail=clip(why, 200)))

    def _deliver_raft(self, peer_id: str, payload: list[Any]) -> None:
        if self._raft_sender_of is not None and not self._raft_sender_matches(peer_id, payload):
            self._counters.forged_raft_dropped += 1
            return
        try:
            self._on_raft(peer_id, payload)
        except Exception:
            log.exception("on_raft failed for a message from %s", peer_id[:8])

    def _raft_sender_matches(self, peer_id: str, payload: list[Any]) -> bool:
        """A peer may only speak for itself: the claimed sender must be the connection's peer."""
        assert self._raft_sender_of is not None
        try:
            claimed = self._raft_sender_of(payload)
        except Exception:
            log.warning("dropping RAFT from %s: cannot read its sender", peer_id[:8], exc_info=True,
                        extra=_event("peer_refused", peer=peer_id, what="raft",
                                     reason="MALFORMED"))
            return False
        if claimed is not None and claimed.lower() != peer_id:
            log.warning("dropping RAFT from %s claiming to be from %s", peer_id[:8], clip(claimed),
                        extra=_event("peer_refused", peer=peer_id, what="raft",
                                     reason="SPOOFED_SENDER", claimed=clip(claimed)))
            return False
        return True

    async def _receive_txs_verified(self, peer_id: str, txs: list[bytes]) -> None:
        assert self._verify_ahead is not None
        fresh = [tx for tx in txs if not self._gossip.seen(tx)]
        if fresh:
            try:
                await self._verify_ahead(fresh)
            except Exception:  # the node checks them itself then
                log.exception("verify_ahead failed for a batch from %s", peer_id[:8])
        if not self._closing:  # no callback once close() has begun
            self._receive_txs(peer_id, txs)

    def _receive_txs(self, peer_id: str, txs: list[bytes]) -> None:
        try:
            self._gossip.receive(peer_id, txs)
        except Exception:
            log.exception("on_txs failed for a batch from %s", peer_id[:8])
        self._arm_flush()

    def _answer_request(self, link: _Link, request: Request) -> None:
        if self._on_request is None:
            self._respond(link.peer_id, Response(request.request_id, "UNSUPPORTED", None))
        elif link.inflight_requests >= self._config.max_inflight_requests:
            self._respond(link.peer_id, Response(request.request_id, "BUSY", None))
        else:
            self._spawn(self._run_request(link, request))

    async def _run_request(self, link: _Link, request: Request) -> None:
        assert self._on_request is not None
        link.inflight_requests += 1
        try:
            payload = await self._on_request(link.peer_id, request.payload)
            response = Response(request.request_id, None, payload)
        except Exception as exc:
            log.warning("on_request failed for %s: %r", link.peer_id[:8], exc)
            response = Response(request.request_id, f"ERROR: {type(exc).__name__}", None)
        finally:
            link.inflight_requests -= 1
        self._respond(link.peer_id, response)

    def _respond(self, peer_id: str, response: Response) -> None:
        link = self._links.get(peer_id)
        if link is None:
            return
        try:
            data = self._encode(response)
        except FrameError as exc:
            log.warning("cannot send response to %s: %s", peer_id[:8], exc)
            data = encode(Response(response.request_id, "TOO_LARGE", None))
        self._send(link, data)

    def _resolve_request(self, peer_id: str, response: Response) -> None:
        pending = self._requests.get(response.request_id)
        if pending is None or pending.peer_id != peer_id or pending.future.done():
            log.debug("ignoring unexpected RESPONSE %d from %s", response.request_id, peer_id[:8])
            return
        if response.error is not None:
            error = clip(response.error)
            pending.future.set_exception(RequestFailed(f"{peer_id[:8]} answered {error}"))
        else:
            pending.future.set_result(response.payload)

    def _fail_requests(self, peer_id: str) -> None:
        for pending in self._requests.values():
            if pending.peer_id == peer_id and not pending.future.done():
                pending.future.set_exception(RequestFailed(f"peer {peer_id} disconnected"))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify(self, callback: OnPeer | None, peer_id: str) -> None:
        if callback is None:
            return
        try:
            callback(peer_id)
        except Exception:
            log.exception("peer callback failed for %s", peer_id[:8])


def _event(name: str, **fields: Any) -> dict[str, Any]:
    """The `logging` extra naming a line's event (node.server.logs renders it as JSON)."""
    return {"event": name, "fields": fields}


def _refused(reason: Refusal, detail: str) -> HandshakeRefused:
    log.warning("handshake refused: %s (%s)", reason.value, detail,
                extra=_event("peer_refused", what="handshake", reason=reason.value,
                             detail=clip(detail, 200)))
    return HandshakeRefused(reason, detail)
