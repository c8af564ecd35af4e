"""node.server.membership: the Raft membership follows the licenses one safe step at a time,
the peer table holds who may run a node, and the reported role says where a node stands."""
from __future__ import annotations

import pytest

from consensus import ConfState, PeerStatus, ProgressState, Role, Status
from node.ledger.genesis import Genesis
from node.ledger.state import State
from node.server.membership import (
    Licensed,
    is_licensed_peer,
    is_membership_step,
    next_membership_change,
    peer_table,
    public_role,
)
from node.server.service import NodeRole

V1, V2, V3, V4, O1 = ("1" * 64, "2" * 64, "3" * 64, "4" * 64, "9" * 64)


def licensed(validators=(), observers=()) -> Licensed:
    return Licensed(frozenset(validators), frozenset(observers))


def leader_status(commit: int = 10, match: dict[str, int] | None = None) -> Status:
    """A leader's status; `match` is how far each follower has replicated."""
    progress = {node: PeerStatus(m, m + 1, ProgressState.REPLICATE, True, 0, False)
                for node, m in (match or {}).items()}
    return Status(V1, Role.LEADER, 2, V1, V1, commit, commit, commit, frozenset(), frozenset(),
                  None, progress, 0)


def test_nothing_changes_when_the_membership_matches_the_licenses():
    conf = ConfState({V1, V2, V3}, {O1})
    assert next_membership_change(conf, licensed({V1, V2, V3}, {O1}), leader_status()) is None


def test_a_new_validator_joins_as_a_learner_first_lowest_id_first():
    conf = ConfState({V1, V2})
    change = next_membership_change(conf, licensed({V1, V2, V4, V3}), leader_status())
    assert change == ConfState({V1, V2}, {V3})


def test_a_learner_becomes_a_voter_only_once_it_has_caught_up():
    conf = ConfState({V1, V2}, {V3})
    want = licensed({V1, V2, V3})
    assert next_membership_change(conf, want, leader_status(10, {V3: 9})) is None
    assert next_membership_change(conf, want, leader_status(10, {})) is None  # no progress known
    assert next_membership_change(conf, want, leader_status(10, {V3: 10})) == ConfState({V1, V2, V3})


def test_a_revoked_validator_leaves_and_stays_as_a_learner_only_if_it_is_an_observer():
    conf = ConfState({V1, V2, V3})
    assert next_membership_change(conf, licensed({V1, V2}), leader_status()) == ConfState({V1, V2})
    assert next_membership_change(conf, licensed({V1, V2}, {V3}), leader_status()) == \
        ConfState({V1, V2}, {V3})


def test_the_last_voter_never_leaves():
    assert next_membership_change(ConfState({V1}), licensed(), leader_status()) is None


def test_observers_join_as_learners_and_unlicensed_learners_leave():
    assert next_membership_change(ConfState({V1}), licensed({V1}, {O1}), leader_status()) == \
        ConfState({V1}, {O1})
    assert next_membership_change(ConfState({V1}, {O1}), licensed({V1}), leader_status()) == \
        ConfState({V1})


def test_one_change_at_a_time_joins_before_removals():
    conf = ConfState({V1, V2, V3}, {O1})
    change = next_membership_change(conf, licensed({V1, V2, V4}), leader_status())
    assert change == ConfState({V1, V2, V3}, {O1, V4})  # the join; the removals come later


def test_licensed_counts_each_key_once_validators_before_observers(genesis, keys):
    state = State.from_genesis(genesis)
    validators = {keys[f"inst{i}"].address_hex for i in range(3)}
    assert Licensed.of(state) == Licensed(frozenset(validators), frozenset())
    state.set_roles("inst3", frozenset({"observer"}))
    state.set_roles("inst2", frozenset({"validator", "observer"}))
    assert Licensed.of(state) == \
        Licensed(frozenset(validators), frozenset({keys["inst3"].address_hex}))


def test_the_peer_table_holds_the_other_licensed_nodes_and_lingering_members(genesis, keys):
    state = State.from_genesis(genesis)
    me, one, two, spare = (keys[f"inst{i}"] for i in range(4))
    assert is_licensed_peer(state, one.address)
    assert not is_licensed_peer(state, spare.address)  # issuer only: runs no node
    assert not is_licensed_peer(state, keys["alice"].address)  # not an institution
    table = peer_table(genesis, state, me.address, frozenset())
    assert table == {one.address_hex: "mem://node1", two.address_hex: "mem://node2"}
    state.set_roles("inst2", frozenset())  # revoked ...
    assert two.address_hex not in peer_table(genesis, state, me.address, frozenset())
    assert two.address_hex in peer_table(genesis, state, me.address, frozenset({two.address_hex}))


@pytest.mark.parametrize("licensed_, conf, raft_role, role", [
    (False, ConfState({V1}), Role.LEADER, NodeRole.UNLICENSED),
    (True, ConfState({V2}, {V1}), Role.FOLLOWER, NodeRole.OBSERVER),
    (True, ConfState({V2}), Role.FOLLOWER, NodeRole.JOINING),
    (True, ConfState({V1, V2}), Role.LEADER, NodeRole.LEADER),
    (True, ConfState({V1, V2}), Role.FOLLOWER, NodeRole.FOLLOWER),
    (True, ConfState({V1, V2}), Role.PRE_CANDIDATE, NodeRole.CANDIDATE),
    (True, ConfState({V1, V2}), Role.CANDIDATE, NodeRole.CANDIDATE),
])
def test_the_reported_role(licensed_, conf, raft_role, role):
    assert public_role(V1, licensed_, conf, raft_role) == role


def test_a_committed_change_is_accepted_only_as_a_step_the_licenses_allow():
    """Attack: a leader (hostile, or proposing before a license changed) commits a membership
    change the licenses do not imply: an unlicensed node made a voter, a licensed voter
    removed, two steps at once. Each is refused by a check every node computes from the same
    applied membership and ledger state; the steps a leader could take are accepted."""
    conf = ConfState({V1, V2, V3}, {V4})
    lic = licensed({V1, V2, V3, V4}, {O1})
    assert is_membership_step(conf, lic, ConfState({V1, V2, V3, V4}))  # V4 promoted
    assert is_membership_step(conf, lic, ConfState({V1, V2, V3}, {V4, O1}))  # V4 not caught up
    assert not is_membership_step(conf, lic, ConfState({V1, V2, V3, V4, O1}))  # observer votes
    assert not is_membership_step(conf, lic, ConfState({V1, V2}, {V4}))  # a licensed voter out
    assert not is_membership_step(conf, lic, ConfState({V1, V2, V3, V4}, {O1}))  # two at once
    stranger = "5" * 64
    assert not is_membership_step(conf, lic, ConfState({V1, V2, V3}, {V4, stranger}))
    plain = ConfState({V1, V2, V3})
    assert is_membership_step(plain, licensed({V1, V2, V3}, {O1}), ConfState({V1, V2, V3}, {O1}))
    assert not is_membership_step(plain, licensed({V1, V2, V3}), ConfState({V1, V2, V3}, {O1}))


def test_the_peer_table_points_at_peer_addresses_where_the_genesis_has_them(genesis, keys):
    """A node with a separate peer listener is dialled there, not at its public API; an
    institution without `peer_address` is dialled at `address`, and a genesis without any
    keeps its chain id."""
    doc = genesis.to_json()
    assert all("peer_address" not in i for i in doc["institutions"])
    assert Genesis.from_json(doc).chain_id == genesis.chain_id
    doc["institutions"][1]["peer_address"] = "mem://node1-peers"
    split = Genesis.from_json(doc)
    assert split.chain_id != genesis.chain_id  # where peers meet is part of the network
    assert Genesis.from_json(split.to_json()) == split
    me, one, two = (keys[f"inst{i}"] for i in range(3))
    table = peer_table(split, State.from_genesis(split), me.address, frozenset())
    assert table == {one.address_hex: "mem://node1-peers", two.address_hex: "mem://node2"}
