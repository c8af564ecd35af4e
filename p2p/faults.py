"""Devnet-only fault injection: drop all, or a seeded fraction of, frames to and from chosen peers.

The PeerManager asks `allows(peer_id)` for every frame after the handshake, once when sending and
once when receiving, so a partition cuts both directions even if only one side is told about it.
Connections stay up (as with a real network partition where TCP has not noticed yet); only the
frames vanish. On a node not started in devnet mode every control call raises, and `allows`
is always True.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import FaultFilterDisabled


@dataclass(frozen=True)
class FaultState:
    partitioned: frozenset[str]  # peers cut off completely
    loss: dict[str, float]  # per-peer drop fraction
    loss_all: float  # drop fraction for every peer


class FaultFilter:
    def __init__(self, *, enabled: bool, seed: int = 0) -> None:
        self._enabled = enabled
        self._rng = random.Random(seed)
        self._partitioned: set[str] = set()
        self._loss: dict[str, float] = {}
        self._loss_all = 0.0

    @property
    def enabled(self) -> bool:
        return self._enabled

    def partition(self, peers: Iterable[str]) -> None:
        """Drop every frame to and from these peers until heal()."""
        self._require_enabled()
        self._partitioned.update(peers)

    def lossy(self, peers: Iterable[str] | None, fraction: float) -> None:
        """Drop `fraction` of frames to and from these peers (None = every peer)."""
        self._require_enabled()
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        if peers is None:
            self._loss_all = fraction
        else:
            self._loss.update(dict.fromkeys(peers, fraction))

    def heal(self) -> None:
        """Remove every fault."""
        self._require_enabled()
        self._partitioned.clear()
        self._loss.clear()
        self._loss_all = 0.0

    def state(self) -> FaultState:
        self._require_enabled()
        return FaultState(frozenset(self._partitioned), dict(self._loss), self._loss_all)

    def allows(self, peer_id: str) -> bool:
        """Should one frame to or from `peer_id` get through?"""
        if not self._enabled:
            return True
        if peer_id in self._partitioned:
            return False
        fraction = max(self._loss.get(peer_id, 0.0), self._loss_all)
        return fraction == 0.0 or self._rng.random() >= fraction

    def _require_enabled(self) -> None:
        if not self._enabled:
            raise FaultFilterDisabled("fault injection is only available on a devnet node (devnet=True)")
