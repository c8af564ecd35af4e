"""A node's chain replayed from genesis over its HTTP API, trusting nothing it says: the
genesis must hash to the chain id it reports, every block must verify and re-execute to the
state hash it reports, and the replay must end at its status's tip.

`lichen chain verify` prints this; `lichen devnet chaos` runs it on every node.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from node.ledger.genesis import Genesis, GenesisError
from node.ledger.sigpool import audit_pool
from node.ledger.verify import ChainReport, verify_chain

from .client import Client, KeptAlive

OnBlock = Callable[[int, bytes, dict], object]  # (height, raw block, the node's block JSON)


class BadGenesis(Exception):
    """The genesis a node serves does not parse, or does not hash to its chain id."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def node_genesis(client: Client, chain_id_hex: str) -> Genesis:
    """The node's genesis, which must hash to the chain id it reports; raises BadGenesis."""
    try:
        genesis = Genesis.from_json(client.genesis())
    except GenesisError as exc:
        raise BadGenesis("BAD_GENESIS", str(exc)) from None
    if genesis.chain_id.hex() != chain_id_hex:
        raise BadGenesis("WRONG_CHAIN", f"the node's genesis hashes to {genesis.chain_id.hex()}, "
                                        f"but it reports chain id {chain_id_hex}")
    return genesis


FETCH_AHEAD = 16  # blocks fetched ahead of the replay, FETCHERS at a time
FETCHERS = 4


def fetch_blocks(client: Client, height: int, on_checked: Callable[[], object],
                 on_block: OnBlock | None = None, txs: bool = True,
                 ) -> Iterator[tuple[bytes, bytes]]:
    """(raw block, reported state hash) for heights 1..height, in order. Up to FETCH_AHEAD
    blocks are fetched ahead on threads while the replay works (each block is two requests,
    mostly waiting on the network and TLS); a replay that stops early leaves the rest unread.
    `on_block(height, raw, block JSON)` sees each block, in order, as the replay takes it; the
    JSON without its `txs` unless `txs` (they are the raw block's, rendered)."""
    local = threading.local()  # each fetcher thread keeps its own connection alive
    opened: list[KeptAlive] = []

    def fetch(h: int) -> tuple[bytes, dict]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = KeptAlive(client)
            opened.append(conn)
        return (conn.get_bytes(f"/v1/blocks/{h}/raw"),
                conn.get(f"/v1/blocks/{h}" + ("" if txs else "?txs=false")))

    try:
        with ThreadPoolExecutor(FETCHERS, thread_name_prefix="fetch") as pool:
            ahead: deque[tuple[int, Future[tuple[bytes, dict]]]] = deque()
            next_h = 1
            try:
                while ahead or next_h <= height:
                    while next_h <= height and len(ahead) < FETCH_AHEAD:
                        ahead.append((next_h, pool.submit(fetch, next_h)))
                        next_h += 1
                    h, future = ahead.popleft()
                    raw, doc = future.result()
                    if on_block is not None:
                        on_block(h, raw, doc)
                    yield raw, bytes.fromhex(doc["state_hash"])
                    on_checked()
            finally:
                for _, future in ahead:
                    future.cancel()
    finally:  # the fetchers are done: their connections go
        for conn in opened:
            conn.close()


def verify_node(client: Client, on_block: OnBlock | None = None,
                ) -> tuple[dict, ChainReport, str]:
    """What `lichen chain verify` checks, without printing or exiting: (the node's status, the
    replay's report, the problem or ""). Raises ApiError or BadGenesis."""
    status = client.status()
    genesis = node_genesis(client, status["chain_id"])
    with audit_pool() as pool:
        report = verify_chain(genesis, fetch_blocks(client, status["height"], lambda: None, on_block),
                              pool=pool)
    return status, report, report.reason or tip_mismatch(report, status)


def tip_mismatch(report: ChainReport, status: dict) -> str:
    """A replayed chain must end where the node's status says it is."""
    if report.height != status["height"]:
        return f"the node reports height {status['height']} but serves blocks up to {report.height}"
    if report.block_hash.hex() != status["block_hash"]:
        return (f"the node's tip block hash {status['block_hash']} is not the replayed "
                f"{report.block_hash.hex()}")
    if report.state_hash.hex() != status["state_hash"]:
        return (f"the node's state hash {status['state_hash']} is not the replayed "
                f"{report.state_hash.hex()}")
    return ""
