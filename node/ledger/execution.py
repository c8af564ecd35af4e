"""Block building, validation and deterministic execution.

Same block bytes and prior state in, same receipts, state changes and state hash out, on every
node: execution reads only the block (its timestamp, never the local clock) and prior state.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.ledger import errors as E
from node.ledger.codec import pack, sha256
from node.ledger.crypto import Signer
from node.ledger.errors import InvalidBlock
from node.ledger.merkle import merkle_root
from node.ledger.rules import (
    Context,
    SignatureCache,
    apply_block_start,
    apply_in_block,
    check_block,
    check_envelope,
)
from node.ledger.state import Overlay, State, StateView
from node.ledger.types import Block, BlockHeader, ChainTip, Receipt, Transaction, decode_tx

__all__ = ["BlockResult", "ChainTip", "InvalidBlock", "build_block", "execute_block",
           "execute_tx", "next_state_hash", "next_timed_work", "validate_block"]

END_OF_TIME = 2**63 - 1


@dataclass
class BlockResult:
    block: Block
    receipts: list[Receipt]
    overlay: Overlay  # the state changes, not yet committed to State
    changes: list[tuple[bytes, bytes]]
    state_hash: bytes
    tx_hashes: list[bytes]


def build_block(tip: ChainTip, txs: list[bytes], tx_hashes: list[bytes], timestamp: int,
                proposer: Signer, term: int) -> Block:
    header = BlockHeader(
        height=tip.height + 1, prev_hash=tip.block_hash, tx_root=merkle_root(tx_hashes),
        timestamp=max(timestamp, tip.timestamp), proposer=proposer.address, term=term)
    return Block(header, proposer.sign(header.hash), tuple(txs))


def validate_block(block: Block, tip: ChainTip, state: State) -> list[bytes]:
    """The block rules (node.ledger.rules.header); returns the tx hashes. Raises the
    InvalidBlock subclass that names the rule broken."""
    return check_block(block, tip, state)


def execute_block(state: State, block: Block, tip: ChainTip, sigs: SignatureCache,
                  known: Callable[[bytes], Transaction | None] = lambda h: None) -> BlockResult:
    """Run every transaction of a valid block against state; nothing is committed here.

    `known` looks up transactions this node already decoded (its pool), so their bytes are
    not decoded twice; a tx's hash is the hash of those bytes, so the two cannot differ."""
    tx_hashes = validate_block(block, tip, state)
    ctx = Context(timestamp=block.header.timestamp)
    view = Overlay(state)
    apply_block_start(view, ctx)  # licence lapses, offer expiries, loan collections
    receipts = [execute_tx(view, known(h) or raw, h, block.header.height, i, ctx, sigs)
                for i, (raw, h) in enumerate(zip(block.txs, tx_hashes, strict=True))]
    changes = view.changes()
    state_hash = next_state_hash(tip.state_hash, block.header.height, block.hash, changes, receipts)
    return BlockResult(block, receipts, view, changes, state_hash, tx_hashes)


def next_timed_work(view: StateView) -> int | None:
    """The earliest block time from which a block's start has work to do on this state (an
    open FX offer expires, a loan's collection turn comes), or None. A leader with an empty
    pool cuts an empty block once that time has come, so locks are released and instalments
    collected on time on an idle chain too, not at its next transaction. (Licence lapses are
    left to the next block: the last validator's licence may not lapse, and would ask for an
    empty block every interval.)"""
    head = view.offers_due(END_OF_TIME, 1)
    offer = view.offer(head[0]) if head else None
    times = [offer.expires_at] if offer is not None else []
    loans = view.loans_due(END_OF_TIME, 1)
    loan = view.loan(loans[0]) if loans else None
    if loan is not None and loan.next_at is not None:
        times.append(loan.next_at)
    return min(times) if times else None


def execute_tx(view: Overlay, tx: Transaction | bytes, tx_hash: bytes, height: int, index: int,
               ctx: Context, sigs: SignatureCache) -> Receipt:
    """One transaction. An envelope failure changes nothing; after the envelope, a rule failure
    still consumes the nonce (rules.apply_in_block). Either way the receipt says why."""
    try:
        if isinstance(tx, bytes):
            tx = decode_tx(tx)
        check_envelope(view, tx, sigs)
    except E.LedgerError as err:
        return Receipt(tx_hash, height, index, err.code, err.message)
    sigs.forget(tx_hash)
    try:
        apply_in_block(view, tx, ctx)
    except E.LedgerError as err:
        return Receipt(tx_hash, height, index, err.code, err.message)
    return Receipt(tx_hash, height, index)


def next_state_hash(prev: bytes, height: int, block_hash: bytes,
                    changes: list[tuple[bytes, bytes]], receipts: list[Receipt]) -> bytes:
    """Running hash: the previous one, this block, its sorted state changes and its receipts."""
    # each change is a (key, value) tuple, which msgpack encodes as the array a list would be
    return sha256(pack([prev, height, block_hash, changes,
                        [[r.tx_hash, r.code] for r in receipts]]))
