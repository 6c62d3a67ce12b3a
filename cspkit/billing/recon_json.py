"""JSON records of the reconciliation readers: JSON Lines (streamed), JSON arrays, ``{"items": [...]}`` envelopes
and the v1 API's line items (dicts or models with ``to_wire()``) → the typed frame.

Sources: billing-formats.md §1.6 (camelCase aliases, rate fractions), §3.2 (export blobs: gzip JSON Lines);
partner-center-api.md §6.4–6.5 (billed/unbilled line items: numbers as strings or numbers, arrays as arrays).
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from cspkit.billing.recon_columns import FRACTION_ALIASES, REQUIRED_COLUMNS, canonical_column, normalize_header
from cspkit.billing.recon_frame import MAX_LISTED, Assembler, ReconFile
from cspkit.billing.recon_values import TEXT
from cspkit.errors import InputFileError

__all__ = ["from_records", "iter_json", "to_text"]

# --------------------------------------------------------------------------------------------------------------
# JSON records (export blobs, saved API responses, API line items)


def iter_json(stream: io.BufferedReader, path: str, first: bytes) -> tuple[Iterator[tuple[int, Any]], str]:
    """Yield ``(row_number, record)`` from JSON Lines (streamed) or a JSON array/envelope."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    if first == b"[" or _looks_like_single_document(stream):
        try:
            document = json.load(text, parse_float=str, parse_int=str)
        except ValueError as exc:
            raise InputFileError(path, expected="a JSON document", value=str(exc)) from None
        items = document.get("items", document.get("value")) if isinstance(document, dict) else document
        if not isinstance(items, list):
            raise InputFileError(path, expected='a JSON array of line items or {"items": [...]}')
        return ((i + 1, item) for i, item in enumerate(items)), "json"

    def lines() -> Iterator[tuple[int, Any]]:
        for number, line in enumerate(text, start=1):
            if not line.strip():
                yield number, None
                continue
            try:
                yield number, json.loads(line, parse_float=str, parse_int=str)
            except ValueError as exc:
                raise InputFileError(path, row=number, expected="one JSON object per line", value=line[:80]) from (exc)

    return lines(), "jsonl"


def _looks_like_single_document(stream: io.BufferedReader) -> bool:
    """A ``{...}`` file is an envelope when its first line is not a complete JSON object."""
    head = stream.peek(1 << 16)[: 1 << 16].lstrip(codecs.BOM_UTF8)
    line = head.split(b"\n", 1)[0].strip()
    try:
        value = json.loads(line)
    except ValueError:
        return True
    return isinstance(value, dict) and isinstance(value.get("items"), list)


def to_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def from_records(records: Iterable[tuple[int, Any]], path: str, *, kind: str, fmt: str, chunk_rows: int) -> ReconFile:
    assembler = Assembler(path, None if kind == "auto" else kind, fmt)
    keymap: dict[str, tuple[str, bool]] = {}  # raw key -> (output column, is fraction alias)
    chunk: list[tuple[int, dict[str, Any]]] = []
    blank_rows: list[int] = []
    set_up = False
    fractions: set[str] = set()

    def flush() -> None:
        nonlocal set_up, chunk, blank_rows
        if not chunk and not blank_rows:
            return
        columns: dict[str, list[Any]] = {}
        n = len(chunk)
        for position, (_number, record) in enumerate(chunk):
            for key, value in record.items():
                mapped = keymap.get(key)
                if mapped is None:
                    canonical = canonical_column(key)
                    mapped = (canonical or key, normalize_header(key) in FRACTION_ALIASES)
                    keymap[key] = mapped
                    if mapped[1] and canonical:
                        fractions.add(canonical)
                column = mapped[0]
                values = columns.get(column)
                if values is None:
                    values = columns[column] = [None] * n
                if values[position] is None:
                    values[position] = to_text(value)
        if not set_up:
            if not chunk:
                assembler.setup(list(REQUIRED_COLUMNS["invoice" if kind in ("auto", "invoice") else kind]))
            else:
                assembler.setup(list(columns), fractions=fractions)
            set_up = True
        else:
            assembler.fractions |= fractions
        # keep every documented column seen in any chunk (later chunks may lack some keys)
        for column in assembler.columns_seen:
            columns.setdefault(column, [None] * n)
        numbers = [number for number, _ in chunk]
        if numbers:
            contiguous = numbers[-1] - numbers[0] + 1 == n
            arrays = {c: pa.array(v, type=TEXT) for c, v in columns.items()}
            if contiguous:
                assembler.add(arrays, numbers[0], n)
            else:
                _add_noncontiguous(assembler, arrays, numbers)
        for number in blank_rows:
            assembler.rows_skipped += 1
            if len(assembler.skipped_rows) < MAX_LISTED:
                assembler.skipped_rows.append(number)
        chunk, blank_rows = [], []

    for number, record in records:
        if record is None:
            blank_rows.append(number)
            continue
        if hasattr(record, "to_wire"):
            record = record.to_wire()
        if not isinstance(record, Mapping):
            raise InputFileError(path, row=number, expected="a JSON object (one line item)", value=to_text(record))
        chunk.append((number, dict(record)))
        if len(chunk) >= chunk_rows:
            flush()
    flush()
    if not set_up:
        assembler.setup(list(REQUIRED_COLUMNS["invoice" if kind in ("auto", "invoice") else kind]))
    result = assembler.finish(source_name=Path(path).name if path != "API" else "API")
    result.skipped_rows.sort()
    return result


def _add_noncontiguous(assembler: Assembler, arrays: dict[str, pa.Array], numbers: list[int]) -> None:
    """Add rows whose source numbers have gaps (blank lines in between), keeping exact row numbers."""
    start = 0
    for i in range(1, len(numbers) + 1):
        if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
            part = {c: a.slice(start, i - start) for c, a in arrays.items()}
            assembler.add(part, numbers[start], i - start)
            start = i
