"""Rules and vector helpers both reconciliation engines share (the in-memory engine in :mod:`cspkit.billing.reconcile`
and the relational one in :mod:`cspkit.billing.engine`), so that neither imports the other.

* :data:`CATEGORIES`: the variance categories, their severity and meaning (billing-formats.md §4).
* :func:`division_evidence`: the unit-price rule's evidence text, ``60.48 ÷ 12 billing periods = 5.04``
  (:mod:`cspkit.billing.pricing`).
* :func:`missing_charge_rows`: the missing_charge finding for active subscriptions without a line in the period.
* :func:`to_utc`, :func:`distinct`, :func:`arrow_text`: text and date columns converted once per distinct value.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.pricing import CENT, billing_periods, period_price
from cspkit.billing.recon_readers import STRING, _trim

__all__ = [
    "CATEGORIES",
    "MICRO",
    "arrow",
    "arrow_text",
    "distinct",
    "division_evidence",
    "is_arrow_text",
    "missing_charge_rows",
    "tidy_price",
    "to_utc",
]

#: Variance categories, their severity and what they mean (the Summary sheet lists them in this order).
CATEGORIES: dict[str, tuple[str, str]] = {
    "unit_price_mismatch": ("error", "UnitPrice differs from the term price in force on OrderDate ÷ billing periods"),
    "price_not_found": ("warning", "no price-list row in force on OrderDate for this product/SKU/term/plan/currency"),
    "proration_mismatch": ("error", "EffectiveUnitPrice does not follow UnitPrice / cycle days × billed days"),
    "amount_mismatch": ("error", "Subtotal/Total do not follow the documented formula within tolerance"),
    "seat_mismatch": ("error", "billed seats differ from the subscription's quantity"),
    "charge_after_cancellation": ("error", "a cancelled subscription was charged after its cancellation"),
    "missing_charge": ("warning", "an active subscription has no charge in the period"),
    "duplicate_charge": ("error", "the same charge appears more than once"),
    "refund_without_charge": ("warning", "a refund has no matching charge in the lines given"),
    "currency_mismatch": ("error", "currency or exchange-rate inconsistency"),
    "unknown_subscription": ("warning", "recon lines for a subscription that is not in the subscriptions given"),
}

MICRO = Decimal("0.000001")

def is_arrow_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype) and getattr(series.dtype, "storage", "") == "pyarrow"


def arrow(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A text column as Arrow strings (zero-copy for the readers' columns)."""
    if is_arrow_text(series):
        return pa.array(series.array)
    values = series.astype(object).where(series.notna(), None).tolist()
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def arrow_text(series: pd.Series, transform: Any = None) -> pa.Array:
    """Text column → Arrow strings, trimmed, ``transform``-ed, blanks as nulls (ASCII kernels when ASCII)."""
    arr = arrow(series if is_arrow_text(series) else series.astype(STRING))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    arr = _trim(arr)
    if transform is not None:
        arr = transform(arr)
    empty = pc.equal(pc.binary_length(arr), 0)
    if pc.any(empty).as_py():
        arr = pc.if_else(empty, pa.scalar(None, pa.large_string()), arr)
    return arr


def distinct(series: pd.Series, transform: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Text column (trimmed, ``transform``-ed, blanks as NA) → (codes with ``len(uniques)`` for NA, uniques)."""
    encoded = arrow_text(series, transform).dictionary_encode()
    uniques = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    codes = pc.fill_null(encoded.indices, len(uniques)).to_numpy(zero_copy_only=False)
    return codes, uniques


def to_utc(series: pd.Series) -> pd.Series:
    """Datetimes, ISO 8601 text or anything pandas parses → ``datetime64[ns, UTC]`` (NaT when blank or unparseable);
    text is parsed once per distinct value."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    if len(series) and not isinstance(series.dtype, pd.StringDtype):
        kinds = {type(v) for v in series.dropna().head(1000)}
        if kinds and not kinds <= {str}:  # datetimes, Timestamps or numbers: let pandas convert them as they are
            values = series.astype(object).where(series.notna(), None)
            series = pd.Series([None if v is None else (v if isinstance(v, str) else str(v)) for v in values],
                               dtype=object)  # fmt: skip
    codes, uniques = distinct(series)
    texts = pd.Series(uniques, dtype=object)
    try:
        parsed = pd.to_datetime(texts, utc=True, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):  # pragma: no cover - mixed exotic inputs
        parsed = pd.to_datetime(texts, utc=True, errors="coerce", format="mixed")
    table = np.append(parsed.astype("datetime64[ns, UTC]").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]"),
                      np.datetime64("NaT", "ns"))  # fmt: skip
    return pd.Series(pd.DatetimeIndex(table[codes]).tz_localize("UTC"), index=series.index)


def tidy_price(value: Decimal) -> Decimal:
    """A price without padding zeros but with at least 2 places (``60.480000`` → ``60.48``, ``16`` → ``16.00``)."""
    value = value.normalize()
    return value.quantize(CENT) if value.as_tuple().exponent > -2 else value


def division_evidence(term_price: Decimal, periods: int, exact: Decimal, cent: Decimal) -> str:
    """Evidence of the unit-price rule: ``60.48 ÷ 12 billing periods = 5.04`` (``= 94.276667 (94.28 to the cent)``
    when the quotient does not end at the cent)."""
    unit = "billing period" if periods == 1 else "billing periods"
    shown = tidy_price(exact.quantize(MICRO, rounding=ROUND_HALF_UP))
    text = f"{tidy_price(Decimal(term_price))} ÷ {periods} {unit} = {shown}"
    return text if exact == cent else f"{text} ({cent} to the cent)"


def missing_charge_rows(
    todo: pd.DataFrame, todo_plan: np.ndarray, period_start: pd.Timestamp, price_list: pd.DataFrame | None
) -> list[dict[str, Any]]:
    """missing_charge rows for the subscriptions ``todo`` (normalised, billed by ``todo_plan``): the price list's term
    price in force at the period's start ÷ the billing periods of the term × quantity as the expected charge
    (billing-formats.md §4, :mod:`cspkit.billing.pricing`)."""
    todo = todo.assign(**{c: todo[c].astype(object).where(todo[c].notna(), None) for c in todo.columns
                          if isinstance(todo[c].dtype, pd.CategoricalDtype)})  # categorical texts: str or None
    prices = np.full(len(todo), None, dtype=object)
    if price_list is not None:
        from cspkit.billing.pricelist import lookup_prices

        queries = pd.DataFrame(
            {
                "ProductId": todo["product_id"].fillna("").to_numpy(dtype=object),
                "SkuId": todo["sku_id"].fillna("").to_numpy(dtype=object),
                "TermDuration": todo["term_duration"].fillna("").to_numpy(dtype=object),
                "BillingPlan": todo_plan,
                "Currency": todo["currency"].fillna("USD").to_numpy(dtype=object),
                "On": pd.DatetimeIndex([period_start] * len(todo)),
            }
        )
        prices = lookup_prices(price_list, queries).to_numpy(dtype=object)
    rows = []
    for sub, p, price in zip(todo.itertuples(index=False), todo_plan, prices, strict=True):
        evidence = f"{p.lower()} billing, status active, quantity {sub.quantity}, no recon line in the period"
        expected = None
        if price is not None and sub.quantity is not None:
            try:  # the price list's term price ÷ the billing periods of the term (one period is due)
                periods = billing_periods(sub.term_duration, p)
            except (TypeError, ValueError):
                periods = 0
            if periods:
                each = price
                if periods > 1:
                    each = period_price(price, sub.term_duration, p).quantize(CENT, rounding=ROUND_HALF_UP)
                expected = each * sub.quantity
                per = f"{price} ÷ {periods} = {each}" if periods > 1 else f"{price}"
                evidence += f"; expected about {per} × {sub.quantity} = {expected}"
        rows.append(
            {
                "Category": "missing_charge", "Severity": CATEGORIES["missing_charge"][0],
                "CustomerId": sub.customer_id, "SubscriptionId": sub.subscription_id, "ProductId": sub.product_id,
                "SkuId": sub.sku_id, "Currency": sub.currency, "Expected": expected, "Evidence": evidence,
            }
        )  # fmt: skip
    return rows
