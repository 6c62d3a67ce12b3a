"""The price in force: which price-list row sets a product's price on a date, one query or many at once.

Rule (Partner Center "Get a price sheet" / billing-formats.md §1.5: each row carries ``EffectiveStartDate`` and
``EffectiveEndDate``, an open end ``9999-11-30`` meaning "until further notice"): a row is in force when
``EffectiveStartDate <= on <= EffectiveEndDate`` (NaT end = open); when ranges overlap the latest start wins (same
start: the later row of the file); free-trial rows never count; for tiered SKUs the lowest tier's price is used. The
price is the list's ``UnitPrice`` (one seat, whole term: :mod:`cspkit.billing.pricing`). Takes frames from
:func:`cspkit.billing.pricelist.read_price_list`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.pricelist_values import factorize, normalize_billing_plan, repair_sku_id

__all__ = ["lookup_price_rows", "lookup_prices", "price_in_force"]


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
    "SkuId": lambda value: repair_sku_id(str(value)),
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
        left_codes, left_uniques = factorize(left[column])
        right_codes, right_uniques = factorize(right[column])
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
        price_list: a frame from :func:`~cspkit.billing.pricelist.read_price_list` (at least the key columns, UnitPrice,
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
