"""Chaos on a running devnet: faults on a schedule under a bank workload, then a check that
nothing the ledger promised was broken (in the spirit of Jepsen's bank test).

    schedule    the faults of a run, a pure function of the seed
    faults      the injector that follows the schedule on processes and links
    workload    the accounts, the clients' transfers and the snapshot reads
    invariants  the checks, each a function of what was recorded and what the nodes hold
    events      what the run records and tells as it goes
    report      the typed report (`to_json()` is what --json prints)
    run         the stages: set up, load + perturb, heal, wait, check, report
"""
from __future__ import annotations

from .events import Crash, Event, Exited, Injected, InjectedFault, Stage, Undone
from .invariants import (
    Check,
    NodeChain,
    check_acknowledged_outcomes_hold,
    check_rejections_stay_out,
)
from .report import Report
from .run import Options, run_chaos
from .schedule import ALL_FAULT_KINDS, FAULT_KINDS, LEADER, Fault, describe, fault_schedule
from .workload import Op

__all__ = ["ALL_FAULT_KINDS", "FAULT_KINDS", "LEADER", "Check", "Crash", "Event", "Exited", "Fault", "Injected",
           "InjectedFault", "NodeChain", "Op", "Options", "Report", "Stage", "Undone",
           "check_acknowledged_outcomes_hold", "check_rejections_stay_out", "describe",
           "fault_schedule", "run_chaos"]
