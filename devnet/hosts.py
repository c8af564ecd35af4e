"""Devnet nodes on separate hosts, on one machine: one Linux network namespace per node.

    root namespace                              node namespaces
    lch-<id>-br  10.A.B.1/24  (bridge) --- lch-<id>-v0 === eth0 10.A.B.2   lch-<id>-n0
                                       --- lch-<id>-v1 === eth0 10.A.B.3   lch-<id>-n1  ...

Node i lives in namespace `lch-<id>-n<i>` with address 10.A.B.(i+2) on a veth pair into the
bridge; the root namespace (the operator's CLI, the demo, the bench, the chaos runner) reaches
every node through the bridge at .1. `<id>` and the subnet come from the devnet folder's path,
so two devnets (or two tests) on one machine never share names or addresses.

What a WAN and its faults look like here, all on the real network path (the kernel's TCP sees
every delayed or dropped packet):

- Latency and jitter on each node's egress only, so a packet between two hosts is delayed once:
  one-way delay = latency. With `tc qdisc ... netem` when the kernel has it; a kernel built
  without netem (as on this project's machines: CONFIG_NET_SCH_NETEM unset, no modules) gets the
  delay line instead (devnet.delayline): `tc` redirects eth0's egress to a tap device, a small
  process holds each frame for the delay and sends it out of eth0 past the qdisc.
- Drops (a partition, a lossy link, the baseline --loss) as a classic-BPF classifier on each
  namespace's eth0 ingress (`tc filter ... bpf da`): a packet from a cut-off peer's address
  is shot, a lossy peer's with a probability. Only node-to-node traffic is filtered: the root
  namespace keeps reaching every node, as an operator's console would.

Needs root and iproute2 (`ip`, `tc`); nothing else is installed or run. Every function here
raises DevnetError with what to do.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import DevnetError

PREFIX = "lch"
NODE_DEV = "eth0"  # each namespace's end of its veth pair
TAP_DEV = "dly0"  # the delay line's tap device, in each namespace
FIRST_HOST = 2  # node i has address .(i + 2); the root namespace is .1
BPF_FILTER_PREF = 1
TC_ACT_OK, TC_ACT_SHOT = 0, 2
SKF_AD_RANDOM = 0xFFFFF000 + 56  # classic BPF's ancillary load of a random u32
REPO = Path(__file__).resolve().parent.parent


@dataclass
class HostsState:
    """devnet.json's "hosts": the namespaces, their WAN shape and the network faults in force."""
    id: str  # 4 hex digits: the names' infix
    subnet: str  # "10.A.B": the /24 of the bridge
    latency_ms: float = 0.0  # one-way delay between two hosts
    jitter_ms: float = 0.0
    loss_pct: float = 0.0  # baseline loss on every node-to-node path
    shaper: str = "none"  # how latency is made: "netem", "delayline", or "none"
    delay_pids: dict[str, int] = field(default_factory=dict)  # node name -> its delay line
    cuts: list[list[str]] = field(default_factory=list)  # node pairs cut apart, both ways
    lossy: dict[str, float] = field(default_factory=dict)  # node name -> fraction dropped

    @classmethod
    def from_json(cls, doc: dict) -> HostsState:
        return cls(**doc)

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def bridge(self) -> str:
        return f"{PREFIX}-{self.id}-br"

    @property
    def host_ip(self) -> str:
        return f"{self.subnet}.1"

    def netns(self, i: int) -> str:
        return f"{PREFIX}-{self.id}-n{i}"

    def veth(self, i: int) -> str:
        return f"{PREFIX}-{self.id}-v{i}"

    def ip(self, i: int) -> str:
        return f"{self.subnet}.{i + FIRST_HOST}"


def node_index(name: str) -> int:
    return int(name.removeprefix("node"))


# ---- preconditions and naming --------------------------------------------------------------------

def require() -> None:
    """Root and iproute2, or a sentence saying what is missing."""
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        raise DevnetError(f"--hosts needs iproute2's {' and '.join(missing)} on PATH "
                          f"(apt-get install iproute2)")
    if os.geteuid() != 0:
        raise DevnetError("--hosts makes network namespaces, which needs root: run it as root "
                          "(e.g. sudo), or leave out --hosts")


def plan(folder: Path, latency_ms: float = 0.0, jitter_ms: float = 0.0,
         loss_pct: float = 0.0) -> HostsState:
    """Names and a /24 for the devnet in `folder`: derived from its path, the subnet moved on
    while some interface of this machine already has an address in it."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).digest()
    used = subnets_in_use()
    start = int.from_bytes(digest[2:4], "big")
    for k in range(120 * 256):
        n = (start + k) % (120 * 256)
        subnet = f"10.{130 + n // 256}.{n % 256}"
        if subnet not in used:
            return HostsState(digest[:2].hex(), subnet, latency_ms, jitter_ms, loss_pct)
    raise DevnetError("no free 10.x.y.0/24 for the devnet's bridge")


def subnets_in_use() -> set[str]:
    out = ip_out("-4", "-o", "addr", "show") + ip_out("-4", "route", "show")
    return {".".join(word.split("/")[0].split(".")[:3]) for line in out.splitlines()
            for word in line.split() if word.startswith("10.")}


# ---- running ip and tc ---------------------------------------------------------------------------

def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise DevnetError(f"`{' '.join(args)}` failed: {proc.stderr.strip() or proc.returncode}")
    return proc


def ip_out(*args: str) -> str:
    return run("ip", *args, check=False).stdout


def in_ns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", "netns", "exec", ns, *args, check=check)


def ns_exists(ns: str) -> bool:
    return Path("/run/netns", ns).exists()


def exec_prefix(ns: str) -> list[str]:
    """What runs a command inside the namespace (ip netns exec execs it: the pid is its own)."""
    return ["ip", "netns", "exec", ns]


# ---- building and tearing down -------------------------------------------------------------------

def build(state: HostsState, count: int, folder: Path) -> None:
    """The bridge and `count` node namespaces, shaped; on any failure, everything made so far
    is removed again."""
    try:
        if Path("/sys/class/net", state.bridge).exists():
            raise DevnetError(f"bridge {state.bridge} exists already: another devnet from "
                              f"{folder} is up; `lichen devnet down --dir {folder}` first")
        run("ip", "link", "add", state.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{state.host_ip}/24", "dev", state.bridge)
        run("ip", "link", "set", state.bridge, "up")
        for i in range(count):
            add_host(state, i, folder)
    except BaseException:
        teardown(state)
        raise


def add_host(state: HostsState, i: int, folder: Path) -> None:
    """Namespace i with its veth pair into the bridge, its address, its shaping and filter."""
    ns, veth = state.netns(i), state.veth(i)
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", NODE_DEV, "netns", ns)
    run("ip", "link", "set", veth, "master", state.bridge)
    run("ip", "link", "set", veth, "up")
    run("ip", "-n", ns, "addr", "add", f"{state.ip(i)}/24", "dev", NODE_DEV)
    run("ip", "-n", ns, "link", "set", NODE_DEV, "up")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    in_ns(ns, "tc", "qdisc", "add", "dev", NODE_DEV, "clsact")
    if state.latency_ms or state.jitter_ms:
        shape(state, i, folder)


def teardown(state: HostsState, count: int = 16) -> None:
    """Remove the namespaces (ending what still runs in them: only this devnet's daemons and
    delay lines live there), the veths and the bridge. Safe to call twice."""
    for pid in state.delay_pids.values():
        signal_pid(pid, signal.SIGKILL)
    for i in range(count):
        ns = state.netns(i)
        if not ns_exists(ns):
            continue
        for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
            signal_pid(int(pid), signal.SIGKILL)
        run("ip", "netns", "del", ns, check=False)
    deadline = time.monotonic() + 5
    for i in range(count):  # a veth goes when its namespace's last process has gone
        while Path("/sys/class/net", state.veth(i)).exists() and time.monotonic() < deadline:
            run("ip", "link", "del", state.veth(i), check=False)
            time.sleep(0.05)
    run("ip", "link", "del", state.bridge, check=False)
    state.delay_pids.clear()


def leftovers(state: HostsState) -> list[str]:
    """Namespaces and links of this devnet still present (for tests and `down`)."""
    names = [ns for ns in run("ip", "netns", "list", check=False).stdout.split()
             if ns.startswith(f"{PREFIX}-{state.id}-")]
    links = [p.name for p in Path("/sys/class/net").iterdir()
             if p.name.startswith(f"{PREFIX}-{state.id}-")]
    return names + links


def signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ---- latency and jitter --------------------------------------------------------------------------

def shape(state: HostsState, i: int, folder: Path) -> None:
    """Delay namespace i's egress by the latency (± jitter): netem if the kernel has it, else
    the delay line."""
    ns = state.netns(i)
    netem = ["tc", "qdisc", "replace", "dev", NODE_DEV, "root", "netem",
             "delay", f"{state.latency_ms}ms", f"{state.jitter_ms}ms"]
    if state.shaper in ("none", "netem") and in_ns(ns, *netem, check=False).returncode == 0:
        state.shaper = "netem"
        return
    state.shaper = "delayline"
    run("ip", "-n", ns, "tuntap", "add", "dev", TAP_DEV, "mode", "tap")
    run("ip", "-n", ns, "link", "set", TAP_DEV, "up")
    control = delay_control(folder, i)
    write_delay(control, state.latency_ms, state.jitter_ms)
    log = open(folder / f"delayline-n{i}.log", "ab")
    proc = subprocess.Popen(
        [*exec_prefix(ns), sys.executable, "-m", "devnet.delayline", "--tap", TAP_DEV,
         "--dev", NODE_DEV, "--control", str(control)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        cwd=REPO)
    log.close()
    state.delay_pids[f"node{i}"] = proc.pid
    wait_file(control.with_suffix(".ready"), proc, folder / f"delayline-n{i}.log")
    # Only now, with the tap attached and read, does eth0's egress go through it.
    in_ns(ns, "tc", "filter", "replace", "dev", NODE_DEV, "egress", "pref", "1", "protocol",
          "all", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect",
          "dev", TAP_DEV)


def delay_control(folder: Path, i: int) -> Path:
    return folder / f"delayline-n{i}.json"


def write_delay(control: Path, latency_ms: float, jitter_ms: float) -> None:
    tmp = control.with_suffix(".tmp")
    tmp.write_text(json.dumps({"latency_ms": latency_ms, "jitter_ms": jitter_ms}))
    os.replace(tmp, control)


def wait_file(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            raise DevnetError(f"the delay line did not start; its log ends:\n{tail}")
        time.sleep(0.05)


def set_delay(state: HostsState, names: list[str], latency_ms: float, jitter_ms: float,
              folder: Path) -> None:
    """Change the named nodes' egress delay now (a latency spike, and back)."""
    for name in names:
        i = node_index(name)
        if state.shaper == "netem":
            in_ns(state.netns(i), "tc", "qdisc", "change", "dev", NODE_DEV, "root", "netem",
                  "delay", f"{latency_ms}ms", f"{jitter_ms}ms")
        elif state.shaper == "delayline":
            write_delay(delay_control(folder, i), latency_ms, jitter_ms)
            signal_pid(state.delay_pids[name], signal.SIGHUP)
        else:
            raise DevnetError("this devnet was brought up without --latency: it has no delay "
                              "to change (bring it up with --latency 0.01 to allow spikes)")


# ---- drops: partitions, lossy links, baseline loss -----------------------------------------------

def drop_table(state: HostsState, names: list[str]) -> dict[str, dict[str, float]]:
    """For each node, the fraction of packets from each peer it drops on ingress: 1 across a
    cut, else the chance that the baseline loss or either end's lossiness takes the packet."""
    cut = {frozenset(pair) for pair in state.cuts}
    table: dict[str, dict[str, float]] = {}
    for me in names:
        table[me] = {}
        for peer in names:
            if peer == me:
                continue
            if frozenset((me, peer)) in cut:
                table[me][peer] = 1.0
                continue
            keep = 1 - state.loss_pct / 100
            for end in (me, peer):
                keep *= 1 - state.lossy.get(end, 0.0)
            if keep < 1:
                table[me][peer] = 1 - keep
    return table


def ingress_program(drops: list[tuple[str, float]]) -> str:
    """Classic BPF for `tc filter ... bpf da bytecode`: IPv4 packets whose source is in
    `drops` are shot (with that probability); everything else passes. The frame starts at its
    Ethernet header: type at 12, IPv4 source at 26."""
    body: list[tuple[int, str | int, str | int, int]] = [(0x28, 0, 0, 12),  # ldh [12]
                                                         (0x15, 0, "pass", 0x0800)]
    body.append((0x20, 0, 0, 26))  # ld [26]
    for address, fraction in drops:
        src = int.from_bytes(bytes(int(o) for o in address.split(".")), "big")
        if fraction >= 1:
            body.append((0x15, "drop", 0, src))  # jeq #src -> drop
        else:
            body.append((0x15, 0, 2, src))  # jeq #src, else skip the draw
            body.append((0x20, 0, 0, SKF_AD_RANDOM))  # ld rand
            threshold = min(int(fraction * 2**32), 2**32 - 1)
            body.append((0x25, "pass", "drop", threshold))  # jgt #threshold -> pass, else drop
    program = body + [(0x06, 0, 0, TC_ACT_OK), (0x06, 0, 0, TC_ACT_SHOT)]
    at = {"pass": len(program) - 2, "drop": len(program) - 1}

    def jump(target: str | int, here: int) -> int:
        return target if isinstance(target, int) else at[target] - here - 1

    ops = [f"{code} {jump(jt, k)} {jump(jf, k)} {kk}"
           for k, (code, jt, jf, kk) in enumerate(program)]
    return ",".join([str(len(ops)), *ops])


def apply_drops(state: HostsState, names: list[str]) -> None:
    """Each namespace's ingress filter, from the cuts, the lossy nodes and the baseline loss."""
    table = drop_table(state, names)
    for me in names:
        i = node_index(me)
        if not ns_exists(state.netns(i)):
            continue
        drops = [(state.ip(node_index(peer)), f) for peer, f in sorted(table[me].items())]
        in_ns(state.netns(i), "tc", "filter", "replace", "dev", NODE_DEV, "ingress", "pref",
              str(BPF_FILTER_PREF), "handle", "1", "bpf", "da", "bytecode",
              ingress_program(drops))


def cut(state: HostsState, names: list[str], others: list[str], everyone: list[str]) -> None:
    for a in names:
        for b in others:
            if a != b and [a, b] not in state.cuts and [b, a] not in state.cuts:
                state.cuts.append([a, b])
    apply_drops(state, everyone)


def make_lossy(state: HostsState, name: str, fraction: float, everyone: list[str]) -> None:
    state.lossy[name] = fraction
    apply_drops(state, everyone)


def heal(state: HostsState, everyone: list[str], folder: Path) -> None:
    """No cut, no lossy node, the configured delay back; the baseline loss stays."""
    state.cuts.clear()
    state.lossy.clear()
    apply_drops(state, everyone)
    if state.shaper != "none":
        set_delay(state, everyone, state.latency_ms, state.jitter_ms, folder)


def describe(state: HostsState) -> str:
    wan = (f"{state.latency_ms:g} ms one-way latency (± {state.jitter_ms:g} ms, by "
           f"{state.shaper}), {state.loss_pct:g}% loss" if state.shaper != "none" else
           f"no added latency, {state.loss_pct:g}% loss")
    return f"hosts: namespaces {PREFIX}-{state.id}-n*, bridge {state.bridge} " \
           f"{state.subnet}.0/24; {wan}"
