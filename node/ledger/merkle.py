"""Merkle tree over a block's transaction hashes, as in RFC 6962 (Certificate Transparency).

Leaves and inner nodes hash with distinct prefixes (0x00 / 0x01), so a leaf can never be passed
off as an inner node. The tree splits at the largest power of two below n, so proofs are
O(log n) and defined for every n.
"""
from __future__ import annotations

from node.ledger.codec import sha256

EMPTY_ROOT = sha256(b"")


def leaf_hash(item: bytes) -> bytes:
    return sha256(b"\x00" + item)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(items: list[bytes]) -> bytes:
    if not items:
        return EMPTY_ROOT
    level = [leaf_hash(i) for i in items]
    return _root_of_leaves(level)


def _root_of_leaves(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(_root_of_leaves(leaves[:k]), _root_of_leaves(leaves[k:]))


def merkle_proof(items: list[bytes], index: int) -> list[bytes]:
    """Audit path for items[index], from the leaf's sibling up to the root's child."""
    if not 0 <= index < len(items):
        raise IndexError("leaf index out of range")
    return _path(index, [leaf_hash(i) for i in items])


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return _path(m, leaves[:k]) + [_root_of_leaves(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_root_of_leaves(leaves[:k])]


def verify_proof(item: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """True when `path` proves items[index] == item in a tree of `size` leaves with `root`."""
    if not 0 <= index < size:
        return False
    try:
        return _root_from_path(leaf_hash(item), index, size, list(path)) == root
    except IndexError:
        return False


def _root_from_path(h: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    # Walk down to find the sequence of left/right turns, then fold the path bottom-up.
    turns = []
    while n > 1:
        k = _split(n)
        if m < k:
            turns.append(True)  # we are in the left subtree; sibling on the right
            n = k
        else:
            turns.append(False)
            m, n = m - k, n - k
    if len(turns) != len(path):
        raise IndexError("path length does not match the tree")
    for is_left, sibling in zip(reversed(turns), path, strict=True):
        h = node_hash(h, sibling) if is_left else node_hash(sibling, h)
    return h
