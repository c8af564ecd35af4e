"""The envelope: what every transaction must pass before its kind's rules are looked at.

It is signed for this chain, by its sender, with the sender's next nonce. An envelope failure
(an EnvelopeError, as is a decoding failure in node.ledger.types.decode_tx) changes nothing, not
even the nonce; in a block, any failure after the envelope passed consumes the nonce
(node.ledger.rules.transaction.apply_in_block).
"""
from __future__ import annotations

from collections.abc import Callable

from node.ledger import errors as E
from node.ledger.crypto import verify
from node.ledger.genesis import Genesis
from node.ledger.state import StateView
from node.ledger.types import Transaction


class SignatureCache:
    """Signature verdicts by tx hash, so each signature is verified at most once per node.

    A verdict depends only on the transaction's bytes, so admission's verdict is reused when the
    block executes. Bounded; oldest entries are evicted first.
    """

    def __init__(self, capacity: int = 200_000, timer: Callable[[], float] | None = None):
        """`timer` (e.g. time.perf_counter, injected: the ledger reads no clock) times the
        checks made here, for the node's stage profile; it never touches a verdict."""
        self.capacity = capacity
        self._ok: dict[bytes, None] = {}
        self.verified = 0  # signatures actually checked, here or by a pool (metrics and tests)
        self.inline = 0  # of those, checked here
        self.inline_seconds = 0.0  # spent on them, when timed
        self._timer = timer

    def check(self, tx: Transaction) -> bool:
        if tx.hash in self._ok:
            return True
        self.verified += 1
        self.inline += 1
        if self._timer is None:
            ok = verify(tx.sender, tx.signing_bytes, tx.signature)
        else:
            start = self._timer()
            ok = verify(tx.sender, tx.signing_bytes, tx.signature)
            self.inline_seconds += self._timer() - start
        if ok:
            self._keep(tx.hash)
        return ok

    def remember(self, tx_hash: bytes) -> None:
        """A signature verified elsewhere (node.ledger.sigpool: a worker checked the tx whose
        encoding hashes to tx_hash); counted as verified."""
        if tx_hash not in self._ok:
            self.verified += 1
            self._keep(tx_hash)

    def _keep(self, tx_hash: bytes) -> None:
        if len(self._ok) >= self.capacity:
            del self._ok[next(iter(self._ok))]
        self._ok[tx_hash] = None

    def forget(self, tx_hash: bytes) -> None:
        """Called once a tx is executed: its nonce now bars any replay."""
        self._ok.pop(tx_hash, None)


def check_chain(tx: Transaction, genesis: Genesis) -> None:
    """Signed for this chain: the chain id is the hash of this genesis."""
    if tx.chain_id != genesis.chain_id:
        raise E.WrongChain(f"signed for chain {tx.chain_id.hex()[:16]}..., "
                           f"this is {genesis.chain_id.hex()[:16]}...")


def check_signature(tx: Transaction, sigs: SignatureCache) -> None:
    """Signed by its sender: the sender's key verifies the signature over the first five fields."""
    if not sigs.check(tx):
        raise E.BadSignature("signature does not verify for the sender's key")


def check_signed(tx: Transaction, genesis: Genesis, sigs: SignatureCache) -> None:
    """The envelope without the nonce: what a pool checks of a tx it holds for a later nonce."""
    check_chain(tx, genesis)
    check_signature(tx, sigs)


def check_nonce(tx: Transaction, expected: int) -> None:
    """The sender's next nonce, exactly: nonces run 0, 1, 2, ... per sender, without gaps."""
    if tx.nonce != expected:
        raise E.BadNonce(f"nonce {tx.nonce}, expected {expected}")


def check_envelope(view: StateView, tx: Transaction, sigs: SignatureCache) -> None:
    check_chain(tx, view.genesis)
    check_signature(tx, sigs)
    check_nonce(tx, view.account(tx.sender).nonce)


def apply_nonce(view: StateView, tx: Transaction) -> None:
    """The sender's next nonce is the one after this tx's."""
    view.account_mut(tx.sender).nonce = tx.nonce + 1

