"""Billing exports as reconciliation frames: a downloaded Graph export folder, or v1 line items (pure: no HTTP).

Two sources of the same invoice reconciliation lines (partner-center-api.md §6.1-§6.2, billing-formats.md §3.2):

* the Graph asynchronous export, downloaded by :mod:`cspkit.resources.billing_exports` into a folder holding
  ``manifest.json`` (SAS token redacted) and the gzip JSON Lines blobs it names: :func:`export_blob_paths` and
  :func:`read_export_dir` read it back (the blobs themselves: :mod:`cspkit.billing.graph_export`);
* the v1 ``GET /invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems`` pages
  (:meth:`cspkit.resources.invoices.Invoices.reconciliation_line_items`): :func:`v1_lines_to_frame` drops the v1
  envelope keys so both APIs give the same frame.

Export kinds map onto reader kinds by :func:`recon_kind`: the reconciliation exports are ``"invoice"`` files, the
usage exports ``"daily"`` rated usage files (Graph ``partners-billing-billedusage-export``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
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

__all__ = ["V1_ENVELOPE_KEYS", "export_blob_paths", "read_export_dir", "recon_kind", "v1_lines_to_frame"]

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
    assembler = Assembler(source, kind, "api")
    batch: list[Mapping[str, Any]] = []
    first = 1

    def flush() -> None:
        nonlocal batch, first
        if not batch:
            return
        raw = _columns(batch)
        if assembler.converter is None:
            assembler.setup([_canonical(k)[0] for k in raw], fractions=_fractions(raw))
        else:
            assembler.fractions |= _fractions(raw)
        merged: dict[str, pa.Array] = {}  # an alias of a column already seen: the first non-null value wins
        for key, array in raw.items():
            name = _canonical(key)[0]
            merged[name] = pc.coalesce(merged[name], array) if name in merged else array
        for name in assembler.columns_seen:
            merged.setdefault(name, pa.nulls(len(batch), TEXT))
        assembler.add({k: v.cast(TEXT) for k, v in merged.items()}, first, len(batch))
        first += len(batch)
        batch = []

    for number, item in enumerate(items, start=1):
        if hasattr(item, "to_wire"):
            item = item.to_wire()
        if not isinstance(item, Mapping):
            raise InputFileError(source, row=number, expected="a JSON object (one line item)", value=to_text(item))
        batch.append(item)
        if len(batch) >= chunk_rows:
            flush()
    flush()
    if assembler.converter is None:
        assembler.setup(list(REQUIRED_COLUMNS[kind]))
    return assembler.finish(source_name=source).frame


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
