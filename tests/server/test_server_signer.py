"""The node signs only through the Signer protocol (node.ledger.crypto.Signer): an external
signer (an HSM, a remote signing service) can stand in for the KeyPair, and the node never
needs the seed.

Each node of a 3-node network runs with its key wrapped in a CountingSigner that has an address
and `sign` and nothing else (no seed attribute to read). The network elects, commits a
transfer and certifies the height: so peer handshakes (AUTH), block proposals and certificate
votes all went through `sign`.
"""
from __future__ import annotations

from collections import Counter

from node.ledger.crypto import KeyPair, Signer
from p2p import auth_message

from ..harness import TestNetwork

AUTH_PREFIX = auth_message(b"", b"")  # what every handshake signature starts with


class CountingSigner:
    """A Signer that forwards to a key it keeps out of reach, and counts what it signed."""

    __slots__ = ("_sign", "address", "signed")

    def __init__(self, key: KeyPair):
        self._sign = key.sign  # a bound method: the wrapper has no seed of its own to read
        self.address = key.address
        self.signed: Counter[str] = Counter()

    def sign(self, message: bytes) -> bytes:
        self.signed[kind_of(message)] += 1
        return self._sign(message)


def kind_of(message: bytes) -> str:
    if message.startswith(AUTH_PREFIX):
        return "handshake"
    if len(message) == 32:
        return "block"  # a proposer signs the header hash
    return "vote"


async def test_a_network_runs_on_signers_that_hold_no_seed(tmp_path):
    net = TestNetwork(tmp_path)
    signers = {i: CountingSigner(net.keys[f"inst{i}"]) for i in range(3)}
    net.signers.update(signers)
    assert all(isinstance(s, Signer) and not hasattr(s, "seed") for s in signers.values())
    try:
        nodes = await net.start_all()
        leader = await net.elect()
        tx = net.transfer("alice", "bob", 1)
        net.submit(nodes[1], tx)
        await net.until_committed(tx)
        height = leader.height()
        proposer = signers[net.index_of(leader)]
        await net.until("the height is certified everywhere",
                        lambda: all(n.node_status().certified_height >= height for n in nodes))
    finally:
        await net.close()

    assert proposer.signed["block"] >= 1
    for s in signers.values():
        assert s.signed["handshake"] >= 1 and s.signed["vote"] >= 1, s.signed

