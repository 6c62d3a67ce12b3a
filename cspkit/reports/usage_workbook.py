"""Azure plan usage report: an Excel workbook (xlsxwriter) and CSV/Parquet exports of :class:`UsageResult`'s frames.

Workbook layout (every table with a styled, frozen header row, an autofilter and fitted column widths, as in
:mod:`cspkit.reports.workbook`):

* **Summary** — sources and notes; totals per billing/pricing currency; partner earned credit: applied, not applied
  (first party, with the 15 % at stake), lost (subscriptions where it stopped, with the day and the amount), and
  marketplace rows (never eligible); the invoice tie when an invoice reconciliation file was given;
* **Customers**, **Subscriptions** — spend per customer / per Azure subscription, billing and pricing currency;
* **PEC** — partner earned credit per Azure subscription (status, day it stopped, money at stake), then the
  marketplace rows per publisher;
* **Anomalies** — spend spikes, new meters, resources billed after a cancellation;
* **Meters** — spend per meter category, then per meter;
* **Resource groups**, **Daily** — spend per resource group and per customer and day;
* **Daily spend chart** — a native Excel line chart of daily spend of the top customers, over its data table;
* **Invoice tie** — when given: per subscription, then per product/SKU/availability.

Written to a temporary file beside the target and moved into place (:func:`cspkit.reports.workbook.atomic_path`),
so nobody ever sees a half-written report.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from cspkit.reports.workbook import (
    EXCEL_MAX_DATA_ROWS,
    Styles,
    atomic_path,
    finish_sheet,
    write_frames,
    write_table,
)

__all__ = ["TOP_CUSTOMERS", "daily_spend_pivot", "write_usage_report", "write_usage_workbook"]

TOP_CUSTOMERS = 5
"""Customers drawn on the daily spend chart (largest Σ BillingPreTaxTotal first)."""


def daily_spend_pivot(result: Any, top: int = TOP_CUSTOMERS) -> pd.DataFrame:
    """Daily spend of the ``top`` customers: one row per UsageDate, one float column per customer (billing currency).

    Column names are ``CustomerName (first 8 of CustomerId) CCY`` so customers with the same name stay apart.
    Floats are for drawing only; the exact sums are in ``result.daily``.
    """
    customers = result.customers.head(top)
    daily = result.daily
    columns: dict[str, pd.Series] = {}
    for cid, name, ccy in zip(customers["CustomerId"], customers["CustomerName"], customers["BillingCurrency"],
                              strict=True):  # fmt: skip
        part = daily[(daily["CustomerId"] == cid) & (daily["BillingCurrency"] == ccy)]
        values = part["BillingPreTaxTotal"].astype(object).map(lambda v: float(v) if v is not None else 0.0)
        label = f"{name or '?'} ({str(cid)[:8]}) {ccy}"
        columns[label] = pd.Series(values.to_numpy(), index=pd.to_datetime(part["UsageDate"]).to_numpy())
    if not columns:
        return pd.DataFrame({"UsageDate": pd.Series([], dtype="datetime64[ns]")})
    frame = pd.DataFrame(columns).sort_index().fillna(0.0)
    frame.index.name = "UsageDate"
    return frame.reset_index()


def _sheet(workbook: Any, styles: Styles, name: str, tables: list[tuple[str | None, pd.DataFrame]]) -> None:
    ws = workbook.add_worksheet(name)
    row, widths, first_header, first_len, first_cols = 0, [], None, 0, 0
    for title, frame in tables:
        if title is not None:
            ws.write_string(row, 0, title, styles.section)
            row += 1
        if first_header is None:
            first_header, first_len, first_cols = row, len(frame), len(frame.columns)
        shown = frame.iloc[:EXCEL_MAX_DATA_ROWS - row - 2] if len(frame) > EXCEL_MAX_DATA_ROWS - row - 2 else frame
        row, table_widths = write_table(ws, styles, shown, row, status_column="Status" if "Status" in frame else None)
        if len(shown) < len(frame):
            ws.write_string(row, 0, f"{len(frame) - len(shown):,} more rows: see the CSV/Parquet export")
            row += 1
        widths = [max(a, b) for a, b in zip(widths + [0.0] * len(table_widths),
                                            table_widths + [0.0] * len(widths), strict=False)]  # fmt: skip
        row += 1
    if len(tables) == 1 and first_header is not None:
        finish_sheet(ws, widths, first_header, first_header + first_len, first_cols)
    else:
        for c, width in enumerate(widths):
            ws.set_column(c, c, min(width, 60))
        if first_header is not None:
            ws.freeze_panes(first_header + 1, 0)


def _pec_table(result: Any) -> pd.DataFrame:
    """PEC applied / not applied / lost / marketplace per currency, with amounts (Summary)."""
    rows = []
    s = result.summary
    for _, r in s.iterrows():
        ccy = r["PricingCurrency"]
        rows += [
            {"Item": "PEC applied", "Currency": ccy, "Rows": r["PecRows"], "Amount": r["PecBillingPreTaxTotal"],
             "AtStake": Decimal(0)},
            {"Item": "PEC not applied (first party)", "Currency": ccy, "Rows": r["NotAppliedRows"],
             "Amount": r["NotAppliedPricingPreTaxTotal"], "AtStake": r["AtStake"]},
            {"Item": "Credit Not Applied rows (first party + marketplace)", "Currency": ccy,
             "Rows": r["CreditNotAppliedRows"], "Amount": None, "AtStake": r["AtStake"]},
            {"Item": "PEC lost (subscriptions where it stopped)", "Currency": ccy, "Rows": r["LostSubscriptions"],
             "Amount": None, "AtStake": r["LostAtStake"]},
            {"Item": "Marketplace (never eligible)", "Currency": ccy, "Rows": r["MarketplaceRows"],
             "Amount": r["MarketplaceBillingPreTaxTotal"], "AtStake": Decimal(0)},
        ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["Item", "Currency", "Rows", "Amount", "AtStake"])
    for c in ("Amount", "AtStake"):
        frame[c] = frame[c].astype(object).map(lambda v: None if v is None or v is pd.NA else Decimal(v))
    return frame


def _chart_sheet(workbook: Any, styles: Styles, result: Any, top: int) -> None:
    pivot = daily_spend_pivot(result, top)
    ws = workbook.add_worksheet("Daily spend chart")
    title = f"Daily spend of the top {top} customers (BillingPreTaxTotal, billing currency)"
    ws.write_string(0, 0, title, styles.title)
    header = 2
    last, widths = write_table(ws, styles, pivot, header)
    for c, width in enumerate(widths):
        ws.set_column(c, c, min(max(width, 12), 40))
    n = len(pivot)
    if n == 0 or len(pivot.columns) < 2:
        return
    chart = workbook.add_chart({"type": "line"})
    for col in range(1, len(pivot.columns)):
        chart.add_series(
            {
                "name": ["Daily spend chart", header, col],
                "categories": ["Daily spend chart", header + 1, 0, header + n, 0],
                "values": ["Daily spend chart", header + 1, col, header + n, col],
                "marker": {"type": "circle", "size": 4},
            }
        )
    chart.set_title({"name": "Daily spend, top customers"})
    chart.set_x_axis({"name": "Usage date", "date_axis": True, "num_format": "yyyy-mm-dd"})
    chart.set_y_axis({"name": "BillingPreTaxTotal"})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 960, "height": 480})
    ws.insert_chart(header, len(pivot.columns) + 1, chart)


def write_usage_workbook(
    result: Any, path: str | os.PathLike[str], *, sources: list[str] | None = None, top: int = TOP_CUSTOMERS
) -> Path:
    """Write the usage workbook (sheets in the module docstring) atomically; return its path.

    Args:
        result: a :class:`cspkit.billing.usage.UsageResult`.
        path: the ``.xlsx`` to write (its folder is created).
        sources: lines describing the inputs (default: ``result.sources``).
        top: customers on the chart.
    """
    import xlsxwriter

    target = Path(path)
    with atomic_path(target) as tmp:
        workbook = xlsxwriter.Workbook(str(tmp), {"nan_inf_to_errors": True})
        styles = Styles(workbook)
        ws = workbook.add_worksheet("Summary")
        ws.write_string(0, 0, "Azure plan daily rated usage", styles.title)
        info = [("Generated (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")),
                ("Rows read", f"{result.rows_read:,}")]  # fmt: skip
        info += [("Source", s) for s in (sources if sources is not None else result.sources)]
        info += [("Note", n) for n in result.notes]
        for i, (k, v) in enumerate(info, start=1):
            ws.write_string(i, 0, k)
            ws.write_string(i, 1, v)
        row = len(info) + 2
        widths = [18.0, 30.0]
        tables = [("Totals per currency", result.summary[["BillingCurrency", "PricingCurrency", "Rows",
                                                          "BillingPreTaxTotal", "PricingPreTaxTotal"]]),
                  ("Partner earned credit", _pec_table(result))]  # fmt: skip
        if len(result.invoice_tie):
            tables.append(("Invoice tie (per subscription)", result.invoice_tie))
        for title, frame in tables:
            ws.write_string(row, 0, title, styles.section)
            row, w = write_table(ws, styles, frame, row + 1, status_column="Status" if "Status" in frame else None)
            widths = [max(a, b) for a, b in zip(widths + [0.0] * len(w), w + [0.0] * len(widths), strict=False)]
            row += 1
        for c, width in enumerate(widths):
            ws.set_column(c, c, min(width, 60))
        _sheet(workbook, styles, "Customers", [(None, result.customers)])
        _sheet(workbook, styles, "Subscriptions", [(None, result.subscriptions)])
        _sheet(workbook, styles, "PEC", [("Partner earned credit per Azure subscription (first party)", result.pec),
                                         ("Marketplace rows (not PEC-eligible)", result.marketplace)])  # fmt: skip
        _sheet(workbook, styles, "Anomalies", [(None, result.anomalies)])
        _sheet(workbook, styles, "Meters", [("Per meter category", result.meter_categories),
                                            ("Per meter", result.meters)])  # fmt: skip
        _sheet(workbook, styles, "Resource groups", [(None, result.resource_groups)])
        _sheet(workbook, styles, "Daily", [(None, result.daily)])
        _chart_sheet(workbook, styles, result, top)
        if len(result.invoice_tie):
            _sheet(workbook, styles, "Invoice tie", [("Per subscription", result.invoice_tie),
                                                     ("Per product / SKU / availability",
                                                      result.invoice_tie_products)])  # fmt: skip
        workbook.close()
    return target


def write_usage_report(
    result: Any, path: str | os.PathLike[str], *, fmt: str = "xlsx", sources: list[str] | None = None
) -> list[Path]:
    """Write the report as ``xlsx`` (one workbook) or ``csv`` / ``parquet`` (one file per frame beside ``path``,
    named ``<stem>.<frame>.<fmt>``, each written atomically; decimals exact). Returns the files written.

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt == "xlsx":
        return [write_usage_workbook(result, path, sources=sources)]
    return write_frames(result.frames(), path, fmt=fmt)
