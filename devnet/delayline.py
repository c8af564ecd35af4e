"""The delay line: netem's delay and jitter for a kernel built without netem.

Runs inside a node's namespace (`ip netns exec NS python -m devnet.delayline ...`). `tc`
redirects every frame leaving the namespace's eth0 to the tap device; this process reads each
frame from the tap, holds it for the delay, and sends it out of eth0 through a packet socket
that bypasses the qdisc (so it is not redirected again). Frames leave in the order they came:
with jitter, a frame's release time is its arrival + latency ± jitter, but never before the
frame ahead of it (netem with jitter reorders; TCP here does not see reordering).

The delay is read from the control file (JSON: latency_ms, jitter_ms) at start and again on
SIGHUP, which is how a latency spike is injected. The control file's ".ready" sibling appears
once the tap is attached.
"""
from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import random
import signal
import socket
import struct
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
SOL_PACKET, PACKET_QDISC_BYPASS = 263, 20
MAX_FRAME = 65536 + 64


class DelayLine:
    def __init__(self, tap: str, dev: str, control: Path):
        self.control = control
        self.latency = self.jitter = 0.0
        self.last_release = 0.0
        self.rng = random.Random()
        self.tap = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(self.tap, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
        self.out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send only
        self.out.bind((dev, 0))
        self.out.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        self.reload()

    def reload(self) -> None:
        doc = json.loads(self.control.read_text())
        self.latency, self.jitter = doc["latency_ms"] / 1000, doc["jitter_ms"] / 1000

    def readable(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                frame = os.read(self.tap, MAX_FRAME)
            except BlockingIOError:
                return
            delay = self.latency + self.rng.uniform(-self.jitter, self.jitter)
            release = max(loop.time() + max(delay, 0.0), self.last_release)
            self.last_release = release
            loop.call_at(release, self.send, frame)

    def send(self, frame: bytes) -> None:
        try:
            self.out.send(frame)
        except OSError:
            pass  # the link is down or the queue full: the frame is lost, as on a wire


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tap", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--control", required=True, type=Path)
    args = parser.parse_args()
    line = DelayLine(args.tap, args.dev, args.control)
    loop = asyncio.new_event_loop()
    loop.add_reader(line.tap, line.readable, loop)
    loop.add_signal_handler(signal.SIGHUP, line.reload)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    args.control.with_suffix(".ready").write_text(str(os.getpid()))
    loop.run_forever()


if __name__ == "__main__":
    main()
