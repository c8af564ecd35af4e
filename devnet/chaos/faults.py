"""The injector: follows a fault schedule in wall time on the devnet's processes and links, and
watches for daemons that exit without being killed."""
from __future__ import annotations

import asyncio
import random
import signal
import time

from node.server.clock import DEVNET_CLOCK_SKEW_ENV

from .. import hosts
from ..client import ApiError, Client
from ..errors import DevnetError
from ..network import Devnet, Manifest, NodeEntry, pid_alive, send_signal, set_faults
from .events import Crash, Exited, Injected, InjectedFault, Tell, Undone
from .schedule import LEADER, Fault

RESTART_TIMEOUT = 15.0  # seconds a restarted node may take to serve again
LEADER_WAIT = 5.0  # seconds a leader-targeted fault waits for an election under way to end
CRASH_LOG_LINES = 15


class Injector:
    """Injects and undoes faults on the devnet's processes and links; watches for daemons that
    exit without being killed. Blocking work (signals, process starts, admin calls) runs in
    worker threads so the workload's event loop keeps going."""

    def __init__(self, net: Devnet, manifest: Manifest, tell: Tell):
        self.net, self.manifest, self.tell = net, manifest, tell
        self.names = [n.name for n in manifest.nodes]
        self.down: set[str] = set()  # killed by us, not started again yet
        self.crashed: set[str] = set()  # exited on their own, not started again yet
        self.injected: list[InjectedFault] = []
        self.crashes: list[Crash] = []
        self.t0 = time.monotonic()

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def node(self, name: str) -> NodeEntry:
        return self.manifest.node(name)

    def reachable(self) -> list[str]:
        """Nodes a client may try: running, as far as the injector knows (paused ones included:
        clients cannot tell)."""
        return [n for n in self.names if n not in self.down and n not in self.crashed]

    # -- following the schedule --
    async def follow(self, schedule: list[Fault]) -> None:
        for f in schedule:
            await sleep_until(self.t0 + f.t)
            record = await asyncio.to_thread(self.inject, f)
            self.injected.append(record)
            self.tell(Injected(record))
            await sleep_until(self.t0 + max(f.t + f.duration, record.t + 0.5))
            await asyncio.to_thread(self.undo, f, record)
            self.tell(Undone(record))

    def inject(self, f: Fault) -> InjectedFault:
        record = InjectedFault.planned(f, self.now())
        targets = self.resolve(f.targets, record)
        record.targets = targets
        if f.action in ("kill", "restart-all"):
            self.kill(targets, record)
        elif f.action == "pause":
            self.pause(targets)
        elif f.action == "clock":
            self.restart_skewed(targets, f.skew_ms, record)
        elif f.action == "partition":
            self.cut_off(targets, record)
        elif f.action == "lossy":
            self.make_lossy(targets, f.drop, record)
        elif f.action == "delay":
            self.network(lambda state: hosts.set_delay(state, targets, f.latency_ms,
                                                       state.jitter_ms, self.net.dir), record)
        return record

    def undo(self, f: Fault, record: InjectedFault) -> None:
        targets = record.targets
        if f.action in ("kill", "restart-all"):
            started = [n for n in targets if n in self.down]
            self.restart(started)
            # Undone once they serve again, so the next fault meets a running network.
            record.serving_after = self.wait_serving(started, RESTART_TIMEOUT, record)
        elif f.action == "pause":
            self.resume(targets)
        elif f.action == "clock":  # back on the machine's clock
            self.restart_skewed(targets, 0, record)
            record.serving_after = self.wait_serving(targets, RESTART_TIMEOUT, record)
        else:  # partition, lossy, delay: every link whole again
            self.heal_links(record)
        record.undone_at = self.now()

    def resolve(self, targets: tuple[str, ...], record: InjectedFault) -> list[str]:
        if LEADER not in targets:
            return list(targets)
        leader = self.await_leader(LEADER_WAIT)
        if leader is None:  # no leader for seconds: the fault still goes ahead, on some node
            leader = random.Random(record.planned_t).choice(self.reachable() or self.names)
            record.errors.append(f"no leader at injection; chose {leader}")
        record.leader = leader
        return [leader if t == LEADER else t for t in targets]

    def await_leader(self, timeout: float) -> str | None:
        """The leader, waiting out an election under way (the previous fault's heal often
        starts one) so that a fault meant for the leader lands on it."""
        deadline = time.monotonic() + timeout
        while (leader := self.leader()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return leader

    def leader(self) -> str | None:
        best: tuple[str, int] | None = None
        for name in self.reachable():
            try:
                st = Client(self.node(name).url, timeout=1).status()
            except ApiError:
                continue
            if st["role"] == "leader" and (best is None or st["term"] > best[1]):
                best = (name, st["term"])
        return best[0] if best else None

    # -- processes --
    def kill(self, names: list[str], record: InjectedFault) -> None:
        for name in names:
            n = self.node(name)
            if name in self.down or not self.net.alive(n):
                record.errors.append(f"{name} was not running")
                continue
            self.down.add(name)  # before the signal, so the crash watcher knows
            send(n, signal.SIGKILL)

    def restart_skewed(self, names: list[str], skew_ms: int, record: InjectedFault) -> None:
        """Kill the nodes and start them again with their wall clocks `skew_ms` off (0: the
        machine's clock)."""
        self.kill(names, record)
        for name in names:
            n = self.node(name)
            while self.net.alive(n):
                time.sleep(0.02)
        self.restart([n for n in names if n in self.down],
                     {DEVNET_CLOCK_SKEW_ENV: str(skew_ms)} if skew_ms else None)

    def restart(self, names: list[str], env: dict[str, str] | None = None) -> None:
        for name in names:
            n = self.node(name)
            n.pid = self.net.start(n, env)
            self.down.discard(name)
            self.crashed.discard(name)
        self.net.save(self.manifest)

    def wait_serving(self, names: list[str], timeout: float, record: InjectedFault) -> float | None:
        """Seconds until every named node answers /v1/status, or None at the timeout."""
        t0 = time.monotonic()
        waiting = set(names)
        while waiting and time.monotonic() - t0 < timeout:
            for name in sorted(waiting):
                try:
                    Client(self.node(name).url, timeout=1).status()
                    waiting.discard(name)
                except ApiError:
                    pass
            time.sleep(0.1)
        if waiting:
            record.errors.append(f"{', '.join(sorted(waiting))} not serving {timeout:.0f}s "
                                 f"after a restart")
            return None
        return round(time.monotonic() - t0, 2)

    def pause(self, names: list[str]) -> None:
        for name in names:
            n = self.node(name)
            if self.net.alive(n):
                send(n, signal.SIGSTOP)

    def resume(self, names: list[str]) -> None:
        for name in names:
            n = self.node(name)
            if self.net.alive(n):
                send(n, signal.SIGCONT)

    # -- links: the network itself on a --hosts devnet, else the nodes' devnet fault filters --
    def network(self, change, record: InjectedFault | None) -> None:
        """Apply `change` to the devnet's hosts state (tc in the namespaces) and record it in
        devnet.json, so `lichen devnet heal` can undo it should this run die."""
        assert self.manifest.hosts is not None
        try:
            change(self.manifest.hosts)
        except DevnetError as exc:
            if record is None:
                raise
            record.errors.append(str(exc))
        self.net.save(self.manifest)

    def cut_off(self, names: list[str], record: InjectedFault) -> None:
        """Both directions, as `lichen devnet partition` does."""
        others = [n for n in self.names if n not in names]
        if self.manifest.hosts is not None:
            self.network(lambda state: hosts.cut(state, names, others, self.names), record)
            return
        for name in names:
            self.admin(name, {"partition": [self.node(o).node_id for o in others]}, record)
        for o in others:
            self.admin(o, {"partition": [self.node(n).node_id for n in names]}, record)

    def make_lossy(self, names: list[str], drop: float, record: InjectedFault) -> None:
        if self.manifest.hosts is not None:
            for name in names:
                self.network(lambda state, name=name: hosts.make_lossy(state, name, drop,
                                                                       self.names), record)
            return
        for name in names:
            self.admin(name, {"lossy": {"peers": None, "fraction": drop}}, record)

    def heal_links(self, record: InjectedFault | None = None) -> None:
        if self.manifest.hosts is not None:
            self.network(lambda state: hosts.heal(state, self.names, self.net.dir), record)
            return
        for name in self.reachable():
            self.admin(name, {"heal": True}, record)

    def admin(self, name: str, body: dict, record: InjectedFault | None) -> None:
        if name in self.down or name in self.crashed:
            return  # a stopped node has no links; a restarted one starts whole
        try:
            set_faults(self.net, self.node(name), body)
        except DevnetError as exc:
            if record is not None:
                record.errors.append(str(exc))

    def heal_one(self, name: str) -> None:
        """Its fault filter cleared (the network was healed as a whole on a --hosts devnet);
        raises while the node does not serve yet."""
        if self.manifest.hosts is not None:
            Client(self.node(name).url, timeout=1).status()
        else:
            set_faults(self.net, self.node(name), {"heal": True})

    # -- daemons that exit on their own are a finding --
    async def watch_exits(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.note_exits()
            await asyncio.sleep(0.5)

    def note_exits(self) -> None:
        for name in self.names:
            n = self.node(name)
            if name in self.down or name in self.crashed or pid_alive(n.pid):
                continue
            self.crashed.add(name)
            crash = Crash(self.now(), name, n.pid, self.net.log_tail(name, CRASH_LOG_LINES))
            self.crashes.append(crash)
            self.tell(Exited(crash))

    # -- the heal stage --
    def heal_everything(self, timeout: float) -> list[str]:
        """Resume every node, start every stopped one, make every link whole. Returns problems."""
        problems = []
        self.resume(self.names)
        self.note_exits()
        stopped = [n for n in self.names if not self.net.alive(self.node(n))]
        self.restart(stopped)
        if self.manifest.hosts is not None:
            self.heal_links()
        deadline = time.monotonic() + timeout
        healed: set[str] = set()
        while len(healed) < len(self.names) and time.monotonic() < deadline:
            self.note_exits()
            for name in self.reachable():
                if name not in healed:
                    try:
                        self.heal_one(name)
                        healed.add(name)
                    except (DevnetError, ApiError):
                        pass  # still starting
            time.sleep(0.2)
        for name in sorted(set(self.names) - healed):
            problems.append(f"{name} did not serve again within {timeout:.0f}s")
        return problems


def send(n: NodeEntry, sig: signal.Signals) -> None:
    try:
        send_signal(n, sig)
    except ProcessLookupError:
        pass  # it exited meanwhile: the crash watcher reports it


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
