"""An operator's recovery path on a real devnet: verify a stopped node's store, refuse a damaged
one with a clear message, wipe it and resync it from the peers."""
from __future__ import annotations

import json
import struct

import msgpack
import plyvel
import pytest

from .helpers import free_port_range
from .procs import converged, lichen, nodes_of, running_devnet, wait_until

pytestmark = pytest.mark.slow


def pay(d, amount: int) -> None:
    keys = d / "keys"
    lichen("tx", "transfer", "--key", str(keys / "alice.key"), "--to", str(keys / "bob.key"),
           "--asset", "USD", "--amount", str(amount), "--node", nodes_of(d)["node0"]["url"])


def test_verify_detects_damage_and_resync_rebuilds_from_peers(tmp_path):
    with running_devnet(tmp_path / "devnet", 3, free_port_range(3)) as d:
        for amount in (1, 2, 3):
            pay(d, amount)
        wait_until("all agree", lambda: converged(d))
        config = nodes_of(d)["node2"]["config"]
        lichen("devnet", "kill", "node2", "--signal", "TERM", "--dir", str(d))
        wait_until("node2 stopped",
                   lambda: "no" in lichen("devnet", "status", "--dir", str(d)).stdout)

        report = json.loads(lichen("node", "verify", "--config", config, "--json").stdout)
        assert report["ok"] and report["blocks_checked"] == 3 and report["receipts_checked"] == 3

        db = plyvel.DB(str(d / "node2" / "db"))  # damage a balance behind the node's back
        key = next(k for k, _ in db.iterator(prefix=b"Sa"))
        acct = msgpack.unpackb(db.get(key))
        acct[1] = [[asset, amount + 1] for asset, amount in acct[1]]
        db.put(key, msgpack.packb(acct))
        db.close()
        damaged = lichen("node", "verify", "--config", config, check=False)
        assert damaged.returncode != 0 and "state records differ" in damaged.stdout

        db = plyvel.DB(str(d / "node2" / "db"))  # now lose the tip block too
        tip = msgpack.unpackb(db.get(b"mtip"))
        db.delete(b"B" + struct.pack(">Q", tip[0]))
        db.close()
        refused = lichen("devnet", "start", "node2", "--dir", str(d), check=False)
        assert refused.returncode != 0 and "corrupt" in refused.stderr + refused.stdout

        pay(d, 4)  # the network goes on meanwhile
        out = lichen("node", "resync", "--config", config, "--yes").stdout
        assert "wiped" in out
        lichen("devnet", "start", "node2", "--dir", str(d))
        wait_until("node2 rebuilt from its peers", lambda: converged(d), timeout=20)
        rows = json.loads(lichen("devnet", "status", "--dir", str(d), "--json").stdout)
        assert rows[2]["height"] == 4
