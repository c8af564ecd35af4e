"""Raft obeys only its voters, and the node says so: whole nodes on the in-memory network
(tests.harness). An observer's key is licensed and its link is sealed, so its frames reach the
consensus core; the core refuses them, and the node counts each refusal on /metrics and warns
once per (sender, message type)."""
from __future__ import annotations

import logging

from consensus import ConfState, Entry, EntryType, Message, MessageType
from node.ledger.codec import pack
from node.ledger.types import LicenseRevoke

from .harness import TestNetwork, metric

DROPS = "lichen_raft_dropped_messages_total"
FORGED = (MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT,
          MessageType.TIMEOUT_NOW, MessageType.VOTE)


def forged(kind: MessageType, frm: str, to: str, term: int) -> Message:
    entries = (Entry(1_000, term, EntryType.NORMAL, b""),) if kind == MessageType.APPEND else ()
    return Message(kind, frm, to, term, log_term=term, index=999 if entries else 10_000,
                   entries=entries, commit=10_000, snapshot_index=10_000, snapshot_term=term)


async def test_forged_leader_traffic_from_an_observer_is_counted_and_warned_once(tmp_path, caplog):
    """Attack: a licensed observer (a learner: its key passes the handshake) sends every kind
    of leader and election message with a far later term, many times, to steer the validators
    (a new term, a forced commit, a catch-up, a leadership grab) or to flood their logs. Each
    is refused, counted per reason on /metrics, and warned about once per (sender, kind)."""
    net = TestNetwork(tmp_path, validators=3, observers=1)
    try:
        await net.start_all()
        leader = await net.elect()
        observer = net.node(3)
        victim = next(n for n in net.running()[:3] if n is not leader)
        before = victim.node_status()
        caplog.set_level(logging.WARNING, logger="lichen.node")
        for _ in range(3):
            for kind in FORGED:
                observer.p2p.send_raft(victim.id, forged(kind, observer.id, victim.id,
                                                         before.term + 50).to_wire())
        await net.until("the forgeries are counted",
                        lambda: metric(victim, DROPS, reason="NOT_A_VOTER") >= 3 * len(FORGED) - 3)
        await net.advance(500)
        after = victim.node_status()
        assert after.term == before.term and after.leader_id == before.leader_id
        assert after.commit_index < 10_000
        total = sum(metric(victim, DROPS, reason=r) for r in ("NOT_A_VOTER", "NOT_THE_LEADER"))
        assert total == 3 * len(FORGED)
        warnings = [r for r in caplog.records if "refuses Raft" in r.getMessage()
                    and observer.id[:12] in r.getMessage() and victim.config.name in r.getMessage()]
        assert sorted(r.getMessage().split()[3] for r in warnings) == sorted(k.name for k in FORGED)
    finally:
        await net.close()


async def test_a_block_from_the_future_gets_no_quorum_and_its_leader_is_replaced(tmp_path):
    """Attack: a leader (a faulty clock, or a validator wanting a far-future time to expire
    proposals and attestations early or to skew limit windows) stamps its block 60 s ahead.
    Execution takes timestamps as given, so the followers' admission check must stop it: they
    do not acknowledge the block, stop following that leader for its term, elect another
    leader, and the network commits without the 60 s block anywhere in its chain."""
    net = TestNetwork(tmp_path, validators=3)
    try:
        await net.start_all()
        skewed = await net.elect()
        bad_term = skewed.node_status().term
        net.set_clock_ahead(net.index_of(skewed), 60_000)
        tx = net.transfer()
        net.submit(skewed, tx)
        honest = [n for n in net.running() if n is not skewed]
        await net.until("the followers refuse the block", lambda: all(
            metric(n, DROPS, reason="BLOCK_FROM_THE_FUTURE") >= 1 for n in honest))
        new_leader = await net.until("an honest leader", lambda: (
            (lead := net.leader()) is not None and lead is not skewed and lead))
        assert new_leader.node_status().term > bad_term
        heights = await net.until_committed(tx)
        await net.until_agreed()
        later = net.transfer()
        net.submit(new_leader, later)
        await net.until_committed(later)
        now = net.clock.now_ms
        for node in net.running():
            for h in range(1, node.height() + 1):
                header = node.block_view(h).block.header
                assert header.timestamp <= now, (node.config.name, h, header)
        assert heights[tx.hash] >= 1
    finally:
        await net.close()


async def test_a_conf_change_the_licenses_do_not_imply_is_skipped_by_every_node(tmp_path):
    """Attack: a leader (hostile, or buggy) commits a membership change of its own making: the
    unlicensed spare institution's key made a voter, which would let that key vote and lead.
    Every node checks a committed CONF_CHANGE against the licenses at its height and skips it
    alike: the membership stays as licensed and the network keeps committing."""
    net = TestNetwork(tmp_path, validators=3, spare=1)
    try:
        await net.start_all()
        leader = await net.elect()
        licensed_voters = set(leader.node_status().voters)
        forged = ConfState(licensed_voters | {net.id_of(3)}, set())
        leader.raft.propose_conf_change(pack(forged.to_wire()))
        await net.until("the forged change is judged everywhere", lambda: all(
            metric(n, DROPS, reason="CONF_CHANGE_NOT_LICENSED") == 1 for n in net.running()))
        tx = net.transfer()
        net.submit(leader, tx)
        await net.until_committed(tx)
        for node in net.running():
            assert set(node.node_status().voters) == licensed_voters
            assert node.raft.conf_state == ConfState(licensed_voters, set())
    finally:
        await net.close()


async def test_a_revoked_observer_loses_every_link_at_the_height_of_its_revocation(tmp_path):
    """Attack: an observer whose license the regulator revokes keeps reading the chain and
    sending to the validators over links it already holds (inbound ones included), because
    only dialed connections used to close, and only once the Raft membership dropped it. Each
    validator ends the observer's links when the revoking block is applied, and refuses it
    when it dials again."""
    net = TestNetwork(tmp_path, validators=3, observers=1)
    try:
        await net.start_all()
        await net.elect()
        observer, validators = net.node(3), net.running()[:3]
        await net.until("the observer is linked to every validator", lambda: all(
            observer.id in v.node_status().peers for v in validators))
        revoke = net.sign("regulator", LicenseRevoke("inst3", "observer"))
        net.submit(validators[0], revoke)
        heights = await net.until_committed(revoke, nodes=validators)
        assert all(v.height() == heights[revoke.hash] for v in validators)  # still that block
        await net.settle()
        assert [v.config.name for v in validators if observer.id in v.node_status().peers] == []
        await net.advance(3_000)  # it redials; the handshake refuses it
        assert [v.config.name for v in validators if observer.id in v.node_status().peers] == []
        assert observer.node_status().peers == ()
    finally:
        await net.close()
