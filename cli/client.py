"""The node API client now lives in devnet.client; this name stays for importers outside cli/
(tests/test_cluster.py)."""
from __future__ import annotations

from devnet.client import ApiError, Client

__all__ = ["ApiError", "Client"]
