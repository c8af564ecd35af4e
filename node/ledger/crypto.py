"""ed25519 keys and signatures (pynacl). An address is the 32-byte public key.

A key file is JSON. Version 1 holds the seed in hex; version 2 holds it sealed with a
passphrase (argon2id -> a SecretBox key), the address beside it in the clear. Either is refused
when its mode lets group or others read it (LICHEN_ALLOW_LOOSE_KEYS=1 overrides, for devnets on
file systems without modes). The passphrase comes from the caller or from the file that
LICHEN_PASSPHRASE_FILE names.
"""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import nacl.pwhash
import nacl.secret
import nacl.utils
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey

ADDRESS_LEN = 32
SIGNATURE_LEN = 64

PLAIN_FORMAT = 1
SEALED_FORMAT = 2
KDF = "argon2id"
# Interactive limits: a second's work on a laptop, so tests and `lichen` commands stay quick.
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
MAX_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
MAX_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE
PASSPHRASE_FILE_ENV = "LICHEN_PASSPHRASE_FILE"
ALLOW_LOOSE_ENV = "LICHEN_ALLOW_LOOSE_KEYS"

Passphrase = bytes | Callable[[], bytes] | None


class KeyFileError(ValueError):
    """A key file that cannot be used. The message names the file, never the seed."""


class LooseKeyFile(KeyFileError):
    """The key file is readable by group or others."""


class PassphraseNeeded(KeyFileError):
    """The key file is sealed and no passphrase was given."""


class WrongPassphrase(KeyFileError):
    """The passphrase does not open the sealed key file."""


@runtime_checkable
class Signer(Protocol):
    """What the node and the CLI sign with: an address and signatures by its key. A KeyPair is
    one; an external signer (an HSM, a remote signing service) can be another."""

    @property
    def address(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class KeyPair:
    seed: bytes = field(repr=False)  # 32-byte ed25519 seed: the secret, never in a repr or log
    address: bytes  # 32-byte public key

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_seed(os.urandom(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        sk = SigningKey(seed)
        return cls(seed=seed, address=bytes(sk.verify_key))

    @property
    def address_hex(self) -> str:
        return self.address.hex()

    @cached_property
    def _signing_key(self) -> SigningKey:
        return SigningKey(self.seed)

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message).signature

    def save(self, path: str | Path, name: str = "", passphrase: bytes | None = None) -> None:
        """Write the key file (JSON, mode 0600), sealed when a passphrase is given."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body: dict[str, object] = {"name": name or path.stem, "address": self.address_hex}
        if passphrase is None:
            body |= {"version": PLAIN_FORMAT, "seed": self.seed.hex()}
        else:
            body |= {"version": SEALED_FORMAT, "sealed": seal_seed(self.seed, passphrase)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)  # an existing file keeps its mode through O_TRUNC
            json.dump(body, f, indent=2)
            f.write("\n")

    @classmethod
    def load(cls, path: str | Path, passphrase: Passphrase = None,
             allow_loose: bool | None = None) -> KeyPair:
        """Read a key file. `passphrase` (bytes, or a callable asked only for a sealed file)
        defaults to the file LICHEN_PASSPHRASE_FILE names; `allow_loose` to
        LICHEN_ALLOW_LOOSE_KEYS=1."""
        path = Path(path)
        check_private(path, loose_keys_allowed() if allow_loose is None else allow_loose)
        body = read_key_body(path)
        if "sealed" in body:
            seed = open_seed(path, body["sealed"], resolve_passphrase(path, passphrase))
        else:
            seed = bytes.fromhex(body["seed"])
        kp = cls.from_seed(seed)
        if body.get("address") and body["address"] != kp.address_hex:
            raise KeyFileError(f"{path}: address does not match the seed")
        return kp


def key_file_address(path: str | Path) -> bytes:
    """The address a key file declares, read without its passphrase."""
    return parse_address(read_key_body(Path(path))["address"])


def is_sealed(path: str | Path) -> bool:
    return "sealed" in read_key_body(Path(path))


def read_key_body(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise KeyFileError(f"{path} is not JSON") from None
    if not isinstance(body, dict):
        raise KeyFileError(f"{path} is not a key file")
    version = body.get("version", PLAIN_FORMAT)
    if version not in (PLAIN_FORMAT, SEALED_FORMAT):
        raise KeyFileError(f"{path}: unknown key file version {version!r}")
    return body


def check_private(path: Path, allow_loose: bool) -> None:
    """Refuse a key file that group or others may read: its seed may already have leaked."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and not allow_loose:
        raise LooseKeyFile(
            f"{path} is readable by others (mode {mode:04o}); run `chmod 600 {path}` "
            f"(or set {ALLOW_LOOSE_ENV}=1 to load it anyway)")


def loose_keys_allowed() -> bool:
    return os.environ.get(ALLOW_LOOSE_ENV, "") == "1"


def passphrase_from_env() -> bytes | None:
    """The passphrase in the file LICHEN_PASSPHRASE_FILE names (one trailing newline dropped)."""
    name = os.environ.get(PASSPHRASE_FILE_ENV)
    if not name:
        return None
    raw = Path(name).read_bytes()
    return raw[:-1] if raw.endswith(b"\n") else raw


def resolve_passphrase(path: Path, passphrase: Passphrase) -> bytes:
    if callable(passphrase):
        passphrase = passphrase()
    if passphrase is None:
        passphrase = passphrase_from_env()
    if passphrase is None:
        raise PassphraseNeeded(
            f"{path} is sealed with a passphrase; give it (set {PASSPHRASE_FILE_ENV} to a file "
            f"that holds it)")
    return passphrase


def seal_seed(seed: bytes, passphrase: bytes) -> dict[str, Any]:
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive(passphrase, salt, OPSLIMIT, MEMLIMIT))
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    return {"kdf": KDF, "salt": salt.hex(), "opslimit": OPSLIMIT, "memlimit": MEMLIMIT,
            "nonce": nonce.hex(), "ciphertext": box.encrypt(seed, nonce).ciphertext.hex()}


def open_seed(path: Path, sealed: dict[str, Any], passphrase: bytes) -> bytes:
    if sealed.get("kdf") != KDF:
        raise KeyFileError(f"{path}: unknown key derivation {sealed.get('kdf')!r}")
    try:
        opslimit, memlimit = int(sealed["opslimit"]), int(sealed["memlimit"])
        # a file must not make opening it take minutes or gigabytes
        if not (0 < opslimit <= MAX_OPSLIMIT and 0 < memlimit <= MAX_MEMLIMIT):
            raise KeyFileError(f"{path}: key derivation limits out of range")
        key = _derive(passphrase, bytes.fromhex(sealed["salt"]), opslimit, memlimit)
        box = nacl.secret.SecretBox(key)
        return box.decrypt(bytes.fromhex(sealed["ciphertext"]), bytes.fromhex(sealed["nonce"]))
    except CryptoError:
        raise WrongPassphrase(f"{path}: wrong passphrase") from None
    except KeyFileError:
        raise
    except (KeyError, ValueError, TypeError):
        raise KeyFileError(f"{path}: the sealed key is malformed") from None


def _derive(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt,
                                    opslimit=opslimit, memlimit=memlimit)


def verify(address: bytes, message: bytes, signature: bytes) -> bool:
    """True when signature is address's signature over message."""
    if len(address) != ADDRESS_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        crypto_sign_open(signature + message, address)
        return True
    except (BadSignatureError, ValueError):
        return False


def parse_address(text: str) -> bytes:
    """Lowercase or uppercase hex of 32 bytes -> bytes; ValueError otherwise."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"not a hex address: {text!r}") from None
    if len(raw) != ADDRESS_LEN:
        raise ValueError(f"an address is {ADDRESS_LEN} bytes ({2 * ADDRESS_LEN} hex digits)")
    return raw
