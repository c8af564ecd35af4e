"""The one error the devnet engines raise for the operator to act on."""
from __future__ import annotations


class DevnetError(Exception):
    """Something the operator must fix or know; the message says what, in a sentence (the CLI
    prints it as `Error: ...` and exits 1)."""
