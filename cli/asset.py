"""lichen asset: an asset's record and reserves, and the controls of its issuer and the
regulator."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from devnet.client import ApiError
from node.ledger.types import (
    MAX_DECIMALS,
    AssetAdd,
    AssetFreeze,
    AssetUnfreeze,
    AssetUpdate,
    Clawback,
    ReserveAttest,
    ReserveReport,
)

from .common import (
    client_for,
    emit_json,
    fail,
    fetch,
    json_option,
    load_key,
    node_option,
    parse_hash,
    resolve_address,
    submit_tx,
    wait_option,
)
from .kyc import print_salt, salted_evidence_hash


@click.group()
def asset() -> None:
    """Show an asset with its reserves; add or change one (the regulator); report and co-sign
    reserves (its issuer, an auditor); freeze it or claw units back."""


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def units(amount: int, decimals: int) -> str:
    """Minor units as the asset's major units, exactly (no floats)."""
    if decimals == 0:
        return f"{amount:,}"
    whole, frac = divmod(amount, 10**decimals)
    return f"{whole:,}.{frac:0{decimals}d}"


def coverage(bps: int | None) -> str:
    return "-" if bps is None else f"{bps // 100}.{bps % 100:02d} %"


def print_asset(doc: dict) -> None:
    d, r = doc["decimals"], doc["reserves"]
    flags = [f for f, on in (("clawback", doc["clawback"]), ("reserve-backed",
                                                            doc["reserve_backed"]),
                             ("FROZEN", doc["frozen"])) if on]
    click.echo(f"{doc['code']}  issued by {doc['issuer']}, {d} decimals"
               + (f"  [{', '.join(flags)}]" if flags else ""))
    click.echo(f"  supply      {units(doc['supply'], d)}")
    if doc.get("held"):
        click.echo(f"  held        {units(doc['held'], d)} (in open FX offers and escrows)")
    if r is None:
        click.echo("  reserves    (no report)")
    else:
        click.echo(f"  reserves    {units(r['amount'], d)} as of {when(r['as_of'])}"
                   + ("  STALE" if r["stale"] else ""))
        click.echo(f"  coverage    {coverage(doc['coverage_bps'])}")
        click.echo(f"  reported by {r['reporter']} at {when(r['reported_at'])} "
                   f"(report {r['report'][:16]}, evidence {r['evidence_hash'][:16]})")
        click.echo("  co-signed   " + (f"by {r['auditor']} at {when(r['attested_at'])}"
                                        if r["auditor"] else "(not yet)"))
    age = doc["reserve_max_age_ms"]
    click.echo(f"  reports go stale after {age // 1000:,} s" if age else
               "  reports never go stale")
    threshold = doc["report_threshold"]
    click.echo(f"  report threshold {units(threshold, d)}" if threshold else
               "  no report threshold")


@asset.command("show")
@click.argument("code")
@node_option
@json_option
def show(code, node_url, as_json) -> None:
    """Asset CODE: supply, reserves, coverage, who reported when and who co-signed."""
    doc = fetch(node_url, f"/v1/assets/{code.upper()}")
    if as_json:
        emit_json(doc)
    else:
        print_asset(doc)


@asset.command("list")
@node_option
@json_option
def list_assets(node_url, as_json) -> None:
    """Every asset with its supply and reserve coverage."""
    doc = fetch(node_url, "/v1/assets")
    if as_json:
        emit_json(doc)
        return
    for a in doc["assets"]:
        backing = (f"reserves {units(a['reserves']['amount'], a['decimals'])} "
                   f"({coverage(a['coverage_bps'])})" if a["reserves"] else "no reserve report")
        click.echo(f"{a['code']:<6} {a['issuer']:<10} supply {units(a['supply'], a['decimals'])}"
                   f"  {backing}" + ("  reserve-backed" if a["reserve_backed"] else ""))


def reserve_options(fn):
    fn = click.option("--report-threshold", type=click.IntRange(min=0), default=None,
                      help="Minor units: a transfer at or above it is reported (0: none).")(fn)
    fn = click.option("--reserve-max-age", "max_age_s", type=click.IntRange(min=0),
                      default=None,
                      help="Seconds after its as-of time a reserve report goes stale "
                           "(0: never).")(fn)
    return click.option("--reserve-backed/--not-reserve-backed", default=None,
                        help="Issuance only within the issuer's latest reserve report.")(fn)


@asset.command("add")
@click.argument("code")
@click.option("--issuer", required=True, help="The issuing institution (licensed asset_issuer "
                                              "to issue).")
@click.option("--decimals", required=True, type=click.IntRange(0, MAX_DECIMALS))
@click.option("--clawback/--no-clawback", default=False, show_default=True,
              help="Whether its issuer may claw units back (fixed at creation).")
@reserve_options
@click.option("--key", default="regulator", show_default=True, help="The regulator's key.")
@node_option
@json_option
@wait_option
def add(code, issuer, decimals, clawback, reserve_backed, max_age_s, report_threshold, key,
        node_url, as_json, no_wait, timeout) -> None:
    """Add asset CODE to the running chain (the regulator)."""
    payload = AssetAdd(code.upper(), issuer, decimals, clawback, bool(reserve_backed),
                       (max_age_s or 0) * 1000, report_threshold or 0)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"add asset {code.upper()} issued by {issuer}")


@asset.command("update")
@click.argument("code")
@reserve_options
@click.option("--key", default="regulator", show_default=True, help="The regulator's key.")
@node_option
@json_option
@wait_option
def update(code, reserve_backed, max_age_s, report_threshold, key, node_url, as_json, no_wait,
           timeout) -> None:
    """Change asset CODE's reserve backing, staleness limit or report threshold (the
    regulator); what is not given stays as the node shows it now."""
    now = fetch(node_url, f"/v1/assets/{code.upper()}")
    payload = AssetUpdate(
        code.upper(), now["reserve_backed"] if reserve_backed is None else reserve_backed,
        now["reserve_max_age_ms"] if max_age_s is None else max_age_s * 1000,
        now["report_threshold"] if report_threshold is None else report_threshold)
    describe = (f"update {payload.code}: reserve-backed {payload.reserve_backed}, stale after "
                f"{payload.reserve_max_age_ms // 1000} s, threshold {payload.report_threshold}")
    submit_tx(node_url, load_key(key), payload, no_wait, as_json, describe)


@asset.command("reserve-report")
@click.argument("code")
@click.option("--amount", required=True, type=click.IntRange(min=0),
              help="Reserves held, in the asset's minor units.")
@click.option("--as-of", "as_of", type=click.IntRange(min=0), default=None,
              help="Unix ms the amount was true (default: the node's last block time).")
@click.option("--evidence-file", type=click.Path(dir_okay=False, exists=True), required=True,
              help="The off-chain evidence (statement, custodian letter); only "
                   "sha256(salt || file) goes on chain.")
@click.option("--key", required=True, help="The asset issuer's key.")
@node_option
@json_option
@wait_option
def reserve_report(code, amount, as_of, evidence_file, key, node_url, as_json, no_wait,
                   timeout) -> None:
    """Report the reserves backing asset CODE (its issuer). The evidence salt is printed: keep
    it with the file, it proves the hash is of that file."""
    if as_of is None:  # a block's time never goes back, so the next block is not before it
        try:
            as_of = client_for(node_url).status()["timestamp"]
        except ApiError as err:
            fail(err.code, err.message)
    salt, evidence_hash = salted_evidence_hash(Path(evidence_file).read_bytes())
    submit_tx(node_url, load_key(key), ReserveReport(code.upper(), amount, as_of, evidence_hash),
              no_wait, as_json, f"report {code.upper()} reserves of {amount:,} as of {when(as_of)}")
    print_salt(salt, evidence_hash, as_json, "the evidence file")


@asset.command("reserve-attest")
@click.argument("code")
@click.option("--report", default=None, help="The report's id (its tx hash; default: the "
                                             "asset's latest report).")
@click.option("--key", required=True, help="The auditor's key (an institution licensed "
                                           "validator or observer, not the issuer).")
@node_option
@json_option
@wait_option
def reserve_attest(code, report, key, node_url, as_json, no_wait, timeout) -> None:
    """Co-sign the latest reserve report of asset CODE as its auditor."""
    if report is None:
        latest = fetch(node_url, f"/v1/assets/{code.upper()}")["reserves"]
        if latest is None:
            fail("UNKNOWN_REPORT", f"{code.upper()} has no reserve report")
        report = latest["report"]
    report_id = parse_hash(report, "a report id is 64 hex digits", "--report")
    submit_tx(node_url, load_key(key), ReserveAttest(code.upper(), report_id), no_wait, as_json,
              f"co-sign {code.upper()} reserve report {report[:16]}")


def _asset_freeze_command(name: str, payload_type):
    @asset.command(name)
    @click.argument("code")
    @click.option("--key", required=True, help="The regulator's or the asset issuer's key.")
    @node_option
    @json_option
    @wait_option
    def command(code, key, node_url, as_json, no_wait, timeout) -> None:
        submit_tx(node_url, load_key(key), payload_type(code.upper()), no_wait, as_json,
                  f"{name.replace('_', ' ')} {code.upper()}")
    command.__doc__ = f"{name.capitalize()} every movement of asset CODE."
    return command


freeze = _asset_freeze_command("freeze", AssetFreeze)
unfreeze = _asset_freeze_command("unfreeze", AssetUnfreeze)


@asset.command("clawback")
@click.argument("code")
@click.option("--from", "from_", required=True,
              help="Account: address, key file or devnet key name.")
@click.option("--amount", required=True, type=click.IntRange(min=1), help="Minor units.")
@click.option("--reason", required=True, help="Why (kept on chain; no personal data).")
@click.option("--key", required=True, help="The asset issuer's key.")
@node_option
@json_option
@wait_option
def clawback(code, from_, amount, reason, key, node_url, as_json, no_wait, timeout) -> None:
    """Take AMOUNT of CODE back from an account into the issuer's (clawback-able assets only)."""
    payload = Clawback(code.upper(), resolve_address(from_), amount, reason)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"claw back {amount} {code.upper()} from {from_}")
