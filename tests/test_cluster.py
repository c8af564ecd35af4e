"""A real 3-node devnet through the CLI and the HTTP API: elections, kill -9, partitions.

Each test drives a workload of transfers from alice to bob and keeps every transaction whose
commit a node acknowledged; at the end every node must hold each of them at the same height,
and all nodes must agree on (height, block hash, state hash).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cli.client import ApiError, Client
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx

from .conftest import free_port_range
from .procs import client, converged, leader_of, lichen, nodes_of, running_devnet, statuses, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def devnet3(tmp_path):
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        yield d


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

    def __enter__(self) -> "Workload":
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


def test_leader_election_follower_submission_and_kill9_of_the_leader(devnet3):
    d = devnet3
    leader = wait_until("one leader", lambda: leader_of(d))
    follower = next(n for n in nodes_of(d) if n != leader)
    keys = d / "keys"
    out = lichen("tx", "transfer", "--key", str(keys / "alice.key"), "--to", str(keys / "bob.key"),
                 "--asset", "USD", "--amount", "7", "--node", nodes_of(d)[follower]["url"], "--json")
    assert '"committed"' in out.stdout

    with Workload(d) as load:
        wait_until("the workload commits", lambda: load.committed_count() >= 10)
        old_term = statuses(d)[leader]["term"]
        lichen("devnet", "kill", leader, "--dir", str(d))
        t0 = time.monotonic()
        survivors = [n for n in nodes_of(d) if n != leader]
        new_leader = wait_until("a new leader", lambda: leader_of(d, survivors), timeout=10)
        elected_after = time.monotonic() - t0
        assert statuses(d, [new_leader])[new_leader]["term"] > old_term
        before = load.committed_count()
        wait_until("commits go on", lambda: load.committed_count() >= before + 10)
        lichen("devnet", "start", leader, "--dir", str(d))
        wait_until("the old leader catches up", lambda: converged(d), timeout=20)
    assert elected_after < 5, f"new leader after {elected_after:.1f}s"
    wait_until("all converge", lambda: converged(d))
    assert_all_acked_everywhere(d, load.acked)


def test_partitions_minority_goes_on_majority_cut_commits_nothing_then_heals(devnet3):
    d = devnet3
    leader = wait_until("one leader", lambda: leader_of(d))
    cut = next(n for n in nodes_of(d) if n != leader)
    rest = [n for n in nodes_of(d) if n != cut]
    keys = d / "keys"
    with Workload(d) as load:
        load.targets = rest
        wait_until("the workload commits", lambda: load.committed_count() >= 5)
        lichen("devnet", "partition", cut, "--dir", str(d))
        term_before = statuses(d, [leader])[leader]["term"]
        before = load.committed_count()
        wait_until("the two others go on", lambda: load.committed_count() >= before + 10)
        time.sleep(3)  # the cut node's election timer fires more than once meanwhile
        lichen("devnet", "heal", "--dir", str(d))
        wait_until("the cut node catches up", lambda: converged(d), timeout=20)
        st = statuses(d)
        assert st[leader]["role"] == "leader" and st[leader]["term"] == term_before, \
            "a rejoining node must not raise the term or depose a healthy leader (PreVote)"

        load.targets = [leader]
        others = [n for n in nodes_of(d) if n != leader]
        lichen("devnet", "partition", *others, "--dir", str(d))
        time.sleep(2.5)  # CheckQuorum: the leader steps down without a quorum
        cut_count = load.committed_count()
        refused = lichen("tx", "transfer", "--key", str(keys / "bob.key"), "--to", str(keys / "alice.key"),
                         "--asset", "USD", "--amount", "1", "--node", nodes_of(d)[leader]["url"],
                         "--timeout", "3", check=False, timeout=30)
        assert refused.returncode != 0 and "TIMEOUT" in refused.stderr
        time.sleep(1)
        assert load.committed_count() == cut_count, "nothing commits without a majority"
        lichen("devnet", "heal", "--dir", str(d))
        load.targets = list(nodes_of(d))
        wait_until("commits resume", lambda: load.committed_count() >= cut_count + 5, timeout=20)
    wait_until("all converge", lambda: converged(d), timeout=20)
    assert_all_acked_everywhere(d, load.acked)
