"""LICHEN_DEVNET: every command's default devnet folder, instead of ./.devnet."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from node.ledger.crypto import KeyPair

from .helpers import free_port


def lichen(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=cwd, timeout=30)


def test_key_names_resolve_in_the_folder_lichen_devnet_names(tmp_path):
    keys = tmp_path / "elsewhere" / "keys"
    keys.mkdir(parents=True)
    alice = KeyPair.generate()
    alice.save(keys / "alice.key")
    os.chmod(keys / "alice.key", 0o600)
    found = lichen("keys", "show", "alice", env={"LICHEN_DEVNET": str(tmp_path / "elsewhere")},
                   cwd=tmp_path)
    assert found.returncode == 0 and found.stdout.strip() == alice.address_hex
    missing = lichen("keys", "show", "alice", env={"LICHEN_DEVNET": ""}, cwd=tmp_path)
    assert missing.returncode != 0 and ".devnet/keys/alice.key" in missing.stderr


def test_commands_default_to_the_first_running_node_of_the_devnet(tmp_path):
    """After `lichen devnet kill node0` the default node is a running one, not the dead first;
    with every node down it stays the first (the error names it)."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    ports = [free_port(), free_port()]
    nodes = [{"name": f"node{i}", "url": f"http://127.0.0.1:{p}", "pid": pid}
             for i, (p, pid) in enumerate(zip(ports, [int(dead.stdout), os.getpid()],
                                              strict=True))]
    (tmp_path / ".devnet").mkdir()
    (tmp_path / ".devnet" / "devnet.json").write_text(json.dumps({"nodes": nodes}))
    env = {"LICHEN_DEVNET": "", "LICHEN_NODE": ""}
    out = lichen("block", "show", "latest", env=env, cwd=tmp_path)
    assert out.returncode == 1 and f"127.0.0.1:{ports[1]}" in out.stderr, out.stderr
    nodes[1]["pid"] = int(dead.stdout)
    (tmp_path / ".devnet" / "devnet.json").write_text(json.dumps({"nodes": nodes}))
    out = lichen("block", "show", "latest", env=env, cwd=tmp_path)
    assert out.returncode == 1 and f"127.0.0.1:{ports[0]}" in out.stderr, out.stderr
