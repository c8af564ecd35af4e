"""`lichen bench --profile`'s arithmetic: a node's stage counters as /metrics exports them, read
back and turned into microseconds per committed tx (devnet.profile over node.server.metrics)."""
from __future__ import annotations

from devnet.profile import parse_sample, profile_of, render_table
from node.server.metrics import Metrics


def test_stage_counters_read_back_from_metrics_and_divide_by_committed_txs():
    metrics = Metrics()
    before = parse_sample(metrics.render().decode())
    assert set(before.stage_s) == set(metrics.stages.STAGES)
    metrics.stages.add("admit", 0.25)
    with metrics.stages.timed("execute"):
        pass
    metrics.stages.add("execute", 0.5)
    inline = [0.0]
    metrics.stages.kept_by("verify", lambda: (inline[0], 7))
    inline[0] = 1.5
    after = parse_sample(metrics.render().decode())
    assert after.stage_s["admit"] == 0.25 and after.stage_s["verify"] == 1.5
    assert after.cpu_s >= before.cpu_s > 0
    p = profile_of("node0", "leader", before, after, 10_000)
    assert p.stage_us_per_tx["admit"] == 25.0 and p.stage_us_per_tx["verify"] == 150.0
    assert 50.0 <= p.stage_us_per_tx["execute"] < 51.0  # the timed block added a little
    assert p.stage_us_per_tx["store"] == 0.0
    lines = render_table([p])
    assert "node0 leader" in lines[0]
    assert any(line.startswith("verify") and line.rstrip().endswith("150.0") for line in lines)


def test_the_rate_by_window_counts_commits_in_each_whole_window_of_the_load():
    from devnet.bench import WINDOW_S, rates_by_window
    t0 = 100.0
    times = [t0 + 1] * 40 + [t0 + WINDOW_S + 5] * 20 + [t0 + 2.5 * WINDOW_S] * 7 + [t0 - 1]
    assert rates_by_window(times, t0, 2 * WINDOW_S + 1) == [40 / WINDOW_S, 20 / WINDOW_S]
    assert rates_by_window(times, t0, WINDOW_S / 2) == []
