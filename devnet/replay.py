"""A node's chain replayed from genesis over its HTTP API, trusting nothing it says: the
genesis must hash to the chain id it reports, every block must verify and re-execute to the
state hash it reports, and the replay must end at its status's tip.

`lichen chain verify` prints this; `lichen devnet chaos` runs it on every node.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from node.ledger.genesis import Genesis, GenesisError
from node.ledger.verify import ChainReport, verify_chain

from .client import Client

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


def fetch_blocks(client: Client, height: int, on_checked: Callable[[], object],
                 on_block: OnBlock | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(raw block, reported state hash) for heights 1..height, fetched as the replay asks.
    `on_block(height, raw, block JSON)` sees each block as it is fetched."""
    for h in range(1, height + 1):
        raw = client.block_raw(h)
        doc = client.block(h)
        if on_block is not None:
            on_block(h, raw, doc)
        yield raw, bytes.fromhex(doc["state_hash"])
        on_checked()  # the replay asks for the next block only once this one passed


def verify_node(client: Client, on_block: OnBlock | None = None,
                ) -> tuple[dict, ChainReport, str]:
    """What `lichen chain verify` checks, without printing or exiting: (the node's status, the
    replay's report, the problem or ""). Raises ApiError or BadGenesis."""
    status = client.status()
    genesis = node_genesis(client, status["chain_id"])
    report = verify_chain(genesis, fetch_blocks(client, status["height"], lambda: None, on_block))
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
