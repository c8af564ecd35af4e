"""`lichen bench --profile`: where each node's time went, per committed transaction.

Every node keeps cheap per-stage time counters on its event loop (node.server.metrics.
StageTimes, on /metrics as lichen_stage_seconds and lichen_stage_calls) and its process CPU
(lichen_process_cpu_seconds). The bench reads them on every node before and after its load and
divides the difference by the transactions committed meanwhile: microseconds per tx, per stage,
per node. Stages are the loop thread's CPU time (node.server.metrics.stage_clock), so they
compare with the process CPU and do not grow when the node waits for a core. Stages nest
(admit holds verify; gossip_in and http_submit hold decode and admit), so a node's stages do
not add up to its CPU; `verify_ahead` is wall time in the signature pool's worker processes
(off the loop, batches overlapping), not loop time.
"""
from __future__ import annotations

from dataclasses import dataclass

import aiohttp

STAGE_SECONDS = "lichen_stage_seconds_total"
PROCESS_CPU = "lichen_process_cpu_seconds_total"


@dataclass(frozen=True)
class Sample:
    """One node's counters at one moment."""
    cpu_s: float
    stage_s: dict[str, float]


@dataclass(frozen=True)
class NodeProfile:
    name: str
    role: str
    cpu_us_per_tx: float  # the node process's CPU (its event loop and threads), per tx
    stage_us_per_tx: dict[str, float]  # stage -> microseconds per committed tx

    def to_json(self) -> dict:
        return {"name": self.name, "role": self.role, "cpu_us_per_tx": self.cpu_us_per_tx,
                "stage_us_per_tx": self.stage_us_per_tx}


def parse_sample(metrics_text: str) -> Sample:
    """The stage and CPU counters out of a node's /metrics text."""
    stages: dict[str, float] = {}
    cpu = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(STAGE_SECONDS + "{"):
            stage = line.split('stage="', 1)[1].split('"', 1)[0]
            stages[stage] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(PROCESS_CPU + " "):
            cpu = float(line.rsplit(" ", 1)[1])
    return Sample(cpu, stages)


def profile_of(name: str, role: str, before: Sample, after: Sample, txs: int) -> NodeProfile:
    """Per-tx microseconds between two samples of one node."""
    per = 1e6 / max(txs, 1)
    stages = {s: round((after.stage_s[s] - before.stage_s.get(s, 0.0)) * per, 1)
              for s in after.stage_s}
    return NodeProfile(name, role, round((after.cpu_s - before.cpu_s) * per, 1), stages)


async def sample(session: aiohttp.ClientSession, url: str) -> Sample:
    async with session.get(f"{url}/metrics") as r:
        return parse_sample(await r.text())


def render_table(profiles: list[NodeProfile]) -> list[str]:
    """Lines of text: a column per node, a row per stage (µs per committed tx)."""
    if not profiles:
        return []
    stages = list(profiles[0].stage_us_per_tx)
    width = max(len(s) for s in stages + ["process CPU"])
    head = "".join(f"{p.name + ' ' + p.role:>22}" for p in profiles)
    lines = [f"{'µs per committed tx':<{width}}{head}",
             f"{'process CPU':<{width}}" + "".join(f"{p.cpu_us_per_tx:>22,.1f}" for p in profiles)]
    for s in stages:
        lines.append(f"{s:<{width}}" + "".join(f"{p.stage_us_per_tx.get(s, 0.0):>22,.1f}"
                                               for p in profiles))
    return lines
