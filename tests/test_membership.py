"""Membership follows the licenses, on a real devnet through the CLI: a fourth validator joins,
an observer follows without ever counting, the leader hands over for maintenance."""
from __future__ import annotations

import json
import time

import pytest

from node.ledger.crypto import KeyPair

from .conftest import free_port_range
from .procs import client, converged, leader_of, lichen, nodes_of, running_devnet, statuses, wait_until

pytestmark = pytest.mark.slow


def transfer(d, node: str, amount: int = 1, timeout: float = 10) -> object:
    keys = d / "keys"
    return lichen("tx", "transfer", "--key", str(keys / "alice.key"), "--to", str(keys / "bob.key"),
                  "--asset", "USD", "--amount", str(amount), "--node", nodes_of(d)[node]["url"],
                  "--timeout", str(timeout), "--json", check=False, timeout=60)


def test_fourth_validator_joins_and_an_observer_never_counts(tmp_path):
    base = free_port_range(5)
    with running_devnet(tmp_path / "devnet", 3, base, observers=1) as d:
        st = statuses(d)
        assert st["node3"]["role"] == "observer" and len(st["node3"]["voters"]) == 3
        out = lichen("devnet", "add-node", "--role", "validator", "--dir", str(d)).stdout
        assert "joined as a voter" in out
        inst4 = KeyPair.load(d / "keys" / "inst4.key").address_hex
        wait_until("every node counts node4 as a voter",
                   lambda: all(s and inst4 in s["voters"] for s in statuses(d).values()))

        # four voters: with one of the original three killed, three of four still commit
        lichen("devnet", "kill", "node0", "--dir", str(d))
        ok = transfer(d, "node4")
        assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "committed", ok.stderr
        lichen("devnet", "start", "node0", "--dir", str(d))
        wait_until("all five agree", lambda: converged(d), timeout=20)

        # the observer's vote is never counted: with it and one validator up, nothing commits
        for name in ("node0", "node1", "node2"):
            lichen("devnet", "kill", name, "--dir", str(d))
        height = statuses(d, ["node3"])["node3"]["height"]
        stuck = transfer(d, "node3", timeout=3)
        assert stuck.returncode != 0 and "TIMEOUT" in stuck.stderr
        assert statuses(d, ["node3"])["node3"]["height"] == height
        for name in ("node0", "node1", "node2"):
            lichen("devnet", "start", name, "--dir", str(d))
        # the transfer the observer took while no quorum was up commits once one is back
        wait_until("the stuck transfer commits and all agree", lambda: converged(d) and
                   statuses(d, ["node3"])["node3"]["height"] > height, timeout=30)


def test_leadership_transfer_hands_over_within_an_election_timeout(tmp_path):
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        leader = wait_until("a leader", lambda: leader_of(d))
        target = next(n for n in nodes_of(d) if n != leader)
        t0 = time.monotonic()
        out = lichen("devnet", "transfer-leader", target, "--dir", str(d)).stdout
        assert f"{target} is leader" in out
        assert time.monotonic() - t0 < 5  # includes starting the CLI process
        assert leader_of(d) == target
        ok = transfer(d, leader)
        assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "committed"
        assert client(d, target).status()["role"] == "leader"
