"""TLS for the HTTP API and the peer websocket: certificates and ssl contexts.

A devnet has its own certificate authority (ECDSA P-256, made at `lichen devnet up`); each node
gets a certificate from it for its host plus 127.0.0.1 and localhost. Servers present their
certificate; clients (the CLI, and peers dialling wss://) verify it against the CA. TLS 1.3 only.
The `cryptography` package makes the certificates; the ssl module does the TLS.
"""
from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 365
MIN_VERSION = ssl.TLSVersion.TLSv1_3


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM-encoded."""
    cert_pem: bytes
    key_pem: bytes

    def save(self, cert_path: str | Path, key_path: str | Path) -> None:
        Path(cert_path).write_bytes(self.cert_pem)
        key = Path(key_path)
        key.touch(mode=0o600)  # the key is readable by its owner only
        key.write_bytes(self.key_pem)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (builder.not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS)))


def make_ca(common_name: str = "lichen devnet CA") -> Issued:
    """A self-signed CA that may sign node certificates (and nothing below them)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_validity(x509.CertificateBuilder())
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def san_entries(hosts: list[str]) -> list[x509.GeneralName]:
    """IP addresses as IP SANs, names as DNS SANs; 127.0.0.1 and localhost always."""
    out: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "127.0.0.1", "localhost"]):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def make_node_cert(ca: Issued, name: str, hosts: list[str]) -> Issued:
    """A server-and-client certificate for a node, signed by `ca`."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_validity(x509.CertificateBuilder())
            .subject_name(_name(name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(san_entries(hosts)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH,
                                                  x509.ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def server_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    """What a node's listener presents: its certificate, TLS 1.3 only."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = MIN_VERSION
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except OSError as exc:  # ssl.SSLError is one too: a file that is no PEM, a key not the cert's
        raise OSError(exc.errno, f"cannot load the TLS certificate {cert_file} with key "
                                 f"{key_file}: {exc.strerror or exc}") from None
    return ctx


def client_context(ca_file: str | Path | None = None) -> ssl.SSLContext:
    """What a client verifies a node with: the CA file given, else the system's CAs; the host
    name must match the certificate. TLS 1.3 only."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = MIN_VERSION
    return ctx
