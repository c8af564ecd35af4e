"""Human output: rich tables for accounts, blocks, transactions and the devnet."""
from __future__ import annotations

import datetime as dt

from rich.table import Table

from .common import console


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(h: str | None, n: int = 16) -> str:
    return (h[:n] + "…") if h and len(h) > n else (h or "-")


def print_account(doc: dict) -> None:
    t = Table(title=f"account {doc['address']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    if "institution" in doc:
        inst = doc["institution"]
        t.add_row("institution", f"{inst['name']} ({', '.join(inst['roles']) or 'no licenses'})")
        for role, ms in inst.get("expires_at", {}).items():
            t.add_row("licence ends", f"{role} at {when(ms)}")
    t.add_row("nonce", str(doc["nonce"]))
    balances = doc["balances"]
    t.add_row("balances", ", ".join(f"{v} {k}" for k, v in balances.items()) or "none")
    t.add_row("frozen", "yes" if doc["frozen"] else "no")
    atts = doc.get("attestations") or ([doc["attestation"]] if doc.get("attestation") else [])
    best = doc.get("attestation")
    for att in atts:
        state = "revoked" if att["revoked"] else f"expires {when(att['expires_at'])}"
        counts = " (counts)" if len(atts) > 1 and att == best and doc["kyc"]["valid"] else ""
        t.add_row("attestation",
                  f"tier {att['tier']}, {att['jurisdiction']}, by {att['issuer']}, {state}{counts}")
    if not atts:
        t.add_row("attestation", "none")
    kyc = doc["kyc"]
    t.add_row("KYC standing",
              "[green]valid[/]" if kyc["valid"] else f"[red]{kyc['error']}[/] {kyc['message']}")
    console.print(t)


def print_tx(doc: dict) -> None:
    t = Table(title=f"transaction {doc['hash']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    colours = {"committed": "green", "failed": "red", "pending": "yellow"}
    colour = colours.get(doc["status"], "white")
    t.add_row("status", f"[{colour}]{doc['status']}[/]")
    if doc.get("height") is not None:
        t.add_row("block", f"{doc['height']} (index {doc.get('index')})")
    if doc.get("code"):
        t.add_row("reason", f"{doc['code']}: {doc.get('message', '')}")
    body = doc.get("tx")
    if body:
        t.add_row("kind", body["kind"])
        t.add_row("sender", body["sender"])
        t.add_row("nonce", str(body["nonce"]))
        for k, v in body["payload"].items():
            t.add_row(k, str(v))
    console.print(t)


def print_block(doc: dict) -> None:
    t = Table(title=f"block {doc['height']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k in ("hash", "prev_hash", "tx_root", "state_hash", "proposer"):
        t.add_row(k, doc[k])
    t.add_row("time", when(doc["timestamp"]))
    t.add_row("term", str(doc["term"]))
    t.add_row("transactions", str(doc["tx_count"]))
    if "signers" in doc:
        signers, voters = doc["signers"], doc.get("validators", [])
        t.add_row("certified by", f"{len(signers)} of {len(voters)} validators: "
                  + (", ".join(short(s, 12) for s in signers) if signers else "not yet"))
    console.print(t)
    if doc["txs"]:
        txs = Table("#", "hash", "kind", "sender", "nonce", "outcome")
        for i, tx in enumerate(doc["txs"][:50]):
            outcome = "[green]ok[/]" if tx["status"] == "committed" else f"[red]{tx.get('code')}[/]"
            txs.add_row(str(i), short(tx["hash"]), tx["kind"], short(tx["sender"], 12),
                        str(tx["nonce"]), outcome)
        if len(doc["txs"]) > 50:
            txs.caption = f"{len(doc['txs']) - 50} more; use --json for all"
        console.print(txs)
