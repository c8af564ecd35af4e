"""`lichen devnet chaos`: the fault schedule is a pure function of its inputs, and a short run
on a real 3-node devnet keeps every invariant."""
from __future__ import annotations

import json
from itertools import pairwise
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from cli.main import lichen as lichen_cli
from devnet.chaos import (
    FAULT_KINDS,
    LEADER,
    Fault,
    NodeChain,
    Op,
    check_acknowledged_outcomes_hold,
    check_rejections_stay_out,
    fault_schedule,
)
from devnet.chaos.events import InjectedFault
from devnet.chaos.faults import Injector
from devnet.chaos.workload import Account, Workload
from node.ledger.crypto import KeyPair

from .helpers import free_port_range
from .htmlreport import read_report
from .procs import lichen, running_devnet

NODES = ["node0", "node1", "node2", "node3", "node4"]


def schedule(seed: int, kinds=FAULT_KINDS, duration: float = 120, interval: float = 10,
             nodes=NODES) -> list[Fault]:
    return fault_schedule(seed, duration, interval, list(kinds), list(nodes))


# ---- the schedule ----------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_schedule():
    assert schedule(1) == schedule(1)
    assert schedule(1, nodes=list(reversed(NODES))) == schedule(1), "node order does not matter"


def test_a_different_seed_gives_a_different_schedule():
    assert schedule(1) != schedule(2)


def test_every_requested_kind_is_injected_and_no_other():
    for kinds in (["kill", "pause", "partition", "lossy"], ["restart-all"], list(FAULT_KINDS)):
        for seed in range(20):
            planned = {f.action for f in schedule(seed, kinds, duration=len(kinds) * 10 + 10)}
            assert planned == set(kinds), (seed, kinds)


def test_each_fault_is_undone_before_the_next_and_within_the_run():
    for seed in range(20):
        faults = schedule(seed, duration=60, interval=5)
        assert faults and faults[0].t >= 5, "the first interval is a fault-free baseline"
        for f, g in pairwise(faults):
            assert f.t + f.duration < g.t
        assert faults[-1].t + faults[-1].duration <= 60


def test_partitions_cut_one_node_a_minority_or_the_leader():
    seen = set()
    for seed in range(30):
        for f in schedule(seed, ["partition"]):
            seen.add(f.variant)
            if f.variant == "one":
                assert len(f.targets) == 1 and f.targets[0] in NODES
            elif f.variant == "minority":
                assert len(f.targets) == 2 and set(f.targets) <= set(NODES)
            else:
                assert f.targets == (LEADER,)
    assert seen == {"one", "minority", "leader"}


def test_restart_all_targets_every_node_and_lossy_drops_a_fraction():
    for f in schedule(4, ["restart-all", "lossy"]):
        if f.action == "restart-all":
            assert f.targets == tuple(NODES)
        else:
            assert 0.2 <= f.drop <= 0.5


def test_unknown_fault_kinds_are_refused():
    result = CliRunner().invoke(lichen_cli, ["devnet", "chaos", "--faults", "kill,meteor"])
    assert result.exit_code == 2 and "unknown fault 'meteor'" in result.output


# ---- the checker, on made-up histories ---------------------------------------------------------

def chain(name: str, where: dict, index: dict | None = None) -> NodeChain:
    return NodeChain(name, where=where, index=index or {})


def test_an_acknowledged_commit_missing_or_twice_on_a_node_is_a_violation():
    op = Op("aa" * 32, 0, "node0", 1.0, "ok", height=7)
    good = chain("node0", {op.hash: [(7, "committed")]},
                 {op.hash: {"status": "committed", "height": 7}})
    assert check_acknowledged_outcomes_hold([op], [good])[0]
    missing = chain("node1", {}, {op.hash: {"status": "unknown"}})
    twice = chain("node2", {op.hash: [(7, "committed"), (9, "failed")]}, good.index)
    for bad in (missing, twice):
        ok, detail = check_acknowledged_outcomes_hold([op], [good, bad])
        assert not ok and bad.name in detail


def test_a_tx_refused_at_admission_found_in_a_chain_is_a_violation():
    op = Op("bb" * 32, 0, "node0", 1.0, "failed", "BAD_NONCE", "admission")
    assert check_rejections_stay_out([op], [chain("node0", {})])[0]
    ok, detail = check_rejections_stay_out([op], [chain("node0", {op.hash: [(3, "committed")]})])
    assert not ok and "BAD_NONCE" in detail


def test_a_snapshot_counts_what_offers_and_escrows_hold_in_its_totals():
    """Units locked in an offer or an escrow left the balances but not the asset: the total is
    balances plus held; a snapshot short of either is a violation."""
    load = Workload(None, {}, b"", [Account(KeyPair.generate()) for _ in range(2)],  # type: ignore[arg-type]
                    ["USD"], {"USD": 1_000}, None, 0)  # type: ignore[arg-type]
    load.check_read("node0", 5, [{"USD": 600}, {"USD": 300}], {"USD": 100})
    assert load.reads.total_violations == []
    load.check_read("node0", 6, [{"USD": 600}, {"USD": 300}], {"USD": 0})
    assert load.reads.total_violations == [
        "node0 at height 6: USD totals 900 with what offers and escrows hold, not 1000"]


# ---- a real run --------------------------------------------------------------------------------

class ElectingInjector(Injector):
    """An injector whose network has no leader for its first `elections` status polls."""

    def __init__(self, elections: int):
        manifest = SimpleNamespace(nodes=[SimpleNamespace(name=f"node{i}") for i in range(3)])
        super().__init__(None, manifest, lambda event: None)  # type: ignore[arg-type]
        self.elections = elections

    def leader(self) -> str | None:
        self.elections -= 1
        return None if self.elections >= 0 else "node1"


def test_a_fault_for_the_leader_waits_out_an_election_under_way():
    """The previous fault's heal often starts an election: the next leader-targeted fault lands
    on the leader once there is one, not on a node picked at random."""
    record = InjectedFault.planned(Fault(3.0, "partition", (LEADER,), 2.0, "leader"), 3.0)
    assert ElectingInjector(elections=3).resolve((LEADER,), record) == ["node1"]
    assert record.leader == "node1" and not record.errors


def test_a_fault_for_the_leader_goes_ahead_when_no_leader_comes(monkeypatch):
    monkeypatch.setattr("devnet.chaos.faults.LEADER_WAIT", 0.3)
    record = InjectedFault.planned(Fault(3.0, "partition", (LEADER,), 2.0, "leader"), 3.0)
    [chosen] = ElectingInjector(elections=10**6).resolve((LEADER,), record)
    assert chosen in {"node0", "node1", "node2"}
    assert record.errors == [f"no leader at injection; chose {chosen}"]


@pytest.mark.slow
def test_a_short_chaos_run_on_three_nodes_keeps_every_invariant(tmp_path):
    html = tmp_path / "chaos.html"
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        run = lichen("devnet", "chaos", "--dir", str(d), "--faults", "kill,pause,partition,lossy",
                     "--duration", "25", "--interval", "5", "--seed", "1", "--json",
                     "--report", str(html), check=False, timeout=150)
    report = json.loads(run.stdout)
    failed = [i for i in report["invariants"] if not i["ok"]]
    assert not failed and run.returncode == 0, (failed, run.stderr[-3000:])
    assert {i["name"] for i in report["invariants"]} >= {
        "totals_conserved", "no_negative_balance", "acknowledged_outcomes_hold",
        "rejections_stay_out", "nodes_converged", "chains_verify"}
    assert report["ops"]["ok"] > 0 and report["reads"]["checked"] > 0
    # FX and escrows ran under the faults, and their locks were in every conserved total
    assert {"transfer", "fx_offer", "fx_accept", "escrow_create"} <= set(report["ops"]["ok_by_kind"])
    assert [f["action"] for f in report["faults"]] == [f["action"] for f in report["schedule"]]
    assert {f["action"] for f in report["faults"]} == {"kill", "pause", "partition", "lossy"}
    assert report["convergence_s"] is not None
    # --report: the same run as a page, with its verdict, a band per fault, and the series
    page = read_report(html.read_text())
    assert "PASS" in page.verdict
    assert page.verdicts == {i["name"]: i["ok"] for i in report["invariants"]}
    faults = {str(i) for i in range(len(report["faults"]))}
    assert page.bands and all(drawn == faults for drawn in page.bands.values())
    assert page.series["throughput"] > 5 and page.series["latency-p50"] > 5
    for name in report["nodes"]:
        assert page.series[f"height-{name}"] > 10
    killed = next(f["targets"][0] for f in report["faults"] if f["action"] == "kill")
    assert (killed, "down") in page.roles  # the kill shows as the node not answering
    assert any(role == "leader" for _, role in page.roles)
    assert page.data["report"]["seed"] == 1 and not page.external
