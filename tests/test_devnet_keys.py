"""The devnet's key files: two per institution (authority inst<i>, node inst<i>-node), private,
named in genesis; and `lichen node run` with a sealed key and nobody to ask."""
from __future__ import annotations

import json
import os
import stat

from click.testing import CliRunner

from cli.main import lichen
from devnet.network import Devnet, create_files
from node.ledger.crypto import KeyPair
from node.ledger.genesis import Genesis
from node.server.config import NodeConfig


def test_devnet_files_give_each_institution_a_node_key_and_an_authority_key(tmp_path):
    net = Devnet(tmp_path / "net")
    create_files(net, validators=2, observers=0, base_port=27900)
    genesis = Genesis.load(net.dir / "genesis.json")
    inst0 = genesis.institution("inst0")
    assert inst0.key == KeyPair.load(net.dir / "keys" / "inst0-node.key").address
    assert inst0.authority == KeyPair.load(net.dir / "keys" / "inst0.key").address
    assert inst0.key != inst0.authority
    config = NodeConfig.load(net.dir / "node0" / "config.json")
    assert KeyPair.load(config.key_file).address == inst0.key
    for key_file in (net.dir / "keys").iterdir():
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600, key_file


def test_node_run_with_a_sealed_key_and_no_passphrase_says_how_to_give_one(tmp_path):
    net = Devnet(tmp_path / "net")
    create_files(net, validators=1, observers=0, base_port=27910)
    config_file = net.dir / "node0" / "config.json"
    key_file = net.dir / "keys" / "inst0-node.key"
    KeyPair.load(key_file).save(key_file, passphrase=b"pw")
    result = CliRunner().invoke(lichen, ["node", "run", "--config", str(config_file)],
                                env={"LICHEN_PASSPHRASE_FILE": None})
    assert result.exit_code == 1
    assert "is sealed with a passphrase" in result.output
    assert "LICHEN_PASSPHRASE_FILE" in result.output
    assert not (net.dir / "node0" / "db").exists()  # nothing started
    assert json.loads(key_file.read_text())["version"] == 2
