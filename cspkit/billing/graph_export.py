"""Streaming the Graph export blobs into reconciliation frames (pure parsing: no HTTP, no client).

Blobs (billing-formats.md §3.2 step 4) are gzip-compressed JSON Lines — one line item per line, camelCase keys,
numbers as JSON numbers or strings, possibly several gzip members per file. Everything here streams: a blob is never
read whole; :func:`iter_export_records` holds one line, :func:`iter_export_frames` a few blocks of about
:data:`BLOCK_BYTES` of text (inflated and parsed by Arrow in background threads) and the parsed rows of at most
one chunk of ``chunk_rows`` typed rows plus a block. :func:`read_export` builds the whole typed frame from the
same block reader (the chunks concatenated once).

Frames have the columns and dtypes of :mod:`cspkit.billing.recon_readers` (``SourceFile`` = blob file name,
``SourceRow`` = 1-based line number in the blob). Fetching them is the resources' job
(:mod:`cspkit.resources.billing_exports`); v1 line items and downloaded export folders become frames in
:mod:`cspkit.billing.exports`.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from cspkit.billing.memory import use_reuse_friendly_pool
from cspkit.billing.recon_columns import COLUMN_TYPES, FRACTION_ALIASES, canonical_column, normalize_header
from cspkit.billing.recon_readers import (
    ReconFile,
    _to_text,  # the readers' own JSON value → text rule
    concat_recon_frames,
    recon_lines_to_frame,
)
from cspkit.billing.recon_values import MONEY_ARROW, TEXT
from cspkit.errors import InputFileError

__all__ = ["iter_export_frames", "iter_export_records", "read_export"]

PathLike = str | os.PathLike[str]

try:  # ISA-L's gzip inflate (the isal package): about 4x zlib's speed, same API, multi-member streams and errors
    from isal import igzip as _GZIP
    from isal.isal_zlib import error as _InflateError
except ImportError:  # pragma: no cover - the standard library's zlib is the fallback
    _GZIP = gzip  # type: ignore[misc]
    _InflateError = zlib.error  # type: ignore[misc]

try:  # the readers' column converter (see _columnar_chunk); the public record path is the fallback
    from cspkit.billing.recon_readers import _Assembler

    _FAST = True
except ImportError:  # pragma: no cover
    _FAST = False

def _is_empty(path: Path) -> bool:
    """True when the (possibly gzip) file holds no non-blank text."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:  # type: ignore[operator]
            while True:
                chunk = fh.read(1 << 16)
                if not chunk:
                    return True
                if chunk.strip():
                    return False
    except (OSError, EOFError, zlib.error) as exc:
        raise InputFileError(str(path), expected="a complete gzip stream", value=str(exc)) from None


def _parse_line(path: Path, number: int, line: bytes | str) -> dict[str, Any] | None:
    """One JSON Lines record (None for a blank line); numbers kept as text."""
    if not line.strip():
        return None
    try:
        record = json.loads(line, parse_float=str, parse_int=str)
    except ValueError:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        raise InputFileError(str(path), row=number, expected="one JSON object per line", value=text[:80]) from None
    if not isinstance(record, dict):
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        raise InputFileError(str(path), row=number, expected="a JSON object (one line item)", value=text[:80])
    return record


def _line_blocks(path: Path, size: int) -> Iterator[tuple[int, list[bytes]]]:
    """``(first line number, lines)`` blocks of at most ``size`` raw lines of a (gzip) JSON Lines file."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    number = 0
    try:
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:  # type: ignore[operator]
            while True:
                lines = list(islice(fh, size))
                if not lines:
                    return
                if number == 0 and lines[0].startswith(codecs.BOM_UTF8):
                    lines[0] = lines[0][len(codecs.BOM_UTF8):]
                count = len(lines)  # before yielding: the consumer may empty the list
                yield number + 1, lines
                number += count
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputFileError(str(path), row=number + 1, expected="a complete gzip stream", value=str(exc)) from None


def iter_export_records(paths: Iterable[PathLike]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield ``(file name, line number, record)`` for every line of every blob, a block of lines at a time.

    Numbers are kept as their JSON text (``parse_float=str``) so no float rounding happens. Blank lines are skipped.

    Raises:
        InputFileError: a line is not a JSON object, or the gzip stream is truncated/corrupt (names file and line).
    """
    for path in paths:
        p = Path(path)
        for first, lines in _line_blocks(p, 4096):
            for offset, line in enumerate(lines):
                record = _parse_line(p, first + offset, line)
                if record is not None:
                    yield p.name, first + offset, record


def iter_export_frames(
    paths: Iterable[PathLike], *, kind: str = "invoice", chunk_rows: int = 25_000
) -> Iterator[pd.DataFrame]:
    """Typed DataFrame chunks (at most ``chunk_rows`` rows, never spanning two blobs) of the export's lines.

    The fast path holds no Python object per line: a blob is inflated (ISA-L) in blocks of about
    :data:`BLOCK_BYTES` of whole lines by one background thread, each block parsed by Arrow's JSON reader in
    another with an explicit schema taken from the block's first line (number columns of the readers, e.g.
    ``unitPrice``, as exact ``decimal128(38, 15)``, which takes JSON numbers and numeric strings alike; every other
    key as text), while the caller converts; consecutive blocks of one schema are cut into chunks of
    ``chunk_rows`` for the readers' column converter, which takes the decimals as they are. A block Arrow cannot
    take that way (blank lines, a number where the first line had text, ``""`` or over 15 decimals in a number
    column, arrays, nested objects, a bad line) goes through the slower paths instead: JSON numbers turned into
    strings in the raw text, then ``json`` record by record — the same frame either way, and the same errors.

    Args:
        paths: the blob files, in manifest order (gzip, multi-member allowed, or plain JSON Lines).
        kind: ``"invoice"`` (reconciliation exports) or ``"daily"`` (usage exports).
        chunk_rows: rows per chunk at most (a chunk ends early only at a block Arrow could not type, or at the
            blob's end); memory stays proportional to the chunk (about 10 KB per row of the 47-column invoice
            export in flight) plus a few blocks, not to the export.
    Yields:
        frames with the columns and dtypes of :func:`cspkit.billing.recon_readers.read_recon`; ``SourceFile`` = the
        blob's file name, ``SourceRow`` = the 1-based line number in the (decompressed) blob.
    Raises:
        InputFileError: as :func:`iter_export_records`, or a value that cannot be parsed (file, line, column).
    Memory: makes jemalloc Arrow's default pool unless ``ARROW_DEFAULT_MEMORY_POOL`` is set, as the readers do
    (:func:`cspkit.billing.memory.use_reuse_friendly_pool`). Peak memory of the 47-column invoice export with
    ``chunk_rows=25_000``: about 350 MB (``benchmarks/bench_graph_export.py``), whatever the export's size.
    """
    use_reuse_friendly_pool()
    for report in _export_chunks(paths, kind, chunk_rows, {}):
        yield report.frame


def _export_chunks(
    paths: Iterable[PathLike], kind: str, chunk_rows: int, lines: dict[str, int]
) -> Iterator[ReconFile]:
    """:func:`iter_export_frames` as the converter's report per chunk (its frame, columns missing and extra,
    warnings); ``lines[file name]`` counts the lines read (blank ones included)."""
    for path in paths:
        p = Path(path)
        typed = _TypedRun(p, kind, chunk_rows)
        for first, block, count, table in _parsed_blocks(p):
            lines[p.name] = lines.get(p.name, 0) + count
            # every line starts with "{" (_parse_block): no blank line, so as many rows as lines means one object a line
            if table is not None and table.num_rows == count:
                del block
                yield from typed.add(first, table)
                continue
            del table
            yield from typed.flush()  # the typed rows before this block, in order
            text = block.splitlines(keepends=True)
            del block
            for offset in range(0, len(text), chunk_rows):
                yield from _lines_frames(p, first + offset, text[offset:offset + chunk_rows], kind)
        yield from typed.flush()


class _TypedRun:
    """Consecutive typed blocks of one blob with the same schema, cut into chunks of ``chunk_rows`` rows that may
    span blocks (blocks are small for the pipeline's sake; chunks stay large for the converter and Parquet)."""

    def __init__(self, path: Path, kind: str, chunk_rows: int) -> None:
        self.path, self.kind, self.chunk_rows = path, kind, chunk_rows
        self.tables: list[pa.Table] = []
        self.first = 0  # line number of the run's first row (typed blocks have no blank line: rows are lines)
        self.rows = 0

    def add(self, first: int, table: pa.Table) -> Iterator[ReconFile]:
        if self.tables and (table.schema != self.tables[0].schema or first != self.first + self.rows):
            yield from self.flush()
        if not self.tables:
            self.first = first
        self.tables.append(table)
        self.rows += table.num_rows
        if self.rows >= self.chunk_rows:
            yield from self._cut(whole_only=True)

    def flush(self) -> Iterator[ReconFile]:
        return self._cut(whole_only=False)

    def _cut(self, whole_only: bool) -> Iterator[ReconFile]:
        if not self.tables:
            return
        run = self.tables[0] if len(self.tables) == 1 else pa.concat_tables(self.tables)  # no copy
        start = 0
        while self.rows - start >= (self.chunk_rows if whole_only else 1):
            n = min(self.chunk_rows, self.rows - start)
            rows = np.arange(self.first + start, self.first + start + n, dtype=np.int64)
            report = _table_chunk(run.slice(start, n), rows, self.path, self.kind)
            if report is None:  # pragma: no cover - the readers changed shape
                raise RuntimeError("the readers' column converter changed shape")
            yield report
            start += n
        rest = run.slice(start)
        self.tables = [rest] if rest.num_rows else []
        self.first += start
        self.rows -= start


#: decompressed text per Arrow parse (whole lines), about 2,900 lines of 47 columns: small enough that inflating,
#: parsing and converting overlap from the start (chunks of ``chunk_rows`` span blocks)
BLOCK_BYTES = 1 << 22


def _text_blocks(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """``(first line number, whole lines, number of lines)`` blocks of about :data:`BLOCK_BYTES` of a (gzip) JSON
    Lines file (multi-member gzip too), inflated by :data:`_GZIP` (ISA-L's igzip when installed: about 4x zlib's
    speed, the GIL released while it inflates) in pieces of at most 1 MB, joined once per block: pieces that size
    reuse the allocator's memory, where a fresh 4 MB piece per read had the kernel zero new pages each time."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    number, head = 1, True
    pieces: list[bytes | memoryview] = []
    size = 0
    opener = _GZIP.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as stream:  # type: ignore[operator]
        while True:
            try:
                piece = stream.read(min(BLOCK_BYTES, 1 << 20))
            except (OSError, EOFError, zlib.error, _InflateError) as exc:
                row = number + sum(bytes(p).count(b"\n") for p in pieces)
                raise InputFileError(str(path), row=row, expected="a complete gzip stream", value=str(exc)) from None
            if head:
                head = False
                if piece[:3] == codecs.BOM_UTF8:
                    piece = piece[len(codecs.BOM_UTF8):]
            if not piece:
                if size:
                    block = b"".join(pieces)
                    if not block.endswith(b"\n"):
                        block += b"\n"
                    yield number, block, block.count(b"\n")
                return
            pieces.append(piece)
            size += len(piece)
            if size < BLOCK_BYTES:
                continue
            cut = piece.rfind(b"\n") + 1
            if cut == 0:  # a line longer than the block so far: read on
                continue
            pieces[-1] = memoryview(piece)[:cut]
            block = b"".join(pieces)  # the one copy
            rest = piece[cut:]
            pieces, size = ([rest], len(rest)) if rest else ([], 0)
            count = block.count(b"\n")
            yield number, block, count
            number += count


#: threads parsing blocks at once (Arrow's JSON reader releases the GIL) while the caller converts
PARSE_THREADS = 2
#: text read ahead of the caller (inflated, parsed or being parsed): about a chunk, so the parsers keep working
#: while the caller converts one
AHEAD_BYTES = 1 << 25

_END = object()


def _parsed_blocks(path: Path) -> Iterator[tuple[int, bytes, int, pa.Table | None]]:
    """:func:`_text_blocks` with each block's Arrow table (:func:`_parse_block`), in order. One background thread
    inflates the blob and hands each block to :data:`PARSE_THREADS` parser threads, up to :data:`AHEAD_BYTES` of
    text ahead of the caller, while the caller converts (inflating and parsing release the GIL); an unreadable
    blob is reported after the blocks before it, as a plain walk would."""
    ahead = max(2, min(64, AHEAD_BYTES // max(BLOCK_BYTES, 1)))
    queue: Queue[Any] = Queue(maxsize=ahead)
    stop = threading.Event()

    def produce(parsers: ThreadPoolExecutor) -> None:
        try:
            for first, block, count in _text_blocks(path):
                queue.put((first, block, count, parsers.submit(_parse_block, block) if _FAST else None))
                if stop.is_set():
                    return
            queue.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there in order
            queue.put(exc)

    with ThreadPoolExecutor(max_workers=PARSE_THREADS, thread_name_prefix="cspkit-export") as parsers:
        reader = threading.Thread(target=produce, args=(parsers,), name="cspkit-export-read", daemon=True)
        reader.start()
        try:
            while True:
                item = queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                first, block, count, parsed = item
                del item
                yield first, block, count, parsed.result() if parsed is not None else None
                del block, parsed
        finally:  # also when the caller stops early: let the reader end, drop what it read ahead
            stop.set()
            while reader.is_alive() or not queue.empty():
                try:
                    item = queue.get(timeout=0.01)
                except Empty:
                    continue
                if isinstance(item, tuple) and item[3] is not None:
                    item[3].cancel()
            reader.join()


def _block_schema(first_line: bytes) -> pa.Schema | None:
    """The explicit Arrow schema of a block from its first line: the readers' number columns as exact decimals
    (unless the line has a non-numeric text there), the rest as text; None when the line is not a flat object."""
    try:
        head = json.loads(first_line)
    except ValueError:
        return None
    if not isinstance(head, dict):
        return None
    fields = []
    for key, value in head.items():
        if isinstance(value, bool):  # e.g. hasPartnerEarnedCredit: kept as the text "true"/"false"
            fields.append((key, pa.bool_()))
            continue
        if isinstance(value, (list, dict)):
            return None
        typ = COLUMN_TYPES.get(canonical_column(key) or "", "str")
        numeric = typ in ("decimal", "percent") and (
            value is None or isinstance(value, (int, float)) or _plain_number(value))
        fields.append((key, MONEY_ARROW if numeric else TEXT))  # TEXT: the converter's string type, no cast
    return pa.schema(fields)


def _plain_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value == value.strip()


_NEWLINE, _BRACE = ord("\n"), ord("{")


def _parse_block(block: bytes) -> pa.Table | None:
    """A block of JSON Lines → an Arrow table (text and decimal columns); None when Arrow cannot take it so, or
    when a line does not start with ``{`` (a blank line, which Arrow would skip: rows would no longer be lines)."""
    data = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(data == _NEWLINE)
    if not len(data) or data[0] != _BRACE or not (data[ends[:-1] + 1] == _BRACE).all():
        return None
    schema = _block_schema(block[: block.find(b"\n")])
    if schema is None:
        return None
    try:
        table = pj.read_json(
            pa.py_buffer(block),
            # one thread: the block is parsed in the background while the caller converts the previous one, and
            # Arrow's own threads cost ~20 % more CPU for the same block
            read_options=pj.ReadOptions(use_threads=False, block_size=len(block) + 1),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    # a key first seen after line 1 is inferred: only text (or all-null) keeps its JSON text exactly
    exact = (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_decimal(t) or pa.types.is_null(t)
             or pa.types.is_boolean(t) for t in table.schema.types)
    return table if all(exact) else None


def _table_chunk(table: pa.Table, rows: np.ndarray, path: Path, kind: str) -> ReconFile | None:
    """Rows of a parsed block → the typed frame (decimal columns as the exact decimals Arrow parsed)."""
    raw: dict[str, pa.Array] = {}
    for name in table.column_names:
        array = table.column(name).combine_chunks()
        if pa.types.is_null(array.type):
            array = pa.nulls(len(array), TEXT)
        elif pa.types.is_boolean(array.type):
            array = pc.if_else(array, "true", "false")
        raw[name] = array
    try:
        return _assemble(raw, rows, path, kind)
    except InputFileError as exc:
        row = int(rows[exc.row - 1]) if exc.row and 0 < exc.row <= len(rows) else exc.row
        raise InputFileError(str(path), row=row, column=exc.column, expected=exc.expected, value=exc.value) from None


def _lines_frames(path: Path, first: int, lines: list[bytes], kind: str) -> Iterator[ReconFile]:
    """The slower paths for lines Arrow could not take as a typed block (see :func:`iter_export_frames`)."""
    rows = list(range(first, first + len(lines)))
    report, lines = _arrow_chunk(lines, rows, path, kind) if _FAST else (None, lines)
    if report is None:
        batch, kept = [], []
        for number, line in zip(rows, lines, strict=True):
            record = _parse_line(path, number, line)
            if record is not None:
                batch.append(record)
                kept.append(number)
        if not batch:
            return
        report = _typed_chunk(batch, kept, path, kind)
    yield report


#: a JSON number value after a key (not after an escaped quote inside a string): RE2 syntax, run by Arrow
_JSON_NUMBER = r'([^\\])":\s*(-?[0-9][0-9.eE+\-]*)'


def _arrow_chunk(
    lines: list[bytes], rows: list[int], path: Path, kind: str
) -> tuple[ReconFile | None, list[bytes]]:
    """A block of JSON Lines through Arrow's JSON reader → ``(frame, [])``; ``(None, lines)`` when Arrow cannot
    take it as flat text columns (the lines are handed back for the record path)."""
    if any(not line.strip() for line in lines):
        return None, lines
    try:
        head = json.loads(lines[0])
    except ValueError:
        return None, lines
    if not isinstance(head, dict):
        return None, lines
    if not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    # 10.08 → "10.08" in the raw text (Arrow would read a number as a double), then the block as one buffer
    try:
        original = pa.array(lines, type=pa.binary())
    except (pa.ArrowException, AttributeError):
        return None, lines
    lines.clear()  # memory: the Arrow copy replaces the Python one (given back if Arrow cannot take the block)
    try:
        quoted = pc.replace_substring_regex(original, pattern=_JSON_NUMBER, replacement=r'\1":"\2"')
        offsets = np.frombuffer(quoted.buffers()[1], dtype=np.int32, count=len(quoted) + 1,
                                offset=quoted.offset * 4)
        block = quoted.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    except (pa.ArrowException, AttributeError):  # e.g. a block over 2 GiB (a chunked array)
        return None, original.to_pylist()
    schema = pa.schema([(key, pa.string()) for key in head])
    try:
        table = pj.read_json(
            pa.BufferReader(block),
            read_options=pj.ReadOptions(use_threads=True, block_size=max(1 << 20, block.size // 4 + 1)),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None, original.to_pylist()
    del quoted, block
    if table.num_rows != len(rows):
        return None, original.to_pylist()
    raw: dict[str, pa.Array] = {}
    for name in table.column_names:
        array = table.column(name).combine_chunks()
        if pa.types.is_null(array.type):
            array = pa.nulls(len(array), pa.string())
        elif pa.types.is_boolean(array.type):
            array = pc.if_else(array, "true", "false")
        elif not pa.types.is_string(array.type):
            return None, original.to_pylist()
        raw[name] = array
    del table
    try:
        frame = _assemble(raw, rows, path, kind)
        return (frame, []) if frame is not None else (None, original.to_pylist())
    except InputFileError as exc:
        row = rows[exc.row - 1] if exc.row and 0 < exc.row <= len(rows) else exc.row
        raise InputFileError(str(path), row=row, column=exc.column, expected=exc.expected, value=exc.value) from None


def _typed_chunk(batch: list[dict[str, Any]], rows: list[int], path: Path, kind: str) -> ReconFile:
    try:
        report = _columnar_chunk(batch, rows, path, kind) if _FAST else None
        if report is None:
            report = recon_lines_to_frame(batch, kind=kind, source=path.name, chunk_rows=max(len(batch), 1))
            report.frame["SourceRow"] = np.asarray(rows, dtype="int64")
    except InputFileError as exc:
        row = rows[exc.row - 1] if exc.row and 0 < exc.row <= len(rows) else exc.row
        raise InputFileError(str(path), row=row, column=exc.column, expected=exc.expected, value=exc.value) from None
    return report


def _columnar_chunk(batch: list[dict[str, Any]], rows: list[int], path: Path, kind: str) -> ReconFile | None:
    """Records → one Arrow text array per key → the readers' column converter (no per-cell dispatch)."""
    keys: dict[str, None] = {}
    for record in batch:
        if len(record) != len(keys) or record.keys() != keys.keys():
            keys.update(dict.fromkeys(record))
    raw: dict[str, pa.Array] = {}
    for key in keys:
        values = [record.get(key) for record in batch]
        try:
            raw[key] = pa.array(values, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raw[key] = pa.array([_to_text(v) for v in values], type=pa.string())
    return _assemble(raw, rows, path, kind)


def _assemble(raw: dict[str, pa.Array], rows: Sequence[int], path: Path, kind: str) -> ReconFile | None:
    """Raw columns keyed by JSON key (text, or exact decimals Arrow parsed: handed to the converter as they are,
    no round trip through text) → the typed frame of :func:`recon_lines_to_frame` (row numbers = the chunk's
    positions, mapped by the caller). None when the readers' internals are not the expected shape."""
    columns: dict[str, pa.Array] = {}
    fractions: set[str] = set()
    for key, array in raw.items():
        canonical = canonical_column(key)
        name = canonical or key
        if canonical and normalize_header(key) in FRACTION_ALIASES:
            fractions.add(canonical)
        # an alias of a column already seen (total / totalForCustomer): the first non-null value wins
        if name in columns:
            seen = columns[name]
            if seen.type != array.type:  # a decimal and a text spelling: compared as text
                seen, array = pc.cast(seen, TEXT), pc.cast(array, TEXT)
            array = pc.coalesce(seen, array)
        columns[name] = array
    for name in fractions:  # fraction aliases (rateOfPartnerEarnedCredit) are scaled by the converter's text rule
        if pa.types.is_decimal(columns[name].type):
            columns[name] = pc.cast(columns[name], TEXT)
    try:
        assembler = _Assembler(str(path), kind, "jsonl+gzip")
        assembler.setup(list(columns), fractions=fractions)
        assembler.add(columns, 1, len(rows))
        report = assembler.finish(source_name=path.name)
    except (AttributeError, TypeError):  # pragma: no cover - the readers changed shape
        return None
    if report.rows_read != len(rows) or report.rows_skipped:
        return None  # blank records: let the public path count them exactly
    report.frame["SourceRow"] = np.asarray(rows, dtype="int64")
    return report


def read_export(paths: Iterable[PathLike], *, kind: str = "invoice", chunk_rows: int = 100_000) -> ReconFile:
    """Read every blob of an export into one typed frame, through the block reader of :func:`iter_export_frames`
    (Arrow inflates and parses whole blocks; the chunks are concatenated once at the end).

    Args:
        paths: the blob files (gzip JSON Lines, multi-member allowed), in manifest order.
        kind: ``"invoice"`` or ``"daily"``.
        chunk_rows: rows converted at once (the frame is the same for any value).
    Returns:
        :class:`~cspkit.billing.recon_readers.ReconFile` over all blobs: ``source`` = the first blob's folder,
        ``rows_read`` = rows in the frame, ``rows_skipped`` = blank lines and records without a value,
        ``missing_columns`` = documented columns no blob has, ``extra_columns`` = undocumented keys any blob has,
        ``warnings`` of the converter (each once); empty blobs are skipped; no blobs → an empty typed frame.
    Raises:
        InputFileError: a blob is malformed (file, line, column, what was expected).
    """
    use_reuse_friendly_pool()
    paths = [Path(p) for p in paths]
    lines: dict[str, int] = {}
    frames: list[pd.DataFrame] = []
    missing: set[str] | None = None
    extra: dict[str, None] = {}
    warnings: dict[str, None] = {}
    for path in paths:
        if _is_empty(path):
            continue
        for report in _export_chunks([path], kind, chunk_rows, lines):
            frames.append(report.frame)
            missing = set(report.missing_columns) if missing is None else missing & set(report.missing_columns)
            extra.update(dict.fromkeys(report.extra_columns))
            warnings.update(dict.fromkeys(report.warnings))
    frame = concat_recon_frames(frames, kind)
    rows = len(frame)
    return ReconFile(
        frame=frame,
        kind=kind,
        source=str(paths[0].parent) if paths else "export",
        format="jsonl+gzip",
        rows_read=rows,
        rows_skipped=sum(lines.values()) - rows,
        missing_columns=sorted(missing or ()),
        extra_columns=sorted(extra),
        warnings=list(warnings),
    )
