"""lichen tls: certificates for nodes without a devnet (node.server.tls).

A consortium may run its own small CA (`lichen tls ca`, kept offline by whoever the members
trust with it) and sign each node's certificate with it (`lichen tls cert`); or each bank uses
its own PKI and hands `lichen node init` the PEM files it already has.
"""
from __future__ import annotations

from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from node.server.tls import Issued, make_ca, make_node_cert


def _refuse_overwrite(*paths: str, force: bool) -> None:
    for p in paths:
        if Path(p).exists() and not force:
            raise click.ClickException(f"{p} exists; pass --force to overwrite it")


def ca_problem(ca: Issued) -> str:
    """Why `ca` cannot sign node certificates ("" when it can): its certificate must be a CA's
    and its key the one that certificate names, else peers would refuse what it signs."""
    try:
        cert = x509.load_pem_x509_certificate(ca.cert_pem)
        key = serialization.load_pem_private_key(ca.key_pem, password=None)
    except (ValueError, TypeError) as exc:
        return f"not a PEM certificate and unencrypted PEM key ({exc})"
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return "the key is not an ECDSA key (lichen tls makes P-256 CAs)"
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return "the certificate is not a CA certificate"
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        return "the key is not the CA certificate's key"
    return ""


@click.group()
def tls() -> None:
    """Make a CA and node certificates (ECDSA P-256, TLS 1.3)."""


@tls.command("ca")
@click.option("--name", default="lichen network CA", show_default=True,
              help="The CA's common name.")
@click.option("--out-cert", required=True, type=click.Path(dir_okay=False),
              help="Where to write the CA certificate (give it to every operator).")
@click.option("--out-key", required=True, type=click.Path(dir_okay=False),
              help="Where to write the CA's private key (mode 0600; keep it offline).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def ca(name: str, out_cert: str, out_key: str, force: bool) -> None:
    """Make a certificate authority that signs node certificates."""
    _refuse_overwrite(out_cert, out_key, force=force)
    make_ca(name).save(out_cert, out_key)
    click.echo(f"wrote CA certificate {out_cert} and key {out_key}")


@tls.command("cert")
@click.option("--ca-cert", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--ca-key", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="The certificate's common name, e.g. the institution.")
@click.option("--host", "hosts", multiple=True, required=True, metavar="HOST",
              help="A host name or IP address the node is reached at (its genesis address's "
                   "host); repeat. 127.0.0.1 and localhost are always included.")
@click.option("--out-cert", required=True, type=click.Path(dir_okay=False))
@click.option("--out-key", required=True, type=click.Path(dir_okay=False),
              help="Where to write the node's TLS key (mode 0600).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def cert(ca_cert: str, ca_key: str, name: str, hosts: tuple[str, ...], out_cert: str,
         out_key: str, force: bool) -> None:
    """Sign a node certificate (server and client) with the CA."""
    _refuse_overwrite(out_cert, out_key, force=force)
    authority = Issued(Path(ca_cert).read_bytes(), Path(ca_key).read_bytes())
    problem = ca_problem(authority)
    if problem:
        raise click.ClickException(f"cannot sign with {ca_cert} and {ca_key}: {problem}")
    issued = make_node_cert(authority, name, list(hosts))
    issued.save(out_cert, out_key)
    click.echo(f"wrote certificate {out_cert} for {', '.join(hosts)} and key {out_key}")
