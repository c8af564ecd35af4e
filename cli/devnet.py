"""lichen devnet: a local network of node daemons in one folder (default ./.devnet).

The commands parse options, call devnet.network and print; the folder's layout is described
there.
"""
from __future__ import annotations

import click
from rich.table import Table

from devnet import hosts, network
from devnet.network import MAX_INSTITUTIONS, SIGNALS, Devnet, NodeStatus
from node.server.logs import FORMATS as LOG_FORMATS

from .common import DEFAULT_DEVNET, console, emit_json, json_option
from .render import short


def dir_option(f):
    return click.option("--dir", "dir_", default=DEFAULT_DEVNET, show_default=True,
                        type=click.Path(file_okay=False), help="The devnet folder (LICHEN_DEVNET sets the default).")(f)


def print_status(rows: list[NodeStatus]) -> None:
    t = Table("node", "pid", "alive", "role", "term", "height", "block", "state", "pool",
              title="devnet", title_justify="left")
    for r in rows:
        alive = "[green]yes[/]" if r.alive else "[red]no[/]"
        if r.serving:
            s = r.status
            t.add_row(r.name, str(r.pid), alive, s["role"], str(s["term"]), str(s["height"]),
                      short(s["block_hash"], 8), short(s["state_hash"], 8), str(s["mempool_size"]))
        else:
            t.add_row(r.name, str(r.pid), alive, "[red]down[/]", "-", "-", "-", "-", "-")
    console.print(t)


def show_status(rows: list[NodeStatus], as_json: bool) -> None:
    if as_json:
        emit_json([r.to_json() for r in rows])
    else:
        print_status(rows)


@click.group()
def devnet() -> None:
    """Run a local multi-node network for development and testing."""


@devnet.command("up")
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, MAX_INSTITUTIONS),
              help="Validator nodes (Raft voters).")
@click.option("--observers", default=0, show_default=True,
              type=click.IntRange(0, MAX_INSTITUTIONS - 1),
              help="Observer nodes in addition (e.g. a regulator's or an auditor's): they follow "
                   "and verify the chain but never vote.")
@click.option("--base-port", default=network.DEFAULT_BASE_PORT, show_default=True,
              type=click.IntRange(1024, 65000))
@click.option("--license-policy", type=click.Choice(["regulator", "majority"]), default="regulator",
              show_default=True,
              help="Who changes licenses: the regulator, or a validator majority "
                                      "(lichen governance propose/approve).")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for the network.")
@click.option("--insecure", is_flag=True,
              help="Plain http and ws peer links (no devnet CA), for debugging with plain tools.")
@click.option("--hosts", "on_hosts", is_flag=True,
              help="Every node on its own host: a Linux network namespace with its own address "
                   "on a bridge (needs root and iproute2). Partition, lossy, heal and chaos then "
                   "act on the network itself.")
@click.option("--latency", default=0.0, show_default=True, type=click.FloatRange(0, 5000),
              help="With --hosts: one-way delay between two hosts, in ms.")
@click.option("--jitter", default=0.0, show_default=True, type=click.FloatRange(0, 5000),
              help="With --hosts: ± this many ms on the delay.")
@click.option("--loss", default=0.0, show_default=True, type=click.FloatRange(0, 100),
              help="With --hosts: percent of packets lost between two hosts.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              help="The nodes' log lines: text, or one JSON object per line.")
@dir_option
@json_option
def up(nodes, observers, base_port, license_policy, timeout, insecure, on_hosts, latency, jitter,
       loss, log_format, dir_, as_json) -> None:
    """Create fresh keys and genesis (and a devnet CA with a certificate per node, unless
    --insecure), start the daemons, wait until blocks can commit."""
    if not on_hosts and (latency or jitter or loss):
        raise click.UsageError("--latency, --jitter and --loss need --hosts")
    net = Devnet(dir_)
    shape = network.HostsOptions(latency, jitter, loss) if on_hosts else None
    rows = network.up(net, nodes, observers, base_port, license_policy, timeout,
                      tls=not insecure, on_hosts=shape, log_format=log_format)
    show_status(rows, as_json)
    if not as_json:
        for r in rows:
            console.print(f"{r.name}: {r.url}", highlight=False)
        manifest = net.load()
        if manifest.hosts is not None:
            console.print(hosts.describe(manifest.hosts), highlight=False)
        tls = (f"TLS 1.3, devnet CA {dir_}/tls/ca.crt" if net.tls() else
               "[yellow]insecure: plain http[/]")
        console.print(f"devnet up in {dir_} ({tls}); keys in {dir_}/keys; "
                      f"`lichen devnet down` to stop it.", highlight=False)


@devnet.command("status")
@dir_option
@json_option
def status(dir_, as_json) -> None:
    """Per node: pid, alive, role, term, height, block and state hashes, pool size."""
    net = Devnet(dir_)
    show_status(network.collect_status(net, net.load()), as_json)


@devnet.command("down")
@dir_option
def down(dir_) -> None:
    """Stop every node of the devnet (TERM, then KILL after 5 s). Files are kept."""
    if network.down(Devnet(dir_)):
        console.print(f"devnet in {dir_} stopped")
    else:
        console.print(f"no devnet in {dir_}")


@devnet.command("logs")
@click.argument("name")
@click.option("--lines", "-n", default=50, show_default=True)
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing lines as the node writes them (like tail -f); Ctrl-C ends it.")
@dir_option
def logs(name, lines, follow, dir_) -> None:
    """Print the end of a node's log."""
    if not follow:
        click.echo(network.log_of(Devnet(dir_), name, lines))
        return
    try:
        network.follow_log(Devnet(dir_), name, lines, lambda line: click.echo(line))
    except KeyboardInterrupt:
        pass


@devnet.command("kill")
@click.argument("name")
@click.option("--signal", "sig", default="KILL", show_default=True,
              type=click.Choice(list(SIGNALS)))
@dir_option
def kill(name, sig, dir_) -> None:
    """Send a signal to a node (KILL by default; STOP/CONT pause and resume it)."""
    n = network.kill(Devnet(dir_), name, sig)
    console.print(f"sent {sig} to {name} (pid {n.pid})")


@devnet.command("start")
@click.argument("name")
@click.option("--timeout", default=20.0, show_default=True)
@dir_option
def start(name, timeout, dir_) -> None:
    """Start a stopped node again; it resumes from its last committed block."""
    started = network.start(Devnet(dir_), name, timeout)
    console.print(f"{name} started (pid {started.pid}) at height {started.height}")


@devnet.command("seed")
@click.option("--accounts", required=True, type=click.IntRange(1, 10_000_000),
              help="How many customer accounts to attest and fund.")
@click.option("--start", default=0, show_default=True, type=click.IntRange(min=0),
              help="The first account's index (accounts are derived from their index: a "
                   "second run with --start N adds N.. rather than repeating 0..).")
@dir_option
@json_option
def seed_cmd(accounts, start, dir_, as_json) -> None:
    """Attest and fund many customer accounts through the normal transaction path (KYC by
    inst0, funds issued by inst0), in pipelined blocks of 1,000 accounts: to try a node at a
    bank's scale."""
    from devnet.seed import run_seed

    def progress(done: int) -> None:
        if not as_json and (done % 50_000 == 0 or done == accounts):
            console.print(f"  {done:,} accounts attested and funded", highlight=False)

    r = run_seed(Devnet(dir_), accounts, start, progress)
    if as_json:
        emit_json({"accounts": r.accounts, "txs": r.txs, "seconds": round(r.seconds, 1),
                   "txs_per_s": round(r.txs_per_s), "height": r.height})
    else:
        console.print(f"seeded {r.accounts:,} accounts ({r.txs:,} transactions) in "
                      f"{r.seconds:,.0f} s, {r.txs_per_s:,.0f} tx/s; height {r.height}",
                      highlight=False)


# ---- faults (devnet mode only) -------------------------------------------------------------------

@devnet.command("partition")
@click.argument("names", nargs=-1, required=True)
@click.option("--from", "from_", multiple=True,
              help="Cut only from these nodes (default: from all others).")
@dir_option
def partition(names, from_, dir_) -> None:
    """Cut NAMES off from the rest (or from --from nodes), in both directions (on a --hosts
    devnet: every packet between them dropped at the IP layer)."""
    net = Devnet(dir_)
    others = network.partition(net, names, from_)
    console.print(f"cut {', '.join(names)} off from {', '.join(others)} "
                  f"({network.fault_kind(net.load())})")


@devnet.command("lossy")
@click.argument("name")
@click.option("--drop", required=True, type=click.FloatRange(0, 1),
              help="Fraction of frames to drop.")
@dir_option
def lossy(name, drop, dir_) -> None:
    """Make NAME drop a fraction of the frames it sends and receives."""
    net = Devnet(dir_)
    network.lossy(net, name, drop)
    what = "packets" if network.fault_kind(net.load()) == "network" else "frames"
    console.print(f"{name} now drops {drop:.0%} of its peer {what}")


@devnet.command("heal")
@dir_option
def heal(dir_) -> None:
    """Remove every partition and lossy link."""
    network.heal(Devnet(dir_))
    console.print("healed: every link is whole again")


@devnet.command("delay")
@click.argument("names", nargs=-1, required=True)
@click.option("--latency", required=True, type=click.FloatRange(0, 5000),
              help="One-way delay of the nodes' outgoing packets, in ms.")
@click.option("--jitter", default=0.0, show_default=True, type=click.FloatRange(0, 5000))
@dir_option
def delay(names, latency, jitter, dir_) -> None:
    """On a --hosts devnet with --latency: set NAMES' delay now (a latency spike); `heal`
    puts the configured delay back."""
    network.delay(Devnet(dir_), names, latency, jitter)
    console.print(f"{', '.join(names)}: {latency:g} ms (± {jitter:g} ms) one-way delay")


# ---- growing the network and handing leadership over ---------------------------------------------

@devnet.command("add-node")
@click.option("--role", type=click.Choice(["validator", "observer"]), default="validator",
              show_default=True)
@click.option("--timeout", default=30.0, show_default=True)
@dir_option
def add_node(role, timeout, dir_) -> None:
    """License the next institution of the genesis for ROLE (as the regulator) and start its node.

    A new validator joins as a non-voting learner, catches up, and is then promoted to voter.
    """
    joined = network.add_node(Devnet(dir_), role, timeout, say=console.print)
    console.print(f"{joined.name} ({joined.institution}) joined as "
                  f"{'a voter' if joined.as_voter else 'an observer'} at height {joined.height}")


@devnet.command("transfer-leader")
@click.argument("name")
@click.option("--timeout", default=10.0, show_default=True)
@dir_option
def transfer_leader(name, timeout, dir_) -> None:
    """Hand leadership to NAME (for maintenance of the current leader)."""
    handover = network.transfer_leader(Devnet(dir_), name, timeout)
    if handover.after_ms is None:
        console.print(f"{name} is already the leader")
    else:
        console.print(f"{name} is leader after {handover.after_ms:.0f} ms "
                      f"(was {handover.previous})")



@devnet.command("rotate-key")
@click.argument("name")
@click.option("--which", type=click.Choice(["node"]), default="node", show_default=True,
              help="The node key (an authority key: `lichen keys rotate --which authority`).")
@click.option("--timeout", default=30.0, show_default=True)
@dir_option
def rotate_key(name, which, timeout, dir_) -> None:
    """Replace NAME's node key: a new key file, the regulator's key_rotate, NAME stopped, its
    key file replaced, NAME started; it rejoins under its new id."""
    rotated = network.rotate_node_key(Devnet(dir_), name, timeout, say=console.print)
    console.print(f"{name} rejoined as {rotated.new_id[:16]}… (was {rotated.old_id[:16]}…); "
                  f"the old key stopped counting at height {rotated.height}")
