"""Microsoft's price figures beside price-list rows, and the row that sets each price: the base of the analyses.

Price semantics: Microsoft's rule, defined once in :mod:`cspkit.billing.pricing` (sources there: Microsoft Learn
"New commerce license-based pricing and offers", the real November 2025 US price list, the invoice reconciliation
samples): ``UnitPrice`` is one seat for the whole term, billed in ``billing_periods(term, plan)`` equal periods.
Free-trial rows (``IsFreeTrial``) are never prices. Used by :mod:`cspkit.billing.pricelist_diff`,
:mod:`cspkit.billing.pricelist_plans` and :mod:`cspkit.billing.pricelist_margins`; all importable from
:mod:`cspkit.billing.pricelist_analysis`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.pricelist import KEY_COLUMNS
from cspkit.billing.pricing import CENT, billing_periods, monthly_equivalent, period_price

__all__ = [
    "FIGURE_COLUMNS",
    "FOUR_PLACES",
    "cents",
    "current_prices",
    "figures_of",
    "paid_rows",
    "price_figures",
    "utc_timestamp",
]

#: Four decimal places, the precision of ``MonthlyEquivalent``.
FOUR_PLACES = Decimal("0.0001")
#: The price figures :func:`price_figures` adds, in order.
FIGURE_COLUMNS = ("TermPrice", "BillingPeriods", "PeriodPrice", "MonthlyEquivalent")


def cents(value: Decimal | None) -> Decimal | None:
    """``value`` rounded half-up to the cent (0.01); None stays None."""
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def paid_rows(price_list: pd.DataFrame) -> pd.DataFrame:
    """The rows that are prices: free trials (``IsFreeTrial``) left out."""
    if "IsFreeTrial" in price_list.columns:
        return price_list[~price_list["IsFreeTrial"].astype(bool)]
    return price_list


def utc_timestamp(on: Any) -> pd.Timestamp:
    """A date or time (text, datetime, Timestamp) as a UTC Timestamp; naive = UTC."""
    stamp = pd.Timestamp(on)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def figures_of(term_price: Any, term: Any, plan: Any) -> tuple[int | None, Decimal | None, Decimal | None]:
    """(billing periods, period price to the cent, monthly equivalent to 4 places) of one price; Nones when the
    term or plan does not follow the rule (e.g. a P1D trial) or the price is missing."""
    try:
        periods = billing_periods(str(term), None if plan is None else str(plan))
    except ValueError:
        return None, None, None
    if term_price is None or (not isinstance(term_price, Decimal) and pd.isna(term_price)):
        return periods, None, None
    price = Decimal(term_price)
    return (periods, cents(period_price(price, str(term), plan)),
            monthly_equivalent(price, str(term)).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP))  # fmt: skip


def price_figures(price_list: pd.DataFrame) -> pd.DataFrame:
    """The price list with Microsoft's price figures next to each row (:data:`FIGURE_COLUMNS`).

    Args:
        price_list: a price-list frame (``UnitPrice``, ``TermDuration``, ``BillingPlan``).

    Returns:
        A copy with added columns ``TermPrice`` (= UnitPrice: one seat, whole term), ``BillingPeriods`` (int, or
        None for a term the rule does not cover), ``PeriodPrice`` (TermPrice ÷ BillingPeriods, half-up to 0.01) and
        ``MonthlyEquivalent`` (TermPrice ÷ months in the term, half-up to 0.0001), Decimal in the row's currency.
        Source: :mod:`cspkit.billing.pricing` (Microsoft Learn "New commerce license-based pricing and offers").
    """
    frame = price_list.copy()
    cache: dict[tuple[Any, Any, Any], tuple[int | None, Decimal | None, Decimal | None]] = {}
    periods, per_period, monthly = [], [], []
    for price, term, plan in zip(frame["UnitPrice"], frame["TermDuration"], frame["BillingPlan"], strict=True):
        key = (price, term, plan)
        if key not in cache:
            cache[key] = figures_of(price, term, plan)
        n, p, m = cache[key]
        periods.append(n)
        per_period.append(p)
        monthly.append(m)
    frame["TermPrice"] = pd.Series(frame["UnitPrice"].to_numpy(dtype=object), index=frame.index, dtype=object)
    frame["BillingPeriods"] = pd.Series(periods, index=frame.index, dtype=object)
    frame["PeriodPrice"] = pd.Series(per_period, index=frame.index, dtype=object)
    frame["MonthlyEquivalent"] = pd.Series(monthly, index=frame.index, dtype=object)
    return frame


def current_prices(price_list: pd.DataFrame, *, on: Any = None) -> pd.DataFrame:
    """One row per price key (ProductId, SkuId, TermDuration, BillingPlan, Currency): the row that sets the price.

    Args:
        price_list: a price-list frame.
        on: a date (naive = UTC). Given: the row in force on it (start <= on <= end or open end; overlapping
            ranges: the latest start wins; same start: the later row). None: the newest row of each key, i.e.
            the price the file announces last (what a month's file "says" the price is).

    Returns:
        The chosen rows (all columns of ``price_list``), free trials excluded, index reset, sorted by key.
    """
    rows = paid_rows(price_list).assign(_order=np.arange(len(paid_rows(price_list))))
    if on is not None:
        moment = utc_timestamp(on)
        end = rows["EffectiveEndDate"]
        rows = rows[(rows["EffectiveStartDate"] <= moment) & (end.isna() | (end >= moment))]
    rows = rows.sort_values(["EffectiveStartDate", "_order"], kind="stable")
    rows = rows.drop_duplicates(list(KEY_COLUMNS), keep="last")
    return rows.drop(columns="_order").sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)

