"""The devnet: a local network of node daemons in one folder, and the tools that drive it.

Plain Python with typed results; the `lichen` CLI (cli/) only parses options and renders.

    genesis   the genesis template: demo institutions, assets, tiers and customers
    client    a blocking client of the node's HTTP API, and sign-and-submit
    aioclient the same API over aiohttp, for the load generators
    network   the devnet folder (devnet.json, keys, genesis, configs) and its daemon processes
    hosts     --hosts: a network namespace per node on a bridge; WAN delay and packet drops
    delayline netem's delay for kernels without it, run inside a node's namespace
    replay    a node's chain replayed from genesis over its API, trusting nothing it says
    bench     committed tx/s and submit-to-commit latency under a pre-signed load
    demo      the main flows, step by step
    chaos/    faults on a schedule under a bank workload, then the invariants checked
"""
from __future__ import annotations

from .errors import DevnetError
from .genesis import key_names, load_template, make_genesis

__all__ = ["DevnetError", "key_names", "load_template", "make_genesis"]
