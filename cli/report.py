"""lichen report: what the supervisor reads — large and structuring transfers, and exposure."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import click

from .asset import coverage, fetch, units, when
from .common import emit_json, json_option, node_option


@click.group()
def report() -> None:
    """Supervisory reports the ledger records (large, structuring transfers) and each
    institution's exposure (issued supply against reported reserves)."""


def instant(ctx, param, value: str | None) -> int | None:
    """Unix ms, or a UTC date YYYY-MM-DD or date and time YYYY-MM-DDTHH:MM[:SS]."""
    if value is None or value.isdigit():
        return None if value is None else int(value)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("give unix ms or a UTC date/time, e.g. 2026-12-02T23:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def _reports_command(kind: str, about: str):
    @report.command(kind, help=about)
    @click.option("--from", "start", callback=instant, default=None,
                  help="From this block time (unix ms or UTC date[Ttime]); default: the oldest.")
    @click.option("--to", "end", callback=instant, default=None,
                  help="Up to this block time (inclusive); default: now.")
    @node_option
    @json_option
    def command(start, end, node_url, as_json) -> None:
        query = {"kind": kind} | ({"from": start} if start is not None else {}) | (
            {"to": end} if end is not None else {})
        doc = fetch(node_url, f"/v1/reports?{urlencode(query)}")
        if as_json:
            emit_json(doc)
            return
        decimals = {a["code"]: a["decimals"] for a in fetch(node_url, "/v1/assets")["assets"]}
        if not doc["reports"]:
            click.echo(f"no {kind} transfers reported in that time")
        for r in doc["reports"]:
            d = decimals.get(r["asset"], 0)
            window = (f"  24 h total {units(r['window_total'], d)}"
                      if kind == "structuring" else "")
            click.echo(f"{when(r['time'])}  {r['asset']} {units(r['amount'], d):>16}  "
                       f"{r['sender'][:12]}… → {r['recipient'][:12]}…  threshold "
                       f"{units(r['threshold'], d)}{window}  tx {r['tx_hash'][:16]}")
    return command


large = _reports_command("large", "Transfers at or above their asset's report threshold.")
structuring = _reports_command(
    "structuring", "Smaller transfers that took a sender's rolling 24 h total for an asset "
                   "across its report threshold (one per crossing).")


@report.command("exposure")
@node_option
@json_option
def exposure(node_url, as_json) -> None:
    """Per issuing institution, now: each asset's supply against its latest reserve report."""
    assets = fetch(node_url, "/v1/assets")["assets"]
    by_issuer: dict[str, list[dict]] = {}
    for a in assets:
        by_issuer.setdefault(a["issuer"], []).append(a)
    if as_json:
        emit_json({"institutions": [
            {"institution": name, "assets": [
                {"code": a["code"], "supply": a["supply"], "reserve_backed": a["reserve_backed"],
                 "reserves": a["reserves"]["amount"] if a["reserves"] else None,
                 "coverage_bps": a["coverage_bps"],
                 "stale": bool(a["reserves"] and a["reserves"]["stale"])} for a in held]}
            for name, held in sorted(by_issuer.items())]})
        return
    for name, held in sorted(by_issuer.items()):
        click.echo(name)
        for a in held:
            d, r = a["decimals"], a["reserves"]
            backing = (f"reserves {units(r['amount'], d):>16}  coverage "
                       f"{coverage(a['coverage_bps'])}" + ("  STALE" if r["stale"] else "")
                       if r else "no reserve report")
            click.echo(f"  {a['code']:<6} supply {units(a['supply'], d):>16}  {backing}"
                       + ("  (reserve-backed)" if a["reserve_backed"] else ""))
