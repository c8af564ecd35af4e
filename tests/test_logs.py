"""Structured logs (node.server.logs): `--log-format json` writes one JSON object per line with
time, level, node, event, message and fields; role changes, refused peers, faults and
recovery steps carry event names; `lichen devnet logs NODE --follow` follows a log."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx
from node.server.logs import JsonFormatter, configure, note

from .helpers import free_port_range
from .procs import LICHEN, ROOT, client, leader_of, lichen, running_devnet, wait_until

KEYS = {"time", "level", "node", "event", "logger", "message", "fields"}


def parsed_lines(path: Path) -> list[dict]:
    """Every line of a log as JSON (json.loads fails the test on any that is not)."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            doc = json.loads(line)
        except ValueError:
            raise AssertionError(f"{path}:{n} is not JSON: {line[:200]!r}") from None
        assert set(doc) == KEYS, (path, n, doc)
        assert doc["time"].endswith("Z") and datetime.fromisoformat(doc["time"]).tzinfo
        out.append(doc)
    return out


def events(d: Path, name: str) -> list[dict]:
    return parsed_lines(d / name / "node.log")


def seen(d: Path, event: str, names=("node0", "node1", "node2")) -> list[dict]:
    return [e for n in names for e in events(d, n) if e["event"] == event]


# ---- the formatter ----------------------------------------------------------------------------

def test_a_json_line_has_the_fields_and_clips_what_a_peer_sent():
    out = io.StringIO()
    configure("node7", "INFO", "json", out)
    try:
        log = logging.getLogger("lichen.test")
        note(log, logging.WARNING, "peer_refused", "refusing %s", "x" * 10_000,
             peer="ab" * 32, detail="y" * 10_000, nested={"k": ["z" * 10_000]})
        log.info("plain")
    finally:
        configure("node7", "INFO", "text", io.StringIO())
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["node"] == "node7" and first["level"] == "WARNING"
    assert first["event"] == "peer_refused" and first["fields"]["peer"] == "ab" * 32
    assert len(first["message"]) < 2_100 and len(first["fields"]["detail"]) < 400
    assert len(first["fields"]["nested"]["k"][0]) < 400
    assert second["event"] == "log" and second["message"] == "plain" and second["fields"] == {}


def test_an_exception_is_a_field_of_its_line_not_lines_of_its_own():
    record = logging.LogRecord("lichen.api", logging.ERROR, __file__, 1, "boom", (), None)
    try:
        raise ValueError("bad\nworse")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter("node0").format(record)
    assert "\n" not in line and "ValueError" in json.loads(line)["fields"]["exception"]


def test_text_stays_the_default(tmp_path):
    result = lichen("node", "run", "--help")
    assert "--log-format [text|json]" in result.stdout
    assert "default: the config's log_format, else text" in " ".join(result.stdout.split())


def test_an_unknown_log_format_in_the_config_is_a_clear_error(single_node_config, tmp_path):
    config = single_node_config[0]
    path = tmp_path / "config.json"
    config.save(path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "log_format": "xml"}))
    result = lichen("node", "run", "--config", str(path), check=False)
    assert result.returncode != 0 and "log_format is one of text, json" in result.stderr


# ---- a real devnet -------------------------------------------------------------------------------

async def junk_handshake(url: str) -> None:
    """A peer that opens /v1/peer and sends bytes that are no handshake."""
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        await ws.send_bytes(b"\x93\x01\x02\x03 not a hello")
        await asyncio.wait_for(ws.receive(), 5)


@pytest.mark.slow
def test_a_devnet_with_json_logs_names_roles_refusals_faults_and_recovery(tmp_path):
    base = free_port_range(3)
    with running_devnet(tmp_path / "devnet", 3, base, insecure=True,
                        extra=("--log-format", "json")) as d:
        wait_until("a leader_elected line", lambda: seen(d, "leader_elected"), 10)
        # a refused peer: junk on node0's peer listener
        asyncio.run(junk_handshake(f"ws://127.0.0.1:{base + 100}/v1/peer"))
        wait_until("node0 logs peer_refused", lambda: seen(d, "peer_refused", ["node0"]), 10)
        # a fault, set and cleared
        lichen("devnet", "partition", "node2", "--dir", str(d))
        lichen("devnet", "heal", "--dir", str(d))
        # a role change: leadership handed to another node
        old = leader_of(d)
        assert old is not None
        new = next(n for n in ("node0", "node1", "node2") if n != old)
        lichen("devnet", "transfer-leader", new, "--dir", str(d))
        # a recovery: a node with a block behind it killed and started again
        c = client(d, "node0")
        keys = {k: KeyPair.load(d / "keys" / f"{k}.key") for k in ("alice", "bob")}
        chain = bytes.fromhex(c.status()["chain_id"])
        tx = sign_tx(keys["alice"], chain, c.account(keys["alice"].address_hex)["next_nonce"],
                     Transfer("USD", keys["bob"].address, 1, "log test"))
        c.submit(tx.raw)
        assert c.tx(tx.hash_hex, wait=5)["status"] == "committed"
        wait_until("node1 has the block", lambda: client(d, "node1").status()["height"] >= 1, 10)
        lichen("devnet", "kill", "node1", "--dir", str(d))
        lichen("devnet", "start", "node1", "--dir", str(d))

        wait_until("the new leader logs leader_elected",
                   lambda: any(e["node"] == new for e in seen(d, "leader_elected")), 10)
        wait_until(f"{old} logs stepped_down",
                   lambda: any(e["node"] == old for e in seen(d, "stepped_down")), 10)
        wait_until("node1 logs store_recovered", lambda: seen(d, "store_recovered", ["node1"]), 10)
        refused = seen(d, "peer_refused", ["node0"])
        assert any(e["fields"].get("what") == "handshake" and e["fields"].get("reason")
                   for e in refused), refused
        faults_set = seen(d, "faults_set")
        assert {e["node"] for e in faults_set} == {"node0", "node1", "node2"}
        assert any(e["fields"]["partitioned"] for e in faults_set)
        assert {e["node"] for e in seen(d, "faults_cleared")} == {"node0", "node1", "node2"}
        stepped = next(e for e in seen(d, "stepped_down") if e["node"] == old)
        assert stepped["fields"]["previous"] == "leader" and stepped["fields"]["role"] != "leader"
        recovered = seen(d, "store_recovered", ["node1"])[-1]
        assert recovered["fields"]["height"] >= 1 and recovered["level"] == "INFO"
        assert seen(d, "peer_up") and seen(d, "membership_changed") is not None
        for name in ("node0", "node1", "node2"):  # every line of every log parses
            assert all(e["node"] == name for e in events(d, name))


@pytest.mark.slow
def test_devnet_logs_follow_prints_lines_as_they_are_written(tmp_path):
    base = free_port_range(1)
    with running_devnet(tmp_path / "devnet", 1, base, insecure=True) as d:
        proc = subprocess.Popen([*LICHEN, "devnet", "logs", "node0", "--follow", "-n", "1",
                                 "--dir", str(d)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                                      daemon=True)
            reader.start()
            wait_until("the last line is printed", lambda: len(lines) >= 1, 10)
            with open(d / "node0" / "node.log", "a") as log:  # as the daemon appends
                log.write("a line written after --follow started\n")
            wait_until("the new line is followed",
                       lambda: any("written after --follow" in x for x in lines), 10)
            proc.send_signal(signal.SIGINT)  # Ctrl-C ends it, quietly
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_sigusr2_logs_where_python_memory_goes_only_when_traced(caplog):
    """An operator asks a node where its memory goes (SIGUSR2): without PYTHONTRACEMALLOC=1
    the node says how to turn tracing on; with it, the top lines and their sizes."""
    import tracemalloc

    from node.server.daemon import log_memory_owners

    caplog.set_level(logging.INFO, logger="lichen.node")
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.stop()
    log_memory_owners()
    assert [r.event for r in caplog.records] == ["memory_untraced"]
    tracemalloc.start()
    try:
        hoard = [bytes(1000) for _ in range(2000)]  # 2 MB from this very line
        log_memory_owners(top=5)
        owners = caplog.records[-1]
        assert owners.event == "memory_owners" and owners.fields["total_kib"] >= 1900
        assert "test_logs.py" in owners.getMessage() and hoard
    finally:
        if not was_tracing:
            tracemalloc.stop()
