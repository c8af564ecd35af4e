"""An operator's recovery path: check a stopped node's store, or wipe it to resync from peers.

`verify_store` replays the stored chain from genesis (hash links, Merkle roots, signatures,
re-execution to each stored state hash), then checks what the replay cannot see: the stored
receipts and the stored state records against the replay's.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from node.ledger.execution import BlockResult
from node.ledger.genesis import Genesis
from node.ledger.sigpool import audit_pool
from node.ledger.state import State
from node.ledger.verify import ChainReport, verify_chain
from node.store.db import Store, StoreError


@dataclass(frozen=True)
class StoreReport:
    chain: ChainReport
    receipts_checked: int
    state_records_match: bool
    problem: str  # empty when the store is sound

    @property
    def ok(self) -> bool:
        return not self.problem


def open_stopped_store(data_dir: str, genesis: Genesis) -> Store:
    try:
        return Store(f"{data_dir}/db", genesis)
    except StoreError as exc:
        if "/LOCK" in str(exc):  # LevelDB: another process (the node) holds the database
            raise StoreError(f"the store at {data_dir}/db is in use: stop the node first") from None
        raise


def verify_store(data_dir: str, genesis_path: str) -> StoreReport:
    genesis = Genesis.load(genesis_path)
    store = open_stopped_store(data_dir, genesis)
    try:
        return _verify(store, genesis)
    finally:
        store.close()


def _verify(store: Store, genesis: Genesis) -> StoreReport:
    tip = store.tip()
    receipts = 0

    def stored_blocks():
        for height in range(1, tip.height + 1):
            raw = store.block_bytes(height)
            if raw is None:
                return  # the replay then stops short of the tip: reported below
            yield raw, store.state_hash_at(height) or b""

    def receipts_as_stored(result: BlockResult) -> str | None:
        nonlocal receipts
        for r in result.receipts:
            stored = store.receipt(r.tx_hash)
            if stored is None or (stored.height, stored.index, stored.code) != (r.height, r.index, r.code):
                if not (stored is not None and stored.ok and not r.ok):  # a replay keeps the first receipt
                    return f"block {r.height}: stored receipt of tx {r.tx_hash.hex()[:16]} differs"
            receipts += 1
        return None

    replayed = State.from_genesis(genesis)
    with audit_pool() as pool:
        chain = verify_chain(genesis, stored_blocks(), replayed, receipts_as_stored, pool)
    if not chain.ok:
        return StoreReport(chain, receipts, False, chain.reason)
    if chain.height != tip.height or chain.block_hash != tip.block_hash or chain.state_hash != tip.state_hash:
        return StoreReport(chain, receipts, False, f"the replay ends at height {chain.height}, "
                                                   f"the store's tip is {tip.height}")
    same = replayed.records() == store.load_state().records()
    return StoreReport(chain, receipts, same, "" if same else
                       "stored state records differ from the replayed state")


def wipe_for_resync(data_dir: str, genesis: Genesis, node_id: str, term: int,
                    commit: int) -> Path:
    """Remove the node's database; started again, it fetches the chain from its peers.

    A wiped node has forgotten whom it voted for and what it held. So that it cannot vote twice
    in a term, its new hard state says it already voted (for itself) in `term`, the highest term
    its peers report. So that its empty log cannot help elect a leader that lacks committed
    entries, it votes for no one until it has applied `commit`, the highest commit index its
    peers report: until then it is a learner in all but name."""
    db = Path(data_dir) / "db"
    if db.exists():
        shutil.rmtree(db)
    store = Store(db, genesis)
    try:
        store.save_raft([term, node_id, 0], [], sync=True)
        store.set_resync_until(commit)
    finally:
        store.close()
    return db
