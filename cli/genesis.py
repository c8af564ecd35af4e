"""lichen genesis: assemble a network's genesis file step by step (the genesis ceremony).

Each command reads the draft, applies one step of node.ledger.genesis_builder, and writes the
draft back whole or not at all: a refused step prints `Error: --OPTION: reason`, exits 1, and
leaves the file as it was.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from node.ledger import genesis_builder as ceremony
from node.ledger.genesis import LICENSE_POLICIES, Genesis, GenesisError
from node.ledger.types import ROLES

from .common import emit_json, json_option, resolve_address

T = TypeVar("T")

# genesis field -> the option that gives it, for error messages
OPTION_OF = {
    "chain_name": "--chain-name", "genesis_time": "--genesis-time", "regulator": "--regulator",
    "license_policy": "--license-policy", "name": "--name", "key": "--node-key",
    "authority_key": "--authority-key", "address": "--address", "peer_address": "--peer-address",
    "jurisdiction": "--jurisdiction", "roles": "--roles", "display": "--display",
    "code": "--code", "issuer": "--issuer", "decimals": "--decimals", "tier": "--tier",
    "limits": "--limit",
}


# ---- reading and writing the draft ------------------------------------------------------------

def read_draft(path: str) -> ceremony.Doc:
    try:
        doc = json.loads(Path(path).read_text())
        ceremony.parse(doc)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, GenesisError, KeyError, TypeError, AttributeError) as exc:
        raise click.ClickException(f"{path} is not a genesis draft: {exc}") from None
    return doc


def write_draft(path: str, doc: ceremony.Doc) -> None:
    """Replace the file in one step (a temporary file beside it, then a rename)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent.resolve(), prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
        os.chmod(tmp, 0o644)  # a genesis is public: every operator gets a copy
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def step(path: str, apply: Callable[[ceremony.Doc], ceremony.Doc],
         options: dict[str, str] | None = None) -> ceremony.Doc:
    """Apply one ceremony step to the draft in `path`; a refusal names its option, exit 1."""
    doc = read_draft(path)
    new = run_step(lambda: apply(doc), options)
    write_draft(path, new)
    return new


def run_step(apply: Callable[[], T], options: dict[str, str] | None = None) -> T:
    """The step's result; its FieldError as `Error: --OPTION: reason` (`options` maps a field
    to what this command calls it, when not OPTION_OF's flag)."""
    try:
        return apply()
    except ceremony.FieldError as exc:
        option = (options or {}).get(exc.field) or OPTION_OF.get(exc.field, exc.field)
        raise click.ClickException(f"{option}: {exc.reason}") from None
    except GenesisError as exc:
        raise click.ClickException(str(exc)) from None


def address_of(option: str, spec: str) -> bytes:
    """A hex address or a key file (only its public address is read)."""
    try:
        return resolve_address(spec)
    except click.BadParameter as exc:
        raise click.ClickException(f"{option}: {exc.message}") from None


def parse_time(text: str | None) -> int:
    """Unix milliseconds, or an ISO date/time (UTC unless it says otherwise); default now."""
    if text is None:
        return int(time.time() * 1000)
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.ClickException(f"--genesis-time: {text!r} is neither unix milliseconds nor "
                                   "an ISO date/time such as 2027-01-04T09:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def institution_options(address_help: str) -> Callable[[Callable], Callable]:
    """The options that describe an institution, as `genesis add-institution` and `policy
    add-institution` both take them (`address_help` says when an address is needed)."""
    options = [
        click.option("--name", required=True, help="Short name, e.g. harbor (used in assets, KYC)."),
        click.option("--display", default="", help="Full name, e.g. \"Harbor Bank\"."),
        click.option("--jurisdiction", required=True, help="Two-letter country code, e.g. US."),
        click.option("--node-key", required=True, metavar="ADDR_OR_KEYFILE",
                     help="Its node's public key (peer links, blocks, votes)."),
        click.option("--authority-key", default=None, metavar="ADDR_OR_KEYFILE",
                     help="The key its transactions are signed with (default: the node key)."),
        click.option("--address", default="", metavar="HOST:PORT",
                     help="Where its node serves the API (https unless given as "
                          f"http://HOST:PORT); {address_help}"),
        click.option("--peer-address", default="", metavar="HOST:PORT",
                     help="Where its node serves its peers, if apart from the API.")]

    def apply(f: Callable) -> Callable:
        for option in reversed(options):
            f = option(f)
        return f
    return apply


def institution_spec(name: str, display: str, jurisdiction: str, node_key: str,
                     authority_key: str | None, address: str, peer_address: str,
                     roles: list[str]) -> ceremony.InstitutionSpec:
    """What institution_options gave, keys read as addresses (a refusal names its option)."""
    return ceremony.InstitutionSpec(
        name=name, display=display, jurisdiction=jurisdiction.upper(),
        node_key=address_of("--node-key", node_key),
        authority_key=address_of("--authority-key", authority_key) if authority_key else None,
        address=address, peer_address=peer_address, roles=roles)


def draft_argument(f):
    return click.argument("genesis_file", metavar="GENESIS",
                          type=click.Path(exists=True, dir_okay=False))(f)


# ---- commands ---------------------------------------------------------------------------------

@click.group()
def genesis() -> None:
    """Assemble a genesis file (the genesis ceremony): init, add institutions, assets, tiers,
    blocked jurisdictions; `show` prints the chain id every operator compares."""


@genesis.command("init")
@click.option("--chain-name", required=True, help="The network's name, e.g. lichen-prod.")
@click.option("--regulator", required=True, metavar="ADDR_OR_KEYFILE",
              help="The regulator's public key: hex address, or its key file (only the address "
                   "is read).")
@click.option("--license-policy", type=click.Choice(LICENSE_POLICIES), default="regulator",
              show_default=True, help="Who decides license changes.")
@click.option("--genesis-time", default=None, metavar="MS_OR_ISO",
              help="Timestamp of height 0: unix ms or ISO time (default: now).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the draft.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(chain_name: str, regulator: str, license_policy: str, genesis_time: str | None,
         out: str, force: bool) -> None:
    """Start a genesis draft."""
    if Path(out).exists() and not force:
        raise click.ClickException(f"{out} exists; pass --force to overwrite it")
    key = address_of("--regulator", regulator)
    when = parse_time(genesis_time)
    doc = run_step(lambda: ceremony.init(chain_name, key, when, license_policy))
    write_draft(out, doc)
    click.echo(f"wrote {out}: chain {chain_name}, regulator {key.hex()}")


@genesis.command("add-institution")
@draft_argument
@institution_options("required for validators and observers.")
@click.option("--roles", required=True, metavar="ROLE,...",
              help=f"Licensed roles, comma-separated: {', '.join(ROLES)}.")
def add_institution(genesis_file: str, name: str, display: str, jurisdiction: str,
                    node_key: str, authority_key: str | None, address: str, peer_address: str,
                    roles: str) -> None:
    """Add a licensed institution (public keys only leave its machine)."""
    spec = institution_spec(name, display, jurisdiction, node_key, authority_key, address,
                            peer_address, [r.strip() for r in roles.split(",") if r.strip()])
    doc = step(genesis_file, lambda d: ceremony.add_institution(d, spec))
    added = next(i for i in doc["institutions"] if i["name"] == name)
    click.echo(f"added {name} ({', '.join(added['roles'])}) at {added['address'] or 'no node'}")


@genesis.command("add-asset")
@draft_argument
@click.option("--code", required=True, help="Asset code, e.g. USD.")
@click.option("--issuer", required=True, help="The issuing institution's name.")
@click.option("--decimals", required=True, type=int, help="Minor units per unit: 2 for cents.")
@click.option("--clawback", is_flag=True, help="Its issuer may take units back (fixed here).")
def add_asset(genesis_file: str, code: str, issuer: str, decimals: int, clawback: bool) -> None:
    """Add an asset issued by an institution of the genesis."""
    doc = step(genesis_file, lambda d: ceremony.add_asset(d, code.upper(), issuer, decimals,
                                                          clawback))
    inst = next(i for i in doc["institutions"] if i["name"] == issuer)
    click.echo(f"added {code.upper()} issued by {issuer}")
    if "asset_issuer" not in inst["roles"]:
        click.echo(f"note: {issuer} is not licensed asset_issuer; it cannot issue {code.upper()} "
                   "until it is", err=True)


def parse_limit(text: str) -> tuple[str, int, int]:
    """ASSET:PER_TX:DAILY (minor units) -> (asset, per_tx, daily); ValueError says the form.
    `genesis add-tier` and `policy set-tier` both read their limits with it."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValueError(f"{text!r} is not ASSET:PER_TX:DAILY (integers, minor units, e.g. "
                         "USD:100000:300000)")
    return parts[0].upper(), int(parts[1]), int(parts[2])


@genesis.command("add-tier")
@draft_argument
@click.option("--tier", required=True, type=int, help="Tier number (attestations name it).")
@click.option("--name", default="", help="e.g. basic, standard, enhanced.")
@click.option("--limit", "limits", multiple=True, required=True, metavar="CODE:PER_TX:DAILY",
              help="Per asset: largest transfer and rolling 24 h total, minor units; repeat. "
                   "An asset not listed cannot be sent by this tier's customers.")
def add_tier(genesis_file: str, tier: int, name: str, limits: tuple[str, ...]) -> None:
    """Add a KYC tier with its transfer limits."""
    try:
        parsed = {a: (per_tx, daily) for a, per_tx, daily in map(parse_limit, limits)}
    except ValueError as exc:
        raise click.ClickException(f"--limit: {exc}") from None
    if len(parsed) != len(limits):
        raise click.ClickException("--limit: an asset is given twice")
    step(genesis_file, lambda d: ceremony.add_tier(d, tier, name, parsed))
    click.echo(f"added tier {tier} {name}: {', '.join(sorted(parsed))}")


@genesis.command("block-jurisdiction")
@draft_argument
@click.argument("codes", nargs=-1, required=True, metavar="CODE...")
def block_jurisdiction(genesis_file: str, codes: tuple[str, ...]) -> None:
    """Block jurisdictions (two-letter codes): their accounts cannot transact."""
    def apply(doc: ceremony.Doc) -> ceremony.Doc:
        for code in codes:
            doc = ceremony.block_jurisdiction(doc, code.upper())
        return doc
    step(genesis_file, apply, {"jurisdiction": "CODE"})
    click.echo(f"blocked {', '.join(c.upper() for c in codes)}")


@genesis.command("show")
@draft_argument
@json_option
def show(genesis_file: str, as_json: bool) -> None:
    """A readable summary and the chain id: every operator compares it before starting."""
    doc = read_draft(genesis_file)
    try:
        s = ceremony.summary(doc)
    except GenesisError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        emit_json({"chain_id": s.chain_id, "startable": s.startable,
                   "problems": list(s.problems), "genesis": s.genesis.to_json()})
        return
    for line in summary_lines(s.genesis):
        click.echo(line)
    for problem in s.problems:
        click.echo(f"not startable yet: {problem}")
    click.echo(f"chain id     {s.chain_id}")


def summary_lines(g: Genesis) -> list[str]:
    when = dt.datetime.fromtimestamp(g.genesis_time / 1000, dt.UTC).isoformat(timespec="seconds")
    lines = [f"chain        {g.chain_name}", f"genesis time {when} ({g.genesis_time})",
             f"regulator    {g.regulator.hex()}", f"licensing    {g.license_policy}",
             f"institutions {len(g.institutions)}"]
    for i in g.institutions:
        lines.append(f"  {i.name}" + (f" ({i.display})" if i.display else "")
                     + f"  {i.jurisdiction}  {','.join(i.roles)}")
        lines.append(f"    node key      {i.key.hex()}")
        if i.authority_key is not None:
            lines.append(f"    authority key {i.authority_key.hex()}")
        lines.append(f"    address       {i.address or '(no node)'}")
        if i.peer_address:
            lines.append(f"    peer address  {i.peer_address}")
    lines.append(f"assets       {len(g.assets)}")
    lines += [f"  {a.code}  issuer {a.issuer}  decimals {a.decimals}"
              + ("  clawback" if a.clawback else "") for a in g.assets]
    lines.append(f"tiers        {len(g.tiers)}")
    lines += [f"  {t.tier} {t.name}: " + (", ".join(
        f"{c} per tx {lim.per_tx} daily {lim.daily}" for c, lim in sorted(t.limits.items()))
        or "no asset may be sent") for t in g.tiers]
    lines.append("blocked      " + (", ".join(g.blocked_jurisdictions) or "none"))
    if g.attestations or g.balances:
        lines.append(f"attestations {len(g.attestations)}, balances {len(g.balances)}")
    return lines
