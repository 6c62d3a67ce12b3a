"""Sale prices and margins under markup rules, and what a cart will cost before checkout.

Price semantics: Microsoft's rule, defined once in :mod:`cspkit.billing.pricing` (sources there: Microsoft Learn
"New commerce license-based pricing and offers", the real November 2025 US price list, the invoice reconciliation
samples): ``UnitPrice`` is one seat for the whole term, billed in ``billing_periods(term, plan)`` equal periods. A
markup applies to the term price; the sale price of one billing period follows from it by the same rule. Cart lines
take Partner Center's ``billingCycle`` words and ``catalogItemId`` (``productId:skuId:availabilityId``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.pricelist import KEY_COLUMNS, lookup_prices, normalize_billing_plan
from cspkit.billing.pricelist_figures import cents, figures_of, paid_rows, price_figures, utc_timestamp
from cspkit.billing.pricelist_values import repair_sku_id
from cspkit.billing.pricing import billing_periods

__all__ = ["PREVIEW_COLUMNS", "MarkupRule", "apply_margin", "preview_cart_cost"]


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
        if self.sku_id is not None:
            object.__setattr__(self, "sku_id", repair_sku_id(str(self.sku_id)))
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

    The markup applies to the term price (the list's ``UnitPrice``); the sale price of one billing period follows
    from it by Microsoft's rule (:mod:`cspkit.billing.pricing`), so a customer billed monthly on a P1Y term pays
    ``SaleTermPrice ÷ 12`` a month.

    Args:
        price_list: a price-list frame (free trials are dropped).
        rules: :class:`MarkupRule` objects or dicts (see :meth:`MarkupRule.coerce`).
        default_markup_percent: markup for rows no rule matches.
        cap_at_erp: never sell above the row's ``ERPPrice`` (estimated retail price, also a whole-term price)
            when it has one.

    Returns:
        The paid rows with :data:`FIGURE_COLUMNS` (see :func:`price_figures`) and ``MarkupPercent`` (Decimal),
        ``MarkupRule`` (which rule applied: ``"sku P:S"``, ``"product P"``, ``"publisher X"``, ``"default"``),
        ``SaleTermPrice`` (TermPrice × (1 + markup/100) rounded to 0.01, capped at ERP if asked),
        ``SalePeriodPrice`` (SaleTermPrice ÷ BillingPeriods, 0.01), ``TermMargin`` (SaleTermPrice - TermPrice),
        ``PeriodMargin`` (SalePeriodPrice - PeriodPrice) and ``MarginPercent`` (TermMargin / SaleTermPrice × 100,
        0.01; None for a zero sale price). Same currency as the row.
    """
    frame = price_figures(paid_rows(price_list).reset_index(drop=True))
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
    prices = frame["TermPrice"].to_numpy()
    sale = [cents(p * (1 + m / 100)) for p, m in zip(prices, markup, strict=True)]
    if cap_at_erp and "ERPPrice" in frame:
        sale = [s if erp is None or s <= erp else erp for s, erp in zip(sale, frame["ERPPrice"], strict=True)]
    sale_period = [
        None if n is None else cents(s / n) for s, n in zip(sale, frame["BillingPeriods"], strict=True)
    ]
    margin = [s - p for s, p in zip(sale, prices, strict=True)]
    frame["MarkupPercent"] = pd.Series(markup, dtype=object)
    frame["MarkupRule"] = pd.Series(source, dtype="str")
    frame["SaleTermPrice"] = pd.Series(sale, dtype=object)
    frame["SalePeriodPrice"] = pd.Series(sale_period, dtype=object)
    frame["TermMargin"] = pd.Series(margin, dtype=object)
    frame["PeriodMargin"] = pd.Series(
        [None if s is None or p is None else s - p for s, p in zip(sale_period, frame["PeriodPrice"], strict=True)],
        dtype=object,
    )
    frame["MarginPercent"] = pd.Series(
        [None if s == 0 else cents(m / s * 100) for s, m in zip(sale, margin, strict=True)], dtype=object
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
    try:
        quantity = int(line["quantity"])
    except (TypeError, ValueError):
        quantity = 0
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
        "SkuId": repair_sku_id(str(sku_id)),
        "TermDuration": term,
        "BillingPlan": plan,
        "Currency": str(line["currency"]).strip().upper(),
        "Quantity": quantity,
        "BillingPeriods": periods,
    }


#: Columns of :func:`preview_cart_cost`, in order.
PREVIEW_COLUMNS = (
    "CatalogItemId", "ProductId", "SkuId", "ProductTitle", "SkuTitle", "TermDuration", "BillingPlan", "Currency",
    "Quantity", "TermPrice", "BillingPeriods", "PeriodPrice", "MonthlyEquivalent", "PeriodTotal", "TermTotal",
    "PriceFound",
)  # fmt: skip


def preview_cart_cost(price_list: pd.DataFrame, lines: Sequence[Mapping[str, Any]], *, on: Any = None) -> pd.DataFrame:
    """What a cart will cost, line by line, from the price list (before checkout), under Microsoft's price rule.

    Args:
        price_list: a price-list frame.
        lines: dicts ``{"catalog_item_id": "P:S:A"}`` or ``{"product_id", "sku_id"}``, plus ``quantity`` (seats,
            int >= 1), ``term_duration`` (``P1M``/``P1Y``/``P3Y``), ``billing_cycle`` (Partner Center's
            ``monthly``/``annual``/``triennial``/``none``, any case) and ``currency`` (ISO 4217).
        on: the date whose prices apply (naive = UTC); default now.

    Returns:
        One row per line, in order, columns :data:`PREVIEW_COLUMNS`: ``TermPrice`` (the list's UnitPrice: one
        seat, whole term), ``BillingPeriods`` (per term), ``PeriodPrice`` (TermPrice ÷ BillingPeriods, 0.01: one
        seat, one billing period), ``MonthlyEquivalent`` (TermPrice ÷ months, 0.0001), ``PeriodTotal``
        (PeriodPrice × Quantity, charged each billing period), ``TermTotal`` (TermPrice × Quantity), ``PriceFound``
        (bool). Money is Decimal in ``Currency``; None when no price is in force (then PriceFound is False).
        E.g. 10 seats of CFQ7TTC0LH18/0001 P1Y billed monthly (TermPrice 60.48): PeriodPrice 5.04, PeriodTotal
        50.40 a month, TermTotal 604.80.

    Raises:
        ValueError: a line is incomplete or inconsistent (message names the 1-based line).
    """
    moment = utc_timestamp(on if on is not None else datetime.now(UTC))
    parsed = [_split_line(line, number) for number, line in enumerate(lines, start=1)]
    columns = list(PREVIEW_COLUMNS)
    if not parsed:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(parsed)
    queries = frame[list(KEY_COLUMNS)].assign(On=moment)
    unit = lookup_prices(price_list, queries)
    titles = (
        paid_rows(price_list)
        .assign(ProductId=lambda f: f["ProductId"].str.upper())
        .drop_duplicates(["ProductId", "SkuId"], keep="last")
        .set_index(["ProductId", "SkuId"])[["ProductTitle", "SkuTitle"]]
    )
    keys = pd.MultiIndex.from_arrays([frame["ProductId"], frame["SkuId"]])
    found_titles = titles.reindex(keys)
    frame["ProductTitle"] = found_titles["ProductTitle"].to_numpy()
    frame["SkuTitle"] = found_titles["SkuTitle"].to_numpy()
    figures = [figures_of(u, t, p) for u, t, p in zip(unit, frame["TermDuration"], frame["BillingPlan"], strict=True)]
    frame["TermPrice"] = unit.to_numpy()
    frame["PeriodPrice"] = [f[1] for f in figures]
    frame["MonthlyEquivalent"] = [f[2] for f in figures]
    frame["PeriodTotal"] = [None if p is None else p * q for p, q in zip(frame["PeriodPrice"], frame["Quantity"],
                                                                      strict=True)]  # fmt: skip
    frame["TermTotal"] = [None if u is None else u * q for u, q in zip(unit, frame["Quantity"], strict=True)]
    frame["PriceFound"] = unit.notna().to_numpy()
    for column in ("TermPrice", "PeriodPrice", "MonthlyEquivalent", "PeriodTotal", "TermTotal"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame[columns]

