"""Options and helpers shared by every command group."""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console

from devnet.client import ApiError, Client, sign_and_submit
from devnet.network import pid_alive
from node.ledger.crypto import (
    KeyFileError,
    KeyPair,
    Signer,
    key_file_address,
    parse_address,
    passphrase_from_env,
)
from node.ledger.errors import LedgerError
from node.ledger.genesis import Genesis
from node.ledger.types import Payload

# The devnet folder every command defaults to: LICHEN_DEVNET, else ./.devnet
DEFAULT_DEVNET = os.environ.get("LICHEN_DEVNET") or ".devnet"
console = Console(soft_wrap=True)  # a long line stays one line in a pipe or a log
err_console = Console(stderr=True, soft_wrap=True)


def devnet_file(dir_: str | Path = DEFAULT_DEVNET) -> Path:
    return Path(dir_) / "devnet.json"


def default_node_url() -> str | None:
    """LICHEN_NODE, else the first running node of ./.devnet (so that after `lichen devnet
    kill node0` commands go on against the rest), else its first node."""
    if os.environ.get("LICHEN_NODE"):
        return os.environ["LICHEN_NODE"]
    f = devnet_file()
    if f.exists():
        nodes = json.loads(f.read_text()).get("nodes", [])
        running = [n for n in nodes if pid_alive(n.get("pid"))]
        if running or nodes:
            return (running or nodes)[0]["url"]
    return None


def default_cacert() -> str | None:
    """The CA of ./.devnet, when there is one (its nodes serve https)."""
    ca = Path(DEFAULT_DEVNET) / "tls" / "ca.crt"
    return str(ca) if ca.is_file() else None


def _remember(ctx: click.Context, param: click.Parameter, value):
    ctx.meta[f"lichen.{param.name}"] = value
    return value


def node_option(f):
    """--node, and how the node is trusted: --cacert (its CA, for https) and --genesis (the
    chain it must be on)."""
    f = click.option("--genesis", "genesis_pin", envvar="LICHEN_GENESIS", expose_value=False,
                     callback=_remember, type=click.Path(dir_okay=False, exists=True),
                     help="A genesis file: refuse (WRONG_CHAIN) a node on another chain.")(f)
    f = click.option("--token", envvar="LICHEN_TOKEN", expose_value=False, callback=_remember,
                     help="Read token the node's operator issued (nodes with read_auth).")(f)
    f = click.option("--cacert", envvar="LICHEN_CACERT", expose_value=False, callback=_remember,
                     type=click.Path(dir_okay=False, exists=True),
                     show_default="LICHEN_CACERT or ./.devnet's CA",
                     help="CA certificate to verify an https node with.")(f)
    return click.option("--node", "node_url", default=default_node_url,
                        show_default="LICHEN_NODE or the first running node of ./.devnet",
                        help="URL of the node to talk to.")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


def wait_option(f):
    f = click.option("--timeout", default=30.0, show_default=True,
                     help="Seconds to wait for the commit before giving up with TIMEOUT.")(f)
    return click.option("--no-wait", is_flag=True,
                        help="Return once the node admits it, without waiting for the commit.")(f)


def client_for(node_url: str | None) -> Client:
    """A client for the node, verified with --cacert (else ./.devnet's CA) when https; with
    --genesis, only once the node shows it is on that genesis's chain."""
    if not node_url:
        raise click.UsageError("no node to talk to: pass --node URL, set LICHEN_NODE, or run "
                               "`lichen devnet up` here")
    meta = click.get_current_context().meta
    extra = {"token": meta["lichen.token"]} if meta.get("lichen.token") else {}
    client = Client(node_url, ca_file=meta.get("lichen.cacert") or default_cacert(), **extra)
    if meta.get("lichen.genesis_pin"):
        check_chain(client, node_url, meta["lichen.genesis_pin"])
    return client


def check_chain(client: Client, node_url: str, genesis_file: str) -> None:
    """The node's chain id must be the one the genesis file defines: WRONG_CHAIN, exit 1."""
    try:
        want = Genesis.load(genesis_file).chain_id.hex()
    except (ValueError, KeyError, OSError) as exc:
        raise click.BadParameter(f"{genesis_file} is not a genesis file: {exc}") from None
    try:
        got = client.status()["chain_id"]
    except ApiError as err:
        fail(err.code, err.message)
    if got != want:
        fail("WRONG_CHAIN", f"the node at {node_url} is on chain {got[:16]}…, not on the "
                            f"chain of {genesis_file} ({want[:16]}…); refusing to talk to it")


def load_key(spec: str) -> KeyPair:
    """A key file path, or the name of a key in ./.devnet/keys (e.g. `alice`). A sealed file's
    passphrase comes from LICHEN_PASSPHRASE_FILE, or else from a prompt."""
    return read_key_file(find_key_file(spec))


def find_key_file(spec: str) -> Path:
    for candidate in (Path(spec), Path(DEFAULT_DEVNET) / "keys" / f"{spec}.key"):
        if candidate.is_file():
            return candidate
    raise click.BadParameter(f"no key file {spec!r} (nor {DEFAULT_DEVNET}/keys/{spec}.key)")


def key_address(spec: str) -> bytes:
    """The address of a key file or devnet key name, read without its seed or passphrase."""
    path = find_key_file(spec)
    try:
        return key_file_address(path)
    except (ValueError, KeyError) as exc:
        raise click.BadParameter(f"{path} is not a lichen key file: {exc}") from None


def read_key_file(path: Path, prompt: bool = True) -> KeyPair:
    """Load one key file; a refusal (loose mode, wrong passphrase, not a key) is a usage error.
    Without `prompt` a sealed file opens only with LICHEN_PASSPHRASE_FILE."""
    try:
        return KeyPair.load(path, passphrase=(lambda: ask_passphrase(path)) if prompt else None)
    except KeyFileError as exc:
        raise click.BadParameter(str(exc)) from None
    except (ValueError, KeyError) as exc:
        raise click.BadParameter(f"{path} is not a lichen key file: {exc}") from None


def ask_passphrase(path: Path, confirm: bool = False) -> bytes:
    """The passphrase from the file LICHEN_PASSPHRASE_FILE names, or else typed at a prompt."""
    from_env = passphrase_from_env()
    if from_env is not None:
        return from_env
    typed = click.prompt(f"Passphrase for {path}", hide_input=True,
                         confirmation_prompt=confirm, err=True)
    return typed.encode()


def resolve_address(spec: str) -> bytes:
    """A hex address, a key file, or the name of a devnet key."""
    try:
        return parse_address(spec)
    except ValueError:
        pass
    try:
        return key_address(spec)
    except click.BadParameter:
        raise click.BadParameter(f"{spec!r} is not a 64-digit hex address, a key file, or a key "
                                 f"name in .devnet/keys") from None


def fetch(node_url: str | None, path: str) -> dict:
    """GET a node's JSON; a refusal prints its reason code and exits non-zero."""
    try:
        return client_for(node_url).get(path)
    except ApiError as err:
        fail(err.code, err.message)


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)?")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str) -> int:
    """`500ms`, `30s`, `5m`, `2h`, `7d`, or a bare number of seconds -> milliseconds."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise click.BadParameter(f"{text!r} is not a duration like 30s, 5m, 2h or 7d")
    return int(m.group(1)) * _UNIT_MS[m.group(2) or "s"]


class Duration(click.ParamType):
    """A click option of a duration, as milliseconds."""
    name = "duration"

    def convert(self, value, param, ctx) -> int:
        return value if isinstance(value, int) else parse_duration(value)


DURATION = Duration()


def parse_hash(text: str, message: str, param_hint: str | None = None) -> bytes:
    """A 32-byte hash given as 64 hex digits; click.BadParameter(message) otherwise."""
    try:
        h = bytes.fromhex(text)
    except ValueError:
        h = b""
    if len(h) != 32:
        raise click.BadParameter(message, param_hint=param_hint)
    return h


def parse_tx_id(text: str, what: str) -> bytes:
    """An offer's, escrow's or loan's id: the 64 hex digits of the tx that made it."""
    return parse_hash(text, f"{what} is the 64 hex digits of the hash of its transaction")


def fail(code: str, message: str) -> NoReturn:
    """Print the reason code on stderr and exit non-zero."""
    err_console.print(f"[bold red]{code}[/]: {message}", highlight=False)
    sys.exit(1)


def write_report(path: str, html: str, out: Console) -> None:
    """An HTML report (--report FILE.html of bench and chaos), and where it went."""
    Path(path).write_text(html, encoding="utf-8")
    out.print(f"report written to {path} ({len(html.encode()) // 1024} KiB; open it in a browser)",
              highlight=False)


def emit_json(doc) -> None:
    click.echo(json.dumps(doc, indent=2))


def submit_tx(node_url: str | None, key: Signer, payload: Payload, no_wait: bool,
              as_json: bool, describe: str) -> dict:
    """What every submitting command does: submit, report, exit non-zero on a rejection."""
    timeout = click.get_current_context().params.get("timeout", 30.0)
    try:
        result = sign_and_submit(client_for(node_url), key, payload, wait=not no_wait,
                                 timeout=timeout)
    except (ApiError, LedgerError) as err:  # LedgerError: refused here, before anything is sent
        if as_json:
            emit_json({"error": err.code, "message": err.message})
        fail(err.code, err.message)
    report(result, describe, as_json)
    return result


def report(result: dict, describe: str, as_json: bool) -> None:
    if as_json:
        emit_json(result)
    short = result["hash"][:16]
    if result["status"] == "committed":
        if not as_json:
            console.print(f"[green]✔[/] {describe}: committed at height {result['height']} "
                          f"(tx {short}…)", highlight=False)
        return
    if result["status"] == "pending" and "error" not in result:
        if not as_json:
            console.print(f"[yellow]…[/] {describe}: admitted, pending (tx {result['hash']})",
                          highlight=False)
        return
    code = result.get("code") or result.get("error", "FAILED")
    where = f" in block {result['height']}" if result.get("height") else ""
    fail(code, f"{describe} failed{where}: {result.get('message', '')}")
