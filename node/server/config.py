"""A node's configuration file (JSON), as an operator writes it."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class NodeConfig:
    name: str  # e.g. node0; used in logs
    key_file: str  # the institution's node key (node.crypto.KeyPair JSON)
    genesis: str  # path to the shared genesis.json
    data_dir: str  # LevelDB lives in data_dir/db
    listen: str = "127.0.0.1:7100"  # host:port for the HTTP API (and the peer websocket ...)
    # ... unless peer_listen (host:port) is set: then /v1/peer is served there only, with its
    # own connection budget, so clients holding every API slot cannot lock the validators out
    peer_listen: str = ""
    devnet: bool = False  # enables fault injection and the admin endpoint
    admin_token: str = ""  # required by the admin endpoint (devnet only)
    block_max_txs: int = 2000
    block_max_bytes: int = 1024 * 1024  # one block is one Raft entry and fits one peer frame
    block_interval_ms: int = 10  # a block is cut when this passes with txs waiting, or when full
    max_inflight_blocks: int = 4  # proposed but not yet committed
    tick_ms: int = 100  # one consensus tick
    log_tail: int = 256  # applied Raft entries kept so briefly lagging peers catch up by append
    mempool_max_txs: int = 50_000
    mempool_max_bytes: int = 64 * 1024 * 1024
    mempool_max_per_sender: int = 5_000
    # Txs held for a future nonce (node.ledger.mempool): in all, per sender, and how long one
    # waits for its nonce gap to fill before it is dropped.
    mempool_max_held: int = 10_000
    mempool_max_held_per_sender: int = 16
    mempool_held_ttl_s: float = 60.0
    mempool_held_sweep_s: float = 1.0  # how often an idle node drops held txs past their ttl
    max_request_bytes: int = 4 * 1024 * 1024
    max_batch_txs: int = 5_000
    # -- limits that protect the node from its clients (node.limits) -------------------------
    # Submitted transactions per second per client IP (an IPv6 client counts by its /64), as a
    # token bucket: a batch of 500 costs 500. Over it: 429 RATE_LIMITED with Retry-After, and
    # nothing of that request is admitted. 0 turns the limit off. The default sits above what
    # one node executes, so `lichen bench` on a loopback devnet is never throttled by it.
    rate_limit_txs_per_s: float = 20_000
    rate_limit_burst: int = 40_000  # txs a client may send at once after a quiet spell
    # A refused transaction (bad signature, unattested sender, ...; not a duplicate or a full
    # pool) costs its client this many tokens more: a client sending junk is held to about
    # rate / (1 + cost) of it, while an honest client, whose transactions pass, pays nothing.
    rate_limit_refused_cost: int = 9
    rate_limit_clients: int = 10_000  # client buckets kept (least recently seen evicted first)
    # Reads (GET of status, txs, blocks, accounts, proofs, proposals, genesis) per second per
    # client, a bucket of their own: over it 429 RATE_LIMITED with Retry-After. 0 turns it off.
    # The default sits well above `lichen chain verify` and `lichen bench` on a loopback
    # devnet (both read each block); /healthz, /readyz and /metrics are not counted.
    read_rate_limit_per_s: float = 1_000
    read_rate_limit_burst: int = 2_000
    # Heavy reads (a block as JSON or raw, a committed tx, a proof) are rendered off the event
    # loop on this many threads, so consensus keeps its cadence; more wait their turn.
    read_workers: int = 2
    # With read_auth, account and transaction reads (accounts, txs, proofs, blocks) want a
    # bearer token the operator issued (`lichen node token issue`; node.server.auth), whose
    # hash and scope are in read_tokens_file (default: tokens.json beside the config file).
    # Off by default for devnets; a production config must turn it on.
    read_auth: bool = False
    read_tokens_file: str = ""
    # The dashboard's live feed (GET /v1/events, node.server.dashboard): streams open at once
    # (beyond: 503 UNAVAILABLE), and events queued per stream (a slow reader loses the oldest)
    max_event_streams: int = 16
    event_queue_len: int = 256
    max_long_polls: int = 2_048  # concurrent GET /v1/txs/{h}?wait=...; beyond: 503 UNAVAILABLE
    max_http_connections: int = 4_096  # open HTTP connections, peers' too without peer_listen
    max_connections_per_ip: int = 1_024  # of those, from one client IP (IPv6: one /64)
    max_peer_connections: int = 256  # open connections on peer_listen (when set)
    max_peer_connections_per_ip: int = 64  # of those, from one IP (a devnet shares 127.0.0.1)
    http_idle_timeout_s: float = 30.0  # no complete request head by then: closed (0: never)
    http_body_timeout_s: float = 30.0  # to receive a whole request body; then 408, closed
    # verified signatures remembered (node.rules.SignatureCache): twice the pool, since a tx's
    # entry goes when it executes (200 000 held ~10 MB more for no hit)
    sig_cache_size: int = 100_000
    # committed accounts kept decoded in memory; the rest are read from LevelDB when touched
    # (node.ledger.state.AccountTable): memory stays bounded however many customers there are
    account_cache_size: int = 50_000
    # worker processes checking signatures of submitted and gossiped batches ahead of admission
    # (node.ledger.sigpool; the rules' verdicts are unchanged). 0, the default: all on the event
    # loop. Workers pay off only with cores to spare: on a 2-core machine running three nodes
    # and the bench they cost 20% of the committed rate (IPC, a second decode, the contention)
    sig_workers: int = 0
    # tx hashes gossip remembers (p2p.SeenCache): ~9 s of txs at 5 500/s, where a duplicate
    # arrives within milliseconds (100 000 held ~11 MB)
    p2p_seen_cache_size: int = 50_000
    leveldb_write_buffer_mb: int = 32  # LevelDB's memtable (node.store.db.WRITE_BUFFER_SIZE)
    leveldb_max_open_files: int = 128  # tables LevelDB keeps open, and mapped (MAX_OPEN_FILES)
    # -- TLS (node.server.tls): with tls_cert and tls_key set the API and /v1/peer are https /
    # wss; tls_ca is the CA peers' certificates are verified with when dialling wss:// ---------
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    tls_handshake_timeout_s: float = 10.0  # a TLS handshake not done by then: closed
    # A follower does not acknowledge a block stamped further than this ahead of its own clock,
    # and follows that leader no more in its term (node.server.daemon, "blocks from the future")
    max_clock_skew_ms: int = 5_000
    log_level: str = "INFO"
    # "text" (the default) or "json": one JSON object per line (node.server.logs)
    log_format: str = "text"
    seed: int | None = None  # consensus jitter seed; random when unset

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def peer_host(self) -> str:
        return self.peer_listen.rsplit(":", 1)[0]

    @property
    def peer_port(self) -> int:
        return int(self.peer_listen.rsplit(":", 1)[1])

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    @classmethod
    def load(cls, path: str | Path) -> NodeConfig:
        path = Path(path)
        doc = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
        # relative paths are relative to the config file's folder
        if doc.get("read_auth") and not doc.get("read_tokens_file"):
            doc["read_tokens_file"] = "tokens.json"
        for key in ("key_file", "genesis", "data_dir", "tls_cert", "tls_key", "tls_ca",
                    "read_tokens_file"):
            if doc.get(key) and not Path(doc[key]).is_absolute():
                doc[key] = str((path.parent / doc[key]).resolve())
        return cls(**doc)

    def save(self, path: str | Path) -> None:
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        Path(path).write_text(json.dumps(body, indent=2) + "\n")
