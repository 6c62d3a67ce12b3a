"""Billing exports as reconciliation frames: a downloaded Graph export folder, or v1 line items (pure: no HTTP).

Two sources of the same invoice reconciliation lines (partner-center-api.md §6.1-§6.2, billing-formats.md §3.2):

* the Graph asynchronous export, downloaded by :mod:`cspkit.resources.billing_exports` into a folder holding
  ``manifest.json`` (SAS token redacted) and the gzip JSON Lines blobs it names: :func:`export_blob_paths` and
  :func:`read_export_dir` read it back (the blobs themselves: :mod:`cspkit.billing.graph_export`);
* the v1 ``GET /invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems`` pages
  (:meth:`cspkit.resources.invoices.Invoices.reconciliation_line_items`): :func:`v1_lines_to_frame` drops the v1
  envelope keys so both APIs give the same frame; columnar, each page parsed by Arrow into one table
  (:func:`parse_v1_page`, :meth:`cspkit.resources.invoices.Invoices.line_item_batches`), the same frame by
  :func:`v1_batches_to_frame`, or streamed in typed chunks for ingest by :func:`iter_v1_frames`.

Export kinds map onto reader kinds by :func:`recon_kind`: the reconciliation exports are ``"invoice"`` files, the
usage exports ``"daily"`` rated usage files (Graph ``partners-billing-billedusage-export``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.graph_export import read_export
from cspkit.billing.recon_columns import FRACTION_ALIASES, REQUIRED_COLUMNS, canonical_column, normalize_header
from cspkit.billing.recon_frame import Assembler
from cspkit.billing.recon_json import to_text
from cspkit.billing.recon_readers import ReconFile
from cspkit.billing.recon_values import TEXT
from cspkit.errors import InputFileError
from cspkit.models.billing_export import EXPORT_KINDS

__all__ = [
    "V1_ENVELOPE_KEYS",
    "export_blob_paths",
    "iter_v1_frames",
    "parse_v1_page",
    "read_export_dir",
    "recon_kind",
    "v1_batches_to_frame",
    "v1_lines_to_frame",
]

PathLike = str | os.PathLike[str]

#: v1 line-item keys that are API envelope, not reconciliation columns (``discountDetails`` is deprecated and absent
#: from the files and the export): dropped so both APIs give the same frame.
V1_ENVELOPE_KEYS = frozenset({"attributes", "invoiceLineItemType", "billingProvider", "discountDetails"})


def recon_kind(export_kind: str) -> str:
    """``"invoice"`` for the reconciliation exports, ``"daily"`` for the usage exports (the readers' kinds).

    Raises:
        ValueError: not one of ``billed-reconciliation``, ``unbilled-reconciliation``, ``billed-usage``,
            ``unbilled-usage``.
    """
    if export_kind not in EXPORT_KINDS:
        raise ValueError(f"unknown export kind {export_kind!r}: one of {', '.join(EXPORT_KINDS)}")
    return "invoice" if EXPORT_KINDS[export_kind][0] == "reconciliation" else "daily"


def v1_lines_to_frame(
    items: Iterable[Mapping[str, Any]], *, source: str = "API", kind: str = "invoice", chunk_rows: int = 20_000
) -> pd.DataFrame:
    """v1 line-item JSON objects (as sent, streamed) → the typed reconciliation frame, built column by column.

    Billing line items (``OneTimeInvoiceLineItem``) give the invoice frame, usage line items
    (``DailyRatedUsageLineItem``) the daily rated usage frame: partner-center-api.md §6.4-§6.5, billing-formats.md
    §1.6 (camelCase keys and aliases, numbers as strings or numbers, ``productQualifiers`` as an array, rates as
    fractions). Each chunk of ``chunk_rows`` items becomes one Arrow text array per key (no per-cell Python
    dispatch; numbers and arrays through the readers' JSON value → text rule), then the readers' column converter
    (:class:`cspkit.billing.recon_frame.Assembler`): the same frame as
    :func:`cspkit.billing.recon_readers.recon_lines_to_frame`.

    Args:
        items: the line items' wire dicts (camelCase keys), e.g. ``pc.invoices.reconciliation_line_items(id)``;
            models with ``to_wire()`` are accepted too.
        source: the ``SourceFile`` value (``SourceRow`` = the item's 1-based position).
        kind: ``"invoice"`` (billing line items: 47 columns) or ``"daily"`` (usage line items: 55 columns).
        chunk_rows: items converted at once (memory: about 10 KB per item in flight).
    Returns:
        the typed frame (columns + SourceFile/SourceRow) without the envelope keys :data:`V1_ENVELOPE_KEYS`.
    Raises:
        InputFileError: an item is not an object, or a value cannot be parsed (row = item position, column,
            what was expected).
    """
    def parts() -> Iterator[tuple[dict[str, pa.Array], int]]:
        batch: list[Mapping[str, Any]] = []
        for number, item in enumerate(items, start=1):
            if hasattr(item, "to_wire"):
                item = item.to_wire()
            if not isinstance(item, Mapping):
                raise InputFileError(source, row=number, expected="a JSON object (one line item)",
                                     value=to_text(item))
            batch.append(item)
            if len(batch) >= chunk_rows:
                yield _columns(batch), len(batch)
                batch = []
        if batch:
            yield _columns(batch), len(batch)

    return _parts_to_frame(parts(), source=source, kind=kind, chunk_rows=chunk_rows)


def v1_batches_to_frame(
    batches: Iterable[pa.Table | Sequence[Mapping[str, Any]]],
    *,
    source: str = "API",
    kind: str = "invoice",
    chunk_rows: int = 20_000,
) -> pd.DataFrame:
    """v1 line-item pages as batches (Arrow tables of :func:`parse_v1_page`, or lists of item dicts where Arrow
    could not type a page) → the typed reconciliation frame: the same frame as :func:`v1_lines_to_frame` on the
    same items (same rules: partner-center-api.md §6.4-§6.5, billing-formats.md §1.6), with no Python object per
    line for the table batches (exact decimals passed through, text columns as they are).

    Args:
        batches: e.g. :meth:`cspkit.resources.invoices.Invoices.line_item_batches`; a table has one column per
            item key (text, ``decimal128(38, 15)``, bool, list of text, or the struct ``attributes``).
        source: the ``SourceFile`` value (``SourceRow`` = the item's 1-based position over all batches).
        kind: ``"invoice"`` (47 columns) or ``"daily"`` (55 columns).
        chunk_rows: rows converted at once (batches are joined up to about this many rows).
    Returns:
        the typed frame, without the envelope keys :data:`V1_ENVELOPE_KEYS`.
    Raises:
        InputFileError: an item is not an object, or a value cannot be parsed (row = item position, column, what
            was expected).
    """
    return _parts_to_frame(_batch_parts(batches, source), source=source, kind=kind, chunk_rows=chunk_rows)


def iter_v1_frames(
    batches: Iterable[pa.Table | Sequence[Mapping[str, Any]]],
    *,
    source: str = "API",
    kind: str = "invoice",
    chunk_rows: int = 50_000,
) -> Iterator[pd.DataFrame]:
    """:func:`v1_batches_to_frame` streamed: typed chunk frames of about ``chunk_rows`` rows (whole pages), for
    :func:`cspkit.billing.ingest.ingest_frames` — memory of one chunk, not of the invoice. Each chunk has the
    typed columns and dtypes of the whole frame (``SourceRow`` = the item's 1-based position over all batches);
    a column no item of a chunk has is absent from that chunk, as with the Graph export's chunks.

    Raises:
        InputFileError: as :func:`v1_batches_to_frame`.
    """
    for raw, first, rows in _chunks(_batch_parts(batches, source), chunk_rows):
        assembler = Assembler(source, kind, "api")
        assembler.setup([_canonical(k)[0] for k in raw], fractions=_fractions(raw))
        assembler.add(_merged(raw, assembler, rows), first, rows)
        yield assembler.finish(source_name=source).frame


def _batch_parts(
    batches: Iterable[pa.Table | Sequence[Mapping[str, Any]]], source: str
) -> Iterator[tuple[dict[str, pa.Array], int]]:
    """Batches → raw column parts: a table column by column (:func:`_table_columns`), a list of dicts (or a table
    the columnar rule does not take) through :func:`_columns`."""
    first = 1
    for batch in batches:
        if isinstance(batch, pa.Table):
            columns = _table_columns(batch)
            rows = batch.num_rows
            if columns is None:  # a shape the columnar rule does not take: the dict rule, row by row
                batch = batch.to_pylist()
            else:
                if rows:
                    yield columns, rows
                first += rows
                continue
        rows = len(batch)
        for offset, item in enumerate(batch):
            if not isinstance(item, Mapping):
                raise InputFileError(source, row=first + offset, expected="a JSON object (one line item)",
                                     value=to_text(item))
        if rows:
            yield _columns(list(batch)), rows
        first += rows


def _chunks(
    parts: Iterable[tuple[dict[str, pa.Array], int]], chunk_rows: int
) -> Iterator[tuple[dict[str, pa.Array], int, int]]:
    """Parts joined into chunks of at least ``chunk_rows`` rows (the last one smaller): ``(raw, first row, rows)``."""
    pending: list[tuple[dict[str, pa.Array], int]] = []
    held, first = 0, 1
    for part in parts:
        pending.append(part)
        held += part[1]
        if held >= chunk_rows:
            yield _join_parts(pending, held), first, held
            first += held
            pending, held = [], 0
    if pending:
        yield _join_parts(pending, held), first, held


def _merged(raw: dict[str, pa.Array], assembler: Assembler, rows: int) -> dict[str, pa.Array]:
    """Raw columns keyed by JSON key → the converter's columns: aliases merged (the first non-null value wins),
    columns seen in earlier chunks as nulls, decimals as Arrow parsed them (fraction aliases, scaled by the text
    rule, and everything else as text)."""
    merged: dict[str, pa.Array] = {}
    for key, array in raw.items():
        name = _canonical(key)[0]
        if name in merged:
            seen = merged[name]
            if seen.type != array.type:  # a decimal and a text spelling: compared as text
                seen, array = seen.cast(TEXT), array.cast(TEXT)
            array = pc.coalesce(seen, array)
        merged[name] = array
    for name in assembler.columns_seen:
        merged.setdefault(name, pa.nulls(rows, TEXT))
    return {k: v if pa.types.is_decimal(v.type) and k not in assembler.fractions else v.cast(TEXT)
            for k, v in merged.items()}


def _parts_to_frame(
    parts: Iterable[tuple[dict[str, pa.Array], int]], *, source: str, kind: str, chunk_rows: int
) -> pd.DataFrame:
    """Raw column parts (JSON key → text or exact decimal array, and their row count), joined into chunks of about
    ``chunk_rows`` rows → the readers' column converter (one :class:`Assembler` for the whole frame)."""
    assembler = Assembler(source, kind, "api")
    for raw, first, rows in _chunks(parts, chunk_rows):
        if assembler.converter is None:
            assembler.setup([_canonical(k)[0] for k in raw], fractions=_fractions(raw))
        else:
            assembler.fractions |= _fractions(raw)
        assembler.add(_merged(raw, assembler, rows), first, rows)
    if assembler.converter is None:
        assembler.setup(list(REQUIRED_COLUMNS[kind]))
    return assembler.finish(source_name=source).frame


def _join_parts(parts: list[tuple[dict[str, pa.Array], int]], rows: int) -> dict[str, pa.Array]:
    """Parts → one array per key (first-seen key order); a key a part lacks is null there, a key typed two ways
    (decimal in one page, text in another) is text."""
    if len(parts) == 1:
        return parts[0][0]
    keys: dict[str, None] = {}
    for raw, _ in parts:
        keys.update(dict.fromkeys(raw))
    joined: dict[str, pa.Array] = {}
    for key in keys:
        types = {raw[key].type for raw, _ in parts if key in raw}
        typ = types.pop() if len(types) == 1 else TEXT
        arrays = [(raw[key] if raw[key].type == typ else raw[key].cast(typ)) if key in raw else pa.nulls(n, typ)
                  for raw, n in parts]
        joined[key] = pa.concat_arrays(arrays)
    assert all(len(a) == rows for a in joined.values())
    return joined


def _table_columns(table: pa.Table) -> dict[str, pa.Array] | None:
    """A page table's item columns → text or exact decimal arrays (envelope keys left out); None when a column
    is of a type the rule does not take (numbers or nested objects Arrow inferred for a key the first item lacked):
    the caller then takes the page's items as dicts."""
    raw: dict[str, pa.Array] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in V1_ENVELOPE_KEYS:
            continue
        array = column.combine_chunks()
        typ = array.type
        if pa.types.is_decimal(typ) or pa.types.is_large_string(typ) or pa.types.is_string(typ):
            raw[name] = array
        elif pa.types.is_null(typ):
            raw[name] = pa.nulls(len(array), TEXT)
        elif pa.types.is_boolean(typ):
            raw[name] = pc.if_else(array, "true", "false")
        elif pa.types.is_integer(typ):  # whole numbers: the same text as str(int) on the dict path
            raw[name] = array.cast(TEXT)
        elif (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and (
                pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type)):
            raw[name] = pa.array(_texts(array.to_pylist()), type=TEXT)  # productQualifiers: the JSON text
        else:
            return None
    return raw


def _columns(batch: list[Mapping[str, Any]]) -> dict[str, pa.Array]:
    """Items → one Arrow text array per key (first-seen key order), envelope keys left out. Items with the same
    keys (the API's case) are transposed by C loops (``itemgetter`` + ``zip``), not one ``get`` per cell."""
    head = batch[0]
    keys: dict[str, None] = dict.fromkeys(head)
    uniform = True
    for record in batch:
        if len(record) != len(keys) or record.keys() != keys.keys():
            keys.update(dict.fromkeys(record))
            uniform = False
    wanted = [key for key in keys if key not in V1_ENVELOPE_KEYS]
    if not wanted:
        return {}
    if uniform and len(wanted) > 1:
        columns = zip(*map(itemgetter(*wanted), batch), strict=True)
    else:
        columns = ([record.get(key) for record in batch] for key in wanted)  # type: ignore[assignment]
    raw: dict[str, pa.Array] = {}
    for key, values in zip(wanted, columns, strict=True):
        try:
            raw[key] = pa.array(values, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raw[key] = pa.array(_texts(values), type=pa.string())
    return raw


def _texts(values: Iterable[Any]) -> list[str | None]:
    """The readers' JSON value → text rule per value; repeated arrays (``productQualifiers``) encoded once."""
    seen: dict[tuple[Any, ...], str | None] = {}
    out: list[str | None] = []
    for value in values:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            key = tuple(value)
            text = seen.get(key)
            if text is None:
                text = seen[key] = to_text(value)
            out.append(text)
        else:
            out.append(to_text(value))
    return out


def _canonical(key: str) -> tuple[str, bool]:
    canonical = canonical_column(key)
    return canonical or key, bool(canonical) and normalize_header(key) in FRACTION_ALIASES


def _fractions(raw: dict[str, pa.Array]) -> set[str]:
    return {name for name, fraction in map(_canonical, raw) if fraction}


def export_blob_paths(folder: PathLike) -> list[Path]:
    """The blob files of a downloaded export, in manifest order (from its ``manifest.json``).

    Raises:
        InputFileError: ``manifest.json`` is missing or not a manifest, names a blob outside the folder, or a blob
            it names is not in the folder (download it again: finished blobs are skipped).
    """
    root = Path(folder)
    manifest = root / "manifest.json"
    try:
        payload = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(str(manifest), expected="the manifest.json an export download writes",
                             value="no such file") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(str(manifest), expected="a JSON export manifest", value=str(exc)[:80]) from None
    blobs = payload.get("blobs") if isinstance(payload, dict) else None
    if not isinstance(blobs, list):
        raise InputFileError(str(manifest), column="blobs", expected="a list of {name} objects",
                             value=type(blobs).__name__)
    paths: list[Path] = []
    for number, blob in enumerate(blobs, start=1):
        name = blob.get("name") if isinstance(blob, dict) else None
        parts = PurePosixPath(str(name or "").replace("\\", "/")).parts
        if not name or ".." in parts or PurePosixPath(str(name)).is_absolute():
            raise InputFileError(str(manifest), row=number, column="blobs.name",
                                 expected="a plain relative blob name", value=str(name))
        path = root.joinpath(*parts)
        if not path.is_file():
            raise InputFileError(str(path), expected=f"blob {number} of the export (not downloaded yet?)",
                                 value="no such file")
        paths.append(path)
    return paths


def read_export_dir(folder: PathLike, *, kind: str = "invoice") -> ReconFile:
    """Read a downloaded export folder (``manifest.json`` + blobs) into one typed frame.

    Args:
        folder: the ``out_dir`` of an export download.
        kind: ``"invoice"`` (reconciliation exports) or ``"daily"`` (usage exports); see :func:`recon_kind`.
    Returns:
        :func:`cspkit.billing.graph_export.read_export` over the blobs in manifest order (an empty typed frame for
        an export without blobs).
    Raises:
        InputFileError: as :func:`export_blob_paths`, or a malformed blob (file, line, column).
    """
    return read_export(export_blob_paths(folder), kind=kind)


_ITEM_DECODER = json.JSONDecoder()


def parse_v1_page(body: bytes | str) -> Any:
    """A v1 line-item page body → its envelope with ``items`` as one Arrow table (no Python object per line), or
    the page decoded by orjson (``items`` as dicts) when Arrow cannot type it.

    The body (``{"totalCount", "items": [...], "continuationToken"?, "links", "attributes"}``,
    partner-center-api.md §6.4, §7.5) is parsed whole by Arrow's JSON reader under an explicit schema for the items
    taken from the first item, the Graph reader's types (:func:`cspkit.billing.graph_export._block_schema`): the
    readers' number columns (``unitPrice``, ``subtotal``...) as exact ``decimal128(38, 15)`` — JSON numbers and
    numeric strings alike — arrays of text (``productQualifiers``) as lists, booleans as booleans, every other key
    as text; ``totalCount``, ``continuationToken`` and ``links`` are inferred and handed back as Python values
    (the paginator follows ``links.next`` and its ``MS-ContinuationToken`` header as on the dict path).

    Falls back to the dicts for an empty page, a first item that is not a flat object (a nested object other than
    the envelope's ``attributes``), a value Arrow cannot take under that schema (``""`` or over 15 decimals in a
    number column, a number where the first item had text, a ``null`` item) or a body that is not one JSON object.

    Returns:
        ``{"totalCount": int, "items": pa.Table, "continuationToken": str | None, "links": dict}`` (the table has
        one row per item, one column per key), or the decoded JSON (orjson: the values :func:`json.loads` gives).
    Raises:
        ValueError: the body is not JSON.
    """
    from orjson import loads  # not cspkit.pagination: billing stays free of the client's modules (architecture.md)

    data = body.encode() if isinstance(body, str) else body
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    table = _page_table(data)
    if table is None:
        return loads(data)
    envelope = {name: table.column(name)[0].as_py() for name in table.column_names if name != "items"}
    envelope["items"] = _item_table(table)
    if envelope["items"] is None:
        return loads(data)
    return envelope


def _page_table(data: bytes) -> pa.Table | None:
    """The page as a one-row Arrow table (``items`` typed from the first item), or None (see parse_v1_page)."""
    import pyarrow.json as pj

    from cspkit.billing.graph_export import _block_schema

    at = data.find(b'"items"')
    start = data.find(b"[", at) + 1 if at >= 0 else 0
    if at < 0 or start == 0 or data[:1] != b"{":
        return None
    text = data[start:start + (1 << 16)].decode("utf-8", "ignore").lstrip()
    if not text.startswith("{"):
        return None  # an empty page, or items that are not objects
    try:
        head, _ = _ITEM_DECODER.raw_decode(text)
    except ValueError:
        try:
            head, _ = _ITEM_DECODER.raw_decode(data[start:].decode("utf-8", "replace").lstrip())
        except ValueError:
            return None
    if not isinstance(head, dict):
        return None
    flat = {k: v for k, v in head.items() if k not in V1_ENVELOPE_KEYS and not _text_list(v)}
    schema = _block_schema(json.dumps(flat).encode())
    if schema is None:
        return None
    fields = {field.name: field for field in schema}
    for key, field in fields.items():  # a whole number in a text column (resellerMpnId: 0): int64, then its text
        value = head[key]
        if field.type == TEXT and isinstance(value, int) and not isinstance(value, bool):
            fields[key] = pa.field(key, pa.int64())
    item = pa.struct([fields[k] if k in fields else pa.field(k, pa.list_(TEXT)) for k in head
                      if k in fields or _text_list(head[k])])
    multiline = b"\n" in data.rstrip()
    try:
        table = pj.read_json(
            pa.py_buffer(data),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
            parse_options=pj.ParseOptions(explicit_schema=pa.schema([("items", pa.list_(item))]),
                                          unexpected_field_behavior="infer", newlines_in_values=multiline),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return table if table.num_rows == 1 else None


def _text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _item_table(page: pa.Table) -> pa.Table | None:
    items = page.column("items")
    lists = items.chunk(0) if items.num_chunks == 1 else items.combine_chunks()
    if lists.null_count:
        return None
    structs = lists.flatten()
    if structs.null_count:  # a null item: the dict path names it
        return None
    return pa.Table.from_struct_array(structs)
