"""LevelDB store (plyvel): one database per node, one key prefix per kind of record.

    B + height        -> block bytes            H + block hash -> height
    T + tx hash       -> [height, index, code, message]  (the receipt)
    C + height        -> [state_hash, raft_index]        (per-block commit record)
    S + state key     -> state record (node.state)
    L + raft index    -> raft entry             m + name -> metadata (tip, chain id, hard state)
    Q + height        -> commit certificate (node.ledger.certificates, wire form)

Each block goes in with its receipts, state changes and the new tip in one atomic write batch,
so a node killed at any instant restarts at a complete block with a consistent state.
The consensus core reads the Raft log (L, m hard_state, m raft_compacted, m raft_conf) through
node.store.raftlog.LevelDBStorage, which is also how the daemon writes it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import msgpack
import plyvel

from node.ledger.codec import pack, sha256
from node.ledger.execution import BlockResult, ChainTip
from node.ledger.genesis import Genesis
from node.ledger.state import ACCOUNT, AccountTable, State
from node.ledger.types import Receipt

BLOCK, BLOCK_HASH, TX, COMMIT, STATE, RAFT_LOG, META = b"B", b"H", b"T", b"C", b"S", b"L", b"m"
_TIP, _CHAIN, _HARD = META + b"tip", META + b"chain_id", META + b"hard_state"
_COMPACTED = META + b"raft_compacted"  # [index, term] of the last entry dropped from the log
_CONF = META + b"raft_conf"  # the Raft membership as last applied: [voters, learners]
_RESYNC = META + b"resync_until"  # after a wipe: the log index to reach before voting again
CERTIFICATE = b"Q"
_CERTIFIED = META + b"certified_height"  # the highest height with a stored certificate
_DIVERGED = META + b"diverged"  # why this node stopped applying: its state left the quorum's
_RAFT_END = RAFT_LOG + b"\xff" * 9  # past every log key


def _u64(n: int) -> bytes:
    return struct.pack(">Q", n)


class StoreError(Exception):
    """The store cannot be used (another chain's, or corrupt); the message says what to do."""


@dataclass(frozen=True)
class TxLocation:
    height: int
    index: int
    code: str
    message: str


# LevelDB's memtable. Its default (4 MB) fills every second or two under load (each block is
# written twice, as a Raft entry and as a block), and every flush feeds compactions that grow
# with the database: the committed rate fell over long runs. A larger one flushes seldom, and a
# Raft entry deleted (compacted behind the applied index) while still in it never reaches disk.
# Memory: up to twice this per node (the memtable and the one being flushed).
WRITE_BUFFER_SIZE = 32 * 1024 * 1024


def _after(prefix: bytes) -> bytes:
    """The first key past every key that starts with `prefix` (a one-byte-tail prefix)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


class StoredAccounts:
    """The account records of a store, as node.ledger.state.AccountSource."""

    def __init__(self, db) -> None:
        self.db = db
        self.prefix = STATE + ACCOUNT

    def get(self, address: bytes) -> bytes | None:
        return self.db.get(self.prefix + address)

    def scan(self):
        for k, v in self.db.iterator(prefix=self.prefix):
            yield k[len(self.prefix):], v


class Store:
    def __init__(self, path: str | Path, genesis: Genesis, db=None,
                 write_buffer_size: int = WRITE_BUFFER_SIZE):
        """`db`: a plyvel-like database to use instead of opening one at `path` (tests pass a
        fault-injecting one that loses unsynced writes). `write_buffer_size`: LevelDB's
        memtable, in bytes (see WRITE_BUFFER_SIZE)."""
        if db is None:
            Path(path).mkdir(parents=True, exist_ok=True)
            try:
                db = plyvel.DB(str(path), create_if_missing=True,
                               write_buffer_size=write_buffer_size)
            except (plyvel.Error, OSError) as exc:
                raise StoreError(f"cannot open the store at {path}: {exc}") from None
        self.db = db
        self.genesis = genesis
        chain_id = self.db.get(_CHAIN)
        if chain_id is None:
            self._initialise()
        elif chain_id != genesis.chain_id:
            self.db.close()
            raise StoreError(
                f"the store at {path} belongs to chain {chain_id.hex()[:16]}..., but the genesis "
                f"names chain {genesis.chain_id.hex()[:16]}...; use the right genesis or a new data dir")
        else:
            self._check_tip(path)

    def _initialise(self) -> None:
        state = State.from_genesis(self.genesis)
        tip = ChainTip(0, self.genesis.chain_id, self.genesis.genesis_time, state.genesis_hash())
        with self.db.write_batch(sync=True) as wb:
            for k, v in state.records():
                wb.put(STATE + k, v)
            wb.put(COMMIT + _u64(0), pack([tip.state_hash, 0]))
            wb.put(_TIP, pack([tip.height, tip.block_hash, tip.timestamp, tip.state_hash, 0]))
            wb.put(_CHAIN, self.genesis.chain_id)

    def _check_tip(self, path) -> None:
        """Refuse a store whose tip is not a stored block: it was damaged outside the node."""
        try:
            tip = self.tip()
            raw = self.block_bytes(tip.height) if tip.height else None
            ok = tip.height == 0 or (raw is not None and sha256(pack(msgpack.unpackb(raw)[0])) == tip.block_hash)
        except (ValueError, TypeError, IndexError, msgpack.UnpackException):
            ok = False
        if not ok:
            self.db.close()
            raise StoreError(f"the store at {path} is corrupt: its tip is not a stored block. "
                             f"`lichen node verify --config ...` checks it; `lichen node resync "
                             f"--config ... --yes` rebuilds it from the peers")

    def close(self) -> None:
        if not self.db.closed:
            self.db.close()

    # -- state and tip ----------------------------------------------------------------------
    def load_state(self, account_cache: int | None = None) -> State:
        """The committed state. With `account_cache`, accounts stay in the store and at most
        that many are kept decoded (node.ledger.state.AccountTable): a start reads every record
        but the accounts, so it takes no longer with a million customers than with ten.
        Without, every record is loaded (audits comparing whole states)."""
        if account_cache is None:
            state = State(self.genesis)
            for k, v in self.db.iterator(prefix=STATE):
                state.load_record(k[1:], v)
            return state
        state = State(self.genesis, AccountTable(StoredAccounts(self.db), account_cache))
        for start, stop in ((STATE, STATE + ACCOUNT), (_after(STATE + ACCOUNT), _after(STATE))):
            for k, v in self.db.iterator(start=start, stop=stop):
                state.load_record(k[1:], v)
        return state

    def tip(self) -> ChainTip:
        height, block_hash, ts, state_hash, _ = msgpack.unpackb(self.db.get(_TIP))
        return ChainTip(height, block_hash, ts, state_hash)

    def applied_index(self) -> int:
        """The Raft log index of the last applied block (0 before any)."""
        return msgpack.unpackb(self.db.get(_TIP))[4]

    # -- blocks -----------------------------------------------------------------------------
    def write_block(self, result: BlockResult, raft_index: int, sync: bool = False,
                    restart_log: bool = False) -> ChainTip:
        """Block, receipts, state changes and the new tip, in one atomic batch.

        restart_log: the block was fetched from a peer, not taken from our Raft log, so the
        log restarts after it (in the same batch, so a crash cannot leave the applied index
        ahead of the log)."""
        b = result.block
        h = b.header
        tip = ChainTip(h.height, b.hash, h.timestamp, result.state_hash)
        with self.db.write_batch(sync=sync) as wb:
            wb.put(BLOCK + _u64(h.height), b.encode())
            wb.put(BLOCK_HASH + b.hash, _u64(h.height))
            for r in result.receipts:
                if r.ok or not self.db.get(TX + r.tx_hash):  # a replay never overwrites a receipt
                    wb.put(TX + r.tx_hash, pack(r.to_wire()))
            for k, v in result.changes:
                wb.put(STATE + k, v)
            wb.put(COMMIT + _u64(h.height), pack([result.state_hash, raft_index]))
            wb.put(_TIP, pack([tip.height, tip.block_hash, tip.timestamp, tip.state_hash, raft_index]))
            if restart_log:
                for k, _ in self.db.iterator(start=RAFT_LOG, stop=_RAFT_END):
                    wb.delete(k)
                wb.put(_COMPACTED, pack([raft_index, h.term]))
        return tip

    def skip_entry(self, raft_index: int, conf: list | None = None) -> None:
        """Record that a committed log entry carried no block (a no-op, an invalid block, or a
        membership change, whose new membership `conf` goes in the same batch)."""
        t = msgpack.unpackb(self.db.get(_TIP))
        t[4] = raft_index
        with self.db.write_batch() as wb:
            wb.put(_TIP, pack(t))
            if conf is not None:
                wb.put(_CONF, pack(conf))

    def resync_until(self) -> int:
        v = self.db.get(_RESYNC)
        return 0 if v is None else msgpack.unpackb(v)

    def set_resync_until(self, index: int) -> None:
        with self.db.write_batch(sync=True) as wb:
            if index:
                wb.put(_RESYNC, pack(index))
            else:
                wb.delete(_RESYNC)

    def raft_conf(self) -> list | None:
        v = self.db.get(_CONF)
        return None if v is None else msgpack.unpackb(v)

    def block_bytes(self, height: int) -> bytes | None:
        return self.db.get(BLOCK + _u64(height))

    def height_of(self, block_hash: bytes) -> int | None:
        v = self.db.get(BLOCK_HASH + block_hash)
        return None if v is None else struct.unpack(">Q", v)[0]

    def state_hash_at(self, height: int) -> bytes | None:
        v = self.db.get(COMMIT + _u64(height))
        return None if v is None else msgpack.unpackb(v)[0]

    # -- commit certificates (node.server.certificates) ----------------------------------------
    def put_certificate(self, height: int, wire: list) -> None:
        with self.db.write_batch() as wb:
            wb.put(CERTIFICATE + _u64(height), pack(wire))
            if height > self.certified_height():
                wb.put(_CERTIFIED, _u64(height))

    def certificate(self, height: int) -> list | None:
        v = self.db.get(CERTIFICATE + _u64(height))
        return None if v is None else msgpack.unpackb(v)

    def certified_height(self) -> int:
        v = self.db.get(_CERTIFIED)
        return 0 if v is None else struct.unpack(">Q", v)[0]

    def set_diverged(self, why: str) -> None:
        with self.db.write_batch(sync=True) as wb:
            wb.put(_DIVERGED, why.encode())

    def diverged(self) -> str:
        v = self.db.get(_DIVERGED)
        return "" if v is None else v.decode()

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        v = self.db.get(TX + tx_hash)
        return None if v is None else Receipt.from_wire(tx_hash, msgpack.unpackb(v))

    # -- Raft hard state and log --------------------------------------------------------------
    def save_raft(self, hard_state: list | None, entries: list[tuple[int, bytes]],
                  sync: bool = True) -> None:
        """Hard state and new entries in one synced batch, before any message goes out.

        Entries are (index, encoded entry); an appended entry replaces any with its index, and
        entries after the first new one are dropped (a leader overwrote a conflicting suffix).
        """
        with self.db.write_batch(sync=sync) as wb:
            if entries:
                first = entries[0][0]
                for k, _ in self.db.iterator(start=RAFT_LOG + _u64(first), stop=_RAFT_END):
                    wb.delete(k)
                for index, data in entries:
                    wb.put(RAFT_LOG + _u64(index), data)
            if hard_state is not None:
                wb.put(_HARD, pack(hard_state))

    def hard_state(self) -> list | None:
        v = self.db.get(_HARD)
        return None if v is None else msgpack.unpackb(v)

    def raft_entries(self, lo: int = 0, hi: int | None = None) -> list[tuple[int, bytes]]:
        """(index, encoded entry) for the log entries held in [lo, hi) (hi None: to the end)."""
        stop = _RAFT_END if hi is None else RAFT_LOG + _u64(hi)
        return [(struct.unpack(">Q", k[1:])[0], v)
                for k, v in self.db.iterator(start=RAFT_LOG + _u64(lo), stop=stop)]

    def compact_raft_log(self, upto: int, term: int) -> None:
        """Drop log entries <= upto (applied: their blocks are in the block store)."""
        if upto <= self.raft_compacted()[0]:
            return
        with self.db.write_batch() as wb:
            for k, _ in self.db.iterator(start=RAFT_LOG, stop=RAFT_LOG + _u64(upto + 1)):
                wb.delete(k)
            wb.put(_COMPACTED, pack([upto, term]))

    def reset_raft_log(self, index: int, term: int) -> None:
        """After catching up out of band to (index, term): the log restarts after index."""
        with self.db.write_batch(sync=True) as wb:
            for k, _ in self.db.iterator(start=RAFT_LOG, stop=_RAFT_END):
                wb.delete(k)
            wb.put(_COMPACTED, pack([index, term]))

    def raft_compacted(self) -> tuple[int, int]:
        v = self.db.get(_COMPACTED)
        return (0, 0) if v is None else tuple(msgpack.unpackb(v))  # type: ignore[return-value]

    def blocks_from(self, height: int, limit: int, max_bytes: int) -> list[list]:
        """[block bytes, raft index] for heights from `height` on: what a peer catching up fetches."""
        out, size = [], 0
        while len(out) < limit:
            raw = self.block_bytes(height)
            if raw is None or (out and size + len(raw) > max_bytes):
                break
            out.append([raw, msgpack.unpackb(self.db.get(COMMIT + _u64(height)))[1]])
            size += len(raw)
            height += 1
        return out
