"""Key files at rest: sealed with a passphrase (argon2id + SecretBox), refused when others may
read them, and the seed never in a repr or an error."""
from __future__ import annotations

import json
import os
import stat

import pytest

from node.ledger.crypto import (
    KeyFileError,
    KeyPair,
    LooseKeyFile,
    PassphraseNeeded,
    Signer,
    WrongPassphrase,
    is_sealed,
    key_file_address,
    verify,
)
from node.ledger.types import Transfer, sign_tx

SEED = bytes(range(32))


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("LICHEN_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("LICHEN_ALLOW_LOOSE_KEYS", raising=False)


def test_a_sealed_key_file_round_trips_with_its_passphrase(tmp_path):
    kp = KeyPair.from_seed(SEED)
    path = tmp_path / "inst0.key"
    kp.save(path, passphrase=b"correct horse")
    assert KeyPair.load(path, passphrase=b"correct horse") == kp
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert is_sealed(path) and key_file_address(path) == kp.address


def test_a_sealed_key_file_holds_no_seed_and_names_its_parameters(tmp_path):
    kp = KeyPair.from_seed(SEED)
    path = tmp_path / "inst0.key"
    kp.save(path, passphrase=b"pw")
    text = path.read_text()
    assert SEED.hex() not in text
    body = json.loads(text)
    assert body["version"] == 2 and body["address"] == kp.address_hex and "seed" not in body
    assert set(body["sealed"]) == {"kdf", "salt", "opslimit", "memlimit", "nonce", "ciphertext"}
    assert body["sealed"]["kdf"] == "argon2id"


def test_a_wrong_passphrase_is_a_clear_error_that_shows_no_secret(tmp_path):
    path = tmp_path / "inst0.key"
    KeyPair.from_seed(SEED).save(path, passphrase=b"right")
    with pytest.raises(WrongPassphrase) as err:
        KeyPair.load(path, passphrase=b"wrong")
    assert str(err.value) == f"{path}: wrong passphrase"


def test_a_sealed_file_without_a_passphrase_says_how_to_give_one(tmp_path):
    path = tmp_path / "inst0.key"
    KeyPair.from_seed(SEED).save(path, passphrase=b"right")
    with pytest.raises(PassphraseNeeded, match="LICHEN_PASSPHRASE_FILE"):
        KeyPair.load(path)


def test_the_passphrase_file_named_in_the_environment_opens_the_key(tmp_path, monkeypatch):
    path = tmp_path / "inst0.key"
    KeyPair.from_seed(SEED).save(path, passphrase=b"from a file")
    (tmp_path / "pass").write_text("from a file\n")
    monkeypatch.setenv("LICHEN_PASSPHRASE_FILE", str(tmp_path / "pass"))
    assert KeyPair.load(path).seed == SEED


def test_a_passphrase_callable_is_asked_only_for_a_sealed_file(tmp_path):
    asked: list[int] = []

    def ask() -> bytes:
        asked.append(1)
        return b"pw"
    KeyPair.from_seed(SEED).save(tmp_path / "plain.key")
    KeyPair.from_seed(SEED).save(tmp_path / "sealed.key", passphrase=b"pw")
    assert KeyPair.load(tmp_path / "plain.key", passphrase=ask).seed == SEED
    assert asked == []
    assert KeyPair.load(tmp_path / "sealed.key", passphrase=ask).seed == SEED
    assert asked == [1]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_others_may_read_is_refused_naming_the_file_and_the_fix(tmp_path, mode):
    """Attack: a key file left group- or world-readable (a copy, a careless umask) lets any local
    account read the institution's seed; loading it silently hides that it may have leaked."""
    path = tmp_path / "inst0.key"
    KeyPair.from_seed(SEED).save(path)
    os.chmod(path, mode)
    with pytest.raises(LooseKeyFile) as err:
        KeyPair.load(path)
    assert str(path) in str(err.value) and f"chmod 600 {path}" in str(err.value)
    assert SEED.hex() not in str(err.value)


def test_loose_keys_load_when_the_override_is_set(tmp_path, monkeypatch):
    path = tmp_path / "inst0.key"
    KeyPair.from_seed(SEED).save(path)
    os.chmod(path, 0o644)
    assert KeyPair.load(path, allow_loose=True).seed == SEED
    monkeypatch.setenv("LICHEN_ALLOW_LOOSE_KEYS", "1")
    assert KeyPair.load(path).seed == SEED


def test_saving_over_a_loose_file_makes_it_private(tmp_path):
    path = tmp_path / "inst0.key"
    path.write_text("old")
    os.chmod(path, 0o644)
    KeyPair.from_seed(SEED).save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_unknown_version_or_a_malformed_sealed_key_is_a_key_file_error(tmp_path):
    path = tmp_path / "k.key"
    KeyPair.from_seed(SEED).save(path, passphrase=b"pw")
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "version": 9}))
    with pytest.raises(KeyFileError, match="unknown key file version 9"):
        KeyPair.load(path, passphrase=b"pw")
    path.write_text(json.dumps({**body, "sealed": {**body["sealed"], "nonce": "zz"}}))
    with pytest.raises(KeyFileError, match="malformed"):
        KeyPair.load(path, passphrase=b"pw")
    path.write_text(json.dumps({**body, "sealed": {**body["sealed"], "memlimit": 2**40}}))
    with pytest.raises(KeyFileError, match="out of range"):
        KeyPair.load(path, passphrase=b"pw")


def test_a_keypair_is_a_signer_and_its_repr_hides_the_seed():
    kp = KeyPair.from_seed(SEED)
    assert isinstance(kp, Signer)
    assert SEED.hex() not in repr(kp) and repr(SEED) not in repr(kp)


def test_any_signer_can_sign_a_transaction():
    """The signing interface is what an external signer (an HSM) would implement."""
    class Remote:
        def __init__(self) -> None:
            self._kp = KeyPair.from_seed(SEED)  # stands in for the device

        @property
        def address(self) -> bytes:
            return self._kp.address

        def sign(self, message: bytes) -> bytes:
            return self._kp.sign(message)
    signer = Remote()
    tx = sign_tx(signer, bytes(32), 0, Transfer("USD", bytes(32), 1, ""))
    assert tx.sender == signer.address and verify(signer.address, tx.signing_bytes, tx.signature)
