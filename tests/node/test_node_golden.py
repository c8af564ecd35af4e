"""Golden bytes: the wire encoding of every kind and the state hash of a small chain, recorded
before the rulebook reshaping (commit a3693db). A change here changes every node's chain.
The state hashes were re-recorded when accounts began to hold attestations per issuer and exact
rolling-window spends (issue 12); the transaction encodings did not change."""
from __future__ import annotations

import pytest

from node.ledger.codec import sha256
from node.ledger.crypto import KeyPair
from node.ledger.genesis import Genesis
from node.ledger.types import (
    PAYLOADS,
    AssetAdd,
    AssetFreeze,
    AssetUnfreeze,
    AssetUpdate,
    Clawback,
    EscrowCancel,
    EscrowCreate,
    EscrowRelease,
    Freeze,
    FxAccept,
    FxCancel,
    FxOffer,
    GovernanceApprove,
    GovernancePropose,
    InstitutionAdd,
    Issue,
    JurisdictionBlock,
    JurisdictionUnblock,
    KeyRotate,
    KycAttest,
    KycRevoke,
    LicenseGrant,
    LicenseRevoke,
    LoanAccept,
    LoanOffer,
    LoanRepay,
    LoanWriteoff,
    Redeem,
    ReserveAttest,
    ReserveReport,
    TierSet,
    Transfer,
    Unfreeze,
    sign_tx,
)

from .support import HOUR, T0, Chain, majority_genesis_doc

KEY = KeyPair.from_seed(b"\x07" * 32)
CHAIN = sha256(b"golden chain")
A, H = bytes(range(32)), bytes(range(32, 64))
PAYLOADS_IN_ORDER = [
    Transfer("USD", A, 5, "rent"), Issue("EUR", A, 10**12), Redeem("GBP", 7),
    KycAttest(A, 2, "DE", 1_700_000_000_000, H), KycRevoke(A), LicenseGrant("bank_a", "observer"),
    LicenseRevoke("bank_b", "kyc_issuer"), Freeze(A), Unfreeze(A), AssetFreeze("USD"),
    AssetUnfreeze("USD"), Clawback("USD", A, 3, "court order 12"),
    GovernancePropose("license_revoke", "pay_c", "validator", 1_800_000_000_000),
    GovernanceApprove(H), KeyRotate("bank_a", "node", H), JurisdictionBlock("RU"),
    JurisdictionUnblock("RU"), TierSet(4, "corporate", (("EUR", 5, 50), ("USD", 10, 100))),
    InstitutionAdd("bank_z", "Bank Z", "FR", H, H, "https://z.example:7000"),
    AssetAdd("XAU", "bank_z", 3, False, True, 86_400_000, 1_000_000),
    AssetUpdate("USD", True, 3_600_000, 0), ReserveReport("USD", 10**9, 1_700_000_000_000, H),
    ReserveAttest("USD", H), FxOffer("USD", 10_000, "SGD", 13_450, 1_800_000_000_000, True, b""),
    FxAccept(H, 6_725), FxCancel(H),
    EscrowCreate("USD", A, 500, 1_700_000_000_000, 1_800_000_000_000, H), EscrowRelease(H, b"x"),
    EscrowCancel(H),
    LoanOffer(A, "USD", 1_000, 1_200, ((1_700_000_000_000, 560), (1_700_086_400_000, 560)),
              3_600_000, 2, 1_699_990_000_000),
    LoanAccept(H), LoanRepay(H, 560), LoanWriteoff(H)]
TX_HASHES = {
    "transfer": "32bb4abb6df3d51a614b3041f5fb05543a7c08005b00015b633e5b1abfaefd2f",
    "issue": "b74b3ca6b414d4eefcec77fd050d6451529cc89284ec22cae60ee222e76cc33f",
    "redeem": "65354103e1c73ec05c54d5fdab77270bae2464dd16582af1b1788704cb9b77ec",
    "kyc_attest": "ac9c2096cdd16cfdabecd88993218f5ba5465259f756be2a687badcb5bde7025",
    "kyc_revoke": "a227266788cea7e542f14b8e4fa9545761738c8d9ad30a0f3146fd3f44ec786b",
    "license_grant": "52cebe244cdfb28be051ae7500f1448161981ec77548b3e08e65a6d73aa5b0cb",
    "license_revoke": "6e9d9da741d68f7c01aa0d53364596406b8f07a3303bff4801a859516e1cb29b",
    "freeze": "e510a38775d5587a77153a12f9b4c4e5ee9f04205e732d144df30617b881c1c6",
    "unfreeze": "037be4a68d1f8f60d408483ae2a2828f427eaf4fe1a27bca1bfa403dcfc4de4b",
    "asset_freeze": "1cd522fcdbad11b4366d650a087d5a17dd8a5e0c53e338b382fa64cc6b3e37e7",
    "asset_unfreeze": "f89318dbe33c1c359cf4ad9e8bb7de8a8535183f8a350314901049491d3b38c4",
    "clawback": "d5456f2eff661525b4d06b64fbc2950957bfbced4fba514823c60cbed6ab1e57",
    "governance_propose": "c6f7de907d9376e310c11db566e5ee04632f56c9fc9960ac2a6c66b9e4d05772",
    "governance_approve": "68721266fc76c39013841cbc8ee5ab4d4ee0fe5a865cda656859caa01f6f1bca",
    "key_rotate": "edfb66108e4c352cac677f8485370c7b711521f17e65fd213c7ead3ec7731a3c",
    "jurisdiction_block": "89a27f0f7015b767202a33c4ff6b75d65392e092b904db23ff22844bce21e5e0",
    "jurisdiction_unblock": "69255cf22d37fe4c75b26b011f42f32b8bf3a8cf3660007294aa2184636ffd67",
    "tier_set": "dd30d4a86ea063035a67fcf7883fdad095f5561e825c4ad01f615dac16f28577",
    "institution_add": "6a7fe601282133b43d460c2dd3e72b120e13768b6096f6a52868e4fa23e3460c",
    "asset_add": "5c0ed838cc5ddafe260c254f35368147b6c7179358a16ba28ba3a48cad98cd80",
    "asset_update": "78436fb0d237945c17cf5bea7245cdcd109938efb08fe8600b6092446391d8d8",
    "reserve_report": "22f0ef841c61ab066f77dbfc4ab4bbfd03be78e066baf3c95c43520b2e0d8335",
    "reserve_attest": "f5c07a16301ecdbc321fefb8b098da656564e153bf15677184fb4ad88f0bae3c",
    "fx_offer": "ff5afc01ba630811052c14a456cc8e6ca8467b3344357499c3fd675c080b185a",
    "fx_accept": "649566f04b72d136cf61c97fbaa5a8adfcb8d58122f2edc7226256f48be576ab",
    "fx_cancel": "d6b4e971ce009c34043f10039b8f2958732b803987654b77c5106d5265256faf",
    "escrow_create": "f6e92a36c9ae3e1abb5d729775a33d4491215d4441ed431bc71a211f5b54a79d",
    "escrow_release": "7bc850bb34edb40cbba5b869d98706d282f133f671041d26231d0246e83e53cc",
    "escrow_cancel": "9cd126ad40172bbf396a3d6a4cb056110caebff695464893f37d507f1566797a",
    "loan_offer": "b3dc961d23c1e398e2fdc5951d7194b794ccacc3ab0f93e869294314a8db0b16",
    "loan_accept": "e7c5dbc7b74c93e6d235e495d813472edfd69a1bed894db43a6f4d9b337fd582",
    "loan_repay": "bbbec00f95f889ba974a37c58a71d0dc85408e75238132ec9df761cf14911d99",
    "loan_writeoff": "ff8994a44d48a79a154027e39529ea01443a5d96d72f6c7ba0fee7ed86115607",
}


def test_the_golden_list_covers_every_kind():
    assert [p.KIND for p in PAYLOADS_IN_ORDER] == list(TX_HASHES) and set(TX_HASHES) == set(PAYLOADS)


@pytest.mark.parametrize("nonce,payload", list(enumerate(PAYLOADS_IN_ORDER)), ids=list(TX_HASHES))
def test_every_kind_signs_to_its_golden_hash(nonce, payload):
    assert sign_tx(KEY, CHAIN, nonce, payload).hash.hex() == TX_HASHES[payload.KIND]


def test_a_chain_with_governance_limits_and_failures_reaches_its_golden_state_hashes(keys):
    g = Genesis.from_json(majority_genesis_doc(keys))
    k, chain = keys, Chain(g, keys.bank_a)

    def s(key, payload, nonce):
        return sign_tx(key, g.chain_id, nonce, payload)

    prop = s(k.bank_a, GovernancePropose("license_grant", "obs_d", "kyc_issuer", T0 + 48 * HOUR), 0)
    r1 = chain.run([prop, s(k.alice, Transfer("USD", k.bob.address, 700), 0),
                    s(k.carol, Transfer("USD", k.bob.address, 1), 0),  # no KYC: nonce consumed
                    s(k.regulator, Freeze(k.dave.address), 0)], T0 + HOUR)
    r2 = chain.run([s(k.bank_b, GovernanceApprove(prop.hash), 0),  # the majority: applied
                    s(k.alice, Transfer("USD", k.bob.address, 900), 1),  # counted in the window
                    s(k.bank_a, KycRevoke(k.alice.address), 1),
                    s(k.alice, Transfer("USD", k.bob.address, 1), 2)], T0 + 2 * HOUR)
    assert g.chain_id.hex() == "5c90197cb8edfff5098514986745c71d9a4f29bb731c0a889de024dd2c4ffef5"
    assert [r.code for r in r1.receipts + r2.receipts] == ["", "", "KYC_MISSING", "", "", "", "",
                                                           "KYC_REVOKED"]
    assert r1.state_hash.hex() == "e079d7e8149f490ba072f49d7bcf6effd84662ac8bff74235ca09cc81a341aef"
    assert r2.state_hash.hex() == "85585f71466a900cd147a75a2f2be8177f13aa0b2c03af3bf9897c7951ad0602"
