"""Assembly of the reconciliation readers' frames: :class:`ReconFile`, the chunk assembler (blank rows skipped and
counted, columns converted side by side, documented columns in order) and :func:`empty_recon_frame`.

Columns and dtypes: :mod:`cspkit.billing.recon_readers` (billing-formats.md §1.1, §1.2).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.recon_columns import COLUMN_TYPES, REQUIRED_COLUMNS, canonical_column
from cspkit.billing.recon_convert import Converter
from cspkit.billing.recon_kinds import KNOWN_BY_KIND, detect_kind, refuse_foreign, unknown_values
from cspkit.billing.recon_values import MONEY, STRING, TEXT, trim
from cspkit.errors import InputFileError

__all__ = ["MAX_LISTED", "Assembler", "ReconFile", "concat_recon_frames", "empty_recon_frame"]

_POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="cspkit-recon")
MAX_LISTED = 1000


@dataclass
class ReconFile:
    """What a reader read, with the counts that prove nothing was dropped.

    Attributes:
        frame: the typed DataFrame (columns and dtypes: :mod:`cspkit.billing.recon_readers`).
        kind: ``"invoice"`` (new-commerce invoice reconciliation, 47 columns) or ``"daily"`` (daily rated usage, 55).
        source: the path read, or ``"API"``.
        format: ``"csv"``, ``"jsonl"``, ``"json"`` or ``"api"`` (``+gzip`` when compressed).
        rows_read: data rows kept in ``frame``.
        rows_skipped: blank rows skipped (their numbers in ``skipped_rows``, first 1,000 listed).
        delimiter: the CSV delimiter found (CSV only).
        missing_columns: documented columns absent from the file (NA in ``frame``).
        extra_columns: undocumented columns kept as text.
        warnings: things a person should look at (e.g. ids Excel rounded beyond repair).
    """

    frame: pd.DataFrame
    kind: str
    source: str
    format: str
    rows_read: int = 0
    rows_skipped: int = 0
    skipped_rows: list[int] = field(default_factory=list)
    delimiter: str | None = None
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for humans: ``recon.csv: 1,234 rows read, 2 skipped (blank), invoice reconciliation (csv ';')``."""
        what = "invoice reconciliation" if self.kind == "invoice" else "daily rated usage"
        fmt = self.format + (f" {self.delimiter!r}" if self.delimiter else "")
        return (
            f"{Path(self.source).name if self.source != 'API' else 'API'}: {self.rows_read:,} rows read, "
            f"{self.rows_skipped:,} skipped (blank), {what} ({fmt})"
        )


def _clean(raw: pa.Array, column: str) -> pa.Array:
    """Turn empty strings into nulls; trim whitespace around typed values (free text is kept as written)."""
    if pa.types.is_decimal(raw.type):  # exact numbers a JSON reader already parsed (graph_export): nothing to clean
        return raw
    if raw.type != TEXT:
        raw = raw.cast(TEXT)
    if COLUMN_TYPES.get(column, "str") != "str":
        raw = trim(raw)
    empty = pc.equal(pc.binary_length(raw), 0)
    if pc.any(empty).as_py():
        raw = pc.if_else(empty, pa.scalar(None, TEXT), raw)
    return raw


def _typed_empty(column: str, n: int) -> Any:
    typ = COLUMN_TYPES.get(column, "str")
    if typ in ("decimal", "percent"):
        return pd.array([None] * n, dtype=MONEY)
    if typ == "date":
        return pd.DatetimeIndex(np.full(n, np.datetime64("NaT", "ns"))).tz_localize("UTC").array
    return pd.array([None] * n, dtype=STRING)


def empty_recon_frame(kind: str = "invoice") -> pd.DataFrame:
    """A zero-row frame with the documented columns and dtypes of ``kind`` (plus SourceFile/SourceRow)."""
    columns = {c: _typed_empty(c, 0) for c in KNOWN_BY_KIND[kind]}
    frame = pd.DataFrame(columns)
    frame["SourceFile"] = pd.Categorical([])
    frame["SourceRow"] = np.array([], dtype="int64")
    return frame


def concat_recon_frames(frames: list[pd.DataFrame], kind: str = "invoice") -> pd.DataFrame:
    """One frame from the frames of several reconciliation files read one by one (``SourceFile`` tells them apart).

    Args:
        frames: frames with the readers' columns and dtypes (one kind). kind: the kind of the empty frame returned
            when ``frames`` is empty (``"invoice"`` or ``"daily"``).
    Returns:
        the one frame itself, or the frames concatenated (new 0-based index; ``SourceFile`` categorical again, as
        concatenating different categories gives text), or :func:`empty_recon_frame` of ``kind``.
    """
    if not frames:
        return empty_recon_frame(kind)
    if len(frames) == 1:
        return frames[0]
    frame = pd.concat(frames, ignore_index=True)
    frame["SourceFile"] = frame["SourceFile"].astype("category")
    return frame


#: where the readers' converted chunks go instead of being kept (set by :func:`chunks_to`, read when a reader starts)
_CHUNK_SINK: ContextVar[Callable[[pd.DataFrame], None] | None] = ContextVar("cspkit_chunk_sink", default=None)


@contextmanager
def chunks_to(sink: Callable[[pd.DataFrame], None]) -> Iterator[None]:
    """Within the block, every reader started hands each converted chunk (a typed frame of the columns the file
    has, with ``SourceRow``; in file order, one call at a time) to ``sink`` and keeps none of them: its
    :class:`ReconFile` has the counts, warnings and an empty ``frame``. Used by :mod:`cspkit.billing.ingest` to
    stream a file into Parquet in constant memory."""
    token = _CHUNK_SINK.set(sink)
    try:
        yield
    finally:
        _CHUNK_SINK.reset(token)


class Assembler:
    """Collects raw chunks, converts them and concatenates the typed frames (or hands them to a sink)."""

    def __init__(self, path: str, kind: str | None, fmt: str, decimal_comma: bool = False) -> None:
        self.path = path
        self.kind = kind
        self.format = fmt
        self.decimal_comma = decimal_comma
        self.frames: list[pd.DataFrame] = []
        self.rows_read = 0
        self.rows_skipped = 0
        self.skipped_rows: list[int] = []
        self.converter: Converter | None = None
        self.columns_seen: dict[str, None] = {}
        self.fractions: set[str] = set()
        self.sink = _CHUNK_SINK.get()

    def setup(self, canonical: list[str], *, fractions: set[str] | None = None) -> None:
        known = [c for c in canonical if canonical_column(c) == c]
        if self.kind in (None, "auto"):
            self.kind = detect_kind(known)
        documented = KNOWN_BY_KIND[self.kind]
        missing = [c for c in REQUIRED_COLUMNS[self.kind] if c not in canonical]
        if missing:
            refuse_foreign(self.path, self.kind, canonical, known)
            raise InputFileError(
                self.path,
                row=0,
                column=missing[0],
                expected=f"a header with the {self.kind} reconciliation columns; {', '.join(missing)} missing "
                f"(documented: {', '.join(documented[:6])}, ...)",
            )
        self.fractions |= fractions or set()
        self.converter = Converter(self.path, decimal_comma=self.decimal_comma, fractions=self.fractions)

    def add(self, columns: dict[str, pa.Array], first_row: int, rows: int) -> None:
        """Add one chunk: ``columns`` maps output column names to raw text arrays of ``rows`` rows."""
        assert self.converter is not None
        if rows == 0:
            return
        cleaned = {name: _clean(arr, name) for name, arr in columns.items()}
        source_row = np.arange(first_row, first_row + rows, dtype="int64")
        blank = None
        for arr in cleaned.values():
            is_null = pc.is_null(arr)
            blank = is_null if blank is None else pc.and_(blank, is_null)
        keep = None
        if blank is not None and pc.any(blank).as_py():
            keep = pc.invert(blank)
            blank_rows = source_row[blank.to_numpy(zero_copy_only=False)]
            self.rows_skipped += len(blank_rows)
            room = MAX_LISTED - len(self.skipped_rows)
            if room > 0:
                self.skipped_rows.extend(int(r) for r in blank_rows[:room])
            cleaned = {name: pc.filter(arr, keep) for name, arr in cleaned.items()}
            source_row = source_row[keep.to_numpy(zero_copy_only=False)]
        n = len(source_row)
        if n == 0:
            return
        for name in cleaned:
            self.columns_seen[name] = None
        # rows of a chunk are contiguous in the source unless blanks were removed: map back for errors
        base = first_row if keep is None else 0
        # columns are converted side by side: the Arrow kernels doing the work release the GIL
        futures = {name: _POOL.submit(self.converter.convert, name, arr, base) for name, arr in cleaned.items()}
        data: dict[str, Any] = {}
        for name, future in futures.items():  # in column order, so the first bad column is the one reported
            try:
                data[name] = future.result()
            except InputFileError as exc:
                for other in futures.values():
                    other.cancel()
                if keep is None:
                    raise
                raise InputFileError(
                    self.path,
                    row=int(source_row[exc.row]),
                    column=exc.column,
                    expected=exc.expected,
                    value=exc.value,
                ) from None
        frame = pd.DataFrame(data, copy=False)
        frame["SourceRow"] = source_row
        if self.sink is not None:
            self.sink(frame)
        else:
            self.frames.append(frame)
        self.rows_read += n

    def finish(self, *, delimiter: str | None = None, source_name: str | None = None) -> ReconFile:
        assert self.kind is not None
        documented = KNOWN_BY_KIND[self.kind]
        if self.frames:
            frame = pd.concat(self.frames, ignore_index=True) if len(self.frames) > 1 else self.frames[0]
        else:
            frame = pd.DataFrame({c: _typed_empty(c, 0) for c in self.columns_seen})
            frame["SourceRow"] = np.array([], dtype="int64")
        n = len(frame)
        missing = [c for c in documented if c not in frame.columns]
        out: dict[str, Any] = {}
        for column in documented:
            out[column] = frame[column] if column in frame.columns else _typed_empty(column, n)
        extra = [c for c in frame.columns if c not in out and c != "SourceRow"]
        for column in extra:
            out[column] = frame[column]
        out["SourceFile"] = pd.Categorical([source_name or self.path] * n) if n else pd.Categorical([])
        out["SourceRow"] = frame["SourceRow"]
        result = pd.DataFrame(out, copy=False)
        warnings = unknown_values(result) if self.kind == "daily" else []
        if self.converter is not None:
            for column, (count, example) in self.converter.sci_ids.items():
                warnings.append(
                    f"{column}: {count} value(s) look like numbers Excel rounded (e.g. {example}); the original ids "
                    "cannot be recovered from this file: export it again or read it as text"
                )
        return ReconFile(
            frame=result,
            kind=self.kind,
            source=self.path,
            format=self.format,
            rows_read=self.rows_read,
            rows_skipped=self.rows_skipped,
            skipped_rows=self.skipped_rows,
            delimiter=delimiter,
            missing_columns=missing,
            extra_columns=extra,
            warnings=warnings,
        )
