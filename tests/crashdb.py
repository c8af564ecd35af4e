"""A plyvel-like in-memory database that can lose every write not yet synced.

A killed process keeps the OS page cache, so kill -9 cannot show a missing fsync. This can:
writes land in a volatile log; a batch written with sync=True makes everything before it (and
itself) durable, as LevelDB's sequential write-ahead log does; `crash()` throws the volatile
writes away, as a power cut would.
"""
from __future__ import annotations

import bisect


class _Batch:
    def __init__(self, db: CrashableDB, sync: bool):
        self.db, self.sync, self.ops = db, sync, []

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((bytes(key), bytes(value)))

    def delete(self, key: bytes) -> None:
        self.ops.append((bytes(key), None))

    def __enter__(self) -> _Batch:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.db._write(self.ops, self.sync)


class CrashableDB:
    def __init__(self) -> None:
        self.durable: dict[bytes, bytes] = {}
        self.volatile: list[list[tuple[bytes, bytes | None]]] = []  # unsynced batches, in order
        self.current: dict[bytes, bytes] = {}  # durable with the volatile batches applied
        self.closed = False
        self.synced_batches = 0

    # -- the plyvel subset node.store uses ----------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        return self._view().get(key)

    def write_batch(self, sync: bool = False) -> _Batch:
        return _Batch(self, sync)

    def iterator(self, start: bytes | None = None, stop: bytes | None = None,
                 prefix: bytes | None = None):
        view = self._view()
        keys = sorted(view)  # a snapshot: the caller may write while iterating
        lo = bisect.bisect_left(keys, start if start is not None else (prefix or b""))
        for k in keys[lo:]:
            if stop is not None and k >= stop:
                break
            if prefix is not None and not k.startswith(prefix):
                if k > prefix:
                    break
                continue
            v = view.get(k)
            if v is not None:
                yield k, v

    def close(self) -> None:
        self.closed = True

    # -- faults ----------------------------------------------------------------------------------
    def crash(self) -> int:
        """Lose every unsynced write; returns how many batches were lost."""
        lost = len(self.volatile)
        self.volatile = []
        self.current = dict(self.durable)
        self.closed = False
        return lost

    def _write(self, ops, sync: bool) -> None:
        self.volatile.append(ops)
        _apply(self.current, ops)
        if sync:
            for batch in self.volatile:
                _apply(self.durable, batch)
            self.volatile = []
            self.synced_batches += 1

    def _view(self) -> dict[bytes, bytes]:
        return self.current


def _apply(d: dict, ops) -> None:
    for k, v in ops:
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
