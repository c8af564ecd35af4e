"""Three validators under a workload: a leader stopped and replaced, partitions of a minority
and of a majority, healed. On the in-memory network (tests/harness.py), in node time.

Each test drives a workload of transfers from alice to bob and keeps every transaction whose
commit a node acknowledged; at the end every node must hold each of them at the same height,
and all nodes must agree on (height, block hash, state hash).

`Workload` and `assert_all_acked_everywhere` below drive a real devnet through the HTTP API,
for tests/test_rounds.py (kill -9 and partitions of real processes).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cli.client import ApiError, Client
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx
from node.server.service import NodeRole, TxState

from . import harness
from .procs import client, nodes_of


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


# ---- on the in-memory network ----------------------------------------------------------------

@pytest.fixture
async def net(tmp_path):
    network = harness.TestNetwork(tmp_path)
    try:
        await network.start_all()
        yield network
    finally:
        await network.close()


async def test_leader_election_follower_submission_and_a_stopped_leader(net):
    leader = await net.elect()
    follower = next(n for n in net.running() if n is not leader)
    tx = net.transfer(amount=7)
    net.submit(follower, tx)
    await net.until_committed(tx, nodes=[follower])

    with harness.Workload(net) as load:
        await net.until("the workload commits", lambda: load.committed_count() >= 10)
        old_term = leader.node_status().term
        idx = net.index_of(leader)
        await net.stop(idx)
        t0 = net.clock.now_ms
        new_leader = await net.elect()
        elected_after = net.clock.now_ms - t0
        assert new_leader.node_status().term > old_term
        before = load.committed_count()
        await net.until("commits go on", lambda: load.committed_count() >= before + 10)
        await net.start(idx)
        await net.until_agreed()
    assert elected_after < 5000, f"new leader after {elected_after} ms"
    await net.until_agreed()
    load.assert_acked_everywhere()


async def test_partitions_minority_goes_on_majority_cut_commits_nothing_then_heals(net):
    leader = await net.elect()
    cut = next(n for n in net.running() if n is not leader)
    rest = [n for n in net.running() if n is not cut]
    with harness.Workload(net, targets=[net.index_of(n) for n in rest]) as load:
        await net.until("the workload commits", lambda: load.committed_count() >= 5)
        net.isolate(net.index_of(cut))
        term_before = leader.node_status().term
        before = load.committed_count()
        await net.until("the two others go on", lambda: load.committed_count() >= before + 10)
        await net.advance(3000)  # the cut node's election timer fires more than once meanwhile
        net.heal()
        await net.until_agreed()
        st = leader.node_status()
        assert st.role == NodeRole.LEADER and st.term == term_before, \
            "a rejoining node must not raise the term or depose a healthy leader (PreVote)"

        load.targets = [net.index_of(leader)]
        net.isolate(net.index_of(leader))  # the two others, a majority, cut off from it
        await net.advance(2500)  # CheckQuorum: the leader steps down without a quorum
        assert leader.node_status().role != NodeRole.LEADER
        cut_count = load.committed_count()
        refused = net.transfer("bob", "alice")
        net.submit(leader, refused)
        assert (await net.wait_for(leader, refused, 3)).status == TxState.PENDING  # a timeout
        await net.advance(1000)
        assert load.committed_count() == cut_count, "nothing commits without a majority"
        net.heal()
        load.targets = sorted(net.nodes)
        await net.until("commits resume", lambda: load.committed_count() >= cut_count + 5)
    await net.until_agreed()
    load.assert_acked_everywhere()
