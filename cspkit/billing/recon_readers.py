"""Readers for Partner Center reconciliation data → typed pandas DataFrames.

Sources (billing-formats.md §1.1, §1.2, §1.6, §3; partner-center-api.md §6.4–6.5):

* CSV exported from the Partner Center portal (comma, UTF-8, M/D/YYYY dates);
* the same file re-saved by Excel on another locale: ``;`` delimiter, ``,`` decimal separator, a UTF-8 BOM or
  Windows-1252 text, D.M.YYYY dates, ids turned into numbers (SkuId ``1`` for ``0001``, MpnId ``6034453.0``);
* gzip JSON Lines blobs of the asynchronous (Graph v2) export, including multi-member gzip, streamed;
* JSON Lines / JSON arrays / ``{"items": [...]}`` envelopes, and the v1 API's billed/unbilled line items as Python
  records (camelCase keys, numbers as strings or numbers, ``productQualifiers`` as a real array).

Every reader returns a :class:`ReconFile`: ``frame`` has the documented PascalCase columns in file order (all 47 for
the invoice reconciliation file, all 55 for the daily rated usage file; absent optional columns are NA), then any
undocumented columns as text, then ``SourceFile`` and ``SourceRow`` (1-based data row; the header is row 0).
Types: ids are strings (GUIDs lower-cased, SkuId repaired to 4 characters); money, prices, quantities and rates are
exact decimals in :data:`MONEY` columns (``pd.ArrowDtype(pa.decimal128(38, 15))``: vectorised, cells are
:class:`~decimal.Decimal`, NA when blank); dates are ``datetime64[ns, UTC]`` (NaT when blank or
open-ended); charge types are camelCase; credit rates are percents (API fractions are multiplied by 100).

A malformed file raises :class:`cspkit.errors.InputFileError` naming the file, row, column and what was expected.
Rows are never dropped silently: blank rows are skipped and counted in ``rows_skipped`` / ``skipped_rows``.

This module holds the entry points; the work is done in :mod:`~cspkit.billing.recon_text` (opening, sniffing, CSV
read in chunks), :mod:`~cspkit.billing.recon_json` (JSON records), :mod:`~cspkit.billing.recon_frame` (assembly),
:mod:`~cspkit.billing.recon_convert` (column conversion), :mod:`~cspkit.billing.recon_values` (dtypes and scalar
rules) and :mod:`~cspkit.billing.recon_kinds` (kinds of file). Their public names are importable from here.
"""

from __future__ import annotations

import codecs
import gzip
import os
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from cspkit.billing.memory import use_reuse_friendly_pool
from cspkit.billing.recon_frame import Assembler as _Assembler  # noqa: F401 - graph_export's column path
from cspkit.billing.recon_frame import ReconFile, concat_recon_frames, empty_recon_frame
from cspkit.billing.recon_json import from_records, iter_json
from cspkit.billing.recon_json import to_text as _to_text  # noqa: F401 - graph_export's JSON value → text rule
from cspkit.billing.recon_text import Progress, open_recon, read_csv_stream
from cspkit.billing.recon_values import (
    MONEY,
    MONEY_ARROW,
    MONEY_SCALE,
    STRING,
    money_text,
    parse_recon_date,
    parse_recon_number,
)
from cspkit.billing.recon_values import lower as _lower  # noqa: F401 - the reconciliation engine's kernels
from cspkit.billing.recon_values import trim as _trim  # noqa: F401
from cspkit.billing.recon_values import upper as _upper  # noqa: F401
from cspkit.errors import InputFileError

__all__ = [
    "MONEY",
    "MONEY_ARROW",
    "MONEY_SCALE",
    "STRING",
    "Progress",
    "ReconFile",
    "concat_recon_frames",
    "money_text",
    "empty_recon_frame",
    "parse_recon_date",
    "parse_recon_number",
    "read_recon",
    "read_recon_files",
    "recon_lines_to_frame",
]

_CHUNK_ROWS = 200_000


def read_recon(
    path: str | os.PathLike[str],
    *,
    kind: str = "auto",
    progress: Progress | None = None,
    chunk_rows: int = _CHUNK_ROWS,
) -> ReconFile:
    """Read a reconciliation file (invoice recon or daily rated usage) into a typed DataFrame.

    Args:
        path: a portal CSV (comma), an Excel re-save (``;`` and decimal comma, BOM, cp1252), a JSON Lines file, a
            JSON array or ``{"items": [...]}`` envelope, or any of those gzip-compressed (the v2 export's
            ``part-*.json.gz`` blobs, multi-member gzip included). The format is found from the content, not the
            name. The file is streamed in chunks of ``chunk_rows`` rows; it is never read whole.
        kind: ``"invoice"``, ``"daily"`` or ``"auto"`` (daily when usage columns such as UsageDate are present).
        progress: optional ``progress(bytes_done, bytes_total)`` callback.
        chunk_rows: rows converted at a time (memory/speed trade-off).
    Returns:
        :class:`ReconFile` with ``frame`` and the read/skipped counts; money, price, quantity and rate columns are
        :data:`MONEY` (exact Arrow ``decimal128(38, 15)``).
    Raises:
        InputFileError: the file is missing, empty, not one of those formats, lacks a required column, or a value
            cannot be parsed or has more than 15 decimals (names file, row, column, expected form and the value).
    Format: billing-formats.md §1.1 (47 columns), §1.2 (55 columns), §1.6 aliases, §3.2 export blobs.
    Memory: makes jemalloc Arrow's default pool unless ``ARROW_DEFAULT_MEMORY_POOL`` is set
    (:func:`cspkit.billing.memory.use_reuse_friendly_pool`).
    """
    path_s = os.fspath(path)
    if not os.path.exists(path_s):
        raise InputFileError(path_s, expected="an existing file")
    use_reuse_friendly_pool()
    stream, compressed = open_recon(path_s, progress)
    try:
        try:
            head = stream.peek(1 << 16)[: 1 << 16]
        except (OSError, EOFError) as exc:
            raise InputFileError(path_s, expected="a complete gzip stream", value=str(exc)) from None
        stripped = head.lstrip(codecs.BOM_UTF8).lstrip()
        if not stripped:
            raise InputFileError(path_s, expected="a header row (the file is empty)")
        suffix = "+gzip" if compressed else ""
        if stripped[:1] in (b"{", b"["):
            records, fmt = iter_json(stream, path_s, stripped[:1])
            result = from_records(records, path_s, kind=kind, fmt=fmt + suffix, chunk_rows=chunk_rows)
        elif head[:2] == b"PK":
            raise InputFileError(path_s, expected="CSV or JSON text (this is a zip/xlsx file: save it as CSV)")
        else:
            result = read_csv_stream(stream, path_s, head, kind=kind, fmt="csv" + suffix, chunk_rows=chunk_rows)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputFileError(path_s, expected="a complete gzip stream", value=str(exc)) from None
    finally:
        stream.close()
    if progress is not None:
        size = os.path.getsize(path_s)
        progress(size, size)
    return result


def recon_lines_to_frame(
    items: Iterable[Mapping[str, Any] | Any],
    *,
    kind: str = "invoice",
    source: str = "API",
    chunk_rows: int = _CHUNK_ROWS,
) -> ReconFile:
    """Turn API line items into the same typed frame as :func:`read_recon`.

    Args:
        items: ``OneTimeInvoiceLineItem`` / ``DailyRatedUsageLineItem`` JSON objects (camelCase, numbers as strings
            or numbers, ``productQualifiers`` as an array) or models with ``to_wire()``; consumed lazily.
        kind: ``"invoice"`` (billing line items) or ``"daily"`` (usage line items) or ``"auto"``.
        source: recorded in ``SourceFile`` (``SourceRow`` is the item's 1-based position).
    Returns:
        :class:`ReconFile` (money columns :data:`MONEY`, as :func:`read_recon`).
    Raises:
        InputFileError: an item is not an object or a value cannot be parsed or has more than 15 decimals (row =
            item position).
    Format: partner-center-api.md §6.4/§6.5; key aliases billing-formats.md §1.6.
    """
    return from_records(
        ((i + 1, item) for i, item in enumerate(items)), source, kind=kind, fmt="api", chunk_rows=chunk_rows
    )


def read_recon_files(
    paths: Iterable[str | os.PathLike[str]], *, kind: str = "auto", progress: Progress | None = None
) -> tuple[pd.DataFrame, list[ReconFile]]:
    """Read several reconciliation files of one kind and concatenate them (``SourceFile`` tells them apart).

    Returns:
        ``(frame, reports)``: the combined frame and one :class:`ReconFile` per path (with empty ``frame``s
        released to save memory: use the combined frame).
    Raises:
        InputFileError: as :func:`read_recon`, or when the files are of different kinds.
    """
    reports: list[ReconFile] = []
    frames: list[pd.DataFrame] = []
    for path in paths:
        report = read_recon(path, kind=kind, progress=progress)
        if reports and report.kind != reports[0].kind:
            raise InputFileError(
                report.source, expected=f"a {reports[0].kind} reconciliation file like {reports[0].source}"
            )
        frames.append(report.frame)
        report.frame = report.frame.iloc[0:0]
        reports.append(report)
    return concat_recon_frames(frames, "invoice" if kind == "auto" else kind), reports
