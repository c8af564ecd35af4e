"""A chaos run, in stages as cometbft's end-to-end runner has them:

  set up   fresh accounts, attested by a KYC issuer and funded by asset issuers whose keys are
           in DIR/keys; the initial total of each asset over these accounts is recorded.
  load     clients transfer small amounts among the accounts; a reader reads all balances.
  perturb  at the same time, faults follow a schedule computed up front from the seed.
  heal     every link whole, every paused node resumed, every stopped node started.
  wait     until every node reports the same (height, block hash, state hash).
  check    the invariants (devnet.chaos.invariants), on every node.
  report   faults, operations, reads, invariants.

The network is left running afterwards, for inspection.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass

import aiohttp

from node.ledger.crypto import KeyPair

from ..aioclient import connector
from ..errors import DevnetError
from ..network import Devnet, fault_kind
from ..timeline import Timeline, sample_heights
from . import invariants as inv
from .events import Stage, Tell
from .faults import Injector, sleep_until
from .report import OpCounts, ReadCounts, Report, invariants_of
from .schedule import NETWORK_FAULT_KINDS, Fault, fault_schedule
from .workload import (
    NO_ANSWER,
    READ_TIMEOUT,
    Account,
    Op,
    Reads,
    Workload,
    call,
    plan_setup,
    set_up_accounts,
)

HEAL_TIMEOUT = 30.0  # seconds for every node to serve again after the load


@dataclass
class Options:
    """What the run does."""
    duration: float  # seconds of load and faults
    seed: int  # of the fault schedule and the clients' choices
    faults: list[str]  # fault kinds to inject
    interval: float  # seconds between fault starts
    clients: int
    accounts: int
    converge_timeout: float  # seconds, after healing, for all nodes to agree
    history: str | None = None  # a file for every operation, one JSON object per line


async def run_chaos(net: Devnet, o: Options, tell: Tell = lambda _: None) -> Report:
    manifest = net.load()
    stopped = [n.name for n in manifest.nodes if not net.alive(n)]
    if stopped:
        raise DevnetError(f"{', '.join(stopped)} not running; "
                          f"start with `lichen devnet start NAME`")
    network_only = [k for k in o.faults if k in NETWORK_FAULT_KINDS]
    if network_only and manifest.hosts is None:
        raise DevnetError(f"--faults {network_only[0]} needs a devnet on separate hosts "
                          f"(`lichen devnet up --hosts --latency MS`)")
    urls = {n.name: n.url for n in manifest.nodes}
    schedule = fault_schedule(o.seed, o.duration, o.interval, o.faults, list(urls))
    timeline = Timeline(list(urls), o.duration + HEAL_TIMEOUT, seed=o.seed)
    async with aiohttp.ClientSession(connector=connector(limit=0)) as session:
        injector = Injector(net, manifest, tell)
        load = await set_up(session, net, urls, injector, o, tell)
        watching = asyncio.Event()
        watcher = asyncio.create_task(injector.watch_exits(watching))
        injector.t0 = time.monotonic()  # the run's clock: faults, operations, samples
        sampled = asyncio.Event()  # from the load until the nodes converged (or did not)
        sampler = asyncio.create_task(
            sample_heights(session, urls, timeline, injector.now, sampled))
        try:
            tell(Stage(f"load + perturb: {o.duration:.0f}s, {o.clients} clients, "
                       f"{len(schedule)} faults (seed {o.seed})"))
            await load_and_perturb(load, injector, schedule, o)
        finally:  # on Ctrl-C too: never leave the network cut, paused or down
            tell(Stage("heal: every link whole, every node resumed and running; "
                       "waiting for convergence"))
            healing = time.monotonic()
            heal_problems = await asyncio.to_thread(injector.heal_everything, HEAL_TIMEOUT)
        converged_after, st = await wait_converged(session, urls, o.converge_timeout, healing)
        sampled.set()
        await sampler
        watching.set()
        await watcher
        tell(Stage("check: final reads, every node's chain replayed from genesis"))
        chains = await final_reads_and_replays(session, load, urls)
        injector.note_exits()
    if o.history:
        write_history(o.history, load.ops)
    for op in load.ops:
        if op.outcome == "ok":
            timeline.commit(op.done, (op.done - op.t) * 1000)
    checks = [
        ("totals_conserved", inv.check_totals_conserved(load.reads, load.initial)),
        ("no_negative_balance", inv.check_no_negative_balance(load.reads)),
        ("acknowledged_outcomes_hold", inv.check_acknowledged_outcomes_hold(load.ops, chains)),
        ("no_tx_twice", inv.check_no_tx_twice(chains)),
        ("rejections_stay_out", inv.check_rejections_stay_out(load.ops, chains)),
        ("nodes_converged", inv.check_nodes_converged(converged_after, st)),
        ("chains_verify", inv.check_chains_verify(chains)),
        ("daemons_stayed_up", inv.check_daemons_stayed_up(injector.crashes, heal_problems)),
    ]
    return Report(
        ok=all(check.ok for _, check in checks), seed=o.seed, duration_s=o.duration,
        interval_s=o.interval, faults_requested=o.faults, faults_on=fault_kind(manifest),
        nodes=injector.names,
        clients=o.clients, accounts=o.accounts, initial_totals=load.initial, schedule=schedule,
        faults=injector.injected, crashes=injector.crashes, ops=OpCounts.of(load.ops),
        reads=ReadCounts.of(load.reads), convergence_s=converged_after,
        invariants=invariants_of(checks), timeline=timeline)


async def set_up(session: aiohttp.ClientSession, net: Devnet, urls: dict[str, str],
                 injector: Injector, o: Options, tell: Tell) -> Workload:
    """Fresh accounts, attested and funded; the initial totals read back from a node."""
    first = next(iter(urls.values()))
    chain_id = bytes.fromhex((await call(session, "GET", f"{first}/v1/status", 10))[1]["chain_id"])
    plan = plan_setup(net)
    accounts = [Account(KeyPair.generate()) for _ in range(o.accounts)]
    tell(Stage(f"set up: {o.accounts} accounts attested by {plan.attestor} (tier {plan.tier}), "
               f"funded with {', '.join(f'{a} by {i}' for a, i in plan.assets.items())}"))
    funded = await set_up_accounts(session, first, chain_id, net, plan, accounts)
    load = Workload(session, urls, chain_id, accounts, list(plan.assets), funded, injector, o.seed)
    for _ in range(20):
        read = await load.read_balances(next(iter(urls)))
        if read is not None:
            break
    else:
        raise DevnetError("could not read the new accounts' balances after set-up")
    balances = {asset: sum(b.get(asset, 0) for b in read[2]) for asset in funded}
    if balances != funded:
        raise DevnetError(f"set-up funded {balances}, not {funded}")
    # what the accounts hold plus what offers and escrows lock now (nothing, on a fresh devnet)
    load.initial = {asset: funded[asset] + read[3].get(asset, 0) for asset in funded}
    load.reads = Reads()  # the set-up read is not part of the run
    return load


async def load_and_perturb(load: Workload, injector: Injector, schedule: list[Fault],
                           o: Options) -> None:
    loader = asyncio.create_task(load.run(o.clients))
    try:
        await injector.follow(schedule)
        await sleep_until(injector.t0 + o.duration)
    finally:
        load.stop.set()
        await loader  # in-flight operations finish (bounded by their timeouts) and are classified


# ---- wait for convergence ------------------------------------------------------------------------

async def statuses(session: aiohttp.ClientSession, urls: dict[str, str]) -> dict[str, dict | None]:
    async def one(url: str) -> dict | None:
        try:
            return (await call(session, "GET", f"{url}/v1/status", READ_TIMEOUT))[1]
        except NO_ANSWER:
            return None
    docs = await asyncio.gather(*(one(u) for u in urls.values()))
    return dict(zip(urls, docs, strict=True))


def tips(st: dict[str, dict | None]) -> set:
    return {(s["height"], s["block_hash"], s["state_hash"]) if s else None for s in st.values()}


async def wait_converged(session: aiohttp.ClientSession, urls: dict[str, str], timeout: float,
                         since: float) -> tuple[float | None, dict]:
    """Seconds from `since` until every node serves the same (height, block hash, state hash),
    seen twice in a row half a second apart (so late commits have settled); None at the timeout."""
    last: set = set()
    first_seen = 0.0
    st: dict = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = await statuses(session, urls)
        now = tips(st)
        if len(now) == 1 and None not in now:
            if now == last:
                return round(first_seen - since, 2), st
            first_seen = time.monotonic()
        last = now
        await asyncio.sleep(0.5)
    return None, st


# ---- check ---------------------------------------------------------------------------------------

async def final_reads_and_replays(session: aiohttp.ClientSession, load: Workload,
                                  urls: dict[str, str]) -> list[inv.NodeChain]:
    """One more balance read per node, now that nothing moves; then every node's chain replayed,
    and every node asked about every acknowledged tx."""
    for name in urls:
        for _ in range(5):  # a late commit can still move the height: a few tries
            read = await load.read_balances(name)
            if read is not None:
                load.check_read(*read)
                break
    chains = list(await asyncio.gather(*(asyncio.to_thread(inv.replay_node, n, u)
                                         for n, u in urls.items())))
    acked = [op.hash for op in load.ops if op.height is not None]
    await asyncio.gather(*(inv.read_tx_index(session, urls[c.name], acked, c) for c in chains))
    return chains


def write_history(path: str, ops: list[Op]) -> None:
    """Every operation and its outcome, in the order the clients started them."""
    with open(path, "w") as f:
        for op in ops:
            f.write(json.dumps(asdict(op)) + "\n")
