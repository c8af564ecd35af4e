"""The peer benchmark: PySyncObj (a Python Raft library) replicating a bare counter.

Three local processes, each a PySyncObj node with a journal file on disk, replicate a counter;
one of them offers increments as fast as PySyncObj accepts them (bounded in flight, so its
queue never overflows) for DURATION seconds and counts the increments whose commit it was told
of. The figure is committed increments per second, the number `lichen bench` is compared to:
lichen does the same replication but also verifies a signature and the KYC rules per tx.

    python tests/bench/pysyncobj_counter.py [--duration 20] [--inflight 2000]

Run by `make bench-peer` (which installs pysyncobj into the venv). Not part of `make test`.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run_node(index: int, ports: list[int], journal_dir: str, duration: float, inflight: int,
             result: mp.Queue) -> None:
    from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

    class Counter(SyncObj):
        def __init__(self, me: str, others: list[str], conf: SyncObjConf):
            super().__init__(me, others, conf)
            self.value = 0

        @replicated
        def inc(self) -> int:
            self.value += 1
            return self.value

    addrs = [f"127.0.0.1:{p}" for p in ports]
    conf = SyncObjConf(journalFile=os.path.join(journal_dir, f"node{index}.journal"),
                       commandsQueueSize=inflight * 2)
    node = Counter(addrs[index], [a for i, a in enumerate(addrs) if i != index], conf)
    deadline = time.time() + 30
    while node._getLeader() is None and time.time() < deadline:
        time.sleep(0.05)
    if index != 0:  # followers replicate until the load is done and the counter has settled
        time.sleep(duration + 8)
        result.put(("value", index, node.value))
        node.destroy()
        return
    ok = failed = 0
    pending = 0

    def done(_res, err):
        nonlocal ok, failed, pending
        pending -= 1
        if err == FAIL_REASON.SUCCESS:
            ok += 1
        else:
            failed += 1

    time.sleep(0.5)
    start = time.time()
    end = start + duration
    while time.time() < end:
        if pending < inflight:
            pending += 1
            node.inc(callback=done)
        else:
            time.sleep(0.0005)
    elapsed = time.time() - start
    committed_in_time = ok
    settle = time.time() + 5
    while pending and time.time() < settle:
        time.sleep(0.01)
    result.put(("load", committed_in_time, failed, elapsed))
    time.sleep(2.5)
    result.put(("value", index, node.value))
    node.destroy()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--inflight", type=int, default=2000)
    args = ap.parse_args()
    ports = free_ports(3)
    result: mp.Queue = mp.Queue()
    with tempfile.TemporaryDirectory(prefix="pysyncobj-bench-") as journal_dir:
        procs = [mp.Process(target=run_node, args=(i, ports, journal_dir, args.duration,
                                                   args.inflight, result)) for i in range(3)]
        for p in procs:
            p.start()
        try:
            load, values = None, {}
            while load is None or len(values) < 3:
                item = result.get(timeout=args.duration + 60)
                if item[0] == "load":
                    load = item
                else:
                    values[item[1]] = item[2]
        finally:
            for p in procs:
                p.join(timeout=15)
                if p.is_alive():
                    p.kill()
    _, ok, failed, elapsed = load
    print(f"PySyncObj: {ok / elapsed:,.0f} committed counter increments/s over {elapsed:.0f}s "
          f"on 3 processes (journal on disk), {failed} failed; final counter per node: "
          f"{', '.join(str(values[i]) for i in sorted(values))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
