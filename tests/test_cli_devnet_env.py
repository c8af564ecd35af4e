"""LICHEN_DEVNET: every command's default devnet folder, instead of ./.devnet."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from node.ledger.crypto import KeyPair


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
