"""Reconciliation reports: an Excel workbook (xlsxwriter, constant memory) and CSV/Parquet exports of the same frames.

Workbook layout:

* **Summary** — period and sources, the invoice tie-out, totals by customer, totals by charge type and the variance
  counts, one table under the other; amounts carry their currency in the number format (``#,##0.00 "USD"``);
* **Variances** — one row per finding with its category, the evidence and the source row;
* **Customers** and **Subscriptions** — totals per customer / subscription and currency;
* **Line items** — every reconciliation line with the categories found on it, split over ``Line items (2)``, ...
  at Excel's limit of 1,048,575 data rows per sheet.

Every sheet has a styled, frozen header row, an autofilter and column widths fitted to the data. Files are written
to a temporary file in the target directory and moved into place with :func:`os.replace`, so a reader never sees a
half-written report.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EXCEL_MAX_DATA_ROWS",
    "Styles",
    "atomic_path",
    "finish_sheet",
    "parquet_ready",
    "text_ready",
    "write_frames",
    "write_table",
    "write_table_file",
    "write_reconciliation_report",
    "write_reconciliation_workbook",
]

EXCEL_MAX_DATA_ROWS = 1_048_575
"""Data rows that fit on one worksheet under a header row (1,048,576 rows in all)."""

ZIP64_LINES = 200_000
"""Above this many line items the workbook is written with ZIP64 extensions (needed past 4 GiB of sheet XML)."""

MONEY_COLUMNS = frozenset(
    {"Subtotal", "TaxTotal", "Total", "Charges", "Refunds", "InvoiceTotal", "Difference", "Amount",
     "BillingPreTaxTotal", "PricingPreTaxTotal"}
)  # fmt: skip
PRICE_COLUMNS = frozenset({"UnitPrice", "EffectiveUnitPrice", "Expected", "Actual", "PCToBCExchangeRate"})
_EPOCH = np.datetime64("1899-12-30T00:00:00", "ns")
_DAY_NS = 86_400_000_000_000


def user_file_mode() -> int:
    """The mode a new file gets under the process umask (``0o644`` under umask 022)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success move it onto ``path`` (os.replace).

    On error the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, user_file_mode())  # mkstemp makes 0600; a file the user names follows their umask
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# --------------------------------------------------------------------------------------------------------------
# cell conversion: one pass per column, then plain Python lists are written row by row


def _column_values(series: pd.Series) -> tuple[str, list[Any]]:
    """Return (kind, values) with kind in number/date/text/bool and values ready for xlsxwriter (None = empty)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series.dtype):
        values = series.dt.tz_convert(None) if isinstance(series.dtype, pd.DatetimeTZDtype) else series
        raw = values.to_numpy(dtype="datetime64[ns]")
        serial = (raw - _EPOCH).astype("int64") / _DAY_NS
        serial_list = serial.tolist()
        mask = np.isnat(raw)
        if mask.any():
            for i in np.flatnonzero(mask):
                serial_list[i] = None
        return "date", serial_list
    if pd.api.types.is_bool_dtype(series.dtype):
        return "bool", [None if v is None or v is pd.NA else bool(v) for v in series.tolist()]
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_decimal(series.dtype.pyarrow_dtype):
        # via text: each value correctly rounded, like float(Decimal)
        arr = series.array.__arrow_array__()
        floats = pc.cast(pc.cast(arr, pa.string()), pa.float64())
        return "number", [None if v is None else v for v in floats.to_pylist()]
    if pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(series.dtype, pd.CategoricalDtype):
        arr = series.to_numpy(dtype=float, na_value=np.nan)
        out = arr.tolist()
        if np.isnan(arr).any():
            out = [None if v != v else v for v in out]
        return "number", out
    values = series.astype(object).tolist() if isinstance(series.dtype, pd.CategoricalDtype) else series.tolist()
    first = next((v for v in values if v is not None and v is not pd.NA and v == v), None)
    if isinstance(first, (Decimal, int, float)) and not isinstance(first, bool):
        cache: dict[Any, float] = {}
        out = []
        for v in values:
            if v is None or v is pd.NA or v != v:
                out.append(None)
            else:
                f = cache.get(v)
                if f is None:
                    f = cache[v] = float(v)
                out.append(f)
        return "number", out
    if isinstance(first, (datetime, pd.Timestamp)):
        out = []
        for v in values:
            if v is None or v is pd.NA or v != v:
                out.append(None)
            else:
                ts = pd.Timestamp(v)
                ts = ts.tz_convert(None) if ts.tzinfo else ts
                out.append((ts.to_datetime64() - _EPOCH).astype("int64") / _DAY_NS)
        return "date", out
    return "text", [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in values]


def _width(header: str, values: list[Any], kind: str) -> float:
    if kind == "date":
        return max(len(header), 10) + 2
    if kind == "bool":
        return max(len(header), 5) + 2
    sample = values[:500]
    if kind == "number":
        longest = max((len(f"{v:,.2f}") for v in sample if v is not None), default=4)
    else:
        longest = max((len(v) for v in sample if v is not None), default=4)
    return float(min(max(len(header), longest) + 2, 60))


class Styles:
    """The cell formats of one xlsxwriter workbook (header, title, dates, money, prices, integers, status colours,
    one money format per currency), created once per workbook and shared by its sheets."""

    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self.header = workbook.add_format(
            {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E78", "border": 1, "text_wrap": False,
             "valign": "vcenter"}
        )  # fmt: skip
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.section = workbook.add_format({"bold": True, "font_size": 12, "font_color": "#1F4E78"})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.money = workbook.add_format({"num_format": "#,##0.00;[Red]-#,##0.00"})
        self.price = workbook.add_format({"num_format": "#,##0.00####;[Red]-#,##0.00####"})
        self.integer = workbook.add_format({"num_format": "#,##0"})
        self.error = workbook.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
        self.warning = workbook.add_format({"font_color": "#9C5700", "bg_color": "#FFEB9C"})
        self.ok = workbook.add_format({"font_color": "#006100", "bg_color": "#C6EFCE"})
        self._currency: dict[str, Any] = {}

    def currency(self, code: str | None) -> Any:
        if not code:
            return self.money
        fmt = self._currency.get(code)
        if fmt is None:
            safe = "".join(ch for ch in code if ch.isalnum())[:3]
            fmt = self._currency[code] = self.workbook.add_format(
                {"num_format": f'#,##0.00 "{safe}";[Red]-#,##0.00 "{safe}"'}
            )
        return fmt

    def for_column(self, name: str, kind: str) -> Any:
        if kind == "date":
            return self.date
        if kind == "number":
            if name in MONEY_COLUMNS:
                return self.money
            if name in PRICE_COLUMNS:
                return self.price
            if name in ("Lines", "Count", "Subscriptions", "Variances", "SourceRow", "BilledSeats"):
                return self.integer
        return None


def write_table(
    ws: Any,
    styles: Styles,
    frame: pd.DataFrame,
    first_row: int,
    *,
    start: int = 0,
    stop: int | None = None,
    currency_rows: bool = False,
    status_column: str | None = None,
) -> tuple[int, list[float]]:
    """Write a header and frame rows [start, stop) from ``first_row``; return (next free row, column widths)."""
    stop = len(frame) if stop is None else stop
    names = [str(c) for c in frame.columns]
    ws.write_row(first_row, 0, names, styles.header)
    status_styles = {"ties": styles.ok, "differs": styles.error, "error": styles.error, "warning": styles.warning}
    if _bulk_rows_supported(ws) and stop > start:
        # bounded memory: convert and write _FAST_CHUNK rows at a time
        widths: list[float] = []
        for chunk in range(start, stop, _FAST_CHUNK):
            part = frame.iloc[chunk : min(stop, chunk + _FAST_CHUNK)]
            columns = [_column_values(part[c]) for c in part.columns]
            if not widths:
                widths = [_width(name, values, kind) for name, (kind, values) in zip(names, columns, strict=True)]
            currency_values = (
                part["Currency"].astype(object).where(part["Currency"].notna(), None).tolist()
                if currency_rows and "Currency" in part.columns
                else None
            )
            _fast_rows(ws, styles, names, columns, first_row + 1 + chunk - start, currency_values, status_column,
                       status_styles)  # fmt: skip
        return first_row + 1 + stop - start, widths
    part = frame.iloc[start:stop]
    columns = [_column_values(part[c]) for c in part.columns]
    widths = [_width(name, values, kind) for name, (kind, values) in zip(names, columns, strict=True)]
    currency_values = (
        part["Currency"].astype(object).where(part["Currency"].notna(), None).tolist()
        if currency_rows and "Currency" in part.columns
        else None
    )
    n = len(part)
    plans = []
    for c, (name, (kind, values)) in enumerate(zip(names, columns, strict=True)):
        fmt = styles.for_column(name, kind)
        money = currency_values is not None and name in MONEY_COLUMNS
        if kind in ("number", "date"):
            write = ws.write_number
        elif kind == "bool":
            write = ws.write_boolean
        else:
            write = ws.write_string
        plans.append((c, values, write, fmt, money, name == status_column))
    row = first_row + 1
    for i in range(n):
        for c, values, write, fmt, money, status in plans:
            value = values[i]
            if value is None:
                continue
            if money:
                write(row, c, value, styles.currency(currency_values[i]))  # type: ignore[index]
            elif status and value in status_styles:
                write(row, c, value, status_styles[value])
            elif fmt is not None:
                write(row, c, value, fmt)
            else:
                write(row, c, value)
        row += 1
    return row, widths


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_FAST_CHUNK = 20_000


def _text_cell(ref_prefix: str, text: str, style: str) -> str:
    """The inline-string cell XML xlsxwriter writes in constant-memory mode (same escaping rules)."""
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _bulk_rows_supported(ws: Any) -> bool:
    """True when the worksheet is an xlsxwriter 3.x constant-memory sheet whose row file :func:`_fast_rows` can
    append to; any other shape (a future xlsxwriter) takes the cell-by-cell path instead of writing a broken file."""
    return bool(getattr(ws, "constant_memory", False)) and all(
        hasattr(ws, name) for name in ("row_data_fh", "_write_single_row", "dim_rowmin", "dim_rowmax", "previous_row")
    )


def _fast_rows(
    ws: Any,
    styles: Styles,
    names: list[str],
    columns: list[tuple[str, list[Any]]],
    first_row: int,
    currency_values: list[Any] | None,
    status_column: str | None,
    status_styles: dict[str, Any],
) -> None:
    """Write the data rows' XML straight into the constant-memory row file of an xlsxwriter worksheet.

    xlsxwriter builds every cell through several Python calls; here each column's cell fragments are made in one
    list comprehension (distinct strings escaped once) and rows are joined in bulk, producing the same XML
    (``<c r="B7" s="3"><v>12.5</v></c>``, inline strings) about ten times faster. The header row must already be
    written; the worksheet's dimensions and row pointer are updated as if the cells had been written one by one.
    """
    from xlsxwriter.utility import xl_col_to_name

    ws._write_single_row(first_row)  # flush the pending header row into the row file
    n = len(columns[0][1])
    letters = [xl_col_to_name(c) for c in range(len(columns))]
    fh = ws.row_data_fh
    for chunk_start in range(0, n, _FAST_CHUNK):
        chunk_stop = min(n, chunk_start + _FAST_CHUNK)
        numbers = [str(r + 1) for r in range(first_row + chunk_start, first_row + chunk_stop)]
        fragments = []
        for c, (name, (kind, values)) in enumerate(zip(names, columns, strict=True)):
            part = values[chunk_start:chunk_stop]
            letter = letters[c]
            fmt = styles.for_column(name, kind)
            if kind in ("number", "date"):
                if currency_values is not None and name in MONEY_COLUMNS:
                    xf = {k: styles.currency(k)._get_xf_index() for k in set(currency_values[chunk_start:chunk_stop])}
                    ccy = currency_values[chunk_start:chunk_stop]
                    fragments.append([
                        "" if v is None else f'<c r="{letter}{r}" s="{xf[k]}"><v>{v:.16G}</v></c>'
                        for r, v, k in zip(numbers, part, ccy, strict=True)
                    ])  # fmt: skip
                else:
                    style = f' s="{fmt._get_xf_index()}"' if fmt is not None else ""
                    fragments.append([
                        "" if v is None else f'<c r="{letter}{r}"{style}><v>{v:.16G}</v></c>'
                        for r, v in zip(numbers, part, strict=True)
                    ])  # fmt: skip
            elif kind == "bool":
                fragments.append([
                    "" if v is None else f'<c r="{letter}{r}" t="b"><v>{int(bool(v))}</v></c>'
                    for r, v in zip(numbers, part, strict=True)
                ])  # fmt: skip
            else:
                cache: dict[str, str] = {}
                for v in part:
                    if v is not None and v not in cache:
                        style_fmt = status_styles.get(v) if name == status_column else fmt
                        style = f' s="{style_fmt._get_xf_index()}"' if style_fmt is not None else ""
                        cache[v] = _text_cell("", v, style)
                fragments.append([
                    "" if v is None else f'<c r="{letter}{r}{cache[v]}' for r, v in zip(numbers, part, strict=True)
                ])  # fmt: skip
        cells_by_row = zip(*fragments, strict=True)
        rows = [f'<row r="{r}">' + "".join(cells) + "</row>" for r, cells in zip(numbers, cells_by_row, strict=True)]
        fh.write("".join(rows))
    last_row = first_row + n - 1
    ws.dim_rowmin = first_row if ws.dim_rowmin is None else min(ws.dim_rowmin, first_row)
    ws.dim_rowmax = last_row if ws.dim_rowmax is None else max(ws.dim_rowmax, last_row)
    ws.dim_colmin = 0 if ws.dim_colmin is None else min(ws.dim_colmin, 0)
    ws.dim_colmax = len(columns) - 1 if ws.dim_colmax is None else max(ws.dim_colmax, len(columns) - 1)
    ws.previous_row = last_row + 1


def finish_sheet(ws: Any, widths: list[float], header_row: int, last_row: int, n_columns: int) -> None:
    """Set the column ``widths`` (characters), freeze the panes under the header row (0-based) and put an
    autofilter over the table from ``header_row`` to ``last_row`` (exclusive) and ``n_columns`` columns."""
    for c, width in enumerate(widths):
        ws.set_column(c, c, width)
    ws.freeze_panes(header_row + 1, 0)
    if n_columns:
        ws.autofilter(header_row, 0, max(last_row - 1, header_row), n_columns - 1)


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
        if include_lines and len(result.lines) > ZIP64_LINES:
            workbook.use_zip64()  # the sheet XML of ~1M lines passes ZIP's 4 GiB limit
        styles = Styles(workbook)
        _summary_sheet(workbook, styles, result, sources or [])
        _frame_sheet(workbook, styles, "Variances", result.variances, status_column="Severity")
        _frame_sheet(workbook, styles, "Customers", result.customers, currency_rows=True)
        _frame_sheet(workbook, styles, "Subscriptions", result.subscriptions, currency_rows=True)
        if include_lines:
            lines = result.lines
            total = len(lines)
            sheets = max(1, -(-total // max_rows_per_sheet))
            for k in range(sheets):
                name = "Line items" if k == 0 else f"Line items ({k + 1})"
                start = k * max_rows_per_sheet
                _frame_sheet(workbook, styles, name, lines, start=start, stop=min(total, start + max_rows_per_sheet))
        workbook.close()
    return target


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


def _summary_sheet(workbook: Any, styles: Styles, result: Any, sources: list[str]) -> None:
    ws = workbook.add_worksheet("Summary")
    period = (
        f"{result.period_start:%Y-%m-%d} – {result.period_end:%Y-%m-%d}" if result.period_start is not None else "?"
    )
    ws.write_string(0, 0, "Invoice reconciliation", styles.title)
    ws.write_string(1, 0, "Billing period")
    ws.write_string(1, 1, period)
    ws.write_string(2, 0, "Generated (UTC)")
    ws.write_string(2, 1, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"))
    ws.write_string(3, 0, "Sources")
    ws.write_string(3, 1, "; ".join(sources) or "-")
    ws.write_string(4, 0, "Lines")
    ws.write_number(4, 1, len(result.lines), styles.integer)
    row = 5
    for note in getattr(result, "notes", []):
        ws.write_string(row, 0, "Note")
        ws.write_string(row, 1, note)
        row += 1
    widths: list[float] = [18.0, 24.0]
    customers = result.customers[["CustomerId", "CustomerName", "Currency", "Lines", "Subtotal", "TaxTotal", "Total",
                                  "Variances"]]  # fmt: skip
    tables: list[tuple[str, pd.DataFrame, str | None]] = [
        ("Invoice tie-out", result.tieout, "Status"),
        ("Totals by customer", customers, None),
        ("Totals by charge type", result.charge_types, None),
        ("Variances by category", result.variance_counts, "Severity"),
    ]
    first_header = None
    for title, frame, status in tables:
        row += 1
        ws.write_string(row, 0, title, styles.section)
        row += 1
        if first_header is None:
            first_header = row
        row, table_widths = write_table(ws, styles, frame, row, currency_rows=True, status_column=status)
        widths = [
            max(a, b)
            for a, b in zip(widths + [0.0] * len(table_widths), table_widths + [0.0] * len(widths), strict=False)
        ]
    for c, width in enumerate(widths):
        ws.set_column(c, c, min(width, 60))
    # the tie-out is the table a reader filters; Summary keeps its title rows visible
    ws.freeze_panes(first_header + 1 if first_header is not None else 1, 0)
    if first_header is not None:
        ws.autofilter(first_header, 0, first_header + max(len(result.tieout), 1), len(result.tieout.columns) - 1)


def write_frames(frames: Mapping[str, pd.DataFrame], path: str | os.PathLike[str], *, fmt: str,
                 primary: str | None = None) -> list[Path]:
    """Write each frame to ``<stem>.<name>.csv`` or ``.parquet`` beside ``path``, each atomically.

    When ``path`` itself ends in ``.<fmt>`` and ``primary`` names one of ``frames``, that frame is written to
    ``path`` (the file the user named exists and holds the table they act on); the others go beside it.
    CSV keeps Decimal amounts exactly as text and dates as ISO 8601; Parquet stores Decimal columns as decimal128.
    Returns:
        The files written, in ``frames`` order.
    Raises:
        ValueError: ``fmt`` is not ``csv`` or ``parquet``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    base = Path(path)
    stem = base.name.split(".")[0] if base.suffix else base.name
    named = base.suffix.lower() == f".{fmt}"
    written = []
    for name, frame in frames.items():
        target = base if named and name == primary else base.with_name(f"{stem}.{name}.{fmt}")
        with atomic_path(target) as tmp:
            if fmt == "csv":
                text_ready(frame).to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
            else:
                parquet_ready(frame).to_parquet(tmp, index=False)
        written.append(target)
    return written


def text_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with MONEY (Arrow decimal) columns as exact text without padding zeros, for CSV and JSON."""
    from cspkit.billing.recon_readers import money_text

    columns = [c for c in frame.columns if isinstance(frame[c].dtype, pd.ArrowDtype)]
    if not columns:
        return frame
    return frame.assign(**{str(c): money_text(frame[c]) for c in columns})


def parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with object columns Parquet can store: Decimals rescaled per column (one decimal128 type),
    other non-scalar values as text."""
    out = frame.copy(deep=False)
    for column in out.columns:
        if out[column].dtype == object:
            sample = next((v for v in out[column] if v is not None and v == v), None)
            if sample is not None and not isinstance(sample, (Decimal, str, bool, int, float)):
                out[column] = out[column].map(lambda v: None if v is None else str(v))
            elif isinstance(sample, Decimal):
                # one scale for the column so pyarrow can use a single decimal128 type
                out[column] = out[column].map(lambda v: None if v is None else Decimal(v))
    return out


def write_reconciliation_report(
    result: Any, path: str | os.PathLike[str], *, fmt: str = "xlsx", sources: list[str] | None = None
) -> list[Path]:
    """Write the report in ``fmt`` (``xlsx``, ``csv`` or ``parquet``); return the files written.

    CSV and Parquet write one file per result frame; a ``path`` named ``x.csv`` (``x.parquet``) holds the
    variances and ``x.tieout.csv``, ``x.lines.csv``, ... lie beside it."""
    if fmt == "xlsx":
        return [write_reconciliation_workbook(result, path, sources=sources)]
    return write_frames(result.frames(), path, fmt=fmt, primary="variances")


def write_table_file(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write one table to ``path``, its format from the extension: ``.parquet``, ``.json``/``.jsonl`` (JSON
    Lines), ``.xlsx`` (one sheet "Line items", styled like the reports), anything else CSV (UTC ISO times).

    Money stays exact (Decimal text in CSV/JSON). Written to a temporary file beside ``path``, then renamed
    (:func:`atomic_path`): never a half-written file. Returns ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            parquet_ready(frame).to_parquet(tmp, index=False)
        elif suffix in (".json", ".jsonl"):
            text_ready(frame).to_json(tmp, orient="records", lines=True, date_format="iso", default_handler=str)
        elif suffix == ".xlsx":
            import xlsxwriter

            workbook = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
            ws = workbook.add_worksheet("Line items")
            last, widths = write_table(ws, Styles(workbook), frame, 0)
            finish_sheet(ws, widths, 0, last, len(frame.columns))
            workbook.close()
        else:
            text_ready(frame).to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return path
