"""The live event feed the dashboard streams (GET /v1/events): committed blocks as they execute,
and what the node already knows, kept small and bounded.

The consensus loop only *publishes*: `block_committed` appends a short summary (a few fields
and the outcome counts of the receipts it already has) and hands the same event object to each
subscriber's bounded queue, dropping that subscriber's oldest event when it is full. Nothing
here blocks, awaits, reads the store or encodes JSON on the loop's behalf: each event is encoded
once, lazily, by the first stream that writes it. With no subscriber a block costs one summary
for the history and the per-second bucket.

Latency (submit to commit) is measured on this node: up to SAMPLES_PER_S admitted transactions
a second are remembered with the time this node first saw them (from a client or by gossip),
and their commit closes the sample. Past that budget an admission costs one comparison.
"""
from __future__ import annotations

import asyncio
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from node.ledger.types import Receipt

HISTORY_S = 600  # per-second buckets kept for the charts (ten minutes)
RECENT_BLOCKS = 30  # block summaries a new page gets at once
BLOCK_TXS_SHOWN = 20  # transactions listed in a block event (the count is always whole)
SAMPLES_PER_S = 20  # latency samples taken per second of committed blocks at most
MAX_SAMPLES = 512  # latency samples waiting for their commit; the oldest are forgotten beyond
FAULT_MARKS = 100  # fault changes remembered for the charts' marks


class Event:
    """One server-sent event: its name and JSON body, encoded once on first use."""
    __slots__ = ("name", "body", "_wire")

    def __init__(self, name: str, body: dict):
        self.name = name
        self.body = body
        self._wire: bytes | None = None

    def wire(self) -> bytes:
        if self._wire is None:
            data = json.dumps(self.body, separators=(",", ":"))
            self._wire = f"event: {self.name}\ndata: {data}\n\n".encode()
        return self._wire


class Subscription:
    """One stream's bounded queue: the oldest event goes when a new one does not fit."""

    def __init__(self, capacity: int):
        self.queue: deque[Event] = deque(maxlen=capacity)
        self.dropped = 0  # events this stream lost to a full queue
        self.closed = False
        self._ready = asyncio.Event()

    def push(self, event: Event) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append(event)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next_batch(self) -> list[Event]:
        """Everything queued, once there is something (or [] once closed)."""
        while not self.queue and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        batch = list(self.queue)
        self.queue.clear()
        return batch


@dataclass
class Second:
    """What committed in one second of this node's wall clock."""
    t: int  # unix seconds
    blocks: int = 0
    ok: int = 0
    failed: int = 0
    latency_ms: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        lat = sorted(self.latency_ms)
        return {"t": self.t, "blocks": self.blocks, "ok": self.ok, "failed": self.failed,
                "latency_p50_ms": lat[len(lat) // 2] if lat else None,
                "latency_max_ms": lat[-1] if lat else None, "latency_samples": len(lat)}


def block_summary(height: int, block_hash: bytes, state_hash: bytes, timestamp: int,
                  receipts: list[Receipt], committed_ms: int) -> dict:
    """A committed block as the dashboard shows it: outcome counts by reason code, and the
    first BLOCK_TXS_SHOWN transactions with theirs."""
    failed = Counter(r.code for r in receipts if r.code)
    return {"height": height, "hash": block_hash.hex(), "state_hash": state_hash.hex(),
            "timestamp": timestamp, "committed_ms": committed_ms, "tx_count": len(receipts),
            "ok": len(receipts) - sum(failed.values()), "failed": dict(sorted(failed.items())),
            "txs": [{"hash": r.tx_hash.hex(), "code": r.code or None}
                    for r in receipts[:BLOCK_TXS_SHOWN]]}


class EventFeed:
    """Fan-out of block and status events to at most `max_streams` subscribers."""

    def __init__(self, wall_s: Callable[[], float], max_streams: int, queue_len: int):
        self.wall_s = wall_s
        self.max_streams = max_streams
        self.queue_len = queue_len
        self._subs: list[Subscription] = []
        self._seconds: deque[Second] = deque(maxlen=HISTORY_S)
        self._recent: deque[dict] = deque(maxlen=RECENT_BLOCKS)
        self._samples: dict[bytes, float] = {}  # tx hash -> when this node first saw it
        self._sample_budget = SAMPLES_PER_S  # refilled when a block starts a new second
        self.fault_marks: deque[dict] = deque(maxlen=FAULT_MARKS)

    # -- subscribers ---------------------------------------------------------------------------
    @property
    def watched(self) -> bool:
        return bool(self._subs)

    @property
    def streams(self) -> int:
        return len(self._subs)

    def subscribe(self) -> Subscription | None:
        """A new stream's queue, or None when `max_streams` are open already."""
        if len(self._subs) >= self.max_streams:
            return None
        sub = Subscription(self.queue_len)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def close_all(self) -> None:
        for sub in self._subs:
            sub.close()
        self._subs.clear()

    def publish(self, name: str, body: dict) -> None:
        if not self._subs:
            return
        event = Event(name, body)
        for sub in self._subs:
            sub.push(event)

    # -- what the loop reports -----------------------------------------------------------------
    def seen(self, tx_hash: bytes) -> None:
        """A transaction this node admitted: remember when, for a few a second."""
        if self._sample_budget <= 0 or tx_hash in self._samples:
            return
        self._sample_budget -= 1
        self._samples[tx_hash] = self.wall_s()
        if len(self._samples) > MAX_SAMPLES:
            del self._samples[next(iter(self._samples))]

    def block_committed(self, height: int, block_hash: bytes, state_hash: bytes, timestamp: int,
                        receipts: list[Receipt]) -> None:
        now = self.wall_s()
        summary = block_summary(height, block_hash, state_hash, timestamp, receipts,
                                int(now * 1000))
        self._recent.append(summary)
        bucket = self._bucket(int(now))
        bucket.blocks += 1
        bucket.ok += summary["ok"]
        bucket.failed += len(receipts) - summary["ok"]
        latencies = self._close_samples(receipts, now)
        bucket.latency_ms.extend(latencies)
        if self._subs:
            self.publish("block", {**summary, "latency_ms": latencies})

    def _close_samples(self, receipts: Iterable[Receipt], now: float) -> list[int]:
        if not self._samples:
            return []
        out = []
        for r in receipts:
            seen = self._samples.pop(r.tx_hash, None)
            if seen is not None:
                out.append(max(0, round((now - seen) * 1000)))
        return out

    def _bucket(self, second: int) -> Second:
        if not self._seconds or self._seconds[-1].t < second:
            self._seconds.append(Second(second))
            self._sample_budget = SAMPLES_PER_S
        return self._seconds[-1]

    def note_faults(self, node: str, faults: dict | None) -> None:
        """A node's fault state as last seen changed (the dashboard marks it on the charts)."""
        self.fault_marks.append({"t_ms": int(self.wall_s() * 1000), "node": node,
                                 "faults": faults})

    # -- what a new stream starts with ---------------------------------------------------------
    def history(self) -> dict:
        return {"seconds": [s.to_json() for s in self._seconds],
                "blocks": list(self._recent), "fault_marks": list(self.fault_marks)}
