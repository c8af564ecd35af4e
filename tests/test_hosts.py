"""A devnet on separate hosts (`lichen devnet up --hosts`): every daemon in its own network
namespace, faults made in the network itself.

Needs root and iproute2, as CI has: where the namespaces cannot be made, these tests fail with
the reason (`devnet up` says what is missing); they never skip. The namespaces, veths and bridge
are removed however a test ends, and the fixture checks that nothing is left.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devnet import hosts
from devnet.errors import DevnetError
from devnet.hosts import HostsState
from node.server.clock import DEVNET_CLOCK_SKEW_ENV, SYSTEM_CLOCK, daemon_clock

from .helpers import free_port_range
from .procs import (
    Workload,
    assert_all_acked_everywhere,
    converged,
    leader_of,
    lichen,
    nodes_of,
    running_devnet,
    wait_until,
)

LATENCY_MS = 5  # one-way between two hosts


def state_of(d: Path) -> HostsState | None:
    f = d / "devnet.json"
    doc = json.loads(f.read_text()) if f.exists() else {}
    return HostsState.from_json(doc["hosts"]) if doc.get("hosts") else None


@pytest.fixture(scope="module")
def wan(tmp_path_factory):
    """Three hosts with LATENCY_MS between them; torn down (and checked gone) at the end."""
    d = tmp_path_factory.mktemp("hosts") / "devnet"
    state = None
    try:
        with running_devnet(d, 3, free_port_range(3), extra=("--hosts", "--latency", str(LATENCY_MS))):
            state = state_of(d)
            yield d
    finally:
        state = state or state_of(d)
        if state is not None:
            left = hosts.leftovers(state)
            hosts.teardown(state)
            assert not left, f"`lichen devnet down` left {left} behind"


def connects(ns: str | None, url: str, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to the url's host:port opens, from the namespace (None: the
    root namespace)."""
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    code = (f"import socket; socket.create_connection(({host!r}, {port}), timeout={timeout})")
    prefix = hosts.exec_prefix(ns) if ns else []
    return subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True,
                          timeout=timeout + 10).returncode == 0


# ---- pure parts --------------------------------------------------------------------------------

def test_drop_table_cuts_both_ways_and_combines_losses():
    state = HostsState("abcd", "10.1.2", loss_pct=10.0)
    names = ["node0", "node1", "node2"]
    state.cuts = [["node0", "node1"]]
    state.lossy = {"node2": 0.5}
    table = hosts.drop_table(state, names)
    assert table["node0"]["node1"] == table["node1"]["node0"] == 1.0
    assert table["node0"]["node2"] == pytest.approx(1 - 0.9 * 0.5)
    assert table["node2"]["node1"] == pytest.approx(1 - 0.9 * 0.5)
    state.cuts.clear()  # healed: no cut, no lossy node; the baseline loss stays
    state.lossy.clear()
    assert hosts.drop_table(state, names)["node0"] == {"node1": pytest.approx(0.1),
                                                      "node2": pytest.approx(0.1)}


def test_hosts_refuses_without_root_or_iproute2(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(DevnetError, match="needs root"):
        hosts.require()
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DevnetError, match="iproute2's ip and tc"):
        hosts.require()


# ---- a real devnet on three hosts --------------------------------------------------------------

@pytest.mark.slow
def test_each_node_is_its_own_host_behind_the_wan_delay(wan):
    state = state_of(wan)
    assert state is not None and state.latency_ms == LATENCY_MS
    base_port = json.loads((wan / "devnet.json").read_text())["base_port"]
    for i in range(3):
        n = nodes_of(wan)[f"node{i}"]
        assert n["netns"] == state.netns(i) and n["url"].split("//")[1].startswith(state.ip(i))
        # not on the root namespace's loopback (the port was free there when the devnet came up)
        assert not connects(None, f"http://127.0.0.1:{base_port + i}")
        t0 = time.monotonic()
        assert connects(None, n["url"])
        # the SYN-ACK leaves the node's host: delayed once on the way back
        assert time.monotonic() - t0 >= LATENCY_MS / 1000


@pytest.mark.slow
def test_kill_partition_at_the_ip_layer_and_heal_lose_no_acknowledged_commit(wan):
    d = wan
    nodes = nodes_of(d)
    with Workload(d) as load:
        wait_until("10 acknowledged commits", lambda: load.committed_count() >= 10, timeout=20)
        leader = wait_until("a leader", lambda: leader_of(d), timeout=10)
        follower = next(n for n in nodes if n != leader)
        lichen("devnet", "kill", follower, "--dir", str(d))
        seen = load.committed_count()
        wait_until("commits with a node down", lambda: load.committed_count() >= seen + 5,
                   timeout=20)
        lichen("devnet", "start", follower, "--dir", str(d))

        out = lichen("devnet", "partition", leader, "--dir", str(d)).stdout
        assert "(network)" in out
        others = [n for n in nodes if n != leader]
        new = wait_until("a leader among the majority", lambda: leader_of(d, others), timeout=20)
        assert new != leader
        # cut at the IP layer: the old leader's host reaches no peer, the operator reaches all
        assert not connects(nodes[leader]["netns"], nodes[new]["url"])
        assert connects(None, nodes[leader]["url"]) and connects(None, nodes[new]["url"])
        seen = load.committed_count()
        wait_until("commits in the majority", lambda: load.committed_count() >= seen + 5,
                   timeout=20)
        lichen("devnet", "heal", "--dir", str(d))
        assert connects(nodes[leader]["netns"], nodes[new]["url"])
        wait_until("every node on the same head", lambda: converged(d), timeout=30,
                   interval=0.5)
    wait_until("every node on the same head", lambda: converged(d), timeout=15, interval=0.5)
    assert load.committed_count() >= 20
    assert_all_acked_everywhere(d, load.acked)


@pytest.mark.slow
def test_a_short_chaos_run_with_network_faults_keeps_every_invariant(wan):
    run = lichen("devnet", "chaos", "--dir", str(wan),
                 "--faults", "partition,lossy,delay,kill,clock", "--duration", "18",
                 "--interval", "3", "--seed", "3", "--clients", "3", "--accounts", "8", "--json",
                 check=False, timeout=150)
    report = json.loads(run.stdout)
    failed = [i for i in report["invariants"] if not i["ok"]]
    assert not failed and run.returncode == 0, (failed, run.stderr[-3000:])
    assert report["faults_on"] == "network"
    assert {f["action"] for f in report["faults"]} == {"partition", "lossy", "delay", "kill",
                                                       "clock"}
    assert all(not f["errors"] for f in report["faults"]), [
        (f["action"], f["t"], f["errors"]) for f in report["faults"]]
    assert report["ops"]["ok"] > 0 and report["convergence_s"] is not None


@pytest.mark.slow
def test_delay_is_refused_on_a_devnet_without_hosts(tmp_path):
    with running_devnet(tmp_path / "devnet", 1, free_port_range(1), insecure=True) as d:
        run = lichen("devnet", "delay", "node0", "--latency", "100", "--dir", str(d),
                     check=False)
    assert run.returncode != 0 and "--hosts" in run.stderr



def test_a_clock_skew_is_honoured_only_in_devnet_mode():
    """Models an attacker who sets LICHEN_DEVNET_CLOCK_SKEW_MS in an operator's environment:
    a node outside devnet mode must keep the machine's clock."""
    env = {DEVNET_CLOCK_SKEW_ENV: "8000"}
    assert daemon_clock(False, env) is SYSTEM_CLOCK
    skewed = daemon_clock(True, env)
    assert skewed.time() - time.time() == pytest.approx(8.0, abs=1.0)
    assert daemon_clock(True, {}) is SYSTEM_CLOCK
