"""lichen node: run a daemon in the foreground (what an operator runs)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from node.ledger.genesis import GenesisError
from node.server.config import NodeConfig
from node.server.logs import FORMATS
from node.server.logs import configure as configure_logging
from node.store.db import StoreError


@click.group()
def node() -> None:
    """Set up (init) and run a node daemon."""


@node.command("run")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--log-format", type=click.Choice(FORMATS), default=None,
              help="text lines, or one JSON object per line (default: the config's log_format, "
                   "else text).")
def run(config_path: str, log_format: str | None) -> None:
    """Run the node described by a config file until SIGINT or SIGTERM."""
    from node.server.daemon import run_node
    try:
        config = NodeConfig.load(config_path)
        configure_logging(config.name, config.log_level, log_format or config.log_format)
    except (ValueError, TypeError, OSError) as exc:
        raise click.ClickException(f"bad config: {exc}") from None
    key = _node_key(config)
    try:
        asyncio.run(run_node(config, key))
    except (GenesisError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        peers = f" (peers {config.peer_listen})" if config.peer_listen else ""
        raise click.ClickException(
            f"cannot serve on {config.listen}{peers}: {exc.strerror or exc}") from None


@node.command("init")
@click.option("--genesis", "genesis_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="The network's shared genesis.")
@click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="This node's key file (its institution's node key in the genesis).")
@click.option("--listen", required=True, metavar="HOST:PORT",
              help="Where the API binds, e.g. 0.0.0.0:7400 (the port of the genesis address).")
@click.option("--peer-listen", default="", metavar="HOST:PORT",
              help="Where the peer listener binds (default: --listen's host and the genesis "
                   "peer address's port, when the genesis gives one).")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="The node's data folder (LevelDB); made if missing.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="The node's certificate (PEM; `lichen tls cert` or your PKI's).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
              help="The certificate's private key (PEM).")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False),
              help="The CA that signed the peers' certificates (PEM).")
@click.option("--insecure", is_flag=True,
              help="Run without TLS (only for a genesis with http:// addresses).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the config.")
@click.option("--join", "join_url", default="", metavar="URL",
              help="A running node of the network: for an institution the regulator added on "
                   "chain (not in the genesis), its name and addresses come from that node's "
                   "GET /v1/institutions (TLS verified with --tls-ca).")
@click.option("--force", is_flag=True, help="Overwrite an existing config.")
def init(genesis_path: str, key_path: str, listen: str, peer_listen: str, data_dir: str,
         tls_cert: str | None, tls_key: str | None, tls_ca: str | None, insecure: bool,
         out: str, join_url: str, force: bool) -> None:
    """Write a node's config from the genesis, checked against it (key, ports, TLS).
    Reads of accounts and transactions then need tokens (`lichen node token issue`)."""
    from node.server.provision import InitError, InitRequest, init_config
    if Path(out).exists() and not force:
        raise click.ClickException(f"{out} exists; pass --force to overwrite it")
    added = _added_institutions(join_url, tls_ca) if join_url else ()
    req = InitRequest(genesis=Path(genesis_path), key=Path(key_path), listen=listen,
                      peer_listen=peer_listen, data_dir=Path(data_dir), out=Path(out),
                      tls_cert=Path(tls_cert) if tls_cert else None,
                      tls_key=Path(tls_key) if tls_key else None,
                      tls_ca=Path(tls_ca) if tls_ca else None, insecure=insecure,
                      added=added, joined_from=join_url)
    try:
        config = init_config(req)
    except InitError as exc:
        raise click.ClickException(str(exc)) from None
    Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    config.save(out)
    peers = f", peers on {config.peer_listen}" if config.peer_listen else ""
    click.echo(f"wrote {out}: {config.name} on {config.listen}{peers}, "
               f"{'TLS' if config.tls else 'no TLS'}, read_auth on")
    click.echo(f"start it with `lichen node run --config {out}`; issue read tokens with "
               f"`lichen node token issue --config {out} --all`")


def _added_institutions(url: str, tls_ca: str | None) -> tuple:
    """The institutions a running node reports (for `node init --join`)."""
    from devnet.client import ApiError, Client
    from node.server.provision import InitError, institution_from_record
    try:
        doc = Client(url, ca_file=tls_ca).get("/v1/institutions")
        return tuple(institution_from_record(i) for i in doc["institutions"])
    except (ApiError, KeyError, TypeError) as exc:
        raise click.ClickException(f"--join: cannot read the institutions at {url}: "
                                   f"{exc}") from None
    except InitError as exc:
        raise click.ClickException(str(exc)) from None


def _node_key(config: NodeConfig):
    """The node key, its passphrase asked for when the file is sealed and a terminal can answer
    (a daemon started in the background reads LICHEN_PASSPHRASE_FILE); refusals exit 1."""
    from .common import read_key_file
    try:
        return read_key_file(Path(config.key_file), prompt=sys.stdin.isatty())
    except click.BadParameter as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"cannot read the key file {config.key_file}: "
                                   f"{exc.strerror or exc}") from None


def _load_config(config_path: str) -> NodeConfig:
    try:
        return NodeConfig.load(config_path)
    except (ValueError, TypeError, OSError) as exc:
        raise click.ClickException(f"bad config: {exc}") from None


@node.command("verify")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def verify(config_path: str, as_json: bool) -> None:
    """Check a stopped node's store: hash links, Merkle roots, signatures, receipts, and the
    state by re-execution from genesis. Exits non-zero on the first problem."""
    from node.store.recovery import verify_store

    from .common import console, emit_json
    try:
        config = _load_config(config_path)
        report = verify_store(config.data_dir, config.genesis)
    except (GenesisError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    c = report.chain
    doc = {"ok": report.ok, "height": c.height, "blocks_checked": c.blocks_checked,
           "txs_executed": c.txs_executed, "receipts_checked": report.receipts_checked,
           "state_hash": c.state_hash.hex(), "state_records_match": report.state_records_match,
           "problem": report.problem or None}
    if as_json:
        emit_json(doc)
    else:
        console.print(f"blocks checked {c.blocks_checked}, txs re-executed {c.txs_executed}, "
                      f"receipts checked {report.receipts_checked}")
        console.print(f"state hash at height {c.height}: {c.state_hash.hex()}")
        console.print("[green]✔ the store is sound[/]" if report.ok
                      else f"[red]✘ {report.problem}[/]")
    if not report.ok:
        raise SystemExit(1)


@node.command("resync")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Really delete the node's database.")
def resync(config_path: str, yes: bool) -> None:
    """Wipe a stopped node's database so that, started again, it fetches the chain from its
    peers (for a store that is lost or fails `lichen node verify`)."""
    from devnet.client import ApiError, Client
    from node.ledger.genesis import Genesis
    from node.store.recovery import open_stopped_store, wipe_for_resync

    from .common import console
    config = _load_config(config_path)
    if not yes:
        raise click.ClickException(f"this deletes {config.data_dir}/db; pass --yes to go on")
    genesis = Genesis.load(config.genesis)
    me = _node_key(config)
    own = genesis.institution_by_key(me.address)  # unless the state says a key_rotate moved it
    try:
        store = open_stopped_store(config.data_dir, genesis)
        try:
            own = store.load_state().institution_by_node_key(me.address) or own
        finally:
            store.close()
    except StoreError as exc:
        if "stop the node first" in str(exc):
            raise click.ClickException(str(exc)) from None
    peers = []
    for inst in genesis.institutions:
        if inst.address and inst != own:
            try:
                peers.append(Client(inst.address, timeout=2).status())
            except ApiError:
                pass
    if not peers:
        raise click.ClickException("no peer answered: a resync needs a running network to "
                                   "fetch from")
    terms = [p["term"] for p in peers]
    db = wipe_for_resync(config.data_dir, genesis, me.address_hex, max(terms),
                         max(p["commit_index"] for p in peers))
    console.print(f"wiped {db}; it will not vote again in term {max(terms)} or earlier.\n"
                  f"Start the node again (`lichen node run --config {config_path}`, or "
                  f"`lichen devnet start NAME`): it fetches the chain from its peers.")


@node.group("token")
def token() -> None:
    """Read tokens for a node with read_auth (node.server.auth)."""


@token.command("issue")
@click.option("--config", "config_path", required=True,
              type=click.Path(exists=True, dir_okay=False))
@click.option("--for", "accounts", multiple=True, metavar="ADDR",
              help="An account the token may read (hex, key file or devnet key name); repeat.")
@click.option("--all", "everything", is_flag=True,
              help="The token reads every account and block (regulator, observers, auditors).")
@click.option("--label", default="", help="Whom the token is for, kept beside its hash.")
def issue(config_path: str, accounts: tuple[str, ...], everything: bool, label: str) -> None:
    """Issue a read token: print it once, keep only its hash and scope in the tokens file."""
    from node.server.auth import issue_token

    from .common import err_console, resolve_address
    if everything == bool(accounts):
        raise click.UsageError("pass --for ADDR (repeatable) or --all, not both")
    config = _load_config(config_path)
    path = config.read_tokens_file or str(Path(config_path).resolve().parent / "tokens.json")
    addresses = [resolve_address(a) for a in accounts]
    minted = issue_token(path, addresses, everything, label)
    scope = "every account" if everything else ", ".join(a.hex()[:16] + "…" for a in addresses)
    err = " (the node's config has read_auth off: it asks no token yet)" if not config.read_auth else ""
    err_console.print(f"token for {scope}, hash kept in {path}{err}:", highlight=False)
    click.echo(minted)
