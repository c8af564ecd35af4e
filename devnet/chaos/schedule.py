"""The fault schedule of a chaos run: a pure function of the seed, the run's length, the
interval between faults, the kinds asked for and the node names."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

FAULT_KINDS = ("kill", "pause", "partition", "lossy", "restart-all")  # the default set
# Only on a devnet on separate hosts (`devnet up --hosts`): a node's one-way delay raised for a
# while (a latency spike on its links), then put back.
NETWORK_FAULT_KINDS = ("delay",)
# Asked for by name only: a node restarted with its wall clock skewed (LICHEN_DEVNET_CLOCK_SKEW_MS,
# honoured in devnet mode only), later restarted on the machine's clock.
CLOCK_FAULT_KINDS = ("clock",)
ALL_FAULT_KINDS = FAULT_KINDS + NETWORK_FAULT_KINDS + CLOCK_FAULT_KINDS
CLOCK_SKEWS_MS = (-8000, -2000, 2000, 8000)  # beyond and within max_clock_skew_ms (5 s)
LEADER = "leader"  # a target resolved when the fault is injected
PARTITION_VARIANTS = ("one", "minority", "leader")


@dataclass(frozen=True)
class Fault:
    """One planned fault: at `t` seconds into the load, for `duration` seconds, then undone."""
    t: float
    action: str  # one of FAULT_KINDS
    targets: tuple[str, ...]  # node names, or LEADER
    duration: float
    variant: str = ""  # partition: one | minority | leader
    drop: float = 0.0  # lossy: the fraction of frames dropped
    latency_ms: float = 0.0  # delay: the node's one-way delay while it lasts
    skew_ms: int = 0  # clock: how far the node's wall clock is off while it lasts


def fault_schedule(seed: int, duration: float, interval: float, kinds: Sequence[str],
                   nodes: Sequence[str]) -> list[Fault]:
    """The faults of a run. One per interval, the first interval left fault-free as a baseline;
    each starts within the first fifth of its interval and ends before the next one starts.
    The kinds come round in shuffled rounds, so every requested kind is injected as soon as
    there are as many intervals as kinds."""
    rng = random.Random(seed)
    names = sorted(nodes)
    schedule: list[Fault] = []
    order: list[str] = []
    k = 1
    while kinds and (k + 0.9) * interval <= duration:
        if not order:
            order = sorted(kinds)
            rng.shuffle(order)
        action = order.pop()
        t = round(k * interval + rng.uniform(0, 0.2 * interval), 1)
        length = round(rng.uniform(0.4, 0.7) * interval, 1)
        schedule.append(plan_fault(rng, action, t, length, names))
        k += 1
    return schedule


def plan_fault(rng: random.Random, action: str, t: float, length: float, nodes: list[str]) -> Fault:
    if action == "restart-all":
        return Fault(t, action, tuple(nodes), length)
    if action == "partition":
        variant = rng.choice(PARTITION_VARIANTS)
        if variant == "one":
            targets: tuple[str, ...] = (rng.choice(nodes),)
        elif variant == "minority":
            targets = tuple(sorted(rng.sample(nodes, max(1, (len(nodes) - 1) // 2))))
        else:
            targets = (LEADER,)
        return Fault(t, action, targets, length, variant)
    target = rng.choice(nodes + [LEADER])  # kill, pause, lossy, delay: one node, or the leader
    if action == "delay":
        return Fault(t, action, (target,), length, latency_ms=float(rng.choice((200, 400, 800))))
    if action == "clock":
        return Fault(t, action, (target,), length, skew_ms=rng.choice(CLOCK_SKEWS_MS))
    drop = round(rng.uniform(0.2, 0.5), 2) if action == "lossy" else 0.0
    return Fault(t, action, (target,), length, drop=drop)


def describe(f: Fault, targets: Sequence[str] | None = None) -> str:
    """In words; with the targets it was injected on, when known."""
    if targets is None:
        who = ", ".join(f.targets)
    else:
        who = ", ".join(f"{t} (the leader)" if planned == LEADER else t
                        for planned, t in zip(f.targets, targets, strict=True))
    if f.action == "partition":
        return f"partition ({f.variant}): {who} cut off"
    if f.action == "lossy":
        return f"lossy: {who} drops {f.drop:.0%}"
    if f.action == "clock":
        return f"clock: {who} restarted with its clock {f.skew_ms:+d} ms off"
    if f.action == "delay":
        return f"delay: {who} sends with {f.latency_ms:g} ms one-way latency"
    if f.action == "restart-all":
        return "restart-all: kill -9 every node, then start them"
    return f"{f.action} {who}"
