"""Terms and billing plans compared: the cheapest option per SKU, annual vs monthly billing, publishers side by side.

Price semantics: Microsoft's rule, defined once in :mod:`cspkit.billing.pricing` (sources there: Microsoft Learn
"New commerce license-based pricing and offers", the real November 2025 US price list, the invoice reconciliation
samples): ``UnitPrice`` is one seat for the whole term, billed in ``billing_periods(term, plan)`` equal periods.
Options are compared by monthly equivalent (term price ÷ months in the term); the real November 2025 US list shows
the premiums: P1Y billed monthly 5 % over P1Y paid up front, twelve P1M months 20 % over it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from typing import Any

import pandas as pd

from cspkit.billing.pricelist_figures import (
    FIGURE_COLUMNS,
    FOUR_PLACES,
    cents,
    current_prices,
    price_figures,
)
from cspkit.billing.pricing import PLAN_MONTHS, months_in, period_price

__all__ = ["PLAN_COMPARISON_COLUMNS", "cheapest_terms", "compare_billing_plans", "publisher_summary"]


def cheapest_terms(price_list: pd.DataFrame, *, on: Any = None) -> pd.DataFrame:
    """The cheapest term and billing plan for each SKU, compared by monthly equivalent (term price ÷ months).

    Args:
        price_list: a price-list frame; reduced with :func:`current_prices` (``on``).

    Returns:
        One row per (ProductId, SkuId, Currency): ``ProductId, SkuId, Currency, ProductTitle, SkuTitle,
        Publisher, Segment, TermDuration, BillingPlan`` (the cheapest), its ``TermPrice``, ``BillingPeriods``,
        ``PeriodPrice`` and ``MonthlyEquivalent`` (see :func:`price_figures`), ``MostExpensiveMonthlyEquivalent``
        (the dearest option, same unit), ``SavingPercent`` (cheapest vs dearest monthly equivalent, 0.01),
        ``Options`` (how many term/plan rows were compared). Ties keep the shorter term, then the shorter billing
        period. E.g. Microsoft 365 Business Basic: P1Y/Annual (4.80 a month) beats P1Y/Monthly (5.04) and P1M
        (5.76), a saving of 16.67 %.
    """
    out_columns = ["ProductId", "SkuId", "Currency", "ProductTitle", "SkuTitle", "Publisher", "Segment",
                   "TermDuration", "BillingPlan", *FIGURE_COLUMNS, "MostExpensiveMonthlyEquivalent", "SavingPercent",
                   "Options"]  # fmt: skip
    rows = price_figures(current_prices(price_list, on=on))
    if "Segment" not in rows:
        rows["Segment"] = None
    rows = rows[rows["MonthlyEquivalent"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=out_columns)
    rows = rows.assign(
        _months=rows["TermDuration"].map(months_in),
        _period=rows["BillingPlan"].map(lambda p: PLAN_MONTHS.get(p, 0)),
        _sort=rows["MonthlyEquivalent"].map(float),
    )
    group = ["ProductId", "SkuId", "Currency"]
    ordered = rows.sort_values([*group, "_sort", "_months", "_period"], kind="stable")
    best = ordered.drop_duplicates(group, keep="first").set_index(group)
    worst = ordered.drop_duplicates(group, keep="last").set_index(group)["MonthlyEquivalent"]
    counts = rows.groupby(group).size()
    out = best[[c for c in out_columns[3:9]] + list(FIGURE_COLUMNS)].copy()
    out["MostExpensiveMonthlyEquivalent"] = worst.reindex(out.index).to_numpy()
    out["SavingPercent"] = [
        None if hi == 0 else cents((hi - lo) / hi * 100)
        for lo, hi in zip(out["MonthlyEquivalent"], out["MostExpensiveMonthlyEquivalent"], strict=True)
    ]
    out["Options"] = counts.reindex(out.index).to_numpy()
    return out.reset_index()[out_columns]


#: Columns of :func:`compare_billing_plans`, in order.
PLAN_COMPARISON_COLUMNS = (
    "ProductId", "SkuId", "Currency", "ProductTitle", "SkuTitle", "Publisher", "Segment",
    "P1YAnnualTermPrice", "P1YAnnualMonthlyEquivalent", "P1YMonthlyTermPrice", "P1YMonthlyPeriodPrice",
    "P1MPeriodPrice", "P1MYearTotal", "MonthlyBillingPremium", "MonthlyBillingPremiumPercent",
    "MonthToMonthPremium", "MonthToMonthPremiumPercent",
)  # fmt: skip


def compare_billing_plans(price_list: pd.DataFrame, *, on: Any = None) -> pd.DataFrame:
    """One year of one seat three ways: a P1Y term paid up front, a P1Y term billed monthly, and P1M month to month.

    Term price, price per billing period and monthly equivalent side by side (rule: :mod:`cspkit.billing.pricing`),
    so that the premiums Microsoft charges show: monthly billing of a P1Y term costs 5 % more than paying the year
    up front, and twelve P1M months 20 % more (the real November 2025 US list: 1,247 SKUs; e.g. Microsoft 365
    Business Basic 57.60 / 60.48 = 12 × 5.04 / 12 × 5.76 = 69.12).

    Returns:
        One row per (ProductId, SkuId, Currency) having a ``P1Y`` price, columns :data:`PLAN_COMPARISON_COLUMNS`:
        ``P1YAnnualTermPrice`` (P1Y/Annual UnitPrice: the year, billed once), ``P1YAnnualMonthlyEquivalent`` (÷ 12,
        0.0001), ``P1YMonthlyTermPrice`` (P1Y/Monthly UnitPrice: the year), ``P1YMonthlyPeriodPrice`` (÷ 12, 0.01:
        each monthly bill), ``P1MPeriodPrice`` (P1M/Monthly UnitPrice: one month), ``P1MYearTotal`` (× 12),
        ``MonthlyBillingPremium`` (P1YMonthlyTermPrice - P1YAnnualTermPrice) and its ``…Percent`` (of the annual
        price, 0.01), ``MonthToMonthPremium`` (P1MYearTotal - P1YAnnualTermPrice) and its ``…Percent``. Decimal in
        ``Currency``; None where a plan is not offered. Sorted by ProductId, SkuId, Currency.
    """
    rows = current_prices(price_list, on=on)
    if "Segment" not in rows:
        rows = rows.assign(Segment=None)
    group = ["ProductId", "SkuId", "Currency"]
    labels = rows[group + ["ProductTitle", "SkuTitle", "Publisher", "Segment"]].drop_duplicates(group)
    labels = labels.set_index(group)

    def pick(term: str, plan: str) -> pd.Series:
        chosen = rows[(rows["TermDuration"] == term) & (rows["BillingPlan"] == plan)]
        return chosen.set_index(group)["UnitPrice"]

    table = pd.DataFrame(
        {"P1YAnnualTermPrice": pick("P1Y", "Annual"), "P1YMonthlyTermPrice": pick("P1Y", "Monthly"),
         "P1MPeriodPrice": pick("P1M", "Monthly")}
    )  # fmt: skip
    table = table[table["P1YAnnualTermPrice"].notna() | table["P1YMonthlyTermPrice"].notna()]
    table = labels.join(table, how="inner").astype(object)
    table = table.where(table.notna(), None)

    def minus(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a - b

    def percent(part: Any, whole: Any) -> Any:
        return None if part is None or not whole else cents(part / whole * 100)

    annual, monthly_billed, month = table["P1YAnnualTermPrice"], table["P1YMonthlyTermPrice"], table["P1MPeriodPrice"]
    table["P1YAnnualMonthlyEquivalent"] = [
        None if a is None else (a / 12).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP) for a in annual
    ]
    table["P1YMonthlyPeriodPrice"] = [None if m is None else cents(period_price(m, "P1Y", "Monthly"))
                                      for m in monthly_billed]  # fmt: skip
    table["P1MYearTotal"] = [None if m is None else m * 12 for m in month]
    table["MonthlyBillingPremium"] = [minus(m, a) for m, a in zip(monthly_billed, annual, strict=True)]
    table["MonthlyBillingPremiumPercent"] = [
        percent(p, a) for p, a in zip(table["MonthlyBillingPremium"], annual, strict=True)
    ]
    table["MonthToMonthPremium"] = [minus(y, a) for y, a in zip(table["P1MYearTotal"], annual, strict=True)]
    table["MonthToMonthPremiumPercent"] = [
        percent(p, a) for p, a in zip(table["MonthToMonthPremium"], annual, strict=True)
    ]
    out = table.reset_index().sort_values(group, kind="stable").reset_index(drop=True)
    return out[list(PLAN_COMPARISON_COLUMNS)]


def publisher_summary(price_list: pd.DataFrame, *, on: Any = None) -> pd.DataFrame:
    """Publishers compared (marketplace price lists): offer counts, price level and partner discount.

    Returns:
        One row per (Publisher, Currency): ``Products`` (distinct ProductIds), ``Skus`` (distinct product:SKU),
        ``PriceRows``, ``MinMonthlyEquivalent``/``MedianMonthlyEquivalent``/``MaxMonthlyEquivalent`` (one seat per
        month of the term: term price ÷ months, :func:`price_figures`; Decimal, 0.01), ``PartnerDiscountPercent``
        (mean of (ERPPrice - UnitPrice) / ERPPrice × 100 over rows with an ERP price, both whole-term prices,
        0.01; None without ERP prices). Sorted by Publisher.
    """
    rows = price_figures(current_prices(price_list, on=on))
    rows = rows[rows["MonthlyEquivalent"].notna()]
    rows = rows.assign(_sku=rows["ProductId"] + ":" + rows["SkuId"])
    records = []
    for (publisher, currency), part in rows.groupby(["Publisher", "Currency"], sort=True):
        monthly = sorted(part["MonthlyEquivalent"])
        middle = len(monthly) // 2
        median = monthly[middle] if len(monthly) % 2 else (monthly[middle - 1] + monthly[middle]) / 2
        discounts = [
            (erp - price) / erp * 100
            for price, erp in zip(part["UnitPrice"], part["ERPPrice"], strict=True)
            if erp is not None and erp != 0
        ]
        records.append(
            {
                "Publisher": publisher,
                "Currency": currency,
                "Products": part["ProductId"].nunique(),
                "Skus": part["_sku"].nunique(),
                "PriceRows": len(part),
                "MinMonthlyEquivalent": cents(monthly[0]),
                "MedianMonthlyEquivalent": cents(median),
                "MaxMonthlyEquivalent": cents(monthly[-1]),
                "PartnerDiscountPercent": cents(sum(discounts) / len(discounts)) if discounts else None,
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=["Publisher", "Currency", "Products", "Skus", "PriceRows", "MinMonthlyEquivalent",
                 "MedianMonthlyEquivalent", "MaxMonthlyEquivalent", "PartnerDiscountPercent"],
    )  # fmt: skip
