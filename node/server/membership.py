"""Who takes part, as the licenses say: the Raft membership to steer towards, the peers to
connect to, and the role a node reports. Pure functions of the genesis, the ledger state and
the Raft membership; the daemon applies what they decide.

Membership changes one step at a time (the Raft core accepts one pending change):
1. a newly licensed validator joins as a learner,
2. a learner licensed as validator is promoted once it has caught up (its match reaches the
   commit index),
3. a voter whose validator license is gone leaves (kept as a learner if it is an observer),
   never the last voter,
4. a licensed observer joins as a learner,
5. a learner licensed for neither leaves.
Each step takes the lowest node id first, so every leader makes the same choice.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from consensus import ConfState, Role, Status
from node.ledger.genesis import Genesis, Institution
from node.ledger.rules import expected_membership, is_licensed_peer
from node.ledger.state import State
from node.server.service import NodeRole


@dataclass(frozen=True)
class Licensed:
    """Node ids (key hex) of the institutions licensed right now to vote or to follow."""
    validators: frozenset[str]
    observers: frozenset[str]  # licensed observers that are not also validators

    @classmethod
    def of(cls, state: State) -> Licensed:
        wanted = expected_membership(state)  # the rulebook says who is licensed for what
        return cls(frozenset(wanted.voters), frozenset(wanted.learners))


def peer_table(genesis: Genesis, state: State, own_key: bytes,
               members: frozenset[str]) -> dict[str, str]:
    """Every other institution licensed to run a node (validator or observer) right now, and
    every Raft member (a revoked one stays connected until the membership drops it), at its
    peer address (genesis `peer_address`, else its API `address`)."""
    table = {}
    for inst in state.institutions():  # genesis's and those added on chain
        key = state.node_key_of(inst)  # current: a key_rotate replaces the genesis key
        if inst.peer_endpoint and key != own_key and is_licensed_peer(state, key):
            table[key.hex()] = inst.peer_endpoint
    for node_id in members - table.keys() - {own_key.hex()}:  # a rotated-away or revoked member
        inst = member_institution(genesis, state, node_id)
        if inst is not None and inst.peer_endpoint:
            table[node_id] = inst.peer_endpoint
    return table


def member_institution(genesis: Genesis, state: State, node_id: str) -> Institution | None:
    """The institution a Raft member's id belongs (or belonged, before a rotation) to."""
    key = bytes.fromhex(node_id)  # a key both rotated in and away again is found by neither
    return state.institution_by_node_key(key) or genesis.institution_by_key(key)


def next_membership_change(conf: ConfState, licensed: Licensed, status: Status) -> ConfState | None:
    """The one next step from `conf` towards what the licenses say (module docstring), or None
    when they agree. `status` is the leader's: it tells how far each learner has caught up."""
    def caught_up(node: str) -> bool:
        progress = status.progress.get(node)
        return progress is not None and progress.match >= status.commit
    return _next_step(conf, licensed, caught_up)


def is_membership_step(conf: ConfState, licensed: Licensed, change: ConfState) -> bool:
    """Whether `change` is a step some leader could have taken from `conf` under these licenses
    (next_membership_change, whatever its view of the learners' progress). A pure function of
    the applied membership and the ledger state, so every node judges a committed CONF_CHANGE
    entry alike."""
    promotions = {_next_step(conf, licensed, lambda node, n=n: node == n)
                  for n in conf.learners & licensed.validators}
    return change in promotions or change == _next_step(conf, licensed, lambda node: False)


def _next_step(conf: ConfState, licensed: Licensed,
               caught_up: Callable[[str], bool]) -> ConfState | None:
    voters, learners = set(conf.voters), set(conf.learners)
    for node in sorted(licensed.validators - voters - learners):
        return ConfState(voters, learners | {node})
    for node in sorted(learners & licensed.validators):
        if caught_up(node):
            return ConfState(voters | {node}, learners - {node})
    for node in sorted(voters - licensed.validators):
        if len(voters) > 1:
            keep = {node} if node in licensed.observers else set()
            return ConfState(voters - {node}, learners | keep)
    for node in sorted(licensed.observers - learners - voters):
        return ConfState(voters, learners | {node})
    for node in sorted(learners - licensed.validators - licensed.observers):
        return ConfState(voters, learners - {node})
    return None


def public_role(node_id: str, licensed: bool, conf: ConfState, raft_role: Role) -> NodeRole:
    """The role /v1/status reports."""
    if not licensed:
        return NodeRole.UNLICENSED
    if node_id in conf.learners:
        return NodeRole.OBSERVER
    if node_id not in conf.voters:
        return NodeRole.JOINING
    return _RAFT_ROLES.get(raft_role, NodeRole.CANDIDATE)


_RAFT_ROLES: Mapping[Role, NodeRole] = {Role.LEADER: NodeRole.LEADER, Role.FOLLOWER: NodeRole.FOLLOWER}


def short_ids(ids) -> str:
    """Node ids as logs show them."""
    return "[" + ",".join(sorted(i[:8] for i in ids)) + "]"
