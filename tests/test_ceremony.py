"""The genesis ceremony end to end (issue 11): three institutions that share no machine make
their keys apart, assemble a genesis with `lichen genesis ...` from public keys only, each
checks the chain id of its own copy, writes its config with `lichen node init` (TLS from
`lichen tls`), and runs `lichen node run`; then a KYC attestation, an issuance and a transfer
commit through the CLI. No devnet code is involved: every step is a `lichen` subprocess.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509

from cli.main import lichen as lichen_cli
from node.ledger.crypto import KeyPair
from node.server.config import NodeConfig
from node.server.tls import client_context

from .helpers import LOOPBACK, free_port, wait_until

LICHEN = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parent.parent
INSTITUTIONS = [("harbor", "Harbor Bank", "US"), ("rhein", "Rhein Clearing AG", "DE"),
                ("lion", "Lion City Payments", "SG")]


ENV = {k: v for k, v in os.environ.items()
       if k not in ("LICHEN_NODE", "LICHEN_CACERT", "LICHEN_TOKEN", "LICHEN_GENESIS")}
ENV |= {"COLUMNS": "200", "PYTHONPATH": str(ROOT)}


def lichen(*args: str | Path) -> str:
    """Run the CLI as an operator would (in the test's folder, away from any ./.devnet); its
    stdout, or the test fails with its stderr."""
    proc = subprocess.run(LICHEN + [str(a) for a in args], capture_output=True, text=True,
                          timeout=30, env=ENV)
    assert proc.returncode == 0, f"lichen {' '.join(map(str, args))}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def status(url: str, ca: Path) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/v1/status", timeout=1,
                                    context=client_context(ca)) as r:
            return json.loads(r.read())
    except OSError:
        return {}


@pytest.mark.slow
def test_three_institutions_run_a_network_from_a_ceremony(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    machines = {name: tmp_path / name for name, _, _ in INSTITUTIONS}
    for m in [*machines.values(), tmp_path / "regulator", tmp_path / "customers"]:
        m.mkdir()
    # each institution on its own machine: node key and authority key; only addresses leave it
    node_keys = {n: lichen("keys", "new", "--out", m / "node.key").strip()
                 for n, m in machines.items()}
    authority = {n: lichen("keys", "new", "--out", m / "authority.key").strip()
                 for n, m in machines.items()}
    regulator = lichen("keys", "new", "--out", tmp_path / "regulator" / "regulator.key").strip()
    alice = lichen("keys", "new", "--out", tmp_path / "customers" / "alice.key").strip()
    bob = lichen("keys", "new", "--out", tmp_path / "customers" / "bob.key").strip()
    assert lichen("keys", "show", machines["harbor"] / "node.key").strip() == node_keys["harbor"]

    # a consortium CA, and a certificate per node for the host its genesis address names
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir()
    ca = ca_dir / "ca.crt"
    lichen("tls", "ca", "--out-cert", ca, "--out-key", ca_dir / "ca.key")
    for n, m in machines.items():
        lichen("tls", "cert", "--ca-cert", ca, "--ca-key", ca_dir / "ca.key", "--name", n,
               "--host", LOOPBACK, "--out-cert", m / "tls.crt", "--out-key", m / "tls.key")
        shutil.copy(ca, m / "ca.crt")

    # the coordinator assembles the genesis from public keys and addresses only
    free: set[int] = set()
    while len(free) < 2 * len(machines):
        free.add(free_port())
    ports = dict(zip(machines, zip(*[iter(sorted(free))] * 2, strict=True), strict=True))
    draft = tmp_path / "genesis.json"
    lichen("genesis", "init", "--chain-name", "lichen-ceremony", "--regulator", regulator,
           "--out", draft)
    for name, display, jurisdiction in INSTITUTIONS:
        api, peer = ports[name]
        lichen("genesis", "add-institution", draft, "--name", name, "--display", display,
               "--jurisdiction", jurisdiction, "--node-key", node_keys[name],
               "--authority-key", authority[name], "--address", f"{LOOPBACK}:{api}",
               "--peer-address", f"{LOOPBACK}:{peer}",
               "--roles", "validator,kyc_issuer,asset_issuer")
    lichen("genesis", "add-asset", draft, "--code", "USD", "--issuer", "harbor",
           "--decimals", "2", "--clawback")
    lichen("genesis", "add-asset", draft, "--code", "EUR", "--issuer", "rhein", "--decimals", "2")
    lichen("genesis", "add-tier", draft, "--tier", "1", "--name", "basic",
           "--limit", "USD:100000:300000", "--limit", "EUR:100000:300000")
    lichen("genesis", "block-jurisdiction", draft, "KP", "IR")

    # every operator gets a copy and compares the chain id before starting
    chain_ids = set()
    for m in machines.values():
        shutil.copy(draft, m / "genesis.json")
        shown = json.loads(lichen("genesis", "show", m / "genesis.json", "--json"))
        assert shown["startable"] and shown["problems"] == []
        assert shown["chain_id"] in lichen("genesis", "show", m / "genesis.json")
        chain_ids.add(shown["chain_id"])
    assert len(chain_ids) == 1

    procs: list[subprocess.Popen] = []
    try:
        for n, m in machines.items():
            lichen("node", "init", "--genesis", m / "genesis.json", "--key", m / "node.key",
                   "--listen", f"{LOOPBACK}:{ports[n][0]}", "--data", m / "data",
                   "--tls-cert", m / "tls.crt", "--tls-key", m / "tls.key",
                   "--tls-ca", m / "ca.crt", "--out", m / "config.json")
            with open(m / "node.log", "wb") as log:
                procs.append(subprocess.Popen(
                    LICHEN + ["node", "run", "--config", str(m / "config.json")], env=ENV,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True))
        urls = {n: f"https://{LOOPBACK}:{ports[n][0]}" for n in machines}

        def serving_with_a_leader() -> list[dict] | None:
            for p, (n, m) in zip(procs, machines.items(), strict=True):
                assert p.poll() is None, f"{n} exited:\n{(m / 'node.log').read_text()[-2000:]}"
            statuses = [status(u, ca) for u in urls.values()]
            if all(statuses) and any(s["role"] == "leader" for s in statuses):
                return statuses
            return None

        statuses = wait_until("the three nodes serve and elect a leader", serving_with_a_leader,
                              timeout=30)
        assert {s["chain_id"] for s in statuses} == chain_ids

        # read_auth is on: the CLI waits for commits with a token the operator issued
        token = {n: lichen("node", "token", "issue", "--config", m / "config.json",
                           "--all").strip() for n, m in machines.items()}

        def tx(institution: str, *args: str | Path) -> str:
            return lichen("--cacert", ca, *args, "--node", urls[institution],
                          "--token", token[institution])

        assert "committed" in tx("harbor", "kyc", "attest", "--key",
                                 machines["harbor"] / "authority.key", "--subject", alice,
                                 "--tier", "1", "--jurisdiction", "US", "--expires", "365")
        assert "committed" in tx("rhein", "kyc", "attest", "--key",
                                 machines["rhein"] / "authority.key", "--subject", bob,
                                 "--tier", "1", "--jurisdiction", "DE", "--expires", "365")
        assert "committed" in tx("harbor", "tx", "issue", "--key",
                                 machines["harbor"] / "authority.key", "--asset", "USD",
                                 "--to", alice, "--amount", "10000")
        assert "committed" in tx("lion", "tx", "transfer", "--key",
                                 tmp_path / "customers" / "alice.key", "--to", bob,
                                 "--asset", "USD", "--amount", "2500")
        account = json.loads(tx("rhein", "account", "show", bob, "--json"))
        assert account["balances"] == {"USD": 2500}

        # a fourth institution joins the running chain: the regulator adds it on chain and
        # licenses it; its operator derives the config from the genesis and a running node
        new = tmp_path / "fjord"
        new.mkdir()
        fjord_node = lichen("keys", "new", "--out", new / "node.key").strip()
        fjord_authority = lichen("keys", "new", "--out", new / "authority.key").strip()
        lichen("tls", "cert", "--ca-cert", ca, "--ca-key", ca_dir / "ca.key", "--name", "fjord",
               "--host", LOOPBACK, "--out-cert", new / "tls.crt", "--out-key", new / "tls.key")
        shutil.copy(draft, new / "genesis.json")
        api, peer = sorted(free_port() for _ in range(2))
        assert "committed" in tx("harbor", "policy", "add-institution", "--name", "fjord",
                                 "--display", "Fjord Sparebank", "--jurisdiction", "NO",
                                 "--node-key", fjord_node, "--authority-key", fjord_authority,
                                 "--address", f"{LOOPBACK}:{api}",
                                 "--peer-address", f"{LOOPBACK}:{peer}",
                                 "--key", tmp_path / "regulator" / "regulator.key")
        granted = tx("harbor", "license", "grant", "--institution", "fjord", "--role",
                     "observer", "--key", tmp_path / "regulator" / "regulator.key")
        assert "committed" in granted
        init = ["node", "init", "--genesis", new / "genesis.json", "--key", new / "node.key",
                "--listen", f"{LOOPBACK}:{api}", "--data", new / "data",
                "--tls-cert", new / "tls.crt", "--tls-key", new / "tls.key", "--tls-ca", ca,
                "--out", new / "config.json"]
        alone = subprocess.run(LICHEN + [str(a) for a in init], capture_output=True, text=True,
                               timeout=30, env=ENV)
        assert alone.returncode == 1 and "--join URL" in alone.stderr, alone.stderr
        out = lichen(*init, "--join", urls["rhein"])
        assert "fjord" in out and f"peers on {LOOPBACK}:{peer}" in out
        with open(new / "node.log", "wb") as log:
            procs.append(subprocess.Popen(
                LICHEN + ["node", "run", "--config", str(new / "config.json")], env=ENV,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
        height = status(urls["harbor"], ca)["height"]

        def fjord_follows() -> dict | None:
            assert procs[-1].poll() is None, (new / "node.log").read_text()[-2000:]
            st = status(f"https://{LOOPBACK}:{api}", ca)
            return st if st and st["height"] >= height and st["role"] == "observer" else None

        st = wait_until("fjord's node follows the chain as an observer", fjord_follows,
                        timeout=30)
        assert st["institution"] == "fjord" and st["node_id"] == fjord_node
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


# ---- every refusal: a clear error naming the option, exit 1, nothing written ----------------

def run(*args: str | Path) -> Result:
    return CliRunner().invoke(lichen_cli, [str(a) for a in args],
                              env={"LICHEN_NODE": "", "LICHEN_ALLOW_LOOSE_KEYS": None})


def address(path: Path) -> str:
    kp = KeyPair.generate()
    kp.save(path)
    return kp.address_hex


@pytest.fixture
def ceremony_dir(tmp_path: Path, monkeypatch) -> Path:
    """A draft with one https institution (harbor, node key harbor.key) and its asset USD."""
    monkeypatch.chdir(tmp_path)
    address(tmp_path / "regulator.key")
    address(tmp_path / "harbor.key")
    address(tmp_path / "harbor-authority.key")
    ok = [run("genesis", "init", "--chain-name", "t", "--regulator", "regulator.key",
              "--out", "g.json"),
          run("genesis", "add-institution", "g.json", "--name", "harbor", "--jurisdiction", "US",
              "--node-key", "harbor.key", "--authority-key", "harbor-authority.key",
              "--address", "10.1.2.3:7400", "--peer-address", "10.1.2.3:7500",
              "--roles", "validator,kyc_issuer,asset_issuer"),
          run("genesis", "add-asset", "g.json", "--code", "USD", "--issuer", "harbor",
              "--decimals", "2")]
    assert all(r.exit_code == 0 for r in ok), [r.output for r in ok]
    return tmp_path


def refuses(option: str, *args: str | Path, files: tuple[str, ...] = ("g.json",)) -> str:
    """The command exits 1 naming `option`, and changes none of `files`."""
    before = {f: Path(f).read_bytes() for f in files if Path(f).exists()}
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert f"Error: {option}" in result.output, result.output
    assert {f: Path(f).read_bytes() for f in files if Path(f).exists()} == before
    return result.output


INSTITUTION = ["genesis", "add-institution", "g.json", "--name", "rhein", "--jurisdiction", "DE",
               "--address", "10.1.2.4:7400", "--roles", "validator"]


@pytest.mark.parametrize("option, args", [
    ("--name", ["--name", "harbor"]),  # duplicate
    ("--name", ["--name", "not a name!"]),
    ("--node-key", ["--node-key", "harbor-authority.key"]),  # harbor's key
    ("--node-key", ["--node-key", "regulator.key"]),
    ("--node-key", ["--node-key", "no-such-file"]),
    ("--authority-key", ["--authority-key", "harbor.key"]),
    ("--address", ["--address", "10.1.2.4:99999"]),
    ("--address", ["--address", "10.1.2.4"]),
    ("--address", ["--address", ""]),  # a validator runs a node
    ("--peer-address", ["--peer-address", "10.1.2.4:x"]),
    ("--roles", ["--roles", "validator,banker"]),
    ("--jurisdiction", ["--jurisdiction", "DEU"]),
    ("--display", ["--display", "Rhein \u202eGA"]),
])
def test_add_institution_refuses_bad_input_and_writes_nothing(ceremony_dir, option, args):
    address(ceremony_dir / "rhein.key")
    overrides = dict(zip(args[::2], args[1::2], strict=True))
    base = dict(zip(INSTITUTION[3::2], INSTITUTION[4::2], strict=True)) | {"--node-key": "rhein.key"}
    flat = [x for k, v in (base | overrides).items() for x in (k, v)]
    refuses(option, *INSTITUTION[:3], *flat)


@pytest.mark.parametrize("option, args", [
    ("--issuer", ["add-asset", "g.json", "--code", "EUR", "--issuer", "nobody", "--decimals", "2"]),
    ("--code", ["add-asset", "g.json", "--code", "USD", "--issuer", "harbor", "--decimals", "2"]),
    ("--code", ["add-asset", "g.json", "--code", "U$D", "--issuer", "harbor", "--decimals", "2"]),
    ("--decimals", ["add-asset", "g.json", "--code", "EUR", "--issuer", "harbor",
                    "--decimals", "40"]),
    ("--limit", ["add-tier", "g.json", "--tier", "1", "--limit", "EUR:1:1"]),
    ("--limit", ["add-tier", "g.json", "--tier", "1", "--limit", "USD:1"]),
    ("--limit", ["add-tier", "g.json", "--tier", "1", "--limit", "USD:1:1", "--limit", "USD:2:2"]),
    ("--tier", ["add-tier", "g.json", "--tier", "300", "--limit", "USD:1:1"]),
    ("CODE", ["block-jurisdiction", "g.json", "KP", "KPX"]),  # the first is not kept either
])
def test_asset_tier_and_jurisdiction_steps_refuse_bad_input_and_write_nothing(ceremony_dir,
                                                                              option, args):
    refuses(option, "genesis", *args)


@pytest.mark.parametrize("option, args", [
    ("--chain-name", ["--chain-name", "", "--regulator", "regulator.key"]),
    ("--regulator", ["--chain-name", "x", "--regulator", "nope"]),
    ("--genesis-time", ["--chain-name", "x", "--regulator", "regulator.key",
                        "--genesis-time", "tomorrow"]),
])
def test_init_refuses_bad_input_and_writes_nothing(ceremony_dir, option, args):
    refuses(option, "genesis", "init", *args, "--out", "new.json")
    assert not Path("new.json").exists()


def test_init_does_not_overwrite_a_draft(ceremony_dir):
    refuses("g.json exists", "genesis", "init", "--chain-name", "x", "--regulator",
            "regulator.key", "--out", "g.json")


def test_show_names_what_keeps_a_draft_from_starting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("genesis", "init", "--chain-name", "x", "--regulator",
               address(tmp_path / "r.key"), "--out", "g.json").exit_code == 0
    shown = run("genesis", "show", "g.json")
    assert "not startable yet: genesis needs at least one validator" in shown.output
    assert json.loads(run("genesis", "show", "g.json", "--json").output)["startable"] is False


# ---- node init --------------------------------------------------------------------------------

@pytest.fixture
def tls_files(ceremony_dir) -> Path:
    assert run("tls", "ca", "--out-cert", "ca.crt", "--out-key", "ca.key").exit_code == 0
    for name, host in (("harbor", "10.1.2.3"), ("other", "10.9.9.9")):
        assert run("tls", "cert", "--ca-cert", "ca.crt", "--ca-key", "ca.key", "--name", name,
                   "--host", host, "--out-cert", f"{name}.crt",
                   "--out-key", f"{name}-tls.key").exit_code == 0
    return ceremony_dir


NODE_INIT = {"--genesis": "g.json", "--key": "harbor.key", "--listen": "0.0.0.0:7400",
             "--data": "data", "--tls-cert": "harbor.crt", "--tls-key": "harbor-tls.key",
             "--tls-ca": "ca.crt", "--out": "config.json"}


def node_init(**over: str | None) -> list[str]:
    opts = NODE_INIT | {f"--{k.replace('_', '-')}": v for k, v in over.items()}
    return ["node", "init", *[x for k, v in opts.items() if v is not None
                              for x in ((k,) if v == "" else (k, v))]]


def test_node_init_writes_a_config_with_read_auth_and_the_genesis_ports(tls_files):
    result = run(*node_init())
    assert result.exit_code == 0, result.output
    config = NodeConfig.load("config.json")
    assert (config.name, config.listen, config.peer_listen) == ("harbor", "0.0.0.0:7400",
                                                                 "0.0.0.0:7500")
    assert config.read_auth and config.tls and not config.devnet
    assert config.read_tokens_file == str(tls_files / "tokens.json")
    assert Path(config.data_dir) == tls_files / "data" and Path("data").is_dir()


@pytest.mark.parametrize("option, over", [
    ("--key", {"key": "harbor-authority.key"}),  # the authority key, not the node key
    ("--key", {"key": "stranger.key"}),
    ("--listen", {"listen": "0.0.0.0:7401"}),
    ("--listen", {"listen": "7400"}),
    ("--peer-listen", {"peer_listen": "0.0.0.0:7501"}),
    ("--insecure", {"insecure": "", "tls_cert": None, "tls_key": None, "tls_ca": None}),
    ("--tls-cert", {"tls_cert": None}),
    ("--tls-cert", {"tls_cert": "other.crt", "tls_key": "other-tls.key"}),  # names 10.9.9.9
    ("--tls-cert", {"tls_key": "other-tls.key"}),  # not the certificate's key
    ("--tls-ca", {"tls_ca": "harbor.key"}),  # no PEM
])
def test_node_init_refuses_what_would_not_run_and_writes_nothing(tls_files, option, over):
    address(tls_files / "stranger.key")
    refuses(option, *node_init(**over), files=("config.json",))
    assert not Path("config.json").exists() and not Path("data").exists()


def test_node_init_refuses_a_key_file_others_can_read(tls_files):
    """Models an operator about to run a node whose key any local user could copy."""
    os.chmod("harbor.key", 0o644)
    out = refuses("--key", *node_init(), files=("config.json",))
    assert "chmod 600" in out and not Path("config.json").exists()


def test_node_init_asks_for_insecure_on_an_http_genesis(ceremony_dir):
    address(ceremony_dir / "plain.key")
    assert run("genesis", "add-institution", "g.json", "--name", "plain", "--jurisdiction", "DE",
               "--node-key", "plain.key", "--address", "http://10.1.2.5:7400",
               "--roles", "observer").exit_code == 0
    args = ["node", "init", "--genesis", "g.json", "--key", "plain.key", "--listen",
            "0.0.0.0:7400", "--data", "data", "--out", "config.json"]
    refuses("--insecure", *args, files=("config.json",))
    assert run(*args, "--insecure").exit_code == 0
    assert not NodeConfig.load("config.json").tls


# ---- lichen tls -------------------------------------------------------------------------------

def test_tls_cert_is_signed_by_the_ca_for_the_hosts_given(tls_files):
    cert = x509.load_pem_x509_certificate(Path("harbor.crt").read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(Path("ca.crt").read_bytes()))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.1.2.3" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert oct(Path("harbor-tls.key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("ca_cert, ca_key, reason", [
    ("ca.crt", "harbor-tls.key", "not the CA certificate's key"),  # a node's key
    ("harbor.crt", "harbor-tls.key", "not a CA certificate"),  # a node's certificate
    ("ca.crt", "g.json", "not a PEM"),
])
def test_tls_cert_refuses_to_sign_with_what_is_not_the_ca(tls_files, ca_cert, ca_key, reason):
    """Models an operator signing with the wrong key: peers would refuse every certificate."""
    result = run("tls", "cert", "--ca-cert", ca_cert, "--ca-key", ca_key, "--name", "x",
                 "--host", "10.1.2.3", "--out-cert", "x.crt", "--out-key", "x.key")
    assert result.exit_code == 1 and reason in result.output, result.output
    assert not Path("x.crt").exists() and not Path("x.key").exists()


def test_node_init_refuses_a_key_file_whose_address_is_not_its_seeds(tls_files):
    """Models a key file edited to declare the genesis node key while holding another seed: the
    node would start and be refused by every peer."""
    address(tls_files / "stranger.key")
    doc = json.loads(Path("stranger.key").read_text())
    doc["address"] = json.loads(Path("harbor.key").read_text())["address"]
    Path("stranger.key").write_text(json.dumps(doc))
    out = refuses("--key", *node_init(key="stranger.key"), files=("config.json",))
    assert "does not match the seed" in out


def test_node_init_join_refuses_a_node_it_cannot_read_and_writes_nothing(tls_files):
    address(tls_files / "stranger.key")
    refuses("--join", *node_init(key="stranger.key", join=f"http://127.0.0.1:{free_port()}"),
            files=("config.json",))
    assert not Path("config.json").exists()
