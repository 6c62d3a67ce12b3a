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

import csv
import io
import os
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from cspkit.billing.pricelist_changes import normalize_change_columns, parse_previous_values
from cspkit.billing.pricelist_lookup import lookup_price_rows, lookup_prices, price_in_force
from cspkit.billing.pricelist_values import (
    checked_map,
    date_column,
    decimal_column,
    map_unique,
    normalize_billing_plan,
    repair_sku_id,
)
from cspkit.errors import InputFileError
from cspkit.wire import PRICE_LIST_HEADER

# Defined in the modules beside this one (values, ChangeIndicator/PreviousValues, lookups) and importable from here.
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


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name)).lower().lstrip("\ufeff")


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
    out["SkuId"] = map_unique(text("SkuId"), repair_sku_id)
    out["Currency"] = text("Currency").str.upper()
    out["TermDuration"] = checked_map(
        text("TermDuration"),
        lambda v: v.upper() if _TERM.match(v.upper()) else None,
        name,
        "TermDuration",
        "an ISO 8601 term duration such as P1M, P1Y or P3Y",
    )
    out["BillingPlan"] = checked_map(
        text("BillingPlan"), normalize_billing_plan, name, "BillingPlan", "Monthly, Annual, Triennial or None"
    )
    for column, required in (
        ("UnitPrice", True),
        ("ERPPrice", False),
        ("PricingTierRangeMin", False),
        ("PricingTierRangeMax", False),
    ):
        if column in raw.columns:
            out[column] = decimal_column(raw[column], name, column, required=required, decimal_comma=decimal_comma)
        else:
            out[column] = pd.Series([None] * n, index=raw.index, dtype=object)
    for column in _DATES:
        if column in raw.columns:
            out[column] = date_column(raw[column], name, column, required=column == "EffectiveStartDate")
        else:
            out[column] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")

    frame = pd.DataFrame({c: out[c] for c in COLUMNS if c != "IsFreeTrial"}, index=raw.index)
    frame["IsFreeTrial"] = _free_trials(frame)
    extras = [c for c in raw.columns if c not in frame.columns]
    for column in extras:
        frame[column] = raw[column]
    return normalize_change_columns(frame, name).reset_index(drop=True)


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


