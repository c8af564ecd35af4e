"""Who holds which license, and what that makes of the network: pure functions of ledger state.

Every question of the form "is this key a licensed validator" is answered here, once: the
rules (proposer of a block, electorate of governance, KYC of institutions), the daemon (Raft
voters and learners, who may peer) and the API all ask these functions.

An institution has two keys (genesis): its node key runs its node (peers, proposes blocks, signs
certificate votes) and its authority key signs its transactions (issuance, attestations,
governance, licences, clawback, asset freezes). Node-key questions and authority-key questions
are asked apart; an institution that names no authority key answers both with its node key.
Both are read from the state (StateView.institution_by_node_key / _by_authority_key): a
key_rotate (node.ledger.rules.keys) replaces one from its block on, and the old one answers none.

    licensed_as(view, key, role)     the institution of this node key, if licensed for role
    authority_as(view, key, role)    the institution of this authority key, if licensed for role
    licensed_names(view, role)       names of the institutions licensed for role
    licensed_validators(view)        names of the validators: the governance electorate
    licensed_observers(view)         names of the observer institutions
    is_licensed_validator(view, key) may this key propose blocks and vote
    is_licensed_peer(view, key)      may this key's node connect (validator or observer)
    expected_membership(view)        the Raft voters and learners the licenses call for
"""
from __future__ import annotations

from dataclasses import dataclass

from node.ledger.genesis import Institution
from node.ledger.state import StateView
from node.ledger.types import Role

PEER_ROLES = (Role.VALIDATOR, Role.OBSERVER)  # the licenses that run a node


def licensed_as(view: StateView, key: bytes, role: str) -> Institution | None:
    """The institution whose node key this is, if it is licensed for `role` right now."""
    inst = view.institution_by_node_key(key)
    return inst if inst is not None and role in view.roles(inst.name) else None


def authority_as(view: StateView, key: bytes, role: str) -> Institution | None:
    """The institution whose authority key this is, if it is licensed for `role` right now."""
    inst = view.institution_by_authority_key(key)
    return inst if inst is not None and role in view.roles(inst.name) else None


def licensed_names(view: StateView, role: str) -> frozenset[str]:
    """The names of the institutions licensed for `role` right now."""
    return frozenset(i.name for i in view.institutions() if role in view.roles(i.name))


def licensed_validators(view: StateView) -> frozenset[str]:
    """The institutions licensed as validator right now: the governance electorate."""
    return licensed_names(view, Role.VALIDATOR)


def licensed_observers(view: StateView) -> frozenset[str]:
    """The institutions licensed as observer right now."""
    return licensed_names(view, Role.OBSERVER)


def is_licensed_validator(view: StateView, key: bytes) -> bool:
    return licensed_as(view, key, Role.VALIDATOR) is not None


def is_licensed_peer(view: StateView, key: bytes) -> bool:
    """Whether this key's node may join the network: it is licensed to run one."""
    inst = view.institution_by_node_key(key)
    return inst is not None and any(r in view.roles(inst.name) for r in PEER_ROLES)


@dataclass(frozen=True)
class Membership:
    """The Raft membership the licenses call for, as node ids (hex node keys), sorted."""
    voters: tuple[str, ...]  # the validators
    learners: tuple[str, ...]  # observers that are not also validators: follow, never vote


def _node_ids(view: StateView, role: str) -> list[str]:
    return sorted(view.node_key_of(i).hex() for i in view.institutions()
                  if role in view.roles(i.name))


def expected_membership(view: StateView) -> Membership:
    voters = _node_ids(view, Role.VALIDATOR)
    learners = [m for m in _node_ids(view, Role.OBSERVER) if m not in voters]
    return Membership(tuple(voters), tuple(learners))
