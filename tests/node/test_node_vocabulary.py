"""The typed vocabulary (node.ledger.types): enums whose members are their wire strings, and
payload fields that each name the check that validates them."""
from __future__ import annotations

import dataclasses
import json

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.ledger import errors as E
from node.ledger.codec import pack, sha256
from node.ledger.crypto import KeyPair
from node.ledger.genesis import LICENSE_POLICIES
from node.ledger.types import (
    LICENSE_ACTIONS,
    PAYLOADS,
    ROLES,
    LicenseAction,
    LicensePolicy,
    ProposalStatus,
    Role,
    Transfer,
    TxKind,
    TxState,
    decode_tx,
    sign_tx,
)

from .test_node_codec import PAYLOAD_STRATEGIES

FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = KeyPair.from_seed(b"\x03" * 32)
CHAIN = sha256(b"vocabulary test chain")


def test_the_wire_strings_of_the_vocabulary():
    assert list(Role) == ["validator", "kyc_issuer", "asset_issuer", "observer"]
    assert list(TxState) == ["pending", "committed", "failed", "unknown"]
    assert list(LicenseAction) == ["license_grant", "license_revoke"]
    assert list(ProposalStatus) == ["open", "applied"]
    assert list(LicensePolicy) == ["regulator", "majority"]
    assert set(TxKind) == set(PAYLOADS)
    assert all(PAYLOADS[k].KIND is k for k in TxKind)
    assert {a.value for a in LicenseAction} <= {k.value for k in TxKind}


def test_plain_string_tuples_stay_plain_for_click_and_messages():
    for names, enum in ((ROLES, Role), (LICENSE_ACTIONS, LicenseAction),
                        (LICENSE_POLICIES, LicensePolicy)):
        assert names == tuple(m.value for m in enum)
        assert all(type(n) is str for n in names)


@pytest.mark.parametrize("member", [TxKind.TRANSFER, Role.OBSERVER, ProposalStatus.APPLIED])
def test_a_member_encodes_as_its_string(member):
    assert pack(member) == pack(member.value)
    assert json.dumps({"x": member}) == json.dumps({"x": member.value})
    assert f"{member}" == member.value
    assert {member.value: 1}[member] == 1 and {member: 1}[member.value] == 1


def test_a_decoded_kind_is_the_plain_wire_string():
    """No enum conversion on the hot path: decode keeps msgpack's str, which still looks up."""
    tx = decode_tx(sign_tx(KEY, CHAIN, 0, Transfer("USD", KEY.address, 1)).raw)
    assert type(tx.kind) is str and tx.kind == TxKind.TRANSFER


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_every_payload_field_names_its_check_in_wire_order(kind):
    cls = PAYLOADS[kind]
    for f in dataclasses.fields(cls):
        assert callable(f.metadata["check"]), f"{kind}.{f.name} has no check"


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@FEW
@given(data=st.data())
def test_a_bad_field_is_malformed_by_its_own_name(kind, data):
    """Each field is validated by its own check: a float (never valid) in field i is reported
    under field i's name."""
    cls = PAYLOADS[kind]
    payload = data.draw(PAYLOAD_STRATEGIES[kind])
    wire = payload.to_wire()
    full = [getattr(payload, f.name) for f in dataclasses.fields(cls)]
    assert wire == full[:len(wire)]  # trailing optional fields at their default are left off
    for i, f in enumerate(dataclasses.fields(cls)):
        bad = full[:i] + [1.5] + full[i + 1:]
        with pytest.raises(E.Malformed) as info:
            cls.from_wire(bad)
        assert info.value.message.startswith(f.name + " "), (f.name, info.value.message)
    assert cls.from_wire(msgpack.unpackb(pack(wire))) == payload
