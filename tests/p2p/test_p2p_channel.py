"""SecureChannel on its own: sealed frames open only unchanged, once, in order, in their direction."""

from __future__ import annotations

import os

import pytest

from p2p import SEAL_OVERHEAD, ChannelBroken, ChannelFault, SecureChannel

A_TO_B, B_TO_A = os.urandom(32), os.urandom(32)


def pair() -> tuple[SecureChannel, SecureChannel]:
    a = SecureChannel(send_key=A_TO_B, recv_key=B_TO_A, peer_id=b"b" * 32)
    b = SecureChannel(send_key=B_TO_A, recv_key=A_TO_B, peer_id=b"a" * 32)
    return a, b


def test_frames_open_in_order_and_each_seal_adds_only_a_tag():
    a, b = pair()
    frames = [b"", b"x", os.urandom(64 * 1024)]
    sealed = [a.seal(f) for f in frames]
    assert [len(s) - len(f) for s, f in zip(sealed, frames, strict=True)] == [SEAL_OVERHEAD] * 3
    assert [b.open(s) for s in sealed] == frames
    assert (a.frames_sealed, b.frames_opened) == (3, 3)


def test_the_same_frame_seals_differently_each_time():
    a, _ = pair()
    assert a.seal(b"same") != a.seal(b"same")  # the counter nonce moved on


def flip(frames: list[bytes]) -> list[bytes]:
    return [frames[0][:3] + bytes([frames[0][3] ^ 0x80]) + frames[0][4:]]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        pytest.param(flip, ChannelFault.UNAUTHENTIC, id="altered"),
        pytest.param(lambda f: [f[0], f[0]], ChannelFault.UNAUTHENTIC, id="replayed"),
        pytest.param(lambda f: [f[1], f[0]], ChannelFault.UNAUTHENTIC, id="reordered"),
        pytest.param(lambda f: [f[1]], ChannelFault.UNAUTHENTIC, id="one-lost"),
        pytest.param(lambda f: [f[0][:-1]], ChannelFault.UNAUTHENTIC, id="last-byte-cut"),
        pytest.param(lambda f: [f[0][:SEAL_OVERHEAD - 1]], ChannelFault.TRUNCATED, id="shorter-than-a-tag"),
        pytest.param(lambda f: [os.urandom(len(f[0]))], ChannelFault.UNAUTHENTIC, id="forged"),
    ],
)
def test_tampered_frames_do_not_open(tamper, reason):
    a, b = pair()
    frames = [a.seal(b"frame one, long enough"), a.seal(b"frame two, long enough")]
    with pytest.raises(ChannelBroken) as excinfo:
        for data in tamper(frames):
            b.open(data)
    assert excinfo.value.reason is reason


def test_a_frame_reflected_to_its_sender_does_not_open():
    a, _ = pair()
    with pytest.raises(ChannelBroken) as excinfo:
        a.open(a.seal(b"what a said"))
    assert excinfo.value.reason is ChannelFault.UNAUTHENTIC
