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
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cspkit.billing.memory import use_reuse_friendly_pool
from cspkit.billing.recon_columns import (
    CHARGE_TYPES,
    COLUMN_TYPES,
    CREDIT_TYPES,
    DAILY_USAGE_COLUMNS,
    FRACTION_ALIASES,
    INVOICE_RECON_COLUMNS,
    REQUIRED_COLUMNS,
    canonical_column,
    normalize_charge_type,
    normalize_header,
)
from cspkit.errors import InputFileError
from cspkit.models.base import parse_utc_datetime

__all__ = [
    "MONEY",
    "MONEY_SCALE",
    "STRING",
    "ReconFile",
    "money_text",
    "empty_recon_frame",
    "parse_recon_date",
    "parse_recon_number",
    "read_recon",
    "read_recon_files",
    "recon_lines_to_frame",
]

STRING = pd.StringDtype("pyarrow")
"""dtype of every text column (pandas string backed by Arrow; NA for blanks)."""

MONEY_SCALE = 15
"""Decimal places kept by :data:`MONEY` (EffectiveUnitPrice and exchange rates carry up to 9 in practice)."""

MONEY_ARROW = pa.decimal128(38, MONEY_SCALE)
MONEY = pd.ArrowDtype(MONEY_ARROW)
"""dtype of every money, price, quantity and rate column: exact Arrow ``decimal128(38, 15)`` (cells are
:class:`~decimal.Decimal` with 15 decimal places; NA for blanks). A value with more decimals is an error."""

Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``; called after each chunk (bytes of the file on disk)."""

_KNOWN_BY_KIND = {"invoice": INVOICE_RECON_COLUMNS, "daily": DAILY_USAGE_COLUMNS}
_DAILY_MARKERS = {"UsageDate", "MeterId", "MeterCategory", "BillingPreTaxTotal", "ResourceURI", "EntitlementId"}
# Headers (folded by normalize_header) that only older reconciliation files carry (billing-formats.md §1.3, §1.4).
_LEGACY_LICENSE_MARKERS = {"syndicationpartnersubscriptionnumber", "durableofferid"}
_LEGACY_USAGE_MARKERS = {"partnerbillableaccountid", "pretaxcharges", "detaillineitemid", "overagequantity"}
#: What each kind of file is, and what to do with it when it is not the kind asked for.
_FOREIGN_FILES = {
    "daily": (
        "a daily rated usage file (Azure plan consumption, one row per meter and day: UsageDate, MeterId, "
        "BillingPreTaxTotal)",
        "Daily usage is not reconciled by `cspkit reconcile` yet: give it the invoice reconciliation file of the same "
        "invoice (Partner Center > Billing > the invoice > reconciliation file, or `cspkit reconcile --invoice ID`); "
        "read daily usage with cspkit.billing.recon_readers.read_recon(path, kind='daily').",
    ),
    "legacy-license": (
        "a legacy license-based reconciliation file (pre-new-commerce seat offers: "
        "SyndicationPartnerSubscriptionNumber, DurableOfferId)",
        "cspkit reconciles new-commerce invoice reconciliation files: download the reconciliation file of the "
        "new-commerce invoice instead; legacy seat charges (legacy invoices, numbers starting with D) are not "
        "reconciled by cspkit.",
    ),
    "legacy-usage": (
        "a legacy usage-based reconciliation file (pre-Azure-plan Microsoft Azure offer: PartnerBillableAccountId, "
        "PretaxCharges)",
        "cspkit reconciles new-commerce invoice reconciliation files: download the reconciliation file of the "
        "new-commerce invoice instead; legacy Azure charges are not reconciled by cspkit.",
    ),
}
_CHUNK_ROWS = 200_000
_POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="cspkit-recon")
_CHUNKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cspkit-recon-chunk")  # one chunk at a time, in order
_MAX_LISTED = 1000


@dataclass
class ReconFile:
    """What a reader read, with the counts that prove nothing was dropped.

    Attributes:
        frame: the typed DataFrame (see the module docstring for columns and dtypes).
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


# --------------------------------------------------------------------------------------------------------------
# Scalar parsers (applied once per distinct value: a month of recon data repeats most values)

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS_COMMA = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")


def parse_recon_number(text: str, *, decimal_comma: bool = False) -> Decimal:
    """Parse a number as finance files carry it into an exact Decimal.

    Accepts ``10.08``, ``-9.408``, ``1E-05``, ``(94.20)`` (accounting negative), ``1,234.56`` and, in files that
    use ``,`` as the decimal separator (``decimal_comma``, Excel re-saves with ``;``), ``10,08`` and ``1.234,56``.
    When both separators appear the last one is the decimal separator.

    Raises:
        ValueError: not a finite number.
    """
    t = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    negative = False
    if len(t) > 2 and t[0] == "(" and t[-1] == ")":
        negative, t = True, t[1:-1]
    if "," in t:
        if "." in t:
            t = t.replace(".", "").replace(",", ".") if t.rfind(",") > t.rfind(".") else t.replace(",", "")
        elif not decimal_comma and _THOUSANDS_COMMA.fullmatch(t):
            t = t.replace(",", "")
        else:
            t = t.replace(",", ".")
    if not _NUMBER.fullmatch(t):
        raise ValueError(text)
    try:
        value = Decimal(t)
    except InvalidOperation as exc:  # pragma: no cover - the regex already rules these out
        raise ValueError(text) from exc
    return -value if negative else value


_MDY = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?)?(?:\s*Z)?"
)
_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}.*")


def parse_recon_date(text: str) -> datetime | None:
    """Parse a recon-file date into an aware UTC datetime.

    Accepts the portal's ``M/D/YYYY`` with an optional ``H:mm[:ss] [AM|PM]`` time, ISO 8601 with up to 7 fractional
    digits and with or without ``Z`` (the JSON APIs, §1 general rules), and ``D.M.YYYY`` (Excel re-saves on
    European locales). Placeholder years (before 1900, or 9999's open end) give None.

    Raises:
        ValueError: not one of those forms, or not a real calendar date.
    """
    t = text.strip()
    m = _MDY.fullmatch(t)
    if m is not None:
        month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = _DMY.fullmatch(t)
        if m is not None:
            day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if m is not None:
        hour = int(m.group(4) or 0)
        minute = int(m.group(5) or 0)
        second = int(m.group(6) or 0)
        ampm = m.group(7) if m.re is _MDY else None
        if ampm:
            if not 1 <= hour <= 12:
                raise ValueError(text)
            hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
        if year < 1900 or year > 2200:
            return None
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    if _ISO.fullmatch(t):
        if t[:4] > "2200" or t[:4] < "1900":
            return None
        value = parse_utc_datetime(t)
        return value
    raise ValueError(text)


_EXCEL_INT = re.compile(r"-?\d+\.0+")
_EXCEL_SCI = re.compile(r"^-?\d(?:\.\d+)?[eE]\+\d+")
_PLAIN_NUMBER = r"^-?(?:\d+\.?\d*|\.\d+)$"
_GUID_BRACES = re.compile(r"\{([0-9A-Fa-f-]{36})\}")


def _fix_id(text: str) -> str:
    if _EXCEL_INT.fullmatch(text):
        return text.split(".", 1)[0]
    return text


# --------------------------------------------------------------------------------------------------------------
# Column conversion


class _Converter:
    """Turns raw text columns of one chunk into typed pandas columns, caching parsed distinct values."""

    def __init__(self, path: str, *, decimal_comma: bool, fractions: set[str]) -> None:
        self.path = path
        self.decimal_comma = decimal_comma
        self.fractions = fractions  # canonical columns whose source holds fractions (API rateOf...)
        self.cache: dict[str, dict[str, Any]] = {}
        self.sci_ids: dict[str, tuple[int, str]] = {}  # column -> (count, example)

    def _parser(self, column: str, typ: str) -> Callable[[str], Any]:
        if typ in ("decimal", "percent"):
            scale = Decimal(100) if column in self.fractions else None
            percent = typ == "percent"

            def parse_num(text: str) -> Any:
                t = text.rstrip("%").strip() if percent else text
                value = parse_recon_number(t, decimal_comma=self.decimal_comma)
                return value * scale if scale is not None else value

            return parse_num
        if typ == "date":
            return parse_recon_date
        if typ == "guid":
            return lambda t: (_GUID_BRACES.fullmatch(t).group(1) if _GUID_BRACES.fullmatch(t) else t).lower()
        if typ == "id":
            return _fix_id
        if typ == "sku":

            def parse_sku(text: str) -> str:
                t = _fix_id(text)
                return t.zfill(4) if t.isdigit() and len(t) < 4 else t

            return parse_sku
        if typ in ("currency", "upper"):
            return lambda t: t.upper()
        if typ == "charge":
            return normalize_charge_type
        if typ == "frequency":
            return _normalize_frequency
        if typ == "text-json":
            return _normalize_json_text
        return lambda t: t

    _EXPECTED = {
        "decimal": "a decimal number",
        "percent": "a percentage (e.g. 15 or 15%)",
        "date": "a date as M/D/YYYY[ H:mm[:ss] [AM|PM]], D.M.YYYY or ISO 8601",
    }

    def convert(self, column: str, raw: pa.Array, first_row: int) -> Any:
        """Convert one raw text column (Arrow strings, trimmed, blanks null) of a chunk starting at ``first_row``.

        Ids are normalised with vectorised Arrow kernels; numbers become :data:`MONEY` with one Arrow cast when Arrow
        can parse them all, else once per distinct value by :func:`parse_recon_number`; dates are parsed once per
        distinct value.
        """
        typ = COLUMN_TYPES.get(column, "str")
        if typ in ("str", "guid", "id", "sku", "currency", "upper"):
            return _to_string(self._vector_text(column, typ, raw))
        if typ in ("decimal", "percent") and column not in self.fractions:
            fast = _cast_plain_numbers(raw)
            if fast is not None:
                return pd.arrays.ArrowExtensionArray(fast)
        encoded = raw.dictionary_encode()
        indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        dictionary = encoded.dictionary
        if typ in ("decimal", "percent"):
            parsed = self._parse_numbers(column, typ, dictionary, indices, first_row)
            for position, value in enumerate(parsed):
                if not value.is_finite() or value.as_tuple().exponent < -MONEY_SCALE or value.adjusted() >= 38 - \
                        MONEY_SCALE:  # fmt: skip
                    self._fail(column, typ, indices, position, first_row, _unique_text(dictionary, position))
            table = pa.array(parsed, type=MONEY_ARROW)
            return pd.arrays.ArrowExtensionArray(pc.take(table, encoded.indices))
        uniques = dictionary.to_pylist()
        cache = self.cache.setdefault(column, {})
        parse = self._parser(column, typ)
        parsed: list[Any] = []
        for position, text in enumerate(uniques):
            try:
                value = cache[text]
            except KeyError:
                try:
                    value = parse(text)
                except (ValueError, TypeError, InvalidOperation):
                    self._fail(column, typ, indices, position, first_row, text)
                if len(cache) < 50_000:
                    cache[text] = value
            parsed.append(value)
        if typ == "date":
            values = np.array(
                [np.datetime64(v.replace(tzinfo=None), "ns") if v is not None else np.datetime64("NaT", "ns")
                 for v in parsed] + [np.datetime64("NaT", "ns")],
                dtype="datetime64[ns]",
            )  # fmt: skip
            return pd.DatetimeIndex(values[indices]).tz_localize("UTC").array
        taken = pc.take(pa.array(parsed, type=_TEXT), encoded.indices)
        return _to_string(taken)

    def _fail(self, column: str, typ: str, indices: np.ndarray, position: int, first_row: int, text: str) -> None:
        row = int(np.flatnonzero(indices == position)[0]) + first_row
        raise InputFileError(self.path, row=row, column=column, expected=self._EXPECTED.get(typ, typ), value=text)

    def _parse_numbers(
        self, column: str, typ: str, dictionary: pa.Array, indices: np.ndarray, first_row: int
    ) -> list[Any]:
        plain = pc.match_substring_regex(dictionary, _PLAIN_NUMBER).to_numpy(zero_copy_only=False)
        uniques = dictionary.to_pylist()
        if plain.all():
            parsed: list[Any] = [Decimal(t) for t in uniques]
        else:
            parse = self._parser(column, typ)
            parsed = []
            for position, (text, simple) in enumerate(zip(uniques, plain, strict=True)):
                if simple:
                    parsed.append(Decimal(text))
                    continue
                try:
                    parsed.append(parse(text))
                except (ValueError, TypeError, InvalidOperation):
                    self._fail(column, typ, indices, position, first_row, text)
            return parsed
        if column in self.fractions:
            parsed = [v * 100 for v in parsed]
        return parsed

    def _vector_text(self, column: str, typ: str, raw: pa.Array) -> pa.Array:
        if typ == "str":
            return raw
        if typ in ("currency", "upper"):
            return _upper(raw)
        if typ == "guid":
            if _may_contain(raw, b"{"):
                raw = pc.replace_substring_regex(raw, r"^\{(.*)\}$", r"\1")
            return _lower(raw)
        fixed = raw
        if _may_contain(raw, b".0"):
            fixed = pc.replace_substring_regex(raw, r"^(-?\d+)\.0+$", r"\1")  # Excel's 6034453.0
        if _may_contain(fixed, b"E+", b"e+"):
            sci = pc.match_substring_regex(fixed, _EXCEL_SCI.pattern + "$")
            count = pc.sum(sci).as_py() or 0
            if count:
                example = pc.filter(fixed, sci)[0].as_py()
                previous, first = self.sci_ids.get(column, (0, example))
                self.sci_ids[column] = (previous + count, first)
        if typ == "sku" and pc.any(pc.less(pc.binary_length(fixed), 4)).as_py():
            short = pc.match_substring_regex(fixed, r"^\d{1,3}$")
            fixed = pc.if_else(short, pc.utf8_lpad(fixed, 4, "0"), fixed)
        return fixed


def _unique_text(dictionary: pa.Array, position: int) -> str:
    return str(dictionary[position].as_py())


def _cast_plain_numbers(raw: pa.Array) -> pa.Array | None:
    """Numbers Arrow parses (``-12.5``, ``.5``, ``1E-05``) → MONEY with one vectorised cast; None when some value
    needs the full parser (decimal comma, thousands separators, accounting negative) or does not fit MONEY (then
    the caller's per-value path parses it or reports the row). Arrow accepts no form the full parser rejects."""
    try:
        return pc.cast(raw, MONEY_ARROW)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def money_text(series: pd.Series) -> pd.Series:
    """A :data:`MONEY` column as exact text without its padding zeros (``-5.032258``, ``36``, ``100.8``); NA stays
    NA. A decimal column of at most 2 places (the engine's sums in cents) keeps them (``0.00``, ``95.70``). Other
    columns are returned unchanged."""
    if not (isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_decimal(series.dtype.pyarrow_dtype)):
        return series
    text = pc.cast(series.array.__arrow_array__(), pa.string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    scientific = pc.match_substring(text, "E")
    if pc.any(scientific).as_py():  # Arrow writes small magnitudes as 0E-15 or 1.00000000E-7: spell them out
        encoded = pc.filter(text, scientific).dictionary_encode()
        plain = pa.array([format(Decimal(t), "f") for t in encoded.dictionary.to_pylist()], type=pa.string())
        text = pc.replace_with_mask(text, scientific, pc.take(plain, encoded.indices))
    if series.dtype.pyarrow_dtype.scale > 2:  # cents (the engine's sums) are kept: 2 places are not padding
        text = pc.replace_substring_regex(pc.replace_substring_regex(text, r"(\.\d*?[1-9])0+$", r"\1"), r"\.0+$", "")
    return pd.Series(_to_string(text), index=series.index, name=series.name)


def _to_string(arr: pa.Array) -> Any:
    return arr.to_pandas(types_mapper={pa.string(): STRING, pa.large_string(): STRING}.get).array


def _normalize_frequency(text: str) -> str | None:
    folded = text.strip().lower()
    if folded in ("", "na", "n/a", "none"):
        return None
    return {"monthly": "Monthly", "annual": "Annual", "yearly": "Annual", "triennial": "Triennial"}.get(folded, text)


def _normalize_json_text(text: str) -> str:
    """Keep JSON held in a string compact and in the current spelling (``"Add-on"`` → ``"AddOn"``, §6.8)."""
    t = text.strip()
    if t[:1] in "[{":
        try:
            value = json.loads(t)
        except ValueError:
            return t
        if isinstance(value, list):
            value = ["AddOn" if isinstance(v, str) and v.lower() == "add-on" else v for v in value]
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return t


_TEXT = pa.large_string()  # the storage of pandas' Arrow strings: columns are read as it, so no copy is made


def _data_bytes(arr: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of a (large_)string array's values, as a zero-copy uint8 view (nulls' bytes included)."""
    buffers = arr.buffers()
    if len(arr) == 0 or buffers[2] is None:
        return np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if arr.type == _TEXT else np.int32)
    start, end = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return np.frombuffer(buffers[2], dtype=np.uint8)[start:end]


def _byte_facts(arr: pa.Array) -> tuple[bool, bool]:
    """``(may_need_trim, non_ascii)`` of a text array from two reductions over its bytes (no per-value work).

    ``may_need_trim``: some byte is ASCII whitespace or a control character (≤ 0x20); ``non_ascii``: some byte is
    ≥ 0x80 (then the Unicode kernels are used; otherwise the ASCII ones, which give the same result much faster).
    """
    data = _data_bytes(arr)
    if not len(data):
        return False, False
    return bool(data.min() <= 0x20), bool(data.max() >= 0x80)


def _may_contain(arr: pa.Array, *needles: bytes) -> bool:
    """True when some needle occurs in the array's bytes (a pre-check: a match may span two values)."""
    data = _data_bytes(arr).tobytes()
    return any(needle in data for needle in needles)


def _lower(arr: pa.Array) -> pa.Array:
    return pc.utf8_lower(arr) if _byte_facts(arr)[1] else pc.ascii_lower(arr)


def _upper(arr: pa.Array) -> pa.Array:
    return pc.utf8_upper(arr) if _byte_facts(arr)[1] else pc.ascii_upper(arr)


def _trim(arr: pa.Array) -> pa.Array:
    """Whitespace trimmed from both ends of each value (the ASCII kernel when the text is ASCII)."""
    may_need_trim, non_ascii = _byte_facts(arr)
    if not (may_need_trim or non_ascii):
        return arr
    return pc.utf8_trim_whitespace(arr) if non_ascii else pc.ascii_trim_whitespace(arr)


def _clean(raw: pa.Array, column: str) -> pa.Array:
    """Turn empty strings into nulls; trim whitespace around typed values (free text is kept as written)."""
    if raw.type != _TEXT:
        raw = raw.cast(_TEXT)
    if COLUMN_TYPES.get(column, "str") != "str":
        raw = _trim(raw)
    empty = pc.equal(pc.binary_length(raw), 0)
    if pc.any(empty).as_py():
        raw = pc.if_else(empty, pa.scalar(None, _TEXT), raw)
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
    columns = {c: _typed_empty(c, 0) for c in _KNOWN_BY_KIND[kind]}
    frame = pd.DataFrame(columns)
    frame["SourceFile"] = pd.Categorical([])
    frame["SourceRow"] = np.array([], dtype="int64")
    return frame


class _Assembler:
    """Collects raw chunks, converts them and concatenates the typed frames."""

    def __init__(self, path: str, kind: str | None, fmt: str, decimal_comma: bool = False) -> None:
        self.path = path
        self.kind = kind
        self.format = fmt
        self.decimal_comma = decimal_comma
        self.frames: list[pd.DataFrame] = []
        self.rows_read = 0
        self.rows_skipped = 0
        self.skipped_rows: list[int] = []
        self.converter: _Converter | None = None
        self.columns_seen: dict[str, None] = {}
        self.fractions: set[str] = set()

    def setup(self, canonical: list[str], *, fractions: set[str] | None = None) -> None:
        known = [c for c in canonical if canonical_column(c) == c]
        if self.kind in (None, "auto"):
            self.kind = "daily" if _DAILY_MARKERS & set(known) else "invoice"
        documented = _KNOWN_BY_KIND[self.kind]
        missing = [c for c in REQUIRED_COLUMNS[self.kind] if c not in canonical]
        if missing:
            self._refuse_foreign(canonical, known)
            raise InputFileError(
                self.path,
                row=0,
                column=missing[0],
                expected=f"a header with the {self.kind} reconciliation columns; {', '.join(missing)} missing "
                f"(documented: {', '.join(documented[:6])}, ...)",
            )
        self.fractions |= fractions or set()
        self.converter = _Converter(self.path, decimal_comma=self.decimal_comma, fractions=self.fractions)

    def _refuse_foreign(self, names: list[str], known: list[str]) -> None:
        """Name the file for what it is when it is another kind of Partner Center file than the one asked for
        (billing-formats.md §1.2 daily rated usage, §1.3 legacy license-based, §1.4 legacy usage-based)."""
        folded = {normalize_header(n) for n in names}
        if folded & _LEGACY_LICENSE_MARKERS:
            what = "legacy-license"
        elif folded & _LEGACY_USAGE_MARKERS:
            what = "legacy-usage"
        elif self.kind == "invoice" and len(_DAILY_MARKERS & set(known)) >= 2:
            what = "daily"
        else:
            return
        description, hint = _FOREIGN_FILES[what]
        wanted = "an invoice reconciliation file" if self.kind == "invoice" else "a daily rated usage file"
        raise InputFileError(self.path, row=0, expected=f"{wanted}, but this is {description}", hint=hint)

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
            room = _MAX_LISTED - len(self.skipped_rows)
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
        self.frames.append(frame)
        self.rows_read += n

    def finish(self, *, delimiter: str | None = None, source_name: str | None = None) -> ReconFile:
        assert self.kind is not None
        documented = _KNOWN_BY_KIND[self.kind]
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
        warnings = _unknown_values(result) if self.kind == "daily" else []
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


#: Daily rated usage columns whose values cspkit knows (recon_columns: CHARGE_TYPES, CREDIT_TYPES).
_KNOWN_DAILY_VALUES = {"ChargeType": frozenset(CHARGE_TYPES), "CreditType": frozenset(CREDIT_TYPES)}


def _unknown_values(frame: pd.DataFrame) -> list[str]:
    """Warnings for values of :data:`_KNOWN_DAILY_VALUES` columns that cspkit does not know (at most 5 named)."""
    warnings = []
    for column, known in _KNOWN_DAILY_VALUES.items():
        if column not in frame.columns or not len(frame):
            continue
        values = frame[column].dropna().unique()
        unknown = sorted({str(v) for v in values} - known)
        if unknown:
            warnings.append(f"{column}: value(s) cspkit does not know: {', '.join(map(repr, unknown[:5]))} "
                            f"(known: {', '.join(sorted(known))})")  # fmt: skip
    return warnings


# --------------------------------------------------------------------------------------------------------------
# Opening files


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


def _open(path: str, progress: Progress | None) -> tuple[io.BufferedReader, bool]:
    """Open ``path`` for binary reading, transparently gunzipping (every member of a multi-member gzip)."""
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
    stream, compressed = _open(path_s, progress)
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
            records, fmt = _iter_json(stream, path_s, stripped[:1])
            result = _from_records(records, path_s, kind=kind, fmt=fmt + suffix, chunk_rows=chunk_rows)
        elif head[:2] == b"PK":
            raise InputFileError(path_s, expected="CSV or JSON text (this is a zip/xlsx file: save it as CSV)")
        else:
            result = _read_csv(stream, path_s, head, kind=kind, fmt="csv" + suffix, chunk_rows=chunk_rows)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputFileError(path_s, expected="a complete gzip stream", value=str(exc)) from None
    finally:
        stream.close()
    if progress is not None:
        size = os.path.getsize(path_s)
        progress(size, size)
    return result


def _read_csv(stream: io.BufferedReader, path: str, head: bytes, *, kind: str, fmt: str, chunk_rows: int) -> ReconFile:
    encoding = _guess_encoding(head)
    header_bytes = head.split(b"\n", 1)[0]
    header_text = header_bytes.decode(encoding if encoding != "utf-16" else "utf-8", errors="replace")
    header_text = header_text.lstrip("\ufeff").rstrip("\r")
    delimiter = _sniff_delimiter(header_text)
    decimal_comma = delimiter == ";"
    names = next(csv.reader([header_text], delimiter=delimiter))
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
    assembler = _Assembler(path, kind, fmt, decimal_comma=decimal_comma)
    assembler.setup(out_names, fractions=fractions)
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "error"

    read_options = pcsv.ReadOptions(
        use_threads=True,
        block_size=1 << 20,
        column_names=out_names,
        skip_rows=1,
        encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
    )
    parse_options = pcsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
    )
    convert_options = pcsv.ConvertOptions(
        column_types={n: _TEXT for n in out_names},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    if encoding == "utf-8-sig":
        stream.read(3)
    in_flight: Future[None] | None = None
    try:
        reader = pcsv.open_csv(
            stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
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
        if invalid:
            row = invalid[0]
            number = row.number - 1 if row.number is not None else _locate_bad_row(path, encoding, delimiter, row)
            raise InputFileError(
                path,
                row=number,
                expected=f"{row.expected_columns} fields separated by {delimiter!r}, found {row.actual_columns}",
                value=row.text,
            ) from None
        raise InputFileError(
            path, expected=f"CSV text separated by {delimiter!r} ({encoding})", value=str(exc)
        ) from None
    return assembler.finish(delimiter=delimiter, source_name=Path(path).name)


def _locate_bad_row(path: str, encoding: str, delimiter: str, bad: Any) -> int | None:
    """Find the data row number of a record with the wrong field count (error path only: a plain csv scan)."""
    stream, _ = _open(path, None)
    try:
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
        for number, record in enumerate(csv.reader(text, delimiter=delimiter)):
            if number and record and len(record) == bad.actual_columns and len(record) != bad.expected_columns:
                return number
    finally:
        stream.close()
    return None


def _flush(assembler: _Assembler, batches: list[pa.RecordBatch], names: list[str], first_row: int) -> None:
    if not batches:
        return
    table = pa.Table.from_batches(batches)
    columns = {name: table.column(i).combine_chunks() for i, name in enumerate(names)}
    assembler.add(columns, first_row, table.num_rows)


# --------------------------------------------------------------------------------------------------------------
# JSON records (export blobs, saved API responses, API line items)


def _iter_json(stream: io.BufferedReader, path: str, first: bytes) -> tuple[Iterator[tuple[int, Any]], str]:
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


def _to_text(value: Any) -> str | None:
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


def _from_records(records: Iterable[tuple[int, Any]], path: str, *, kind: str, fmt: str, chunk_rows: int) -> ReconFile:
    assembler = _Assembler(path, None if kind == "auto" else kind, fmt)
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
                    values[position] = _to_text(value)
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
            arrays = {c: pa.array(v, type=_TEXT) for c, v in columns.items()}
            if contiguous:
                assembler.add(arrays, numbers[0], n)
            else:
                _add_noncontiguous(assembler, arrays, numbers)
        for number in blank_rows:
            assembler.rows_skipped += 1
            if len(assembler.skipped_rows) < _MAX_LISTED:
                assembler.skipped_rows.append(number)
        chunk, blank_rows = [], []

    for number, record in records:
        if record is None:
            blank_rows.append(number)
            continue
        if hasattr(record, "to_wire"):
            record = record.to_wire()
        if not isinstance(record, Mapping):
            raise InputFileError(path, row=number, expected="a JSON object (one line item)", value=_to_text(record))
        chunk.append((number, dict(record)))
        if len(chunk) >= chunk_rows:
            flush()
    flush()
    if not set_up:
        assembler.setup(list(REQUIRED_COLUMNS["invoice" if kind in ("auto", "invoice") else kind]))
    result = assembler.finish(source_name=Path(path).name if path != "API" else "API")
    result.skipped_rows.sort()
    return result


def _add_noncontiguous(assembler: _Assembler, arrays: dict[str, pa.Array], numbers: list[int]) -> None:
    """Add rows whose source numbers have gaps (blank lines in between), keeping exact row numbers."""
    start = 0
    for i in range(1, len(numbers) + 1):
        if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
            part = {c: a.slice(start, i - start) for c, a in arrays.items()}
            assembler.add(part, numbers[start], i - start)
            start = i


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
    return _from_records(
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
    if not frames:
        return empty_recon_frame("invoice" if kind == "auto" else kind), reports
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        frame["SourceFile"] = frame["SourceFile"].astype("category")
    return frame, reports
