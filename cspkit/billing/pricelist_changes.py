"""The ``ChangeIndicator`` and ``PreviousValues`` columns of a current new-commerce price list.

Real current files (``../shared/realdata/nce-pricelist-US-2025-11.csv``, billing-formats.md §1.5) open with
``ChangeIndicator`` (``Unchanged`` / ``Change`` / ``Add``: the row against last month's list) and close with
``PreviousValues``, a Python-dict-like text of the fields a ``Change`` row changed and their old values (e.g.
``{'ERP Price': '57.6', 'UnitPrice': '46.08'}``). Read by :func:`cspkit.billing.pricelist.read_price_list`; used by
:func:`cspkit.billing.pricelist_analysis.diff_from_indicators`.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.pricelist_values import cell_error, checked_map, factorize

__all__ = ["CHANGE_INDICATORS", "normalize_change_columns", "parse_previous_values"]

#: ``ChangeIndicator`` values of a current price list (the row against last month's list), blank = Unchanged.
CHANGE_INDICATORS = {"unchanged": "Unchanged", "change": "Change", "changed": "Change", "add": "Add",
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


def _previous_values_column(values: pd.Series, name: str) -> pd.Series:
    values = values.fillna("").astype(str)
    codes, uniques = factorize(values)
    parsed: list[dict[str, str] | None] = []
    for unique in uniques:
        try:
            parsed.append(parse_previous_values(unique))
        except ValueError as exc:
            raise cell_error(values, [unique], name, "PreviousValues",
                             f"a dict of previous values such as {{'UnitPrice': '46.08'}} ({exc})") from None
    array = np.empty(len(values), dtype=object)
    for position, code in enumerate(codes):
        array[position] = parsed[code] if code >= 0 else None
    return pd.Series(array, index=values.index, dtype=object)


def normalize_change_columns(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Normalise ``ChangeIndicator`` (→ ``Unchanged`` | ``Change`` | ``Add``; blank = ``Unchanged``) and parse
    ``PreviousValues`` (→ dict or None) in place where the frame has them; returns the frame.

    Raises:
        InputFileError: an unknown indicator or a malformed ``PreviousValues`` cell (file ``name``, 1-based row,
            column, what was expected).
    """
    if "ChangeIndicator" in frame.columns:
        frame["ChangeIndicator"] = checked_map(
            frame["ChangeIndicator"].fillna("").astype(str).str.strip(), lambda v: CHANGE_INDICATORS.get(v.lower()),
            name, "ChangeIndicator", "Unchanged, Change or Add",
        )  # fmt: skip
    if "PreviousValues" in frame.columns:
        frame["PreviousValues"] = _previous_values_column(frame["PreviousValues"], name)
    return frame
