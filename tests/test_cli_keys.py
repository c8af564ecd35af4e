"""`lichen keys` with sealed and loose key files, through click's CliRunner: the passphrase
from a prompt (twice when sealing) or from LICHEN_PASSPHRASE_FILE, and clear refusals."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cli.common
from cli.main import lichen
from node.ledger.crypto import KeyPair, is_sealed
from node.ledger.types import decode_tx
from tests.test_cli import BOB, FakeNode


def run(*args: str, input: str | None = None, env: dict | None = None) -> Result:
    return CliRunner().invoke(lichen, list(args), input=input,
                              env={"LICHEN_NODE": "", "LICHEN_PASSPHRASE_FILE": None,
                                   "LICHEN_ALLOW_LOOSE_KEYS": None, **(env or {})})


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LICHEN_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("LICHEN_ALLOW_LOOSE_KEYS", raising=False)
    return tmp_path


@pytest.fixture
def node(monkeypatch) -> FakeNode:
    fake = FakeNode(next_nonce=0)
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


def transfer(key: Path, input: str | None = None, env: dict | None = None) -> Result:
    return run("tx", "transfer", "--key", str(key), "--to", BOB, "--asset", "usd", "--amount",
               "5", "--node", "http://fake", input=input, env=env)


def test_keys_new_encrypt_asks_twice_and_seals_the_file(tmp_path):
    out = tmp_path / "k.key"
    result = run("keys", "new", "--out", str(out), "--encrypt", input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    address = result.stdout.strip().splitlines()[-1]
    assert is_sealed(out)
    assert KeyPair.load(out, passphrase=b"s3cret").address_hex == address
    assert run("keys", "show", str(out)).stdout == address + "\n"  # no passphrase needed


def test_keys_new_encrypt_refuses_two_different_passphrases(tmp_path):
    out = tmp_path / "k.key"
    result = run("keys", "new", "--out", str(out), "--encrypt", input="one\ntwo\none\none\n")
    assert result.exit_code == 0 and "do not match" in result.output
    assert KeyPair.load(out, passphrase=b"one")


def test_keys_new_encrypt_reads_the_passphrase_file_and_says_so_in_json(tmp_path):
    (tmp_path / "pass").write_text("from-file\n")
    out = tmp_path / "k.key"
    result = run("keys", "new", "--out", str(out), "--encrypt", "--json",
                 env={"LICHEN_PASSPHRASE_FILE": str(tmp_path / "pass")})
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body == {"address": KeyPair.load(out, passphrase=b"from-file").address_hex,
                    "file": str(out), "encrypted": True}


def test_a_sealed_key_signs_after_the_prompt(node, tmp_path):
    kp = KeyPair.generate()
    kp.save(tmp_path / "alice.key", passphrase=b"pw")
    result = transfer(tmp_path / "alice.key", input="pw\n")
    assert result.exit_code == 0, result.output
    (raw,) = node.received
    assert decode_tx(raw).sender == kp.address


def test_a_wrong_passphrase_is_a_usage_error_and_submits_nothing(node, tmp_path):
    KeyPair.generate().save(tmp_path / "alice.key", passphrase=b"pw")
    result = transfer(tmp_path / "alice.key", input="nope\n")
    assert result.exit_code == 2 and "wrong passphrase" in result.stderr
    assert node.received == []


def test_a_loose_key_file_is_refused_with_the_chmod_to_run(node, tmp_path):
    """Attack: a world-readable key file; the CLI must not quietly sign with a key others may
    have copied."""
    path = tmp_path / "alice.key"
    KeyPair.generate().save(path)
    os.chmod(path, 0o644)
    result = transfer(path)
    assert result.exit_code == 2
    assert f"{path} is readable by others (mode 0644); run `chmod 600 {path}`" in result.stderr
    assert node.received == []
    allowed = transfer(path, env={"LICHEN_ALLOW_LOOSE_KEYS": "1"})
    assert allowed.exit_code == 0 and len(node.received) == 1
