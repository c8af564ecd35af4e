"""`lichen node init`: a node's config, derived from the shared genesis and checked against it.

An operator holds the genesis every institution agreed on, its node's key file, and its TLS
files. What the config must say follows from them: which institution this node is (the one
whose node key the key file holds), the ports (the ones the genesis tells peers to dial),
whether it speaks TLS (the genesis address's scheme). `init_config` checks each and raises
InitError naming the option at fault; it writes nothing. Configs made here have read_auth on:
a production node answers account and transaction reads only with a token its operator issued.

An institution the regulator added on chain (institution_add) is not in the genesis: its
operator passes the institutions a running node reports (`--join URL`, GET /v1/institutions),
and the one whose node key the key file holds gives the name and addresses. Nothing else is
taken from that node: the chain itself comes from the genesis and the peers, and a record that
lied about the key would give a node its peers refuse.
"""
from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from node.ledger.crypto import KeyFileError, KeyPair, check_private, is_sealed, key_file_address
from node.ledger.genesis import Genesis, GenesisError, Institution
from node.server.config import NodeConfig
from node.server.tls import server_context

TOKENS_FILE = "tokens.json"  # beside the config (NodeConfig.load resolves it there)


class InitError(ValueError):
    """`node init` refused its input; `option` names the flag at fault."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option


@dataclass(frozen=True)
class InitRequest:
    genesis: Path
    key: Path
    listen: str  # HOST:PORT the API binds (e.g. 0.0.0.0:7400)
    data_dir: Path
    out: Path  # where the config will be written (relative paths in it are from here)
    peer_listen: str = ""  # HOST:PORT for the peer listener; default: listen's host, genesis port
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    insecure: bool = False  # plain http: only when the genesis gives http:// addresses
    # institutions added on chain since genesis, as a running node reports them (--join)
    added: tuple[Institution, ...] = ()
    joined_from: str = ""  # that node's URL, for messages


def init_config(req: InitRequest) -> NodeConfig:
    """The config for the institution whose node key `req.key` holds."""
    genesis = _genesis(req.genesis)
    inst = _institution(genesis, req.key, req.added, req.joined_from)
    if not inst.address:
        raise InitError("--key", f"{inst.name} runs no node in the genesis (it has no address)")
    api = urlsplit(inst.address)
    listen = _host_port("--listen", req.listen)
    if listen[1] != api.port:
        raise InitError("--listen", f"port {listen[1]} is not the port the genesis gives "
                                    f"{inst.name} ({inst.address}): peers and clients dial {api.port}")
    peer_listen = _peer_listen(inst, req, listen[0])
    cert, key, ca = _tls(inst, req, api.scheme, api.hostname or "")
    tokens = req.out.resolve().parent / TOKENS_FILE
    return NodeConfig(name=inst.name, key_file=str(req.key.resolve()),
                      genesis=str(req.genesis.resolve()), data_dir=str(req.data_dir.resolve()),
                      listen=req.listen, peer_listen=peer_listen, read_auth=True,
                      read_tokens_file=str(tokens), tls_cert=cert, tls_key=key, tls_ca=ca)


def _genesis(path: Path) -> Genesis:
    try:
        return Genesis.load(path)
    except GenesisError as exc:
        raise InitError("--genesis", str(exc)) from None


def institution_from_record(doc: dict) -> Institution:
    """An institution as GET /v1/institutions describes it (current keys, no roles)."""
    try:
        node_key, authority = bytes.fromhex(doc["node_key"]), bytes.fromhex(doc["authority_key"])
        return Institution(str(doc["name"]), node_key, str(doc["address"]),
                           str(doc["jurisdiction"]), (),
                           None if authority == node_key else authority,
                           str(doc.get("peer_address", "")), str(doc.get("display", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise InitError("--join", f"not an institution record: {exc!r}") from None


def _institution(genesis: Genesis, key: Path, added: tuple[Institution, ...] = (),
                 joined_from: str = "") -> Institution:
    """The institution whose node key the file holds, in the genesis or among those added on
    chain since; the file must be private to its owner."""
    try:
        check_private(key, allow_loose=False)
        # a plain file is opened, so its declared address is checked against its seed; a
        # sealed one's passphrase is the daemon's to ask for
        address = key_file_address(key) if is_sealed(key) else KeyPair.load(key).address
    except OSError as exc:
        raise InitError("--key", f"cannot read {key}: {exc.strerror or exc}") from None
    except (KeyFileError, ValueError, KeyError) as exc:
        raise InitError("--key", str(exc)) from None
    inst = genesis.institution_by_key(address) or next(
        (i for i in added if i.key == address and genesis.institution(i.name) is None), None)
    if inst is not None:
        return inst
    owner = genesis.institution_by_authority(address) or next(
        (i for i in added if i.authority == address), None)
    if owner is not None:
        raise InitError("--key", f"{key} holds {owner.name}'s authority key; a node runs with "
                                 "its institution's node key")
    where = (f"the genesis nor among the institutions {joined_from} reports" if joined_from else
             "the genesis (an institution added on chain: pass --join URL of a running node)")
    raise InitError("--key", f"{key} ({address.hex()[:16]}…) is no institution's node key in "
                             f"{where} ({', '.join(i.name for i in genesis.institutions)}"
                             f"{''.join(', ' + i.name for i in added)})")


def _host_port(option: str, text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InitError(option, f"{text!r} is not HOST:PORT (a port from 1 to 65535)")
    return host, int(port)


def _peer_listen(inst: Institution, req: InitRequest, host: str) -> str:
    """Where the peer listener binds: the genesis peer address's port, on --peer-listen's host
    or --listen's."""
    if not inst.peer_address:
        if req.peer_listen:
            raise InitError("--peer-listen", f"the genesis gives {inst.name} no peer address: "
                                             f"its peers dial {inst.address}")
        return ""
    want = urlsplit(inst.peer_address).port
    if not req.peer_listen:
        return f"{host}:{want}"
    _, port = _host_port("--peer-listen", req.peer_listen)
    if port != want:
        raise InitError("--peer-listen", f"port {port} is not the port the genesis gives "
                                         f"{inst.name}'s peers ({inst.peer_address})")
    return req.peer_listen


def _tls(inst: Institution, req: InitRequest, scheme: str, host: str) -> tuple[str, str, str]:
    """TLS files (cert, key, CA) for an https genesis address, all three checked; none ("")
    for http, which must be asked for with --insecure."""
    given = [p for p in (req.tls_cert, req.tls_key, req.tls_ca) if p is not None]
    if scheme == "http":
        if not req.insecure:
            raise InitError("--insecure", f"the genesis gives {inst.name} a plain http address "
                                          f"({inst.address}); pass --insecure to run without TLS")
        if given:
            raise InitError("--tls-cert", f"the genesis gives {inst.name} a plain http address; "
                                          "TLS files make no sense with it")
        return "", "", ""
    if req.insecure:
        raise InitError("--insecure", f"the genesis gives {inst.name} an https address "
                                      f"({inst.address}): its peers expect TLS")
    if req.tls_cert is None or req.tls_key is None or req.tls_ca is None:
        raise InitError("--tls-cert", "TLS is required: give --tls-cert, --tls-key and --tls-ca "
                                      "(`lichen tls` makes them, or use your PKI's PEM files), "
                                      "or use an http:// genesis address and --insecure")
    try:
        server_context(req.tls_cert, req.tls_key)
    except OSError as exc:
        raise InitError("--tls-cert", exc.strerror or str(exc)) from None
    try:
        ssl.create_default_context(cafile=str(req.tls_ca))
    except (OSError, ssl.SSLError) as exc:
        raise InitError("--tls-ca", f"cannot load the CA {req.tls_ca}: {exc}") from None
    _check_names(req.tls_cert, host, inst)
    return str(req.tls_cert.resolve()), str(req.tls_key.resolve()), str(req.tls_ca.resolve())


def _check_names(cert_file: Path, host: str, inst: Institution) -> None:
    """Peers verify the certificate against the host in the genesis: it must name that host."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise InitError("--tls-cert", f"{cert_file} names no hosts (no subjectAltName)") from None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        named = ip in san.get_values_for_type(x509.IPAddress)
    else:
        names = {d.lower() for d in san.get_values_for_type(x509.DNSName)}
        wildcard = "*." + host.lower().partition(".")[2]
        named = host.lower() in names or wildcard in names
    if not named:
        raise InitError("--tls-cert", f"{cert_file} does not name {host}, the host of "
                                      f"{inst.name}'s genesis address: peers would refuse it "
                                      f"(`lichen tls cert --host {host} ...`)")
