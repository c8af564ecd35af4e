"""The devnet: a local network of node daemons in one folder (default ./.devnet).

    DIR/devnet.json     the nodes: name, institution, url, node id, config, pid
    DIR/genesis.json    shared by every node
    DIR/admin.token     the bearer token of every node's devnet-only admin endpoints
    DIR/keys/*.key      regulator, institutions (inst0.. their authority keys, inst0-node..
                        their node keys), customers alice, bob, carol; all mode 0600
    DIR/tls/ca.crt      the devnet CA (and ca.key): every node's certificate is signed by it
    DIR/node0/          config.json, data (LevelDB), node.log, tls.crt + tls.key (its cert)

Node i serves its HTTP API on base_port + i and its peers on base_port + PEER_PORT_OFFSET + i
(config `peer_listen`, genesis `peer_address`), so clients holding every API connection slot
cannot keep the validators apart. By default the nodes serve https (and their peers dial wss), verified against the devnet CA;
`lichen devnet up --insecure` makes a plain-http devnet, for debugging with plain tools.

Every function here either returns a typed result or raises DevnetError with a sentence that
says what to do. Daemons are `lichen node run --config ...` processes in their own session, so
a terminal's Ctrl-C does not reach them.
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from node.ledger.crypto import KeyPair
from node.ledger.types import (
    GovernanceApprove,
    GovernancePropose,
    KeyKind,
    KeyRotate,
    LicenseGrant,
    Payload,
)
from node.server.config import NodeConfig
from node.server.tls import Issued, make_ca, make_node_cert

from . import hosts
from .client import ApiError, Client, sign_and_submit, trust
from .errors import DevnetError
from .genesis import key_names, make_genesis, node_key_name, node_key_names

MAX_INSTITUTIONS = 7  # the template's; the ones without a node can join later (add-node)
DEFAULT_BASE_PORT = 7100
PEER_PORT_OFFSET = 100  # node i's peer listener: base_port + PEER_PORT_OFFSET + i
HOST = "127.0.0.1"
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "STOP": signal.SIGSTOP,
           "CONT": signal.SIGCONT}
REPO = Path(__file__).resolve().parent.parent  # daemons run from here, as `python -m cli.main`
DAY_MS = 86_400_000

Say = Callable[[str], object]  # a line of progress for the operator


# ---- devnet.json ---------------------------------------------------------------------------------

@dataclass
class NodeEntry:
    """One node of devnet.json (the field order is the file's key order)."""
    name: str  # node0, node1, ...
    institution: str  # inst0, inst1, ...: the institution whose node key it runs
    url: str  # its HTTP API (and peer) address
    node_id: str  # its node key's address, hex
    config: str  # absolute path of its config.json
    pid: int | None = None  # the daemon's, while it runs
    netns: str | None = None  # on a --hosts devnet: the network namespace it runs in

    @classmethod
    def from_json(cls, doc: dict) -> NodeEntry:
        return cls(doc["name"], doc["institution"], doc["url"], doc["node_id"], doc["config"],
                   doc.get("pid"), doc.get("netns"))


@dataclass
class Manifest:
    """devnet.json: the chain and its nodes."""
    chain_id: str
    base_port: int  # node i listens on base_port + i
    nodes: list[NodeEntry]
    hosts: hosts.HostsState | None = None  # a --hosts devnet's namespaces, WAN shape, faults

    def to_json(self) -> dict:
        doc = {"chain_id": self.chain_id, "base_port": self.base_port,
               "nodes": [asdict(n) for n in self.nodes]}
        if self.hosts is not None:
            doc["hosts"] = self.hosts.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> Manifest:
        state = hosts.HostsState.from_json(doc["hosts"]) if doc.get("hosts") else None
        return cls(doc["chain_id"], doc.get("base_port", DEFAULT_BASE_PORT),
                   [NodeEntry.from_json(n) for n in doc["nodes"]], state)

    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> NodeEntry:
        for n in self.nodes:
            if n.name == name:
                return n
        raise DevnetError(f"no node {name!r}; nodes are {', '.join(n.name for n in self.nodes)}")


# ---- the folder and its processes ----------------------------------------------------------------

class Devnet:
    """The devnet folder and its processes."""

    def __init__(self, dir_: str | Path):
        self.where = str(dir_)  # as the operator wrote it, for messages
        self.dir = Path(dir_)
        self.file = self.dir / "devnet.json"

    def exists(self) -> bool:
        return self.file.exists()

    @property
    def ca_file(self) -> Path:
        return self.dir / "tls" / "ca.crt"

    def tls(self) -> bool:
        """Whether the devnet's nodes serve https (it has a CA)."""
        return self.ca_file.exists()

    def load(self) -> Manifest:
        """devnet.json; the devnet's CA becomes this process's trusted CA (devnet.client.trust),
        so every tool that talks to its nodes verifies them without being told."""
        if not self.exists():
            raise DevnetError(f"no devnet in {self.dir}; start one with `lichen devnet up`")
        if self.tls():
            trust(self.ca_file)
        return Manifest.from_json(json.loads(self.file.read_text()))

    def save(self, manifest: Manifest) -> None:
        """Write devnet.json whole or not at all: other commands may be reading it."""
        tmp = self.file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
        os.replace(tmp, self.file)

    def alive(self, n: NodeEntry) -> bool:
        return pid_alive(n.pid)

    def running(self, manifest: Manifest) -> list[NodeEntry]:
        return [n for n in manifest.nodes if self.alive(n)]

    def log_path(self, name: str) -> Path:
        return self.dir / name / "node.log"

    def log_tail(self, name: str, lines: int = 8) -> str:
        path = self.log_path(name)
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def key(self, name: str) -> KeyPair:
        return KeyPair.load(self.dir / "keys" / f"{name}.key")

    def genesis_doc(self) -> dict:
        return json.loads((self.dir / "genesis.json").read_text())

    def admin_token(self) -> str:
        return (self.dir / "admin.token").read_text().strip()

    def start(self, n: NodeEntry, env: dict[str, str] | None = None) -> int:
        """Start the node's daemon, its output appended to its node.log; returns the pid. On a
        --hosts devnet it runs inside its namespace. `env`: more environment variables (the
        chaos runner's clock skew)."""
        prefix: list[str] = []
        if n.netns is not None:
            if not hosts.ns_exists(n.netns):
                raise DevnetError(f"{n.name}'s network namespace {n.netns} is gone (`lichen "
                                  f"devnet down` removes them); bring the devnet up again")
            prefix = hosts.exec_prefix(n.netns)
        with open(self.log_path(n.name), "ab") as log:
            proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "cli.main", "node", "run", "--config", n.config],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=REPO, env={**os.environ, **(env or {})})
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


def send_signal(n: NodeEntry, sig: int) -> None:
    """Signal the node's daemon (a node without a pid has none to signal)."""
    if n.pid is not None:
        os.kill(n.pid, sig)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def node_url(base_port: int, i: int, tls: bool = False, host: str = HOST) -> str:
    return f"{'https' if tls else 'http'}://{host}:{base_port + i}"


def peer_port(base_port: int, i: int) -> int:
    return base_port + PEER_PORT_OFFSET + i


def peer_url(base_port: int, i: int, tls: bool = False, host: str = HOST) -> str:
    return f"{'https' if tls else 'http'}://{host}:{peer_port(base_port, i)}"


def ports_of(base_port: int, i: int) -> tuple[int, int]:
    """Node i's API port and peer port."""
    return base_port + i, peer_port(base_port, i)


# ---- status --------------------------------------------------------------------------------------

@dataclass
class NodeStatus:
    """A node as `lichen devnet status` shows it: its process, and its /v1/status when it
    answers (`status` is then the node's document, else empty)."""
    name: str
    institution: str
    url: str
    pid: int | None
    alive: bool
    serving: bool
    status: dict

    def to_json(self) -> dict:
        return {"name": self.name, "institution": self.institution, "url": self.url,
                "pid": self.pid, "alive": self.alive, **self.status, "serving": self.serving}


def node_status(net: Devnet, n: NodeEntry) -> NodeStatus:
    try:
        status, serving = Client(n.url, timeout=2).status(), True
    except ApiError:
        status, serving = {}, False
    return NodeStatus(n.name, n.institution, n.url, n.pid, net.alive(n), serving, status)


def collect_status(net: Devnet, manifest: Manifest) -> list[NodeStatus]:
    return [node_status(net, n) for n in manifest.nodes]


def status_or_empty(n: NodeEntry) -> dict:
    try:
        return Client(n.url, timeout=2).status()
    except ApiError:
        return {}


# ---- up and down ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostsOptions:
    """`lichen devnet up --hosts`: every node in its own network namespace, with this WAN."""
    latency_ms: float = 0.0  # one-way, between two hosts
    jitter_ms: float = 0.0
    loss_pct: float = 0.0


def up(net: Devnet, validators: int, observers: int, base_port: int,
       license_policy: str = "regulator", timeout: float = 30.0,
       tls: bool = True, on_hosts: HostsOptions | None = None,
       log_format: str = "text") -> list[NodeStatus]:
    """Fresh keys, genesis and configs in the folder (anything there before is deleted), the
    daemons started; returns once every node serves and one of them leads. With `tls` (the
    default) a devnet CA and a certificate per node: the API and peer links are encrypted.
    With `on_hosts`, each daemon runs in its own network namespace (devnet.hosts) and listens
    on that host's address; on a failure the namespaces are removed again.
    `log_format` "json": the nodes log one JSON object per line (node.server.logs)."""
    if on_hosts is not None:
        hosts.require()
    if net.exists() and net.running(net.load()):
        raise DevnetError(f"a devnet is already running in {net.where}; "
                          f"`lichen devnet down --dir {net.where}` first")
    if validators + observers > MAX_INSTITUTIONS:
        raise DevnetError(f"the devnet genesis has {MAX_INSTITUTIONS} institutions: "
                          f"--nodes plus --observers is at most that")
    if on_hosts is None:
        taken = [p for i in range(validators + observers) for p in ports_of(base_port, i)
                 if not port_free(HOST, p)]
        if taken:
            raise DevnetError(f"port {taken[0]} is in use; stop what uses it or pass --base-port")
    if net.exists():
        remove_hosts(net.load())  # namespaces a crashed --hosts devnet left behind
    if net.dir.exists():
        shutil.rmtree(net.dir)
    state = None
    if on_hosts is not None:
        state = hosts.plan(net.dir, on_hosts.latency_ms, on_hosts.jitter_ms, on_hosts.loss_pct)
    addresses = [state.ip(i) if state else HOST for i in range(MAX_INSTITUTIONS)]
    manifest = create_files(net, validators, observers, base_port, license_policy, tls,
                            addresses)
    if log_format != "text":
        for n in manifest.nodes:
            set_log_format(n.config, log_format)
    try:
        if state is not None:
            manifest.hosts = state
            net.save(manifest)  # before the namespaces: `devnet down` finds them if we die
            hosts.build(state, len(manifest.nodes), net.dir)
            for i, n in enumerate(manifest.nodes):
                n.netns = state.netns(i)
            hosts.apply_drops(state, manifest.names())
        if tls:
            trust(net.ca_file)
        for n in manifest.nodes:
            n.pid = net.start(n)
        net.save(manifest)
        wait_ready(net, manifest, timeout)
    except BaseException:
        if state is not None:
            stop_all(net, manifest, grace=1.0)
            hosts.teardown(state)
            net.save(manifest)
        raise
    return collect_status(net, manifest)


def remove_hosts(manifest: Manifest) -> None:
    if manifest.hosts is not None:
        hosts.require()
        hosts.teardown(manifest.hosts)


def create_files(net: Devnet, validators: int, observers: int, base_port: int,
                 license_policy: str = "regulator", tls: bool = False,
                 addresses: Sequence[str] = (HOST,) * MAX_INSTITUTIONS) -> Manifest:
    """Keys for every name of the template, the genesis, the admin token, the CA (with `tls`),
    each node's folder. Institution i's node serves on `addresses[i]` (the genesis names its
    API and peer URLs there)."""
    net.dir.mkdir(parents=True)
    if tls:
        (net.dir / "tls").mkdir()
        make_ca().save(net.ca_file, net.dir / "tls" / "ca.key")
    names = key_names(MAX_INSTITUTIONS) + node_key_names(MAX_INSTITUTIONS)
    keys = {name: KeyPair.generate() for name in names}
    for name, kp in keys.items():
        kp.save(net.dir / "keys" / f"{name}.key", name)
    urls = [node_url(base_port, i, tls, addresses[i]) for i in range(MAX_INSTITUTIONS)]
    nodes = validators + observers
    genesis = make_genesis(keys, urls[:nodes], int(time.time() * 1000), observers,
                           spare_urls=urls[nodes:], license_policy=license_policy,
                           peer_urls=[peer_url(base_port, i, tls, addresses[i])
                                      for i in range(MAX_INSTITUTIONS)])
    genesis.save(net.dir / "genesis.json")
    token = secrets.token_hex(16)
    (net.dir / "admin.token").write_text(token + "\n")
    return Manifest(genesis.chain_id.hex(), base_port,
                    [write_node_files(net, i, keys[node_key_name(f"inst{i}")].address_hex, base_port,
                                      token, addresses[i])
                     for i in range(nodes)])


def write_node_files(net: Devnet, i: int, node_id: str, base_port: int, token: str,
                     host: str = HOST) -> NodeEntry:
    """node<i>/config.json for institution inst<i>, serving on `host`; returns its devnet.json
    entry."""
    name = f"node{i}"
    folder = net.dir / name
    folder.mkdir()
    tls = {}
    if net.tls():
        node_cert(net, name, host).save(folder / "tls.crt", folder / "tls.key")
        tls = {"tls_cert": "tls.crt", "tls_key": "tls.key", "tls_ca": "../tls/ca.crt"}
    config = NodeConfig(name=name, key_file=f"../keys/{node_key_name(f'inst{i}')}.key",
                        genesis="../genesis.json", data_dir=".", listen=f"{host}:{base_port + i}",
                        peer_listen=f"{host}:{peer_port(base_port, i)}", devnet=True,
                        admin_token=token, **tls)
    config.save(folder / "config.json")
    return NodeEntry(name, f"inst{i}", node_url(base_port, i, net.tls(), host), node_id,
                     str((folder / "config.json").resolve()))


def set_log_format(config_path: str, log_format: str) -> None:
    """Set a node config's log_format, keeping the rest as written."""
    doc = json.loads(Path(config_path).read_text())
    doc["log_format"] = log_format
    Path(config_path).write_text(json.dumps(doc, indent=2) + "\n")


def node_cert(net: Devnet, name: str, host: str = HOST) -> Issued:
    """A certificate for the node's host (and localhost), signed by the devnet CA."""
    ca = Issued(net.ca_file.read_bytes(), (net.dir / "tls" / "ca.key").read_bytes())
    return make_node_cert(ca, name, [host])


def wait_ready(net: Devnet, manifest: Manifest, timeout: float) -> None:
    """Until every node serves and one of them is leader; fail fast if a daemon dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        serving = []
        for n in manifest.nodes:
            if not net.alive(n):
                raise DevnetError(f"{n.name} exited during start-up; its log ends:\n"
                                  f"{net.log_tail(n.name)}")
            try:
                serving.append(Client(n.url, timeout=1).status())
            except ApiError:
                pass  # not serving yet
        if len(serving) == len(manifest.nodes) and any(s["role"] == "leader" for s in serving):
            return
        time.sleep(0.2)
    raise DevnetError(f"the devnet did not elect a leader within {timeout:.0f}s; "
                      f"see `lichen devnet logs NODE`")


def down(net: Devnet, grace: float = 5.0) -> bool:
    """Stop every node (TERM, then KILL after `grace` seconds); the files stay. A --hosts
    devnet's namespaces, veths and bridge are removed. False when there is no devnet in the
    folder."""
    if not net.exists():
        return False
    manifest = net.load()
    stop_all(net, manifest, grace)
    remove_hosts(manifest)
    net.save(manifest)
    return True


def stop_all(net: Devnet, manifest: Manifest, grace: float) -> None:
    for n in net.running(manifest):
        send_signal(n, signal.SIGCONT)  # a paused node cannot handle TERM
        send_signal(n, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while net.running(manifest) and time.monotonic() < deadline:
        time.sleep(0.1)
    for n in manifest.nodes:
        if net.alive(n):
            send_signal(n, signal.SIGKILL)
        n.pid = None


# ---- one node ------------------------------------------------------------------------------------

def log_of(net: Devnet, name: str, lines: int) -> str:
    """The last `lines` lines of the node's log."""
    net.load().node(name)
    path = net.log_path(name)
    text = path.read_text() if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def follow_log(net: Devnet, name: str, lines: int, out: Callable[[str], object],
               poll_s: float = 0.2, stop: Callable[[], bool] = lambda: False) -> None:
    """Like `tail -f`: the last `lines` lines, then each line as the node appends it, until
    `stop()` (or Ctrl-C in the caller). A log truncated or replaced is read again from its start."""
    net.load().node(name)
    path = net.log_path(name)
    for line in log_of(net, name, lines).splitlines():
        out(line)
    offset = path.stat().st_size if path.exists() else 0
    partial = b""
    while not stop():
        size = path.stat().st_size if path.exists() else 0
        if size < offset:  # truncated or a new file: from its start
            offset, partial = 0, b""
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            offset += len(chunk)
            *done, partial = (partial + chunk).split(b"\n")
            for line in done:
                out(line.decode("utf-8", "replace"))
        else:
            time.sleep(poll_s)


def kill(net: Devnet, name: str, sig: str = "KILL") -> NodeEntry:
    """Send a signal (a name of SIGNALS) to a running node; returns the node signalled."""
    n = net.load().node(name)
    if not net.alive(n):
        raise DevnetError(f"{name} is not running")
    send_signal(n, SIGNALS[sig])
    return n


@dataclass
class Started:
    pid: int
    height: int  # where it resumed


def start(net: Devnet, name: str, timeout: float = 20.0) -> Started:
    """Start a stopped node again and wait until it serves; it resumes from its store."""
    manifest = net.load()
    n = manifest.node(name)
    if net.alive(n):
        raise DevnetError(f"{name} is already running (pid {n.pid})")
    n.pid = net.start(n)
    net.save(manifest)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not net.alive(n):
            raise DevnetError(f"{name} exited; its log ends:\n{net.log_tail(name)}")
        try:
            return Started(n.pid, Client(n.url, timeout=1).status()["height"])
        except ApiError:
            time.sleep(0.2)
    raise DevnetError(f"{name} did not start serving within {timeout:.0f}s")


# ---- faults (devnet mode only: each node's admin endpoint, with the devnet's token) --------------

def admin_call(net: Devnet, n: NodeEntry, path: str, body: dict) -> dict:
    """A node's admin endpoint, with the devnet's token."""
    try:
        return Client(n.url, timeout=3).post(
            path, body, headers={"Authorization": f"Bearer {net.admin_token()}"})
    except ApiError as err:
        raise DevnetError(f"{n.name}: {err}") from None


def set_faults(net: Devnet, n: NodeEntry, body: dict) -> dict:
    """The node's peer-link fault filter: {"partition": [node ids]}, {"lossy": {...}} or
    {"heal": true}."""
    return admin_call(net, n, "/v1/admin/faults", body)


def partition(net: Devnet, names: Sequence[str], from_: Sequence[str] = ()) -> list[str]:
    """Cut `names` off from `from_` (default: every other node), in both directions; returns
    the names of the nodes they are cut off from. On a --hosts devnet at the IP layer (every
    packet between them dropped), else by the nodes' fault filters."""
    manifest = net.load()
    cut = [manifest.node(name) for name in names]
    others = ([manifest.node(name) for name in from_] if from_ else
              [n for n in manifest.nodes if n.name not in names])
    if manifest.hosts is not None:
        hosts.cut(manifest.hosts, [n.name for n in cut], [o.name for o in others],
                  manifest.names())
        net.save(manifest)
        return [o.name for o in others]
    for n in cut:
        if net.alive(n):
            set_faults(net, n, {"partition": [o.node_id for o in others]})
    for o in others:
        if net.alive(o):
            set_faults(net, o, {"partition": [n.node_id for n in cut]})
    return [o.name for o in others]


def lossy(net: Devnet, name: str, drop: float) -> None:
    """Make the node drop a fraction of the frames (on a --hosts devnet: the packets) it sends
    to and receives from its peers."""
    manifest = net.load()
    n = manifest.node(name)
    if manifest.hosts is not None:
        hosts.make_lossy(manifest.hosts, n.name, drop, manifest.names())
        net.save(manifest)
        return
    set_faults(net, n, {"lossy": {"peers": None, "fraction": drop}})


def heal(net: Devnet) -> None:
    """Remove every partition and lossy link (and latency spike) of the running nodes."""
    manifest = net.load()
    if manifest.hosts is not None:
        hosts.heal(manifest.hosts, manifest.names(), net.dir)
        net.save(manifest)
        return
    for n in net.running(manifest):
        set_faults(net, n, {"heal": True})


def delay(net: Devnet, names: Sequence[str], latency_ms: float, jitter_ms: float = 0.0) -> None:
    """A --hosts devnet only: the named nodes' one-way delay is now `latency_ms` (a spike;
    `heal` puts the configured delay back)."""
    manifest = net.load()
    if manifest.hosts is None:
        raise DevnetError("delay needs a devnet on separate hosts (`lichen devnet up --hosts`)")
    for name in names:
        manifest.node(name)
    hosts.set_delay(manifest.hosts, list(names), latency_ms, jitter_ms, net.dir)


def fault_kind(manifest: Manifest) -> str:
    """How this devnet's link faults are made: "network" (packets dropped and delayed in the
    kernel, --hosts) or "fault-filter" (the nodes' own devnet fault filter)."""
    return "network" if manifest.hosts is not None else "fault-filter"


# ---- growing the network and handing leadership over ---------------------------------------------

@dataclass
class Joined:
    name: str
    institution: str
    as_voter: bool  # a validator counted among the voters; else an observer among the learners
    height: int


def add_node(net: Devnet, role: str, timeout: float = 30.0, say: Say = lambda _: None) -> Joined:
    """License the next institution of the genesis for `role` (validator or observer) and start
    its node; returns once it is a voter (or learner) and has caught up with the license."""
    manifest = net.load()
    i = len(manifest.nodes)
    if i >= MAX_INSTITUTIONS:
        raise DevnetError(f"the devnet genesis has {MAX_INSTITUTIONS} institutions; all run nodes")
    for port in ports_of(manifest.base_port, i) if manifest.hosts is None else ():
        if not port_free(HOST, port):
            raise DevnetError(f"port {port} is in use")
    live = net.running(manifest)
    if not live:
        raise DevnetError("no node is running to take the license transaction")
    institution = f"inst{i}"
    result = license_new_institution(net, Client(live[0].url), institution, role, say)
    host = manifest.hosts.ip(i) if manifest.hosts is not None else HOST
    n = write_node_files(net, i, net.key(node_key_name(institution)).address_hex, manifest.base_port,
                         net.admin_token(), host)
    if manifest.hosts is not None:
        hosts.add_host(manifest.hosts, i, net.dir)
        n.netns = manifest.hosts.netns(i)
    manifest.nodes.append(n)
    if manifest.hosts is not None:
        hosts.apply_drops(manifest.hosts, manifest.names())
    n.pid = net.start(n)
    net.save(manifest)
    want = "voters" if role == "validator" else "learners"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not net.alive(n):
            raise DevnetError(f"{n.name} exited; see `lichen devnet logs {n.name}`")
        try:
            st = Client(n.url, timeout=1).status()
            if n.node_id in st[want] and st["height"] >= result["height"]:
                return Joined(n.name, institution, want == "voters", st["height"])
        except ApiError:
            pass
        time.sleep(0.2)
    raise DevnetError(f"{n.name} did not join as {role} within {timeout:.0f}s")


def license_new_institution(net: Devnet, client: Client, institution: str, role: str,
                            say: Say = lambda _: None) -> dict:
    """The regulator grants the license; on a majority-governed chain the devnet's validator
    institutions propose and approve it instead. Returns the deciding tx's outcome."""
    genesis = net.genesis_doc()

    def submit(signer: str, payload: Payload) -> dict:
        try:
            result = sign_and_submit(client, net.key(signer), payload, wait=True)
        except ApiError as err:
            raise DevnetError(f"licensing {institution} failed: {err}") from None
        if result["status"] != "committed":
            raise DevnetError(f"licensing {institution} failed: {result.get('code')} "
                              f"{result.get('message', '')}")
        return result

    if genesis.get("license_policy", "regulator") == "regulator":
        result = submit("regulator", LicenseGrant(institution, role))
        say(f"regulator licensed {institution} as {role} (height {result['height']})")
        return result
    voters = [i["name"] for i in genesis["institutions"] if "validator" in i["roles"]]
    expires = int(time.time() * 1000) + DAY_MS
    result = submit(voters[0], GovernancePropose("license_grant", institution, role, expires))
    proposal = result["hash"]
    say(f"{voters[0]} proposed licensing {institution} as {role}: proposal {proposal[:16]}…")
    for approver in voters[1:]:
        if client.get(f"/v1/proposals/{proposal}")["status"] == "applied":
            break
        result = submit(approver, GovernanceApprove(bytes.fromhex(proposal)))
        say(f"{approver} approved (height {result['height']})")
    return result


@dataclass
class LeaderHandover:
    previous: str  # the leader before
    after_ms: float | None  # how long the handover took; None when `previous` is the target


def transfer_leader(net: Devnet, name: str, timeout: float = 10.0) -> LeaderHandover:
    """Hand leadership to the named node (for maintenance of the current leader)."""
    manifest = net.load()
    target = manifest.node(name)
    leaders = [n for n in net.running(manifest) if status_or_empty(n).get("role") == "leader"]
    if not leaders:
        raise DevnetError("no leader right now; try again in a moment")
    leader = leaders[0]
    if leader.name == name:
        return LeaderHandover(name, None)
    t0 = time.monotonic()
    admin_call(net, leader, "/v1/admin/transfer-leader", {"to": target.node_id})
    while time.monotonic() - t0 < timeout:
        if status_or_empty(target).get("role") == "leader":
            return LeaderHandover(leader.name, (time.monotonic() - t0) * 1000)
        time.sleep(0.02)
    raise DevnetError(f"{name} did not become leader within {timeout:.0f}s")


@dataclass
class Rotated:
    name: str
    old_id: str
    new_id: str
    height: int  # of the block that rotated the key


def rotate_node_key(net: Devnet, name: str, timeout: float = 30.0,
                    say: Say = lambda _: None) -> Rotated:
    """What an operator does to replace a node's key, in one step: a new key file, the
    regulator's key_rotate, the node stopped, its key file replaced (the old one kept as
    .old.key), the node started again; returns once its new id is a voter (or learner)."""
    manifest = net.load()
    n = manifest.node(name)
    live = [m for m in net.running(manifest) if m.name != name]
    if not live:
        raise DevnetError("no other node is running to take the key_rotate")
    keys_dir, key_name = net.dir / "keys", node_key_name(n.institution)
    new = KeyPair.generate()
    new.save(keys_dir / f"{key_name}.new.key", key_name)
    try:
        result = sign_and_submit(Client(live[0].url), net.key("regulator"),
                                 KeyRotate(n.institution, KeyKind.NODE, new.address), wait=True)
    except ApiError as err:
        raise DevnetError(f"key_rotate failed: {err}") from None
    if result["status"] != "committed":
        raise DevnetError(f"key_rotate failed: {result.get('code')} {result.get('message', '')}")
    say(f"regulator rotated the node key of {n.institution} (height {result['height']})")
    if net.alive(n):
        send_signal(n, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while net.alive(n) and time.monotonic() < deadline:
            time.sleep(0.1)
        if net.alive(n):
            raise DevnetError(f"{name} did not stop within {timeout:.0f}s")
    say(f"stopped {name}; its key file now holds the new key (the old one: {key_name}.old.key)")
    (keys_dir / f"{key_name}.key").replace(keys_dir / f"{key_name}.old.key")
    (keys_dir / f"{key_name}.new.key").replace(keys_dir / f"{key_name}.key")
    old_id, n.node_id, n.pid = n.node_id, new.address_hex, None
    net.save(manifest)
    start(net, name, timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status_or_empty(live[0])
        members = set(st.get("voters", ())) | set(st.get("learners", ()))
        if n.node_id in members and old_id not in members:
            return Rotated(name, old_id, n.node_id, result["height"])
        time.sleep(0.2)
    raise DevnetError(f"{name} did not rejoin with its new key within {timeout:.0f}s")
