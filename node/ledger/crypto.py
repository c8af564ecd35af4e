"""ed25519 keys and signatures (pynacl). An address is the 32-byte public key."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

ADDRESS_LEN = 32
SIGNATURE_LEN = 64


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

    def save(self, path: str | Path, name: str = "") -> None:
        """Write the key file (JSON, readable by its owner only)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"name": name or path.stem, "address": self.address_hex, "seed": self.seed.hex()}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(body, f, indent=2)
            f.write("\n")

    @classmethod
    def load(cls, path: str | Path) -> KeyPair:
        body = json.loads(Path(path).read_text())
        kp = cls.from_seed(bytes.fromhex(body["seed"]))
        if body.get("address") and body["address"] != kp.address_hex:
            raise ValueError(f"{path}: address does not match the seed")
        return kp


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
