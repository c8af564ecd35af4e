"""Whole nodes in one event loop: the real Node from the composition root, on an in-memory
network, on a clock the test advances. No socket is opened and nothing sleeps for a while
hoping something happened: a test says what must become true and `until` advances the clock
step by step (ticks, block cuts, timeouts) until it is, or fails saying where each node stands.

    net = TestNetwork(tmp_path, validators=3)
    await net.start_all()
    leader = await net.elect()
    tx = net.transfer()
    net.submit(net.node(1), tx)
    await net.until_committed(tx)
    net.isolate(0); net.cut(1, 2); net.heal()

Faults use each node's devnet fault filter (p2p.FaultFilter): frames to and from a cut peer
vanish while the connection stays up, as in a partition TCP has not noticed. Assertions read
only what a node tells its clients: `node_status()`, `tx_status()`, `account_view()`,
`metrics_text()` (the service behind GET /v1/status, /v1/txs, /v1/accounts, /metrics).

Time: node time (Raft ticks, block interval, long-poll timeouts, block timestamps) is the
ManualClock's. The peer layer's own timers (gossip flush, redial backoff, request timeouts)
run on the event loop's clock; each step yields to the loop for a moment so they progress.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from devnet import key_names, make_genesis
from node.ledger.crypto import KeyPair, Signer
from node.ledger.types import Payload, Transaction, Transfer, sign_tx
from node.server.clock import ManualClock
from node.server.compose import MemoryListener
from node.server.config import NodeConfig
from node.server.daemon import Node
from node.server.service import NodeRole, TxState, TxStatus
from node.store.recovery import wipe_for_resync
from p2p import MemoryNetwork

T0 = 1_700_000_000_000  # genesis time, unix ms; the clock starts here
STEP_MS = 50  # node time per step of `until`: half a Raft tick, five block intervals
SPINS = 20  # event-loop turns per step: what the nodes do in reaction, before the next step
REAL_TIMEOUT_S = 60.0  # a guard against a hung test, far beyond what any test needs


def key_for(name: str) -> KeyPair:
    """Keys derived from names, so node ids (and so Raft's tie-breaks) are the same each run."""
    return KeyPair.from_seed(hashlib.sha256(b"lichen harness: " + name.encode()).digest())


def address_of(i: int) -> str:
    return f"mem://node{i}"


class SkewedClock:
    """One node's view of the shared ManualClock: its wall time `ahead_ms` off (a node whose
    clock is wrong); its pacing and timers are the shared clock's."""

    def __init__(self, clock: ManualClock):
        self.clock = clock
        self.ahead_ms = 0

    def time(self) -> float:
        return self.clock.time() + self.ahead_ms / 1000

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]):
        return self.clock.call_later(delay, callback)


class TestNetwork:
    """`validators` validator nodes, then `observers` observer nodes, then `spare`
    institutions with an address but no license to run a node (one can be licensed later),
    then `unlisted` institutions' keys and addresses that genesis does not name at all (an
    institution_add brings one onto the chain; its node can then be started like any)."""

    __test__ = False  # not a pytest class

    def __init__(self, root: Path, validators: int = 3, observers: int = 0, spare: int = 0,
                 unlisted: int = 0, **config: object):
        """`config`: NodeConfig settings for every node (e.g. tick_ms, log_tail)."""
        self.root = root
        listed = validators + observers + spare
        self.size = listed + unlisted
        self.keys = {name: key_for(name) for name in key_names(self.size)}
        self.node_keys: dict[int, KeyPair] = {}  # node i runs with this key, not inst{i}'s
        self.clock = ManualClock(T0)
        running = self.licensed_nodes = validators + observers
        self.genesis = make_genesis(self.keys, [address_of(i) for i in range(running)], T0,
                                    observers=observers,
                                    spare_urls=[address_of(i) for i in range(running, listed)])
        self.chain_id = self.genesis.chain_id
        self.memory = MemoryNetwork()
        self.nodes: dict[int, Node] = {}  # the running ones
        self.clocks = {i: SkewedClock(self.clock) for i in range(self.size)}  # set_clock_ahead
        self.failures: list[str] = []  # nodes whose consensus loop halted
        self.pumps: list[Callable[[], None]] = []  # called once per step (workloads)
        self._cuts: set[frozenset[int]] = set()
        self._nonces: dict[str, int] = {}
        self._config = config
        self.signers: dict[int, Signer] = {}  # node i signs with this instead of its KeyPair

    # -- nodes --------------------------------------------------------------------------------------
    def id_of(self, i: int) -> str:
        return self.node_key(i).address_hex

    def node_key(self, i: int) -> KeyPair:
        """The key node i runs with: its institution's, unless `node_keys` replaces it (the
        operator's new key file after a key_rotate)."""
        return self.node_keys.get(i) or self.keys[f"inst{i}"]

    def index_of(self, node: Node) -> int:
        return next(i for i, n in self.nodes.items() if n is node)

    def node(self, i: int) -> Node:
        return self.nodes[i]

    def running(self) -> list[Node]:
        return [self.nodes[i] for i in sorted(self.nodes)]

    def config_of(self, i: int) -> NodeConfig:
        return NodeConfig(name=f"node{i}", key_file="", genesis="",
                          data_dir=str(self.root / f"node{i}"), listen=address_of(i),
                          devnet=True, seed=i, **self._config)

    async def start(self, i: int, db=None) -> Node:
        """Start node i on its data dir (as it was left, or new)."""
        assert i not in self.nodes, f"node{i} is running"
        node = Node(self.config_of(i), self.genesis, self.signers.get(i, self.node_key(i)),
                    dialer=self.memory.dialer(), db=db, clock=self.clocks[i],
                    listener=MemoryListener(self.memory, address_of(i)),
                    on_fatal=lambda exc: self.failures.append(f"node{i}: {exc!r}"))
        await node.start()
        self.nodes[i] = node
        for pair in self._cuts:
            if i in pair:
                self._apply_cut(*pair)
        await self.settle()
        return node

    async def start_all(self, count: int | None = None) -> list[Node]:
        """Start the first `count` nodes (default: every validator and observer)."""
        count = self.licensed_nodes if count is None else count
        return [await self.start(i) for i in range(count)]

    async def stop(self, i: int) -> None:
        """Stop node i (what it synced stays in its data dir)."""
        node = self.nodes.pop(i)
        await node.stop()
        await self.settle()

    def wipe(self, i: int) -> None:
        """`lichen node resync` on stopped node i: its database goes, and it may vote again only
        once it has applied what its peers report committed."""
        assert i not in self.nodes, f"stop node{i} first"
        statuses = [n.node_status() for n in self.running()]
        wipe_for_resync(str(self.root / f"node{i}"), self.genesis, self.id_of(i),
                        max(s.term for s in statuses), max(s.commit_index for s in statuses))

    def set_clock_ahead(self, i: int, ms: int) -> None:
        """Node i's wall clock (block timestamps) runs `ms` ahead of everyone else's from now."""
        self.clocks[i].ahead_ms = ms

    # -- faults -------------------------------------------------------------------------------------
    def cut(self, a: int, b: int) -> None:
        """Frames between nodes a and b vanish, both ways, until heal()."""
        self._cuts.add(frozenset((a, b)))
        self._apply_cut(a, b)

    def isolate(self, i: int) -> None:
        """Cut node i from every other node."""
        for j in range(self.size):
            if j != i:
                self.cut(i, j)

    def heal(self) -> None:
        self._cuts.clear()
        for node in self.running():
            node.faults().heal()

    def _apply_cut(self, a: int, b: int) -> None:
        for x, y in ((a, b), (b, a)):
            if x in self.nodes:
                self.nodes[x].faults().partition([self.id_of(y)])

    # -- time ---------------------------------------------------------------------------------------
    async def settle(self) -> None:
        """Let the nodes react to what just happened (message hops, applies, replies)."""
        for _ in range(SPINS):
            await asyncio.sleep(0)
        await asyncio.sleep(0.001)  # the peer layer's own short timers (gossip flush)

    async def advance(self, ms: int) -> None:
        """Advance node time by `ms`, a step at a time, letting the nodes react after each."""
        while ms > 0:
            step = min(ms, STEP_MS)
            self.clock.advance(step)
            ms -= step
            await self.settle()
            for pump in self.pumps:
                pump()

    async def until(self, what: str, predicate: Callable[[], object], within_ms: int = 20_000):
        """Advance time until `predicate()` holds (returns its value); fail after `within_ms`
        of node time. Checked before the first step too."""
        loop = asyncio.get_running_loop()
        deadline = self.clock.now_ms + within_ms
        real_deadline = loop.time() + REAL_TIMEOUT_S
        while True:
            self._check_failures()
            value = predicate()
            if value:
                return value
            if self.clock.now_ms >= deadline or loop.time() > real_deadline:
                raise AssertionError(f"not within {within_ms} ms of node time: {what}\n{self.describe()}")
            await self.advance(STEP_MS)

    def _check_failures(self) -> None:
        assert not self.failures, f"a consensus loop halted: {self.failures}"

    # -- what the nodes say -------------------------------------------------------------------------
    def leader(self, among: Iterable[Node] | None = None) -> Node | None:
        """The one node (of `among`, default all running) that says it leads, else None."""
        leaders = [n for n in (self.running() if among is None else among)
                   if n.node_status().role == NodeRole.LEADER]
        return leaders[0] if len(leaders) == 1 else None

    async def elect(self, among: Iterable[Node] | None = None, within_ms: int = 20_000) -> Node:
        nodes = list(among) if among is not None else None
        return await self.until("one leader", lambda: self.leader(nodes), within_ms)

    def agreed(self, nodes: Iterable[Node] | None = None) -> bool:
        """Every node (default all running) at the same (height, block hash, state hash)."""
        tips = {(s.height, s.block_hash, s.state_hash)
                for s in (n.node_status() for n in (self.running() if nodes is None else nodes))}
        return len(tips) == 1

    async def until_agreed(self, nodes: Iterable[Node] | None = None, within_ms: int = 20_000) -> None:
        nodes = list(nodes) if nodes is not None else None
        await self.until("every node agrees", lambda: self.agreed(nodes), within_ms)

    def describe(self) -> str:
        lines = []
        for i, n in sorted(self.nodes.items()):
            s = n.node_status()
            lines.append(f"  node{i}: {s.role.value} term {s.term} leader {(s.leader_id or '-')[:8]} "
                         f"commit {s.commit_index} applied {s.applied_index} height {s.height} "
                         f"pool {s.mempool_size} peers {len(s.peers)} voters {len(s.voters)}")
        return "\n".join(lines) + (f"\n  cuts: {sorted(map(sorted, self._cuts))}" if self._cuts else "")

    # -- transactions -------------------------------------------------------------------------------
    def sign(self, sender: str, payload: Payload, nonce: int | None = None) -> Transaction:
        """A tx from `sender` (a key name); nonces count up per sender unless given."""
        if nonce is None:
            nonce = self._nonces.get(sender, 0)
        self._nonces[sender] = max(self._nonces.get(sender, 0), nonce + 1)
        return sign_tx(self.keys[sender], self.chain_id, nonce, payload)

    def transfer(self, sender: str = "alice", to: str = "bob", amount: int = 1,
                 asset: str = "USD", nonce: int | None = None) -> Transaction:
        return self.sign(sender, Transfer(asset, self.keys[to].address, amount, ""), nonce)

    def submit(self, node: Node, *txs: Transaction) -> None:
        """Submit as a client would (POST /v1/txs); each must be admitted."""
        results = node.submit_many([t.raw for t in txs])
        refused = [r for r in results if not isinstance(r, Transaction)]
        assert not refused, f"refused: {refused}"

    async def until_committed(self, *txs: Transaction, nodes: Iterable[Node] | None = None,
                              within_ms: int = 20_000) -> dict[bytes, int]:
        """Wait until each tx is committed on every node (default all running); tx hash ->
        height, the same on every node."""
        nodes = list(self.running() if nodes is None else nodes)

        def all_committed() -> bool:
            return all(n.tx_status(t.hash).status == TxState.COMMITTED for n in nodes for t in txs)
        await self.until(f"{len(txs)} tx committed on {len(nodes)} nodes", all_committed, within_ms)
        heights = {t.hash: {n.tx_status(t.hash).receipt.height for n in nodes} for t in txs}
        assert all(len(h) == 1 for h in heights.values()), f"committed at different heights: {heights}"
        return {h: hs.pop() for h, hs in heights.items()}

    async def wait_for(self, node: Node, tx: Transaction, seconds: float) -> TxStatus:
        """A client's long-poll (GET /v1/txs/{hash}?wait=seconds) while node time passes."""
        waiting = asyncio.ensure_future(node.wait_for(tx.hash, seconds))
        await self.until("the long-poll ends", waiting.done, int(seconds * 1000) + STEP_MS)
        return waiting.result()

    async def close(self) -> None:
        for i in sorted(self.nodes):
            try:
                await self.nodes[i].stop()
            except Exception:
                pass
        self.nodes.clear()
        await self.memory.close()


def metric(node: Node, name: str, **labels: str) -> float:
    """One sample of the node's /metrics text (0 if absent)."""
    series = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    m = re.search(rf"^{re.escape(series)} (\S+)$", node.metrics_text().decode(), re.MULTILINE)
    return float(m.group(1)) if m else 0.0


class Workload:
    """Transfers of 1 USD from alice to bob, one at a time, to the target nodes in turn,
    driven by the network's steps; keeps each commit a node acknowledged (hash -> height).
    A tx still pending after `patience_ms` is given up on (its node may be cut off)."""

    def __init__(self, net: TestNetwork, targets: list[int] | None = None, patience_ms: int = 2000):
        self.net = net
        self.targets = targets if targets is not None else sorted(net.nodes)
        self.patience_ms = patience_ms
        self.acked: dict[bytes, int] = {}
        self._turn = 0
        self._inflight: tuple[Node, Transaction, int] | None = None

    def __enter__(self) -> Workload:
        self.net.pumps.append(self.step)
        return self

    def __exit__(self, *exc) -> None:
        self.net.pumps.remove(self.step)

    def committed_count(self) -> int:
        return len(self.acked)

    def step(self) -> None:
        if self._inflight is not None and not self._settled():
            return
        live = [i for i in self.targets if i in self.net.nodes]
        if not live:
            return
        node = self.net.nodes[live[self._turn % len(live)]]
        self._turn += 1
        nonce = node.account_view(self.net.keys["alice"].address).next_nonce
        tx = self.net.transfer(nonce=nonce)
        if isinstance(node.submit_many([tx.raw])[0], Transaction):
            self._inflight = (node, tx, self.net.clock.now_ms + self.patience_ms)

    def _settled(self) -> bool:
        node, tx, give_up_at = self._inflight
        if node not in self.net.nodes.values():
            self._inflight = None  # its node stopped
            return True
        status = node.tx_status(tx.hash)
        if status.status == TxState.COMMITTED:
            self.acked[tx.hash] = status.receipt.height
        if status.final or self.net.clock.now_ms >= give_up_at:
            self._inflight = None
            return True
        return False

    def assert_acked_everywhere(self, nodes: Iterable[Node] | None = None) -> None:
        """Each acknowledged commit is on every node, at the height it was acknowledged at."""
        for node in (self.net.running() if nodes is None else nodes):
            for tx_hash, height in self.acked.items():
                status = node.tx_status(tx_hash)
                assert status.status == TxState.COMMITTED and status.receipt.height == height, \
                    (node.config.name, tx_hash.hex(), status)
