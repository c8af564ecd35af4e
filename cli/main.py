"""The `lichen` command: one click group per noun."""
from __future__ import annotations

import click

from devnet.client import trust
from devnet.errors import DevnetError

from .account import account
from .asset import asset
from .audit import audit
from .bench import bench
from .block import block
from .chain import chain
from .chaos import chaos
from .demo import demo
from .devnet import devnet
from .escrow import escrow
from .fx import fx
from .genesis import genesis
from .governance import governance
from .keys import keys
from .kyc import kyc
from .license import license
from .node import node
from .policy import policy
from .report import report
from .tls import tls
from .tx import tx


class Lichen(click.Group):
    """The root group: an engine's DevnetError is the operator's to act on, printed as
    `Error: <sentence>` with exit code 1 (a click.ClickException)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DevnetError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=Lichen, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lichen")
@click.option("--cacert", envvar="LICHEN_CACERT", type=click.Path(dir_okay=False, exists=True),
              help="CA certificate to verify https nodes with (devnet commands use their "
                   "devnet's CA by themselves).")
def lichen(cacert: str | None) -> None:
    """lichen: a permissioned ledger for licensed financial institutions."""
    trust(cacert)


for group in (account, asset, audit, bench, block, chain, devnet, escrow, fx, genesis, governance,
              keys, kyc, license, node, policy, report, tls, tx):
    lichen.add_command(group)
# issue 13: loans
from .loan import loan  # noqa: E402

lichen.add_command(loan)
devnet.add_command(demo)
devnet.add_command(chaos)


def main() -> None:
    lichen()


if __name__ == "__main__":
    main()
