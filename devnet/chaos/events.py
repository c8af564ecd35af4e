"""What a chaos run records as it goes, and tells its caller: faults as injected, daemons that
exited on their own, and the stages."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .schedule import Fault


@dataclass
class InjectedFault:
    """A planned fault as it was injected (times in seconds since the load began)."""
    t: float  # when it was injected
    planned_t: float
    action: str
    variant: str
    planned_targets: list[str]  # node names, or LEADER
    targets: list[str]  # the node names it was injected on
    duration: float
    drop: float
    undone_at: float | None = None
    errors: list[str] = field(default_factory=list)  # what did not go as planned
    leader: str | None = None  # the leader it resolved to, when it targeted the leader
    serving_after: float | None = None  # kill, restart-all: seconds until serving again
    latency_ms: float = 0.0  # delay: the one-way delay while it lasted
    skew_ms: int = 0  # clock: how far the node's clock was off

    @classmethod
    def planned(cls, f: Fault, t: float) -> InjectedFault:
        return cls(t, f.t, f.action, f.variant, list(f.targets), [], f.duration, f.drop,
                   latency_ms=f.latency_ms, skew_ms=f.skew_ms)

    def fault(self) -> Fault:
        return Fault(self.planned_t, self.action, tuple(self.planned_targets), self.duration,
                     self.variant, self.drop, self.latency_ms, self.skew_ms)

    def restarts(self) -> bool:
        return self.action in ("kill", "restart-all", "clock")

    def to_json(self) -> dict:
        doc = {"t": self.t, "planned_t": self.planned_t, "action": self.action,
               "variant": self.variant, "planned_targets": self.planned_targets,
               "targets": self.targets, "duration": self.duration, "drop": self.drop,
               "undone_at": self.undone_at, "errors": self.errors}
        if self.leader is not None:
            doc["leader"] = self.leader
        if self.action == "delay":
            doc["latency_ms"] = self.latency_ms
        if self.action == "clock":
            doc["skew_ms"] = self.skew_ms
        if self.restarts() and self.undone_at is not None:
            doc["serving_after"] = self.serving_after
        return doc


@dataclass
class Crash:
    """A daemon that exited without the injector killing it: a finding."""
    t: float
    node: str
    pid: int | None
    log_tail: str


@dataclass(frozen=True)
class Stage:
    text: str


@dataclass(frozen=True)
class Injected:
    fault: InjectedFault


@dataclass(frozen=True)
class Undone:
    fault: InjectedFault


@dataclass(frozen=True)
class Exited:
    crash: Crash


Event = Stage | Injected | Undone | Exited
Tell = Callable[[Event], object]
