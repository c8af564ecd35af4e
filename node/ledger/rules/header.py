"""Block rules: what makes a committed Raft entry a block that extends the chain.

A block extends the tip when its header follows the tip (height, parent link, time never
decreasing), its proposer is a licensed validator that signed the header hash, and its body
matches the header (no transaction twice, the Merkle root of the transaction hashes). A block
that breaks one is skipped by every node alike; it raises the InvalidBlock subclass that names
the rule (node.ledger.errors). Block execution (node.ledger.execution) and chain verification
(node.ledger.verify) both run `check_block`; an inclusion proof checks `check_block_signature`.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.crypto import verify
from node.ledger.merkle import merkle_root
from node.ledger.rules.membership import is_licensed_validator
from node.ledger.state import StateView
from node.ledger.types import Block, BlockHeader, ChainTip


def check_height(h: BlockHeader, tip: ChainTip) -> None:
    if h.height != tip.height + 1:
        raise E.BadHeight(f"height {h.height} does not follow {tip.height}")


def check_parent(h: BlockHeader, tip: ChainTip) -> None:
    if h.prev_hash != tip.block_hash:
        raise E.BadParent(f"block {h.height} does not link to the previous block")


def check_time_monotonic(h: BlockHeader, tip: ChainTip) -> None:
    """Block time never decreases (equal is fine: blocks may be cut within one millisecond)."""
    if h.timestamp < tip.timestamp:
        raise E.TimeWentBackwards(f"block {h.height} timestamp goes backwards")


def check_proposer(view: StateView, h: BlockHeader) -> None:
    """The proposer is licensed as validator in the state the block builds on."""
    if not is_licensed_validator(view, h.proposer):
        raise E.ProposerNotLicensed(f"block {h.height} proposer is not a licensed validator")


def check_block_signature(h: BlockHeader, signature: bytes) -> None:
    """The proposer signed the header hash."""
    if not verify(h.proposer, h.hash, signature):
        raise E.BadBlockSignature(f"block {h.height} proposer signature does not verify")


def check_no_duplicate_tx(h: BlockHeader, tx_hashes: list[bytes]) -> None:
    if len(set(tx_hashes)) != len(tx_hashes):
        raise E.DuplicateTx(f"block {h.height} holds a transaction twice")


def check_tx_root(h: BlockHeader, tx_hashes: list[bytes]) -> None:
    if merkle_root(tx_hashes) != h.tx_root:
        raise E.BadTxRoot(f"block {h.height} Merkle root does not match its transactions")


def check_block(block: Block, tip: ChainTip, view: StateView) -> list[bytes]:
    """Every block rule, in order; returns the tx hashes (the body's, in block order)."""
    h = block.header
    check_height(h, tip)
    check_parent(h, tip)
    check_time_monotonic(h, tip)
    check_proposer(view, h)
    check_block_signature(h, block.signature)
    tx_hashes = [sha256(raw) for raw in block.txs]
    check_no_duplicate_tx(h, tx_hashes)
    check_tx_root(h, tx_hashes)
    return tx_hashes
