"""lichen devnet chaos: break a running devnet on a schedule under a bank workload, then check
the invariants (devnet.chaos says what each stage does and what is checked)."""
from __future__ import annotations

import asyncio
import random

import click
from rich.console import Console
from rich.table import Table

from devnet.chaos import (
    ALL_FAULT_KINDS,
    FAULT_KINDS,
    Event,
    Exited,
    Injected,
    Options,
    Report,
    Stage,
    Undone,
    describe,
    run_chaos,
)
from devnet.chaos.report import to_html
from devnet.network import Devnet

from .common import console, emit_json, err_console, json_option, write_report
from .devnet import dir_option


def teller(out: Console):
    """Prints each event of the run as a line on `out`."""
    def tell(event: Event) -> None:
        out.print(event_line(event), highlight=False)
    return tell


def event_line(event: Event) -> str:
    match event:
        case Stage(text):
            return text
        case Injected(f):
            errors = f"  [red]{'; '.join(f.errors)}[/]" if f.errors else ""
            return f"[yellow]⚡[/] {f.t:6.1f}s  {describe(f.fault(), f.targets)}{errors}"
        case Undone(f):
            return f"[green]↺[/] {f.undone_at:6.1f}s  undone: {f.action}"
        case Exited(c):
            return f"[red]✖[/] {c.t:6.1f}s  {c.node} (pid {c.pid}) exited on its own"
    raise TypeError(f"not a chaos event: {event!r}")


def print_report(r: Report) -> None:
    faults = Table("planned", "at", "fault", "for", "undone", "note", title="faults",
                   title_justify="left")
    for f in r.faults:
        notes = f.errors + ([f"serving again after {f.serving_after:.1f}s"]
                            if f.serving_after is not None else [])
        faults.add_row(f"{f.planned_t:.1f}s", f"{f.t:.1f}s", describe(f.fault(), f.targets),
                       f"{f.duration:.1f}s",
                       f"{f.undone_at:.1f}s" if f.undone_at is not None else "-",
                       "; ".join(notes))
    console.print(faults)
    console.print(f"[bold]faults on[/]: {r.faults_on}", highlight=False)
    ops = r.ops
    console.print(f"[bold]operations[/]: {ops.ok} ok, {ops.failed} failed, {ops.unknown} unknown"
                  f"   failed: {ops.failed_by_code or 'none'}"
                  f"   unknown: {ops.unknown_by_reason or 'none'}", highlight=False)
    console.print(f"  committed by kind: {ops.ok_by_kind or 'none'}", highlight=False)
    reads = r.reads
    console.print(f"[bold]reads[/]: {reads.checked} checked, {reads.discarded} discarded "
                  f"(height moved), {reads.unreachable} unanswered", highlight=False)
    conv = r.convergence_s
    after = f"{conv:.1f}s after healing" if conv is not None else "[red]none[/]"
    console.print(f"[bold]convergence[/]: {after}", highlight=False)
    inv = Table("invariant", "", "detail", title="invariants", title_justify="left")
    for i in r.invariants:
        inv.add_row(i.name, "[green]PASS[/]" if i.ok else "[red]FAIL[/]", i.detail)
    console.print(inv)
    verdict = "[green]✔ every invariant holds[/]" if r.ok else "[red]✖ invariants violated[/]"
    console.print(f"{verdict} (seed {r.seed}; the network is left running)")


def parse_faults(ctx, param, value: str) -> list[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in ALL_FAULT_KINDS]
    if unknown:
        raise click.BadParameter(f"unknown fault {unknown[0]!r}; "
                                 f"choose from {', '.join(ALL_FAULT_KINDS)}")
    return list(dict.fromkeys(kinds))


@click.command("chaos")
@click.option("--duration", default=60.0, show_default=True, type=click.FloatRange(1),
              help="Seconds of load and faults.")
@click.option("--seed", type=int, default=None,
              help="Seed of the fault schedule (default: random, printed).")
@click.option("--faults", default=",".join(FAULT_KINDS), show_default=True, callback=parse_faults,
              help="Comma-separated fault kinds to inject.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(1),
              help="Seconds between fault starts (each is undone before the next).")
@click.option("--clients", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--accounts", default=16, show_default=True, type=click.IntRange(2, 1000))
@click.option("--converge-timeout", default=60.0, show_default=True,
              help="Seconds to wait, after healing, for all nodes to agree.")
@click.option("--history", type=click.Path(dir_okay=False), default=None,
              help="Write every operation and its outcome to this file (JSON lines).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), default=None,
              help="Write the run as one self-contained HTML page: faults as bands, "
                   "throughput, latency and each node's height over time, the verdicts.")
@dir_option
@json_option
def chaos(duration, seed, faults, interval, clients, accounts, converge_timeout, history,
          report_file, dir_, as_json) -> None:
    """Inject faults into a running devnet under a transfer workload, then check the invariants.

    Faults: kill (kill -9, then start), pause (SIGSTOP, then SIGCONT), partition (one node, a
    minority, or the leader), lossy (drop a fraction of a node's frames), restart-all; on a
    devnet up with --hosts also delay (a node's one-way latency raised for a while). On such a
    devnet partitions, lossy links and delays are made in the network (packets dropped or held
    in the kernel), not by the nodes' fault filters; the report says which ("faults on"). The
    same seed gives the same schedule. Exits 1 when an invariant is violated."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
    o = Options(duration, seed, faults, interval, clients, accounts, converge_timeout, history)
    report = asyncio.run(run_chaos(Devnet(dir_), o, teller(err_console if as_json else console)))
    if as_json:
        emit_json(report.to_json())
    else:
        print_report(report)
    if report_file:
        write_report(report_file, to_html(report), err_console if as_json else console)
    if not report.ok:
        raise SystemExit(1)
