"""lichen bench: committed tx/s and submit-to-commit latency on a running devnet (devnet.bench)."""
from __future__ import annotations

import asyncio

import click
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from devnet import bench as engine
from devnet.network import Devnet
from devnet.profile import render_table

from .common import console, emit_json, err_console, json_option, write_report
from .devnet import dir_option


class ProgressBar(engine.Observer):
    """Stages as lines, the load as a transient bar with the committed rate."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task = TaskID(0)

    def say(self, text: str) -> None:
        console.print(text)

    def load_started(self, duration: float) -> None:
        self.bar = Progress(TextColumn("[bold]load[/]"), BarColumn(),
                            TextColumn("{task.fields[info]}"),
                            TimeRemainingColumn(), console=console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("load", total=duration, info="")

    def load_tick(self, elapsed: float, committed_per_s: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=elapsed,
                            info=f"{committed_per_s:,.0f} tx/s committed")

    def load_done(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def print_report(r: engine.Report) -> None:
    lat = r.latency_ms
    console.print(f"[bold]{r.committed_per_s:,.0f} committed tx/s[/] over {r.duration_s:.0f}s on "
                  f"{r.nodes} node(s), {r.accounts} accounts, offered {r.offered_rate} tx/s")
    console.print(f"latency submit→commit: p50 {lat.p50} ms · p95 {lat.p95} ms · "
                  f"p99 {lat.p99} ms · max {lat.max} ms")
    console.print(f"submitted {r.submitted:,}, committed {r.committed:,}; "
                  f"rejected {r.rejected or 'none'}; "
                  f"failed receipts {r.failed_receipts_on_node0_since_start or 'none'}")
    if len(r.by_window) > 1:
        console.print(f"committed tx/s by {engine.WINDOW_S:.0f} s of load: "
                      + " · ".join(f"{rate:,.0f}" for rate in r.by_window), highlight=False)
    if r.profile:
        console.print("\n[bold]profile[/]: each node's event loop, CPU µs per committed tx "
                      "(stages nest; verify_ahead is wall time in the signature workers)",
                      highlight=False)
        for line in render_table(r.profile):
            console.print(line, highlight=False, markup=False)


@click.command("bench")
@click.option("--accounts", default=200, show_default=True, type=click.IntRange(2, 100_000))
@click.option("--duration", default=20.0, show_default=True, help="Seconds of load.")
@click.option("--rate", default=0.0, show_default=True,
              help="Offered tx/s in total; 0 = as fast as the network commits.")
@click.option("--batch", default=0, help="Transactions per POST; 0 = 20 with --rate (a steady "
              "stream), 100 flat out.")
@click.option("--window", default=6000, show_default=True,
              help="With --rate 0: most txs submitted but not yet committed.")
@click.option("--streams", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Concurrent POST streams per node (a stream waits for each answer; across "
                   "a WAN one stream per node caps the load at a batch per round trip).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), default=None,
              help="Write the run as one self-contained HTML page: throughput, latency and "
                   "each node's height over time, and the DESIGN targets met or missed.")
@click.option("--profile", is_flag=True,
              help="Also print where each node's time went, per stage, in µs per committed tx "
                   "(decode, verify, admission, Raft, execution, store, ...), read from the "
                   "nodes' /metrics stage counters before and after the load.")
@dir_option
@json_option
def bench(accounts, duration, rate, batch, window, streams, report_file, profile, dir_,
          as_json) -> None:
    """Measure committed tx/s and submit-to-commit latency on a running devnet."""
    options = engine.Options(accounts, duration, rate, batch or (20 if rate else 100), window,
                             streams, profile)
    observer = engine.Observer() if as_json else ProgressBar()
    report = asyncio.run(engine.run_bench(Devnet(dir_), options, observer))
    if as_json:
        emit_json(report.to_json())
    else:
        print_report(report)
    if report_file:
        write_report(report_file, engine.to_html(report), err_console if as_json else console)
