"""Supervisory reports: execution tells the supervisor of large and of structured transfers.

An asset may carry a report threshold (minor units; 0: none), set in genesis or by the
regulator's asset_add / asset_update. Every committed payment of such an asset is judged (a
transfer; each leg of an FX settlement; an escrow, when it is made, as its payment is checked
then; a loan's disbursement and each repayment), so value moved by settlement or lending
rather than by transfer is reported alike
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

from node.ledger.genesis import Asset, Tier
from node.ledger.rules.context import Context
from node.ledger.rules.limits import sent_in_window
from node.ledger.state import StateView, SupervisoryReport
from node.ledger.types import ReportKind


def report_kind(threshold: int, amount: int, window_total: int) -> ReportKind | None:
    """Large, structuring (the window total crossed the threshold with this amount), or none."""
    if amount >= threshold:
        return ReportKind.LARGE
    if window_total - amount < threshold <= window_total:
        return ReportKind.STRUCTURING
    return None


def apply_supervisory_report(view: StateView, ctx: Context, tx_hash: bytes, asset: Asset,
                             sender: bytes, to: bytes, amount: int,
                             sender_tier: Tier | None) -> None:
    """After a payment of `amount` of an asset with a threshold from sender to `to` (already
    counted in the sender's window, unless it keeps none: `sender_tier` None, an exempt
    institution): record the report it calls for, if any. One attribute test without."""
    if not asset.report_threshold:
        return
    window_total = (sent_in_window(view.account(sender), asset.code, ctx.timestamp)
                    if sender_tier is not None else 0)
    kind = report_kind(asset.report_threshold, amount, window_total)
    if kind is not None:
        view.add_report(SupervisoryReport(view.report_count(), kind, asset.code, sender, to,
                                          amount, window_total, asset.report_threshold,
                                          ctx.timestamp, tx_hash))
