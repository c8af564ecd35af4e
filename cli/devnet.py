"""lichen devnet: a local network of node daemons in one folder (default ./.devnet).

    .devnet/devnet.json     the nodes: name, url, config, pid
    .devnet/genesis.json    shared by every node
    .devnet/keys/*.key      regulator, institutions (inst0..), customers alice, bob, carol
    .devnet/node0/          config.json, data (LevelDB), node.log
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
from rich.table import Table

from devnet import key_names, make_genesis
from node.server.config import NodeConfig
from node.ledger.crypto import KeyPair

from .client import ApiError, Client
from .common import DEFAULT_DEVNET, console, emit_json, json_option
from .render import short

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "STOP": signal.SIGSTOP, "CONT": signal.SIGCONT}


def dir_option(f):
    return click.option("--dir", "dir_", default=DEFAULT_DEVNET, show_default=True,
                        type=click.Path(file_okay=False), help="The devnet folder.")(f)


class Devnet:
    """The devnet folder and its processes."""

    def __init__(self, dir_: str | Path):
        self.dir = Path(dir_)
        self.file = self.dir / "devnet.json"

    def exists(self) -> bool:
        return self.file.exists()

    def load(self) -> dict:
        if not self.exists():
            raise click.ClickException(f"no devnet in {self.dir}; start one with `lichen devnet up`")
        return json.loads(self.file.read_text())

    def save(self, doc: dict) -> None:
        """Write devnet.json whole or not at all: other commands may be reading it."""
        tmp = self.file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, self.file)

    def node(self, doc: dict, name: str) -> dict:
        for n in doc["nodes"]:
            if n["name"] == name:
                return n
        raise click.ClickException(f"no node {name!r}; nodes are {', '.join(n['name'] for n in doc['nodes'])}")

    def alive(self, n: dict) -> bool:
        return pid_alive(n.get("pid"))

    def log_tail(self, name: str, lines: int = 8) -> str:
        path = self.dir / name / "node.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""

    def start(self, n: dict) -> int:
        log = open(self.dir / n["name"] / "node.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "node", "run", "--config", n["config"]],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent)
        log.close()
        return proc.pid


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


@click.group()
def devnet() -> None:
    """Run a local multi-node network for development and testing."""


@devnet.command("up")
@click.option("--nodes", default=3, show_default=True, type=click.IntRange(1, 7),
              help="Validator nodes (Raft voters).")
@click.option("--observers", default=0, show_default=True, type=click.IntRange(0, 6),
              help="Observer nodes in addition (e.g. a regulator's or an auditor's): they follow "
                   "and verify the chain but never vote.")
@click.option("--base-port", default=7100, show_default=True, type=click.IntRange(1024, 65000))
@click.option("--license-policy", type=click.Choice(["regulator", "majority"]), default="regulator",
              show_default=True, help="Who changes licenses: the regulator, or a validator majority "
                                      "(lichen governance propose/approve).")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for the network.")
@dir_option
@json_option
def up(nodes, observers, base_port, license_policy, timeout, dir_, as_json) -> None:
    """Create fresh keys and genesis, start the daemons, wait until blocks can commit."""
    net = Devnet(dir_)
    if net.exists() and any(net.alive(n) for n in net.load()["nodes"]):
        raise click.ClickException(f"a devnet is already running in {dir_}; `lichen devnet down --dir {dir_}` first")
    if nodes + observers > MAX_INSTITUTIONS:
        raise click.ClickException(f"the devnet genesis has {MAX_INSTITUTIONS} institutions: "
                                   f"--nodes plus --observers is at most that")
    taken = [p for p in range(base_port, base_port + nodes + observers) if not port_free("127.0.0.1", p)]
    if taken:
        raise click.ClickException(f"port {taken[0]} is in use; stop what uses it or pass --base-port")
    if net.dir.exists():
        shutil.rmtree(net.dir)
    doc = create_files(net, nodes, observers, base_port, license_policy)
    for n in doc["nodes"]:
        n["pid"] = net.start(n)
    net.save(doc)
    wait_ready(net, doc, timeout)
    if as_json:
        emit_json(collect_status(net, doc))
    else:
        print_status(collect_status(net, doc))
        console.print(f"devnet up in {dir_}; keys in {dir_}/keys; `lichen devnet down` to stop it.")


MAX_INSTITUTIONS = 7  # the template's; the ones without a node can join later (add-node)


def create_files(net: Devnet, validators: int, observers: int, base_port: int,
                 license_policy: str = "regulator") -> dict:
    net.dir.mkdir(parents=True)
    keys = {name: KeyPair.generate() for name in key_names(MAX_INSTITUTIONS)}
    for name, kp in keys.items():
        kp.save(net.dir / "keys" / f"{name}.key", name)
    urls = [f"http://127.0.0.1:{base_port + i}" for i in range(MAX_INSTITUTIONS)]
    nodes = validators + observers
    genesis = make_genesis(keys, urls[:nodes], int(time.time() * 1000), observers,
                           spare_urls=urls[nodes:], license_policy=license_policy)
    genesis.save(net.dir / "genesis.json")
    token = secrets.token_hex(16)
    (net.dir / "admin.token").write_text(token + "\n")
    doc = {"chain_id": genesis.chain_id.hex(), "base_port": base_port, "nodes": []}
    for i in range(nodes):
        doc["nodes"].append(write_node_files(net, i, keys[f"inst{i}"].address_hex, base_port, token))
    return doc


def write_node_files(net: Devnet, i: int, node_id: str, base_port: int, token: str) -> dict:
    """node<i>/config.json for institution inst<i>; returns its devnet.json entry."""
    name = f"node{i}"
    folder = net.dir / name
    folder.mkdir()
    config = NodeConfig(name=name, key_file=f"../keys/inst{i}.key", genesis="../genesis.json",
                        data_dir=".", listen=f"127.0.0.1:{base_port + i}", devnet=True,
                        admin_token=token)
    config.save(folder / "config.json")
    return {"name": name, "institution": f"inst{i}", "url": f"http://127.0.0.1:{base_port + i}",
            "node_id": node_id, "config": str((folder / "config.json").resolve()), "pid": None}


def wait_ready(net: Devnet, doc: dict, timeout: float) -> None:
    """Until every node serves and one of them is leader; fail fast if a daemon dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = []
        for n in doc["nodes"]:
            if not net.alive(n):
                raise click.ClickException(f"{n['name']} exited during start-up; its log ends:\n"
                                           f"{net.log_tail(n['name'])}")
            try:
                statuses.append(Client(n["url"], timeout=1).status())
            except ApiError:
                statuses.append(None)
        if all(statuses) and any(s["role"] == "leader" for s in statuses):
            return
        time.sleep(0.2)
    raise click.ClickException(f"the devnet did not elect a leader within {timeout:.0f}s; see `lichen devnet logs NODE`")


def collect_status(net: Devnet, doc: dict) -> list[dict]:
    rows = []
    for n in doc["nodes"]:
        row = {"name": n["name"], "institution": n["institution"], "url": n["url"],
               "pid": n.get("pid"), "alive": net.alive(n)}
        try:
            row.update(Client(n["url"], timeout=2).status())
            row["serving"] = True
        except ApiError:
            row["serving"] = False
        rows.append(row)
    return rows


def print_status(rows: list[dict]) -> None:
    t = Table("node", "pid", "alive", "role", "term", "height", "block", "state", "pool",
              title="devnet", title_justify="left")
    for r in rows:
        alive = "[green]yes[/]" if r["alive"] else "[red]no[/]"
        if r["serving"]:
            t.add_row(r["name"], str(r["pid"]), alive, r["role"], str(r["term"]),
                      str(r["height"]), short(r["block_hash"], 8), short(r["state_hash"], 8),
                      str(r["mempool_size"]))
        else:
            t.add_row(r["name"], str(r["pid"]), alive, "[red]down[/]", "-", "-", "-", "-", "-")
    console.print(t)


@devnet.command("status")
@dir_option
@json_option
def status(dir_, as_json) -> None:
    """Per node: pid, alive, role, term, height, block and state hashes, pool size."""
    net = Devnet(dir_)
    rows = collect_status(net, net.load())
    if as_json:
        emit_json(rows)
    else:
        print_status(rows)


@devnet.command("down")
@dir_option
def down(dir_) -> None:
    """Stop every node of the devnet (TERM, then KILL after 5 s). Files are kept."""
    net = Devnet(dir_)
    if not net.exists():
        console.print(f"no devnet in {dir_}")
        return
    doc = net.load()
    for n in doc["nodes"]:
        if net.alive(n):
            os.kill(n["pid"], signal.SIGCONT)  # a paused node cannot handle TERM
            os.kill(n["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 5
    while any(net.alive(n) for n in doc["nodes"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for n in doc["nodes"]:
        if net.alive(n):
            os.kill(n["pid"], signal.SIGKILL)
        n["pid"] = None
    net.save(doc)
    console.print(f"devnet in {dir_} stopped")


@devnet.command("logs")
@click.argument("name")
@click.option("--lines", "-n", default=50, show_default=True)
@dir_option
def logs(name, lines, dir_) -> None:
    """Print the end of a node's log."""
    net = Devnet(dir_)
    net.node(net.load(), name)
    path = net.dir / name / "node.log"
    text = path.read_text() if path.exists() else ""
    click.echo("\n".join(text.splitlines()[-lines:]))


@devnet.command("kill")
@click.argument("name")
@click.option("--signal", "sig", default="KILL", show_default=True, type=click.Choice(list(SIGNALS)))
@dir_option
def kill(name, sig, dir_) -> None:
    """Send a signal to a node (KILL by default; STOP/CONT pause and resume it)."""
    net = Devnet(dir_)
    doc = net.load()
    n = net.node(doc, name)
    if not net.alive(n):
        raise click.ClickException(f"{name} is not running")
    os.kill(n["pid"], SIGNALS[sig])
    console.print(f"sent {sig} to {name} (pid {n['pid']})")


@devnet.command("start")
@click.argument("name")
@click.option("--timeout", default=20.0, show_default=True)
@dir_option
def start(name, timeout, dir_) -> None:
    """Start a stopped node again; it resumes from its last committed block."""
    net = Devnet(dir_)
    doc = net.load()
    n = net.node(doc, name)
    if net.alive(n):
        raise click.ClickException(f"{name} is already running (pid {n['pid']})")
    n["pid"] = net.start(n)
    net.save(doc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not net.alive(n):
            raise click.ClickException(f"{name} exited; its log ends:\n{net.log_tail(name)}")
        try:
            s = Client(n["url"], timeout=1).status()
            console.print(f"{name} started (pid {n['pid']}) at height {s['height']}")
            return
        except ApiError:
            time.sleep(0.2)
    raise click.ClickException(f"{name} did not start serving within {timeout:.0f}s")


# ---- faults (devnet mode only: each node's admin endpoint, with the devnet's token) ----------

def admin(net: Devnet, n: dict, body: dict) -> dict:
    return admin_call(net, n, "/v1/admin/faults", body)


def admin_call(net: Devnet, n: dict, path: str, body: dict) -> dict:
    """A node's admin endpoint, with the devnet's token."""
    token = (net.dir / "admin.token").read_text().strip()
    try:
        return Client(n["url"], timeout=3).post(path, body, headers={"Authorization": f"Bearer {token}"})
    except ApiError as err:
        raise click.ClickException(f"{n['name']}: {err}")


def running(net: Devnet, doc: dict) -> list[dict]:
    return [n for n in doc["nodes"] if net.alive(n)]


@devnet.command("partition")
@click.argument("names", nargs=-1, required=True)
@click.option("--from", "from_", multiple=True, help="Cut only from these nodes (default: from all others).")
@dir_option
def partition(names, from_, dir_) -> None:
    """Cut NAMES off from the rest (or from --from nodes), in both directions."""
    net = Devnet(dir_)
    doc = net.load()
    cut = [net.node(doc, name) for name in names]
    others = [net.node(doc, name) for name in from_] if from_ else \
        [n for n in doc["nodes"] if n["name"] not in names]
    for n in cut:
        if net.alive(n):
            admin(net, n, {"partition": [o["node_id"] for o in others]})
    for o in others:
        if net.alive(o):
            admin(net, o, {"partition": [n["node_id"] for n in cut]})
    console.print(f"cut {', '.join(names)} off from {', '.join(o['name'] for o in others)}")


@devnet.command("lossy")
@click.argument("name")
@click.option("--drop", required=True, type=click.FloatRange(0, 1), help="Fraction of frames to drop.")
@dir_option
def lossy(name, drop, dir_) -> None:
    """Make NAME drop a fraction of the frames it sends and receives."""
    net = Devnet(dir_)
    doc = net.load()
    admin(net, net.node(doc, name), {"lossy": {"peers": None, "fraction": drop}})
    console.print(f"{name} now drops {drop:.0%} of its peer frames")


@devnet.command("heal")
@dir_option
def heal(dir_) -> None:
    """Remove every partition and lossy link."""
    net = Devnet(dir_)
    doc = net.load()
    for n in running(net, doc):
        admin(net, n, {"heal": True})
    console.print("healed: every link is whole again")


# ---- growing the network and handing leadership over -----------------------------------------

@devnet.command("add-node")
@click.option("--role", type=click.Choice(["validator", "observer"]), default="validator", show_default=True)
@click.option("--timeout", default=30.0, show_default=True)
@dir_option
def add_node(role, timeout, dir_) -> None:
    """License the next institution of the genesis for ROLE (as the regulator) and start its node.

    A new validator joins as a non-voting learner, catches up, and is then promoted to voter.
    """
    net = Devnet(dir_)
    doc = net.load()
    i = len(doc["nodes"])
    if i >= MAX_INSTITUTIONS:
        raise click.ClickException(f"the devnet genesis has {MAX_INSTITUTIONS} institutions; all run nodes")
    base_port = doc.get("base_port", 7100)
    if not port_free("127.0.0.1", base_port + i):
        raise click.ClickException(f"port {base_port + i} is in use")
    live = running(net, doc)
    if not live:
        raise click.ClickException("no node is running to take the license transaction")
    result = license_new_institution(net, Client(live[0]["url"]), f"inst{i}", role)
    token = (net.dir / "admin.token").read_text().strip()
    node_id = KeyPair.load(net.dir / "keys" / f"inst{i}.key").address_hex
    n = write_node_files(net, i, node_id, base_port, token)
    doc["nodes"].append(n)
    n["pid"] = net.start(n)
    net.save(doc)
    want = "voters" if role == "validator" else "learners"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not net.alive(n):
            raise click.ClickException(f"{n['name']} exited; see `lichen devnet logs {n['name']}`")
        try:
            st = Client(n["url"], timeout=1).status()
            if node_id in st[want] and st["height"] >= result["height"]:
                console.print(f"{n['name']} (inst{i}) joined as {'a voter' if want == 'voters' else 'an observer'} "
                              f"at height {st['height']}")
                return
        except ApiError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"{n['name']} did not join as {role} within {timeout:.0f}s")


def license_new_institution(net: Devnet, client: Client, institution: str, role: str) -> dict:
    """The regulator grants the license; on a majority-governed chain the devnet's validator
    institutions propose and approve it instead. Returns the deciding tx's outcome."""
    from node.ledger.types import GovernanceApprove, GovernancePropose, LicenseGrant
    from .common import sign_and_submit
    genesis = json.loads((net.dir / "genesis.json").read_text())
    key = lambda name: KeyPair.load(net.dir / "keys" / f"{name}.key")  # noqa: E731

    def submit(signer: str, payload) -> dict:
        try:
            result = sign_and_submit(client, key(signer), payload, wait=True)
        except ApiError as err:
            raise click.ClickException(f"licensing {institution} failed: {err}")
        if result["status"] != "committed":
            raise click.ClickException(f"licensing {institution} failed: {result.get('code')} "
                                       f"{result.get('message', '')}")
        return result

    if genesis.get("license_policy", "regulator") == "regulator":
        result = submit("regulator", LicenseGrant(institution, role))
        console.print(f"regulator licensed {institution} as {role} (height {result['height']})")
        return result
    voters = [i["name"] for i in genesis["institutions"] if "validator" in i["roles"]]
    expires = int(time.time() * 1000) + 86_400_000
    result = submit(voters[0], GovernancePropose("license_grant", institution, role, expires))
    proposal = result["hash"]
    console.print(f"{voters[0]} proposed licensing {institution} as {role}: proposal {proposal[:16]}…")
    for approver in voters[1:]:
        if client.get(f"/v1/proposals/{proposal}")["status"] == "applied":
            break
        result = submit(approver, GovernanceApprove(bytes.fromhex(proposal)))
        console.print(f"{approver} approved (height {result['height']})")
    return result


@devnet.command("transfer-leader")
@click.argument("name")
@click.option("--timeout", default=10.0, show_default=True)
@dir_option
def transfer_leader(name, timeout, dir_) -> None:
    """Hand leadership to NAME (for maintenance of the current leader)."""
    net = Devnet(dir_)
    doc = net.load()
    target = net.node(doc, name)
    leaders = [n for n in running(net, doc) if _status_or_none(n).get("role") == "leader"]
    if not leaders:
        raise click.ClickException("no leader right now; try again in a moment")
    leader = leaders[0]
    if leader["name"] == name:
        console.print(f"{name} is already the leader")
        return
    t0 = time.monotonic()
    admin_call(net, leader, "/v1/admin/transfer-leader", {"to": target["node_id"]})
    while time.monotonic() - t0 < timeout:
        if _status_or_none(target).get("role") == "leader":
            console.print(f"{name} is leader after {(time.monotonic() - t0) * 1000:.0f} ms "
                          f"(was {leader['name']})")
            return
        time.sleep(0.02)
    raise click.ClickException(f"{name} did not become leader within {timeout:.0f}s")


def _status_or_none(n: dict) -> dict:
    try:
        return Client(n["url"], timeout=2).status()
    except ApiError:
        return {}
