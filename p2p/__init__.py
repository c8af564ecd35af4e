"""lichen's peer-to-peer layer: encrypted, authenticated websockets, msgpack frames, tx gossip.

Knows bytes and peer ids, not ledger rules; never imports node/, consensus/ or cli/.

    frames     wire format (encode/decode, FrameError)         -- no I/O
    handshake  key exchange, licensed and bound to the channel   -- no I/O
    channel    sealed frames (ChaCha20-Poly1305, counter nonces) -- no I/O
    gossip     de-duplicated, batched tx push                   -- no I/O
    faults     devnet fault filter                              -- no I/O
    transport  Transport interface + in-memory pairs/network
    websocket  aiohttp transport: /v1/peer handler and dialer
    manager    PeerManager: connections, dialing, routing
"""

from .channel import SEAL_OVERHEAD, SealedTransport, SecureChannel
from .errors import (
    ChannelBroken,
    ChannelFault,
    DialFailed,
    FaultFilterDisabled,
    FrameError,
    FrameTooLarge,
    HandshakeRefused,
    Misbehaviour,
    P2PError,
    Refusal,
    RequestFailed,
    TransportClosed,
)
from .faults import FaultFilter, FaultState
from .frames import (
    DEFAULT_MAX_FRAME_SIZE,
    Auth,
    Frame,
    FrameType,
    Hello,
    Raft,
    Request,
    Response,
    Txs,
    decode,
    encode,
)
from .gossip import Gossip, GossipStats, SeenCache, tx_hash
from .handshake import Handshake, SeedSigner, Signer, auth_message, transcript_hash
from .manager import P2PConfig, P2PStats, PeerConnection, PeerManager
from .transport import Dialer, MemoryNetwork, MemoryTransport, Transport, memory_pair
from .websocket import PEER_PATH, WebSocketDialer, WebSocketTransport, peer_url

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "PEER_PATH",
    "SEAL_OVERHEAD",
    "Auth",
    "ChannelBroken",
    "ChannelFault",
    "Dialer",
    "DialFailed",
    "FaultFilter",
    "FaultFilterDisabled",
    "FaultState",
    "Frame",
    "FrameError",
    "FrameTooLarge",
    "FrameType",
    "Gossip",
    "GossipStats",
    "Handshake",
    "HandshakeRefused",
    "Hello",
    "MemoryNetwork",
    "MemoryTransport",
    "Misbehaviour",
    "P2PConfig",
    "P2PError",
    "P2PStats",
    "PeerConnection",
    "PeerManager",
    "Raft",
    "Refusal",
    "Request",
    "RequestFailed",
    "Response",
    "SealedTransport",
    "SecureChannel",
    "SeedSigner",
    "SeenCache",
    "Signer",
    "Transport",
    "TransportClosed",
    "Txs",
    "WebSocketDialer",
    "WebSocketTransport",
    "auth_message",
    "decode",
    "encode",
    "memory_pair",
    "peer_url",
    "transcript_hash",
    "tx_hash",
]
