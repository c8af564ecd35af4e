"""The genesis ceremony end to end (issue 11): three institutions that share no machine make
their keys apart, assemble a genesis with `lichen genesis ...` from public keys only, each
checks the chain id of its own copy, writes its config with `lichen node init` (TLS from
`lichen tls`), and runs `lichen node run`; then a KYC attestation, an issuance and a transfer
commit through the CLI. No devnet code is involved: every step is a `lichen` subprocess.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from node.server.tls import client_context

from .helpers import LOOPBACK, free_port, wait_until

LICHEN = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parent.parent
INSTITUTIONS = [("harbor", "Harbor Bank", "US"), ("rhein", "Rhein Clearing AG", "DE"),
                ("lion", "Lion City Payments", "SG")]


def lichen(*args: str | Path, cwd: Path = ROOT) -> str:
    """Run the CLI as an operator would; its stdout, or the test fails with its stderr."""
    proc = subprocess.run(LICHEN + [str(a) for a in args], capture_output=True, text=True,
                          timeout=30, cwd=cwd, env={**os.environ, "COLUMNS": "200",
                                                    "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, f"lichen {' '.join(map(str, args))}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def status(url: str, ca: Path) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/v1/status", timeout=1,
                                    context=client_context(ca)) as r:
            return json.loads(r.read())
    except OSError:
        return {}


@pytest.mark.slow
def test_three_institutions_run_a_network_from_a_ceremony(tmp_path: Path):
    machines = {name: tmp_path / name for name, _, _ in INSTITUTIONS}
    for m in [*machines.values(), tmp_path / "regulator", tmp_path / "customers"]:
        m.mkdir()
    # each institution on its own machine: node key and authority key; only addresses leave it
    node_keys = {n: lichen("keys", "new", "--out", m / "node.key").strip()
                 for n, m in machines.items()}
    authority = {n: lichen("keys", "new", "--out", m / "authority.key").strip()
                 for n, m in machines.items()}
    regulator = lichen("keys", "new", "--out", tmp_path / "regulator" / "regulator.key").strip()
    alice = lichen("keys", "new", "--out", tmp_path / "customers" / "alice.key").strip()
    bob = lichen("keys", "new", "--out", tmp_path / "customers" / "bob.key").strip()
    assert lichen("keys", "show", machines["harbor"] / "node.key").strip() == node_keys["harbor"]

    # a consortium CA, and a certificate per node for the host its genesis address names
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir()
    ca = ca_dir / "ca.crt"
    lichen("tls", "ca", "--out-cert", ca, "--out-key", ca_dir / "ca.key")
    for n, m in machines.items():
        lichen("tls", "cert", "--ca-cert", ca, "--ca-key", ca_dir / "ca.key", "--name", n,
               "--host", LOOPBACK, "--out-cert", m / "tls.crt", "--out-key", m / "tls.key")
        shutil.copy(ca, m / "ca.crt")

    # the coordinator assembles the genesis from public keys and addresses only
    free: set[int] = set()
    while len(free) < 2 * len(machines):
        free.add(free_port())
    ports = dict(zip(machines, zip(*[iter(sorted(free))] * 2, strict=True), strict=True))
    draft = tmp_path / "genesis.json"
    lichen("genesis", "init", "--chain-name", "lichen-ceremony", "--regulator", regulator,
           "--out", draft)
    for name, display, jurisdiction in INSTITUTIONS:
        api, peer = ports[name]
        lichen("genesis", "add-institution", draft, "--name", name, "--display", display,
               "--jurisdiction", jurisdiction, "--node-key", node_keys[name],
               "--authority-key", authority[name], "--address", f"{LOOPBACK}:{api}",
               "--peer-address", f"{LOOPBACK}:{peer}",
               "--roles", "validator,kyc_issuer,asset_issuer")
    lichen("genesis", "add-asset", draft, "--code", "USD", "--issuer", "harbor",
           "--decimals", "2", "--clawback")
    lichen("genesis", "add-asset", draft, "--code", "EUR", "--issuer", "rhein", "--decimals", "2")
    lichen("genesis", "add-tier", draft, "--tier", "1", "--name", "basic",
           "--limit", "USD:100000:300000", "--limit", "EUR:100000:300000")
    lichen("genesis", "block-jurisdiction", draft, "KP", "IR")

    # every operator gets a copy and compares the chain id before starting
    chain_ids = set()
    for m in machines.values():
        shutil.copy(draft, m / "genesis.json")
        shown = json.loads(lichen("genesis", "show", m / "genesis.json", "--json"))
        assert shown["startable"] and shown["problems"] == []
        assert shown["chain_id"] in lichen("genesis", "show", m / "genesis.json")
        chain_ids.add(shown["chain_id"])
    assert len(chain_ids) == 1

    procs: list[subprocess.Popen] = []
    try:
        for n, m in machines.items():
            lichen("node", "init", "--genesis", m / "genesis.json", "--key", m / "node.key",
                   "--listen", f"{LOOPBACK}:{ports[n][0]}", "--data", m / "data",
                   "--tls-cert", m / "tls.crt", "--tls-key", m / "tls.key",
                   "--tls-ca", m / "ca.crt", "--out", m / "config.json")
            with open(m / "node.log", "wb") as log:
                procs.append(subprocess.Popen(
                    LICHEN + ["node", "run", "--config", str(m / "config.json")], cwd=ROOT,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True))
        urls = {n: f"https://{LOOPBACK}:{ports[n][0]}" for n in machines}

        def serving_with_a_leader() -> list[dict] | None:
            for p, (n, m) in zip(procs, machines.items(), strict=True):
                assert p.poll() is None, f"{n} exited:\n{(m / 'node.log').read_text()[-2000:]}"
            statuses = [status(u, ca) for u in urls.values()]
            if all(statuses) and any(s["role"] == "leader" for s in statuses):
                return statuses
            return None

        statuses = wait_until("the three nodes serve and elect a leader", serving_with_a_leader,
                              timeout=30)
        assert {s["chain_id"] for s in statuses} == chain_ids

        # read_auth is on: the CLI waits for commits with a token the operator issued
        token = {n: lichen("node", "token", "issue", "--config", m / "config.json",
                           "--all").strip() for n, m in machines.items()}

        def tx(institution: str, *args: str | Path) -> str:
            return lichen("--cacert", ca, *args, "--node", urls[institution],
                          "--token", token[institution])

        assert "committed" in tx("harbor", "kyc", "attest", "--key",
                                 machines["harbor"] / "authority.key", "--subject", alice,
                                 "--tier", "1", "--jurisdiction", "US", "--expires", "365")
        assert "committed" in tx("rhein", "kyc", "attest", "--key",
                                 machines["rhein"] / "authority.key", "--subject", bob,
                                 "--tier", "1", "--jurisdiction", "DE", "--expires", "365")
        assert "committed" in tx("harbor", "tx", "issue", "--key",
                                 machines["harbor"] / "authority.key", "--asset", "USD",
                                 "--to", alice, "--amount", "10000")
        assert "committed" in tx("lion", "tx", "transfer", "--key",
                                 tmp_path / "customers" / "alice.key", "--to", bob,
                                 "--asset", "USD", "--amount", "2500")
        account = json.loads(tx("rhein", "account", "show", bob, "--json"))
        assert account["balances"] == {"USD": 2500}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
