"""The thin CLI through click's CliRunner, with no daemon: argument errors, rendering, --json
shapes, and the rejection path (reason code on stderr, exit 1).

Submitting commands talk to an in-memory FakeNode standing in for the HTTP client: it answers
what a node would, records the signed bytes it receives, and is told how the tx ends.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cli.common
from cli.main import lichen
from devnet.client import ApiError
from node.ledger.crypto import KeyPair, verify
from node.ledger.types import KeyRotate, Transfer, decode_tx

CHAIN_ID = bytes(range(32))


def run(*args: str, env: dict | None = None) -> Result:
    return CliRunner().invoke(lichen, list(args), env={"LICHEN_NODE": "", **(env or {})})


def text(out: str) -> str:
    """Rich wraps long lines at the terminal width: compare words, not line breaks."""
    return " ".join(out.split())


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch) -> Path:
    """Every test runs in an empty folder: no ./.devnet to fall back on."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- keys --------------------------------------------------------------------------------------

def test_keys_new_writes_a_key_file_and_prints_its_address(tmp_path):
    out = tmp_path / "k.key"
    result = run("keys", "new", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == KeyPair.load(out).address_hex + "\n"


def test_keys_new_json_names_the_address_and_the_file(tmp_path):
    out = tmp_path / "k.key"
    result = run("keys", "new", "--out", str(out), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"address": KeyPair.load(out).address_hex, "file": str(out)}


def test_keys_new_refuses_to_overwrite_without_force(key_file):
    path, kp = key_file
    refused = run("keys", "new", "--out", str(path))
    assert refused.exit_code == 1
    assert "exists; pass --force to overwrite it" in refused.stderr
    assert KeyPair.load(path).address == kp.address  # untouched
    forced = run("keys", "new", "--out", str(path), "--force")
    assert forced.exit_code == 0 and forced.stdout.strip() != kp.address_hex
    assert forced.stdout.strip() == KeyPair.load(path).address_hex


def test_keys_new_needs_out():
    result = run("keys", "new")
    assert result.exit_code == 2 and "Missing option '--out'" in result.stderr


def test_keys_show_prints_the_address_plain_and_as_json(key_file):
    path, kp = key_file
    assert run("keys", "show", str(path)).stdout == kp.address_hex + "\n"
    as_json = run("keys", "show", str(path), "--json")
    assert json.loads(as_json.stdout) == {"address": kp.address_hex}


def test_keys_show_finds_a_devnet_key_by_name(elsewhere):
    kp = KeyPair.generate()
    kp.save(elsewhere / ".devnet" / "keys" / "bob.key", "bob")
    result = run("keys", "show", "bob")
    assert result.exit_code == 0 and result.stdout.strip() == kp.address_hex


def test_keys_show_of_a_missing_or_foreign_file_is_a_usage_error(tmp_path):
    missing = run("keys", "show", "nosuch")
    assert missing.exit_code == 2
    assert "no key file 'nosuch' (nor .devnet/keys/nosuch.key)" in missing.stderr
    (tmp_path / "notes.txt").write_text("{}")
    foreign = run("keys", "show", str(tmp_path / "notes.txt"))
    assert foreign.exit_code == 2 and "is not a lichen key file" in foreign.stderr


# ---- tx transfer against a fake node -------------------------------------------------------------

class FakeNode:
    """What the CLI's Client sees of a node: status, accounts, submission and tx lookups.
    `refuse` makes submission fail with that ApiError; `outcome` is what GET /v1/txs answers
    for a submitted tx (without hash, which is filled in)."""

    def __init__(self, next_nonce: int = 0):
        self.next_nonce = next_nonce
        self.received: list[bytes] = []
        self.refuse: ApiError | None = None
        self.unreachable = False
        self.outcome: dict = {"status": "committed", "height": 7, "index": 0}
        self.looked_up = 0

    def status(self) -> dict:
        if self.unreachable:
            raise ApiError("UNREACHABLE", "cannot reach the node at http://fake: refused")
        return {"chain_id": CHAIN_ID.hex(), "height": 6}

    def account(self, address_hex: str) -> dict:
        return {"address": address_hex, "next_nonce": self.next_nonce, "nonce": self.next_nonce,
                "balances": {"USD": 500}, "frozen": False, "attestation": None,
                "kyc": {"valid": False, "error": "KYC_MISSING", "message": "no attestation"}}

    def submit(self, raw: bytes) -> dict:
        if self.refuse is not None:
            raise self.refuse
        self.received.append(raw)
        return {"hash": decode_tx(raw).hash_hex, "status": "pending"}

    def tx(self, hash_hex: str, wait: float = 0) -> dict:
        self.looked_up += 1
        return {"hash": hash_hex, **self.outcome}


@pytest.fixture
def node(monkeypatch) -> FakeNode:
    fake = FakeNode(next_nonce=3)
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: fake)
    return fake


BOB = KeyPair.from_seed(b"b" * 32).address_hex


def transfer(key: Path, *extra: str) -> Result:
    return run("tx", "transfer", "--key", str(key), "--to", BOB, "--asset", "usd",
               "--amount", "250", "--memo", "rent", "--node", "http://fake", *extra)


def test_a_transfer_is_signed_with_the_next_nonce_and_reported_committed(node, key_file):
    path, alice = key_file
    result = transfer(path)
    assert result.exit_code == 0, result.output
    (raw,) = node.received
    tx = decode_tx(raw)
    assert (tx.chain_id, tx.sender, tx.nonce) == (CHAIN_ID, alice.address, 3)
    assert tx.payload == Transfer("USD", bytes.fromhex(BOB), 250, "rent")
    assert verify(alice.address, tx.signing_bytes, tx.signature)
    assert text(result.stdout) == (f"✔ transfer 250 USD to {BOB}: committed at height 7 "
                                   f"(tx {tx.hash_hex[:16]}…)")
    assert result.stderr == ""


def test_a_committed_transfer_as_json_is_the_nodes_answer(node, key_file):
    result = transfer(key_file[0], "--json")
    assert result.exit_code == 0
    tx = decode_tx(node.received[0])
    assert json.loads(result.stdout) == {"hash": tx.hash_hex, "status": "committed", "height": 7,
                                         "index": 0}


def test_no_wait_returns_after_admission_without_asking_for_the_outcome(node, key_file):
    plain = transfer(key_file[0], "--no-wait")
    as_json = transfer(key_file[0], "--no-wait", "--json")
    assert node.looked_up == 0
    first, second = (decode_tx(raw).hash_hex for raw in node.received)
    assert plain.exit_code == 0
    assert text(plain.stdout) == f"… transfer 250 USD to {BOB}: admitted, pending (tx {first})"
    assert json.loads(as_json.stdout) == {"hash": second, "status": "pending"}


def test_a_refusal_at_admission_prints_the_reason_code_on_stderr_and_exits_1(node, key_file):
    node.refuse = ApiError("INSUFFICIENT_FUNDS", "sender holds 0 USD, needs 250", 400)
    result = transfer(key_file[0])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert text(result.stderr) == "INSUFFICIENT_FUNDS: sender holds 0 USD, needs 250"


def test_a_refusal_as_json_prints_error_and_message_and_still_exits_1(node, key_file):
    node.refuse = ApiError("KYC_MISSING", "recipient holds no KYC attestation", 400)
    result = transfer(key_file[0], "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "KYC_MISSING",
                                         "message": "recipient holds no KYC attestation"}
    assert "KYC_MISSING" in result.stderr


def test_a_failed_receipt_names_the_block_and_the_reason_code(node, key_file):
    node.outcome = {"status": "failed", "height": 9, "index": 2, "code": "LIMIT_EXCEEDED",
                    "message": "over the daily limit"}
    result = transfer(key_file[0])
    assert result.exit_code == 1
    assert text(result.stderr) == (f"LIMIT_EXCEEDED: transfer 250 USD to {BOB} failed in block 9: "
                                   f"over the daily limit")


def test_a_tx_still_pending_at_the_timeout_is_a_timeout(node, key_file):
    node.outcome = {"status": "pending"}
    result = transfer(key_file[0], "--timeout", "0")
    assert result.exit_code == 1
    assert text(result.stderr).startswith("TIMEOUT: transfer 250 USD")
    assert "not committed within 0s; still pending" in text(result.stderr)


def test_an_unreachable_node_is_a_reason_code_too(node, key_file):
    node.unreachable = True
    result = transfer(key_file[0])
    assert result.exit_code == 1 and result.stderr.startswith("UNREACHABLE: cannot reach")
    assert node.received == []


@pytest.mark.parametrize("args, complaint", [
    (["--amount", "0"], "Invalid value for '--amount'"),
    (["--amount", "1.5"], "'1.5' is not a valid integer"),
    (["--to", "nobody"], "'nobody' is not a 64-digit hex address, a key file, or a key name"),
    (["--key", "nosuch"], "no key file 'nosuch'"),
])
def test_bad_arguments_are_usage_errors_and_submit_nothing(node, key_file, args, complaint):
    base = {"--key": str(key_file[0]), "--to": BOB, "--asset": "USD", "--amount": "250",
            "--node": "http://fake"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = run("tx", "transfer", *[x for pair in base.items() for x in pair])
    assert result.exit_code == 2
    assert complaint in text(result.stderr)
    assert node.received == []


@pytest.mark.parametrize("proposal", ["nothex", "ab" * 31, "ab" * 33])
def test_a_proposal_id_is_64_hex_digits(node, key_file, proposal):
    result = run("governance", "approve", "--key", str(key_file[0]), "--node", "http://fake",
                 proposal)
    assert result.exit_code == 2
    assert "a proposal id is 64 hex digits" in text(result.stderr)
    assert node.received == []


def test_a_missing_option_is_named(node, key_file):
    result = run("tx", "transfer", "--key", str(key_file[0]), "--asset", "USD", "--amount", "1")
    assert result.exit_code == 2 and "Missing option '--to'" in result.stderr


def test_with_no_node_anywhere_the_cli_says_how_to_name_one(key_file):
    result = run("tx", "transfer", "--key", str(key_file[0]), "--to", BOB, "--asset", "USD",
                 "--amount", "1")
    assert result.exit_code == 2
    assert "no node to talk to: pass --node URL, set LICHEN_NODE" in text(result.stderr)


def test_lichen_node_names_the_node(node, key_file):
    result = run("tx", "transfer", "--key", str(key_file[0]), "--to", BOB, "--asset", "USD",
                 "--amount", "1", env={"LICHEN_NODE": "http://fake"})
    assert result.exit_code == 0 and len(node.received) == 1


# ---- reading -------------------------------------------------------------------------------------

def test_account_show_json_is_the_nodes_document(node, key_file):
    path, alice = key_file
    result = run("account", "show", str(path), "--node", "http://fake", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == node.account(alice.address_hex)


def test_account_show_renders_a_table(node, key_file):
    result = run("account", "show", str(key_file[0]), "--node", "http://fake")
    assert result.exit_code == 0
    out = text(result.stdout)
    assert "500 USD" in out and "KYC_MISSING" in out and "no attestation" in out


def test_tx_show_of_an_unknown_hash_prints_the_code_and_exits_1(monkeypatch):
    class Missing(FakeNode):
        def tx(self, hash_hex: str, wait: float = 0) -> dict:
            raise ApiError("NOT_FOUND", f"no transaction {hash_hex}", 404)
    monkeypatch.setattr(cli.common, "Client", lambda url, **kw: Missing())
    result = run("tx", "show", "ab" * 32, "--node", "http://fake")
    assert result.exit_code == 1 and text(result.stderr) == f"NOT_FOUND: no transaction {'ab' * 32}"


# ---- devnet commands without a devnet ------------------------------------------------------------

def test_devnet_commands_on_an_empty_folder_say_how_to_start_one(tmp_path):
    for args in (["status"], ["logs", "node0"], ["kill", "node0"], ["heal"], ["demo"]):
        result = run("devnet", *args, "--dir", str(tmp_path / "none"))
        assert result.exit_code == 1, args
        assert result.stderr == (f"Error: no devnet in {tmp_path / 'none'}; start one with "
                                 f"`lichen devnet up`\n"), args
    down = run("devnet", "down", "--dir", str(tmp_path / "none"))
    assert down.exit_code == 0 and down.stdout == f"no devnet in {tmp_path / 'none'}\n"


def test_devnet_up_refuses_more_nodes_than_the_genesis_has_institutions(tmp_path):
    result = run("devnet", "up", "--nodes", "5", "--observers", "3", "--dir", str(tmp_path / "d"))
    assert result.exit_code == 1
    assert "the devnet genesis has 7 institutions" in result.stderr
    assert not (tmp_path / "d").exists()


def write_devnet(folder: Path, urls: list[str]) -> None:
    folder.mkdir()
    nodes = [{"name": f"node{i}", "institution": f"inst{i}", "url": url, "node_id": f"{i:064x}",
              "config": str(folder / f"node{i}" / "config.json"), "pid": None}
             for i, url in enumerate(urls)]
    (folder / "devnet.json").write_text(json.dumps({"chain_id": CHAIN_ID.hex(), "base_port": 7100,
                                                    "nodes": nodes}))


def test_devnet_status_json_merges_each_nodes_status_into_its_row(tmp_path, monkeypatch):
    import devnet.network

    class Serving:
        def __init__(self, url: str, timeout: float = 0):
            self.url = url

        def status(self) -> dict:
            if self.url.endswith(":2"):
                raise ApiError("UNREACHABLE", "down")
            return {"node_id": "ab" * 32, "role": "leader", "term": 4, "height": 12,
                    "block_hash": "cd" * 32, "state_hash": "ef" * 32, "mempool_size": 0}

    monkeypatch.setattr(devnet.network, "Client", Serving)
    write_devnet(tmp_path / "d", ["http://n:1", "http://n:2"])
    result = run("devnet", "status", "--dir", str(tmp_path / "d"), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"name": "node0", "institution": "inst0", "url": "http://n:1", "pid": None, "alive": False,
         "node_id": "ab" * 32, "role": "leader", "term": 4, "height": 12, "block_hash": "cd" * 32,
         "state_hash": "ef" * 32, "mempool_size": 0, "serving": True},
        {"name": "node1", "institution": "inst1", "url": "http://n:2", "pid": None, "alive": False,
         "serving": False}]
    table = run("devnet", "status", "--dir", str(tmp_path / "d")).stdout
    assert table_rows(table) == [
        ["node0", "None", "no", "leader", "4", "12", "cdcdcdcd…", "efefefef…", "0"],
        ["node1", "None", "no", "down", "-", "-", "-", "-", "-"]]


def table_rows(out: str) -> list[list[str]]:
    """The body rows of a rich table, cell by cell."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in out.splitlines() if line.startswith("│")]


# ---- trust: --genesis pins the chain -------------------------------------------------------------

@pytest.fixture
def genesis_file(tmp_path) -> tuple[Path, bytes]:
    """A devnet genesis saved to a file; returns its path and its chain id."""
    from devnet.genesis import key_names, make_genesis
    keys = {name: KeyPair.generate() for name in key_names(3)}
    genesis = make_genesis(keys, [f"https://127.0.0.1:{7100 + i}" for i in range(3)], 1_000)
    path = tmp_path / "genesis.json"
    genesis.save(path)
    return path, genesis.chain_id


def test_genesis_pin_refuses_a_node_on_another_chain(node, key_file, genesis_file):
    """Models a --node URL that points at another chain's node (a wrong or a hostile address):
    with --genesis the CLI checks the chain id first, and signs and sends nothing."""
    path, _ = key_file
    result = transfer(path, "--genesis", str(genesis_file[0]))
    assert result.exit_code == 1
    assert text(result.stderr).startswith("WRONG_CHAIN: the node at")
    assert node.received == []


def test_genesis_pin_from_the_environment_refuses_too(node, key_file, genesis_file):
    path, _ = key_file
    result = run("tx", "transfer", "--key", str(path), "--to", BOB, "--asset", "usd",
                 "--amount", "1", "--node", "http://fake",
                 env={"LICHEN_GENESIS": str(genesis_file[0])})
    assert result.exit_code == 1 and "WRONG_CHAIN" in result.stderr
    assert node.received == []


def test_genesis_pin_lets_the_right_chain_through(node, key_file, genesis_file, monkeypatch):
    path, _ = key_file
    monkeypatch.setattr(node, "status", lambda: {"chain_id": genesis_file[1].hex(), "height": 6})
    result = transfer(path, "--genesis", str(genesis_file[0]))
    assert result.exit_code == 0, result.output
    assert decode_tx(node.received[0]).chain_id == genesis_file[1]


def test_cacert_is_handed_to_the_client(monkeypatch, key_file, tmp_path):
    """--cacert (or LICHEN_CACERT) is the CA the client verifies an https node with."""
    seen: dict = {}
    fake = FakeNode()

    def make(url, **kw):
        seen.update(url=url, **kw)
        return fake
    monkeypatch.setattr(cli.common, "Client", make)
    ca = tmp_path / "ca.crt"
    ca.write_text("pem")
    path, _ = key_file
    result = run("tx", "transfer", "--key", str(path), "--to", BOB, "--asset", "usd",
                 "--amount", "1", "--node", "https://n:1", env={"LICHEN_CACERT": str(ca)})
    assert result.exit_code == 0, result.output
    assert seen == {"url": "https://n:1", "ca_file": str(ca)}


def test_token_is_handed_to_the_client(monkeypatch):
    """--token (or LICHEN_TOKEN) is the read token the client sends a node with read_auth."""
    seen: dict = {}

    def make(url, **kw):
        seen.update(url=url, **kw)
        return FakeNode()
    monkeypatch.setattr(cli.common, "Client", make)
    run("account", "show", BOB, "--node", "http://n:1", "--token", "lct_x")
    assert seen.get("token") == "lct_x"
    seen.clear()
    run("account", "show", BOB, "--node", "http://n:1", env={"LICHEN_TOKEN": "lct_y"})
    assert seen.get("token") == "lct_y"


def test_a_memo_the_ledger_refuses_is_a_reason_code_not_a_traceback(node, key_file):
    """A memo with a bidirectional override is refused by the CLI itself (BAD_TEXT on stderr,
    exit 1, no traceback) before anything is signed and sent."""
    path, _ = key_file
    result = run("tx", "transfer", "--key", str(path), "--to", BOB, "--asset", "usd",
                 "--amount", "1", "--memo", "a\u202eb", "--node", "http://fake")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback
    assert "BAD_TEXT" in result.stderr
    assert node.received == []


def test_keys_rotate_signs_a_key_rotate_with_the_signer_and_names_the_new_key(node, key_file,
                                                                              tmp_path):
    path, regulator = key_file
    new = KeyPair.generate()
    new.save(tmp_path / "new.key", "new")
    result = run("keys", "rotate", "--institution", "inst2", "--which", "node", "--new-key",
                 str(tmp_path / "new.key"), "--signer", str(path), "--node", "http://fake")
    assert result.exit_code == 0, result.output
    tx = decode_tx(node.received[0])
    assert tx.sender == regulator.address
    assert tx.payload == KeyRotate("inst2", "node", new.address)
    assert text(result.stdout).startswith("✔ rotate the node key of inst2: committed at height 7")
    by_hex = run("keys", "rotate", "--institution", "inst2", "--which", "authority", "--new-key",
                 new.address_hex, "--signer", str(path), "--node", "http://fake")
    assert by_hex.exit_code == 0 and decode_tx(node.received[1]).payload.which == "authority"


def test_keys_rotate_refuses_an_unknown_which_and_a_bad_key(node, key_file):
    path = str(key_file[0])
    bad_which = run("keys", "rotate", "--institution", "inst2", "--which", "both", "--new-key",
                    "ab" * 32, "--signer", path, "--node", "http://fake")
    assert bad_which.exit_code == 2 and "'both' is not one of" in bad_which.stderr
    bad_key = run("keys", "rotate", "--institution", "inst2", "--which", "node", "--new-key",
                  "nope", "--signer", path, "--node", "http://fake")
    assert bad_key.exit_code == 2 and "not a 64-digit hex address" in text(bad_key.stderr)
    assert node.received == []
