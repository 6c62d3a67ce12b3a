"""Workbook building blocks (xlsxwriter, constant memory) and CSV/Parquet exports of result frames.

The reconciliation workbook (:mod:`cspkit.reports.reconciliation`) is assembled from these helpers; its layout:

* **Summary** — the report's facts, then the invoice tie-out, totals by customer, totals by charge type and the
  variance counts in blocks, with grand totals per currency and the rows that need a look in red
  (:mod:`cspkit.reports.recon_summary`);
* **Charts** — native Excel bar charts: spend by customer per currency, findings by category;
* **Variances** — one row per finding with its category, the evidence and the source row; Expected/Actual/Difference
  formatted by what they measure (a price, seats, an exchange rate or money: :mod:`cspkit.reports.formats`);
* **Customers** and **Subscriptions** — totals per customer / subscription and currency;
* **Line items** — every reconciliation line with the categories found on it, split over ``Line items (2)``, ...
  at Excel's limit of 1,048,575 data rows per sheet.

Numbers are formatted by kind (money, unit prices, seats, rates, percentages, counts; money in its currency:
``#,##0.00 "USD"``). Every data sheet has a styled, frozen header row, an autofilter and column widths fitted to the
data. Files are written to a temporary file in the target directory and moved into place with :func:`os.replace`,
so a reader never sees a half-written report.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.reports.formats import MONEY_COLUMNS, PRICE_COLUMNS, column_kind, number_format  # noqa: F401 (re-export)

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
]

EXCEL_MAX_DATA_ROWS = 1_048_575
"""Data rows that fit on one worksheet under a header row (1,048,576 rows in all)."""

ZIP64_LINES = 200_000
"""Above this many line items the workbook is written with ZIP64 extensions (needed past 4 GiB of sheet XML)."""

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
    """The cell formats of one xlsxwriter workbook (header, title, dates, one number format per kind and currency
    — :mod:`cspkit.reports.formats` — and status colours), created once per workbook and shared by its sheets."""

    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self.header = workbook.add_format(
            {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E78", "border": 1, "text_wrap": False,
             "valign": "vcenter"}
        )  # fmt: skip
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.section = workbook.add_format({"bold": True, "font_size": 12, "font_color": "#1F4E78"})
        self.label = workbook.add_format({"bold": True})
        self.total = workbook.add_format({"bold": True, "top": 1})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.error = workbook.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
        self.warning = workbook.add_format({"font_color": "#9C5700", "bg_color": "#FFEB9C"})
        self.ok = workbook.add_format({"font_color": "#006100", "bg_color": "#C6EFCE"})
        self._numbers: dict[tuple[str, str | None, bool], Any] = {}
        self.money = self.number("money")
        self.price = self.number("price")
        self.integer = self.number("count")

    def number(self, kind: str, currency: str | None = None, *, bold: bool = False) -> Any:
        """The format of a ``kind`` number (:data:`cspkit.reports.formats.KINDS`), in ``currency`` for money and
        prices, bold for totals; one format object per distinct (kind, currency, bold)."""
        key = (kind, currency or None, bold)
        fmt = self._numbers.get(key)
        if fmt is None:
            props: dict[str, Any] = {"num_format": number_format(kind, currency)}
            if bold:
                props.update({"bold": True, "top": 1})
            fmt = self._numbers[key] = self.workbook.add_format(props)
        return fmt

    def currency(self, code: str | None) -> Any:
        """The money format in currency ``code`` (the plain money format without one)."""
        return self.number("money", code)

    def for_column(self, name: str, kind: str) -> Any:
        """The format of column ``name`` holding ``kind`` values (number/date/text/bool), or None for General."""
        if kind == "date":
            return self.date
        if kind == "number":
            number_kind = column_kind(name)
            return self.number(number_kind) if number_kind else None
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
    row_kinds: Mapping[str, Sequence[str | None]] | None = None,
    header: bool = True,
) -> tuple[int, list[float]]:
    """Write a header and frame rows [start, stop) from ``first_row``; return (next free row, column widths).
    ``header=False`` continues a table: no header is written, the rows start at ``first_row + 1``.

    Numbers take the format of their column's kind (:func:`cspkit.reports.formats.column_kind`). With
    ``currency_rows`` money and price columns carry each row's ``Currency``; ``row_kinds`` maps a column to one kind
    per frame row (positional, the whole frame) for columns whose unit varies by row (None: the column's kind).
    ``status_column`` cells ``ties``/``differs``/``error``/``warning`` are coloured.
    """
    stop = len(frame) if stop is None else stop
    names = [str(c) for c in frame.columns]
    if header:
        ws.write_row(first_row, 0, names, styles.header)
    status_styles = {"ties": styles.ok, "differs": styles.error, "error": styles.error, "warning": styles.warning}
    if _bulk_rows_supported(ws) and stop > start:
        # bounded memory: convert and write _FAST_CHUNK rows at a time
        widths: list[float] = []
        for chunk in range(start, stop, _FAST_CHUNK):
            chunk_stop = min(stop, chunk + _FAST_CHUNK)
            part = frame.iloc[chunk:chunk_stop]
            columns = [_column_values(part[c]) for c in part.columns]
            if not widths:
                widths = [_width(name, values, kind) for name, (kind, values) in zip(names, columns, strict=True)]
            formats = _row_formats(styles, part, names, columns, currency_rows, row_kinds, chunk, chunk_stop)
            _fast_rows(ws, styles, names, columns, first_row + 1 + chunk - start, formats, status_column,
                       status_styles)  # fmt: skip
        return first_row + 1 + stop - start, widths
    part = frame.iloc[start:stop]
    columns = [_column_values(part[c]) for c in part.columns]
    widths = [_width(name, values, kind) for name, (kind, values) in zip(names, columns, strict=True)]
    formats = _row_formats(styles, part, names, columns, currency_rows, row_kinds, start, stop)
    n = len(part)
    plans = []
    for c, (name, (kind, values)) in enumerate(zip(names, columns, strict=True)):
        fmt = styles.for_column(name, kind)
        if kind in ("number", "date"):
            write = ws.write_number
        elif kind == "bool":
            write = ws.write_boolean
        else:
            write = ws.write_string
        plans.append((c, values, write, fmt, formats.get(c), name == status_column))
    row = first_row + 1
    for i in range(n):
        for c, values, write, fmt, per_row, status in plans:
            value = values[i]
            if value is None:
                continue
            if per_row is not None:
                write(row, c, value, per_row[i])
            elif status and value in status_styles:
                write(row, c, value, status_styles[value])
            elif fmt is not None:
                write(row, c, value, fmt)
            else:
                write(row, c, value)
        row += 1
    return row, widths


def _row_formats(
    styles: Styles,
    part: pd.DataFrame,
    names: list[str],
    columns: list[tuple[str, list[Any]]],
    currency_rows: bool,
    row_kinds: Mapping[str, Sequence[str | None]] | None,
    lo: int,
    hi: int,
) -> dict[int, list[Any]]:
    """The per-row formats of the number columns whose format varies by row (column index → one format per row of
    ``part``, which is frame rows [lo, hi)): money/prices in the row's currency, and the ``row_kinds`` columns."""
    currencies = (
        part["Currency"].astype(object).where(part["Currency"].notna(), None).tolist()
        if currency_rows and "Currency" in part.columns
        else None
    )
    out: dict[int, list[Any]] = {}
    for c, (name, (kind, _values)) in enumerate(zip(names, columns, strict=True)):
        if kind != "number":
            continue
        fixed = column_kind(name)
        kinds = list(row_kinds[name][lo:hi]) if row_kinds and name in row_kinds else None
        if kinds is None and (currencies is None or fixed not in ("money", "price")):
            continue
        kinds = [k or fixed for k in kinds] if kinds is not None else [fixed] * len(part)
        ccys = currencies if currencies is not None else [None] * len(part)
        cache: dict[tuple[str | None, Any], Any] = {}
        formats = []
        for k, ccy in zip(kinds, ccys, strict=True):
            key = (k, ccy)
            fmt = cache.get(key)
            if fmt is None and key not in cache:
                fmt = cache[key] = styles.number(k, ccy) if k else None
            formats.append(fmt)
        out[c] = formats
    return out


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
    formats: dict[int, list[Any]],
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
                if c in formats:
                    per_row = formats[c][chunk_start:chunk_stop]
                    xf = {f: "" if f is None else f' s="{f._get_xf_index()}"' for f in set(per_row)}
                    fragments.append([
                        "" if v is None else f'<c r="{letter}{r}"{xf[f]}><v>{v:.16G}</v></c>'
                        for r, v, f in zip(numbers, part, per_row, strict=True)
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
