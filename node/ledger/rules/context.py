"""What a rule may know besides the state it reads."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    """What a rule may know besides state: the block's time. Never the local clock."""
    timestamp: int  # unix ms of the block (or, for admission, the pool's notion of now)
