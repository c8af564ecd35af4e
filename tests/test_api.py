"""The HTTP API of one in-process node: the contract of DESIGN section 8, and bad input."""
from __future__ import annotations

import aiohttp
import msgpack
import pytest

from node.ledger.types import KycAttest, Transfer, sign_tx
from node.server.daemon import Node

from .helpers import until


@pytest.fixture
async def node(start_node):
    return await start_node()


@pytest.fixture
async def http(node):
    async with aiohttp.ClientSession(f"http://{node.config.listen}") as session:
        yield session


@pytest.fixture
def keys(single_node_config):
    return single_node_config[2]


def transfer(node, keys, sender="alice", to="bob", amount=100, nonce=0, asset="USD"):
    return sign_tx(keys[sender], node.genesis.chain_id, nonce,
                   Transfer(asset, keys[to].address, amount, ""))


async def status_of(http, tx_hash: str, wait: float = 5) -> dict:
    async with http.get(f"/v1/txs/{tx_hash}?wait={wait}") as r:
        assert r.status == 200
        return await r.json()


async def test_status_reports_the_contract_fields(http, node):
    async with http.get("/v1/status") as r:
        doc = await r.json()
    for field in ("node_id", "role", "term", "leader_id", "commit_index", "height", "block_hash",
                  "state_hash", "mempool_size", "peers"):
        assert field in doc
    assert doc["role"] == "leader" and doc["height"] == 0
    assert doc["node_id"] == node.id


async def test_transfer_commits_and_is_visible_everywhere(http, node, keys):
    tx = transfer(node, keys, amount=250)
    async with http.post("/v1/txs", json={"tx": tx.raw.hex()}) as r:
        assert r.status == 202
        assert await r.json() == {"hash": tx.hash_hex, "status": "pending"}
    doc = await status_of(http, tx.hash_hex)
    assert doc["status"] == "committed" and doc["height"] == 1 and doc["index"] == 0
    assert doc["tx"]["payload"]["amount"] == 250
    async with http.get(f"/v1/accounts/{keys['bob'].address_hex}") as r:
        bob = await r.json()
    assert bob["balances"]["USD"] == 1_000_000 + 250 and bob["kyc"]["valid"]
    async with http.get("/v1/blocks/latest") as r:
        block = await r.json()
    assert block["height"] == 1 and block["txs"][0]["hash"] == tx.hash_hex
    async with http.get("/v1/blocks/1") as r:
        assert (await r.json())["hash"] == block["hash"]
    async with http.get("/v1/status") as r:
        st = await r.json()
    assert st["height"] == 1 and st["block_hash"] == block["hash"]
    assert st["state_hash"] == block["state_hash"]


async def test_batch_answers_per_transaction(http, node, keys):
    good = [transfer(node, keys, nonce=i, amount=10) for i in range(3)]
    unattested = transfer(node, keys, to="carol")
    raws = [t.raw for t in good] + [unattested.raw, b"\x01\x02"]
    async with http.post("/v1/txs", data=msgpack.packb(raws, use_bin_type=True),
                         headers={"Content-Type": "application/msgpack",
                                  "Accept": "application/msgpack"}) as r:
        assert r.status == 200
        results = msgpack.unpackb(await r.read())["results"]
    assert [x.get("status") for x in results[:3]] == ["pending"] * 3
    assert results[3]["error"] == "BAD_NONCE"  # nonce 0 is already taken by the first
    assert results[4]["error"] == "MALFORMED"
    for t in good:
        assert (await status_of(http, t.hash_hex))["status"] == "committed"


async def test_rejection_is_a_json_error_with_reason_code_and_changes_nothing(http, node, keys):
    before = node.status()
    tx = transfer(node, keys, to="carol")
    async with http.post("/v1/txs", json={"tx": tx.raw.hex()}) as r:
        assert r.status == 422
        doc = await r.json()
    assert doc["error"] == "KYC_MISSING" and "attestation" in doc["message"]
    assert node.status()["state_hash"] == before["state_hash"]
    assert (await status_of(http, tx.hash_hex, wait=0))["status"] == "unknown"


@pytest.mark.parametrize("body,headers,status,code", [
    (b"{not json", {"Content-Type": "application/json"}, 400, "MALFORMED"),
    (b'{"tx": "zz"}', {"Content-Type": "application/json"}, 400, "MALFORMED"),
    (b'{"tx": 5}', {"Content-Type": "application/json"}, 400, "MALFORMED"),
    (b'[1, 2]', {"Content-Type": "application/json"}, 400, "MALFORMED"),
    (b"\xc1\xc1\xc1", {"Content-Type": "application/msgpack"}, 400, "MALFORMED"),
    (b"\x96\x01\x02", {"Content-Type": "application/msgpack"}, 400, "MALFORMED"),
])
async def test_malformed_bodies_are_refused_with_reason_codes(
        http, node, body, headers, status, code):
    async with http.post("/v1/txs", data=body, headers=headers) as r:
        assert r.status == status
        assert (await r.json())["error"] == code
    async with http.get("/healthz") as r:  # and the node goes on serving
        assert r.status == 200


async def test_huge_body_is_too_large_413(http, node):
    body = b"0" * (node.config.max_request_bytes + 1)
    async with http.post("/v1/txs", data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413
        assert (await r.json())["error"] == "TOO_LARGE"


async def test_wrong_chain_bad_signature_unknown_kind_and_replay(http, node, keys):
    wrong_chain = sign_tx(keys["alice"], b"\x00" * 32, 0,
                          Transfer("USD", keys["bob"].address, 1, ""))
    good = transfer(node, keys)
    forged = bytearray(good.raw)
    forged[-1] ^= 1
    unknown_kind = bytearray(good.raw)
    unknown_kind[unknown_kind.index(b"transfer")] = ord("X")
    cases = [(wrong_chain.raw, "WRONG_CHAIN"), (bytes(forged), "BAD_SIGNATURE"),
             (bytes(unknown_kind), "UNKNOWN_KIND")]
    for raw, code in cases:
        async with http.post("/v1/txs", json={"tx": raw.hex()}) as r:
            assert (await r.json())["error"] == code, code
    async with http.post("/v1/txs", json={"tx": good.raw.hex()}) as r:
        assert r.status == 202
    assert (await status_of(http, good.hash_hex))["status"] == "committed"
    async with http.post("/v1/txs", json={"tx": good.raw.hex()}) as r:  # replay
        assert r.status == 409 and (await r.json())["error"] == "DUPLICATE"


async def test_unlicensed_key_cannot_attest(http, node, keys):
    tx = sign_tx(keys["alice"], node.genesis.chain_id, 0,
                 KycAttest(keys["carol"].address, 1, "US", 2**40, b"\x00" * 32))
    async with http.post("/v1/txs", json={"tx": tx.raw.hex()}) as r:
        assert (await r.json())["error"] == "NOT_LICENSED"


async def test_reads_of_missing_things_are_404_json(http, node):
    async with http.get("/v1/blocks/99") as r:
        assert r.status == 404 and (await r.json())["error"] == "NOT_FOUND"
    async with http.get("/v1/accounts/nothex") as r:
        assert r.status == 400 and (await r.json())["error"] == "MALFORMED"
    async with http.get("/v1/nowhere") as r:
        assert r.status == 404 and (await r.json())["error"] == "NOT_FOUND"


async def test_metrics_count_commits_rejections_height_and_pool(http, node, keys):
    tx = transfer(node, keys)
    await http.post("/v1/txs", json={"tx": tx.raw.hex()})
    await status_of(http, tx.hash_hex)
    await http.post("/v1/txs", json={"tx": transfer(node, keys, to="carol", nonce=1).raw.hex()})
    async with http.get("/metrics") as r:
        text = await r.text()
    assert "lichen_committed_txs_total 1.0" in text
    assert 'lichen_rejected_txs_total{reason="KYC_MISSING"} 1.0' in text
    assert "lichen_block_height 1.0" in text
    assert "lichen_mempool_size 0.0" in text


async def test_msgpack_responses_on_request(http, node):
    async with http.get("/v1/status", headers={"Accept": "application/msgpack"}) as r:
        assert r.content_type == "application/msgpack"
        assert msgpack.unpackb(await r.read())["role"] == "leader"


async def test_each_signature_is_verified_once(http, node, keys):
    txs = [transfer(node, keys, nonce=i, amount=1) for i in range(5)]
    async with http.post("/v1/txs", json={"txs": [t.raw.hex() for t in txs]}) as r:
        assert r.status == 200
    for t in txs:
        assert (await status_of(http, t.hash_hex))["status"] == "committed"
    assert node.sigs.verified == 5  # admission verified them; execution reused the verdicts


async def test_restart_keeps_chain_and_state(single_node_config):
    config, genesis, keys = single_node_config
    n = Node(config)
    await n.start()
    try:
        tx = transfer(n, keys)
        n.submit(tx.raw)
        st = await n.wait_for(tx.hash, 5)
        assert st.status == "committed"
        before = n.status()
    finally:
        await n.stop()
    n2 = Node(config)
    await n2.start()
    try:
        after = n2.status()
        assert (after["height"], after["block_hash"], after["state_hash"]) == \
               (before["height"], before["block_hash"], before["state_hash"])
        assert n2.tx_status(tx.hash).status == "committed"
        n2.submit(transfer(n2, keys, nonce=1).raw)  # and it goes on from there
        await until("the restarted node commits block 2", lambda: n2.status()["height"] == 2)
    finally:
        await n2.stop()


async def test_institutions_show_their_current_keys_after_a_rotation(http, node, keys):
    """GET /v1/institutions: each institution's node and authority key as the ledger holds them
    now; after a key_rotate the new one, and the new key's account names the institution."""
    from node.ledger.crypto import KeyPair
    from node.ledger.types import KeyRotate
    new = KeyPair.generate()
    tx = sign_tx(keys["regulator"], node.genesis.chain_id, 0,
                 KeyRotate("inst1", "authority", new.address))
    async with http.get("/v1/institutions") as r:
        before = {i["name"]: i for i in (await r.json())["institutions"]}
    assert before["inst0"]["node_key"] == node.id and not before["inst0"]["rotated"]
    assert before["inst1"]["authority_key"] == keys["inst1"].address_hex
    async with http.post("/v1/txs", json={"tx": tx.raw.hex()}) as r:
        assert r.status == 202
    assert (await status_of(http, tx.hash_hex))["status"] == "committed"
    async with http.get("/v1/institutions") as r:
        after = {i["name"]: i for i in (await r.json())["institutions"]}
    assert after["inst1"]["authority_key"] == new.address_hex and after["inst1"]["rotated"]
    assert after["inst1"]["node_key"] == before["inst1"]["node_key"]
    assert after["inst1"]["roles"] == before["inst1"]["roles"]
    assert after["inst0"] == before["inst0"]
    async with http.get(f"/v1/accounts/{keys['inst1'].address_hex}") as r:
        old = (await r.json())["institution"]  # still its node key: one key did both here
    assert old["name"] == "inst1" and after["inst1"]["node_key"] == keys["inst1"].address_hex
    async with http.get(f"/v1/accounts/{new.address_hex}") as r:
        assert (await r.json())["institution"]["name"] == "inst1"


async def test_policy_shows_a_sanctions_update_and_transfers_follow_it(http, node, keys):
    """GET /v1/policy: the blocked jurisdictions as the ledger holds them now. After the
    regulator's jurisdiction_block of DE (bob's), a payment to bob is refused at the API with
    JURISDICTION_BLOCKED, without a restart; the unblock lets it through again."""
    from node.ledger.types import JurisdictionBlock, JurisdictionUnblock
    chain = node.genesis.chain_id
    async with http.get("/v1/policy") as r:
        before = await r.json()
    assert before["blocked_jurisdictions"] == ["IR", "KP"]
    assert [t["tier"] for t in before["tiers"]] == sorted(t.tier for t in node.genesis.tiers)
    assert "per_tx" in next(iter(before["tiers"][0]["limits"].values()))
    assert {i["name"] for i in before["institutions"]} >= {"inst0", "inst1"}
    block = sign_tx(keys["regulator"], chain, 0, JurisdictionBlock("DE"))
    async with http.post("/v1/txs", json={"tx": block.raw.hex()}) as r:
        assert r.status == 202
    assert (await status_of(http, block.hash_hex))["status"] == "committed"
    async with http.get("/v1/policy") as r:
        assert (await r.json())["blocked_jurisdictions"] == ["DE", "IR", "KP"]
    async with http.post("/v1/txs", json={"tx": transfer(node, keys).raw.hex()}) as r:
        assert r.status == 422 and (await r.json())["error"] == "JURISDICTION_BLOCKED"
    unblock = sign_tx(keys["regulator"], chain, 1, JurisdictionUnblock("DE"))
    async with http.post("/v1/txs", json={"tx": unblock.raw.hex()}) as r:
        assert r.status == 202
    assert (await status_of(http, unblock.hash_hex))["status"] == "committed"
    tx = transfer(node, keys)
    async with http.post("/v1/txs", json={"tx": tx.raw.hex()}) as r:
        assert r.status == 202
    assert (await status_of(http, tx.hash_hex))["status"] == "committed"


async def test_a_lowered_tier_shows_in_policy_and_binds_the_next_transfer(http, node, keys):
    """tier_set through the API: GET /v1/policy shows the new limits at once, and alice's next
    payment above the lowered per-transaction limit is refused at admission."""
    from node.ledger.types import TierSet
    lower = TierSet(1, "basic", (("USD", 50, 1_000),))
    tx = sign_tx(keys["regulator"], node.genesis.chain_id, 0, lower)
    async with http.post("/v1/txs", json={"tx": tx.raw.hex()}) as r:
        assert r.status == 202
    assert (await status_of(http, tx.hash_hex))["status"] == "committed"
    async with http.get("/v1/policy") as r:
        tiers = {t["tier"]: t for t in (await r.json())["tiers"]}
    assert tiers[1] == {"tier": 1, "name": "basic", "limits": {"USD": {"per_tx": 50,
                                                                        "daily": 1_000}}}
    async with http.post("/v1/txs", json={"tx": transfer(node, keys, amount=100).raw.hex()}) as r:
        assert r.status == 422 and (await r.json())["error"] == "LIMIT_EXCEEDED"
    ok = transfer(node, keys, amount=50)
    async with http.post("/v1/txs", json={"tx": ok.raw.hex()}) as r:
        assert r.status == 202
