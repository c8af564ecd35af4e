"""The report of a chaos run: what was planned and injected, what the clients saw, and which
invariants held. `to_json()` is the shape `lichen devnet chaos --json` prints."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from ..html_report import Band, Verdict, render
from ..timeline import Timeline
from .events import Crash, InjectedFault
from .invariants import Check
from .schedule import Fault, describe
from .workload import Op, Reads


@dataclass
class OpCounts:
    ok: int
    failed: int
    unknown: int
    failed_by_code: dict[str, int]
    unknown_by_reason: dict[str, int]
    ok_by_kind: dict[str, int]  # transfer, fx_offer, fx_accept, escrow_create, ...

    @classmethod
    def of(cls, ops: list[Op]) -> OpCounts:
        outcomes = Counter(op.outcome for op in ops)
        return cls(outcomes["ok"], outcomes["failed"], outcomes["unknown"],
                   dict(Counter(op.why for op in ops if op.outcome == "failed")),
                   dict(Counter(op.why for op in ops if op.outcome == "unknown")),
                   dict(sorted(Counter(op.kind for op in ops if op.outcome == "ok").items())))


@dataclass
class ReadCounts:
    checked: int
    discarded: int  # the height moved during the read: not a snapshot
    unreachable: int

    @classmethod
    def of(cls, reads: Reads) -> ReadCounts:
        return cls(reads.checked, reads.discarded, reads.unreachable)


@dataclass
class Invariant:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    ok: bool  # every invariant held
    seed: int
    duration_s: float
    interval_s: float
    faults_requested: list[str]
    faults_on: str  # "network" (--hosts: packets dropped and delayed) or "fault-filter"
    nodes: list[str]
    clients: int
    accounts: int
    initial_totals: dict[str, int]  # asset -> total over the accounts after set-up
    schedule: list[Fault]
    faults: list[InjectedFault]
    crashes: list[Crash]
    ops: OpCounts
    reads: ReadCounts
    convergence_s: float | None  # seconds from healing until all nodes agreed
    invariants: list[Invariant]
    timeline: Timeline | None = None  # heights, throughput and latency over the run (--report)

    def to_json(self) -> dict:
        return {
            "ok": self.ok, "seed": self.seed, "duration_s": self.duration_s,
            "interval_s": self.interval_s, "faults_requested": self.faults_requested,
            "faults_on": self.faults_on,
            "nodes": self.nodes, "clients": self.clients, "accounts": self.accounts,
            "initial_totals": self.initial_totals,
            "schedule": [asdict(f) for f in self.schedule],
            "faults": [f.to_json() for f in self.faults],
            "crashes": [asdict(c) for c in self.crashes],
            "ops": asdict(self.ops),
            "reads": asdict(self.reads),
            "convergence_s": self.convergence_s,
            "invariants": [asdict(i) for i in self.invariants],
        }


def fault_bands(faults: list[InjectedFault]) -> list[Band]:
    """Each injected fault, from its injection until it was undone (or was due to be)."""
    return [Band(f.t, f.undone_at if f.undone_at is not None else f.t + f.duration, f.action,
                 describe(f.fault(), f.targets) + (f" — {'; '.join(f.errors)}" if f.errors else ""))
            for f in faults]


def to_html(r: Report) -> str:
    """The run as one self-contained page (`lichen devnet chaos --report FILE.html`)."""
    ops, reads = r.ops, r.reads
    conv = f"{r.convergence_s:.1f}s after healing" if r.convergence_s is not None else "none"
    facts = [
        ("seed", str(r.seed)), ("duration", f"{r.duration_s:.0f}s, a fault every {r.interval_s:.0f}s"),
        ("nodes", ", ".join(r.nodes)), ("faults requested", ", ".join(r.faults_requested)),
        ("clients / accounts", f"{r.clients} / {r.accounts}"),
        ("operations", f"{ops.ok} ok, {ops.failed} failed, {ops.unknown} unknown"),
        ("failed by code", ", ".join(f"{k} {v}" for k, v in sorted(ops.failed_by_code.items()))
         or "none"),
        ("unknown by reason", ", ".join(f"{k} {v}" for k, v in
                                        sorted(ops.unknown_by_reason.items())) or "none"),
        ("reads", f"{reads.checked} checked, {reads.discarded} discarded, "
                  f"{reads.unreachable} unanswered"),
        ("convergence", conv),
        ("crashes", ", ".join(f"{c.node} at {c.t:.1f}s" for c in r.crashes) or "none"),
    ]
    verdicts = [Verdict(i.name, i.ok, i.detail) for i in r.invariants]
    timeline = r.timeline or Timeline(r.nodes, r.duration_s)
    subtitle = (f"lichen devnet chaos · seed {r.seed} · {len(r.faults)} faults on "
                f"{len(r.nodes)} nodes · throughput and latency are the clients' acknowledged "
                f"transfers")
    return render("Chaos run: " + ("every invariant holds" if r.ok else "invariants violated"),
                  subtitle, r.ok, verdicts, facts, timeline, fault_bands(r.faults),
                  {"report": r.to_json()})


def invariants_of(checks: list[tuple[str, Check]]) -> list[Invariant]:
    return [Invariant(name, check.ok, check.detail) for name, check in checks]
