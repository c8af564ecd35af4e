"""lichen tx: payments, issuance and redemption, and looking transactions up."""
from __future__ import annotations

import json
from pathlib import Path

import click

from devnet.client import ApiError
from node.ledger.errors import Malformed
from node.ledger.genesis import Genesis
from node.ledger.types import Issue, Redeem, Transfer, _travel_rule
from node.ledger.verify import genesis_validators, verify_certificate, verify_tx_proof

from .common import (
    client_for,
    console,
    emit_json,
    fail,
    json_option,
    load_key,
    node_option,
    parse_hash,
    resolve_address,
    submit_tx,
    wait_option,
)
from .kyc import print_salt, salted_evidence_hash
from .render import print_tx


def amount_option(f):
    return click.option("--amount", required=True, type=click.IntRange(min=1),
                        help="Amount in minor units (an integer: 1050 USD = 10.50 dollars).")(f)


def travel_rule_options(f):
    """--travel-rule-file, --originator, --beneficiary: travel rule data, all or none."""
    f = click.option("--beneficiary", default=None,
                     help="With --travel-rule-file: the institution that attested the "
                          "recipient.")(f)
    f = click.option("--originator", default=None,
                     help="With --travel-rule-file: the institution that attested the sender.")(f)
    return click.option("--travel-rule-file", type=click.Path(dir_okay=False, exists=True),
                        default=None,
                        help="The off-chain IVMS101 record (travel rule): only sha256(salt || "
                             "file) goes on chain; the salt is printed.")(f)


def travel_rule_from(record_file: str | None, originator: str | None,
                     beneficiary: str | None) -> tuple[tuple, bytes]:
    """The payload's travel rule (originator, beneficiary, salted record hash) and the salt;
    ((), b"") without the options."""
    given = [v is not None for v in (record_file, originator, beneficiary)]
    if any(given) and not all(given):
        raise click.UsageError("travel rule data is --travel-rule-file, --originator and "
                               "--beneficiary together")
    if not record_file:
        return (), b""
    salt, record_hash = salted_evidence_hash(Path(record_file).read_bytes())
    try:
        return _travel_rule("travel rule", (originator, beneficiary, record_hash)), salt
    except Malformed as err:
        raise click.BadParameter(str(err), param_hint="--originator/--beneficiary") from None


@click.group()
def tx() -> None:
    """Submit transfers, issue and redeem assets, show transactions."""


@tx.command("transfer")
@click.option("--key", required=True, help="Sender's key file (or devnet key name).")
@click.option("--to", "to", required=True, help="Recipient: address, key file or devnet key name.")
@click.option("--asset", required=True, help="Asset code, e.g. USD.")
@amount_option
@click.option("--memo", default="", help="A short note (at most 256 bytes).")
@travel_rule_options
@node_option
@json_option
@wait_option
def transfer(key, to, asset, amount, memo, travel_rule_file, originator, beneficiary, node_url,
             as_json, no_wait, timeout) -> None:
    """Pay AMOUNT of ASSET to an account. Both parties need valid KYC.

    A cross-jurisdiction payment at or above the asset's report threshold carries travel rule
    data (TRAVEL_RULE_REQUIRED without): --travel-rule-file, --originator, --beneficiary."""
    kp = load_key(key)
    rule, salt = travel_rule_from(travel_rule_file, originator, beneficiary)
    payload = Transfer(asset.upper(), resolve_address(to), amount, memo, rule)
    submit_tx(node_url, kp, payload, no_wait, as_json, f"transfer {amount} {asset.upper()} to {to}"
              + (f" (travel rule: {originator} -> {beneficiary})" if rule else ""))
    if rule:
        print_salt(salt, rule[2], as_json, "the IVMS101 record")


@tx.command("issue")
@click.option("--key", required=True, help="The asset issuer's institution key.")
@click.option("--asset", required=True)
@click.option("--to", "to", required=True, help="Recipient: address, key file or devnet key name.")
@amount_option
@node_option
@json_option
@wait_option
def issue(key, asset, to, amount, node_url, as_json, no_wait, timeout) -> None:
    """Issue new units of an asset (its licensed issuer only)."""
    payload = Issue(asset.upper(), resolve_address(to), amount)
    submit_tx(node_url, load_key(key), payload, no_wait, as_json,
              f"issue {amount} {asset.upper()} to {to}")


@tx.command("redeem")
@click.option("--key", required=True, help="The asset issuer's institution key.")
@click.option("--asset", required=True)
@amount_option
@node_option
@json_option
@wait_option
def redeem(key, asset, amount, node_url, as_json, no_wait, timeout) -> None:
    """Burn units of an asset from the issuer's own account (holders pay them back first)."""
    submit_tx(node_url, load_key(key), Redeem(asset.upper(), amount), no_wait, as_json,
              f"redeem {amount} {asset.upper()}")


@tx.command("show")
@click.argument("tx_hash")
@node_option
@json_option
def show(tx_hash, node_url, as_json) -> None:
    """Show a transaction's status, block and receipt."""
    try:
        doc = client_for(node_url).tx(tx_hash)
    except ApiError as err:
        fail(err.code, err.message)
    if as_json:
        emit_json(doc)
    else:
        print_tx(doc)


# ---- verifiable records: inclusion proofs ---------------------------------------------------

@tx.command("proof")
@click.argument("tx_hash")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Save the proof to this file (JSON) instead of printing it.")
@node_option
def proof(tx_hash, out, node_url) -> None:
    """Fetch the Merkle inclusion proof of a committed transaction (for `tx verify` later)."""
    try:
        doc = client_for(node_url).proof(tx_hash)
    except ApiError as err:
        fail(err.code, err.message)
    if out:
        Path(out).write_text(json.dumps(doc, indent=2) + "\n")
        console.print(f"proof of tx {tx_hash[:16]}… in block {doc['header']['height']} "
                      f"written to {out}", highlight=False)
    else:
        emit_json(doc)


@tx.command("verify")
@click.argument("tx_hash")
@click.option("--header-hash", help="A block hash you trust (from another node, a regulator's "
              "record, ...): the proof must be for that block.")
@click.option("--proof-file", type=click.Path(exists=True, dir_okay=False),
              help="Verify a proof saved with `lichen tx proof --out` instead of fetching one.")
@click.option("--require-certificate", is_flag=True,
              help="Fail when the proof carries no commit certificate.")
@node_option
@json_option
def verify_cmd(tx_hash, header_hash, proof_file, require_certificate, node_url, as_json) -> None:
    """Check offline that a transaction is in a block: header hash, proposer signature, Merkle
    path, and the commit certificate: a majority of the validators at that height signed the
    block hash and state hash.

    With --genesis (a genesis file you trust) the certificate's chain id must be its hash and
    its validators are compared with the proof's; without it, the node's genesis is used.

    Exits non-zero with BAD_PROOF when any check fails."""
    genesis_file = click.get_current_context().meta.get("lichen.genesis_pin")
    trusted = (parse_hash(header_hash, "a block hash is 64 hex digits", "--header-hash")
               if header_hash else None)
    doc = _load_proof(tx_hash, proof_file, node_url)
    ok, reason = verify_tx_proof(doc, trusted)
    if ok and doc.get("tx_hash", "").lower() != tx_hash.lower():
        ok, reason = False, f"the proof is for tx {doc.get('tx_hash')}, not {tx_hash}"
    cert_note, cert_ok = "", None
    if ok and (doc.get("certificate") is not None or require_certificate):
        genesis = _trusted_genesis(genesis_file, node_url if proof_file is None else None)
        cert_ok, cert_note, same_set = _check_certificate(doc, genesis)
        if not cert_ok:
            ok, reason = False, cert_note
        elif genesis is not None and not same_set:
            cert_note += (" [the validator set differs from genesis: licences changed; "
                          "`lichen chain verify` replays them]")
    header = doc["header"] if isinstance(doc.get("header"), dict) else {}
    result = {"ok": ok, "reason": reason, "tx_hash": tx_hash.lower(),
              "height": header.get("height"),
              "block_hash": doc.get("block_hash"),
              "trusted_header_hash": trusted.hex() if trusted else None,
              "receipt": doc.get("receipt"), "certified": cert_ok is True,
              "certificate": cert_note or None,
              "signers": [s["signer"] for s in (doc.get("certificate") or {}).get("signatures", [])]}
    if as_json:
        emit_json(result)
    if not ok:
        fail("BAD_PROOF", reason)
    if not as_json:
        console.print(f"[green]OK[/] {reason}", highlight=False)
        if trusted:
            console.print("  checked against the trusted header hash", highlight=False)
        elif cert_ok:
            console.print("  the block hash rests on the validators' certificate below, not on "
                          "one node's word", highlight=False)
        else:
            console.print("  [yellow]the block hash is the node's word[/]: pass --header-hash to "
                          "pin it to a block you trust", highlight=False)
        console.print(f"  {cert_note}" if cert_note else "  [yellow]no commit certificate in "
                      "the proof yet[/]: the block rests on its proposer's signature", highlight=False)
        receipt = doc.get("receipt")
        if receipt:
            outcome = f"failed {receipt['code']}: {receipt['message']}" if receipt["code"] else "ok"
            console.print(f"  receipt (as the node reports it): {outcome}", highlight=False)


def _trusted_genesis(genesis_file: str | None, node_url: str | None) -> Genesis | None:
    if genesis_file is not None:
        return Genesis.load(genesis_file)
    if node_url is None:
        return None
    try:
        return Genesis.from_json(client_for(node_url).genesis())
    except ApiError:
        return None


def _check_certificate(doc: dict, genesis: Genesis | None) -> tuple[bool, str, bool]:
    """(ok, what was found, whether the proof's validator set is genesis's)."""
    if genesis is None:
        ok, note = verify_certificate(doc)
        return ok, note, False
    ok, note = verify_certificate(doc, chain_id=genesis.chain_id)
    same = ok and verify_certificate(doc, genesis_validators(genesis), genesis.chain_id)[0]
    return ok, note, same


def _load_proof(tx_hash: str, proof_file: str | None, node_url: str | None) -> dict:
    if proof_file is None:
        try:
            return client_for(node_url).proof(tx_hash)
        except ApiError as err:
            fail(err.code, err.message)
    try:
        doc = json.loads(Path(proof_file).read_text())
    except ValueError as exc:
        fail("BAD_PROOF", f"{proof_file} is not JSON: {exc}")
    if not isinstance(doc, dict):
        fail("BAD_PROOF", f"{proof_file} does not hold a proof (a JSON object)")
    return doc


