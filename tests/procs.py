"""Helpers for tests that run real daemons through the CLI: start, inspect, always stop."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devnet.client import ApiError, Client, trust
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx

from .helpers import wait_until

__all__ = ["client", "converged", "leader_of", "lichen", "nodes_of", "running_devnet", "statuses",
           "wait_until"]  # wait_until: the blocking poller of tests/helpers.py, for these tests

LICHEN = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parent.parent


def lichen(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(LICHEN + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    if check and proc.returncode != 0:
        raise AssertionError(f"lichen {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@contextmanager
def running_devnet(d: Path, nodes: int, base_port: int, observers: int = 0,
                   insecure: bool = False, extra: tuple[str, ...] = ()) -> Iterator[Path]:
    """`lichen devnet up` in d (TLS, unless `insecure`); on exit `devnet down`, then SIGKILL
    any pid it left. While it runs, LICHEN_CACERT names its CA, so this process's clients and
    the `lichen` commands the test runs verify its https nodes. `extra`: more `devnet up`
    options (e.g. --hosts)."""
    before = os.environ.get("LICHEN_CACERT")
    try:
        lichen("devnet", "up", "--nodes", str(nodes), "--observers", str(observers),
               "--dir", str(d), "--base-port", str(base_port), *(["--insecure"] if insecure else []),
               *extra)
        if (d / "tls" / "ca.crt").exists():
            os.environ["LICHEN_CACERT"] = str(d / "tls" / "ca.crt")
            trust(d / "tls" / "ca.crt")
        yield d
    finally:
        trust(None)
        if before is None:
            os.environ.pop("LICHEN_CACERT", None)
        else:
            os.environ["LICHEN_CACERT"] = before
        lichen("devnet", "down", "--dir", str(d), check=False)
        f = d / "devnet.json"
        if f.exists():
            for n in json.loads(f.read_text())["nodes"]:
                if n.get("pid"):
                    try:
                        os.kill(n["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        pass


def nodes_of(d: Path) -> dict[str, dict]:
    return {n["name"]: n for n in json.loads((d / "devnet.json").read_text())["nodes"]}


def client(d: Path, name: str, timeout: float = 3) -> Client:
    ca = d / "tls" / "ca.crt"
    return Client(nodes_of(d)[name]["url"], timeout=timeout,
                  ca_file=str(ca) if ca.exists() else None)


def statuses(d: Path, names: list[str] | None = None) -> dict[str, dict | None]:
    out = {}
    for name in names or list(nodes_of(d)):
        try:
            out[name] = client(d, name, timeout=2).status()
        except ApiError:
            out[name] = None
    return out


def leader_of(d: Path, names: list[str] | None = None) -> str | None:
    leaders = [n for n, s in statuses(d, names).items() if s and s["role"] == "leader"]
    return leaders[0] if len(leaders) == 1 else None


def converged(d: Path, names: list[str] | None = None) -> bool:
    """Every named node serves and reports the same (height, block hash, state hash)."""
    st = statuses(d, names)
    if any(s is None for s in st.values()):
        return False
    return len({(s["height"], s["block_hash"], s["state_hash"]) for s in st.values()}) == 1


class Workload:
    """Transfers of 1 USD from alice to bob, spread over the given nodes, until stopped."""

    def __init__(self, d: Path):
        self.d = d
        self.alice = KeyPair.load(d / "keys" / "alice.key")
        self.bob = KeyPair.load(d / "keys" / "bob.key")
        self.chain_id = bytes.fromhex(client(d, "node0").status()["chain_id"])
        self.acked: dict[str, int] = {}  # tx hash -> height some node acknowledged
        self.urls = {name: n["url"] for name, n in nodes_of(d).items()}  # fixed for a devnet
        self.targets = list(self.urls)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Workload:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            name = self.targets[i % len(self.targets)]
            i += 1
            try:
                c = Client(self.urls[name], timeout=3)
                nonce = c.account(self.alice.address_hex)["next_nonce"]
                tx = sign_tx(self.alice, self.chain_id, nonce, Transfer("USD", self.bob.address, 1, ""))
                c.submit(tx.raw)
                doc = c.tx(tx.hash_hex, wait=2)
                if doc["status"] == "committed":
                    self.acked[tx.hash_hex] = doc["height"]
            except ApiError:
                time.sleep(0.1)  # that node is down, cut off or not ready: try the next

    def committed_count(self) -> int:
        return len(self.acked)


def assert_all_acked_everywhere(d: Path, acked: dict[str, int]) -> None:
    for name in nodes_of(d):
        c = client(d, name)
        for tx_hash, height in acked.items():
            doc = c.tx(tx_hash)
            assert doc["status"] == "committed" and doc["height"] == height, (name, tx_hash, doc)
