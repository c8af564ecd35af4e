"""Redial timing and peer addresses."""

from __future__ import annotations

import random

import pytest

from p2p import peer_url
from p2p.manager import Backoff


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets():
    backoff = Backoff(initial=0.05, maximum=2.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(12)]
    assert 0.025 <= delays[0] <= 0.05
    assert 0.05 <= delays[1] <= 0.1
    assert all(1.0 <= d <= 2.0 for d in delays[7:])  # capped: a devnet heals within ~2 s
    assert len(set(delays[7:])) > 1  # jittered, so peers do not redial in lockstep
    backoff.reset()
    assert backoff.next() <= 0.05


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("http://127.0.0.1:7001", "ws://127.0.0.1:7001/v1/peer"),
        ("https://bank.example:443", "wss://bank.example:443/v1/peer"),
        ("10.0.0.5:7001", "ws://10.0.0.5:7001/v1/peer"),
    ],
)
def test_peer_address_maps_to_the_peer_endpoint_on_the_api_port(address, url):
    assert peer_url(address) == url


def test_a_nonsense_peer_address_is_rejected():
    with pytest.raises(ValueError):
        peer_url("ftp://host:1")
