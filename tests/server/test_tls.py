"""node.server.tls: the devnet CA and node certificates, and the contexts that use them."""
from __future__ import annotations

import socket
import ssl
import threading

import pytest

from node.server.tls import client_context, make_ca, make_node_cert, server_context


@pytest.fixture
def node_files(tmp_path):
    """A devnet CA and a node certificate for 127.0.0.1, saved as a node's config names them."""
    ca = make_ca()
    ca.save(tmp_path / "ca.crt", tmp_path / "ca.key")
    make_node_cert(ca, "node0", ["127.0.0.1"]).save(tmp_path / "tls.crt", tmp_path / "tls.key")
    return tmp_path


def serve_once(ctx: ssl.SSLContext) -> tuple[int, threading.Thread]:
    """A TLS server on a free loopback port that answers one connection with b"ok"."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass  # the client refused the handshake

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return port, thread


def connect(port: int, ctx: ssl.SSLContext, host: str = "127.0.0.1") -> tuple[bytes, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            return tls.recv(2), tls.version() or ""


def test_a_client_with_the_devnet_ca_verifies_the_node_over_tls_1_3(node_files):
    port, thread = serve_once(server_context(node_files / "tls.crt", node_files / "tls.key"))
    assert connect(port, client_context(node_files / "ca.crt")) == (b"ok", "TLSv1.3")
    thread.join(5)


def test_the_node_cert_names_localhost_too(node_files):
    port, thread = serve_once(server_context(node_files / "tls.crt", node_files / "tls.key"))
    assert connect(port, client_context(node_files / "ca.crt"), host="localhost")[0] == b"ok"
    thread.join(5)


def test_a_client_without_the_devnet_ca_is_refused(node_files):
    """Models a client that trusts only the system's CAs: the devnet's node is not trusted."""
    port, thread = serve_once(server_context(node_files / "tls.crt", node_files / "tls.key"))
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(port, client_context(None))
    thread.join(5)


def test_a_node_with_another_cas_certificate_is_refused(node_files, tmp_path):
    """Models an impostor on the node's address with a certificate from a CA of its own: a
    client holding the devnet CA refuses it."""
    other = make_ca("impostor CA")
    (tmp_path / "x").mkdir()
    make_node_cert(other, "node0", ["127.0.0.1"]).save(tmp_path / "x" / "c", tmp_path / "x" / "k")
    port, thread = serve_once(server_context(tmp_path / "x" / "c", tmp_path / "x" / "k"))
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(port, client_context(node_files / "ca.crt"))
    thread.join(5)


def test_a_certificate_for_another_host_is_refused(node_files):
    """The node's certificate names its hosts; a client asking for another name refuses it."""
    port, thread = serve_once(server_context(node_files / "tls.crt", node_files / "tls.key"))
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(port, client_context(node_files / "ca.crt"), host="bank.example")
    thread.join(5)


def test_clients_and_servers_speak_tls_1_3_only(node_files):
    assert client_context(node_files / "ca.crt").minimum_version is ssl.TLSVersion.TLSv1_3
    server = server_context(node_files / "tls.crt", node_files / "tls.key")
    assert server.minimum_version is ssl.TLSVersion.TLSv1_3


def test_the_node_key_file_is_private(node_files):
    assert (node_files / "tls.key").stat().st_mode & 0o077 == 0


def test_a_missing_or_mismatched_certificate_is_named_in_the_error(node_files):
    with pytest.raises(OSError, match="cannot load the TLS certificate .*missing.crt"):
        server_context(node_files / "missing.crt", node_files / "tls.key")
    with pytest.raises(OSError, match="cannot load the TLS certificate .*ca.crt"):
        server_context(node_files / "ca.crt", node_files / "tls.key")  # not the key's cert


async def test_a_connection_that_never_starts_tls_is_closed_after_the_handshake_timeout(
        start_node, node_files):
    """Attack modelled: a client opens TCP connections to a TLS node and never sends a
    ClientHello. The connection guard counts a connection (and the idle timeout times it) only
    once TLS is up, so before the bound asyncio kept each for its default 60 s, uncounted: one
    address held 1,100 of them. Now the node closes it after tls_handshake_timeout_s, and a
    proper client is served meanwhile."""
    import asyncio
    import time

    import aiohttp
    node = await start_node(tls_cert=str(node_files / "tls.crt"), tls_key=str(node_files / "tls.key"),
                            tls_handshake_timeout_s=0.5)
    host, port = node.config.host, node.config.port
    reader, writer = await asyncio.open_connection(host, port)  # plain TCP, no ClientHello
    started = time.monotonic()
    try:
        ctx = client_context(node_files / "ca.crt")
        async with aiohttp.ClientSession() as http:  # served while the silent one waits
            async with http.get(f"https://{host}:{port}/healthz", ssl=ctx) as r:
                assert r.status == 200
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed by the node
        assert time.monotonic() - started < 4
    finally:
        writer.close()
