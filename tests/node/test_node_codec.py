"""Canonical msgpack transactions and blocks (node.ledger.types, node.ledger.codec): round trips, and every
kind of bad input turned into Malformed / TooLarge / UnknownKind, never anything else."""
from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.ledger import errors as E
from node.ledger.codec import pack, sha256, unpack_canonical
from node.ledger.crypto import KeyPair, verify
from node.ledger.execution import ChainTip, build_block
from node.ledger.types import (
    KEY_KINDS,
    LICENSE_ACTIONS,
    MAX_AMOUNT,
    MAX_TX_BYTES,
    PAYLOADS,
    ROLES,
    AssetAdd,
    AssetFreeze,
    AssetUnfreeze,
    AssetUpdate,
    Block,
    BlockHeader,
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
    decode_tx,
    sign_tx,
)

FAST = settings(max_examples=75, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
DECODE_ERRORS = (E.Malformed, E.TooLarge, E.UnknownKind)

CHAIN = sha256(b"codec test chain")
ALICE = KeyPair.from_seed(b"\x01" * 32)
BOB = KeyPair.from_seed(b"\x02" * 32).address
SIG = b"\x5a" * 64

# ---- strategies -----------------------------------------------------------------------------

addresses = st.binary(min_size=32, max_size=32)
hashes = st.binary(min_size=32, max_size=32)
asset_codes = st.from_regex(r"\A[A-Z][A-Z0-9]{1,11}\Z")
amounts = st.integers(1, MAX_AMOUNT)
# printable text (node.ledger.text), at most 4 bytes a character: within MAX_MEMO_BYTES (256)
memos = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Co", "Cs", "Zl", "Zp")),
                max_size=64)
jurisdictions = st.from_regex(r"\A[A-Z]{2}\Z")
institutions = st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z")
roles = st.sampled_from(ROLES)

PAYLOAD_STRATEGIES = {
    "transfer": st.builds(Transfer, asset_codes, addresses, amounts, memos,
                          st.just(()) | st.tuples(institutions, institutions, hashes)),
    "issue": st.builds(Issue, asset_codes, addresses, amounts),
    "redeem": st.builds(Redeem, asset_codes, amounts),
    "kyc_attest": st.builds(KycAttest, addresses, st.integers(0, 255), jurisdictions,
                            st.integers(0, MAX_AMOUNT), hashes),
    "kyc_revoke": st.builds(KycRevoke, addresses, st.just("") | institutions),
    "license_grant": st.builds(LicenseGrant, institutions, roles, st.integers(0, MAX_AMOUNT),
                               st.booleans()),
    "license_revoke": st.builds(LicenseRevoke, institutions, roles, st.booleans()),
    "freeze": st.builds(Freeze, addresses),
    "unfreeze": st.builds(Unfreeze, addresses),
    "asset_freeze": st.builds(AssetFreeze, asset_codes),
    "asset_unfreeze": st.builds(AssetUnfreeze, asset_codes),
    "clawback": st.builds(Clawback, asset_codes, addresses, amounts, memos.filter(bool)),
    "governance_propose": st.builds(GovernancePropose, st.sampled_from(LICENSE_ACTIONS),
                                    institutions, roles, st.integers(0, MAX_AMOUNT)),
    "governance_approve": st.builds(GovernanceApprove, hashes),
    "key_rotate": st.builds(KeyRotate, institutions, st.sampled_from(KEY_KINDS), addresses),
    "jurisdiction_block": st.builds(JurisdictionBlock, jurisdictions),
    "jurisdiction_unblock": st.builds(JurisdictionUnblock, jurisdictions),
    "institution_add": st.builds(InstitutionAdd, institutions,
                                 memos.filter(lambda m: len(m.encode()) <= 128),  # display
                                 jurisdictions, addresses, addresses, memos, memos),
    "tier_set": st.builds(TierSet, st.integers(0, 255),
                          memos.filter(lambda s: s and len(s.encode()) <= 64),
                          st.dictionaries(asset_codes, st.tuples(st.integers(0, MAX_AMOUNT),
                                                                 st.integers(0, MAX_AMOUNT)),
                                          max_size=4)
                          .map(lambda d: tuple((a, p, q) for a, (p, q) in sorted(d.items())))),
    "asset_add": st.builds(AssetAdd, asset_codes, institutions, st.integers(0, 18),
                           st.booleans(), st.booleans(), st.integers(0, MAX_AMOUNT),
                           st.integers(0, MAX_AMOUNT)),
    "asset_update": st.builds(AssetUpdate, asset_codes, st.booleans(),
                              st.integers(0, MAX_AMOUNT), st.integers(0, MAX_AMOUNT)),
    "reserve_report": st.builds(ReserveReport, asset_codes, st.integers(0, MAX_AMOUNT),
                                st.integers(0, MAX_AMOUNT), hashes),
    "reserve_attest": st.builds(ReserveAttest, asset_codes, hashes),
    "fx_offer": st.builds(FxOffer, asset_codes, amounts, asset_codes, amounts,
                          st.integers(0, MAX_AMOUNT), st.booleans(), st.just(b"") | addresses),
    "fx_accept": st.builds(FxAccept, hashes, amounts,
                           st.just(()) | st.tuples(institutions, institutions, hashes)),
    "fx_cancel": st.builds(FxCancel, hashes),
    "escrow_create": st.builds(EscrowCreate, asset_codes, addresses, amounts,
                               st.integers(0, MAX_AMOUNT), st.integers(0, MAX_AMOUNT),
                               st.just(b"") | hashes,
                               st.just(()) | st.tuples(institutions, institutions, hashes)),
    "escrow_release": st.builds(EscrowRelease, hashes, st.binary(max_size=256)),
    "escrow_cancel": st.builds(EscrowCancel, hashes),
    "loan_offer": st.builds(LoanOffer, addresses, asset_codes, amounts, st.integers(0, 100_000),
                            st.lists(st.tuples(st.integers(0, MAX_AMOUNT), amounts), min_size=1,
                                     max_size=36).map(tuple),
                            st.integers(0, MAX_AMOUNT), st.integers(1, 36),
                            st.integers(0, MAX_AMOUNT)),
    "loan_accept": st.builds(LoanAccept, hashes,
                             st.just(()) | st.tuples(institutions, institutions, hashes)),
    "loan_repay": st.builds(LoanRepay, hashes, amounts,
                            st.just(()) | st.tuples(institutions, institutions, hashes)),
    "loan_writeoff": st.builds(LoanWriteoff, hashes),
}
SEED_KEYS = [KeyPair.from_seed(bytes([i]) * 32) for i in range(1, 6)]


def test_every_payload_kind_has_a_strategy():
    assert set(PAYLOAD_STRATEGIES) == set(PAYLOADS)


def raw_tx(*fields_: bytes) -> bytes:
    """A tx array assembled from already-encoded fields (to build non-canonical forms)."""
    return bytes([0x90 + len(fields_)]) + b"".join(fields_)


def transfer_fields(nonce: bytes = b"\x05", payload: bytes | None = None, kind: bytes | None = None,
                    sender: bytes | None = None, chain: bytes | None = None,
                    sig: bytes | None = None) -> list[bytes]:
    return [chain or pack(CHAIN), kind or pack("transfer"), sender or pack(ALICE.address), nonce,
            payload or pack(["USD", BOB, 10, ""]), sig or pack(SIG)]


# ---- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@FAST
@given(data=st.data(), chain_id=hashes, nonce=st.integers(0, 2**64 - 1))
def test_sign_then_decode_round_trips_every_kind(kind, data, chain_id, nonce):
    key = data.draw(st.sampled_from(SEED_KEYS))
    payload = data.draw(PAYLOAD_STRATEGIES[kind])
    tx = sign_tx(key, chain_id, nonce, payload)
    again = decode_tx(tx.raw)
    assert again == tx
    assert (again.kind, again.chain_id, again.sender, again.nonce, again.payload) == (
        kind, chain_id, key.address, nonce, payload)
    assert again.raw == tx.raw
    assert again.hash == sha256(tx.raw)
    body = [chain_id, kind, key.address, nonce, payload.to_wire()]
    assert pack(body + [tx.signature]) == tx.raw  # re-encoding gives the same bytes
    assert again.signing_bytes == pack(body)
    assert verify(key.address, again.signing_bytes, again.signature)


@FAST
@given(data=st.binary(max_size=MAX_TX_BYTES + 200))
def test_random_bytes_never_crash_decode_tx(data):
    try:
        tx = decode_tx(data)
    except DECODE_ERRORS:
        return
    assert tx.raw == data


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
    | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: (st.lists(inner, max_size=7)
                   | st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=20)


@FAST
@given(obj=plain)
def test_arbitrary_msgpack_values_decode_or_raise_ledger_errors(obj):
    raw = msgpack.packb(obj, use_bin_type=True)
    try:
        decode_tx(raw)
    except DECODE_ERRORS:
        pass


@FAST
@given(data=st.data())
def test_mutated_valid_tx_is_valid_canonical_or_a_decode_error(data):
    raw = bytearray(sign_tx(ALICE, CHAIN, 3, Transfer("USD", BOB, 1234, "memo")).raw)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if op == "flip":
            raw[i] ^= data.draw(st.integers(1, 255))
        elif op == "delete":
            del raw[i]
        else:
            raw.insert(i, data.draw(st.integers(0, 255)))
    try:
        tx = decode_tx(bytes(raw))
    except DECODE_ERRORS:
        return
    assert tx.raw == bytes(raw)
    assert pack([tx.chain_id, tx.kind, tx.sender, tx.nonce, tx.payload.to_wire(),
                 tx.signature]) == bytes(raw)


def test_hand_assembled_canonical_tx_decodes():
    """The control for the non-canonical cases below: same assembly, minimal encodings."""
    tx = decode_tx(raw_tx(*transfer_fields()))
    assert tx.nonce == 5 and tx.payload == Transfer("USD", BOB, 10, "")


# ---- non-canonical encodings ----------------------------------------------------------------

@pytest.mark.parametrize("nonce", [b"\xcc\x05", b"\xcd\x00\x05", b"\xce\x00\x00\x00\x05",
                                   b"\xcf" + (5).to_bytes(8, "big"), b"\xd0\x05"])
def test_int_in_wider_form_than_needed_is_malformed(nonce):
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(nonce=nonce)))


def test_amount_in_wider_form_than_needed_is_malformed():
    payload = b"\x94" + pack("USD") + pack(BOB) + b"\xcd\x00\x0a" + pack("")
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(payload=payload)))


def test_bin_in_wider_form_than_needed_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(sender=b"\xc5\x00\x20" + ALICE.address)))


def test_str_in_wider_form_than_needed_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(kind=b"\xd9\x08transfer")))


def test_array_in_wider_form_than_needed_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(b"\xdc\x00\x06" + b"".join(transfer_fields()))


def test_map_instead_of_array_is_malformed():
    fields_ = ["chain_id", "kind", "sender", "nonce", "payload", "signature"]
    values = [CHAIN, "transfer", ALICE.address, 5, ["USD", BOB, 10, ""], SIG]
    with pytest.raises(E.Malformed):
        decode_tx(pack(dict(zip(fields_, values, strict=True))))
    payload_map = pack({"asset": "USD", "to": BOB, "amount": 10, "memo": ""})
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(payload=payload_map)))


def test_str_where_bin_belongs_is_malformed():
    # the sender's 32 bytes as a str (old msgpack "raw"), and a 32-character text sender
    as_raw_str = msgpack.packb(b"A" * 32, use_bin_type=False)
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(sender=as_raw_str)))
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(chain=pack("c" * 32))))
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(sig=msgpack.packb(b"\xff" * 64, use_bin_type=False))))


def test_bin_where_str_belongs_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(kind=pack(b"transfer"))))
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(payload=pack([b"USD", BOB, 10, ""]))))


def test_trailing_bytes_are_malformed():
    tx = sign_tx(ALICE, CHAIN, 0, Transfer("USD", BOB, 10))
    for tail in (b"\x00", b"\xc0", tx.raw):
        with pytest.raises(E.Malformed):
            decode_tx(tx.raw + tail)


def test_truncated_tx_is_malformed():
    raw = sign_tx(ALICE, CHAIN, 0, Transfer("USD", BOB, 10)).raw
    for cut in (0, 1, 40, len(raw) - 1):
        with pytest.raises(E.Malformed):
            decode_tx(raw[:cut])


@pytest.mark.parametrize("amount", [10.0, 1.5])
def test_float_amount_is_malformed(amount):
    with pytest.raises(E.Malformed):
        decode_tx(pack([CHAIN, "transfer", ALICE.address, 5, ["USD", BOB, amount, ""], SIG]))


def test_float32_nonce_is_malformed():
    float32 = b"\xca" + b"\x40\xa0\x00\x00"  # 5.0
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(nonce=float32)))


def test_bool_for_int_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(pack([CHAIN, "transfer", ALICE.address, True, ["USD", BOB, 10, ""], SIG]))
    with pytest.raises(E.Malformed):
        decode_tx(pack([CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, True, ""], SIG]))


@pytest.mark.parametrize("amount", [0, -1, -(2**63), MAX_AMOUNT + 1, 2**64 - 1])
def test_amount_out_of_range_is_malformed(amount):
    with pytest.raises(E.Malformed):
        decode_tx(pack([CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, amount, ""], SIG]))
    with pytest.raises(E.Malformed):
        sign_tx(ALICE, CHAIN, 0, Issue("USD", BOB, amount))


def test_largest_amount_is_accepted():
    assert decode_tx(sign_tx(ALICE, CHAIN, 0, Transfer("USD", BOB, MAX_AMOUNT)).raw
                     ).payload.amount == MAX_AMOUNT


def test_negative_nonce_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(pack([CHAIN, "transfer", ALICE.address, -1, ["USD", BOB, 10, ""], SIG]))


@pytest.mark.parametrize("fields_", [
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10, ""]],  # no signature
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10, ""], SIG, b""],  # one too many
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10], SIG],  # payload short a field
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10, "", ""], SIG],
    [CHAIN[:31], "transfer", ALICE.address, 0, ["USD", BOB, 10, ""], SIG],
    [CHAIN, "transfer", ALICE.address[:31], 0, ["USD", BOB, 10, ""], SIG],
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB[:31], 10, ""], SIG],
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10, ""], SIG[:63]],
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10, ""], SIG + b"\x00"],
    [CHAIN, "transfer", ALICE.address, None, ["USD", BOB, 10, ""], SIG],
    [CHAIN, "transfer", ALICE.address, 0, None, SIG],
    [CHAIN, "transfer", ALICE.address, 0, ["usd", BOB, 10, ""], SIG],  # asset code form
    [CHAIN, "transfer", ALICE.address, 0, ["U", BOB, 10, ""], SIG],
    [CHAIN, "transfer", ALICE.address, 0, ["USDUSDUSDUSDX", BOB, 10, ""], SIG],
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10, "m" * 257], SIG],  # memo too long
    [CHAIN, "transfer", ALICE.address, 0, ["USD", BOB, 10, b"memo"], SIG],
    [CHAIN, "kyc_attest", ALICE.address, 0, [BOB, 256, "US", 1, CHAIN], SIG],  # tier > 255
    [CHAIN, "kyc_attest", ALICE.address, 0, [BOB, 1, "USA", 1, CHAIN], SIG],
    [CHAIN, "kyc_attest", ALICE.address, 0, [BOB, 1, "us", 1, CHAIN], SIG],
    [CHAIN, "kyc_attest", ALICE.address, 0, [BOB, 1, "US", -1, CHAIN], SIG],
    [CHAIN, "kyc_attest", ALICE.address, 0, [BOB, 1, "US", 1, CHAIN[:8]], SIG],
    [CHAIN, "license_grant", ALICE.address, 0, ["bank_a", "admin"], SIG],  # unknown role
    [CHAIN, "license_grant", ALICE.address, 0, ["bank a", "validator"], SIG],
    [CHAIN, "license_grant", ALICE.address, 0, ["", "validator"], SIG],
    [CHAIN, "governance_propose", ALICE.address, 0, ["grant", "bank_a", "validator", 1], SIG],
    [CHAIN, "governance_propose", ALICE.address, 0, ["license_grant", "bank_a", "king", 1], SIG],
    [CHAIN, "governance_propose", ALICE.address, 0, ["license_grant", "bank_a", "observer", -1],
     SIG],
    [CHAIN, "governance_propose", ALICE.address, 0, ["license_grant", "bank_a", "validator"], SIG],
    [CHAIN, "governance_approve", ALICE.address, 0, [CHAIN[:31]], SIG],  # not a 32-byte id
    [CHAIN, "governance_approve", ALICE.address, 0, [CHAIN.hex()], SIG],
    [CHAIN, "freeze", ALICE.address, 0, [BOB, BOB], SIG],
    [CHAIN, 7, ALICE.address, 0, [BOB], SIG],  # kind not a string
    [[[[[[[[[[[CHAIN]]]]]]]]]], "freeze", ALICE.address, 0, [BOB], SIG],  # nested too deep
])
def test_wrong_shape_or_field_is_malformed(fields_):
    with pytest.raises(E.Malformed) as info:
        decode_tx(pack(fields_))
    assert info.value.code == "MALFORMED"


def test_memo_of_exactly_256_bytes_is_accepted():
    tx = sign_tx(ALICE, CHAIN, 0, Transfer("USD", BOB, 1, "é" * 128))
    assert decode_tx(tx.raw).payload.memo == "é" * 128


def test_ext_type_is_malformed():
    ext = msgpack.packb(msgpack.ExtType(1, b"abcd"))
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(nonce=ext)))


def test_invalid_utf8_string_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(raw_tx(*transfer_fields(kind=b"\xa2\xff\xfe")))


def test_asset_code_with_trailing_newline_is_malformed():
    # _ASSET_CODE ends in `$`, which also matches before a final newline
    with pytest.raises(E.Malformed):
        decode_tx(pack([CHAIN, "transfer", ALICE.address, 0, ["USD\n", BOB, 10, ""], SIG]))


def test_institution_name_with_trailing_newline_is_malformed():
    with pytest.raises(E.Malformed):
        decode_tx(pack([CHAIN, "license_grant", ALICE.address, 0, ["bank_a\n", "validator"], SIG]))


# ---- size and kind --------------------------------------------------------------------------

def test_oversized_tx_is_too_large():
    raw = sign_tx(ALICE, CHAIN, 0, Transfer("USD", BOB, 10)).raw
    with pytest.raises(E.TooLarge) as info:
        decode_tx(raw + b"\x00" * (MAX_TX_BYTES + 1 - len(raw)))
    assert info.value.code == "TOO_LARGE"
    with pytest.raises(E.TooLarge):
        decode_tx(b"\x00" * (10 * MAX_TX_BYTES))


def test_signing_a_tx_over_the_size_limit_is_too_large():
    with pytest.raises(E.TooLarge):
        sign_tx(ALICE, CHAIN, 0, Transfer("USD", BOB, 10, "x" * (MAX_TX_BYTES + 1)))


def test_unknown_kind_is_unknown_kind():
    with pytest.raises(E.UnknownKind) as info:
        decode_tx(pack([CHAIN, "swap", ALICE.address, 0, ["USD", BOB, 10, ""], SIG]))
    assert info.value.code == "UNKNOWN_KIND"
    with pytest.raises(E.UnknownKind):
        decode_tx(pack([CHAIN, "", ALICE.address, 0, [], SIG]))


def test_unpack_canonical_refuses_non_bytes():
    with pytest.raises(E.Malformed):
        unpack_canonical("not bytes", 100)  # type: ignore[arg-type]


# ---- blocks ---------------------------------------------------------------------------------

headers = st.builds(BlockHeader, st.integers(0, 2**64 - 1), hashes, hashes,
                    st.integers(0, 2**64 - 1), addresses, st.integers(0, 2**64 - 1))


@FAST
@given(header=headers, signature=st.binary(min_size=64, max_size=64),
       txs=st.lists(st.binary(max_size=300), max_size=12))
def test_block_encode_decode_round_trips(header, signature, txs):
    block = Block(header, signature, tuple(txs))
    raw = block.encode()
    again = Block.decode(raw)
    assert again == block
    assert again.encode() == raw
    assert again.hash == block.hash == sha256(pack(header.to_wire()))


def test_built_block_round_trips_and_keeps_tx_bytes():
    txs = [sign_tx(ALICE, CHAIN, n, Transfer("USD", BOB, 10 + n)) for n in range(5)]
    tip = ChainTip(7, b"\x07" * 32, 1_000, b"\x00" * 32)
    block = build_block(tip, [t.raw for t in txs], [t.hash for t in txs], 2_000, ALICE, 3)
    again = Block.decode(block.encode())
    assert again == block
    assert list(again.txs) == [t.raw for t in txs]
    assert (again.header.height, again.header.prev_hash, again.header.term) == (8, b"\x07" * 32, 3)
    assert verify(ALICE.address, again.hash, again.signature)


@pytest.mark.parametrize("obj", [
    [[1, b"\x00" * 32, b"\x00" * 32, 5, b"\x00" * 32, 1], b"\x00" * 64],  # two fields
    [[1, b"\x00" * 32, b"\x00" * 32, 5, b"\x00" * 32], b"\x00" * 64, []],  # short header
    [[1, b"\x00" * 32, b"\x00" * 32, 5, b"\x00" * 32, 1], b"\x00" * 63, []],
    [[1, b"\x00" * 32, b"\x00" * 32, 5, b"\x00" * 32, 1], b"\x00" * 64, ["tx as str"]],
    [[1, b"\x00" * 32, b"\x00" * 32, 5, b"\x00" * 32, 1], b"\x00" * 64, b"not a list"],
    [[-1, b"\x00" * 32, b"\x00" * 32, 5, b"\x00" * 32, 1], b"\x00" * 64, []],
    {"header": 1},
])
def test_malformed_block_is_malformed(obj):
    with pytest.raises(E.Malformed):
        Block.decode(pack(obj))


def test_block_with_trailing_bytes_is_malformed():
    block = Block(BlockHeader(1, b"\x00" * 32, b"\x00" * 32, 5, b"\x00" * 32, 1), b"\x00" * 64, ())
    with pytest.raises(E.Malformed):
        Block.decode(block.encode() + b"\x00")


@FAST
@given(data=st.binary(max_size=600))
def test_random_bytes_never_crash_block_decode(data):
    try:
        Block.decode(data)
    except E.Malformed:
        pass
