"""Text files of the reconciliation readers: opening (gzip, multi-member, byte progress), sniffing the encoding
and delimiter, and reading CSV in chunks with Arrow while the previous chunk is converted.

Sources: billing-formats.md §1.1 (portal CSV: comma, UTF-8), §1.5 (Excel re-saves: ``;``, decimal comma, BOM,
Windows-1252), §3.2 (gzip export blobs).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv

from cspkit.billing.recon_columns import FRACTION_ALIASES, canonical_column, normalize_header
from cspkit.billing.recon_frame import Assembler, ReconFile
from cspkit.billing.recon_values import TEXT, is_ascii
from cspkit.errors import InputFileError

__all__ = ["Progress", "open_recon", "read_csv_stream"]

Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``; called after each chunk (bytes of the file on disk)."""
_CHUNKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cspkit-recon-chunk")  # one chunk at a time, in order


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from the file on disk (for progress over compressed files too)."""

    def __init__(self, raw: Any, progress: Progress | None, total: int) -> None:
        self.raw = raw
        self.count = 0
        self.progress = progress
        self.total = total
        self._last = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer) or 0
        self.count += n
        if self.progress is not None and (self.count - self._last >= (4 << 20) or n == 0):
            self._last = self.count
            self.progress(self.count, self.total)
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_recon(path: str, progress: Progress | None) -> tuple[io.BufferedReader, bool]:
    """Open ``path`` for binary reading, transparently gunzipping (every member of a multi-member gzip; the v2
    export's ``part-*.json.gz`` blobs, billing-formats.md §3.2).

    Returns:
        ``(stream, compressed)``: a buffered stream (``peek`` gives the first bytes; the caller closes it) and
        whether the file was gzip. ``progress(bytes_done, bytes_total)`` counts bytes of the file on disk.
    Raises:
        OSError: the file cannot be opened.
    """
    total = os.path.getsize(path)
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the wrapper
    magic = raw.read(2)
    raw.seek(0)
    counting = _CountingReader(raw, progress, total)
    buffered = io.BufferedReader(counting, buffer_size=1 << 20)
    if magic == b"\x1f\x8b":
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered), buffer_size=1 << 20), True  # type: ignore[arg-type]
    return buffered, False


def _guess_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "cp1252"
    return "utf-8"


def _sniff_delimiter(header: str) -> str:
    counts = {d: 0 for d in (",", ";", "\t", "|")}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _column_names(names: list[str]) -> tuple[list[str], set[str]]:
    """The header's names → ``(output names, canonical columns whose source holds fractions)``: documented columns
    and their aliases by their canonical name (billing-formats.md §1.6), others as written (``Column3`` for a blank
    name, ``_`` appended to a repeated one)."""
    out_names: list[str] = []
    taken: set[str] = set()
    # exact canonical names win over aliases (a file with both Total and TotalForCustomer keeps both)
    exact = {canonical_column(n) for n in names if canonical_column(n) is not None and normalize_header(n) ==
             normalize_header(canonical_column(n) or "")}  # fmt: skip
    fractions: set[str] = set()
    for i, name in enumerate(names):
        canonical = canonical_column(name)
        clean = name.strip().lstrip("\ufeff") or f"Column{i + 1}"
        if canonical and canonical not in taken and (canonical not in exact or normalize_header(name) ==
                                                     normalize_header(canonical)):  # fmt: skip
            taken.add(canonical)
            out_names.append(canonical)
            if normalize_header(name) in FRACTION_ALIASES:
                fractions.add(canonical)
        else:
            while clean in taken:
                clean += "_"
            taken.add(clean)
            out_names.append(clean)
    return out_names, fractions


def read_csv_stream(
    stream: io.BufferedReader, path: str, head: bytes, *, kind: str, fmt: str, chunk_rows: int
) -> ReconFile:
    """Read a CSV stream whose first bytes are ``head`` (the encoding and delimiter are sniffed from them) in chunks
    of ``chunk_rows`` rows: Arrow parses the next chunk while the previous one is converted (one in flight).

    Args:
        stream: from :func:`open_recon`, not yet read. path: the file, for errors and ``SourceFile``.
        kind: ``"invoice"``, ``"daily"`` or ``"auto"``. fmt: recorded in :attr:`ReconFile.format`.
    Returns:
        :class:`~cspkit.billing.recon_frame.ReconFile` (``delimiter`` set; ``decimal comma`` when it is ``;``).
    Raises:
        InputFileError: a row with the wrong number of fields (its row number), text not in the sniffed encoding,
            a missing required column, or a value that cannot be parsed (file, row, column, value).
    Format: billing-formats.md §1.1 (portal CSV), §1.5 (Excel re-saves).
    """
    encoding = _guess_encoding(head)
    header_bytes = head.split(b"\n", 1)[0]
    header_text = header_bytes.decode(encoding if encoding != "utf-16" else "utf-8", errors="replace")
    header_text = header_text.lstrip("\ufeff").rstrip("\r")
    delimiter = _sniff_delimiter(header_text)
    decimal_comma = delimiter == ";"
    out_names, fractions = _column_names(next(csv.reader([header_text], delimiter=delimiter)))
    assembler = Assembler(path, kind, fmt, decimal_comma=decimal_comma)
    assembler.setup(out_names, fractions=fractions)
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "error"

    if encoding == "utf-8-sig":
        stream.read(3)
    in_flight: Future[None] | None = None
    try:
        reader = pcsv.open_csv(stream, **_arrow_csv_options(out_names, encoding, delimiter, on_invalid))
        next_row = 1
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        # a chunk is converted in the background while the next one is parsed (one chunk in flight: bounded memory;
        # chunks are added in file order)
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= chunk_rows:
                if in_flight is not None:
                    in_flight.result()
                in_flight = _CHUNKS.submit(_flush, assembler, pending, out_names, next_row)
                next_row += pending_rows
                pending, pending_rows = [], 0
        if in_flight is not None:
            in_flight.result()
        _flush(assembler, pending, out_names, next_row)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if in_flight is not None:
            in_flight.result()  # a bad value in an earlier chunk is reported first, as a sequential read would
        raise _unreadable(path, encoding, delimiter, invalid, exc) from None
    return assembler.finish(delimiter=delimiter, source_name=Path(path).name)


def _arrow_csv_options(names: list[str], encoding: str, delimiter: str, on_invalid: Any) -> dict[str, Any]:
    """Arrow's CSV options for :func:`read_csv_stream`: every column as text (blanks null; converted by the
    assembler), quoted newlines allowed, a row with the wrong number of fields handed to ``on_invalid``, blocks of 1
    MiB, no UTF-8 check (each chunk is screened by ``_check_utf8``: most columns are plain ASCII)."""
    return {
        "read_options": pcsv.ReadOptions(
            use_threads=True,
            block_size=1 << 20,
            column_names=names,
            skip_rows=1,
            encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
        ),
        "parse_options": pcsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
        ),
        "convert_options": pcsv.ConvertOptions(
            column_types={n: TEXT for n in names},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            check_utf8=False,
        ),
    }


def _unreadable(path: str, encoding: str, delimiter: str, invalid: list[Any], exc: Exception) -> InputFileError:
    """The error for a CSV Arrow could not read: the first row with the wrong number of fields (its file row,
    expected and found counts, text) when there was one, else the text was not CSV in ``encoding``."""
    if invalid:
        row = invalid[0]
        number = row.number - 1 if row.number is not None else _locate_bad_row(path, encoding, delimiter, row)
        return InputFileError(
            path,
            row=number,
            expected=f"{row.expected_columns} fields separated by {delimiter!r}, found {row.actual_columns}",
            value=row.text,
        )
    return InputFileError(path, expected=f"CSV text separated by {delimiter!r} ({encoding})", value=str(exc))


def _locate_bad_row(path: str, encoding: str, delimiter: str, bad: Any) -> int | None:
    """Find the data row number of a record with the wrong field count (error path only: a plain csv scan)."""
    stream, _ = open_recon(path, None)
    try:
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
        for number, record in enumerate(csv.reader(text, delimiter=delimiter)):
            if number and record and len(record) == bad.actual_columns and len(record) != bad.expected_columns:
                return number
    finally:
        stream.close()
    return None


def _flush(assembler: Assembler, batches: list[pa.RecordBatch], names: list[str], first_row: int) -> None:
    if not batches:
        return
    table = pa.Table.from_batches(batches)
    columns = {name: table.column(i).combine_chunks() for i, name in enumerate(names)}
    for name, column in columns.items():
        _check_utf8(assembler.path, name, column, first_row)
    assembler.add(columns, first_row, table.num_rows)


def _check_utf8(path: str, name: str, column: pa.Array, first_row: int) -> None:
    """Raise :class:`~cspkit.errors.InputFileError` naming the row and column of the first value of ``column`` (one
    chunk's raw text, its first value at data row ``first_row``) that is not valid UTF-8. Arrow's CSV reader is told
    not to check (``check_utf8=False``): its check read every byte of every column one at a time, ≈ 0.3–0.6 s of CPU
    for the 1,000,000-line benchmark month; here a column whose bytes are all below 0x80 (ASCII, which is valid UTF-8)
    is passed by one vectorised maximum, and only the others are validated by Arrow. Text read in another encoding
    (cp1252, UTF-16) was already transcoded to UTF-8 by the reader."""
    if is_ascii(column):
        return
    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        for offset, value in enumerate(column.cast(pa.large_binary()).to_pylist()):
            try:
                (value or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise InputFileError(path, row=first_row + offset, column=name, expected="UTF-8 text",
                                     value=value.decode("utf-8", errors="replace")) from None  # fmt: skip
        raise
