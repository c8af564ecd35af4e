"""The compliance commands of the CLI (issue 12) through CliRunner against test_cli's FakeNode:
licence ends and emergency revokes go into the signed payload; KYC evidence is hashed with a
fresh random salt the command prints, so the hash on chain cannot be brute-forced back."""
from __future__ import annotations

import hashlib
import re
import time

from node.ledger.types import KycAttest, KycRevoke, LicenseGrant, LicenseRevoke, decode_tx

from .test_cli import BOB, node, run, text  # noqa: F401  (node: a fixture)


def payload_of(fake) -> object:
    (raw,) = fake.received
    return decode_tx(raw).payload


def test_license_grant_with_expires_in_signs_the_end_in_ms(node, key_file):  # noqa: F811
    before = int(time.time() * 1000)
    result = run("license", "grant", "--key", str(key_file[0]), "--institution", "pay_c",
                 "--role", "kyc_issuer", "--expires-in", "2", "--node", "http://fake")
    assert result.exit_code == 0, result.output
    p = payload_of(node)
    assert isinstance(p, LicenseGrant) and (p.institution, p.role) == ("pay_c", "kyc_issuer")
    assert before + 2 * 3_600_000 <= p.expires_at <= int(time.time() * 1000) + 2 * 3_600_000
    assert not p.restore_attestations
    assert "grant kyc_issuer license of pay_c until " in text(result.stdout)


def test_license_grant_expires_at_a_date_and_restores_attestations(node, key_file):  # noqa: F811
    result = run("license", "grant", "--key", str(key_file[0]), "--institution", "pay_c",
                 "--role", "kyc_issuer", "--expires-at", "2031-01-01",
                 "--restore-attestations", "--node", "http://fake")
    assert result.exit_code == 0, result.output
    assert payload_of(node) == LicenseGrant("pay_c", "kyc_issuer", 1_924_992_000_000, True)


def test_license_grant_without_an_end_is_the_old_payload(node, key_file):  # noqa: F811
    result = run("license", "grant", "--key", str(key_file[0]), "--institution", "pay_c",
                 "--role", "observer", "--node", "http://fake")
    assert result.exit_code == 0, result.output
    assert payload_of(node) == LicenseGrant("pay_c", "observer")


def test_license_grant_refuses_two_ends(node, key_file):  # noqa: F811
    result = run("license", "grant", "--key", str(key_file[0]), "--institution", "pay_c",
                 "--role", "observer", "--expires-in", "1", "--expires-at", "3",
                 "--node", "http://fake")
    assert result.exit_code == 2 and "not both" in result.stderr
    assert node.received == []


def test_license_revoke_emergency_is_in_the_payload_and_the_output(node, key_file):  # noqa: F811
    result = run("license", "revoke", "--key", str(key_file[0]), "--institution", "pay_c",
                 "--role", "validator", "--emergency", "--node", "http://fake")
    assert result.exit_code == 0, result.output
    assert payload_of(node) == LicenseRevoke("pay_c", "validator", emergency=True)
    assert text(result.stdout).startswith("✔ EMERGENCY revoke validator license of pay_c")


def _salt(out: str) -> tuple[bytes, bytes]:
    m = re.search(r"evidence salt ([0-9a-f]{64}) .* hash ([0-9a-f]{64})", text(out))
    assert m, out
    return bytes.fromhex(m.group(1)), bytes.fromhex(m.group(2))


def test_kyc_attest_evidence_file_is_hashed_with_a_printed_random_salt(node, key_file,  # noqa: F811
                                                                       tmp_path):
    """Attack modelled: the evidence hash of a known or guessable file (or a short reference)
    is recomputed by anyone and links the chain to the person. With a random salt it is not."""
    evidence = tmp_path / "passport.pdf"
    evidence.write_bytes(b"%PDF scan of a passport")
    hashes = []
    for _ in range(2):
        node.received.clear()
        result = run("kyc", "attest", "--key", str(key_file[0]), "--subject", BOB, "--tier", "1",
                     "--jurisdiction", "sg", "--expires", "30", "--evidence-file",
                     str(evidence), "--node", "http://fake")
        assert result.exit_code == 0, result.output
        salt, printed = _salt(result.stdout)
        p = payload_of(node)
        assert isinstance(p, KycAttest)
        assert p.evidence_hash == printed == hashlib.sha256(salt + evidence.read_bytes()).digest()
        assert p.evidence_hash != hashlib.sha256(evidence.read_bytes()).digest()
        hashes.append(p.evidence_hash)
    assert hashes[0] != hashes[1]  # a fresh salt each time


def test_kyc_attest_default_evidence_is_salted_too(node, key_file):  # noqa: F811
    """The old default, sha256("kyc:" + address), could be recomputed from the address alone."""
    result = run("kyc", "attest", "--key", str(key_file[0]), "--subject", BOB, "--tier", "1",
                 "--jurisdiction", "SG", "--expires", "30", "--node", "http://fake", "--json")
    assert result.exit_code == 0, result.output
    salt, printed = _salt(result.stderr)  # with --json, stdout stays JSON
    p = payload_of(node)
    assert p.evidence_hash == printed == hashlib.sha256(salt + f"kyc:{BOB}".encode()).digest()
    assert p.evidence_hash != hashlib.sha256(f"kyc:{BOB}".encode()).digest()


def test_kyc_revoke_by_the_regulator_names_the_issuer(node, key_file):  # noqa: F811
    result = run("kyc", "revoke", "--key", str(key_file[0]), "--subject", BOB,
                 "--issuer", "bank_a", "--node", "http://fake")
    assert result.exit_code == 0, result.output
    assert payload_of(node) == KycRevoke(bytes.fromhex(BOB), "bank_a")
    assert "revoke bank_a's attestation of" in text(result.stdout)
