"""The reconciliation report: a :class:`~cspkit.billing.reconcile.ReconciliationResult` written as a formatted Excel
workbook (Summary, Charts, Variances, Customers, Subscriptions, Line items: layout in :mod:`cspkit.reports.workbook`)
or as CSV/Parquet files, each written atomically (a temporary file, then renamed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from cspkit.reports.recon_summary import charts_sheet, summary_sheet, variances_sheet
from cspkit.reports.workbook import (
    EXCEL_MAX_DATA_ROWS,
    ZIP64_LINES,
    Styles,
    atomic_path,
    finish_sheet,
    write_frames,
    write_table,
)

__all__ = ["write_reconciliation_report", "write_reconciliation_workbook"]


def write_reconciliation_workbook(
    result: Any,
    path: str | os.PathLike[str],
    *,
    sources: list[str] | None = None,
    include_lines: bool = True,
    max_rows_per_sheet: int = EXCEL_MAX_DATA_ROWS,
) -> Path:
    """Write a :class:`~cspkit.billing.reconcile.ReconciliationResult` as an Excel workbook, atomically.

    Args:
        result: the reconciliation result.
        path: the ``.xlsx`` to write (parent directories are created).
        sources: where the lines came from (file names or ``invoice G…``), shown on the Summary sheet.
        include_lines: write the Line items sheets (set False for a summary-only workbook).
        max_rows_per_sheet: data rows per Line items sheet (Excel's limit by default; lower in tests).
    Returns:
        The path written.
    """
    import xlsxwriter

    target = Path(path)
    with atomic_path(target) as tmp:
        workbook = xlsxwriter.Workbook(
            str(tmp),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "nan_inf_to_errors": True,
            },  # fmt: skip
        )
        if include_lines and result.line_count > ZIP64_LINES:
            workbook.use_zip64()  # the sheet XML of ~1M lines passes ZIP's 4 GiB limit
        styles = Styles(workbook)
        summary_sheet(workbook, styles, result, sources or [])
        charts_sheet(workbook, styles, result)
        variances_sheet(workbook, styles, result.variances)
        _frame_sheet(workbook, styles, "Customers", result.customers, currency_rows=True)
        _frame_sheet(workbook, styles, "Subscriptions", result.subscriptions, currency_rows=True)
        if include_lines:
            _line_sheets(workbook, styles, result, max_rows_per_sheet)
        workbook.close()
    return target


_LINE_BATCH = 65_536


def _line_sheets(workbook: Any, styles: Styles, result: Any, per_sheet: int) -> None:
    """The Line items sheets (``per_sheet`` data rows each), written from the result's line batches
    (:meth:`~cspkit.billing.reconcile.ReconciliationResult.iter_lines`) so the lines are never one frame."""
    ws, k, in_sheet, widths, columns = None, 0, 0, [], 0
    for batch in result.iter_lines(_LINE_BATCH):
        offset = 0
        while offset < len(batch):
            if ws is None or in_sheet == per_sheet:
                if ws is not None:
                    finish_sheet(ws, widths, 0, in_sheet + 1, columns)
                k += 1
                ws, in_sheet = workbook.add_worksheet("Line items" if k == 1 else f"Line items ({k})"), 0
            part = batch.iloc[offset : offset + min(len(batch) - offset, per_sheet - in_sheet)]
            if in_sheet == 0:
                _, widths = write_table(ws, styles, part, 0)
                columns = len(part.columns)
            else:
                write_table(ws, styles, part, in_sheet, header=False)
            in_sheet += len(part)
            offset += len(part)
    if ws is None:  # no lines: the header alone
        _frame_sheet(workbook, styles, "Line items", result.lines)
    else:
        finish_sheet(ws, widths, 0, in_sheet + 1, columns)


def _frame_sheet(
    workbook: Any,
    styles: Styles,
    name: str,
    frame: pd.DataFrame,
    *,
    start: int = 0,
    stop: int | None = None,
    currency_rows: bool = False,
    status_column: str | None = None,
) -> None:
    ws = workbook.add_worksheet(name)
    last, widths = write_table(
        ws, styles, frame, 0, start=start, stop=stop, currency_rows=currency_rows, status_column=status_column
    )
    finish_sheet(ws, widths, 0, last, len(frame.columns))


def write_reconciliation_report(
    result: Any, path: str | os.PathLike[str], *, fmt: str = "xlsx", sources: list[str] | None = None
) -> list[Path]:
    """Write the report in ``fmt`` (``xlsx``, ``csv`` or ``parquet``); return the files written.

    CSV and Parquet write one file per result frame; a ``path`` named ``x.csv`` (``x.parquet``) holds the
    variances and ``x.tieout.csv``, ``x.lines.csv``, ... lie beside it."""
    if fmt == "xlsx":
        return [write_reconciliation_workbook(result, path, sources=sources)]
    return write_frames(result.frames(), path, fmt=fmt, primary="variances")
