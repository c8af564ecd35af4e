"""Merkle root and audit proofs over transaction hashes (node.ledger.merkle, RFC 6962 shape)."""
from __future__ import annotations

import hashlib

import pytest

from node.ledger.merkle import EMPTY_ROOT, merkle_proof, merkle_root, verify_proof


def items(n: int) -> list[bytes]:
    return [hashlib.sha256(b"tx %d" % i).digest() for i in range(n)]


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written out independently."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    left, right = reference_root(leaves[:k]), reference_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 0x01]) + b[1:]


def test_empty_root_is_hash_of_nothing():
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 41))
def test_root_matches_rfc6962(n):
    assert merkle_root(items(n)) == reference_root(items(n))


@pytest.mark.parametrize("n", range(1, 41))
def test_every_proof_verifies_and_a_tampered_one_fails(n):
    xs = items(n)
    root = merkle_root(xs)
    for i, x in enumerate(xs):
        path = merkle_proof(xs, i)
        assert len(path) <= max(1, (n - 1).bit_length())
        assert verify_proof(x, i, n, path, root)
        assert not verify_proof(flip(x), i, n, path, root)
        assert not verify_proof(x, i, n, path, flip(root))
        for j in range(len(path)):
            tampered = path[:j] + [flip(path[j])] + path[j + 1:]
            assert not verify_proof(x, i, n, tampered, root)
        if n > 1:
            assert not verify_proof(x, (i + 1) % n, n, path, root)
            assert not verify_proof(x, i, n, path[:-1], root)
            assert not verify_proof(x, i, n, path + [root], root)
        assert not verify_proof(x, n, n, path, root)
        assert not verify_proof(x, -1, n, path, root)


def test_root_depends_on_every_item_and_their_order():
    xs = items(9)
    root = merkle_root(xs)
    for i in range(9):
        assert merkle_root(xs[:i] + [flip(xs[i])] + xs[i + 1:]) != root
    assert merkle_root(xs[1:] + xs[:1]) != root
    assert merkle_root(xs + [xs[-1]]) != root  # no duplicate-last-leaf ambiguity


def test_proof_index_out_of_range_raises():
    with pytest.raises(IndexError):
        merkle_proof(items(3), 3)
    with pytest.raises(IndexError):
        merkle_proof([], 0)
