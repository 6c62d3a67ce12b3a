"""Azure plan daily rated usage from the APIs, as the typed daily-usage frame the file reader gives.

Four sources, one frame (the 55 PascalCase columns of billing-formats.md §1.2 + SourceFile/SourceRow, money exact),
so :func:`cspkit.billing.usage.reconcile_usage` reconciles them exactly like files:

==================  =========================================================================================
``v1``, billed      ``GET /invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=usagelineitems
                    &currencycode=&period=previous&size=2000`` + seek paging (partner-center-api.md §6.1; doc
                    "Get invoice billed commercial consumption line items"): :meth:`Invoices.usage_line_items`
``v1``, unbilled    ``GET /invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=usagelineitems
                    &currencycode=&period=current|previous&size=2000`` (doc "Get invoice unbilled commercial
                    consumption line items")
``graph``, billed   ``POST /v1.0/reports/partners/billing/usage/billed/export`` ``{"invoiceId", "attributeSet"}``,
                    poll, manifest, gzip JSON Lines blobs (doc "Billed and unbilled daily rated usage
                    reconciliation API v2 (GA)", Graph ``partners-billing-billedusage-export``)
``graph``, unbilled ``POST /v1.0/reports/partners/billing/usage/unbilled/export`` ``{"currencyCode",
                    "billingPeriod": "current"|"last", "attributeSet"}`` (``partners-billing-unbilledusage-export``)
==================  =========================================================================================

Doc pages: https://learn.microsoft.com/partner-center/developer/get-invoice-unbilled-consumption-lineitems (v1
unbilled; its billed sibling "Get invoice billed commercial consumption line items"; both deprecated for new commerce
in favour of v2) and https://learn.microsoft.com/partner-center/developer/get-billed-unbilled-usage-reconciliation
(v2 GA: the Graph exports); the ``DailyRatedUsageLineItem`` SDK class lists the same getters.

Field names relied on (``DailyRatedUsageLineItem``, partner-center-api.md §6.5; the Graph export's keys are the
same camelCase names): the camelCase of every file column, and the documented exceptions of billing-formats.md
§1.6 — ``unitOfMeasure`` → Unit, ``resourceUri`` → ResourceURI, ``resellerMpnId`` → Tier2MpnId,
``rateOfPartnerEarnedCredit``/``rateOfCredit`` (fractions: 0.15 → 15 %) → PartnerEarnedCreditPercentage/
CreditPercentage; ``hasPartnerEarnedCredit`` (boolean) is kept as an extra text column; the v1 envelope keys
(``attributes``, ``invoiceLineItemType``, ``billingProvider``) are dropped. The mapping itself is the readers' one
alias table (:func:`cspkit.billing.recon_columns.canonical_column`), never repeated here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from cspkit.billing.exports import v1_lines_to_frame
from cspkit.billing.recon_frame import concat_recon_frames, empty_recon_frame

__all__ = ["USAGE_APIS", "fetch_usage"]

USAGE_APIS = ("graph", "v1")
"""Where daily rated usage comes from: Graph's asynchronous usage export (default: Microsoft's current API) or the
v1 line-item API (retired by Microsoft for billed periods from September 2022)."""

PERIODS = ("current", "previous")


def fetch_usage(
    pc: Any,
    *,
    invoice_id: str | None = None,
    currency: str | None = None,
    period: str = "current",
    api: str = "graph",
    out_dir: str | os.PathLike[str] | None = None,
    counted: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_status: Callable[[Any], None] | None = None,
    progress: Callable[[Any], None] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Billed (``invoice_id``) or unbilled (``currency`` + ``period``) daily rated usage as the typed daily frame.

    Args:
        pc: the client (``invoices``, ``billing_exports``).
        invoice_id: the invoice (``G012345678``) for billed usage; exclusive with ``currency``.
        currency: ISO 4217 billing currency (``USD``) for unbilled usage.
        period: ``current`` (the open billing period) or ``previous`` (last period not invoiced yet; Graph's
            ``last``); unbilled usage only.
        api: ``graph`` or ``v1`` (see the module docstring).
        out_dir: where Graph blobs go (default ``reports/exports/{billed-usage-ID|unbilled-usage-CCY-PERIOD}``;
            finished blobs are not downloaded again).
        counted: wraps the v1 item iterator (a progress display); on_note: told before a long wait;
            on_status/progress: the Graph export's poll and blob reports.
    Returns:
        ``(frame, sentence naming the source and its rows)``; an empty typed frame when Graph answers "No data
        available".
    Raises:
        ValueError: not exactly one of ``invoice_id``/``currency``, an unknown ``api`` or ``period``.
        CspkitError subclasses: from the calls (NotFoundError for an unknown invoice) and the readers
            (InputFileError naming the item/blob line and column of a bad value).
    """
    api = api.lower()
    if api not in USAGE_APIS:
        raise ValueError(f"api must be one of {', '.join(USAGE_APIS)}, not {api!r}")
    if bool(invoice_id) == bool(currency):
        raise ValueError("give either an invoice id (billed usage) or a currency (unbilled usage)")
    period = period.lower()
    if period == "last":
        period = "previous"
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    ccy = (currency or "").strip().upper()
    label = f"invoice {invoice_id}" if invoice_id else f"unbilled {ccy} {period}"
    if api == "v1":
        if invoice_id:
            items: Iterable[Any] = pc.invoices.usage_line_items(invoice_id)
        else:
            items = pc.invoices.unbilled_line_items(currency=ccy, period=period, line_item_type="usagelineitems",
                                                    raw=True)
        source = invoice_id or f"unbilled-{ccy}-{period}"
        frame = v1_lines_to_frame(counted(items) if counted else items, source=source, kind="daily")
        return frame, f"{label}: {len(frame):,} daily usage rows from the v1 line-item API"
    kind = "billed-usage" if invoice_id else "unbilled-usage"
    name = f"{kind}-{invoice_id}" if invoice_id else f"{kind}-{ccy}-{period}"
    folder = Path(out_dir) if out_dir is not None else Path("reports") / "exports" / name
    if on_note is not None:
        on_note(f"requesting the Graph {kind} export ({label})…")
    export = pc.billing_exports.export(
        kind, out_dir=folder, invoice_id=invoice_id, currency_code=ccy or None,
        billing_period="last" if period == "previous" else period, attribute_set="full", on_status=on_status,
        progress=progress,
    )
    if export.no_data:
        return empty_recon_frame("daily"), f"{label}: no usage (Graph: No data available)"
    frame = concat_recon_frames(list(export.iter_frames()), "daily")
    blobs = len(export.blobs)
    return frame, f"{label}: {len(frame):,} daily usage rows from the Microsoft Graph export ({blobs} blob(s))"
