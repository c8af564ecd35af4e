"""Rounds of kill -9 / restart / partition / heal under load on a real 3-node devnet.

`make test` runs two rounds; LICHEN_ROUNDS=N runs N (the note quotes a long run). After every
round the nodes must reconverge on (height, block hash, state hash), and every transaction whose
commit any node acknowledged must be on every node at the height it was acknowledged at.
"""
from __future__ import annotations

import os
import random

import pytest

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

pytestmark = pytest.mark.slow
ROUNDS = int(os.environ.get("LICHEN_ROUNDS", "2"))


def one_round(d, rng: random.Random, load: Workload) -> str:
    names = sorted(nodes_of(d))
    leader = wait_until("a leader", lambda: leader_of(d), timeout=15)
    fault = rng.choice(["kill-leader", "kill-follower", "partition-leader", "partition-follower"])
    victim = leader if fault.endswith("leader") else rng.choice([n for n in names if n != leader])
    before = load.committed_count()
    if fault.startswith("kill"):
        lichen("devnet", "kill", victim, "--dir", str(d))
        wait_until("commits go on without the victim", lambda: load.committed_count() >= before + 5,
                   timeout=20)
        lichen("devnet", "start", victim, "--dir", str(d))
    else:
        lichen("devnet", "partition", victim, "--dir", str(d))
        wait_until("commits go on without the victim", lambda: load.committed_count() >= before + 5,
                   timeout=20)
        lichen("devnet", "heal", "--dir", str(d))
    wait_until("the nodes reconverge", lambda: converged(d), timeout=30)
    return f"{fault}:{victim}"


def test_rounds_of_faults_lose_nothing_and_reconverge(tmp_path):
    rng = random.Random(int(os.environ.get("LICHEN_SEED", "7")))
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        with Workload(d) as load:
            wait_until("the workload commits", lambda: load.committed_count() >= 5)
            done = [one_round(d, rng, load) for _ in range(ROUNDS)]
        wait_until("all converge", lambda: converged(d), timeout=30)
        assert_all_acked_everywhere(d, load.acked)
        print(f"{ROUNDS} rounds: {done}; {load.committed_count()} acknowledged commits checked")
