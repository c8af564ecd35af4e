"""Block building, validation and deterministic execution.

Same block bytes and prior state in, same receipts, state changes and state hash out, on every
node: execution reads only the block (its timestamp, never the local clock) and prior state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from node.ledger import errors as E
from node.ledger.codec import pack, sha256
from node.ledger.crypto import KeyPair, verify
from node.ledger.merkle import merkle_root
from node.ledger.rules import Context, SignatureCache, apply_rules, bump_nonce, check_envelope
from node.ledger.state import Overlay, State
from node.ledger.types import Block, BlockHeader, Receipt, Transaction, decode_tx


@dataclass(frozen=True)
class ChainTip:
    """What the next block builds on."""
    height: int
    block_hash: bytes
    timestamp: int
    state_hash: bytes


@dataclass
class BlockResult:
    block: Block
    receipts: list[Receipt]
    overlay: Overlay  # the state changes, not yet committed to State
    changes: list[tuple[bytes, bytes]]
    state_hash: bytes
    tx_hashes: list[bytes]


class InvalidBlock(Exception):
    """A committed log entry that does not extend the chain; every node skips it alike."""


def build_block(tip: ChainTip, txs: list[bytes], tx_hashes: list[bytes], timestamp: int,
                proposer: KeyPair, term: int) -> Block:
    header = BlockHeader(
        height=tip.height + 1, prev_hash=tip.block_hash, tx_root=merkle_root(tx_hashes),
        timestamp=max(timestamp, tip.timestamp), proposer=proposer.address, term=term)
    return Block(header, proposer.sign(header.hash), tuple(txs))


def validate_block(block: Block, tip: ChainTip, state: State) -> list[bytes]:
    """Header rules; returns the tx hashes. Raises InvalidBlock with the rule broken."""
    h = block.header
    if h.height != tip.height + 1:
        raise InvalidBlock(f"height {h.height} does not follow {tip.height}")
    if h.prev_hash != tip.block_hash:
        raise InvalidBlock(f"block {h.height} does not link to the previous block")
    if h.timestamp < tip.timestamp:
        raise InvalidBlock(f"block {h.height} timestamp goes backwards")
    inst = state.genesis.institution_by_key(h.proposer)
    if inst is None or "validator" not in state.roles(inst.name):
        raise InvalidBlock(f"block {h.height} proposer is not a licensed validator")
    if not verify(h.proposer, h.hash, block.signature):
        raise InvalidBlock(f"block {h.height} proposer signature does not verify")
    tx_hashes = [sha256(raw) for raw in block.txs]
    if len(set(tx_hashes)) != len(tx_hashes):
        raise InvalidBlock(f"block {h.height} holds a transaction twice")
    if merkle_root(tx_hashes) != h.tx_root:
        raise InvalidBlock(f"block {h.height} Merkle root does not match its transactions")
    return tx_hashes


def execute_block(state: State, block: Block, tip: ChainTip, sigs: SignatureCache,
                  known: Callable[[bytes], Transaction | None] = lambda h: None) -> BlockResult:
    """Run every transaction of a valid block against state; nothing is committed here.

    `known` looks up transactions this node already decoded (its pool), so their bytes are
    not decoded twice; a tx's hash is the hash of those bytes, so the two cannot differ."""
    tx_hashes = validate_block(block, tip, state)
    ctx = Context(timestamp=block.header.timestamp)
    view = Overlay(state)
    receipts = [execute_tx(view, known(h) or raw, h, block.header.height, i, ctx, sigs)
                for i, (raw, h) in enumerate(zip(block.txs, tx_hashes))]
    changes = view.changes()
    state_hash = next_state_hash(tip.state_hash, block.header.height, block.hash, changes, receipts)
    return BlockResult(block, receipts, view, changes, state_hash, tx_hashes)


def execute_tx(view: Overlay, tx: Transaction | bytes, tx_hash: bytes, height: int, index: int,
               ctx: Context, sigs: SignatureCache) -> Receipt:
    """One transaction. Envelope failures change nothing; a rule failure consumes the nonce."""
    try:
        if isinstance(tx, bytes):
            tx = decode_tx(tx)
        check_envelope(view, tx, sigs)
    except E.LedgerError as err:
        return Receipt(tx_hash, height, index, err.code, err.message)
    sigs.forget(tx_hash)
    try:
        apply_rules(view, tx, ctx)
        return Receipt(tx_hash, height, index)
    except E.LedgerError as err:
        return Receipt(tx_hash, height, index, err.code, err.message)
    finally:
        bump_nonce(view, tx)


def next_state_hash(prev: bytes, height: int, block_hash: bytes,
                    changes: list[tuple[bytes, bytes]], receipts: list[Receipt]) -> bytes:
    """Running hash: the previous one, this block, its sorted state changes and its receipts."""
    return sha256(pack([prev, height, block_hash, [list(c) for c in changes],
                        [[r.tx_hash, r.code] for r in receipts]]))
