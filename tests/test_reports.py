"""The HTML run reports (devnet.html_report) and the bounded time series behind them
(devnet.timeline), on made-up runs; the real runs are in tests/test_chaos.py (chaos) and
tests/test_process.py (bench)."""
from __future__ import annotations

from devnet.html_report import Band, Verdict, render
from devnet.timeline import RESERVOIR, Timeline

from .htmlreport import read_report


def test_samples_are_thinned_to_the_bound_and_keep_the_whole_run():
    tl = Timeline(["node0"], duration_s=60, max_points=100)
    for i in range(10_000):
        tl.sample("node0", i * 0.5, i, "leader")
    samples = tl.heights["node0"]
    assert len(samples) <= 100
    assert samples[0].t == 0 and samples[-1].t >= 4_000  # the start and the end both kept
    assert tl.sample_every > 0.5  # the sampler slowed down to match


def test_commit_bins_are_bounded_and_each_keeps_a_bounded_sample_of_latencies():
    tl = Timeline(["node0"], duration_s=10, max_bins=20)
    for i in range(50_000):
        tl.commit((i % 100) * 0.5, float(i % 1000))  # 50 s of commits into 1 s bins
    assert len(tl.bins) <= 20
    assert all(len(b.latencies_ms) <= RESERVOIR for b in tl.bins.values())
    first = tl.throughput()[0]
    assert first == (0.0, 1000.0)  # 2 half-seconds x 500 commits each, in a 1 s bin
    p50 = dict(tl.latency(50))[0.0]
    assert 300 <= p50 <= 700  # the reservoir is a fair sample of 0..999


def page_of(bands: list[Band], ok: bool = False) -> str:
    tl = Timeline(["node0", "node1"], duration_s=10)
    for i in range(20):
        t = i * 0.5
        tl.sample("node0", t, i, "leader")
        down = 3 <= t < 6
        tl.sample("node1", t, None if down else i, None if down else "follower")
        tl.commit(t, 10.0 + i)
    return render("A run", "made up", ok, [Verdict("totals", True, "fine"),
                                           Verdict("converged", False, "node1 at 3")],
                  [("seed", "1")], tl, bands)


def test_a_page_has_the_verdicts_a_band_per_fault_on_every_chart_and_the_series():
    bands = [Band(1.0, 2.0, "kill", "kill node1"), Band(5.0, 7.5, "partition", "cut node0")]
    page = read_report(page_of(bands))
    assert "FAIL" in page.verdict and page.verdicts == {"totals": True, "converged": False}
    charts = {"chart-throughput", "chart-latency", "chart-heights", "chart-roles"}
    assert set(page.bands) == charts
    assert all(page.bands[c] == {"0", "1"} for c in charts)
    assert page.series["throughput"] >= 10 and page.series["latency-p99"] >= 10
    assert page.series["height-node0"] == 20
    assert page.series["height-node1"] == 14  # the 6 samples it did not answer are a gap
    assert ("node1", "down") in page.roles and ("node0", "leader") in page.roles
    assert [f["kind"] for f in page.data["faults"]] == ["kill", "partition"]
    assert not page.external


def test_text_from_a_run_is_escaped():
    page = page_of([Band(1, 2, "kill", "<script>alert(1)</script>")])
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert not read_report(page).external
