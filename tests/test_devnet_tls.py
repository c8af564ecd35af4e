"""The devnet's files with and without TLS (devnet.network.create_files; no processes)."""
from __future__ import annotations

import json

from devnet.network import Devnet, create_files
from node.server.config import NodeConfig
from node.server.tls import client_context, server_context


def test_a_tls_devnet_has_a_ca_https_urls_and_node_certs_from_the_ca(tmp_path):
    net = Devnet(tmp_path / "d")
    manifest = create_files(net, 2, 0, 17000, tls=True)
    assert [n.url for n in manifest.nodes] == ["https://127.0.0.1:17000", "https://127.0.0.1:17001"]
    addresses = [i["address"] for i in net.genesis_doc()["institutions"]]
    assert all(a.startswith("https://") for a in addresses if a)  # peers dial wss://
    config = NodeConfig.load(manifest.nodes[0].config)
    assert config.tls and config.tls_ca == str(net.ca_file.resolve())
    server_context(config.tls_cert, config.tls_key)  # the pair loads
    # what peers and clients verify with is that devnet CA
    ctx = client_context(config.tls_ca)
    assert ctx.get_ca_certs()[0]["subject"] == ((("commonName", "lichen devnet CA"),),)


def test_an_insecure_devnet_is_plain_http_with_no_ca(tmp_path):
    net = Devnet(tmp_path / "d")
    manifest = create_files(net, 1, 0, 17000, tls=False)
    assert manifest.nodes[0].url == "http://127.0.0.1:17000"
    assert not net.tls()
    doc = json.loads((net.dir / "node0" / "config.json").read_text())
    assert (doc["tls_cert"], doc["tls_key"], doc["tls_ca"]) == ("", "", "")
    assert not NodeConfig.load(manifest.nodes[0].config).tls
