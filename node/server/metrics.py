"""Prometheus metrics, one registry per node (several nodes can share a process in tests)."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from p2p import Misbehaviour, P2PStats


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.committed = Counter("lichen_committed_txs", "Transactions committed successfully", registry=r)
        self.failed = Counter("lichen_failed_txs", "Transactions committed with a failed receipt",
                              ["reason"], registry=r)
        self.rejected = Counter("lichen_rejected_txs", "Submissions refused at admission",
                                ["reason"], registry=r)
        self.dropped = Counter("lichen_dropped_txs", "Pending transactions a block made invalid",
                               ["reason"], registry=r)
        self.blocks = Counter("lichen_blocks", "Blocks executed", registry=r)
        self.height = Gauge("lichen_block_height", "Height of the last executed block", registry=r)
        self.mempool = Gauge("lichen_mempool_size", "Transactions in the pool", registry=r)
        self.held = Gauge("lichen_mempool_held_txs",
                          "Of those, transactions held for a future nonce", registry=r)
        self.signatures = Gauge("lichen_signatures_verified", "Signatures verified since start", registry=r)
        self.term = Gauge("lichen_raft_term", "Current consensus term", registry=r)
        self.fetched = Counter("lichen_blocks_fetched", "Blocks fetched from peers to catch up", registry=r)
        self.fsyncs = Counter("lichen_raft_syncs", "Synced consensus log writes", registry=r)
        self.peer_requests_refused = Counter(
            "lichen_peer_requests_refused", "Peer requests not understood (unknown or malformed)",
            ["reason"], registry=r)
        self.raft_dropped = Counter(
            "lichen_raft_dropped_messages",
            "Raft messages refused for their sender: the core's (a learner or stranger trying to "
            "steer, a second leader for a term) and the daemon's (a block from the future, a "
            "catch-up source that is not a voter)", ["reason"], registry=r)
        self.stages = StageTimes()
        r.register(self.stages)

    def refusals(self) -> dict[str, dict[str, int]]:
        """What this node refused or failed since it started, per kind, by reason code (the
        counters above, read as they stand: for the dashboard)."""
        return {"admission": by_reason(self.rejected), "execution": by_reason(self.failed),
                "pool_dropped": by_reason(self.dropped), "raft": by_reason(self.raft_dropped),
                "peer_requests": by_reason(self.peer_requests_refused)}

    def track_peers(self, stats: Callable[[], P2PStats]) -> None:
        """Export the peer layer's own counts, read from `stats` at each scrape."""
        self.registry.register(PeerCollector(stats))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def by_reason(counter: Counter) -> dict[str, int]:
    """A counter labelled by `reason`, as {reason: count} (zero counts left out)."""
    out: dict[str, int] = {}
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.value:
                out[sample.labels["reason"]] = int(sample.value)
    return dict(sorted(out.items()))


class PeerCollector(Collector):
    """Counts the PeerManager keeps itself, as counters: read when scraped, so the peer layer
    needs no metrics hook on its paths. Labels are reason codes only (a bounded set)."""

    def __init__(self, stats: Callable[[], P2PStats]):
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        by_reason = self._stats().misbehaving_by_reason
        family = CounterMetricFamily(
            "lichen_peer_misbehaving_disconnected",
            "Peer links closed because the peer broke a cap; the peer is then refused for a while",
            labels=["reason"])
        for reason in Misbehaviour:
            family.add_metric([reason.value], by_reason.get(reason.value, 0))
        yield family


# The stages' clock: CPU seconds of the calling thread (the loop's), so a stage counts its own
# work and not the time it waited for a core; in a bench, three nodes and the load generator
# share two cores, and wall time made every stage look up to twice as long as it was.
# (~0.26 µs a call, against perf_counter's 0.05: two calls per signature checked.)
stage_clock = time.thread_time


class StageTimes(Collector):
    """Where a node's event loop spends its time, per stage of a transaction's way (`lichen
    bench --profile` reads these before and after its load and divides by the txs committed).

    Plain floats added on the loop, exported when scraped, so timing a stage costs two
    stage_clock calls. Stages nest (`admit` holds `verify`), so shares do not add up."""

    STAGES = {
        "http_submit": "POST /v1/txs on the loop after the body is read: admission, the reply",
        "gossip_in": "TXS frames from peers, handed to admission",
        "verify_ahead": "batches in the signature pool (wall time, off the loop; overlapping)",
        "decode": "decoding submitted and gossiped txs",
        "admit": "the pool's admission rules (mempool.add), with inline signature checks",
        "verify": "signature checks on the loop (inside admit and execute)",
        "raft_in": "Raft messages from peers, stepped into the core",
        "raft_persist": "writing (and syncing) Raft entries and hard state",
        "raft_send": "encoding and sealing Raft messages to peers",
        "produce": "cutting and proposing blocks (leader)",
        "execute": "executing committed blocks (rules and state hash)",
        "store": "writing executed blocks, receipts and state to LevelDB",
        "after_block": "pool, waiters, feed and votes after a block",
    }

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(self.STAGES, 0.0)
        self.calls: dict[str, int] = dict.fromkeys(self.STAGES, 0)
        self._kept_elsewhere: dict[str, Callable[[], tuple[float, int]]] = {}
        self._timers = {stage: _Timed(self, stage) for stage in self.STAGES}

    def kept_by(self, stage: str, read: Callable[[], tuple[float, int]]) -> None:
        """A stage timed by a part that keeps its own (seconds, calls), e.g. the SignatureCache."""
        self._kept_elsewhere[stage] = read

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds
        self.calls[stage] += 1

    def timed(self, stage: str) -> _Timed:
        """`with stages.timed(stage):` adds the block's time to the stage (a stage must not
        nest in itself)."""
        return self._timers[stage]

    def collect(self) -> Iterator[CounterMetricFamily]:
        secs = CounterMetricFamily("lichen_stage_seconds",
                                   "Seconds spent per stage of the tx path (StageTimes)",
                                   labels=["stage"])
        calls = CounterMetricFamily("lichen_stage_calls", "Times each stage ran", labels=["stage"])
        for stage in self.STAGES:
            read = self._kept_elsewhere.get(stage)
            seconds, count = read() if read else (self.seconds[stage], self.calls[stage])
            secs.add_metric([stage], seconds)
            calls.add_metric([stage], count)
        yield secs
        yield calls
        t = os.times()
        yield CounterMetricFamily("lichen_process_cpu_seconds",
                                  "CPU seconds of this process (user + system; its sig workers "
                                  "not included)", value=t.user + t.system)


class _Timed:
    """A stage's context manager, made once: cheaper on the hot path than a generator's."""

    __slots__ = ("_stages", "_stage", "_start")

    def __init__(self, stages: StageTimes, stage: str):
        self._stages = stages
        self._stage = stage
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = stage_clock()

    def __exit__(self, *exc: object) -> None:
        self._stages.add(self._stage, stage_clock() - self._start)
