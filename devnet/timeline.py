"""The time series of a run (`lichen bench`, `lichen devnet chaos`), for its HTML report: each
node's height and role, sampled; commits per time bin with their latencies. Bounded whatever
the run's length: samples are thinned (every other one dropped, the interval doubled) past
`max_points` per node, bins widen to stay under `max_bins`, and each bin keeps a bounded
reservoir of latencies for its percentiles.

Times are seconds since the run's t0 (its load began), as the run's own records are.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

SAMPLE_EVERY_S = 0.5
MAX_POINTS = 600  # height samples kept per node
MAX_BINS = 600  # throughput/latency bins
RESERVOIR = 256  # latencies kept per bin


@dataclass
class HeightSample:
    t: float
    height: int | None  # None: the node did not answer
    role: str | None


@dataclass
class Bin:
    commits: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # a uniform sample of them
    seen: int = 0  # latencies offered to the reservoir


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


class Timeline:
    def __init__(self, nodes: list[str], duration_s: float, max_points: int = MAX_POINTS,
                 max_bins: int = MAX_BINS, seed: int = 0):
        self.nodes = list(nodes)
        self.heights: dict[str, list[HeightSample]] = {n: [] for n in nodes}
        self.max_points = max_points
        self.sample_every = SAMPLE_EVERY_S
        # bins of at least 1 s, wide enough that the expected run fits in max_bins
        self.bin_s = max(1.0, float(int(duration_s * 1.5 / max_bins) + 1))
        self.max_bins = max_bins
        self.bins: dict[int, Bin] = {}
        self._rng = random.Random(seed)

    # -- recording --
    def sample(self, node: str, t: float, height: int | None, role: str | None) -> None:
        samples = self.heights[node]
        samples.append(HeightSample(round(t, 2), height, role))
        if len(samples) > self.max_points:
            del samples[1::2]  # thin out; the sampler slows down to match
            self.sample_every = min(self.sample_every * 2, 60.0)

    def commit(self, t: float, latency_ms: float) -> None:
        """One transaction committed at `t`, `latency_ms` after its submission."""
        k = int(t // self.bin_s)
        b = self.bins.get(k)
        if b is None:
            if len(self.bins) >= self.max_bins:
                return  # past the bound: the run outlasted what it was sized for
            b = self.bins[k] = Bin()
        b.commits += 1
        b.seen += 1
        if len(b.latencies_ms) < RESERVOIR:
            b.latencies_ms.append(latency_ms)
        else:  # reservoir sampling: every latency of the bin equally likely kept
            j = self._rng.randrange(b.seen)
            if j < RESERVOIR:
                b.latencies_ms[j] = latency_ms

    # -- reading --
    def throughput(self) -> list[tuple[float, float]]:
        """(bin start, committed tx/s), every bin from the first to the last, empty ones as 0."""
        if not self.bins:
            return []
        return [(k * self.bin_s, self.bins[k].commits / self.bin_s if k in self.bins else 0.0)
                for k in range(min(self.bins), max(self.bins) + 1)]

    def latency(self, p: float) -> list[tuple[float, float]]:
        """(bin start, the p-th percentile latency in ms) for the bins with commits."""
        out = []
        for k in sorted(self.bins):
            v = percentile(self.bins[k].latencies_ms, p)
            if v is not None:
                out.append((k * self.bin_s, round(v, 1)))
        return out

    def to_json(self) -> dict:
        return {
            "bin_s": self.bin_s,
            "throughput": self.throughput(),
            "latency_p50_ms": self.latency(50), "latency_p99_ms": self.latency(99),
            "heights": {n: [[s.t, s.height, s.role] for s in samples]
                        for n, samples in self.heights.items()},
        }


async def sample_heights(session: aiohttp.ClientSession, urls: dict[str, str],
                         timeline: Timeline, now: Callable[[], float], stop: asyncio.Event,
                         timeout: float = 1.0) -> None:
    """Every node's /v1/status, every `timeline.sample_every` seconds, until `stop` is set."""
    async def one(name: str, url: str) -> None:
        t = now()
        try:
            async with session.get(f"{url}/v1/status",
                                   timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                doc = await r.json(content_type=None)
            timeline.sample(name, t, int(doc["height"]), str(doc["role"]))
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError):
            timeline.sample(name, t, None, None)

    while not stop.is_set():
        started = time.monotonic()
        await asyncio.gather(*(one(n, u) for n, u in urls.items()))
        try:
            await asyncio.wait_for(stop.wait(),
                                   max(0.0, timeline.sample_every - (time.monotonic() - started)))
        except TimeoutError:
            pass
