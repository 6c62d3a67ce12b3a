"""Invoice reconciliation engine: recon lines × subscriptions × price list → tie-out, totals and variances.

Pure functions over DataFrames (no I/O, no printing), usable from notebooks. The input lines are a frame from
:mod:`cspkit.billing.recon_readers` (new-commerce invoice reconciliation columns, billing-formats.md §1.1).
Subscriptions and the price list are optional plain frames/records, so the engine depends on neither the ledger
nor the API.

Rules followed (billing-formats.md):

* tie-out: Σ ``Total`` per invoice and billing currency against the invoice's total (§4.1);
* unit price: ``UnitPrice`` (the price of one billing period) against the term price of the price list in force on
  ``OrderDate`` for ProductId + SkuId + TermDuration + BillingPlan + PricingCurrency (the latest start winning on
  overlap) divided by the billing periods of the line's term and plan (P1Y monthly 12, P3Y monthly 36, P3Y annual
  3, otherwise 1; :mod:`cspkit.billing.pricing`, billing-formats.md §1.5 UnitPrice and §4.3). The line agrees when
  it equals the exact quotient or its half-up rounding to the cent, give or take ``Tolerance.unit_price``
  (:func:`~cspkit.billing.pricing.period_price_matches`). A line whose term and plan make no billing period (a P1M
  term billed annually) is reported as ``price_not_found`` with that reason instead of being compared;
* proration: ``|EffectiveUnitPrice| = UnitPrice / chargeCycleDays × billingDays`` (§2.4): chargeCycleDays = the days
  of the charge cycle that ends on ``ChargeEndDate`` (the days of the month it started in for monthly billing,
  365/366 for annual, the whole term when prepaid), billingDays = ``ChargeEndDate − ChargeStartDate + 1``;
* amounts: ``Subtotal`` within ``0.01 × BillableQuantity`` (at least 0.01) of ``EffectiveUnitPrice ×
  PCToBCExchangeRate × BillableQuantity`` — both documented rounding rules fall inside that tolerance (§2.4 ⚠);
  ``Total = Subtotal + TaxTotal`` to the cent;
* seats: the last positive line of a subscription (ordered by OrderDate) gives the billed seat count, a trailing
  ``cancelImmediate`` refund makes it 0 (§4.4); ``customerCredit`` lines are left out;
* refunds (negative ``EffectiveUnitPrice``/``Subtotal`` with positive ``BillableQuantity``, §2.4) must match a
  positive charge of the same subscription whose charge period covers the refunded days, in ``lines`` or
  ``history``.

Money columns may be the readers' exact Arrow decimals (:data:`~cspkit.billing.recon_readers.MONEY`, converted
with vectorised Arrow kernels) or object columns of :class:`~decimal.Decimal` (user frames). Amounts are summed
exactly (int64 micro-units) and returned as exact Arrow decimal columns (cells are :class:`~decimal.Decimal`).
Comparisons are screened in float64 with a safety margin and every candidate is confirmed with exact Decimal
arithmetic, so a variance is reported only when the Decimal check fails.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.memory import use_reuse_friendly_pool
from cspkit.billing.pricing import CENT, billing_periods, period_price
from cspkit.billing.recon_columns import normalize_header
from cspkit.billing.recon_readers import MONEY_ARROW, MONEY_SCALE, STRING, _lower, _upper
from cspkit.billing.recon_shared import CATEGORIES
from cspkit.billing.recon_shared import MICRO as _MICRO
from cspkit.billing.recon_shared import arrow as _arrow
from cspkit.billing.recon_shared import arrow_text as _arrow_text
from cspkit.billing.recon_shared import distinct as _distinct
from cspkit.billing.recon_shared import division_evidence as _division
from cspkit.billing.recon_shared import missing_charge_rows as _missing_charge_rows
from cspkit.billing.recon_shared import to_utc as _to_utc

__all__ = [
    "CATEGORIES",
    "ReconciliationResult",
    "Tolerance",
    "normalize_invoices",
    "normalize_subscriptions",
    "reconcile",
]


_SEAT_CHARGES = {
    "new", "renew", "cycleCharge", "addQuantity", "removeQuantity", "cancelImmediate", "convert", "moveQuantity",
    "changeBillingPlan",
}  # fmt: skip
_RECURRING = {"new", "renew", "cycleCharge"}
_CANCELLED = {"deleted", "cancelled", "canceled", "expired", "disabled"}
_SCALE = 1_000_000  # micro-units for exact int64 sums
_DSCALE = Decimal(_SCALE)
_CENT = Decimal("0.01")
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)  # the finest step a MONEY column holds
_MARGIN = 1e-7  # float screening margin (candidates are confirmed in Decimal)

VARIANCE_COLUMNS = [
    "Category", "Severity", "CustomerId", "CustomerName", "SubscriptionId", "InvoiceNumber", "ChargeType",
    "ProductId", "SkuId", "OrderDate", "Currency", "Expected", "Actual", "Difference", "Amount", "Evidence",
    "SourceFile", "SourceRow",
]  # fmt: skip


@dataclass(frozen=True)
class Tolerance:
    """Explicit tolerances for money comparisons (billing-formats.md §2.4: up to 0.01 × BillableQuantity per line).

    Attributes:
        per_unit: allowed difference per billed unit on a line's Subtotal and per unit on EffectiveUnitPrice.
        line_minimum: the smallest allowed difference on a line (usage lines can bill 0.005 units).
        unit_price: allowed difference between UnitPrice and the price list (exact by default).
        tieout: allowed difference between Σ Total and the invoice total, per invoice and currency.
        exchange_rate: allowed difference between exchange rates of the same currency pair and rate date.
    """

    per_unit: Decimal = Decimal("0.01")
    line_minimum: Decimal = Decimal("0.01")
    unit_price: Decimal = Decimal("0")
    tieout: Decimal = Decimal("0.01")
    exchange_rate: Decimal = Decimal("0.000001")


@dataclass
class ReconciliationResult:
    """The frames of one reconciliation.

    Attributes:
        period_start, period_end: the billing period (UTC calendar month; end inclusive, 00:00 of its last day).
        tieout: one row per InvoiceNumber × Currency: Lines, Subtotal, TaxTotal, Total, InvoiceTotal, Difference,
            Status (``ties`` / ``differs`` / ``no invoice total``).
        customers: per customer and currency: Subscriptions, Lines, Charges, Refunds, Subtotal, TaxTotal, Total,
            Variances.
        subscriptions: per subscription and currency: ProductId, SkuId, SkuName, Lines, BilledSeats,
            SubscriptionQuantity, SubscriptionStatus, Subtotal, Total, Variances.
        charge_types: per currency and charge type: Lines, Subtotal, Total.
        variances: one row per finding (columns :data:`VARIANCE_COLUMNS`); Expected/Actual/Difference are Decimal.
        variance_counts: per category: Severity, Count, Meaning.
        lines: the input lines plus ``Variances`` (the categories found on each line, comma-separated).
        notes: what could not be checked (no price list, no subscriptions).
        timings: seconds spent per step (for benchmarks).

    Money sums (Subtotal, TaxTotal, Total, Charges, Refunds of tieout, customers, subscriptions and charge_types) are
    exact Arrow decimals: ``decimal128(38, 2)`` when every value of the column is whole cents, else
    ``decimal128(38, 6)``; cells are :class:`~decimal.Decimal`. InvoiceTotal and Difference are Decimal objects.
    """

    period_start: pd.Timestamp | None
    period_end: pd.Timestamp | None
    tieout: pd.DataFrame
    customers: pd.DataFrame
    subscriptions: pd.DataFrame
    charge_types: pd.DataFrame
    variances: pd.DataFrame
    variance_counts: pd.DataFrame
    lines: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The result frames by report name (``summary`` is the tie-out)."""
        return {
            "tieout": self.tieout,
            "charge_types": self.charge_types,
            "variance_counts": self.variance_counts,
            "variances": self.variances,
            "customers": self.customers,
            "subscriptions": self.subscriptions,
            "lines": self.lines,
        }


# --------------------------------------------------------------------------------------------------------------
# vector helpers (every column is converted once; Python loops run only over distinct values or candidates)


def _encode(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Text column → (int64 codes with -1 for NA, object array of the distinct values)."""
    arr = _arrow(series)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = arr.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    values = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    return codes, values


_object_id = np.frompyfunc(id, 1, 1)


def _per_object(values: Any, func: Any, dtype: Any, missing: Any) -> np.ndarray:
    """Apply ``func`` once per distinct *object* of an object array (the readers share one Decimal object between
    equal values, so this is far fewer calls than rows); None/NaN give ``missing``."""
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    if not len(arr):
        return np.zeros(0, dtype=dtype)
    codes, first = np.unique(_object_id(arr).astype(np.int64), return_inverse=True, return_index=True)[1:]
    distinct = arr[codes]
    table = np.array([missing if v is None or v != v else func(v) for v in distinct], dtype=dtype)
    return table[first]


def _arrow_decimals(values: Any) -> pa.Array | None:
    """The Arrow array behind an ArrowDtype decimal Series (the readers' MONEY columns), else None."""
    if isinstance(values, pa.Array) and pa.types.is_decimal(values.type):
        return values
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.ArrowDtype):
        if pa.types.is_decimal(values.dtype.pyarrow_dtype):
            arr = values.array.__arrow_array__()
            return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return None


def _floats(values: Any, *, exact: bool = False) -> np.ndarray:
    """Decimal column (MONEY or Decimal/None objects) → float64 (NaN for NA).

    For screening only (every candidate is confirmed in Decimal): Arrow's decimal → float cast can be 1 ulp off the
    correctly rounded value. ``exact=True`` rounds correctly (via text, 10× slower): for values that are shown.
    """
    arr = _arrow_decimals(values)
    if arr is not None:
        if exact:  # once per distinct value (rates repeat)
            encoded = arr.dictionary_encode()
            floats = pc.cast(pc.cast(encoded.dictionary, pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
            return np.append(floats, np.nan)[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)]
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    return _per_object(values, float, float, np.nan)


def _decimal_codes(values: Any) -> np.ndarray:
    """Exact identity of each decimal value as int64 codes (-1 for NA): equal values, equal codes."""
    arr = _arrow_decimals(values)
    if arr is None:
        return pd.factorize(_per_object(values, lambda v: v.normalize(), object, None))[0].astype(np.int64)
    if not len(arr):
        return np.zeros(0, dtype=np.int64)
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64)[2 * arr.offset : 2 * (arr.offset + len(arr))]
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    code = _combine([pd.factorize(words[0::2])[0], pd.factorize(words[1::2])[0]])
    return np.where(valid, code, -1)


def _micros(values: Any) -> np.ndarray:
    """Decimal column → exact int64 micro-units (0 for NA; amounts carry at most 6 decimals, further ones are
    truncated toward zero like ``int(v * 10**6)``)."""
    arr = _arrow_decimals(values)
    if arr is not None:
        scaled = arr.cast(pa.decimal128(38, 6), safe=False)
        words = np.frombuffer(scaled.buffers()[1], dtype=np.int64)[2 * scaled.offset : 2 * (scaled.offset + len(arr))]
        low, high = words[0::2], words[1::2]
        valid = scaled.is_valid().to_numpy(zero_copy_only=False)
        if bool(np.all((high == (low >> 63)) | ~valid)):  # every value fits in int64 micro-units
            return np.where(valid, low, 0)
        values = values.to_numpy(dtype=object)
    return _per_object(values, lambda v: int(v * _DSCALE), np.int64, 0)


# shown with at least 2 places like the portal writes them (a quantity or rate keeps only its significant digits)
_AMOUNTS = frozenset({"Subtotal", "TaxTotal", "Total", "BillingPreTaxTotal", "PricingPreTaxTotal", "UnitPrice",
                      "EffectiveUnitPrice"})  # fmt: skip


class _LazyDecimals:
    """Object-array stand-in over a MONEY column: Decimals are made only for the rows indexed (findings).

    Values are shown without the column's padding zeros (``100.00``, ``-5.032258``, ``10``): amounts and prices keep
    2 places.
    """

    def __init__(self, arr: pa.Array, places: int) -> None:
        self.arr = arr
        self.places = places
        self.quantum = Decimal(1).scaleb(-places)

    def __len__(self) -> int:
        return len(self.arr)

    def _tidy(self, value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        value = value.normalize()
        if value.as_tuple().exponent > -self.places:
            value = value.quantize(self.quantum)
        return value

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return self._tidy(self.arr[int(key)].as_py())
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        taken = pc.take(self.arr, pa.array(idx.astype(np.int64), type=pa.int64())).dictionary_encode()
        table = np.empty(len(taken.dictionary) + 1, dtype=object)  # one Decimal per distinct value
        table[:-1] = [self._tidy(v) for v in taken.dictionary.to_pylist()]
        table[-1] = None
        return table[pc.fill_null(taken.indices, -1).to_numpy(zero_copy_only=False)]


def _as_money(values: np.ndarray) -> pa.Array | None:
    """Decimal/None objects → a MONEY Arrow array, or None when one does not fit it exactly."""
    try:
        return pa.array([None if v is None or v != v else v for v in values], type=MONEY_ARROW)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None


def _o(values: Any) -> pd.Series:
    """An object-dtype Series (pandas 3 would otherwise convert string arrays to Arrow strings, slowly)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object, copy=False)


def _lookup(keys: Any, mapping: pd.Series, default: Any = None) -> np.ndarray:
    """``mapping[key]`` for each key (object array), ``default`` where absent; hash lookups on plain objects."""
    index = pd.Index(np.asarray(mapping.index, dtype=object), dtype=object)
    where = index.get_indexer(pd.Index(np.asarray(keys, dtype=object), dtype=object))
    values = np.asarray(mapping.to_numpy(dtype=object), dtype=object)
    out = np.full(len(where), default, dtype=object)
    found = where >= 0
    out[found] = values[where[found]]
    return out


def _naive(series: pd.Series) -> np.ndarray:
    """Datetime column → naive datetime64[ns] array in UTC (NaT kept); no per-element objects."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(series.dtype):
        series = pd.to_datetime(series, utc=True, errors="coerce").dt.tz_localize(None)
    return series.to_numpy(dtype="datetime64[ns]")


def _day(value: np.datetime64) -> str:
    return "?" if np.isnat(value) else str(value)[:10]


def _billing_period(period: Any, order_date: np.ndarray) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The month given, else the month holding most OrderDates (None, None without any)."""
    if period is not None:
        return _month_bounds(period)
    if len(order_date) and (~np.isnat(order_date)).any():
        months = pd.Series(order_date[~np.isnat(order_date)].astype("datetime64[M]")).value_counts()
        return _month_bounds(months.index[0])
    return None, None


def _month_bounds(value: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    start = ts.normalize().replace(day=1)
    end = start + pd.offsets.MonthEnd(0)
    return start, end


class _Columns:
    """Lazily converted, cached views of the line columns."""

    def __init__(self, lines: pd.DataFrame) -> None:
        self.lines = lines
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._pending: dict[tuple[str, str], Future[Any]] = {}

    def prefetch(self, pool: ThreadPoolExecutor, columns: list[str]) -> None:
        """Start encoding these text columns in ``pool`` (dictionary encoding releases the GIL)."""
        for column in columns:
            if column in self.lines.columns and ("encoded", column) not in self._cache:
                self._pending[("encoded", column)] = pool.submit(_encode, self.lines[column])

    def _get(self, kind: str, column: str, make: Any) -> np.ndarray:
        key = (kind, column)
        if key not in self._cache:
            self._cache[key] = make(self.decimals(column))
        return self._cache[key]

    def decimals_at(self, column: str, rows: np.ndarray) -> Any:
        """:meth:`decimals` at line positions ``rows``."""
        values = self.decimals(column)
        if isinstance(values, pa.Array):
            return pc.take(values, pa.array(rows, type=pa.int64()))
        return values.iloc[rows]

    def decimals(self, column: str) -> Any:
        """A MONEY column as one contiguous Arrow array (combined once), other columns as the Series."""
        key = ("arrow", column)
        if key not in self._cache:
            arr = _arrow_decimals(self.lines[column])
            self._cache[key] = arr if arr is not None else self.lines[column]  # type: ignore[assignment]
        return self._cache[key]

    def _encoded(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        key = ("encoded", column)
        if key not in self._cache:
            pending = self._pending.pop(key, None)
            encoded = pending.result() if pending is not None else _encode(self.lines[column])
            self._cache[key] = encoded  # type: ignore[assignment]
        return self._cache[key]  # type: ignore[return-value]

    def text(self, column: str) -> np.ndarray:
        """Object array of str ('' for NA); rows share the distinct values' str objects."""
        key = ("text", column)
        if key not in self._cache:
            codes, values = self._encoded(column)
            table = np.empty(len(values) + 1, dtype=object)
            table[: len(values)] = values
            table[-1] = ""
            self._cache[key] = table[codes]
        return self._cache[key]

    def codes(self, column: str) -> np.ndarray:
        return self._encoded(column)[0]

    def map_text(self, column: str, func: Any) -> np.ndarray:
        """``func`` applied once per distinct text value ('' for NA) and spread over the lines (object array)."""
        codes, values = self._encoded(column)
        table = np.empty(len(values) + 1, dtype=object)
        table[:] = [func(v) for v in values] + [func("")]
        return table[codes]

    def labels(self, column: str, positions: np.ndarray) -> np.ndarray:
        """The column's text at line ``positions`` (object array; None where blank or NA)."""
        codes, values = self._encoded(column)
        key = ("labels", column)
        if key not in self._cache:
            table = np.empty(len(values) + 1, dtype=object)
            table[: len(values)] = values
            table[-1] = None
            table[: len(values)][values == ""] = None
            self._cache[key] = table
        return self._cache[key][codes[positions]]

    def ranks(self, column: str, positions: np.ndarray) -> np.ndarray:
        """Sort rank of the column's text at line ``positions`` (text order by code point, blanks and NA last)."""
        codes, values = self._encoded(column)
        key = ("ranks", column)
        if key not in self._cache:
            table = np.empty(len(values) + 1, dtype=np.int64)
            try:  # ASCII text (ids, most names): numpy's byte-string sort, the same order, twice as fast as Arrow's
                order = np.argsort(values.astype("S"), kind="stable")
            except UnicodeEncodeError:
                order = pc.sort_indices(pa.array(values, type=pa.large_string())).to_numpy(zero_copy_only=False)
            table[order] = np.arange(len(values))
            table[-1] = len(values)
            table[: len(values)][values == ""] = len(values)
            self._cache[key] = table
        return self._cache[key][codes[positions]]

    def release(self, *kinds: str) -> None:
        """Drop the cached views of these kinds (``float``, ``dt``, ``obj``, ...) to free memory."""
        for key in [k for k in self._cache if k[0] in kinds]:
            del self._cache[key]

    def rows_in(self, column: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each line, the position of its ``column`` text in ``keys`` (-1 when absent or NA); also per distinct."""
        codes, distinct = self._encoded(column)
        per_value = pd.Index(np.asarray(keys, dtype=object), dtype=object).get_indexer(pd.Index(distinct, dtype=object))
        return np.append(per_value, -1)[codes], per_value

    def isin(self, column: str, values: Any) -> np.ndarray:
        """Rows whose text is one of ``values`` (decided once per distinct value)."""
        codes, distinct = self._encoded(column)
        wanted = np.append(np.array([v in values for v in distinct], dtype=bool), False)
        return wanted[codes]

    def f(self, column: str, *, exact: bool = False) -> np.ndarray:
        """float64 view for screening (see :func:`_floats`); ``exact``: correctly rounded."""
        if exact:
            return self._get("float-exact", column, lambda s: _floats(s, exact=True))
        return self._get("float", column, _floats)

    def present(self, column: str) -> np.ndarray:
        """Rows where the text column is neither NA nor blank (decided once per distinct value)."""
        codes, values = self._encoded(column)
        return np.append(values != "", False)[codes]

    def dt(self, column: str) -> np.ndarray:
        return self._get("dt", column, _naive)

    def obj(self, column: str) -> Any:
        """Object array of Decimals; for MONEY columns a :class:`_LazyDecimals` (indexing makes the Decimals)."""

        def make(series: Any) -> Any:
            arr = _arrow_decimals(series)
            if arr is not None:
                return _LazyDecimals(arr, 2 if column in _AMOUNTS else 0)
            return np.asarray(series.to_numpy(dtype=object), dtype=object)

        return self._get("obj", column, make)

    def na(self, column: str) -> np.ndarray:
        return self._get("na", column, lambda s: np.asarray(pd.isna(s) if not isinstance(s, pa.Array) else
                                                            s.is_null().to_numpy(zero_copy_only=False), dtype=bool))

    def micros(self, column: str) -> np.ndarray:
        return self._get("micros", column, _micros)


# --------------------------------------------------------------------------------------------------------------
# inputs


_SUB_ALIASES = {
    "customerid": "customer_id", "customertenantid": "customer_id", "customer": "customer_id",
    "subscriptionid": "subscription_id", "id": "subscription_id",
    "offerid": "offer_id", "catalogitemid": "offer_id",
    "productid": "product_id", "skuid": "sku_id", "quantity": "quantity", "status": "status",
    "termduration": "term_duration", "billingcycle": "billing_cycle", "billingplan": "billing_cycle",
    "created": "created", "creationdate": "created", "createdat": "created", "createddate": "created",
    "effectivestart": "effective_start", "effectivestartdate": "effective_start",
    "cancellationdate": "cancelled_at", "cancelledat": "cancelled_at", "canceledat": "cancelled_at",
    "deleteddate": "cancelled_at", "deletedat": "cancelled_at", "cancelled": "cancelled_at",
    "currency": "currency", "istrial": "is_trial",
}  # fmt: skip
SUBSCRIPTION_COLUMNS = [
    "customer_id", "subscription_id", "product_id", "sku_id", "quantity", "status", "term_duration",
    "billing_cycle", "created", "effective_start", "cancelled_at", "is_trial", "currency",
]  # fmt: skip


def _records(data: Any) -> pd.DataFrame:
    if data is None:
        return pd.DataFrame()
    if isinstance(data, pd.DataFrame):
        return data
    rows = []
    for item in data:
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        elif hasattr(item, "_asdict"):
            item = item._asdict()
        elif not isinstance(item, Mapping):
            item = dict(vars(item))
        rows.append(dict(item))
    return pd.DataFrame(rows)


def _per_distinct(series: pd.Series, func: Any = None, transform: Any = None) -> np.ndarray:
    """``func`` applied once per distinct trimmed text value and spread over the rows (None for blank/NA)."""
    codes, uniques = _distinct(series, transform)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[: len(uniques)] = uniques if func is None else [func(u) for u in uniques]
    table[-1] = None
    return table[codes]


def _text_or_none(series: pd.Series, transform: Any = None) -> np.ndarray:
    """Text column → object array of trimmed text, None for blank/NA (one str object per row: for ids)."""
    return _arrow_text(series, transform).to_numpy(zero_copy_only=False)


def normalize_subscriptions(data: Any) -> pd.DataFrame:
    """Subscriptions from the ledger or the API (frame or records) → the engine's columns.

    Accepts snake_case, camelCase or PascalCase names: customer_id/customerId, subscription_id/id, offer_id
    (``productId:skuId:availabilityId`` catalog item id) or product_id + sku_id, quantity, status, term_duration,
    billing_cycle, created/creationDate, effective_start/effectiveStartDate, cancelled_at/cancellation_date/
    deleted_date, is_trial, currency.
    Returns:
        Frame with :data:`SUBSCRIPTION_COLUMNS` (ids lower-cased GUIDs, quantity Decimal, dates UTC).
    """
    raw = _records(data)
    n = len(raw)
    picked: dict[str, pd.Series] = {}
    for column in raw.columns:
        target = _SUB_ALIASES.get(normalize_header(column))
        if target and target not in picked:
            picked[target] = raw[column].reset_index(drop=True)
    nothing = np.full(n, None, dtype=object)

    def per_distinct(name: str, func: Any = None, transform: Any = None) -> np.ndarray:
        return _per_distinct(picked[name], func, transform) if name in picked else nothing

    def get(name: str) -> pd.Series:
        return picked[name]

    out = pd.DataFrame(index=range(n))
    out["customer_id"] = _o(per_distinct("customer_id", transform=_lower))
    out["subscription_id"] = _o(_text_or_none(get("subscription_id"), _lower) if "subscription_id" in picked
                                else nothing)  # fmt: skip
    product = per_distinct("product_id")
    sku = per_distinct("sku_id", _pad_sku)
    if "offer_id" in picked:  # catalog item id productId:skuId:availabilityId, split once per distinct value
        codes, offers = _distinct(get("offer_id"))
        parts = np.full((len(offers) + 1, 2), None, dtype=object)
        for i, offer in enumerate(offers):
            pieces = offer.split(":")
            parts[i, 0] = pieces[0] or None
            parts[i, 1] = _pad_sku(pieces[1]) if len(pieces) > 1 and pieces[1] else None
        if "product_id" not in picked:
            product = parts[codes, 0]
        if "sku_id" not in picked:
            sku = parts[codes, 1]
    out["product_id"] = _o(product)
    out["sku_id"] = _o(sku)
    out["quantity"] = _o(per_distinct("quantity", lambda q: Decimal(q[:-2] if q.endswith(".0") else q)))
    out["status"] = _o(per_distinct("status", transform=_lower))
    out["term_duration"] = _o(per_distinct("term_duration", transform=_upper))
    out["billing_cycle"] = _o(per_distinct("billing_cycle", _plan))
    for column in ("created", "effective_start", "cancelled_at"):
        out[column] = (_to_utc(get(column)) if column in picked
                       else pd.Series(pd.DatetimeIndex(np.full(n, np.datetime64("NaT", "ns"))).tz_localize("UTC")))
    trial = per_distinct("is_trial", lambda t: t in ("true", "1", "yes"), transform=_lower)
    out["is_trial"] = trial == True  # noqa: E712 - elementwise on an object array (None is not a trial)
    out["currency"] = _o(per_distinct("currency", transform=_upper))
    out = out[out["subscription_id"].notna()].drop_duplicates("subscription_id", keep="last")
    return out[SUBSCRIPTION_COLUMNS].reset_index(drop=True)


def _pad_sku(sku: str) -> str:
    """SkuId ``1`` (Excel's number) → ``0001``."""
    return sku.zfill(4) if sku.isdigit() else sku


def _plan(value: Any) -> str | None:
    if value is None or value != value:
        return None
    folded = str(value).replace("_", "").lower()
    return {"monthly": "Monthly", "annual": "Annual", "yearly": "Annual", "triennial": "Triennial",
            "none": "None", "onetime": "None"}.get(folded, str(value))  # fmt: skip


def normalize_invoices(data: Any) -> pd.DataFrame:
    """Invoice totals → frame ``InvoiceNumber, Currency, InvoiceTotal``.

    Accepts a mapping ``{currency: total}`` (one invoice), Invoice models/records (``id``, ``currencyCode``,
    ``totalCharges``) or a frame with those or the output column names.
    """
    if data is None:
        return pd.DataFrame(columns=["InvoiceNumber", "Currency", "InvoiceTotal"])
    if isinstance(data, Mapping):
        rows = [{"InvoiceNumber": None, "Currency": str(k).upper(), "InvoiceTotal": Decimal(str(v))}
                for k, v in data.items()]  # fmt: skip
        return pd.DataFrame(rows, columns=["InvoiceNumber", "Currency", "InvoiceTotal"])
    raw = _records(data)
    names = {normalize_header(c): c for c in raw.columns}

    def pick(*keys: str) -> pd.Series:
        for key in keys:
            if key in names:
                return raw[names[key]].astype(object)
        return pd.Series([None] * len(raw), dtype=object)

    return pd.DataFrame(
        {
            "InvoiceNumber": pick("invoicenumber", "id", "invoiceid"),
            "Currency": pick("currency", "currencycode").map(lambda v: None if v is None else str(v).upper()),
            "InvoiceTotal": pick("invoicetotal", "totalcharges", "total").map(
                lambda v: None if v is None or v != v else Decimal(str(v))
            ),
        }
    )


# --------------------------------------------------------------------------------------------------------------
# the engine


class _Findings:
    def __init__(self, lines: pd.DataFrame, cols: _Columns) -> None:
        self.lines = lines
        self.cols = cols
        self.parts: list[pd.DataFrame] = []
        self._sources: np.ndarray | None = None

    def add_lines(
        self,
        category: str,
        positions: Any,
        *,
        expected: Any = None,
        actual: Any = None,
        difference: Any = None,
        evidence: Any = "",
        severity: Any = None,
    ) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return
        n = len(positions)

        def col(value: Any) -> np.ndarray:
            arr = np.empty(n, dtype=object)
            if value is None or isinstance(value, (str, Decimal)):
                arr[:] = [value] * n
            else:
                arr[:] = list(value)
            return arr

        c = self.cols
        part = pd.DataFrame(
            {
                "Category": col(category),
                "Severity": col(CATEGORIES[category][0] if severity is None else severity),
                "CustomerId": _o(c.text("CustomerId")[positions]),
                "CustomerName": _o(c.text("CustomerName")[positions]),
                "SubscriptionId": _o(c.text("SubscriptionId")[positions]),
                "InvoiceNumber": _o(c.text("InvoiceNumber")[positions]),
                "ChargeType": _o(c.text("ChargeType")[positions]),
                "ProductId": _o(c.text("ProductId")[positions]),
                "SkuId": _o(c.text("SkuId")[positions]),
                "OrderDate": c.dt("OrderDate")[positions],
                "Currency": _o(c.text("Currency")[positions]),
                "Expected": col(expected),
                "Actual": col(actual),
                "Difference": col(difference),
                "Amount": c.obj("Subtotal")[positions],
                "Evidence": col(evidence),
                "SourceFile": self._source_files()[positions] if "SourceFile" in self.lines.columns else None,
                "SourceRow": self.lines["SourceRow"].to_numpy()[positions]
                if "SourceRow" in self.lines.columns
                else positions + 1,
                "_pos": positions,
            }
        )
        self.parts.append(part)

    def _source_files(self) -> np.ndarray:
        if self._sources is None:
            self._sources = np.asarray(self.lines["SourceFile"].astype(object).to_numpy(), dtype=object)
        return self._sources

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            frame = pd.DataFrame(rows)
            frame["_pos"] = -1
            self.parts.append(frame)

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in VARIANCE_COLUMNS})
            empty["OrderDate"] = pd.Series(dtype="datetime64[ns, UTC]")
            empty["SourceRow"] = pd.Series(dtype="Int64")
            empty["_pos"] = pd.Series(dtype=np.int64)
            return empty
        frame = pd.concat(self.parts, ignore_index=True)
        for column in VARIANCE_COLUMNS:
            if column not in frame.columns:
                frame[column] = None
        for column in ("CustomerId", "CustomerName", "SubscriptionId", "InvoiceNumber", "ChargeType", "ProductId",
                       "SkuId", "Currency"):  # fmt: skip
            frame[column] = frame[column].replace("", None)
        order = {c: i for i, c in enumerate(CATEGORIES)}
        frame["_order"] = frame["Category"].map(order)
        frame["SourceRow"] = pd.to_numeric(frame["SourceRow"], errors="coerce").astype("Int64")
        frame = frame.sort_values(["_order", "SourceFile", "SourceRow"], kind="stable", na_position="last")
        frame = frame.drop(columns="_order").reset_index(drop=True)
        frame["OrderDate"] = _to_utc(frame["OrderDate"])
        for column in ("Expected", "Actual", "Difference", "Amount"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        return frame[[*VARIANCE_COLUMNS, "_pos"]]


_TERM_TEXT = (("one-month", "P1M"), ("1 month", "P1M"), ("one-year", "P1Y"), ("1 year", "P1Y"),
              ("three-year", "P3Y"), ("3 year", "P3Y"))  # fmt: skip


def _term_from_text(text: str) -> str:
    folded = text.lower()
    for needle, term in _TERM_TEXT:
        if needle in folded:
            return term
    return ""


class _Vocabulary:
    """Small-integer codes for a handful of labels (0 is "none"), so per-line work stays in int arrays."""

    def __init__(self, *labels: str) -> None:
        self.labels: list[str | None] = [None, *labels]
        self.index: dict[str, int] = {label: i for i, label in enumerate(labels, start=1)}

    def code(self, label: Any) -> int:
        if label is None or label != label or label == "":
            return 0
        if label not in self.index:
            self.index[label] = len(self.labels)
            self.labels.append(label)
        return self.index[label]

    def codes_of(self, values: np.ndarray) -> np.ndarray:
        """Codes of an object array's values (decided once per distinct value)."""
        codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        return np.append(np.array([self.code(u) for u in uniques], dtype=np.int64), 0)[codes]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.array(self.labels, dtype=object)[codes]


def _derive_terms(
    cols: _Columns, subs: pd.DataFrame | None, where: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TermDuration (P1M/P1Y/P3Y) and BillingPlan (Monthly/Annual/Triennial) per line (§4.7, §2.2).

    ``where``: each line's row in ``subs`` (-1 when not there). Returns ``(term, plan, term_codes, plan_codes)``:
    object arrays (None when unknown) and their small-integer codes (0 when unknown).
    """
    n = len(cols.lines)
    terms = _Vocabulary("P1M", "P1Y", "P3Y")
    plans = _Vocabulary("Monthly", "Annual", "Triennial")
    term = np.zeros(n, dtype=np.int64)
    plan = np.zeros(n, dtype=np.int64)
    if subs is not None and len(subs):
        sub_term = np.append(terms.codes_of(subs["term_duration"].to_numpy(dtype=object)), 0)
        cycles = subs["billing_cycle"].to_numpy(dtype=object)
        sub_plan = np.append(plans.codes_of(np.where(cycles == "None", None, cycles)), 0)
        term = sub_term[where]
        plan = sub_plan[where]
    start, end = cols.dt("SubscriptionStartDate"), cols.dt("SubscriptionEndDate")
    span = (end - start).astype("timedelta64[D]").astype(np.int64) + 1
    known = ~(np.isnat(end) | np.isnat(start))
    from_span = np.select(
        [known & (span >= 27) & (span <= 32), known & (span >= 360) & (span <= 367),
         known & (span >= 1090) & (span <= 1100)],
        [terms.code("P1M"), terms.code("P1Y"), terms.code("P3Y")],
        default=0,
    )  # fmt: skip
    from_text = cols.map_text("TermAndBillingCycle", lambda t: terms.code(_term_from_text(t))).astype(np.int64)
    term = np.where(term == 0, np.where(from_span != 0, from_span, from_text), term)
    codes, values = cols._encoded("BillingFrequency")
    frequency = np.append(np.array([plans.code(v) for v in values], dtype=np.int64), 0)[codes]
    plan = np.where(frequency != 0, frequency, plan)
    default_plan = np.array([0, plans.code("Monthly"), plans.code("Annual"), plans.code("Triennial")], dtype=np.int64)
    plan = np.where(plan == 0, default_plan[np.where(term <= 3, term, 0)], plan)
    return terms.decode(term), plans.decode(plan), term, plan


def reconcile(
    lines: pd.DataFrame,
    *,
    subscriptions: Any = None,
    price_list: pd.DataFrame | None = None,
    invoices: Any = None,
    period: Any = None,
    history: pd.DataFrame | None = None,
    tolerance: Tolerance | None = None,
    engine: str = "memory",
    spark_master: str | None = None,
) -> ReconciliationResult:
    """Reconcile new-commerce invoice reconciliation lines for one billing period.

    Args:
        lines: frame from :func:`~cspkit.billing.recon_readers.read_recon` (kind ``invoice``) or
            :func:`~cspkit.billing.recon_readers.recon_lines_to_frame`; money columns as Arrow decimals
            (:data:`~cspkit.billing.recon_readers.MONEY`) or Decimal objects. ``result.lines`` keeps their dtypes;
            Expected/Actual/Difference of the variances are Decimals without the padding zeros.
        subscriptions: optional frame/records of subscriptions (see :func:`normalize_subscriptions`); enables the
            seat, cancellation, missing-charge and unknown-subscription checks and improves term/plan detection.
        price_list: optional frame in the :func:`cspkit.billing.pricelist.read_price_list` shape; enables the
            unit-price check.
        invoices: optional invoice totals (``{currency: total}``, Invoice models/records or a frame) for the
            tie-out; without them the tie-out shows the line sums only.
        period: the billing period: any date in the month (``"2026-03"``, a Timestamp); default: the month holding
            most OrderDates.
        history: optional earlier lines (same shape), used only to find the charges that refunds refer to.
        tolerance: :class:`Tolerance` (defaults: 0.01 × BillableQuantity per line, exact unit prices, 0.01 tie-out).
        engine: ``memory`` (default) or ``duckdb``: every variance category and total is then decided by the
            relational checks (:mod:`cspkit.billing.engine`) run by DuckDB, without the in-memory engine; the results
            are the same (tests compare every frame); ``spark``: the same relational checks run by Spark
            (:mod:`cspkit.billing.engine.spark`, the ``spark`` extra) on ``spark_master`` (default ``local[2]``;
            e.g. ``spark://host:7077``), the session stopped afterwards.
    Returns:
        :class:`ReconciliationResult`.
    Raises:
        ValueError: ``lines`` lacks the documented columns (use the readers).
        ConfigurationError: ``engine="spark"`` without pyspark or (local mode) Java.
    Memory: makes jemalloc Arrow's default pool unless ``ARROW_DEFAULT_MEMORY_POOL`` is set
    (:func:`cspkit.billing.memory.use_reuse_friendly_pool`); runs two helper threads for the duration of the call.
    """
    if engine not in ("memory", "duckdb", "spark"):
        raise ValueError(f"unknown engine {engine!r}: expected memory, duckdb or spark")
    required = ["CustomerId", "SubscriptionId", "ChargeType", "Subtotal", "Currency", "EffectiveUnitPrice"]
    missing = [c for c in required if c not in lines.columns]
    if missing:
        raise ValueError(
            f"lines lack the reconciliation columns {missing}: read them with cspkit.billing.recon_readers"
        )
    use_reuse_friendly_pool()
    lines = lines.reset_index(drop=True)
    cols = _Columns(lines)
    if engine == "spark":
        from cspkit.billing.engine.spark import spark_session
        from cspkit.billing.engine.variances import connect

        with spark_session(spark_master) as session:
            return _reconcile_relational(lines, cols, subscriptions, price_list, invoices, period, history,
                                         tolerance or Tolerance(), con=connect("spark", session=session))  # fmt: skip
    if engine == "duckdb":
        return _reconcile_relational(lines, cols, subscriptions, price_list, invoices, period, history,
                                     tolerance or Tolerance())  # fmt: skip
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cspkit-reconcile") as pool:
        # the subscriptions and the text columns' encodings are prepared side by side with the first checks
        pending_subs = pool.submit(normalize_subscriptions, subscriptions) if subscriptions is not None else None
        cols.prefetch(pool, _PREFETCH)
        return _reconcile(lines, cols, pending_subs, subscriptions is not None, price_list, invoices, period, history,
                          tolerance)  # fmt: skip


_PREFETCH = [  # in the order the engine needs them
    "ProductQualifiers", "ChargeType", "MeterDescription", "UnitType", "SubscriptionId", "BillingFrequency",
    "PricingCurrency", "Currency", "TermAndBillingCycle", "ProductId", "SkuId", "PriceAdjustmentDescription",
    "PromotionId", "CustomerId", "InvoiceNumber", "CustomerName",
]  # fmt: skip


def _reconcile(
    lines: pd.DataFrame,
    cols: _Columns,
    pending_subs: Future[pd.DataFrame] | None,
    has_subscriptions: bool,
    price_list: pd.DataFrame | None,
    invoices: Any,
    period: Any,
    history: pd.DataFrame | None,
    tolerance: Tolerance | None,
) -> ReconciliationResult:
    n = len(lines)
    tol = tolerance or Tolerance()
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def mark(step: str) -> None:
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + now - clock[0]
        clock[0] = now

    order_date = cols.dt("OrderDate")
    period_start, period_end = _billing_period(period, order_date)

    # the numeric views first: the text columns are being encoded in the background meanwhile
    eup = cols.obj("EffectiveUnitPrice")
    eup_f, up_f, bq_f = cols.f("EffectiveUnitPrice"), cols.f("UnitPrice"), cols.f("BillableQuantity")
    fx_f = cols.f("PCToBCExchangeRate", exact=True)  # the most common rate is shown as the expected one
    tax_obj, total_obj = cols.obj("TaxTotal"), cols.obj("Total")
    sub_na, total_na = cols.na("Subtotal"), cols.na("Total")
    sub_m, tax_m, total_raw_m = cols.micros("Subtotal"), cols.micros("TaxTotal"), cols.micros("Total")
    sub_f = np.where(sub_na, np.nan, sub_m / _SCALE)
    is_trial = cols.map_text("ProductQualifiers", lambda t: "trial" in t.lower()).astype(bool)
    charge = cols.text("ChargeType")
    is_credit = charge == "customerCredit"
    is_usage = (cols.text("MeterDescription") != "") | (cols.text("UnitType") != "")
    has_sub = cols.present("SubscriptionId")
    negative = np.where(np.isnan(eup_f), sub_f < 0, eup_f < 0) | (sub_f < 0)
    positive = ~negative & ~is_credit
    findings = _Findings(lines, cols)
    mark("prepare lines")
    subs = pending_subs.result() if pending_subs is not None else None
    mark("prepare subscriptions (wait)")
    if subs is not None:
        sub_where, sub_where_distinct = cols.rows_in("SubscriptionId", subs["subscription_id"].to_numpy(dtype=object))
    else:
        sub_where, sub_where_distinct = np.full(n, -1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    term, plan, term_code, plan_code = _derive_terms(cols, subs, sub_where)
    unit_price = cols.obj("UnitPrice")

    mark("prepare")
    # --- unit price vs price list in force on OrderDate -------------------------------------------------------
    if price_list is not None and n:
        from cspkit.billing.pricelist import lookup_price_rows

        check = ~is_credit & ~is_trial & ~is_usage & ~np.isnan(up_f) & ~np.isnat(order_date)
        check &= (term_code > 0) & (plan_code > 0)
        idx = np.flatnonzero(check)
        pricing = cols.text("PricingCurrency")
        has_pricing = pricing != ""
        currency = np.where(has_pricing, pricing, cols.text("Currency"))
        # the same currency may get two codes (pricing or billing): only more queries, each carrying its text
        currency_code = np.where(has_pricing, cols.codes("PricingCurrency"),
                                 len(cols._encoded("PricingCurrency")[1]) + 1 + cols.codes("Currency"))  # fmt: skip
        # one query per distinct (product, SKU, term, plan, currency, order date): far fewer than lines
        day = order_date[idx]
        price_key = _combine([cols.codes("ProductId")[idx], cols.codes("SkuId")[idx], term_code[idx], plan_code[idx],
                              currency_code[idx]])  # fmt: skip
        key = _combine([price_key, _date_codes(day)])
        distinct, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        rep = idx[first]
        queries = pd.DataFrame(
            {
                "ProductId": _o(cols.text("ProductId")[rep]),
                "SkuId": _o(cols.text("SkuId")[rep]),
                "TermDuration": _o(term[rep]),
                "BillingPlan": _o(plan[rep]),
                "Currency": _o(currency[rep]),
                "On": pd.DatetimeIndex(order_date[rep]).tz_localize("UTC"),
            }
        )
        inverse = inverse.reshape(-1)
        price_obj = np.asarray(price_list["UnitPrice"].to_numpy(dtype=object), dtype=object)
        # each checked line's row in the price list
        line_rows = lookup_price_rows(price_list, queries, key_codes=price_key[first])[inverse]
        found = np.append(pd.notna(price_obj), False)[line_rows]
        nf = idx[~found]
        findings.add_lines(
            "price_not_found",
            nf,
            actual=unit_price[nf],
            evidence=[
                f"no price-list row for {cols.text('ProductId')[i]}:{cols.text('SkuId')[i]} {term[i]}/{plan[i]} "
                f"{currency[i]} on {_day(order_date[i])}"
                for i in nf
            ],
        )
        hit, hit_rows = idx[found], line_rows[found]
        # term price ÷ billing periods: the periods are decided once per distinct (term, plan) code pair
        periods = _periods_per_line(term, plan, term_code, plan_code, hit)
        senseless = hit[periods == 0]
        findings.add_lines(
            "price_not_found",
            senseless,
            actual=unit_price[senseless],
            evidence=[
                f"{term[i]} billed {str(plan[i]).lower()} makes no billing period (billing_periods); "
                "the unit price was not checked"
                for i in senseless
            ],
        )
        hit, hit_rows, periods = hit[periods > 0], hit_rows[periods > 0], periods[periods > 0]
        # one expected price per distinct (price row, periods): the exact quotient and its half-up cent rounding
        pairs, pair_first, pair_of = np.unique(_combine([hit_rows, periods]), return_index=True, return_inverse=True)
        pair_of = pair_of.reshape(-1)
        term_prices = price_obj[hit_rows[pair_first]]
        pair_periods = periods[pair_first]
        pair_lines = hit[pair_first]
        quotients: dict[int, tuple[Decimal, Decimal]] = {}

        def expected(j: int) -> tuple[Decimal, Decimal]:
            """Pair j's exact quotient (:func:`~cspkit.billing.pricing.period_price`) and its half-up cent rounding;
            made only for the pairs a finding needs."""
            if j not in quotients:
                i = pair_lines[j]
                exact = period_price(term_prices[j], term[i], plan[i])
                quotients[j] = (exact, exact.quantize(CENT, rounding=ROUND_HALF_UP))
            return quotients[j]

        micro = _micro_quotients(term_prices, pair_periods)  # vectorised, exact in int64 micro-units
        if micro is None or not (tol.unit_price or isinstance(unit_price, _LazyDecimals)):
            # exact Decimal comparison, line by line (user frames of Decimal objects, prices beyond micro-units)
            exact_q = np.array([expected(j)[0] for j in range(len(pairs))] + [None], dtype=object)[:-1]
            cent_q = np.array([expected(j)[1] for j in range(len(pairs))] + [None], dtype=object)[:-1]
            if tol.unit_price:
                up_hit = up_f[hit]
                gap = np.minimum(np.abs(up_hit - _floats(exact_q)[pair_of]), np.abs(up_hit - _floats(cent_q)[pair_of]))
                screen = ~(gap <= float(tol.unit_price) - _MARGIN)
            else:
                up_hit = unit_price[hit]
                screen = np.not_equal(up_hit, exact_q[pair_of]) & np.not_equal(up_hit, cent_q[pair_of])
        else:
            exact_m, exact_ok, cent_m, exact_f = micro
            if tol.unit_price:  # float screen; every candidate is confirmed in Decimal below
                up_hit = up_f[hit]
                gap = np.minimum(np.abs(up_hit - exact_f[pair_of]), np.abs(up_hit - (cent_m / _SCALE)[pair_of]))
                screen = ~(gap <= float(tol.unit_price) - _MARGIN)
            else:
                # exact: the line in micro-units against the cent rounding and (when it ends there) the exact quotient;
                # a line with digits beyond micro-units is always confirmed in Decimal
                up_m = cols.micros("UnitPrice")[hit]
                screen = (up_m != cent_m[pair_of]) & ~(exact_ok[pair_of] & (up_m == exact_m[pair_of]))
                taken = pc.take(unit_price.arr, pa.array(hit, type=pa.int64()))
                beyond = pc.not_equal(taken.cast(pa.decimal128(38, 6), safe=False).cast(taken.type), taken)
                screen |= pc.fill_null(beyond, True).to_numpy(zero_copy_only=False)
        cand, cand_pair = hit[screen], pair_of[screen]
        cand_price = unit_price[cand]
        gaps = [None if v is None else min(abs(v - expected(j)[0]), abs(v - expected(j)[1]))
                for v, j in zip(cand_price, cand_pair, strict=True)]  # fmt: skip
        bad = np.array([g is None or g > tol.unit_price for g in gaps], dtype=bool)
        rows, bad_pair = cand[bad], cand_pair[bad]
        # the expected figure shown: the exact quotient when it ends within a micro-unit, else its cent rounding
        exp_bad = np.array([e if e == e.quantize(_MICRO) else c for e, c in (expected(j) for j in bad_pair)] + [None],
                           dtype=object)[:-1]  # fmt: skip
        promo = cols.text("PromotionId")[rows]
        findings.add_lines(
            "unit_price_mismatch",
            rows,
            expected=exp_bad,
            actual=cand_price[bad],
            difference=[None if v is None else v - e for v, e in zip(cand_price[bad], exp_bad, strict=True)],
            severity=np.where(promo != "", "info", "error"),
            evidence=[
                f"price list {term[i]}/{plan[i]} {currency[i]} on {_day(order_date[i])}: "
                + _division(term_prices[j], int(pair_periods[j]), *expected(j))
                + f"; line: {v}"
                + (f"; promotion {p}" if p else "")
                for i, j, v, p in zip(rows, bad_pair, cand_price[bad], promo, strict=True)
            ],
        )

    mark("unit prices")
    # --- proration (§2.4) ----------------------------------------------------------------------------------------
    discounted = cols.map_text(
        "PriceAdjustmentDescription", lambda t: any(k in t.lower() for k in ("%", "discount", "credit"))
    ).astype(bool)
    seat_line = cols.isin("ChargeType", _SEAT_CHARGES) & ~is_trial & ~is_usage
    start_d, end_d = cols.dt("ChargeStartDate"), cols.dt("ChargeEndDate")
    prorate = seat_line & ~discounted & (cols.text("PromotionId") == "") & ~np.isnan(up_f) & ~np.isnan(eup_f)
    prorate &= ~np.isnat(start_d) & ~np.isnat(end_d)
    if prorate.any():
        idx = np.flatnonzero(prorate)
        end_excl = end_d[idx].astype("datetime64[D]") + np.timedelta64(1, "D")
        billed_days = (end_excl - start_d[idx].astype("datetime64[D]")).astype(np.int64)
        freq = plan[idx]
        cycle_start = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
        end_month = end_excl.astype("datetime64[M]")
        end_offset = end_excl - end_month.astype("datetime64[D]")  # day-of-month − 1
        for value, months in (("Monthly", 1), ("Annual", 12), ("Triennial", 36)):
            mask = freq == value
            if mask.any():
                start_month = (end_month[mask] - np.timedelta64(months, "M")).astype("datetime64[D]")
                month_len = ((end_month[mask] - np.timedelta64(months, "M") + np.timedelta64(1, "M"))
                             .astype("datetime64[D]") - start_month)  # fmt: skip
                offset = np.minimum(end_offset[mask], month_len - np.timedelta64(1, "D"))
                cycle_start[mask] = start_month + offset
        prepaid = (cols.text("BillingFrequency")[idx] == "") & ~np.isnat(cols.dt("SubscriptionStartDate")[idx])
        cycle_start[prepaid] = cols.dt("SubscriptionStartDate")[idx][prepaid].astype("datetime64[D]")
        valid = ~np.isnat(cycle_start)
        cycle_days = np.where(valid, (end_excl - cycle_start).astype("timedelta64[D]").astype(np.int64), 0)
        ok = valid & (cycle_days > 0) & (billed_days > 0)
        idx, cycle_days, billed_days = idx[ok], cycle_days[ok], billed_days[ok]
        exp_f = up_f[idx] / cycle_days * billed_days
        candidates = np.abs(np.abs(eup_f[idx]) - exp_f) > float(tol.per_unit) - _MARGIN
        cand = idx[candidates]
        if len(cand):
            cd, bd = cycle_days[candidates], billed_days[candidates]
            expected = [unit_price[i] / int(c) * int(b) for i, c, b in zip(cand, cd, bd, strict=True)]
            actual = [abs(eup[i]) for i in cand]
            diffs = [a - e for a, e in zip(actual, expected, strict=True)]
            bad = np.array([abs(d) > tol.per_unit for d in diffs], dtype=bool)
            q = Decimal("0.000001")
            findings.add_lines(
                "proration_mismatch",
                cand[bad],
                expected=[e.quantize(q) for e, b in zip(expected, bad, strict=True) if b],
                actual=[a for a, b in zip(actual, bad, strict=True) if b],
                difference=[d.quantize(q) for d, b in zip(diffs, bad, strict=True) if b],
                evidence=[
                    f"{unit_price[i]} / {c} cycle days × {d} billed days = {e.quantize(q)}; |EffectiveUnitPrice| = {a}"
                    for i, c, d, e, a, b in zip(cand, cd, bd, expected, actual, bad, strict=True)
                    if b
                ],
            )

    mark("proration")
    # --- amounts: Subtotal formula and Total = Subtotal + TaxTotal ---------------------------------------------
    subtotal, bq, fx = cols.obj("Subtotal"), cols.obj("BillableQuantity"), cols.obj("PCToBCExchangeRate")
    amount_check = ~np.isnan(eup_f) & ~np.isnan(bq_f) & ~np.isnan(sub_f)
    fx_use = np.where(np.isnan(fx_f), 1.0, fx_f)
    tol_line = np.maximum(float(tol.per_unit) * np.abs(bq_f), float(tol.line_minimum))
    with np.errstate(invalid="ignore"):
        screen = amount_check & (np.abs(sub_f - eup_f * fx_use * bq_f) > tol_line - _MARGIN)
    rows_bad, exp_list, act_list, diff_list, ev = [], [], [], [], []
    for i in np.flatnonzero(screen):
        rate = fx[i] if fx[i] is not None else Decimal(1)
        exact = eup[i] * rate * bq[i]
        allowed = max(tol.per_unit * abs(bq[i]), tol.line_minimum)
        diff = subtotal[i] - exact
        if abs(diff) > allowed:
            rows_bad.append(i)
            exp_list.append(exact.quantize(_CENT))
            act_list.append(subtotal[i])
            diff_list.append(diff.quantize(_CENT))
            ev.append(f"{eup[i]} × rate {rate} × {bq[i]} units = {exact}; Subtotal {subtotal[i]}; allowed ±{allowed}")
    findings.add_lines(
        "amount_mismatch", rows_bad, expected=exp_list, actual=act_list, difference=diff_list, evidence=ev
    )
    tax, total = tax_obj, total_obj
    screen = ~total_na & ~sub_na & (total_raw_m != sub_m + tax_m)
    bad_rows = [i for i in np.flatnonzero(screen) if total[i] != subtotal[i] + (tax[i] or Decimal(0))]
    findings.add_lines(
        "amount_mismatch",
        bad_rows,
        expected=[subtotal[i] + (tax[i] or Decimal(0)) for i in bad_rows],
        actual=[total[i] for i in bad_rows],
        difference=[total[i] - subtotal[i] - (tax[i] or Decimal(0)) for i in bad_rows],
        evidence=[f"Total {total[i]} ≠ Subtotal {subtotal[i]} + TaxTotal {tax[i] or 0}" for i in bad_rows],
    )

    mark("amounts")
    # --- duplicates -----------------------------------------------------------------------------------------------
    source_row = lines["SourceRow"].to_numpy() if "SourceRow" in lines.columns else np.arange(1, n + 1)
    if n:
        # same subscription and charge period first (cheap); only lines sharing one can be exact duplicates
        cycle_key = _combine([cols.codes("SubscriptionId"), _date_codes(start_d), _date_codes(end_d)])
        shared = np.bincount(cycle_key)[cycle_key] > 1
        dup_exact = np.zeros(n, dtype=bool)
        first_exact = np.zeros(n, dtype=np.int64)
        if shared.any():
            sel = np.flatnonzero(shared)
            parts = [cycle_key[sel], cols.codes("ChargeType")[sel], _date_codes(order_date[sel])]
            parts += [_subset_codes(lines[c], sel) for c in ("ReferenceId", "OrderId")]
            parts += [_decimal_codes(cols.decimals_at(c, sel)) for c in ("BillableQuantity", "EffectiveUnitPrice")]
            parts.append(pd.factorize(np.where(sub_na[sel], np.iinfo(np.int64).min, sub_m[sel]))[0])
            exact_key = _combine(parts)
            first_sel = sel[_first_positions(exact_key)[exact_key]]
            dup_exact[sel] = first_sel != sel
            first_exact[sel] = source_row[first_sel]
        recurring = cols.isin("ChargeType", _RECURRING) & positive & ~is_trial & has_sub
        dup_cycle = np.zeros(n, dtype=bool)
        first_cycle = np.zeros(n, dtype=np.int64)
        if recurring.any():
            rec = np.flatnonzero(recurring)
            rec_key = cycle_key[rec]
            first_rec = rec[_first_positions(rec_key)[rec_key]]
            dup_cycle[rec] = first_rec != rec
            first_cycle[rec] = source_row[first_rec]
        dup = np.flatnonzero(dup_exact | dup_cycle)
        findings.add_lines(
            "duplicate_charge",
            dup,
            actual=subtotal[dup],
            evidence=[
                f"same {'charge' if dup_exact[p] else 'charge period'} as row "
                f"{first_exact[p] if dup_exact[p] else first_cycle[p]} "
                f"({charge[p]} {_day(start_d[p])}–{_day(end_d[p])})"
                for p in dup
            ],
        )

    mark("duplicates")
    # --- refunds without a matching charge -------------------------------------------------------------------
    refund = negative & ~is_credit & has_sub
    if refund.any():
        pools = [(lines, cols)]
        if history is not None and len(history):
            pools.append((history, _Columns(history.reset_index(drop=True))))
        charge_parts = []
        line_codes, line_values = cols._encoded("SubscriptionId")
        for frame_i, (_frame, pc_cols) in enumerate(pools):
            f_eup, f_sub = pc_cols.f("EffectiveUnitPrice"), pc_cols.f("Subtotal")
            f_pos = ~(np.where(np.isnan(f_eup), f_sub < 0, f_eup < 0) | (f_sub < 0))
            f_pos &= pc_cols.text("ChargeType") != "customerCredit"
            if frame_i == 0:
                f_codes = line_codes
            else:  # history: the same code space as the lines (-2: a subscription the lines do not have)
                h_codes, h_values = pc_cols._encoded("SubscriptionId")
                mapped = pd.Index(line_values, dtype=object).get_indexer(pd.Index(h_values, dtype=object))
                f_codes = np.append(np.where(mapped < 0, -2, mapped), -2)[h_codes]
            charge_parts.append(
                pd.DataFrame(
                    {
                        "sub": f_codes[f_pos],
                        "c_start": pc_cols.dt("ChargeStartDate")[f_pos],
                        "c_end": pc_cols.dt("ChargeEndDate")[f_pos],
                        "c_bq": pc_cols.f("BillableQuantity")[f_pos],
                    }
                )
            )
        charge_frame = pd.concat(charge_parts, ignore_index=True)
        ridx = np.flatnonzero(refund)
        refunds = pd.DataFrame(
            {"pos": ridx, "sub": line_codes[ridx], "r_start": start_d[ridx], "r_end": end_d[ridx], "r_bq": bq_f[ridx]}
        )
        pairs = refunds.merge(charge_frame, on="sub", how="inner", sort=False)
        covered = (
            (pairs["c_start"] <= pairs["r_start"])
            & (pairs["c_end"] >= pairs["r_end"])
            & (pairs["c_bq"] >= pairs["r_bq"])
        ) | pairs["r_start"].isna()
        matched = np.zeros(n, dtype=bool)
        matched[pairs.loc[covered, "pos"].to_numpy(dtype=np.int64)] = True
        unmatched = ridx[~matched[ridx]]
        findings.add_lines(
            "refund_without_charge",
            unmatched,
            actual=subtotal[unmatched],
            evidence=[
                f"no charge of ≥ {bq_f[p]:g} units covering {_day(start_d[p])}–{_day(end_d[p])} "
                "for this subscription in the lines (or history) given"
                for p in unmatched
            ],
        )

    mark("refunds")
    # --- currency and exchange rates ----------------------------------------------------------------------------
    billing_ccy = cols.text("Currency")
    pricing_ccy = cols.text("PricingCurrency")
    with np.errstate(invalid="ignore"):
        same_ccy_bad = (pricing_ccy != "") & (pricing_ccy == billing_ccy) & ~np.isnan(fx_f) & (np.abs(fx_f - 1) > 1e-12)
        missing_fx = (pricing_ccy != "") & (np.isnan(fx_f) | (fx_f <= 0)) & ~is_credit
    bad_idx = np.flatnonzero(same_ccy_bad | missing_fx)
    findings.add_lines(
        "currency_mismatch",
        bad_idx,
        expected=[Decimal(1) if same_ccy_bad[i] else None for i in bad_idx],
        actual=fx[bad_idx],
        evidence=[
            f"PCToBCExchangeRate is {fx[i]!s} for {pricing_ccy[i]}→{billing_ccy[i]}"
            if missing_fx[i]
            else f"PricingCurrency and Currency are both {billing_ccy[i]} but PCToBCExchangeRate is {fx[i]}"
            for i in bad_idx
        ],
    )
    # one rate per currency pair and rate date (the most common one is taken as right)
    rate_ok = ~np.isnan(fx_f) & (pricing_ccy != "") & (pricing_ccy != billing_ccy)
    if rate_ok.any():
        rate_date = cols.dt("PCToBCExchangeRateDate").astype("datetime64[D]")
        fallback = order_date.astype("datetime64[M]").astype("datetime64[D]")
        rate_date = np.where(np.isnat(rate_date), fallback, rate_date)
        ok = np.flatnonzero(rate_ok)
        rates = pd.DataFrame(
            {"pair": _o(pricing_ccy[ok] + ">" + billing_ccy[ok]), "date": rate_date[ok], "fx": fx_f[ok], "pos": ok}
        )
        counts = rates.groupby(["pair", "date", "fx"], dropna=False).size().rename("n").reset_index()
        mode = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates(["pair", "date"])
        rates = rates.merge(mode[["pair", "date", "fx"]].rename(columns={"fx": "mode"}), on=["pair", "date"])
        off = rates[np.abs(rates["fx"] - rates["mode"]) > float(tol.exchange_rate)]
        pos = off["pos"].to_numpy(dtype=np.int64)
        modes = [Decimal(repr(m)) for m in off["mode"]]
        findings.add_lines(
            "currency_mismatch",
            pos,
            expected=modes,
            actual=fx[pos],
            evidence=[
                f"{p} rate {fx[i]} differs from {m} on the other lines with rate date {_day(d)}"
                for p, d, m, i in zip(off["pair"], off["date"].to_numpy(), modes, pos, strict=True)
            ],
        )
    # a customer billed in several currencies on one invoice
    pair = _combine([cols.codes("InvoiceNumber"), cols.codes("CustomerId")])
    triple = _combine([pair, cols.codes("Currency")])
    first_of_triple = _first_positions(triple)
    currencies = np.bincount(pair[first_of_triple])
    multi = np.flatnonzero(currencies > 1)
    if len(multi):
        first_of_pair = _first_positions(pair)
        in_multi = np.isin(pair[first_of_triple], multi)
        by_pair: dict[int, list[str]] = {}
        for p, c in zip(pair[first_of_triple][in_multi], cols.labels("Currency", first_of_triple[in_multi]),
                        strict=True):  # fmt: skip
            by_pair.setdefault(int(p), []).append(c or "")
        rows = []
        for p in multi:
            first = int(first_of_pair[p])
            ccys = sorted(by_pair[int(p)])
            rows.append(
                {
                    "Category": "currency_mismatch", "Severity": "error",
                    "CustomerId": cols.labels("CustomerId", first) or "",
                    "CustomerName": cols.labels("CustomerName", first) or "",
                    "InvoiceNumber": cols.labels("InvoiceNumber", first),
                    "Currency": ", ".join(ccys), "Evidence": f"customer billed in {', '.join(ccys)} on one invoice",
                    "SourceFile": str(lines["SourceFile"].iloc[first]) if "SourceFile" in lines.columns else None,
                    "SourceRow": int(source_row[first]),
                }
            )  # fmt: skip
        findings.add_rows(rows)

    mark("currency")
    # --- subscriptions: seats, cancelled, missing, unknown ------------------------------------------------------
    seats_by_code, last_by_code = _billed_seats(cols, positive, is_credit, is_usage)
    if subs is not None:
        where = sub_where
        stray = (where < 0) & has_sub
        if stray.any():
            stray_codes = cols.codes("SubscriptionId")
            first_of = pd.Series(np.flatnonzero(stray)).groupby(stray_codes[stray]).first().to_numpy()
            counts = pd.Series(stray_codes[stray]).value_counts()
            stray_ids = cols.labels("SubscriptionId", first_of)
            findings.add_lines(
                "unknown_subscription",
                first_of,
                evidence=[
                    f"{counts[stray_codes[p]]} line(s) for subscription {stray_ids[j]}, which is not among the "
                    "subscriptions given"
                    for j, p in enumerate(first_of)
                ],
            )
        # seats: per subscription with seat lines, against live subscriptions' quantity
        quantity = subs["quantity"].to_numpy(dtype=object)
        status = subs["status"].to_numpy(dtype=object)
        live = ~np.isin(status, list(_CANCELLED)) & pd.notna(quantity)
        has_seats = last_by_code >= 0
        row = np.where(has_seats, sub_where_distinct, -1)
        check = (row >= 0) & np.append(live, False)[row]
        codes_checked = np.flatnonzero(check)
        billed, wanted = seats_by_code[codes_checked], quantity[row[codes_checked]]
        differs = np.not_equal(billed, wanted)
        codes_bad = codes_checked[differs]
        positions = last_by_code[codes_bad]
        findings.add_lines(
            "seat_mismatch",
            positions,
            expected=wanted[differs],
            actual=billed[differs],
            difference=[b - w for b, w in zip(billed[differs], wanted[differs], strict=True)],
            evidence=[
                f"billed {b} seat(s) (row {source_row[p]}); subscription quantity {w}"
                for b, p, w in zip(billed[differs], positions, wanted[differs], strict=True)
            ],
        )
        cancelled = subs["status"].isin(_CANCELLED).to_numpy() & subs["cancelled_at"].notna().to_numpy()
        if cancelled.any():
            cancel_day = np.full(len(subs), np.datetime64("NaT"), dtype="datetime64[D]")
            cancel_day[cancelled] = _naive(subs["cancelled_at"])[cancelled].astype("datetime64[D]")
            when = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
            known = where >= 0
            when[known] = cancel_day[where[known]]
            after = positive & ~is_trial & ~np.isnat(when)
            after &= (order_date.astype("datetime64[D]") > when) | (start_d.astype("datetime64[D]") > when)
            pos = np.flatnonzero(after)
            findings.add_lines(
                "charge_after_cancellation",
                pos,
                actual=subtotal[pos],
                evidence=[
                    f"subscription cancelled on {_day(when[p])}; {charge[p]} line ordered {_day(order_date[p])} "
                    f"for {_day(start_d[p])}–{_day(end_d[p])}"
                    for p in pos
                ],
            )
        if period_start is not None:
            charged = np.zeros(len(subs), dtype=bool)
            charged[sub_where_distinct[sub_where_distinct >= 0]] = True
            missing_rows = _missing_charges(subs, charged, period_start, period_end, price_list)
            if missing_rows:
                ids, names = cols.text("CustomerId"), cols.text("CustomerName")
                keep = (ids != "") & (names != "")
                known_names = dict(zip(ids[keep].tolist(), names[keep].tolist(), strict=True))
                for row in missing_rows:
                    row["CustomerName"] = known_names.get(row["CustomerId"])
            findings.add_rows(missing_rows)
    mark("subscriptions")
    variances = findings.frame()

    mark("variances frame")
    # --- totals -------------------------------------------------------------------------------------------------
    # the checks' per-line arrays are not needed any more: free them first (the totals are where memory peaks)
    cols.release("float", "dt", "obj", "na", "text")
    del eup_f, up_f, bq_f, fx_f, sub_f, order_date, start_d, end_d, eup, unit_price, subtotal, bq, fx, tax, total
    del tax_obj, total_obj
    total_m = np.where(total_na, sub_m + tax_m, total_raw_m)
    money = {
        "sub_m": sub_m,
        "tax_m": tax_m,
        "total_m": total_m,
        "charges_m": np.where(sub_m > 0, sub_m, 0),
        "refunds_m": np.where(sub_m < 0, sub_m, 0),
    }
    code = {name: cols.codes(name) for name in ("InvoiceNumber", "CustomerId", "SubscriptionId", "Currency",
                                                "ChargeType")}  # fmt: skip
    var_pos = variances["_pos"].to_numpy(dtype=np.int64)
    var_pos = var_pos[var_pos >= 0]
    line_codes = cols.codes("SubscriptionId")
    per_line: dict[str, tuple[np.ndarray, np.ndarray]] = {"BilledSeats": (np.append(seats_by_code, None), line_codes)}
    for name, column in (("SubscriptionQuantity", "quantity"), ("SubscriptionStatus", "status")):
        table = np.append(subs[column].to_numpy(dtype=object), None) if subs is not None else np.array([None])
        per_line[name] = (table, sub_where)

    def label(name: str, positions: np.ndarray) -> np.ndarray:
        if name in per_line:
            table, index = per_line[name]
            return table[index[positions]]
        return cols.labels(name, positions)

    def group(keys: list[str], sums: dict[str, str], **options: Any) -> pd.DataFrame:
        return _group(code, label, money, keys, sums, rank=cols.ranks, **options)

    tieout, charge_types, customers, subscriptions_out = _memory_totals(group, variances, var_pos, invoices, tol)
    return _result(lines, variances, (period_start, period_end), (tieout, charge_types, customers, subscriptions_out),
                   price_list is None, has_subscriptions, timings, mark)  # fmt: skip


def _result(
    lines: pd.DataFrame, variances: pd.DataFrame, period: tuple[Any, Any], totals: tuple[pd.DataFrame, ...],
    no_prices: bool, has_subscriptions: bool, timings: dict[str, float], mark: Any,
) -> ReconciliationResult:
    """The result frames from the variances (with ``_pos``) and the totals (tie-out, charge types, customers,
    subscriptions): counts per category, the lines labelled with their categories, the notes."""
    n = len(lines)
    period_start, period_end = period
    tieout, charge_types, customers, subscriptions_out = totals
    customers = customers[
        ["CustomerId", "CustomerName", "Currency", "Subscriptions", "Lines", "Charges", "Refunds", "Subtotal",
         "TaxTotal", "Total", "Variances"]
    ]  # fmt: skip
    subscriptions_out = subscriptions_out[
        ["CustomerId", "CustomerName", "SubscriptionId", "ProductId", "SkuId", "SkuName", "Currency", "Lines",
         "BilledSeats", "SubscriptionQuantity", "SubscriptionStatus", "Subtotal", "Total", "Variances"]
    ]  # fmt: skip
    notes: list[str] = []
    counts = variances.groupby("Category").size()
    variance_counts = pd.DataFrame(
        {
            "Category": list(CATEGORIES),
            "Severity": [CATEGORIES[c][0] for c in CATEGORIES],
            "Count": [int(counts.get(c, 0)) for c in CATEGORIES],
            "Meaning": [CATEGORIES[c][1] for c in CATEGORIES],
        }
    )
    var_by_line = variances[variances["_pos"] >= 0]
    column = np.full(n, None, dtype=object)
    if len(var_by_line):
        per_line = var_by_line.groupby("_pos")["Category"].agg(lambda s: ", ".join(dict.fromkeys(s)))
        column[per_line.index.to_numpy(dtype=np.int64)] = per_line.to_numpy(dtype=object)
    annotated = lines.assign(
        Variances=pa.array(column, type=pa.string()).to_pandas(types_mapper={pa.string(): STRING}.get)
    )
    mark("totals")
    if no_prices:
        notes.append("no price list given: unit prices were not checked")
    if not has_subscriptions:
        notes.append("no subscriptions given: seats, cancellations and missing charges were not checked")
    return ReconciliationResult(
        period_start=period_start,
        period_end=period_end,
        tieout=tieout,
        customers=customers.reset_index(drop=True),
        subscriptions=subscriptions_out.reset_index(drop=True),
        charge_types=charge_types.reset_index(drop=True),
        variances=variances.drop(columns="_pos"),
        variance_counts=variance_counts,
        lines=annotated,
        notes=notes,
        timings=timings,
    )


def _memory_totals(
    group: Any, variances: pd.DataFrame, var_pos: np.ndarray, invoices: Any, tol: Tolerance
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tie-out, charge types, customers and subscriptions of the in-memory engine (``group``: :func:`_group` over
    the lines' codes and micro-unit sums)."""
    tieout = _tieout(
        group(["InvoiceNumber", "Currency"], {"sub_m": "Subtotal", "tax_m": "TaxTotal", "total_m": "Total"}),
        normalize_invoices(invoices),
        tol,
    )
    charge_types = group(["Currency", "ChargeType"], {"sub_m": "Subtotal", "total_m": "Total"})
    customers = group(
        ["CustomerId", "Currency"],
        {"charges_m": "Charges", "refunds_m": "Refunds", "sub_m": "Subtotal", "tax_m": "TaxTotal", "total_m": "Total"},
        first=["CustomerName"], nunique={"Subscriptions": "SubscriptionId"}, variances=var_pos,
    )  # fmt: skip
    unplaced = variances[variances["_pos"] < 0]["CustomerId"].dropna().value_counts()
    if len(unplaced):
        customers["Variances"] = customers["Variances"].to_numpy() + _lookup(
            customers["CustomerId"], unplaced, 0
        ).astype(np.int64)
    subscriptions_out = group(
        ["SubscriptionId", "Currency"], {"sub_m": "Subtotal", "total_m": "Total"},
        first=["CustomerId", "CustomerName", "BilledSeats", "SubscriptionQuantity", "SubscriptionStatus"],
        last=["ProductId", "SkuId", "SkuName"], variances=var_pos,
        sort=["CustomerName", "CustomerId", "SubscriptionId", "Currency"],
    )  # fmt: skip
    return tieout, charge_types, customers, subscriptions_out


def _reconcile_relational(
    lines: pd.DataFrame, cols: _Columns, subscriptions: Any, price_list: pd.DataFrame | None, invoices: Any,
    period: Any, history: pd.DataFrame | None, tol: Tolerance, con: Any = None,
) -> ReconciliationResult:
    """:func:`reconcile` on the relational engine: every variance category
    (:data:`cspkit.billing.engine.variances.DONE`) and total (:mod:`cspkit.billing.engine.totals`) decided by Ibis
    expressions run by DuckDB (or ``con``: Spark) on the lines' facts, stored once in the connection."""
    from cspkit.billing.engine.totals import result_totals
    from cspkit.billing.engine.variances import connect, line_variances, prepare

    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def mark(step: str) -> None:
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + now - clock[0]
        clock[0] = now

    subs = normalize_subscriptions(subscriptions) if subscriptions is not None else None
    period_start, period_end = _billing_period(period, cols.dt("OrderDate"))
    con = con or connect("duckdb")
    tables = prepare(con, lines, subs, history)
    mark("prepare tables")
    found = line_variances(con, lines, subs, history, tol, price_list=price_list, period=(period_start, period_end),
                           tables=tables)  # fmt: skip
    mark("relational checks")
    findings = _Findings(lines, cols)
    source_row = lines["SourceRow"].to_numpy() if "SourceRow" in lines.columns else np.arange(1, len(lines) + 1)
    on_lines = [(c, p, fields) for c, p, fields in found if p >= 0]
    for category in dict.fromkeys(c for c, _, _ in on_lines):  # one part per category, rows in their order
        rows = [(p, fields) for c, p, fields in on_lines if c == category]
        findings.add_lines(category, [p for p, _ in rows], **{
            name: [fields.get(key) for _, fields in rows] for name, key in (
                ("expected", "Expected"), ("actual", "Actual"), ("difference", "Difference"),
                ("evidence", "Evidence"))})  # fmt: skip
        if any("Severity" in fields for _, fields in rows):
            findings.parts[-1]["Severity"] = [fields.get("Severity") or CATEGORIES[category][0] for _, fields in rows]
    for category, pos, fields in found:
        if pos >= 0:
            continue
        if "at" not in fields:  # a row of its own (missing_charge)
            findings.parts.append(pd.DataFrame([{**fields, "_pos": -1}]))
        else:  # a row shown at a line (a customer billed in several currencies)
            at = int(fields.pop("at"))
            source = str(lines["SourceFile"].iloc[at]) if "SourceFile" in lines.columns else None
            name = cols.labels("CustomerName", at) or ""
            findings.parts.append(pd.DataFrame([{"Category": category, **fields, "CustomerName": name,
                                                 "SourceFile": source, "SourceRow": int(source_row[at]),
                                                 "_pos": -1}]))  # fmt: skip
    variances = findings.frame()
    mark("variances frame")
    if len(lines):
        frames = result_totals(con, tables[0], subs, variances)
        tieout = _tieout(frames["tieout"], normalize_invoices(invoices), tol)
        totals = (tieout, frames["charge_types"].drop(columns="_first"), frames["customers"], frames["subscriptions"])
    else:
        totals = _empty_totals(variances, invoices, tol)
    return _result(lines, variances, (period_start, period_end), totals, price_list is None,
                   subscriptions is not None, timings, mark)  # fmt: skip


def _empty_totals(variances: pd.DataFrame, invoices: Any, tol: Tolerance) -> tuple[pd.DataFrame, ...]:
    """The totals frames of no lines (the in-memory engine's empty groups)."""
    empty = np.zeros(0, dtype=np.int64)
    money = {m: empty for m in ("sub_m", "tax_m", "total_m", "charges_m", "refunds_m")}

    def group(keys: list[str], sums: dict[str, str], **options: Any) -> pd.DataFrame:
        return _group({}, None, money, keys, sums, rank=None, **options)

    return _memory_totals(group, variances, empty, invoices, tol)

def _periods_per_line(
    term: np.ndarray, plan: np.ndarray, term_code: np.ndarray, plan_code: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Billing periods of each line in ``rows`` (:func:`cspkit.billing.pricing.billing_periods` of its TermDuration and
    BillingPlan), decided once per distinct (term, plan) code pair; 0 where the pair makes no billing period (P1M
    billed annually, an unknown plan word)."""
    pair = term_code[rows] * np.int64(1 << 20) + plan_code[rows]
    distinct, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    table = np.zeros(len(distinct), dtype=np.int64)
    for j, i in enumerate(rows[first]):
        try:
            table[j] = billing_periods(term[i], plan[i])
        except ValueError:
            table[j] = 0
    return table[inverse.reshape(-1)]


def _micro_quotients(
    term_prices: np.ndarray, periods: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Term price ÷ billing periods in exact int64 micro-units, vectorised: ``(exact, exact_ends, cent, as_float)``.

    ``exact`` is the quotient truncated to micro-units and ``exact_ends`` whether that is the whole quotient; ``cent``
    is the quotient rounded half-up to the cent (:func:`~cspkit.billing.pricing.period_price_matches`'s rule), in
    micro-units; ``as_float`` the quotient in float64 (for screening). None when a price is negative, has digits
    beyond micro-units or does not fit (the caller then divides Decimals).
    """
    money = _as_money(term_prices)
    if money is None or money.null_count:
        return None
    try:
        scaled = money.cast(pa.decimal128(38, 6))  # safe: raises when digits would be lost
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    words = np.frombuffer(scaled.buffers()[1], dtype=np.int64)[2 * scaled.offset : 2 * (scaled.offset + len(scaled))]
    low, high = words[0::2], words[1::2]
    if len(low) and (bool((high != 0).any()) or bool((low < 0).any()) or int(low.max()) >= 2**62 // 10_000):
        return None
    k = periods.astype(np.int64)
    exact, rest = np.divmod(low, k)
    cent = (low + k * 5_000) // (k * 10_000) * 10_000  # half-up, prices being non-negative
    return exact, rest == 0, cent, low / k / _SCALE


def _combine(parts: list[np.ndarray]) -> np.ndarray:
    """Combine several int code arrays into one int64 code per distinct tuple (no overflow)."""
    code = np.zeros(len(parts[0]), dtype=np.int64)
    top = 0  # largest value code can hold so far
    for part in parts:
        part = np.asarray(part, dtype=np.int64) + 1
        width = int(part.max(initial=0)) + 1
        if (top + 1) * width >= 2**62:  # re-compact before the product could overflow
            code = pd.factorize(code)[0].astype(np.int64)
            top = int(code.max(initial=0))
        code = code * width + part
        top = top * width + width - 1
    return pd.factorize(code)[0].astype(np.int64)


def _subset_codes(series: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Codes of a text column's values at ``rows`` (-1 for NA), without encoding the whole column."""
    taken = pc.take(_arrow(series), pa.array(rows, type=pa.int64()))
    encoded = (taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken).dictionary_encode()
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _date_codes(values: np.ndarray) -> np.ndarray:
    """datetime64[ns] → int64 codes, equal dates equal codes (-1 for NaT): day numbers when every value is midnight
    (no hashing), else factorized."""
    ns = values.view(np.int64)
    valid = ~np.isnat(values)
    day = np.int64(86_400_000_000_000)
    if not valid.any():
        return np.full(len(values), -1, dtype=np.int64)
    if bool(np.all(ns[valid] % day == 0)):
        days = ns // day
        return np.where(valid, days - days[valid].min(), -1)
    return pd.factorize(values)[0].astype(np.int64)


def _first_positions(key: np.ndarray) -> np.ndarray:
    """For non-negative int codes, the position of each code's first occurrence (indexed by code; entries of codes
    that do not occur are undefined)."""
    first = np.empty(int(key.max(initial=-1)) + 1, dtype=np.int64)
    first[key[::-1]] = np.arange(len(key) - 1, -1, -1)  # earlier positions overwrite later ones
    return first


def _billed_seats(
    cols: _Columns, positive: np.ndarray, is_credit: np.ndarray, is_usage: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Billed seats per subscription (indexed by SubscriptionId code): the last positive seat line's
    BillableQuantity (ordered by OrderDate, ChargeStartDate, file order), 0 after a final ``cancelImmediate``.

    Returns ``(seats, last_position)`` per code; ``last_position`` is the subscription's last seat line (-1: none).
    """
    codes, distinct = cols._encoded("SubscriptionId")
    groups = len(distinct)
    seats = np.full(groups, None, dtype=object)
    last_position = np.full(groups, -1, dtype=np.int64)
    use = cols.isin("ChargeType", _SEAT_CHARGES) & ~is_credit & ~is_usage & (codes >= 0)
    if not use.any():
        return seats, last_position
    idx = np.flatnonzero(use)
    date, start = cols.dt("OrderDate")[idx], cols.dt("ChargeStartDate")[idx]
    order = np.lexsort((idx, start, date, codes[idx]))  # by code, then date, start, file order
    ordered = idx[order]
    ordered_codes = codes[ordered]
    is_last = np.ones(len(ordered), dtype=bool)
    is_last[:-1] = ordered_codes[:-1] != ordered_codes[1:]
    last_position[ordered_codes[is_last]] = ordered[is_last]
    pos_lines = ordered[positive[ordered]]
    pos_codes = codes[pos_lines]
    is_last_pos = np.ones(len(pos_lines), dtype=bool)
    is_last_pos[:-1] = pos_codes[:-1] != pos_codes[1:]
    last_positive = np.full(groups, -1, dtype=np.int64)
    last_positive[pos_codes[is_last_pos]] = pos_lines[is_last_pos]
    bq = cols.obj("BillableQuantity")
    has = last_position >= 0
    seats[has] = Decimal(0)
    with_positive = last_positive >= 0
    seats[with_positive] = bq[last_positive[with_positive]]
    seats[with_positive & pd.isna(seats)] = Decimal(0)
    # a trailing cancelImmediate refund (on or after the last positive line's date) leaves no seats
    all_dates = cols.dt("OrderDate")
    last = last_position[has]
    cancel_last = cols.isin("ChargeType", {"cancelImmediate"})[last] & ~positive[last]
    lp = last_positive[has]
    later = np.where(lp >= 0, all_dates[last] >= all_dates[np.maximum(lp, 0)], True)
    zero = np.flatnonzero(has)[cancel_last & later]
    seats[zero] = Decimal(0)
    return seats, last_position


def _missing_charges(
    subs: pd.DataFrame,
    charged: np.ndarray,
    period_start: pd.Timestamp,
    period_end: pd.Timestamp,
    price_list: pd.DataFrame | None,
) -> list[dict[str, Any]]:
    begin = subs["effective_start"].where(subs["effective_start"].notna(), subs["created"])
    after_end = period_end + pd.Timedelta(days=1)
    plan = subs["billing_cycle"].fillna("Monthly")
    began_in_period = (begin >= period_start) & (begin <= after_end)
    due = (plan == "Monthly") | began_in_period | ((plan == "Annual") & (begin.dt.month == period_start.month))
    candidate = (
        (subs["status"] == "active").to_numpy(dtype=bool)
        & ~charged
        & ~subs["is_trial"].to_numpy(dtype=bool)
        & ~(begin > after_end) & due
    )  # fmt: skip
    todo = subs[candidate.to_numpy(dtype=bool)]
    if not len(todo):
        return []
    todo_plan = plan[candidate.to_numpy(dtype=bool)].to_numpy(dtype=object)
    return _missing_charge_rows(todo, todo_plan, period_start, price_list)


def _money_from_micros(values: np.ndarray) -> pd.arrays.ArrowExtensionArray:
    """int64 micro-units → an exact Arrow decimal column without making Python objects: ``decimal128(38, 2)`` when
    every value is whole cents (cells like ``Decimal('12.34')``), else ``decimal128(38, 6)``."""
    values = np.asarray(values, dtype=np.int64)
    scale = 2 if bool(np.all(values % 10_000 == 0)) else 6
    unscaled = values // 10_000 if scale == 2 else values
    words = np.empty(2 * len(unscaled), dtype=np.int64)
    words[0::2] = unscaled
    words[1::2] = unscaled >> 63  # two's complement sign extension to 128 bits
    arr = pa.Array.from_buffers(pa.decimal128(38, scale), len(unscaled), [None, pa.py_buffer(words)])
    return pd.arrays.ArrowExtensionArray(arr)


Labels = Any  # label(name, positions) -> object array of the column's value at those line positions (None: blank)


def _group(
    code: dict[str, np.ndarray],
    label: Labels,
    money: dict[str, np.ndarray],
    keys: list[str],
    sums: dict[str, str],
    *,
    rank: Labels,
    first: list[str] | None = None,
    last: list[str] | None = None,
    nunique: dict[str, str] | None = None,
    variances: np.ndarray | None = None,
    sort: list[str] | None = None,
) -> pd.DataFrame:
    """Group the lines by the text columns ``keys`` (through their integer codes) and sum micro-unit columns exactly.

    Returns one row per group: the key labels, ``Lines``, the Decimal sums named by ``sums``, the first/last line's
    value of ``first``/``last`` columns, distinct counts (``nunique``: output name → column) and, when
    ``variances`` (line positions of findings) is given, ``Variances``. Sorted by ``sort`` (default ``keys``) in
    text order with blanks last: ``rank(name, positions)`` gives each line's sort rank for a column.
    """
    n = len(next(iter(money.values())))
    out_columns = keys + ["Lines", *sums.values(), *(first or []), *(last or []), *(nunique or {})]
    if variances is not None:
        out_columns.append("Variances")
    if n == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in out_columns})
    key = _combine([code[k] for k in keys])  # 0..groups-1 in order of first appearance
    groups = int(key.max()) + 1
    positions = np.arange(n)
    first_pos = np.empty(groups, dtype=np.int64)
    first_pos[key[::-1]] = positions[::-1]  # earlier positions overwrite later ones
    last_pos = np.empty(groups, dtype=np.int64)
    last_pos[key] = positions  # later positions overwrite earlier ones
    order = np.lexsort([rank(c, first_pos) for c in reversed(sort or keys)])  # groups in output order
    first_at, last_at = first_pos[order], last_pos[order]
    out = pd.DataFrame({k: _o(label(k, first_at)) for k in keys})
    out["Lines"] = np.bincount(key, minlength=groups).astype(np.int64)[order]
    totals = pd.DataFrame({c: money[c] for c in sums}).groupby(key, sort=True).sum()
    for column, name in sums.items():
        out[name] = _money_from_micros(totals[column].to_numpy()[order])
    for column in first or []:
        out[column] = _o(label(column, first_at))
    for column in last or []:
        out[column] = _o(label(column, last_at))
    for name, column in (nunique or {}).items():
        values = code[column]
        pair = pd.unique(key[values >= 0] * (int(values.max(initial=0)) + 1) + values[values >= 0])
        out[name] = np.bincount(pair // (int(values.max(initial=0)) + 1), minlength=groups).astype(np.int64)[order]
    if variances is not None:
        out["Variances"] = np.bincount(key[variances], minlength=groups).astype(np.int64)[order]
    return out[out_columns]


def _tieout(sums: pd.DataFrame, invoices: pd.DataFrame, tol: Tolerance) -> pd.DataFrame:
    totals: list[Any] = [None] * len(sums)
    if len(invoices):
        by_id = invoices[invoices["InvoiceNumber"].notna()]
        generic = invoices[invoices["InvoiceNumber"].isna()]
        for i, (number, currency) in enumerate(zip(sums["InvoiceNumber"], sums["Currency"], strict=True)):
            match = by_id[
                (by_id["InvoiceNumber"] == number) & (by_id["Currency"].isna() | (by_id["Currency"] == currency))
            ]
            if not len(match):
                match = generic[generic["Currency"] == currency]
            if len(match):
                totals[i] = match["InvoiceTotal"].iloc[0]
    sums = sums.copy()
    sums["InvoiceTotal"] = _o(totals)
    diff = [None if t is None else s - t for s, t in zip(sums["Total"], totals, strict=True)]
    sums["Difference"] = _o(diff)
    sums["Status"] = _o(["no invoice total" if d is None else ("ties" if abs(d) <= tol.tieout else "differs")
                         for d in diff])  # fmt: skip
    return sums[["InvoiceNumber", "Currency", "Lines", "Subtotal", "TaxTotal", "Total", "InvoiceTotal", "Difference",
                 "Status"]]  # fmt: skip
