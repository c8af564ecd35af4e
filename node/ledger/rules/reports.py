"""Supervisory reports: execution tells the supervisor of large and of structured transfers.

An asset may carry a report threshold (minor units; 0: none), set in genesis or by the
regulator's asset_add / asset_update. Every committed transfer of such an asset is judged
    large        its amount is at or above the threshold
    structuring  it is below, but it takes the sender's rolling 24 h total for the asset (the
                 exact window of node.ledger.rules.limits, this transfer included) from below
                 the threshold to at or above it: once per crossing, so a sender is reported
                 again only after its total fell back below and crossed again.
Exempt institutions keep no window (they have no tier limits), so only their large transfers
are reported. A report is a state record (StateView.add_report, records b"q" + slot and b"Q"),
so it is in the state hash and `lichen chain verify` replays it; the state keeps the last
MAX_REPORTS in a ring (the supervisor's node reads them, GET /v1/reports, more often than the
ring turns). A transfer of an asset without a threshold pays one attribute test.
"""
from __future__ import annotations

from node.ledger.genesis import Asset
from node.ledger.rules.context import Context
from node.ledger.state import StateView, SupervisoryReport
from node.ledger.types import ReportKind, Transaction, Transfer


def report_kind(threshold: int, amount: int, window_total: int) -> ReportKind | None:
    """Large, structuring (the window total crossed the threshold with this amount), or none."""
    if amount >= threshold:
        return ReportKind.LARGE
    if window_total - amount < threshold <= window_total:
        return ReportKind.STRUCTURING
    return None


def apply_supervisory_report(view: StateView, tx: Transaction, p: Transfer, asset: Asset,
                             window_total: int, ctx: Context) -> None:
    """After a transfer of an asset with a threshold: record the report it calls for, if any."""
    kind = report_kind(asset.report_threshold, p.amount, window_total)
    if kind is not None:
        view.add_report(SupervisoryReport(view.report_count(), kind, p.asset, tx.sender, p.to,
                                          p.amount, window_total, asset.report_threshold,
                                          ctx.timestamp, tx.hash))
