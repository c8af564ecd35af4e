"""The invariants a chaos run checks, each a function of what the run recorded and what the
nodes hold afterwards, returning a Check (ok, detail):

  totals_conserved            every snapshot read: each asset's total over the accounts is
                              what set-up issued (transfers move value, never make or lose it)
  no_negative_balance         every snapshot read: no account holds less than nothing
  acknowledged_outcomes_hold  a tx acknowledged committed is in every node's chain exactly once,
                              at the acknowledged height, with the same outcome
  no_tx_twice                 no tx hash is in any chain twice
  rejections_stay_out         a tx refused at admission is in no chain
  nodes_converged             all nodes agree on (height, block hash, state hash)
  chains_verify               every node's chain replays from genesis (`lichen chain verify`)
  daemons_stayed_up           no daemon exited unless the injector killed it
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import NamedTuple

import aiohttp

from node.ledger.execution import BlockResult

from ..client import ApiError, Client
from ..replay import BadGenesis, verify_node
from .events import Crash
from .workload import NO_ANSWER, Op, Reads, call, no_answer


class Check(NamedTuple):
    ok: bool
    detail: str  # what was checked, or the first violation


def short(h: str | None, n: int = 12) -> str:
    return (h[:n] + "…") if h and len(h) > n else (h or "-")


# ---- what each node's chain holds --------------------------------------------------------------

@dataclass
class NodeChain:
    """What one node's chain holds, from a full replay of its blocks."""
    name: str
    status: dict | None = None
    problem: str = ""  # chain verification: "" when it passed
    blocks: int = 0
    # tx hash -> [(height, "committed" or "failed" as the replay re-executed it)]
    where: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    index: dict[str, dict] = field(default_factory=dict)  # GET /v1/txs/{h} for acknowledged txs


def replay_node(name: str, url: str) -> NodeChain:
    """Verify the node's chain as `lichen chain verify` does, noting every tx it holds."""
    chain = NodeChain(name)

    def note(result: BlockResult) -> None:
        # What the replay re-executed: each tx's hash and outcome as the checked state hash
        # covers them, not as the node's JSON renders them.
        chain.blocks += 1
        height = result.block.header.height
        for r in result.receipts:
            outcome = "committed" if r.ok else "failed"
            chain.where.setdefault(r.tx_hash.hex(), []).append((height, outcome))

    try:
        chain.status, _, chain.problem = verify_node(Client(url, timeout=10), note)
    except (ApiError, BadGenesis) as exc:
        chain.problem = str(exc)
    return chain


RATE_LIMIT_RETRIES, RATE_LIMIT_PAUSE_S = 20, 0.1  # a refused read waits and asks again


async def read_tx_index(session: aiohttp.ClientSession, url: str, hashes: list[str],
                        chain: NodeChain) -> None:
    """The node's own answer (GET /v1/txs/{h}) for each acknowledged tx."""
    gate = asyncio.Semaphore(16)

    async def one(h: str) -> None:
        async with gate:
            try:
                for _ in range(RATE_LIMIT_RETRIES):  # the node's read limit is not a verdict
                    chain.index[h] = (await call(session, "GET", f"{url}/v1/txs/{h}", 10))[1]
                    if chain.index[h].get("error") != "RATE_LIMITED":
                        break
                    await asyncio.sleep(RATE_LIMIT_PAUSE_S)
            except NO_ANSWER as exc:
                chain.index[h] = {"status": f"no answer ({no_answer(exc)})"}

    await asyncio.gather(*(one(h) for h in hashes))


# ---- the checks ----------------------------------------------------------------------------------

def check_totals_conserved(reads: Reads, initial: dict[str, int]) -> Check:
    if reads.total_violations:
        return Check(False,
                     f"{len(reads.total_violations)} reads off, first: {reads.total_violations[0]}")
    if not reads.checked:
        return Check(False, "no read was a snapshot, so nothing was checked")
    totals = ", ".join(f"{a} {v}" for a, v in initial.items())
    return Check(True, f"{reads.checked} reads, each totalling {totals}")


def check_no_negative_balance(reads: Reads) -> Check:
    if reads.negative_violations:
        return Check(False, f"{len(reads.negative_violations)} negative, first: "
                            f"{reads.negative_violations[0]}")
    return Check(True, f"no negative balance in {reads.checked} reads")


def check_acknowledged_outcomes_hold(ops: list[Op], chains: list[NodeChain]) -> Check:
    """Every tx acknowledged committed (ok, or with a failed receipt) is in every node's chain
    exactly once, at the acknowledged height, with the same outcome, and the node says so."""
    acked = [op for op in ops if op.height is not None]
    for op in acked:
        want = "committed" if op.outcome == "ok" else "failed"
        for c in chains:
            found = c.where.get(op.hash, [])
            if found != [(op.height, want)]:
                return Check(False, f"tx {short(op.hash)} ({want} at height {op.height}): "
                                    f"{c.name}'s blocks hold it as {found or 'nothing'}")
            told = c.index.get(op.hash, {})
            if told.get("status") != want or told.get("height") != op.height:
                return Check(False, f"tx {short(op.hash)} ({want} at height {op.height}): {c.name} "
                                    f"answers {told.get('status')} at height {told.get('height')}"
                                    + (f" ({told['error']}: {told.get('message')})"
                                       if "error" in told else ""))
    return Check(True, f"{len(acked)} acknowledged txs found once, at their height, on "
                       f"{len(chains)} nodes")


def check_no_tx_twice(chains: list[NodeChain]) -> Check:
    for c in chains:
        for h, found in c.where.items():
            if len(found) > 1:
                return Check(False, f"{c.name}: tx {short(h)} is in blocks {[x[0] for x in found]}")
    return Check(True, f"no tx hash appears twice in any of {len(chains)} chains")


def check_rejections_stay_out(ops: list[Op], chains: list[NodeChain]) -> Check:
    """A tx refused at admission was never accepted anywhere: it must be in no chain."""
    refused = [op for op in ops if op.stage == "admission"]
    for op in refused:
        for c in chains:
            if op.hash in c.where:
                height, outcome = c.where[op.hash][0]
                return Check(False, f"tx {short(op.hash)} refused with {op.why} by {op.node} is in "
                                    f"{c.name}'s block {height} as {outcome}")
    return Check(True, f"none of {len(refused)} refused txs is in any chain")


def check_nodes_converged(converged_after: float | None, st: dict[str, dict | None]) -> Check:
    if converged_after is None:
        rows = ", ".join(
            f"{n}: " + (f"{s['height']}/{short(s['block_hash'], 8)}/{short(s['state_hash'], 8)}"
                        if s else "down") for n, s in st.items())
        return Check(False, f"no agreement: {rows}")
    s = next(s for s in st.values() if s)
    return Check(True, f"{len(st)} nodes at height {s['height']}, block {short(s['block_hash'])}, "
                       f"state {short(s['state_hash'])}")


def check_chains_verify(chains: list[NodeChain]) -> Check:
    bad = [c for c in chains if c.problem]
    if bad:
        return Check(False, f"{bad[0].name}: {bad[0].problem}")
    return Check(True, f"{len(chains)} chains replayed from genesis "
                       f"({chains[0].blocks if chains else 0} blocks each)")


def check_daemons_stayed_up(crashes: list[Crash], heal_problems: list[str]) -> Check:
    if crashes:
        c = crashes[0]
        last = c.log_tail.splitlines()[-1:] or [""]
        return Check(False, f"{c.node} exited on its own at {c.t:.1f}s; its log ends: {last[0]}")
    if heal_problems:
        return Check(False, heal_problems[0])
    return Check(True, "no daemon exited without being killed")
