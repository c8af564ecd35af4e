"""The node server: the daemon that runs the ledger, consensus and peers on one asyncio loop,
and the HTTP API in front of it.

    compose    the composition root: a node's parts from its config; listeners (TCP, memory)
    daemon     Node: the ready loop (persist, send, apply, advance) and what it serves
    producer   when the leader cuts a block, and what it builds on
    membership the Raft membership, the peer table and the reported role, from the licenses
    catchup    catching up beyond the Raft log by fetching blocks from a peer
    peer_rpc   the typed requests nodes make of each other (block fetch, membership, txs)
    forwarding handing the pool to a new or reconnected leader
    waiters    clients waiting for a commit; the pool's recent drops
    queries    read-only questions about the chain, as typed values
    raft_log   the Raft log: the core reads LevelDB (node.store.raftlog), the loop writes it
    service    NodeService: what the API asks of a node, and the typed values it returns
    api        the HTTP API over a NodeService
    dashboard  the dashboard page (GET /dashboard, static files) and its live feed (/v1/events)
    feed       the feed's events: block summaries, per-second history, latency samples
    limits     what protects a node from its clients (rates, slots, connections, timeouts)
    clock      the injected clock: SystemClock, and ManualClock for tests
    metrics    Prometheus metrics, one registry per node
    config     a node's configuration file
"""
