"""A node's chain replayed from genesis over its HTTP API, trusting nothing it says: the
genesis must hash to the chain id it reports, every block must verify and re-execute to the
state hash it reports, and the replay must end at its status's tip.

`lichen chain verify` prints this; `lichen devnet chaos` runs it on every node.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import closing

import msgpack

from node.ledger.execution import BlockResult
from node.ledger.genesis import Genesis, GenesisError
from node.ledger.sigpool import audit_pool
from node.ledger.verify import ChainReport, verify_chain
from node.server.service import BlockRecord

from .client import ApiError, Client, KeptAlive

OnBlock = Callable[[BlockRecord], object]  # each block as the node served it, in order
OnReplayed = Callable[[BlockResult], object]  # each block once it passed every check


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


BATCH = 64  # blocks per GET /v1/blocks/raw (the node answers fewer past its byte budget)
AHEAD = 2  # answers read ahead of the replay


def served_records(client: Client, height: int) -> Iterator[BlockRecord]:
    """The node's BlockRecords for heights 1..height, in order, read BATCH at a time over one
    kept-alive connection by a thread that stays up to AHEAD answers ahead of the caller (while
    the replay works, the node packs and the network carries the next ones). Ends early where
    the node serves no more blocks: the replay then stops short of the tip, which tip_mismatch
    reports. Raises ApiError: the node's refusal, or BAD_ANSWER for an answer that is not the
    blocks asked for. A caller that stops early leaves the rest unread."""
    answers: queue.Queue[list[BlockRecord] | Exception | None] = queue.Queue(AHEAD)
    stop = threading.Event()

    def hand_over(item: list[BlockRecord] | Exception | None) -> bool:
        while not stop.is_set():
            try:
                answers.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        conn = KeptAlive(client)
        try:
            start = 1
            while start <= height:
                records = read_records(conn, start, min(BATCH, height - start + 1))
                if not records or not hand_over(records):
                    break
                start += len(records)
        except Exception as exc:  # noqa: BLE001 - the caller raises it, on its thread
            hand_over(exc)
        finally:
            conn.close()
            hand_over(None)

    fetcher = threading.Thread(target=fetch, name="fetch-blocks", daemon=True)
    fetcher.start()
    try:
        while (item := answers.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield from item
    finally:
        stop.set()
        fetcher.join()


def read_records(conn: KeptAlive, start: int, count: int) -> list[BlockRecord]:
    """GET /v1/blocks/raw for `count` blocks from `start`: the node's answer, which must be
    records of heights start, start+1, ..., at most `count` of them."""
    body = conn.get_bytes(f"/v1/blocks/raw?from={start}&count={count}")
    try:
        entries = msgpack.unpackb(body, raw=False)
        if type(entries) is not list or len(entries) > count:
            raise ValueError(f"not a list of at most {count} blocks")
        records = [BlockRecord.from_wire(e) for e in entries]
    except (ValueError, msgpack.UnpackException) as exc:  # msgpack's errors: mostly ValueErrors
        raise ApiError("BAD_ANSWER", f"the node's blocks from height {start}: {exc}") from None
    for i, record in enumerate(records):
        if record.height != start + i:
            raise ApiError("BAD_ANSWER", f"the node answered block {record.height} where block "
                                         f"{start + i} belongs")
    return records


def fetch_blocks(client: Client, height: int, on_checked: Callable[[], object],
                 on_block: OnBlock | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(raw block, reported state hash) for heights 1..height, in order, as verify_chain takes
    them (served_records). `on_block` sees each BlockRecord (its certificate, say) as the
    replay takes it; `on_checked()` runs once the replay asks for the next."""
    with closing(served_records(client, height)) as records:
        for record in records:
            if on_block is not None:
                on_block(record)
            yield record.raw, record.state_hash
            on_checked()


def verify_node(client: Client, on_replayed: OnReplayed | None = None,
                ) -> tuple[dict, ChainReport, str]:
    """What `lichen chain verify` checks, without printing or exiting: (the node's status, the
    replay's report, the problem or ""). `on_replayed` sees each block that passed (its
    re-executed receipts, say). Raises ApiError or BadGenesis."""
    status = client.status()
    genesis = node_genesis(client, status["chain_id"])

    def passed(result: BlockResult) -> None:
        if on_replayed is not None:
            on_replayed(result)

    with audit_pool() as pool:
        report = verify_chain(genesis, fetch_blocks(client, status["height"], lambda: None),
                              on_block=passed, pool=pool)
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
