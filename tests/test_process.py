"""Real daemon processes through the CLI and the HTTP API: kill -9 loses nothing committed."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from devnet.client import ApiError, Client
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx

from .helpers import free_port_range, wait_until
from .htmlreport import read_report
from .procs import lichen, nodes_of, running_devnet

pytestmark = pytest.mark.slow


@pytest.fixture
def devnet(tmp_path):
    """A one-node devnet in tmp_path, stopped (by pid) however the test ends."""
    with running_devnet(tmp_path / "devnet", 1, free_port_range(1)) as d:
        yield d


def node_url(d: Path) -> str:
    return json.loads((d / "devnet.json").read_text())["nodes"][0]["url"]


def test_cli_demo_flows_and_reason_codes(devnet):
    out = lichen("devnet", "demo", "--dir", str(devnet)).stdout
    assert "KYC_MISSING" in out and "LIMIT_EXCEEDED" in out and "committed at height" in out
    url = node_url(devnet)
    keys = str(devnet / "keys")
    shown = lichen("account", "show", f"{keys}/carol.key", "--node", url, "--json")
    carol = json.loads(shown.stdout)
    # 15.00 EUR paid; 1,000.00 SGD issued, 675.00 of it paid for alice's 500.00 USD (PvP)
    assert carol["balances"] == {"EUR": 1500, "SGD": 32_500, "USD": 50_000}
    assert carol["kyc"]["valid"] and "NOT_COUNTERPARTY" in out
    # a rejection: non-zero exit, reason code on stderr
    bad = lichen("tx", "transfer", "--key", f"{keys}/carol.key", "--to", f"{keys}/alice.key",
                 "--asset", "EUR", "--amount", "99999", "--node", url, check=False)
    assert bad.returncode != 0 and "INSUFFICIENT_FUNDS" in bad.stderr
    ok = lichen("tx", "transfer", "--key", f"{keys}/carol.key", "--to", f"{keys}/alice.key",
                "--asset", "EUR", "--amount", "500", "--node", url, "--json")
    doc = json.loads(ok.stdout)
    assert doc["status"] == "committed"
    shown = json.loads(lichen("tx", "show", doc["hash"], "--node", url, "--json").stdout)
    assert shown["height"] == doc["height"] and shown["tx"]["payload"]["amount"] == 500


def test_sigkill_during_submissions_loses_no_acknowledged_commit(devnet):
    url = node_url(devnet)
    client = Client(url, timeout=3)
    alice = KeyPair.load(devnet / "keys" / "alice.key")
    bob = KeyPair.load(devnet / "keys" / "bob.key")
    chain_id = bytes.fromhex(client.status()["chain_id"])
    acked: dict[str, int] = {}  # tx hash -> height the node acknowledged
    block_hashes: dict[int, str] = {}
    stop = threading.Event()

    def submit_stream() -> None:
        nonce = 0
        while not stop.is_set():
            batch = [sign_tx(alice, chain_id, nonce + i, Transfer("USD", bob.address, 1, ""))
                     for i in range(20)]
            try:
                client.submit_batch([t.raw for t in batch])
                for t in batch:
                    doc = client.tx(t.hash_hex, wait=2)
                    if doc["status"] == "committed":
                        acked[t.hash_hex] = doc["height"]
                        if doc["height"] not in block_hashes:
                            block_hashes[doc["height"]] = client.block(doc["height"])["hash"]
            except ApiError:
                return  # the node is gone
            nonce += 20

    worker = threading.Thread(target=submit_stream)
    worker.start()
    try:
        wait_until("the stream has 100 acknowledged commits", lambda: len(acked) >= 100,
                   timeout=20, interval=0.05)
        lichen("devnet", "kill", "node0", "--dir", str(devnet), "--signal", "KILL")
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()

    lichen("devnet", "start", "node0", "--dir", str(devnet))
    after = Client(url)
    for tx_hash, height in acked.items():
        doc = after.tx(tx_hash)
        assert doc["status"] == "committed" and doc["height"] == height, tx_hash
    for height, block_hash in block_hashes.items():
        assert after.block(height)["hash"] == block_hash
    status = after.status()
    top = after.block(status["height"])
    assert status["state_hash"] == top["state_hash"] and status["block_hash"] == top["hash"]
    # the restarted node goes on committing from where it stopped
    nonce = after.account(alice.address_hex)["next_nonce"]
    t = sign_tx(alice, chain_id, nonce, Transfer("USD", bob.address, 1, ""))
    after.submit(t.raw)
    assert after.tx(t.hash_hex, wait=5)["status"] == "committed"


def test_bench_reports_commits_and_latency(devnet, tmp_path):
    html = tmp_path / "bench.html"
    out = lichen("bench", "--dir", str(devnet), "--accounts", "20", "--duration", "2",
                 "--rate", "300", "--json", "--report", str(html)).stdout
    report = json.loads(out)
    assert report["rejected"] == {}
    assert report["committed"] == report["submitted"] > 0
    assert report["committed_per_s"] > 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    # --report: the run as a page with the DESIGN targets judged and its series
    page = read_report(html.read_text())
    assert set(page.verdicts) == {"latency p50 ≤ 100 ms", "latency p99 ≤ 400 ms",
                                  "every accepted tx committed", "no tx refused"}
    assert page.verdicts["every accepted tx committed"] and page.verdicts["no tx refused"]
    assert ("PASS" in page.verdict) == all(page.verdicts.values())
    assert page.series["throughput"] >= 2 and page.series["latency-p99"] >= 1
    assert all(page.series[f"height-{n}"] >= 3 for n in nodes_of(devnet))
    assert page.data["report"]["committed"] == report["committed"] and not page.external
