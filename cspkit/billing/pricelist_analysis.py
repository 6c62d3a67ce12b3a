"""Price-list analysis: pure functions from price-list DataFrames to DataFrames (no I/O, no printing).

Every function takes frames shaped like :func:`cspkit.billing.pricelist.read_price_list`'s result. Money stays
:class:`~decimal.Decimal` (object columns) with its ``Currency`` column next to it; rounding to cents is
``ROUND_HALF_UP`` and only where a function says so.

Price semantics followed (billing-formats.md §1.5, sample_data/README.md): ``UnitPrice`` is the partner's price for
one seat **per billing period** of its row: ``P1Y``/``Annual`` carries the yearly price, ``P1Y``/``Monthly`` and
``P1M``/``Monthly`` the monthly price, ``P3Y``/``Annual`` the yearly price of a 3-year term, ``P3Y``/``Triennial``
the whole 3 years; ``BillingPlan`` ``None`` (trials) is charged once for the term.

Free-trial rows (``IsFreeTrial``) are never prices: every function here leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.pricelist import KEY_COLUMNS, lookup_prices, normalize_billing_plan, price_in_force
from cspkit.billing.pricing import PLAN_MONTHS as _PLAN_MONTHS
from cspkit.billing.pricing import billing_periods, months_in

__all__ = [
    "CHANGE_KINDS",
    "MarkupRule",
    "apply_margin",
    "billing_periods",
    "cheapest_terms",
    "compare_billing_plans",
    "current_prices",
    "diff_price_lists",
    "months_in",
    "preview_cart_cost",
    "price_in_force",
    "publisher_summary",
]

CENT = Decimal("0.01")
#: Values of the ``Change`` column of :func:`diff_price_lists`.
CHANGE_KINDS = ("added", "removed", "price_up", "price_down", "unchanged")
_DESCRIPTIVE = ("ProductTitle", "SkuTitle", "Publisher")


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def _paid(price_list: pd.DataFrame) -> pd.DataFrame:
    if "IsFreeTrial" in price_list.columns:
        return price_list[~price_list["IsFreeTrial"].astype(bool)]
    return price_list


def _utc(on: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(on)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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
    rows = _paid(price_list).assign(_order=np.arange(len(_paid(price_list))))
    if on is not None:
        moment = _utc(on)
        end = rows["EffectiveEndDate"]
        rows = rows[(rows["EffectiveStartDate"] <= moment) & (end.isna() | (end >= moment))]
    rows = rows.sort_values(["EffectiveStartDate", "_order"], kind="stable")
    rows = rows.drop_duplicates(list(KEY_COLUMNS), keep="last")
    return rows.drop(columns="_order").sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)


def diff_price_lists(
    old: pd.DataFrame,
    new: pd.DataFrame,
    *,
    old_on: Any = None,
    new_on: Any = None,
    include_unchanged: bool = False,
) -> pd.DataFrame:
    """Month-over-month changes between two price lists.

    Each side is reduced with :func:`current_prices` (``old_on``/``new_on``; None = the newest row per key), then
    matched on ProductId, SkuId, TermDuration, BillingPlan, Currency.

    Returns:
        Columns ``Change`` (``added`` | ``removed`` | ``price_up`` | ``price_down`` | ``unchanged``), the key
        columns, ``ProductTitle, SkuTitle, Publisher`` (from the new list, else the old), ``OldUnitPrice``,
        ``NewUnitPrice`` (Decimal or None), ``ChangeAmount`` (new - old, Decimal; None for added/removed),
        ``ChangePercent`` (Decimal percent of the old price rounded to 0.01; None when old is 0 or missing).
        Sorted by Change (in :data:`CHANGE_KINDS` order), then key. Unchanged rows only with
        ``include_unchanged=True``.
    """
    keys = list(KEY_COLUMNS)
    left = current_prices(old, on=old_on)[[*keys, *_DESCRIPTIVE, "UnitPrice"]]
    right = current_prices(new, on=new_on)[[*keys, *_DESCRIPTIVE, "UnitPrice"]]
    merged = left.merge(right, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
    old_price = merged["UnitPrice_old"].astype(object).where(merged["_merge"] != "right_only", None)
    new_price = merged["UnitPrice_new"].astype(object).where(merged["_merge"] != "left_only", None)
    out = merged[keys].copy()
    for column in _DESCRIPTIVE:
        out[column] = merged[f"{column}_new"].where(merged["_merge"] != "left_only", merged[f"{column}_old"])
    out["OldUnitPrice"] = old_price.to_numpy()
    out["NewUnitPrice"] = new_price.to_numpy()
    changes, amounts, percents = [], [], []
    for before, after in zip(out["OldUnitPrice"], out["NewUnitPrice"], strict=True):
        if before is None:
            changes.append("added")
            amounts.append(None)
            percents.append(None)
            continue
        if after is None:
            changes.append("removed")
            amounts.append(None)
            percents.append(None)
            continue
        delta = after - before
        changes.append("price_up" if delta > 0 else "price_down" if delta < 0 else "unchanged")
        amounts.append(delta)
        percents.append(_cents(delta / before * 100) if before != 0 else None)
    out["Change"] = changes
    out["ChangeAmount"] = pd.Series(amounts, index=out.index, dtype=object)
    out["ChangePercent"] = pd.Series(percents, index=out.index, dtype=object)
    if not include_unchanged:
        out = out[out["Change"] != "unchanged"]
    out["_rank"] = out["Change"].map({k: i for i, k in enumerate(CHANGE_KINDS)})
    out = out.sort_values(["_rank", *keys], kind="stable").drop(columns="_rank")
    columns = ["Change", *keys, *_DESCRIPTIVE, "OldUnitPrice", "NewUnitPrice", "ChangeAmount", "ChangePercent"]
    return out[columns].reset_index(drop=True)


@dataclass(frozen=True)
class MarkupRule:
    """Sell at ``UnitPrice × (1 + markup_percent / 100)`` for rows matching every given field.

    Specificity decides between matching rules: a rule naming ``product_id`` and ``sku_id`` beats one naming only
    ``product_id``, which beats one naming only ``publisher`` (matched case-insensitively), which beats the
    default; among equally specific rules the later one in the list wins.
    """

    markup_percent: Decimal
    publisher: str | None = None
    product_id: str | None = None
    sku_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "markup_percent", Decimal(str(self.markup_percent)))
        if self.sku_id is not None and str(self.sku_id).isdigit():
            object.__setattr__(self, "sku_id", str(self.sku_id).zfill(4))
        if self.product_id is not None:
            object.__setattr__(self, "product_id", str(self.product_id).strip().upper())

    @classmethod
    def coerce(cls, value: MarkupRule | Mapping[str, Any]) -> MarkupRule:
        """Accept a rule or a dict ``{"markup_percent", "publisher"?, "product_id"?, "sku_id"?}``."""
        if isinstance(value, MarkupRule):
            return value
        data = dict(value)
        if "markup_percent" not in data:
            raise ValueError(f"a markup rule needs markup_percent: {value!r}")
        return cls(
            markup_percent=Decimal(str(data["markup_percent"])),
            publisher=data.get("publisher"),
            product_id=data.get("product_id"),
            sku_id=None if data.get("sku_id") is None else str(data["sku_id"]),
        )

    @property
    def level(self) -> int:
        if self.sku_id is not None:
            if self.product_id is None:
                raise ValueError("a markup rule with sku_id also needs product_id")
            return 3
        if self.product_id is not None:
            return 2
        if self.publisher is not None:
            return 1
        return 0

    def describe(self) -> str:
        if self.sku_id is not None:
            return f"sku {self.product_id}:{self.sku_id}"
        if self.product_id is not None:
            return f"product {self.product_id}"
        if self.publisher is not None:
            return f"publisher {self.publisher}"
        return "all"


def apply_margin(
    price_list: pd.DataFrame,
    rules: Iterable[MarkupRule | Mapping[str, Any]] = (),
    *,
    default_markup_percent: Decimal | str | int = 0,
    cap_at_erp: bool = False,
) -> pd.DataFrame:
    """Sale prices and margins under per-publisher / per-product / per-SKU markup rules.

    Args:
        price_list: a price-list frame (free trials are dropped).
        rules: :class:`MarkupRule` objects or dicts (see :meth:`MarkupRule.coerce`).
        default_markup_percent: markup for rows no rule matches.
        cap_at_erp: never sell above the row's ``ERPPrice`` (estimated retail price) when it has one.

    Returns:
        The paid rows with added columns ``MarkupPercent`` (Decimal), ``MarkupRule`` (which rule applied:
        ``"sku P:S"``, ``"product P"``, ``"publisher X"``, ``"default"``), ``SalePrice`` (UnitPrice × (1 +
        markup/100) rounded to 0.01, capped at ERP if asked), ``Margin`` (SalePrice - UnitPrice) and
        ``MarginPercent`` (Margin / SalePrice × 100 rounded to 0.01; None for a zero sale price). Same currency as
        the row.
    """
    frame = _paid(price_list).reset_index(drop=True).copy()
    parsed = sorted(
        ((rule.level, position, rule) for position, rule in enumerate(map(MarkupRule.coerce, rules))),
        key=lambda item: (item[0], item[1]),
    )
    markup = np.empty(len(frame), dtype=object)
    markup[:] = Decimal(str(default_markup_percent))
    source = np.array(["default"] * len(frame), dtype=object)
    publishers = frame["Publisher"].fillna("").str.casefold().to_numpy() if "Publisher" in frame else None
    products = frame["ProductId"].str.upper().to_numpy()
    skus = frame["SkuId"].to_numpy()
    for _level, _position, rule in parsed:
        mask = np.ones(len(frame), dtype=bool)
        if rule.publisher is not None and publishers is not None:
            mask &= publishers == rule.publisher.casefold()
        if rule.product_id is not None:
            mask &= products == rule.product_id.upper()
        if rule.sku_id is not None:
            mask &= skus == rule.sku_id
        markup[mask] = rule.markup_percent
        source[mask] = rule.describe()
    prices = frame["UnitPrice"].to_numpy()
    sale = [_cents(p * (1 + m / 100)) for p, m in zip(prices, markup, strict=True)]
    if cap_at_erp and "ERPPrice" in frame:
        sale = [s if erp is None or s <= erp else erp for s, erp in zip(sale, frame["ERPPrice"], strict=True)]
    margin = [s - p for s, p in zip(sale, prices, strict=True)]
    frame["MarkupPercent"] = pd.Series(markup, dtype=object)
    frame["MarkupRule"] = pd.Series(source, dtype="str")
    frame["SalePrice"] = pd.Series(sale, dtype=object)
    frame["Margin"] = pd.Series(margin, dtype=object)
    frame["MarginPercent"] = pd.Series(
        [None if s == 0 else _cents(m / s * 100) for s, m in zip(sale, margin, strict=True)], dtype=object
    )
    return frame


def _split_line(line: Mapping[str, Any], number: int) -> dict[str, Any]:
    catalog_item_id = line.get("catalog_item_id")
    if catalog_item_id:
        parts = str(catalog_item_id).split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"cart line {number}: catalog_item_id must be productId:skuId:availabilityId")
        product_id, sku_id = parts[0], parts[1]
    else:
        product_id, sku_id = line.get("product_id"), line.get("sku_id")
        if not product_id or not sku_id:
            raise ValueError(f"cart line {number}: give catalog_item_id or product_id and sku_id")
    missing = [k for k in ("quantity", "term_duration", "billing_cycle", "currency") if line.get(k) in (None, "")]
    if missing:
        raise ValueError(f"cart line {number}: missing {', '.join(missing)}")
    quantity = int(line["quantity"])
    if quantity < 1 or quantity != line["quantity"] and str(quantity) != str(line["quantity"]).strip():
        raise ValueError(f"cart line {number}: quantity must be a whole number >= 1, got {line['quantity']!r}")
    plan = normalize_billing_plan(str(line["billing_cycle"]))
    if plan is None:
        raise ValueError(f"cart line {number}: unknown billing_cycle {line['billing_cycle']!r}")
    term = str(line["term_duration"]).strip().upper()
    try:
        periods = billing_periods(term, plan)
    except ValueError as exc:
        raise ValueError(f"cart line {number}: {exc}") from None
    return {
        "CatalogItemId": str(catalog_item_id) if catalog_item_id else None,
        "ProductId": str(product_id).strip().upper(),
        "SkuId": str(sku_id).strip().zfill(4) if str(sku_id).strip().isdigit() else str(sku_id).strip(),
        "TermDuration": term,
        "BillingPlan": plan,
        "Currency": str(line["currency"]).strip().upper(),
        "Quantity": quantity,
        "BillingPeriods": periods,
    }


def preview_cart_cost(price_list: pd.DataFrame, lines: Sequence[Mapping[str, Any]], *, on: Any = None) -> pd.DataFrame:
    """What a cart will cost, line by line, from the price list (before checkout).

    Args:
        price_list: a price-list frame.
        lines: dicts ``{"catalog_item_id": "P:S:A"}`` or ``{"product_id", "sku_id"}``, plus ``quantity`` (seats,
            int >= 1), ``term_duration`` (``P1M``/``P1Y``/``P3Y``), ``billing_cycle`` (Partner Center's
            ``monthly``/``annual``/``triennial``/``none``, any case) and ``currency`` (ISO 4217).
        on: the date whose prices apply (naive = UTC); default now.

    Returns:
        One row per line, in order: ``CatalogItemId, ProductId, SkuId, ProductTitle, SkuTitle, TermDuration,
        BillingPlan, Currency, Quantity, UnitPrice`` (per seat per billing period), ``PeriodTotal`` (UnitPrice ×
        Quantity, charged each billing period), ``BillingPeriods`` (per term), ``TermTotal`` (PeriodTotal ×
        BillingPeriods), ``PriceFound`` (bool). Money is Decimal; it is None when no price is in force (then
        PriceFound is False).

    Raises:
        ValueError: a line is incomplete or inconsistent (message names the 1-based line).
    """
    moment = _utc(on if on is not None else datetime.now(UTC))
    parsed = [_split_line(line, number) for number, line in enumerate(lines, start=1)]
    columns = [
        "CatalogItemId", "ProductId", "SkuId", "ProductTitle", "SkuTitle", "TermDuration", "BillingPlan",
        "Currency", "Quantity", "UnitPrice", "PeriodTotal", "BillingPeriods", "TermTotal", "PriceFound",
    ]  # fmt: skip
    if not parsed:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(parsed)
    queries = frame[list(KEY_COLUMNS)].assign(On=moment)
    unit = lookup_prices(price_list, queries)
    titles = (
        _paid(price_list)
        .assign(ProductId=lambda f: f["ProductId"].str.upper())
        .drop_duplicates(["ProductId", "SkuId"], keep="last")
        .set_index(["ProductId", "SkuId"])[["ProductTitle", "SkuTitle"]]
    )
    keys = pd.MultiIndex.from_arrays([frame["ProductId"], frame["SkuId"]])
    found_titles = titles.reindex(keys)
    frame["ProductTitle"] = found_titles["ProductTitle"].to_numpy()
    frame["SkuTitle"] = found_titles["SkuTitle"].to_numpy()
    frame["UnitPrice"] = unit.to_numpy()
    frame["PeriodTotal"] = [None if u is None else u * q for u, q in zip(unit, frame["Quantity"], strict=True)]
    frame["TermTotal"] = [
        None if t is None else t * n for t, n in zip(frame["PeriodTotal"], frame["BillingPeriods"], strict=True)
    ]
    frame["PriceFound"] = unit.notna().to_numpy()
    for column in ("UnitPrice", "PeriodTotal", "TermTotal"):
        frame[column] = frame[column].astype(object)
    return frame[columns]


def _monthly_equivalent(frame: pd.DataFrame) -> pd.Series:
    """UnitPrice per seat per month: divided by the months in the billing period (the whole term for None)."""
    values = []
    for price, term, plan in zip(frame["UnitPrice"], frame["TermDuration"], frame["BillingPlan"], strict=True):
        months = months_in(term) if plan == "None" else _PLAN_MONTHS.get(plan, 1)
        values.append((price / months).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
    return pd.Series(values, index=frame.index, dtype=object)


def cheapest_terms(price_list: pd.DataFrame, *, on: Any = None) -> pd.DataFrame:
    """The cheapest term and billing plan for each SKU, compared per seat per month.

    Args:
        price_list: a price-list frame; reduced with :func:`current_prices` (``on``).

    Returns:
        One row per (ProductId, SkuId, Currency): ``ProductId, SkuId, Currency, ProductTitle, SkuTitle,
        Publisher, TermDuration, BillingPlan`` (the cheapest), ``MonthlyEquivalent`` (Decimal, 4 places),
        ``MostExpensiveMonthly`` (the dearest option, same unit), ``SavingPercent`` (cheapest vs dearest, 0.01),
        ``Options`` (how many term/plan rows were compared). Ties keep the shorter term, then the shorter billing
        period (monthly billing over paying the year up front).
    """
    rows = current_prices(price_list, on=on)
    if rows.empty:
        return pd.DataFrame(
            columns=["ProductId", "SkuId", "Currency", "ProductTitle", "SkuTitle", "Publisher", "TermDuration",
                     "BillingPlan", "MonthlyEquivalent", "MostExpensiveMonthly", "SavingPercent", "Options"]
        )  # fmt: skip
    rows = rows.assign(
        MonthlyEquivalent=_monthly_equivalent(rows),
        _months=rows["TermDuration"].map(months_in),
        _period=rows["BillingPlan"].map(lambda p: _PLAN_MONTHS.get(p, 0)),
    )
    rows["_sort"] = rows["MonthlyEquivalent"].map(float)
    group = ["ProductId", "SkuId", "Currency"]
    ordered = rows.sort_values([*group, "_sort", "_months", "_period"], kind="stable")
    best = ordered.drop_duplicates(group, keep="first").set_index(group)
    worst = ordered.drop_duplicates(group, keep="last").set_index(group)["MonthlyEquivalent"]
    counts = rows.groupby(group).size()
    out = best[["ProductTitle", "SkuTitle", "Publisher", "TermDuration", "BillingPlan", "MonthlyEquivalent"]].copy()
    out["MostExpensiveMonthly"] = worst.reindex(out.index).to_numpy()
    out["SavingPercent"] = [
        None if hi == 0 else _cents((hi - lo) / hi * 100)
        for lo, hi in zip(out["MonthlyEquivalent"], out["MostExpensiveMonthly"], strict=True)
    ]
    out["Options"] = counts.reindex(out.index).to_numpy()
    return out.reset_index()


def compare_billing_plans(price_list: pd.DataFrame, *, on: Any = None) -> pd.DataFrame:
    """Annual vs monthly billing, per seat per year, for each SKU that offers a one-year term.

    Returns:
        One row per (ProductId, SkuId, Currency) having a ``P1Y`` price: ``ProductTitle, SkuTitle, Publisher``,
        ``AnnualUpfront`` (P1Y/Annual UnitPrice), ``AnnualMonthlyBilled`` (P1Y/Monthly UnitPrice × 12),
        ``MonthToMonth`` (P1M/Monthly UnitPrice × 12), ``MonthlyBillingPremium`` (AnnualMonthlyBilled -
        AnnualUpfront), ``MonthToMonthPremium`` (MonthToMonth - AnnualUpfront) and
        ``MonthToMonthPremiumPercent`` (of AnnualUpfront, 0.01). Decimal; None where a plan is not offered.
    """
    rows = current_prices(price_list, on=on)
    group = ["ProductId", "SkuId", "Currency"]
    labels = rows[group + ["ProductTitle", "SkuTitle", "Publisher"]].drop_duplicates(group).set_index(group)

    def pick(term: str, plan: str, factor: int) -> pd.Series:
        chosen = rows[(rows["TermDuration"] == term) & (rows["BillingPlan"] == plan)].set_index(group)["UnitPrice"]
        return chosen.map(lambda p: p * factor)

    table = pd.DataFrame(
        {
            "AnnualUpfront": pick("P1Y", "Annual", 1),
            "AnnualMonthlyBilled": pick("P1Y", "Monthly", 12),
            "MonthToMonth": pick("P1M", "Monthly", 12),
        }
    )
    table = table[table["AnnualUpfront"].notna() | table["AnnualMonthlyBilled"].notna()]
    table = labels.join(table, how="inner").astype(
        {"AnnualUpfront": object, "AnnualMonthlyBilled": object, "MonthToMonth": object}
    )
    table = table.where(table.notna(), None)

    def minus(a: Any, b: Any) -> Any:
        return None if a is None or b is None else a - b

    table["MonthlyBillingPremium"] = [
        minus(a, b) for a, b in zip(table["AnnualMonthlyBilled"], table["AnnualUpfront"], strict=True)
    ]
    table["MonthToMonthPremium"] = [
        minus(a, b) for a, b in zip(table["MonthToMonth"], table["AnnualUpfront"], strict=True)
    ]
    table["MonthToMonthPremiumPercent"] = [
        None if p is None or not b else _cents(p / b * 100)
        for p, b in zip(table["MonthToMonthPremium"], table["AnnualUpfront"], strict=True)
    ]
    return table.reset_index().sort_values(group, kind="stable").reset_index(drop=True)


def publisher_summary(price_list: pd.DataFrame, *, on: Any = None) -> pd.DataFrame:
    """Publishers compared (marketplace price lists): offer counts, price level and partner discount.

    Returns:
        One row per (Publisher, Currency): ``Products`` (distinct ProductIds), ``Skus`` (distinct product:SKU),
        ``PriceRows``, ``MinMonthly``/``MedianMonthly``/``MaxMonthly`` (per seat per month, Decimal, 0.01),
        ``PartnerDiscountPercent`` (mean of (ERPPrice - UnitPrice) / ERPPrice × 100 over rows with an ERP price,
        0.01; None without ERP prices). Sorted by Publisher.
    """
    rows = current_prices(price_list, on=on)
    rows = rows.assign(MonthlyEquivalent=_monthly_equivalent(rows), _sku=rows["ProductId"] + ":" + rows["SkuId"])
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
                "MinMonthly": _cents(monthly[0]),
                "MedianMonthly": _cents(median),
                "MaxMonthly": _cents(monthly[-1]),
                "PartnerDiscountPercent": _cents(sum(discounts) / len(discounts)) if discounts else None,
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=["Publisher", "Currency", "Products", "Skus", "PriceRows", "MinMonthly", "MedianMonthly",
                 "MaxMonthly", "PartnerDiscountPercent"],
    )  # fmt: skip
