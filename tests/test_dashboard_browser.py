"""The dashboard as a person sees it: a real headless Chromium (Debian's `chromium`, driven by
Playwright with the system browser) opens node0's page on a running 3-node devnet.

It sees the three nodes and one leader, watches a transfer the test makes appear among the
recent blocks, sees a node it kills marked down, and keeps a screenshot in tests/artifacts/
(git-ignored). `make test` installs chromium with apt-get when it is missing and runs as root;
otherwise this test fails saying what to install.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from devnet.network import Devnet, kill
from node.ledger.crypto import KeyPair
from node.ledger.types import Transfer, sign_tx

from .helpers import free_port_range
from .procs import ROOT, client, nodes_of, running_devnet

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
SEEN_WITHIN_MS = 8_000  # "within a few seconds": a status event comes every second


def browser_or_fail():
    """Playwright's sync API, once the system Chromium is known to be there."""
    if not CHROMIUM.exists():
        pytest.fail("the dashboard browser test needs Debian's Chromium at /usr/bin/chromium: "
                    "`apt-get install -y chromium` (`make test` does it when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the dashboard browser test needs Playwright's Python package: "
                    "`pip install -e '.[test]'` (`make install`)")
    return sync_playwright


def test_dashboard_shows_the_network_a_transfer_and_a_node_going_down(tmp_path):
    sync_playwright = browser_or_fail()
    ARTIFACTS.mkdir(exist_ok=True)
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            # the devnet's own CA signed its certificates; the browser does not know it
            page = browser.new_page(ignore_https_errors=True,
                                    viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(nodes_of(d)["node0"]["url"] + "/dashboard")

            page.wait_for_function(
                "document.querySelectorAll('#network tr[data-up=\"1\"]').length === 3",
                timeout=SEEN_WITHIN_MS)
            page.wait_for_function(
                "document.querySelectorAll('#network tr[data-role=\"leader\"]').length === 1",
                timeout=SEEN_WITHIN_MS)

            tx = submit_transfer(d)
            page.wait_for_selector(f'#blocks [data-tx="{tx}"]', timeout=SEEN_WITHIN_MS)

            victim = "node2"  # not node0, whose page this is
            kill(Devnet(d), victim)
            page.wait_for_selector(f'#network tr[data-node="{victim}"][data-up="0"]',
                                   timeout=SEEN_WITHIN_MS)
            assert "DOWN" in page.inner_text(f'#network tr[data-node="{victim}"]')
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()


def submit_transfer(d: Path) -> str:
    """1 USD from alice to bob through node1 (not the node serving the page); its hash."""
    c = client(d, "node1")
    alice = KeyPair.load(d / "keys" / "alice.key")
    bob = KeyPair.load(d / "keys" / "bob.key")
    chain_id = bytes.fromhex(c.status()["chain_id"])
    nonce = c.account(alice.address_hex)["next_nonce"]
    tx = sign_tx(alice, chain_id, nonce, Transfer("USD", bob.address, 1, "dashboard test"))
    c.submit(tx.raw)
    return tx.hash_hex
