"""On the wire: with `lichen devnet up` (TLS by default) no byte of a transaction travels in
the clear, neither from the client to the node nor between the nodes."""
from __future__ import annotations

import os
import secrets
import socket
import threading
from contextlib import contextmanager

import pytest

from devnet.client import sign_and_submit
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer

from .helpers import free_port_range
from .procs import client, converged, running_devnet, wait_until

pytestmark = pytest.mark.slow

ETH_P_ALL = 3


class Capture:
    """Every packet on the loopback interface, read by a raw AF_PACKET socket in a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.1)
        self.packets: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.packets.append(self.sock.recv(65536))
            except TimeoutError:
                continue
        self.sock.setblocking(False)  # then what is still queued in the socket
        while True:
            try:
                self.packets.append(self.sock.recv(65536))
            except BlockingIOError:
                return

    def holding(self, marker: bytes) -> list[bytes]:
        return [p for p in self.packets if marker in p]

    @contextmanager
    def running(self):
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)
            self.sock.close()


def send_in_the_clear(data: bytes) -> None:
    """One plain TCP connection over loopback carrying `data`: what the capture must see."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=5) as out:
            conn, _ = server.accept()
            with conn:
                out.sendall(data)
                assert conn.recv(len(data)) == data


def test_a_transfer_memo_is_never_on_the_loopback_wire_in_the_clear(tmp_path):
    """Models an eavesdropper on the network between the client and the nodes and among the
    nodes (here, everything on loopback): a transfer's memo holds a unique marker; it must
    appear in no captured packet while the transfer is submitted, replicated and read back.
    The same capture does see the marker when it is sent over a plain TCP socket."""
    if os.geteuid() != 0:
        pytest.fail("this test captures loopback packets with a raw AF_PACKET socket, which "
                    "needs root (CI runs as root); run it as root")
    marker = f"LICHEN-MARK-{secrets.token_hex(8)}"
    plain = f"PLAIN-{marker}".encode()
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        node0 = client(d, "node0")
        assert node0.url.startswith("https://")
        alice = KeyPair.load(d / "keys" / "alice.key")
        bob = KeyPair.load(d / "keys" / "bob.key")
        with Capture().running() as cap:
            send_in_the_clear(plain)
            result = sign_and_submit(node0, alice, Transfer("USD", bob.address, 1, marker),
                                     wait=True)
            assert result["status"] == "committed"
            wait_until("all three nodes hold the transfer", lambda: converged(d))
            block = client(d, "node2").block(result["height"])
    assert marker in str(block), "the memo reached the ledger"  # what is hidden is really there
    assert cap.holding(plain), "the capture sees plain loopback TCP"
    leaked = [p for p in cap.holding(marker.encode()) if plain not in p]
    assert leaked == [], f"{len(leaked)} captured packets hold the memo in the clear"
