"""Column conversion of the reconciliation readers: raw text columns of one chunk → typed pandas columns.

Ids are normalised with vectorised Arrow kernels (GUIDs lower-cased and unbraced, Excel's ``6034453.0`` repaired,
SkuId padded to 4 characters, Excel-rounded ``1.23E+15`` ids counted for a warning); money, prices, quantities and
rates become :data:`~cspkit.billing.recon_values.MONEY`; dates ``datetime64[ns, UTC]``; charge types camelCase.
Sources: billing-formats.md §1.1 (column types), §1.5 (Excel re-saves), §1.6 (API aliases, rate fractions),
partner-center-api.md §6.8 (``productQualifiers`` spelling).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.recon_columns import COLUMN_TYPES, normalize_charge_type
from cspkit.billing.recon_values import (
    MONEY_ARROW,
    MONEY_SCALE,
    TEXT,
    lower,
    may_contain,
    parse_recon_date,
    parse_recon_number,
    to_string,
    upper,
)
from cspkit.errors import InputFileError

__all__ = ["Converter"]

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


class Converter:
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
            return to_string(self._vector_text(column, typ, raw))
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
        taken = pc.take(pa.array(parsed, type=TEXT), encoded.indices)
        return to_string(taken)

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
                if simple:  # a fraction column scales its plain numbers too (parse() scales the others)
                    parsed.append(Decimal(text) * 100 if column in self.fractions else Decimal(text))
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
            return upper(raw)
        if typ == "guid":
            if may_contain(raw, b"{"):
                raw = pc.replace_substring_regex(raw, r"^\{(.*)\}$", r"\1")
            return lower(raw)
        fixed = raw
        if may_contain(raw, b".0"):
            fixed = pc.replace_substring_regex(raw, r"^(-?\d+)\.0+$", r"\1")  # Excel's 6034453.0
        if may_contain(fixed, b"E+", b"e+"):
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
