"""lichen devnet demo: the main flows, step by step, against a running devnet."""
from __future__ import annotations

import click

from node.ledger.types import KycAttest, Transfer

from .client import ApiError, Client
from .common import console, load_key, sign_and_submit
from .devnet import Devnet, collect_status, dir_option, print_status


def step(client: Client, title: str, key, payload, expect: str) -> dict:
    """Run one step and print its outcome; `expect` is `committed` or a reason code."""
    console.print(f"\n[bold]▸ {title}[/]")
    try:
        result = sign_and_submit(client, key, payload, wait=True)
        code = result.get("code") or result.get("error")
    except ApiError as err:
        result, code = {"status": "rejected", "error": err.code, "message": err.message}, err.code
    if result["status"] == "committed":
        console.print(f"  [green]✔ committed[/] at height {result['height']}  (tx {result['hash'][:16]}…)")
    else:
        console.print(f"  [red]✘ {code}[/]: {result.get('message', '')}", highlight=False)
    got = "committed" if result["status"] == "committed" else code
    if got != expect:
        raise click.ClickException(f"expected {expect}, got {got}")
    return result


@click.command("demo")
@dir_option
def demo(dir_) -> None:
    """Walk through KYC-gated, cross-border payments on the devnet in --dir."""
    net = Devnet(dir_)
    doc = net.load()
    client = Client(doc["nodes"][0]["url"])
    k = lambda name: load_key(str(net.dir / "keys" / f"{name}.key"))  # noqa: E731
    alice, bob, carol = k("alice"), k("bob"), k("carol")
    console.rule("lichen demo")
    console.print("alice (US, tier 1, attested by inst0 · Harbor Bank) holds USD, EUR and SGD.\n"
                  "carol has no KYC attestation yet. EUR is issued by inst1 (Rhein Clearing AG, DE).")

    step(client, "alice pays carol 10.00 EUR: carol holds no attestation", alice,
         Transfer("EUR", carol.address, 1000, "first try"), "KYC_MISSING")

    import hashlib
    import time
    expires = int(time.time() * 1000) + 365 * 86_400_000
    step(client, "inst2 (Lion City Payments, SG) attests carol: tier 1, SG, one year", k("inst2"),
         KycAttest(carol.address, 1, "SG", expires, hashlib.sha256(b"kyc-file:carol").digest()),
         "committed")

    step(client, "cross-border: alice (US) pays carol (SG) 15.00 EUR, a currency issued in DE", alice,
         Transfer("EUR", carol.address, 1500, "invoice 42"), "committed")

    step(client, "alice sends bob 1,500.00 USD: over her tier-1 limit of 1,000.00 per payment", alice,
         Transfer("USD", bob.address, 150_000, "too much"), "LIMIT_EXCEEDED")

    carol_doc = client.account(carol.address_hex)
    console.print(f"\ncarol now holds {carol_doc['balances']} and her KYC standing is "
                  f"{'valid' if carol_doc['kyc']['valid'] else carol_doc['kyc']['error']}.\n")
    print_status(collect_status(net, doc))
    console.print("""
[bold]Try next[/] (after `source .venv/bin/activate`)
  lichen account show carol
  lichen tx transfer --key bob --to alice --asset EUR --amount 2500
  lichen kyc revoke --key inst2 --subject carol    # carol: KYC_REVOKED
  lichen account freeze bob --key regulator        # bob: FROZEN
  lichen block show latest
  lichen devnet kill node0; lichen devnet status   # a new leader
  lichen devnet start node0                        # it catches up
  lichen devnet partition node2; lichen devnet heal
  lichen bench --duration 10 --rate 1000
  lichen devnet down""", highlight=False)
