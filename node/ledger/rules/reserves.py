"""Reserves: issuance of a reserve-backed asset stays within what its issuer reports holding.

An asset is reserve-backed when its record says so (genesis, asset_add, or an asset_update by
the regulator). Its issuer files reserve_report (amount in the asset's minor units, as_of: the
unix-ms time the amount was true, not after the block's time and newer than the last report,
and a hash of the off-chain evidence); the latest report is kept per asset (StateView.reserves,
record b"R" + code). An auditor may co-sign it later with reserve_attest, naming the report by
its transaction hash: an institution licensed validator or observer (an observer node is the
auditor's or supervisor's seat, DESIGN §2), other than the asset's issuer; once per report.

For a reserve-backed asset an issue is refused
    RESERVES_STALE     no report yet, or the latest one's as_of is more than the asset's
                       reserve_max_age_ms before the block's time (0: reports never go stale)
    RESERVES_EXCEEDED  supply after the issue would be above the latest report's amount.
Redeem and clawback never need reserves (they shrink or keep the supply). A co-sign is shown,
not required: issuance reads the issuer's figure; the auditor's signature is for the reader.
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Asset, Institution
from node.ledger.rules.context import Context
from node.ledger.rules.membership import authority_as
from node.ledger.state import Reserves, StateView
from node.ledger.types import Role

AUDITOR_ROLES = (Role.VALIDATOR.value, Role.OBSERVER.value)


def check_reserves_fresh(asset: Asset, reserves: Reserves | None, ctx: Context) -> Reserves:
    """The reserve-backed asset has a report, not older than its staleness limit."""
    if reserves is None:
        raise E.ReservesStale(f"{asset.code} is reserve-backed and has no reserve report")
    age = ctx.timestamp - reserves.as_of
    if asset.reserve_max_age_ms and age > asset.reserve_max_age_ms:
        raise E.ReservesStale(f"{asset.code}'s reserve report is {age} ms old; the limit is "
                              f"{asset.reserve_max_age_ms} ms")
    return reserves


def check_within_reserves(asset: Asset, reserves: Reserves, supply_after: int) -> None:
    """Supply after the issue is covered by the reported reserves."""
    if supply_after > reserves.amount:
        raise E.ReservesExceeded(f"{asset.code} supply would be {supply_after}, above reserves "
                                 f"of {reserves.amount} reported as of {reserves.as_of}")


def check_reserves(view: StateView, asset: Asset, amount: int, ctx: Context) -> None:
    """An issue of `amount`: nothing to check unless the asset is reserve-backed."""
    if asset.reserve_backed:
        reserves = check_reserves_fresh(asset, view.reserves(asset.code), ctx)
        check_within_reserves(asset, reserves, view.supply(asset.code) + amount)


def check_report_time(latest: Reserves | None, as_of: int, ctx: Context) -> None:
    """A report is of a time not after the block's, and newer than the last report."""
    if as_of > ctx.timestamp:
        raise E.ReserveInFuture(f"as_of {as_of} is after the block's time {ctx.timestamp}")
    if latest is not None and as_of <= latest.as_of:
        raise E.ReserveOutOfOrder(f"as_of {as_of} is not after the latest report's "
                                  f"{latest.as_of}")


def check_auditor(view: StateView, sender: bytes, asset: Asset) -> Institution:
    """The co-signer is licensed validator or observer now, and is not the asset's issuer."""
    for role in AUDITOR_ROLES:
        inst = authority_as(view, sender, role)
        if inst is not None:
            if inst.name == asset.issuer:
                raise E.Unauthorized(f"{inst.name} issues {asset.code}: it cannot audit itself")
            return inst
    raise E.NotLicensed("an auditor is an institution licensed as validator or observer")


def check_report_attestable(reserves: Reserves | None, report: bytes) -> Reserves:
    """The named report is the asset's latest, and no auditor co-signed it yet."""
    if reserves is None or reserves.report != report:
        raise E.UnknownReport(f"report {report.hex()[:16]} is not the asset's latest")
    if reserves.auditor:
        raise E.AlreadyAttested(f"the report was co-signed by {reserves.auditor}")
    return reserves
