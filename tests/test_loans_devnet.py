"""A microfinance loan on a real 3-node devnet, through the CLI: an instalment is collected by
block time (the idle leader cuts the block that collects it), a shortfall goes late, every node
agrees, and `lichen chain verify` replays the chain to the node's state hash."""
from __future__ import annotations

import json

import pytest

from .helpers import free_port_range
from .procs import client, converged, lichen, nodes_of, running_devnet, wait_until


@pytest.mark.slow
def test_a_loan_is_collected_on_schedule_and_the_chain_replays(tmp_path):
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        url = nodes_of(d)["node0"]["url"]
        keys = d / "keys"

        def run(*args: str, check: bool = True):
            return lichen(*args, "--node", url, check=check)

        run("tx", "issue", "--key", str(keys / "inst3.key"), "--asset", "GBP", "--to",
            str(keys / "inst3.key"), "--amount", "100000")
        offered = json.loads(run(
            "loan", "offer", "--key", str(keys / "inst3.key"), "--to", str(keys / "alice.key"),
            "--asset", "GBP", "--principal", "10000", "--interest-bps", "500",
            "--instalments", "2", "--first-due", "10s", "--period", "10s", "--grace", "1s",
            "--json").stdout)
        loan_id = offered["hash"]
        refused = run("loan", "accept", loan_id, "--key", str(keys / "bob.key"), check=False)
        assert refused.returncode == 1 and "NOT_BORROWER" in refused.stderr
        run("loan", "accept", loan_id, "--key", str(keys / "alice.key"))
        # alice keeps 3_000 of the 10_000: the first instalment (5_250) is short by 2_250
        run("tx", "transfer", "--key", str(keys / "alice.key"), "--to", str(keys / "bob.key"),
            "--asset", "GBP", "--amount", "7000")

        def loan_on(name: str) -> dict:
            return client(d, name).get(f"/v1/loans/{loan_id}")

        wait_until("the first instalment is judged on every node",
                   lambda: all(loan_on(n)["misses"] == 1 for n in nodes_of(d)), timeout=40)
        loan = loan_on("node1")
        assert loan["status"] == "late" and loan["repaid"] == 3_000
        assert [i["state"] for i in loan["schedule"]][0] == "missed"
        alice = client(d, "node2").account(json.loads(lichen(
            "keys", "show", str(keys / "alice.key"), "--json").stdout)["address"])
        assert alice["balances"].get("GBP", 0) == 0
        history = json.loads(run("loan", "history", str(keys / "alice.key"), "--json").stdout)
        assert (history["loans"], history["late"], history["open"]) == (1, 1, [loan_id])

        wait_until("every node agrees", lambda: converged(d), timeout=20)
        report = json.loads(run("chain", "verify", "--json").stdout)
        assert report["ok"] and report["state_hash_matches"] and report["first_bad"] is None
