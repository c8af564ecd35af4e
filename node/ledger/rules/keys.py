"""Key rotation: the regulator replaces an institution's node key or authority key.

An institution starts with the two keys genesis names (node.ledger.genesis.Institution). A
regulator-signed key_rotate names the institution, which key (`node` or `authority`) and the new
public key; from the block that commits it, the state (StateView.rotated_keys) holds the
institution's current keys, and every "whose key is this" question (node.ledger.rules.membership)
reads them: the old key answers none. An authority key signs the institution's transactions
from the next one on. A node key changes who proposes, votes and peers: the Raft membership
follows by its one-step machinery (node.server.membership) once the operator restarts the node
with the new key file.

The new key may not be any institution's current key (node or authority) nor the regulator's:
one key, one role, so no rotation can make one institution speak for another. The node key of
the only validator cannot be rotated: its old key could no longer commit a block, and its new
one could never join a membership that has no other voter to add it.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Institution
from node.ledger.rules.context import Context
from node.ledger.rules.licensing import check_institution, check_regulator
from node.ledger.rules.membership import licensed_validators
from node.ledger.state import InstitutionKeys, StateView
from node.ledger.types import KeyKind, KeyRotate, Transaction


def check_key_unused(view: StateView, key: bytes) -> None:
    """The new key is nobody's current key: no institution's node or authority key, nor the
    regulator's."""
    if key == view.genesis.regulator:
        raise E.KeyInUse("the new key is the regulator's")
    holder = view.institution_by_node_key(key) or view.institution_by_authority_key(key)
    if holder is not None:
        raise E.KeyInUse(f"the new key is already a key of {holder.name}")


def check_not_the_only_validator(view: StateView, institution: str, which: str) -> None:
    """The only validator's node key stays: rotating it would halt the chain for good."""
    if which == KeyKind.NODE and licensed_validators(view) == frozenset({institution}):
        raise E.LastValidator(f"{institution} is the only validator: its node key cannot be "
                              f"rotated; license another validator first")


def rotated(view: StateView, inst: Institution, which: str, key: bytes) -> InstitutionKeys:
    """The institution's current keys with `which` replaced by `key`."""
    node, authority = view.node_key_of(inst), view.authority_key_of(inst)
    if which == KeyKind.NODE:
        return InstitutionKeys(key, authority)
    return InstitutionKeys(node, key)


def apply_key_rotate(view: StateView, tx: Transaction, p: KeyRotate, ctx: Context) -> None:
    """key_rotate: the regulator's; the institution exists; the new key is unused; not the only
    validator's node key."""
    check_regulator(view, tx.sender)
    inst = check_institution(view, p.institution)
    check_key_unused(view, p.new_key)
    check_not_the_only_validator(view, inst.name, p.which)
    view.set_keys(inst.name, rotated(view, inst, p.which, p.new_key))
