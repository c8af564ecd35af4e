"""The report of a chaos run: what was planned and injected, what the clients saw, and which
invariants held. `to_json()` is the shape `lichen devnet chaos --json` prints."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from .events import Crash, InjectedFault
from .invariants import Check
from .schedule import Fault
from .workload import Op, Reads


@dataclass
class OpCounts:
    ok: int
    failed: int
    unknown: int
    failed_by_code: dict[str, int]
    unknown_by_reason: dict[str, int]

    @classmethod
    def of(cls, ops: list[Op]) -> OpCounts:
        outcomes = Counter(op.outcome for op in ops)
        return cls(outcomes["ok"], outcomes["failed"], outcomes["unknown"],
                   dict(Counter(op.why for op in ops if op.outcome == "failed")),
                   dict(Counter(op.why for op in ops if op.outcome == "unknown")))


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


def invariants_of(checks: list[tuple[str, Check]]) -> list[Invariant]:
    return [Invariant(name, check.ok, check.detail) for name, check in checks]
