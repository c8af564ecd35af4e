"""Raft obeys only its voters, and the node says so: whole nodes on the in-memory network
(tests.harness). An observer's key is licensed and its link is sealed, so its frames reach the
consensus core; the core refuses them, and the node counts each refusal on /metrics and warns
once per (sender, message type)."""
from __future__ import annotations

import logging

from consensus import Entry, EntryType, Message, MessageType

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
