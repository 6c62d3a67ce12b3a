"""Read Partner Center price lists into pandas, and look up the price in force.

Formats followed (billing-formats.md §1.5, Partner Center "Get a price sheet" and "New commerce pricing"):

* the **new-commerce license-based price list** (portal "New Commerce" download, price-sheet API view
  ``updatedlicensebased``): the 18 documented columns in this order::

      ProductTitle, ProductId, SkuId, SkuTitle, Publisher, SkuDescription, UnitOfMeasure, TermDuration,
      BillingPlan, Market, Currency, UnitPrice, PricingTierRangeMin, PricingTierRangeMax,
      EffectiveStartDate, EffectiveEndDate, Tags, ERP Price

  plus ``EndofSaleDate`` (between EffectiveEndDate and Tags) in the preview (next-month) file, and ``Segment``
  (``Commercial`` / ``Education`` / ``Charity`` / ``Government``: each a different SkuId of the same product) in
  current files. Real current files (``../shared/realdata/nce-pricelist-US-2025-11.csv``) also open with
  ``ChangeIndicator`` (``Unchanged`` / ``Change`` / ``Add``: the row against last month's list) and close with
  ``PreviousValues`` (a Python-dict-like text of the fields a ``Change`` row changed and their old values, e.g.
  ``{'ERP Price': '57.6', 'UnitPrice': '46.08'}``);
* the **marketplace price list** (view ``marketplace``): no public column list exists; it is read with the same
  schema (Publisher = the ISV, Tags such as ``SaaS``).

Files can be CSV (comma-delimited, or ``;``-delimited with decimal commas after a re-save by Excel on a non-US
locale), a zip holding one CSV (what the price-sheet API returns with ``Accept-Encoding: deflate``), or .xlsx
(read with the calamine engine). Headers are matched case-insensitively ignoring spaces and underscores
(``ERP Price`` → ``ERPPrice``, ``EndofSaleDate`` → ``EndOfSaleDate``).

What the reader fixes on the way in:

* ids stay strings; a SkuId that Excel turned into a number (``1``, ``1.0``) is repaired to 4 digits (``0001``);
* dates in either style, ``2/1/2019 12:00:00 AM`` / ``2/1/2023 0:00`` / ``2/1/2023`` (US, M/D/YYYY) and ISO 8601
  with up to 7 fractional digits and an optional ``Z``, become ``datetime64[ns, UTC]``; the open end
  (``9999-11-30T23:59:59…``, ``11/30/9999 23:59``, any year past 2262) becomes ``NaT``;
* ``BillingPlan`` is normalised to ``Monthly`` / ``Annual`` / ``Triennial`` / ``None`` (blank = ``None``),
  ``TermDuration`` to upper case ISO 8601 (``P1M``, ``P1Y``, ``P3Y``);
* prices become exact :class:`~decimal.Decimal` (object dtype), never floats. ``UnitPrice`` is Microsoft's price of
  one seat for the **whole term** for every billing plan (see :mod:`cspkit.billing.pricing` for the rule and its
  sources): P1Y/Monthly 60.48 is billed 5.04 a month;
* ``ChangeIndicator`` (when the file has one) becomes ``Unchanged`` / ``Change`` / ``Add``; ``PreviousValues``
  becomes a ``dict`` of field → old text (keys as written, e.g. ``ERP Price``), None when blank. It is parsed
  with :func:`ast.literal_eval` (literals only, never code) and must be a dict of strings or numbers;
* free-trial rows, a zero-price row next to a paid row of the same product/SKU/currency (or a zero-price row
  tagged ``Trial``), get ``IsFreeTrial = True`` so they are never taken for the SKU's price.

Anything malformed raises :class:`~cspkit.errors.InputFileError` naming the file, the 1-based data row, the
column and what was expected.
"""

from __future__ import annotations

import ast
import csv
import io
import os
import re
import zipfile
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from cspkit.billing.pricing import billing_plan
from cspkit.errors import InputFileError
from cspkit.wire import PRICE_LIST_HEADER

__all__ = [
    "BILLING_PLANS",
    "COLUMNS",
    "KEY_COLUMNS",
    "lookup_price_rows",
    "lookup_prices",
    "normalize_billing_plan",
    "parse_previous_values",
    "price_in_force",
    "read_price_list",
]

#: The documented 18 columns, with ``ERP Price`` named ``ERPPrice``, in file order.
DOCUMENTED_COLUMNS: tuple[str, ...] = tuple(name.replace(" ", "") for name in PRICE_LIST_HEADER[:18])
#: Every column of a DataFrame returned by :func:`read_price_list`, in order (extra file columns follow).
COLUMNS: tuple[str, ...] = DOCUMENTED_COLUMNS + ("Segment", "EndOfSaleDate", "IsFreeTrial")
#: Columns that identify one price: a product's SKU at a term and billing plan in a currency.
KEY_COLUMNS: tuple[str, ...] = ("ProductId", "SkuId", "TermDuration", "BillingPlan", "Currency")
#: The billing plans a price list carries.
BILLING_PLANS: tuple[str, ...] = ("Monthly", "Annual", "Triennial", "None")

# Columns without which a file is not a price list.
_REQUIRED = ("ProductId", "SkuId", "TermDuration", "BillingPlan", "Currency", "UnitPrice", "EffectiveStartDate")
_TEXT = ("ProductTitle", "SkuTitle", "Publisher", "SkuDescription", "UnitOfMeasure", "Market", "Tags", "Segment")
_DATES = ("EffectiveStartDate", "EffectiveEndDate", "EndOfSaleDate")
_ALIASES = {
    "erpprice": "ERPPrice",
    "erp": "ERPPrice",
    "endofsaledate": "EndOfSaleDate",
    "segment": "Segment",
    "changeindicator": "ChangeIndicator",
    "previousvalues": "PreviousValues",
}
_ALIASES.update({c.lower(): c for c in DOCUMENTED_COLUMNS})

_TERM = re.compile(r"^P\d+[DWMY]$")
_OPEN_END_YEAR = 2262  # datetime64[ns] ends in 2262; later years mean "no end"
_US_FORMATS = {
    # shape of the text after every digit run became "9" -> strptime format
    "9/9/9": "%m/%d/%Y",
    "9/9/9 9:9": "%m/%d/%Y %H:%M",
    "9/9/9 9:9:9": "%m/%d/%Y %H:%M:%S",
    "9/9/9 9:9 AM": "%m/%d/%Y %I:%M %p",
    "9/9/9 9:9 PM": "%m/%d/%Y %I:%M %p",
    "9/9/9 9:9:9 AM": "%m/%d/%Y %I:%M:%S %p",
    "9/9/9 9:9:9 PM": "%m/%d/%Y %I:%M:%S %p",
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name)).lower().lstrip("\ufeff")


def normalize_billing_plan(value: str | None) -> str | None:
    """``"monthly"``/``"MONTHLY"``/``"Monthly"`` → ``"Monthly"``; blank → ``"None"``; unknown → None.

    Also accepts Partner Center's ``billingCycle`` values (``monthly``, ``annual``, ``triennial``, ``none``,
    ``one_time``).
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "None"
    return billing_plan(value)


def _repair_sku_id(value: str) -> str:
    text = value.strip()
    if re.fullmatch(r"\d+(\.0*)?", text):  # Excel turned "0001" into 1 or 1.0
        return text.split(".")[0].zfill(4)
    return text


# ----------------------------------------------------------------------------------------------------- reading


def read_price_list(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a new-commerce license-based or marketplace price list (CSV, zipped CSV or .xlsx).

    Args:
        path: the file. The kind is taken from its content: a zip holding ``xl/workbook.xml`` is an .xlsx
            workbook (first sheet), any other zip must hold one CSV, anything else is CSV text (UTF-8, BOM
            allowed; ``,`` or ``;`` delimited).

    Returns:
        One row per price row, columns :data:`COLUMNS` then any other columns of the file (as strings):

        * ``ProductTitle, ProductId, SkuId, SkuTitle, Publisher, SkuDescription, UnitOfMeasure, Market, Tags,
          Segment``: strings (``""`` when blank; Segment NA when the file has no such column);
        * ``TermDuration``: ``P1M``/``P1Y``/``P3Y``…; ``BillingPlan``: ``Monthly``/``Annual``/``Triennial``/
          ``None``; ``Currency``: ISO 4217 upper case;
        * ``UnitPrice``: Decimal (one seat for the whole term, tax exclusive; ÷ billing periods for the price
          of one billing period, :func:`cspkit.billing.pricing.period_price`), ``ERPPrice``,
          ``PricingTierRangeMin``, ``PricingTierRangeMax``: Decimal or None;
        * ``EffectiveStartDate``, ``EffectiveEndDate``, ``EndOfSaleDate``: ``datetime64[ns, UTC]``, NaT for an
          open end / blank;
        * ``IsFreeTrial``: bool;
        * ``ChangeIndicator`` (only when the file has it): ``Unchanged`` | ``Change`` | ``Add``;
          ``PreviousValues`` (only when the file has it): dict of field → previous value text, or None.

    Raises:
        InputFileError: the file is missing, empty, not a price list (required column missing), or a value is
            malformed (row = 1-based data row, header = row 0).
    """
    path = Path(path)
    raw = _read_raw(path)
    return _normalize(raw, str(path))


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(str(path), expected="an existing price list file")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if "xl/workbook.xml" in names:
                    return _read_xlsx(path)
                members = [n for n in names if not n.endswith("/")]
                csvs = [n for n in members if n.lower().endswith((".csv", ".txt"))] or members
                if len(csvs) != 1:
                    raise InputFileError(
                        str(path), expected="a zip archive holding exactly one CSV file", value=", ".join(names)
                    )
                with archive.open(csvs[0]) as handle:
                    return _read_csv(handle.read(), str(path))
        return _read_csv(path, str(path))
    except InputFileError:
        raise
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(str(path), expected="a readable CSV, zip or .xlsx file", value=str(exc)) from exc


def _read_csv(source: Path | bytes, name: str) -> pd.DataFrame:
    """Parse CSV text into all-string columns (pyarrow's multithreaded reader; pandas' C parser on errors)."""
    if isinstance(source, bytes):
        head = source[:65536]
    else:
        with open(source, "rb") as handle:
            head = handle.read(65536)
    head = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if not head.strip():
        raise InputFileError(name, expected="a header row and price rows (the file is empty)")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head[:-4].decode("utf-8", errors="strict") if len(head) == 65536 else None
        if text is None:
            raise InputFileError(name, row=0, expected="UTF-8 text") from None
    first_line = text.split("\n", 1)[0]
    sep = ";" if first_line.count(";") > first_line.count(",") else ","
    header = next(csv.reader(io.StringIO(text), delimiter=sep))
    try:
        table = pacsv.read_csv(
            pa.BufferReader(source) if isinstance(source, bytes) else str(source),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    except Exception:  # noqa: BLE001 - pyarrow's errors carry no row number: let pandas locate the problem
        frame = _read_csv_pandas(source, name, sep)
    frame.attrs["decimal_comma"] = sep == ";"
    return frame


def _read_csv_pandas(source: Path | bytes, name: str, sep: str) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.BytesIO(source) if isinstance(source, bytes) else source,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine="c",
            encoding="utf-8-sig",
        )
    except UnicodeDecodeError as exc:
        raise InputFileError(name, expected="UTF-8 text", value=str(exc)) from exc
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        row = int(match.group(1)) - 1 if match else None
        raise InputFileError(name, row=row, expected="a well-formed CSV row", value=str(exc)) from exc


def _read_xlsx(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, engine="calamine", dtype=str, keep_default_na=False, na_filter=False)
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        raise InputFileError(str(path), expected="a readable .xlsx workbook", value=str(exc)) from exc
    return frame


def _normalize(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    rename: dict[str, str] = {}
    for column in raw.columns:
        canonical = _ALIASES.get(_header_key(column))
        if canonical and canonical not in rename.values():
            rename[column] = canonical
    raw = raw.rename(columns=rename)
    for column in _REQUIRED:
        if column not in raw.columns:
            raise InputFileError(
                name,
                row=0,
                column=column,
                expected=f"a header with a {column} column (new-commerce or marketplace price list)",
                value=", ".join(map(str, raw.columns[:20])),
            )
    decimal_comma = bool(raw.attrs.get("decimal_comma"))
    n = len(raw)
    out: dict[str, Any] = {}

    def text(column: str) -> pd.Series:
        if column in raw.columns:
            values = raw[column].astype("str")
            # long free text is kept as written; codes and names are stripped
            return values if column == "SkuDescription" or not n else values.str.strip()
        return pd.Series(pd.NA, index=raw.index, dtype="str")

    for column in _TEXT:
        out[column] = text(column)
    out["ProductId"] = text("ProductId")
    out["SkuId"] = _map_unique(text("SkuId"), _repair_sku_id)
    out["Currency"] = text("Currency").str.upper()
    out["TermDuration"] = _checked_map(
        text("TermDuration"),
        lambda v: v.upper() if _TERM.match(v.upper()) else None,
        name,
        "TermDuration",
        "an ISO 8601 term duration such as P1M, P1Y or P3Y",
    )
    out["BillingPlan"] = _checked_map(
        text("BillingPlan"), normalize_billing_plan, name, "BillingPlan", "Monthly, Annual, Triennial or None"
    )
    for column, required in (
        ("UnitPrice", True),
        ("ERPPrice", False),
        ("PricingTierRangeMin", False),
        ("PricingTierRangeMax", False),
    ):
        if column in raw.columns:
            out[column] = _decimals(raw[column], name, column, required=required, decimal_comma=decimal_comma)
        else:
            out[column] = pd.Series([None] * n, index=raw.index, dtype=object)
    for column in _DATES:
        if column in raw.columns:
            out[column] = _dates(raw[column], name, column, required=column == "EffectiveStartDate")
        else:
            out[column] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")

    frame = pd.DataFrame({c: out[c] for c in COLUMNS if c != "IsFreeTrial"}, index=raw.index)
    frame["IsFreeTrial"] = _free_trials(frame)
    extras = [c for c in raw.columns if c not in frame.columns]
    for column in extras:
        frame[column] = raw[column]
    if "ChangeIndicator" in frame.columns:
        frame["ChangeIndicator"] = _checked_map(
            frame["ChangeIndicator"].fillna("").astype(str).str.strip(), lambda v: _CHANGE_INDICATORS.get(v.lower()),
            name, "ChangeIndicator", "Unchanged, Change or Add",
        )  # fmt: skip
    if "PreviousValues" in frame.columns:
        frame["PreviousValues"] = _previous_values(frame["PreviousValues"], name)
    return frame.reset_index(drop=True)


#: ``ChangeIndicator`` values of a current price list (the row against last month's list), blank = Unchanged.
_CHANGE_INDICATORS = {"unchanged": "Unchanged", "change": "Change", "changed": "Change", "add": "Add",
                      "added": "Add", "": "Unchanged"}  # fmt: skip
_PREVIOUS_MAX = 4096  # characters: a PreviousValues cell holds a few short fields


def parse_previous_values(text: Any) -> dict[str, str] | None:
    """A ``PreviousValues`` cell → ``{field: previous value text}``; blank → None.

    The cell is a Python-dict-like text (``{'ERP Price': '57.6', 'UnitPrice': '46.08'}``, real November 2025 US
    price list). It is read with :func:`ast.literal_eval`, which evaluates literals only (never names, calls or
    operators); values are kept as text (numbers are turned into their text).

    Raises:
        ValueError: not a dict of field names to strings or numbers, or longer than 4,096 characters.
    """
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return None
    value = str(text).strip()
    if not value:
        return None
    if len(value) > _PREVIOUS_MAX:
        raise ValueError(f"longer than {_PREVIOUS_MAX} characters")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError("not a dict literal such as {'UnitPrice': '46.08'}") from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool) for k, v in parsed.items()
    ):
        raise ValueError("not a dict of field names to values such as {'UnitPrice': '46.08'}")
    return {k.strip(): str(v).strip() for k, v in parsed.items()}


def _previous_values(values: pd.Series, name: str) -> pd.Series:
    values = values.fillna("").astype(str)
    codes, uniques = _factorize(values)
    parsed: list[dict[str, str] | None] = []
    for unique in uniques:
        try:
            parsed.append(parse_previous_values(unique))
        except ValueError as exc:
            row, value = _first_row(values, [unique])
            raise InputFileError(name, row=row, column="PreviousValues",
                                 expected=f"a dict of previous values such as {{'UnitPrice': '46.08'}} ({exc})",
                                 value=value) from None  # fmt: skip
    array = np.empty(len(values), dtype=object)
    for position, code in enumerate(codes):
        array[position] = parsed[code] if code >= 0 else None
    return pd.Series(array, index=values.index, dtype=object)


def _factorize(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes and the distinct values as a plain Python list (fast for arrow-backed strings)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object).tolist()


def _map_unique(values: pd.Series, func: Any) -> pd.Series:
    """Apply ``func`` once per distinct value (price lists repeat a few thousand values over many rows)."""
    codes, uniques = _factorize(values)
    mapped = np.array([func(v) for v in uniques], dtype=object)
    result = mapped[codes] if len(mapped) else np.array([None] * len(values), dtype=object)
    if (codes < 0).any():
        result[codes < 0] = None
    return pd.Series(result, index=values.index, dtype="str" if _all_str(mapped) else object)


def _all_str(values: np.ndarray) -> bool:
    return all(isinstance(v, str) for v in values)


def _first_row(values: pd.Series, bad: Iterable[Any]) -> tuple[int, Any]:
    bad_set = set(bad)
    mask = values.isin(bad_set).to_numpy()
    position = int(np.flatnonzero(mask)[0])
    return position + 1, values.iloc[position]


def _checked_map(values: pd.Series, func: Any, name: str, column: str, expected: str) -> pd.Series:
    codes, uniques = _factorize(values)
    mapped = [func(v) for v in uniques]
    bad = [u for u, m in zip(uniques, mapped, strict=True) if m is None]
    if bad:
        row, value = _first_row(values, bad)
        raise InputFileError(name, row=row, column=column, expected=expected, value=value)
    return pd.Series(np.array(mapped, dtype=object)[codes] if mapped else [], index=values.index, dtype="str")


def _decimals(values: pd.Series, name: str, column: str, *, required: bool, decimal_comma: bool) -> pd.Series:
    codes, uniques = _factorize(values)
    texts = [str(u).strip() for u in uniques]
    if decimal_comma:
        texts = [t.replace(",", ".") if "," in t and "." not in t else t for t in texts]
    if "" in texts and required:
        row, _ = _first_row(values, [uniques[texts.index("")]])
        raise InputFileError(name, row=row, column=column, expected="a price (decimal number)", value="")
    try:
        converted: list[Decimal | None] = [Decimal(t) if t else None for t in texts]
        bad = next((i for i, d in enumerate(converted) if d is not None and not d.is_finite()), None)
    except InvalidOperation:
        bad = next(i for i, t in enumerate(texts) if t and not _is_decimal(t))
    if bad is not None:
        row, value = _first_row(values, [uniques[bad]])
        raise InputFileError(name, row=row, column=column, expected="a decimal number", value=value)
    array = np.empty(len(converted), dtype=object)
    array[:] = converted
    return pd.Series(array[codes] if len(values) else [], index=values.index, dtype=object)


def _is_decimal(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def _dates(values: pd.Series, name: str, column: str, *, required: bool) -> pd.Series:
    """Parse a date column; each distinct text is parsed once, vectorised per text shape."""
    codes, uniques = pd.factorize(values)
    texts = pd.Series(uniques, dtype=object).astype(str).str.strip()
    parsed = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns, UTC]")
    blank = texts == ""
    if required and blank.any():
        row, _ = _first_row(values, [uniques[int(np.flatnonzero(blank.to_numpy())[0])]])
        raise InputFileError(name, row=row, column=column, expected="a date (M/D/YYYY or ISO 8601)", value="")
    iso = texts.str.match(_ISO)
    shapes = texts.str.replace(_DIGITS, "9", regex=True).str.upper()
    year = pd.to_numeric(
        texts.str.extract(r"^(\d{4})-|^\d{1,2}/\d{1,2}/(\d{4})").bfill(axis=1).iloc[:, 0], errors="coerce"
    )
    open_end = year > _OPEN_END_YEAR
    todo = ~blank & ~open_end
    groups: list[tuple[pd.Series, str]] = [(todo & iso, "ISO8601")]
    us = todo & ~iso
    for shape in shapes[us].unique():
        fmt = _US_FORMATS.get(shape)
        mask = us & (shapes == shape)
        if fmt is None:
            bad = uniques[int(np.flatnonzero(mask.to_numpy())[0])]
            row, value = _first_row(values, [bad])
            raise InputFileError(
                name,
                row=row,
                column=column,
                expected="a date as M/D/YYYY [h:mm[:ss] [AM|PM]] or ISO 8601 (YYYY-MM-DDThh:mm:ss.fffffffZ)",
                value=value,
            )
        groups.append((mask, fmt))
    for mask, fmt in groups:
        if not mask.any():
            continue
        try:
            result = pd.to_datetime(texts[mask], format=fmt, utc=True, errors="coerce")
        except (ValueError, OverflowError):  # pragma: no cover - errors="coerce" keeps this rare
            result = pd.Series(pd.NaT, index=texts[mask].index, dtype="datetime64[ns, UTC]")
        failed = result.isna()
        if failed.any():
            bad = uniques[int(failed[failed].index[0])]
            row, value = _first_row(values, [bad])
            raise InputFileError(
                name,
                row=row,
                column=column,
                expected="a valid date as M/D/YYYY [h:mm[:ss] [AM|PM]] or ISO 8601",
                value=value,
            )
        parsed[mask] = result.astype("datetime64[ns, UTC]")
    naive = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    taken = naive[codes] if len(values) else np.array([], dtype="datetime64[ns]")
    if len(values) and (codes < 0).any():
        taken[codes < 0] = np.datetime64("NaT")
    return pd.Series(taken, index=values.index).dt.tz_localize("UTC")


def _free_trials(frame: pd.DataFrame) -> pd.Series:
    """Zero-price rows that sit next to a paid row of the same product/SKU/currency, or are tagged Trial."""
    prices = frame["UnitPrice"].to_numpy()
    zero = pd.Series(prices == Decimal(0), index=frame.index).astype(bool)
    if not zero.any():
        return pd.Series(False, index=frame.index)
    tagged = frame["Tags"].fillna("").str.contains(r"\btrial\b", case=False, regex=True)
    key = ["ProductId", "SkuId", "Currency"]
    paid = frame.loc[~zero, key].drop_duplicates()
    paid_index = pd.MultiIndex.from_frame(paid)
    has_paid = pd.MultiIndex.from_frame(frame[key]).isin(paid_index)
    return pd.Series(zero.to_numpy() & (has_paid | tagged.to_numpy()), index=frame.index)


# ----------------------------------------------------------------------------------------------------- lookups


def _as_utc(values: Any) -> pd.Series:
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    converted = pd.to_datetime(series, utc=True)
    return converted.astype("datetime64[ns, UTC]")


def _text_key(value: Any) -> str:
    return str(value).strip().upper()


#: How each key column is matched (the reader's normalisation): SkuId ``1`` = ``0001``, plan and currency in any case.
_KEY_NORMALIZERS: dict[str, Any] = {
    "ProductId": _text_key,
    "SkuId": lambda value: _repair_sku_id(str(value)),
    "TermDuration": _text_key,
    "BillingPlan": lambda value: normalize_billing_plan(value) or value,
    "Currency": _text_key,
}


def _combined_codes(left: pd.DataFrame, right: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One int64 code per distinct normalised key tuple, shared between the two frames (blank/NA is a value of
    its own). Each column is normalised once per distinct value, not per row."""
    n_left = len(left)
    code = np.zeros(n_left + len(right), dtype=np.int64)
    for column, normalize in _KEY_NORMALIZERS.items():
        left_codes, left_uniques = _factorize(left[column])
        right_codes, right_uniques = _factorize(right[column])
        normalized = [normalize(v) for v in left_uniques] + [normalize(v) for v in right_uniques]
        shared, uniques = pd.factorize(pd.Series(normalized, dtype=object), use_na_sentinel=True)
        shared = shared.astype(np.int64) + 1  # 0: blank/NA
        left_map, right_map = np.append(shared[: len(left_uniques)], 0), np.append(shared[len(left_uniques) :], 0)
        both = np.concatenate([left_map[left_codes], right_map[right_codes]])
        code = code * (len(uniques) + 1) + both
        # re-compact so the radix product never overflows
        code = pd.factorize(code)[0].astype(np.int64)
    return code[:n_left], code[n_left:]


def lookup_prices(price_list: pd.DataFrame, queries: pd.DataFrame) -> pd.Series:
    """Price in force for many queries at once.

    Args:
        price_list: a frame from :func:`read_price_list` (at least the key columns, UnitPrice,
            EffectiveStartDate, EffectiveEndDate; IsFreeTrial if present).
        queries: columns ``ProductId, SkuId, TermDuration, BillingPlan, Currency`` (matched after the same
            normalisation as the reader: SkuId ``1`` = ``0001``, billing plan and currency in any case) and
            ``On`` (datetime64[ns, UTC]; naive or text is taken as UTC).

    Returns:
        A Series aligned with ``queries.index`` holding the Decimal ``UnitPrice`` in force on ``On``, or None
        when no row covers it. A row is in force when ``EffectiveStartDate <= On <= EffectiveEndDate`` (NaT end =
        open); when ranges overlap the latest start wins (same start: the later row of the file). Free-trial rows
        never count. For tiered SKUs the lowest tier's price is used.
    """
    rows = lookup_price_rows(price_list, queries)
    values = np.asarray(price_list["UnitPrice"].to_numpy(dtype=object), dtype=object) if len(price_list) else None
    out = np.full(len(queries), None, dtype=object)
    if values is not None:
        out[rows >= 0] = values[rows[rows >= 0]]
    return pd.Series(out, index=queries.index, dtype=object)


def lookup_price_rows(
    price_list: pd.DataFrame, queries: pd.DataFrame, *, key_codes: np.ndarray | None = None
) -> np.ndarray:
    """Like :func:`lookup_prices`, but the position (0-based, in ``price_list``) of the row in force for each query,
    -1 when none: an int64 array aligned with ``queries``. Lets callers take any column of the winning rows.

    ``key_codes``: optional integer per query, equal for queries with equal key columns (a factorization the caller
    already has); the key columns are then read and normalised once per code instead of once per query.
    """
    rows_out = np.full(len(queries), -1, dtype=np.int64)
    if len(queries) == 0 or len(price_list) == 0:
        return rows_out
    prices = price_list
    positions = np.arange(len(price_list))
    if "IsFreeTrial" in prices.columns:
        paid = ~prices["IsFreeTrial"].astype(bool).to_numpy()
        prices, positions = prices[paid], positions[paid]
    right = pd.DataFrame(index=prices.index)
    right["Start"] = _as_utc(prices["EffectiveStartDate"]).fillna(pd.Timestamp.min.tz_localize("UTC"))
    right["End"] = _as_utc(prices["EffectiveEndDate"]) if "EffectiveEndDate" in prices else pd.NaT
    right["Source"] = positions  # the row's position in price_list
    right["Order"] = np.arange(len(right))
    if "PricingTierRangeMin" in prices.columns:
        tiers = pd.to_numeric(
            prices["PricingTierRangeMin"].map(lambda d: None if d is None else float(d)), errors="coerce"
        ).fillna(-1.0)
        right["Tier"] = tiers.to_numpy()
    else:
        right["Tier"] = -1.0
    left = pd.DataFrame(index=queries.index)
    left["On"] = _as_utc(queries["On"]).array  # DatetimeArray: to_numpy() would box every value
    left["Pos"] = np.arange(len(left))
    if key_codes is None:
        left_key, right_key = _combined_codes(queries, prices)
    else:
        dense = pd.factorize(np.asarray(key_codes))[0]
        first = np.empty(int(dense.max(initial=-1)) + 1, dtype=np.int64)
        first[dense[::-1]] = np.arange(len(dense) - 1, -1, -1)  # each code's first query
        distinct_key, right_key = _combined_codes(queries.iloc[first], prices)
        left_key = distinct_key[dense]
    left["K"] = left_key
    right["K"] = right_key
    # lowest tier only: among rows with the same key and start, keep the one with the smallest tier minimum
    right = right.sort_values(["K", "Start", "Tier", "Order"], ascending=[True, True, True, False], kind="stable")
    right = right.drop_duplicates(["K", "Start", "End"], keep="first")
    right = right.sort_values(["Start", "Order"], kind="stable").reset_index(drop=True)
    right["Row"] = np.arange(len(right))
    left = left[left["On"].notna()]
    left = left[left["K"].isin(right["K"].unique())]
    if len(left):
        _resolve(left, right, rows_out)
    return rows_out


_FAR_FUTURE = pd.Timestamp("2262-04-11", tz="UTC")


def _resolve(left: pd.DataFrame, right: pd.DataFrame, out: np.ndarray) -> None:
    """Fill ``out[Pos]`` with the position in the price list of the row winning each query (vectorised; loops only
    over overlap depth).

    ``right`` is sorted by (Start, file order) and numbered by ``Row``, so for one key every row numbered below a
    candidate starts no later than it. Step 1 takes the latest start <= On; while that row ended before On, step
    to the previous row of the key. ``MaxEnd`` (running maximum end per key) stops the walk early once no
    earlier row can still cover On.
    """
    right = right.assign(EndF=right["End"].fillna(_FAR_FUTURE))
    right["MaxEnd"] = right.groupby("K", sort=False)["EndF"].cummax()
    table = right[["K", "Row", "EndF", "MaxEnd"]].astype({"Row": np.int64})
    sources = right["Source"].to_numpy()
    first = pd.merge_asof(
        left[["K", "On", "Pos"]].sort_values("On", kind="stable"),
        right[["K", "Start", "Row"]],
        left_on="On",
        right_on="Start",
        by="K",
        direction="backward",
    )
    pending = first[first["Row"].notna()][["K", "On", "Pos", "Row"]].astype({"Row": np.int64})
    while len(pending):
        pending = pending.merge(table, on=["K", "Row"], how="left", sort=False)
        covers = (pending["EndF"] >= pending["On"]).to_numpy()
        hit = pending[covers]
        out[hit["Pos"].to_numpy()] = sources[hit["Row"].to_numpy()]
        pending = pending[~covers & (pending["MaxEnd"] >= pending["On"]).to_numpy()]
        if pending.empty:
            break
        pending = pending[["K", "On", "Pos", "Row"]].sort_values("Row", kind="stable")
        stepped = pd.merge_asof(
            pending.rename(columns={"Row": "Cur"}),
            table[["K", "Row"]],
            left_on="Cur",
            right_on="Row",
            by="K",
            direction="backward",
            allow_exact_matches=False,
        )
        pending = stepped[stepped["Row"].notna()][["K", "On", "Pos", "Row"]].astype({"Row": np.int64})


def price_in_force(
    price_list: pd.DataFrame,
    *,
    product_id: str,
    sku_id: str,
    term_duration: str,
    billing_plan: str,
    currency: str,
    on: datetime | pd.Timestamp | str,
) -> Decimal | None:
    """The UnitPrice in force for one product/SKU/term/billing plan/currency on a date, or None.

    Same rule as :func:`lookup_prices` (latest start wins, free trials excluded). ``on`` naive = UTC.
    """
    query = pd.DataFrame(
        {
            "ProductId": [product_id],
            "SkuId": [sku_id],
            "TermDuration": [term_duration],
            "BillingPlan": [billing_plan],
            "Currency": [currency],
            "On": [pd.Timestamp(on)],
        }
    )
    return lookup_prices(price_list, query).iloc[0]
