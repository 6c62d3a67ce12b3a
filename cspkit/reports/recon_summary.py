"""The reconciliation workbook's finance pages: the Summary in blocks, grand totals per currency, the conditional
formats that point at what needs a look, and native Excel charts.

* **Summary** — blocks one under the other, each with a section title and its own header row: the report (period,
  sources, line and finding counts), the invoice tie-out, totals by customer, totals by charge type and the variances
  by category. No frozen panes and no autofilter: the blocks have different columns, so a header frozen over all of
  them would label the wrong table. Under the tie-out, customer and charge-type blocks one bold **grand total row per
  currency** sums the block with ``SUMIFS`` over its own rows (Excel and LibreOffice recalculate; the value computed
  here is stored too, for readers that do not). Amounts are never added across currencies.
* **Conditional formats** — a tie-out row whose ``Difference`` is not zero at the cent is red (billing-formats.md §4.1:
  the recon's Σ Total must match the invoice); a variance row of severity ``error``
  (:data:`cspkit.billing.recon_shared.CATEGORIES`) is red on the Summary (when its count is not 0) and on the
  Variances sheet.
* **Charts** — a sheet of native bar charts: spend (Σ ``Total``) by customer, one chart per currency with the
  :data:`CHART_CUSTOMERS` largest customers and the rest as one "Other" bar, and the findings by category, errors red
  and warnings amber. Their data sit beside them on the sheet, so the charts need nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from cspkit.reports.formats import COUNT_COLUMNS, MONEY_COLUMNS, VARIANCE_VALUE_COLUMNS, VARIANCE_VALUE_KINDS
from cspkit.reports.workbook import Styles, finish_sheet, write_table

__all__ = ["CHART_CUSTOMERS", "charts_sheet", "error_rows_rule", "summary_sheet", "variances_sheet"]

CHART_CUSTOMERS = 15
"""Customers drawn one by one on each spend chart (largest Σ Total first); the others share an "Other" bar."""

_ERROR_FILL = "#C00000"
_WARNING_FILL = "#FFC000"


def _decimal(value: Any) -> Decimal | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _grand_totals(ws: Any, styles: Styles, frame: pd.DataFrame, header_row: int, row: int) -> int:
    """Write one bold grand-total row per currency under the table whose header is at ``header_row`` and whose
    data rows end before ``row``; money and count columns are ``SUMIFS`` of the table's rows with that currency.
    Returns the next free row."""
    if "Currency" not in frame.columns or frame.empty:
        return row
    names = [str(c) for c in frame.columns]
    currency_col = names.index("Currency")
    label_col = next((c for c, name in enumerate(names) if name != "Currency"), currency_col)
    first, last = header_row + 1, row - 1
    ccy_range = f"${xl_col_to_name(currency_col)}${first + 1}:${xl_col_to_name(currency_col)}${last + 1}"
    currencies = sorted({str(c) for c in frame["Currency"].dropna() if str(c)})
    values = {name: frame[name].astype(object).tolist() for name in names if name in MONEY_COLUMNS | COUNT_COLUMNS}
    ccy_values = frame["Currency"].astype(object).tolist()
    label = styles.total
    for ccy in currencies:
        ws.write_string(row, label_col, "Grand total", label)
        ws.write_string(row, currency_col, ccy, label)
        quoted = ccy.replace('"', '""')
        for name, column in values.items():
            c = names.index(name)
            if c in (label_col, currency_col) or name == "SourceRow":
                continue
            cached = sum((d for v, k in zip(column, ccy_values, strict=True) if k == ccy and (d := _decimal(v))
                          is not None), Decimal(0))  # fmt: skip
            letter = xl_col_to_name(c)
            formula = f'=SUMIFS(${letter}${first + 1}:${letter}${last + 1},{ccy_range},"{quoted}")'
            kind = "count" if name in COUNT_COLUMNS else "money"
            ws.write_formula(row, c, formula, styles.number(kind, ccy if kind == "money" else None, bold=True),
                             float(cached))  # fmt: skip
        row += 1
    return row


def error_rows_rule(ws: Any, styles: Styles, first_row: int, last_row: int, n_columns: int, column: int,
                    *, count_column: int | None = None) -> None:
    """Colour rows ``first_row``..``last_row`` (0-based, inclusive) red where column ``column`` is ``error`` (and,
    with ``count_column``, that count is above 0): a conditional format, so it follows sorting and filtering."""
    if last_row < first_row or n_columns == 0:
        return
    severity = xl_rowcol_to_cell(first_row, column, col_abs=True)
    criteria = f'{severity}="error"'
    if count_column is not None:
        criteria = f"AND({criteria},{xl_rowcol_to_cell(first_row, count_column, col_abs=True)}>0)"
    ws.conditional_format(first_row, 0, last_row, n_columns - 1,
                          {"type": "formula", "criteria": f"={criteria}", "format": styles.error})  # fmt: skip


def _differs_rule(ws: Any, styles: Styles, frame: pd.DataFrame, first_row: int, last_row: int) -> None:
    """Colour tie-out rows whose Difference is not 0 at the cent (an invoice that does not tie)."""
    if last_row < first_row or "Difference" not in frame.columns:
        return
    cell = xl_rowcol_to_cell(first_row, list(frame.columns).index("Difference"), col_abs=True)
    ws.conditional_format(first_row, 0, last_row, len(frame.columns) - 1,
                          {"type": "formula", "criteria": f"=AND(ISNUMBER({cell}),ROUND({cell},2)<>0)",
                           "format": styles.error})  # fmt: skip


def summary_sheet(workbook: Any, styles: Styles, result: Any, sources: list[str]) -> None:
    """Write the Summary sheet of a :class:`~cspkit.billing.reconcile.ReconciliationResult` (layout: module doc)."""
    ws = workbook.add_worksheet("Summary")
    period = (
        f"{result.period_start:%Y-%m-%d} – {result.period_end:%Y-%m-%d}" if result.period_start is not None else "?"
    )
    counts = result.variance_counts
    errors = int(counts.loc[counts["Severity"] == "error", "Count"].sum()) if len(counts) else 0
    warnings = int(counts.loc[counts["Severity"] == "warning", "Count"].sum()) if len(counts) else 0
    not_tying = int((result.tieout["Status"] == "differs").sum()) if "Status" in result.tieout.columns else 0
    ws.write_string(0, 0, "Invoice reconciliation", styles.title)
    facts: list[tuple[str, Any, Any]] = [
        ("Billing period", period, None),
        ("Generated (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), None),
        ("Sources", "; ".join(sources) or "-", None),
        ("Lines", result.line_count, styles.integer),
        ("Invoices that do not tie", not_tying, styles.error if not_tying else styles.integer),
        ("Error findings", errors, styles.error if errors else styles.integer),
        ("Warning findings", warnings, styles.warning if warnings else styles.integer),
    ]
    facts += [("Note", note, None) for note in getattr(result, "notes", [])]
    row = 1
    for label, value, fmt in facts:
        ws.write_string(row, 0, label, styles.label)
        if isinstance(value, int):
            ws.write_number(row, 1, value, fmt)
        else:
            ws.write_string(row, 1, value)
        row += 1
    widths: list[float] = [26.0, 24.0]
    customers = result.customers[["CustomerId", "CustomerName", "Currency", "Lines", "Subtotal", "TaxTotal", "Total",
                                  "Variances"]]  # fmt: skip
    blocks: list[tuple[str, pd.DataFrame, str | None, bool]] = [
        ("Invoice tie-out", result.tieout, "Status", True),
        ("Totals by customer", customers, None, True),
        ("Totals by charge type", result.charge_types, None, True),
        ("Variances by category", counts, "Severity", False),
    ]
    for title, frame, status, totals in blocks:
        row += 1
        ws.write_string(row, 0, title, styles.section)
        header = row + 1
        row, table_widths = write_table(ws, styles, frame, header, currency_rows=True, status_column=status)
        if title == "Invoice tie-out":
            _differs_rule(ws, styles, frame, header + 1, row - 1)
        elif title == "Variances by category" and {"Severity", "Count"} <= set(frame.columns):
            names = list(frame.columns)
            error_rows_rule(ws, styles, header + 1, row - 1, len(names), names.index("Severity"),
                            count_column=names.index("Count"))  # fmt: skip
        if totals:
            row = _grand_totals(ws, styles, frame, header, row)
        widths = [max(a, b) for a, b in zip(widths + [0.0] * len(table_widths), table_widths + [0.0] * len(widths),
                                            strict=False)]  # fmt: skip
    for c, width in enumerate(widths):
        ws.set_column(c, c, min(max(width, 12.0), 60))


def charts_sheet(workbook: Any, styles: Styles, result: Any) -> None:
    """Write the Charts sheet: spend by customer per currency and findings by category (layout: module doc)."""
    ws = workbook.add_worksheet("Charts")
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 16)
    ws.write_string(0, 0, "Charts", styles.title)
    row = 2
    customers = result.customers
    for ccy in sorted({str(c) for c in customers["Currency"].dropna()}):
        part = customers[customers["Currency"].astype(object) == ccy]
        totals = [(str(name or cid), _decimal(total) or Decimal(0)) for name, cid, total in
                  zip(part["CustomerName"].astype(object), part["CustomerId"].astype(object),
                      part["Total"].astype(object), strict=True)]  # fmt: skip
        totals.sort(key=lambda item: item[1], reverse=True)
        shown, rest = totals[:CHART_CUSTOMERS], totals[CHART_CUSTOMERS:]
        if rest:
            shown.append((f"Other ({len(rest)} customers)", sum((t for _, t in rest), Decimal(0))))
        ws.write_string(row, 0, f"Spend by customer ({ccy})", styles.section)
        ws.write_row(row + 1, 0, ["Customer", "Total"], styles.header)
        first = row + 2
        for i, (name, total) in enumerate(shown):
            ws.write_string(first + i, 0, name)
            ws.write_number(first + i, 1, float(total), styles.number("money", ccy))
        last = first + len(shown) - 1
        chart = workbook.add_chart({"type": "bar"})
        chart.add_series({
            "name": f"Total ({ccy})",
            "categories": ["Charts", first, 0, last, 0],
            "values": ["Charts", first, 1, last, 1],
            "fill": {"color": "#1F4E78"},
        })  # fmt: skip
        chart.set_title({"name": f"Spend by customer ({ccy})"})
        chart.set_x_axis({"num_format": f'#,##0 "{ccy}"', "major_gridlines": {"visible": True}})
        chart.set_y_axis({"reverse": True})  # largest at the top, like the table
        chart.set_legend({"none": True})
        height = max(240, 24 * len(shown) + 90)
        chart.set_size({"width": 640, "height": height})
        ws.insert_chart(row, 3, chart)
        row += max(len(shown) + 3, -(-height // 20) + 1)  # under both the table and the chart (20 px rows)
    counts = result.variance_counts
    ws.write_string(row, 0, "Findings by category", styles.section)
    ws.write_row(row + 1, 0, ["Category", "Count", "Severity"], styles.header)
    first = row + 2
    for i, (category, count, severity) in enumerate(zip(counts["Category"].astype(object),
                                                         counts["Count"].astype(int), counts["Severity"].astype(object),
                                                         strict=True)):  # fmt: skip
        ws.write_string(first + i, 0, str(category))
        ws.write_number(first + i, 1, int(count), styles.integer)
        ws.write_string(first + i, 2, str(severity), styles.error if severity == "error" else styles.warning)
    if len(counts):
        last = first + len(counts) - 1
        chart = workbook.add_chart({"type": "bar"})
        chart.add_series({
            "name": "Findings",
            "categories": ["Charts", first, 0, last, 0],
            "values": ["Charts", first, 1, last, 1],
            "points": [{"fill": {"color": _ERROR_FILL if s == "error" else _WARNING_FILL}}
                       for s in counts["Severity"].astype(object)],
            "data_labels": {"value": True},
        })  # fmt: skip
        chart.set_title({"name": "Findings by category (red: error, amber: warning)"})
        chart.set_y_axis({"reverse": True})
        chart.set_x_axis({"num_format": "#,##0", "major_gridlines": {"visible": True}})
        chart.set_legend({"none": True})
        chart.set_size({"width": 640, "height": max(280, 24 * len(counts) + 90)})
        ws.insert_chart(row, 3, chart)


def variances_sheet(workbook: Any, styles: Styles, variances: pd.DataFrame) -> None:
    """The Variances sheet: Expected/Actual/Difference formatted by the category's kind (a price, seats, a rate or
    money: :data:`cspkit.reports.formats.VARIANCE_VALUE_KINDS`) in the row's currency; error rows red."""
    ws = workbook.add_worksheet("Variances")
    kinds = None
    if "Category" in variances.columns:
        by_row = [VARIANCE_VALUE_KINDS.get(str(c), "price") for c in variances["Category"].astype(object)]
        kinds = {name: by_row for name in VARIANCE_VALUE_COLUMNS if name in variances.columns}
    last, widths = write_table(ws, styles, variances, 0, currency_rows=True, status_column="Severity",
                               row_kinds=kinds)  # fmt: skip
    finish_sheet(ws, widths, 0, last, len(variances.columns))
    if "Severity" in variances.columns:
        error_rows_rule(ws, styles, 1, last - 1, len(variances.columns), list(variances.columns).index("Severity"))
