"""node.server.service and node.server.api: the API renders what a NodeService returns, and
needs nothing else (here a canned service, no daemon, no socket: handlers get mocked requests)."""
from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import make_mocked_request

from node.ledger import errors as E
from node.ledger.state import Account, Attestation
from node.server import api
from node.server.config import NodeConfig
from node.server.service import AccountView, NodeRole, NodeStatus, Readiness, TxState, TxStatus

A, B, C = "aa" * 32, "bb" * 32, "cc" * 32

STATUS = NodeStatus(
    node_id=A, name="node0", institution="inst0", role=NodeRole.FOLLOWER, term=3, leader_id=B,
    commit_index=9, applied_index=8, height=4, block_hash=b"\x01" * 32, state_hash=b"\x02" * 32,
    timestamp=1_700_000_000_000, mempool_size=2, peers=(B,), voters=(A, B, C), learners=(),
    chain_id=b"\x03" * 32)


class CannedService:
    """A NodeService answering from fixed values."""
    config = NodeConfig(name="node0", key_file="", genesis="", data_dir="")
    id = A

    def __init__(self, readiness: Readiness):
        self._readiness = readiness

    def node_status(self):
        return STATUS

    def readiness(self):
        return self._readiness

    def tx_status(self, tx_hash):
        return TxStatus(TxState.FAILED, None, "BAD_NONCE", "nonce 3, expected 4")

    def height(self):
        return 4

    def block_view(self, height, with_txs=True):
        return None

    def account_view(self, address):
        att = Attestation("inst0", 1, "US", 5, b"\x04" * 32, revoked=True)
        account = Account(nonce=2, balances={"USD": 5, "EUR": 1}, attestations={"inst0": att})
        return AccountView(address, account, next_nonce=3,
                           kyc_refusal=E.KycRevoked("the attestation was revoked"),
                           institution=None, roles=frozenset(), attestation=att)


def ready_with(peers: set[str]) -> Readiness:
    return Readiness(A, NodeRole.FOLLOWER, B, 9, 8, frozenset(peers), frozenset({A, B, C}))


async def call(handler, path: str, service, **match_info):
    request = make_mocked_request("GET", path, match_info=match_info, app=api.build_app(service))
    response = await api.errors_as_json(request, handler)
    return response.status, json.loads(response.body)


async def test_status_is_the_typed_status_as_the_contract_json():
    status, doc = await call(api.get_status, "/v1/status", CannedService(ready_with({B})))
    assert status == 200
    assert doc == {"node_id": A, "name": "node0", "institution": "inst0", "role": "follower",
                   "term": 3, "leader_id": B, "commit_index": 9, "applied_index": 8, "height": 4,
                   "block_hash": "01" * 32, "state_hash": "02" * 32, "timestamp": 1_700_000_000_000,
                   "mempool_size": 2, "peers": [B], "voters": [A, B, C], "learners": [],
                   "chain_id": "03" * 32, "certified_height": 0, "diverged": None}


async def test_readiness_is_200_with_a_quorum_and_503_with_the_reasons_without():
    status, doc = await call(api.readyz, "/readyz", CannedService(ready_with({B})))
    assert status == 200 and doc == {"ready": True, "role": "follower", "leader_id": B,
                                     "commit_index": 9, "applied_index": 8, "peers": 1,
                                     "diverged": False}
    status, doc = await call(api.readyz, "/readyz", CannedService(ready_with(set())))
    assert status == 503 and doc["error"] == "NOT_READY"
    assert doc["reasons"] == ["connected to 0 of 2 other validators; a quorum needs 1"]


async def test_a_diverged_node_is_not_ready_and_says_why():
    diverged = Readiness(A, NodeRole.FOLLOWER, B, 9, 8, frozenset({B}), frozenset({A, B, C}),
                         diverged="height 2: 2 of 3 validators certify another state hash")
    status, doc = await call(api.readyz, "/readyz", CannedService(diverged))
    assert status == 503 and doc["diverged"] is True
    assert doc["reasons"] == ["diverged from the certified chain, not applying blocks: "
                              "height 2: 2 of 3 validators certify another state hash"]


async def test_a_dropped_tx_reports_failed_with_its_reason():
    status, doc = await call(api.get_tx, "/v1/txs/x", CannedService(ready_with({B})), hash="ee" * 32)
    assert status == 200
    assert doc == {"hash": "ee" * 32, "status": "failed", "height": None, "code": "BAD_NONCE",
                   "message": "nonce 3, expected 4", "dropped": True}


async def test_an_account_renders_its_balances_sorted_and_why_it_cannot_transact():
    status, doc = await call(api.get_account, "/v1/accounts/x", CannedService(ready_with({B})),
                             address="dd" * 32)
    assert status == 200
    assert list(doc["balances"]) == ["EUR", "USD"] and doc["next_nonce"] == 3
    assert doc["kyc"] == {"valid": False, "error": "KYC_REVOKED", "message": "the attestation was revoked"}
    assert doc["attestation"]["revoked"] is True and "institution" not in doc
    assert doc["attestations"] == [doc["attestation"]]  # every issuer's, by name


async def test_a_missing_block_is_404_naming_the_tip():
    status, doc = await call(api.get_block, "/v1/blocks/9", CannedService(ready_with({B})), height="9")
    assert status == 404 and doc["error"] == "NOT_FOUND" and "the chain is at 4" in doc["message"]


@pytest.mark.parametrize("role, peers, reasons", [
    (NodeRole.OBSERVER, {C}, []),
    (NodeRole.OBSERVER, set(), ["not connected to any validator"]),
])
def test_an_observer_is_ready_once_it_reaches_any_validator(role, peers, reasons):
    assert Readiness(A, role, B, 9, 9, frozenset(peers), frozenset({B, C})).reasons() == reasons
