"""The finance kinds on three real daemons, driven through the CLI as an institution's staff
would: a microfinance loan whose first instalment is collected by block time (short, so it
goes late on every node), an FX offer settled through a follower, an offer left to expire on
an idle chain (an empty block releases it), an escrow released; then every node's chain is
replayed from genesis to the state hash the others report."""
from __future__ import annotations

import json

import pytest

from .helpers import free_port_range
from .procs import client, converged, lichen, nodes_of, running_devnet, wait_until

pytestmark = pytest.mark.slow


def cli_json(*args: str) -> dict:
    return json.loads(lichen(*args, "--json").stdout)


def test_loans_fx_and_escrow_settle_on_three_nodes_and_every_chain_replays(tmp_path):
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        urls = {name: n["url"] for name, n in nodes_of(d).items()}
        keys = d / "keys"
        alice, bob, lender = str(keys / "alice.key"), str(keys / "bob.key"), str(keys / "inst3.key")
        usd = client(d, "node0").get("/v1/assets/USD")

        # inst3 lends alice 100.00 GBP at 5 %, two instalments from 10 s on; she keeps 30.00
        lichen("tx", "issue", "--key", lender, "--asset", "GBP", "--to", lender, "--amount",
               "100000", "--node", urls["node0"])
        loan_id = cli_json("loan", "offer", "--key", lender, "--to", alice, "--asset", "GBP",
                           "--principal", "10000", "--interest-bps", "500", "--instalments", "2",
                           "--first-due", "10s", "--period", "10s", "--grace", "1s",
                           "--node", urls["node0"])["hash"]
        refused = lichen("loan", "accept", loan_id, "--key", bob, "--node", urls["node1"],
                         check=False)
        assert refused.returncode == 1 and "NOT_BORROWER" in refused.stderr
        lichen("loan", "accept", loan_id, "--key", alice, "--node", urls["node1"])
        # the first instalment (5,250) will find 3,000: short by 2,250
        lichen("tx", "transfer", "--key", alice, "--to", bob, "--asset", "GBP", "--amount",
               "7000", "--node", urls["node0"])

        # alice sells 200.00 USD for 180.00 EUR; bob takes half through node1, a follower
        offer = cli_json("fx", "offer", "--key", alice, "--give", "20000", "USD", "--want",
                         "18000", "EUR", "--expires-in", "10m", "--node", urls["node0"])
        assert offer["status"] == "committed"
        take = cli_json("fx", "accept", offer["hash"], "--key", bob, "--amount", "9000",
                        "--node", urls["node1"])
        assert take["status"] == "committed"
        half = client(d, "node2").get(f"/v1/offers/{offer['hash']}")
        assert (half["paid"], half["given"], half["locked"], half["status"]) == (
            9_000, 10_000, 10_000, "open")

        # an offer that expires with nothing else happening: an empty block releases it
        brief = cli_json("fx", "offer", "--key", alice, "--give", "500", "USD", "--want", "500",
                         "EUR", "--expires-in", "2s", "--node", urls["node0"])
        wait_until("the idle chain sweeps the expired offer", lambda: client(d, "node1").get(
            f"/v1/offers/{brief['hash']}")["status"] == "expired", timeout=20)

        # an escrow for bob, released by alice at once
        escrow = cli_json("escrow", "create", "--key", alice, "--to", bob, "--asset", "USD",
                          "--amount", "3000", "--release-in", "0s", "--cancel-in", "1h",
                          "--node", urls["node0"])
        released = cli_json("escrow", "release", escrow["hash"], "--key", alice,
                            "--node", urls["node2"])
        assert released["status"] == "committed"

        # what is still locked is the half-filled offer's rest; supply is unchanged
        now = client(d, "node0").get("/v1/assets/USD")
        assert (now["supply"], now["held"]) == (usd["supply"], 10_000)

        # the instalment: collected as far as alice's 3,000 went, judged missed on every node
        def loan_on(name: str) -> dict:
            return client(d, name).get(f"/v1/loans/{loan_id}")

        wait_until("the first instalment is judged on every node",
                   lambda: all(loan_on(n)["misses"] == 1 for n in urls), timeout=40)
        loan = loan_on("node2")
        assert loan["status"] == "late" and loan["repaid"] == 3_000
        assert loan["schedule"][0]["state"] == "missed"
        history = cli_json("loan", "history", alice, "--node", urls["node1"])
        assert (history["loans"], history["late"], history["open"]) == (1, 1, [loan_id])
        wait_until("the nodes agree", lambda: converged(d), timeout=20)
        tip = client(d, "node0").status()
        for name, url in urls.items():
            report = cli_json("chain", "verify", "--node", url)
            assert report["ok"] and report["state_hash_matches"], (name, report)
            assert report["blocks_checked"] == tip["height"], name
        assert {client(d, n).status()["state_hash"] for n in urls} == {tip["state_hash"]}
