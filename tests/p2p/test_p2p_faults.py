"""The devnet fault filter on its own (its effect on a cluster is in test_p2p_cluster.py)."""

from __future__ import annotations

import pytest

from p2p import FaultFilter, FaultFilterDisabled


def test_partitioned_peers_get_nothing_through_until_healed():
    faults = FaultFilter(enabled=True)
    faults.partition(["b"])
    assert not any(faults.allows("b") for _ in range(100))
    assert all(faults.allows("a") for _ in range(100))
    faults.heal()
    assert faults.allows("b")


def test_lossy_drops_about_the_given_fraction_of_one_peers_frames():
    faults = FaultFilter(enabled=True, seed=1)
    faults.lossy(["b"], 0.3)
    passed = sum(faults.allows("b") for _ in range(10_000))
    assert 6_500 < passed < 7_500
    assert all(faults.allows("a") for _ in range(1_000))


def test_lossy_for_all_peers():
    faults = FaultFilter(enabled=True, seed=1)
    faults.lossy(None, 1.0)
    assert not faults.allows("a") and not faults.allows("b")
    assert faults.state().loss_all == 1.0


def test_loss_is_reproducible_from_the_seed():
    def pattern(seed: int) -> list[bool]:
        faults = FaultFilter(enabled=True, seed=seed)
        faults.lossy(None, 0.5)
        return [faults.allows("a") for _ in range(64)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)


def test_fraction_must_be_a_fraction():
    with pytest.raises(ValueError):
        FaultFilter(enabled=True).lossy(None, 1.5)


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.partition(["a"]),
        lambda f: f.lossy(None, 0.5),
        lambda f: f.heal(),
        lambda f: f.state(),
    ],
    ids=["partition", "lossy", "heal", "state"],
)
def test_outside_devnet_every_control_call_raises(call):
    faults = FaultFilter(enabled=False)
    with pytest.raises(FaultFilterDisabled):
        call(faults)
    assert faults.allows("a")
