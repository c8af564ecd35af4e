"""A node restarted between a loan's acceptance and its due time rebuilds its due-queue from the
loan records in LevelDB and collects the instalment on schedule (one in-process node)."""
from __future__ import annotations

import time

from node.ledger.types import Issue, LoanAccept, LoanOffer, sign_tx

from .helpers import until


async def test_a_restarted_node_collects_on_schedule(start_node, single_node_config):
    keys = single_node_config[2]
    node = await start_node()
    chain, alice = node.genesis.chain_id, keys["alice"].address
    start = int(time.time() * 1000)
    offer = sign_tx(keys["inst0"], chain, 1, LoanOffer(
        alice, "USD", 1_000, 0, ((start + 6_000, 1_000),), 60_000, 1, start + 60_000))
    txs = [sign_tx(keys["inst0"], chain, 0, Issue("USD", keys["inst0"].address, 1_000)), offer,
           sign_tx(keys["alice"], chain, 0, LoanAccept(offer.hash))]
    for t in txs:
        assert not isinstance(node.submit_many([t.raw])[0], Exception)
        assert (await node.wait_for(t.hash, 5)).status == "committed"
    assert node.loan_view(offer.hash).loan.status == "current"
    height = node.height()
    await node.stop()

    again = await start_node()
    assert again.loan_view(offer.hash).loan.repaid == 0 and again.height() == height
    await until("the instalment is collected after the restart",
                lambda: again.loan_view(offer.hash).loan.status == "paid_off", timeout=15)
    assert again.height() == height + 1  # the idle leader cut one block for it
    assert again.credit_view(alice).record.paid_off == 1
