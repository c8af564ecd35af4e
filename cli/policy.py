"""lichen policy: the regulator changes the ledger's policy on chain (no new chain needed)."""
from __future__ import annotations

import click

from devnet.client import ApiError
from node.ledger import genesis_builder as ceremony
from node.ledger.errors import Malformed
from node.ledger.types import (
    InstitutionAdd,
    JurisdictionBlock,
    JurisdictionUnblock,
    TierLimitWire,
    TierSet,
    _jurisdiction,
    _tier_limits,
)

from .common import (
    client_for,
    emit_json,
    fail,
    json_option,
    load_key,
    node_option,
    submit_tx,
    wait_option,
)
from .genesis import institution_options, institution_spec, parse_limit, run_step


@click.group()
def policy() -> None:
    """Show the ledger's policy now, or change it (regulator only, under every license policy).

    A change takes effect from the block that commits it, on every node, without a restart."""


def jurisdiction_code(ctx, param, value: str) -> str:
    try:
        return _jurisdiction("jurisdiction", value.upper())
    except Malformed as err:
        raise click.BadParameter(str(err)) from None


@policy.command("block-jurisdiction")
@click.argument("code", callback=jurisdiction_code)
@click.option("--key", default="regulator", show_default=True, help="The regulator's key.")
@node_option
@json_option
@wait_option
def block_jurisdiction(code, key, node_url, as_json, no_wait, timeout) -> None:
    """Block a jurisdiction (a sanctions-list update): from the committing block no value moves
    to or from a party placed there (JURISDICTION_BLOCKED)."""
    submit_tx(node_url, load_key(key), JurisdictionBlock(code), no_wait, as_json,
              f"block jurisdiction {code}")


@policy.command("unblock-jurisdiction")
@click.argument("code", callback=jurisdiction_code)
@click.option("--key", default="regulator", show_default=True, help="The regulator's key.")
@node_option
@json_option
@wait_option
def unblock_jurisdiction(code, key, node_url, as_json, no_wait, timeout) -> None:
    """Take a jurisdiction off the blocked list."""
    submit_tx(node_url, load_key(key), JurisdictionUnblock(code), no_wait, as_json,
              f"unblock jurisdiction {code}")


def tier_limits(ctx, param, value: tuple[str, ...]) -> tuple[TierLimitWire, ...]:
    try:
        return _tier_limits("limit", sorted(parse_limit(v) for v in value))
    except (ValueError, Malformed) as err:
        raise click.BadParameter(str(err)) from None


@policy.command("set-tier")
@click.option("--tier", required=True, type=click.IntRange(0, 255), help="The tier number.")
@click.option("--name", required=True, help="Its name, e.g. basic.")
@click.option("--limit", "limits", multiple=True, callback=tier_limits,
              metavar="ASSET:PER_TX:DAILY",
              help="A limit per asset, in minor units (repeat per asset); an asset not listed "
                   "cannot be sent at this tier.")
@click.option("--key", default="regulator", show_default=True, help="The regulator's key.")
@node_option
@json_option
@wait_option
def set_tier(tier, name, limits, key, node_url, as_json, no_wait, timeout) -> None:
    """Add a KYC tier or replace one whole: from the committing block every later transfer of
    its customers is held to these limits (lowering them binds at once)."""
    listed = ", ".join(f"{a} {p}/{d}" for a, p, d in limits) or "no asset"
    submit_tx(node_url, load_key(key), TierSet(tier, name, limits), no_wait, as_json,
              f"set tier {tier} {name}: {listed}")


@policy.command("add-institution")
@institution_options("needed before it is licensed validator or observer.")
@click.option("--key", default="regulator", show_default=True, help="The regulator's key.")
@node_option
@json_option
@wait_option
def add_institution(name, display, jurisdiction, node_key, authority_key, address, peer_address,
                    key, node_url, as_json, no_wait, timeout) -> None:
    """Add an institution to the running chain, licensed for nothing: grant its roles after
    (`lichen license grant`); a validator or observer licence makes its node join."""
    spec = institution_spec(name, display, jurisdiction, node_key, authority_key, address,
                            peer_address, [])
    s = run_step(lambda: ceremony.checked_institution(spec))
    payload = InstitutionAdd(s.name, s.display, s.jurisdiction, s.node_key,
                             s.authority_key or s.node_key, s.address, s.peer_address)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"add institution {s.name} ({s.jurisdiction}) at {s.address or 'no node'}")


@policy.command("show")
@node_option
@json_option
def show(node_url, as_json) -> None:
    """The blocked jurisdictions, the KYC tiers with their limits, and the institutions, as the
    node's ledger holds them now."""
    try:
        doc = client_for(node_url).get("/v1/policy")
    except ApiError as err:
        fail(err.code, err.message)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"blocked jurisdictions: {', '.join(doc['blocked_jurisdictions']) or '(none)'}")
    click.echo("tiers:")
    for t in doc["tiers"]:
        click.echo(f"  {t['tier']} {t['name']}{'' if t['limits'] else ': sends nothing'}")
        for a, lim in t["limits"].items():
            click.echo(f"      {a:<6} per tx {lim['per_tx']:>14,}   24 h {lim['daily']:>16,}")
    click.echo("institutions:")
    for i in doc["institutions"]:
        click.echo(f"  {i['name']} ({i['jurisdiction']}): {', '.join(i['roles']) or '(no licence)'}")
