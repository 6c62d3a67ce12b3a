"""Column parsers of the price-list reader: ids, billing plans, decimals and dates, each parsed once per distinct text.

Shapes followed (billing-formats.md §1.5, Partner Center "Get a price sheet"): dates as ``M/D/YYYY [h:mm[:ss]
[AM|PM]]`` (portal files, Excel re-saves) or ISO 8601 with up to 7 fractional digits and an optional ``Z`` (the
price-sheet API), the open end ``9999-11-30…`` read as NaT; prices as exact decimals (``;``-delimited files with
decimal commas after an Excel re-save on a non-US locale); SkuIds of 4 digits that Excel may have turned into
numbers. Used by :mod:`cspkit.billing.pricelist` (reading) and :mod:`cspkit.billing.pricelist_lookup` (matching
query keys the way the reader normalises them). Every parser raises :class:`~cspkit.errors.InputFileError` naming
the file, the 1-based data row, the column and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.pricing import billing_plan
from cspkit.errors import InputFileError

__all__ = [
    "checked_map",
    "date_column",
    "decimal_column",
    "factorize",
    "cell_error",
    "map_unique",
    "normalize_billing_plan",
    "repair_sku_id",
]

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


def normalize_billing_plan(value: str | None) -> str | None:
    """``"monthly"``/``"MONTHLY"``/``"Monthly"`` → ``"Monthly"``; blank → ``"None"``; unknown → None.

    Also accepts Partner Center's ``billingCycle`` values (``monthly``, ``annual``, ``triennial``, ``none``,
    ``one_time``).
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "None"
    return billing_plan(value)


def repair_sku_id(value: str) -> str:
    """A SkuId as text; one that Excel turned into a number (``1``, ``1.0``) back to 4 digits (``0001``)."""
    text = value.strip()
    if re.fullmatch(r"\d+(\.0*)?", text):  # Excel turned "0001" into 1 or 1.0
        return text.split(".")[0].zfill(4)
    return text


def factorize(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes and the distinct values as a plain Python list (fast for arrow-backed strings)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object).tolist()


def map_unique(values: pd.Series, func: Any) -> pd.Series:
    """Apply ``func`` once per distinct value (price lists repeat a few thousand values over many rows)."""
    codes, uniques = factorize(values)
    mapped = np.array([func(v) for v in uniques], dtype=object)
    result = mapped[codes] if len(mapped) else np.array([None] * len(values), dtype=object)
    if (codes < 0).any():
        result[codes < 0] = None
    return pd.Series(result, index=values.index, dtype="str" if _all_str(mapped) else object)


def _all_str(values: np.ndarray) -> bool:
    return all(isinstance(v, str) for v in values)


_CELL = object()  # cell_error's default: show the cell's own value


def cell_error(
    values: pd.Series, bad: Iterable[Any], name: str, column: str, expected: str, *, value: Any = _CELL
) -> InputFileError:
    """The error for the first cell of ``values`` holding one of ``bad``: file ``name``, its 1-based data row (header
    = row 0), ``column``, what was ``expected`` and the cell's value (or ``value`` when given)."""
    mask = values.isin(set(bad)).to_numpy()
    position = int(np.flatnonzero(mask)[0])
    shown = values.iloc[position] if value is _CELL else value
    return InputFileError(name, row=position + 1, column=column, expected=expected, value=shown)


def checked_map(values: pd.Series, func: Any, name: str, column: str, expected: str) -> pd.Series:
    """``func`` applied once per distinct value → a string Series; ``func`` returns None for a bad value.

    Raises:
        InputFileError: the first bad value (file ``name``, 1-based row, ``column``, ``expected``).
    """
    codes, uniques = factorize(values)
    mapped = [func(v) for v in uniques]
    bad = [u for u, m in zip(uniques, mapped, strict=True) if m is None]
    if bad:
        raise cell_error(values, bad, name, column, expected)
    return pd.Series(np.array(mapped, dtype=object)[codes] if mapped else [], index=values.index, dtype="str")


def decimal_column(values: pd.Series, name: str, column: str, *, required: bool, decimal_comma: bool) -> pd.Series:
    """Texts → exact :class:`~decimal.Decimal` (object Series; blank → None), ``1,5`` read as 1.5 when
    ``decimal_comma``.

    Raises:
        InputFileError: a blank in a ``required`` column, or not a finite decimal number (row, column, value).
    """
    codes, uniques = factorize(values)
    texts = [str(u).strip() for u in uniques]
    if decimal_comma:
        texts = [t.replace(",", ".") if "," in t and "." not in t else t for t in texts]
    if "" in texts and required:
        raise cell_error(values, [uniques[texts.index("")]], name, column, "a price (decimal number)", value="")
    try:
        converted: list[Decimal | None] = [Decimal(t) if t else None for t in texts]
        bad = next((i for i, d in enumerate(converted) if d is not None and not d.is_finite()), None)
    except InvalidOperation:
        bad = next(i for i, t in enumerate(texts) if t and not _is_decimal(t))
    if bad is not None:
        raise cell_error(values, [uniques[bad]], name, column, "a decimal number")
    array = np.empty(len(converted), dtype=object)
    array[:] = converted
    return pd.Series(array[codes] if len(values) else [], index=values.index, dtype=object)


def _is_decimal(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def date_column(values: pd.Series, name: str, column: str, *, required: bool) -> pd.Series:
    """Parse a date column; each distinct text is parsed once, vectorised per text shape."""
    codes, uniques = pd.factorize(values)
    texts = pd.Series(uniques, dtype=object).astype(str).str.strip()
    parsed = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns, UTC]")
    blank = texts == ""
    if required and blank.any():
        first_blank = uniques[int(np.flatnonzero(blank.to_numpy())[0])]
        raise cell_error(values, [first_blank], name, column, "a date (M/D/YYYY or ISO 8601)", value="")
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
            raise cell_error(values, [bad], name, column,
                             "a date as M/D/YYYY [h:mm[:ss] [AM|PM]] or ISO 8601 (YYYY-MM-DDThh:mm:ss.fffffffZ)")
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
            raise cell_error(values, [bad], name, column, "a valid date as M/D/YYYY [h:mm[:ss] [AM|PM]] or ISO 8601")
        parsed[mask] = result.astype("datetime64[ns, UTC]")
    naive = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    taken = naive[codes] if len(values) else np.array([], dtype="datetime64[ns]")
    if len(values) and (codes < 0).any():
        taken[codes < 0] = np.datetime64("NaT")
    return pd.Series(taken, index=values.index).dt.tz_localize("UTC")

