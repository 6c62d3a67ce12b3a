"""Price-list analysis: pure functions from price-list DataFrames to DataFrames (no I/O, no printing).

Every function takes frames shaped like :func:`cspkit.billing.pricelist.read_price_list`'s result. Money stays
:class:`~decimal.Decimal` (object columns) with its ``Currency`` column next to it; rounding to cents is
``ROUND_HALF_UP`` and only where a function says so.

Price semantics followed: Microsoft's rule, defined once in :mod:`cspkit.billing.pricing` (sources there: Microsoft
Learn "New commerce license-based pricing and offers", the real November 2025 US price list, the invoice
reconciliation samples). A price list's ``UnitPrice`` is the price of one seat for the **whole term**, for every
billing plan; the term is billed in ``billing_periods(term, plan)`` equal periods (P1M/Monthly 1, P1Y/Monthly 12,
P1Y/Annual 1, P3Y/Monthly 36, P3Y/Annual 3, P3Y/Triennial 1, trials 1). The figures every function here shows,
named for what they hold:

* ``TermPrice``: one seat for the whole term (the list's ``UnitPrice``);
* ``BillingPeriods``: how many times the term is billed;
* ``PeriodPrice``: one seat for one billing period (``TermPrice ÷ BillingPeriods``, half-up to the cent: what an
  invoice line's ``UnitPrice`` says);
* ``MonthlyEquivalent``: one seat per month of the term (``TermPrice ÷ months``, 4 places), for comparing terms and
  plans;
* with quantities, ``PeriodTotal`` (charged each billing period) and ``TermTotal`` (the whole term).

E.g. Microsoft 365 Business Basic (CFQ7TTC0LH18/0001, Commercial, US, November 2025): P1Y/Annual TermPrice 57.60
(MonthlyEquivalent 4.80); P1Y/Monthly TermPrice 60.48, PeriodPrice 5.04 (the 5 % premium of monthly billing);
P1M/Monthly 5.76 (12 × 5.76 = 69.12: 20 % over P1Y/Annual).

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
from cspkit.billing.pricing import billing_periods, monthly_equivalent, months_in, period_price

__all__ = [
    "CHANGE_KINDS",
    "DIFF_COLUMNS",
    "FIGURE_COLUMNS",
    "MarkupRule",
    "PLAN_COMPARISON_COLUMNS",
    "PREVIEW_COLUMNS",
    "apply_margin",
    "billing_periods",
    "cheapest_terms",
    "compare_billing_plans",
    "current_prices",
    "diff_from_indicators",
    "diff_price_lists",
    "months_in",
    "preview_cart_cost",
    "price_figures",
    "price_in_force",
    "publisher_summary",
]

CENT = Decimal("0.01")
_FOURTH = Decimal("0.0001")
#: Values of the ``Change`` column of :func:`diff_price_lists` / :func:`diff_from_indicators` (``changed``: the
#: price is the same, other fields such as a title changed).
CHANGE_KINDS = ("added", "removed", "price_up", "price_down", "changed", "unchanged")
#: The price figures :func:`price_figures` adds, in order.
FIGURE_COLUMNS = ("TermPrice", "BillingPeriods", "PeriodPrice", "MonthlyEquivalent")
_DESCRIPTIVE = ("ProductTitle", "SkuTitle", "Publisher", "Segment")


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def _paid(price_list: pd.DataFrame) -> pd.DataFrame:
    if "IsFreeTrial" in price_list.columns:
        return price_list[~price_list["IsFreeTrial"].astype(bool)]
    return price_list


def _utc(on: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(on)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _figures(term_price: Any, term: Any, plan: Any) -> tuple[int | None, Decimal | None, Decimal | None]:
    """(billing periods, period price to the cent, monthly equivalent to 4 places) of one price; Nones when the
    term or plan does not follow the rule (e.g. a P1D trial) or the price is missing."""
    try:
        periods = billing_periods(str(term), None if plan is None else str(plan))
    except ValueError:
        return None, None, None
    if term_price is None or (not isinstance(term_price, Decimal) and pd.isna(term_price)):
        return periods, None, None
    price = Decimal(term_price)
    return (periods, _cents(period_price(price, str(term), plan)),
            monthly_equivalent(price, str(term)).quantize(_FOURTH, rounding=ROUND_HALF_UP))  # fmt: skip


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
            cache[key] = _figures(price, term, plan)
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
    rows = _paid(price_list).assign(_order=np.arange(len(_paid(price_list))))
    if on is not None:
        moment = _utc(on)
        end = rows["EffectiveEndDate"]
        rows = rows[(rows["EffectiveStartDate"] <= moment) & (end.isna() | (end >= moment))]
    rows = rows.sort_values(["EffectiveStartDate", "_order"], kind="stable")
    rows = rows.drop_duplicates(list(KEY_COLUMNS), keep="last")
    return rows.drop(columns="_order").sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)


#: Columns of :func:`diff_price_lists` and :func:`diff_from_indicators`, in order.
DIFF_COLUMNS = (
    "Change", *KEY_COLUMNS, *_DESCRIPTIVE, "OldUnitPrice", "NewUnitPrice", "ChangeAmount", "ChangePercent",
    "ChangedFields",
)  # fmt: skip


def _descriptive(frame: pd.DataFrame) -> pd.DataFrame:
    missing = {c: None for c in _DESCRIPTIVE if c not in frame.columns}
    return frame.assign(**missing) if missing else frame


def _price_change(before: Decimal | None, after: Decimal | None) -> tuple[str, Decimal | None, Decimal | None]:
    if before is None:
        return "added", None, None
    if after is None:
        return "removed", None, None
    delta = after - before
    percent = _cents(delta / before * 100) if before != 0 else None
    return ("price_up" if delta > 0 else "price_down" if delta < 0 else "unchanged"), delta, percent


def _finish_diff(out: pd.DataFrame, include_unchanged: bool) -> pd.DataFrame:
    if not include_unchanged:
        out = out[out["Change"] != "unchanged"]
    out = out.assign(_rank=out["Change"].map({k: i for i, k in enumerate(CHANGE_KINDS)}))
    out = out.sort_values(["_rank", *KEY_COLUMNS], kind="stable").drop(columns="_rank")
    return out[list(DIFF_COLUMNS)].reset_index(drop=True)


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
    matched on ProductId, SkuId, TermDuration, BillingPlan, Currency. Prices are whole-term prices (the lists'
    ``UnitPrice``, :mod:`cspkit.billing.pricing`), so a P1Y/Monthly change of 0.12 is 0.01 a month.

    Returns:
        Columns :data:`DIFF_COLUMNS`: ``Change`` (``added`` | ``removed`` | ``price_up`` | ``price_down`` |
        ``unchanged``), the key columns, ``ProductTitle, SkuTitle, Publisher, Segment`` (from the new list, else
        the old; None where a frame lacks the column), ``OldUnitPrice``, ``NewUnitPrice`` (term prices, Decimal or
        None), ``ChangeAmount`` (new - old, Decimal; None for added/removed), ``ChangePercent`` (Decimal percent of
        the old price rounded to 0.01; None when old is 0 or missing), ``ChangedFields`` (``UnitPrice`` for a
        price change, else None). Sorted by Change (in :data:`CHANGE_KINDS` order), then key. Unchanged rows only
        with ``include_unchanged=True``.
    """
    keys = list(KEY_COLUMNS)
    left = _descriptive(current_prices(old, on=old_on))[[*keys, *_DESCRIPTIVE, "UnitPrice"]]
    right = _descriptive(current_prices(new, on=new_on))[[*keys, *_DESCRIPTIVE, "UnitPrice"]]
    merged = left.merge(right, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
    old_price = merged["UnitPrice_old"].astype(object).where(merged["_merge"] != "right_only", None)
    new_price = merged["UnitPrice_new"].astype(object).where(merged["_merge"] != "left_only", None)
    out = merged[keys].copy()
    for column in _DESCRIPTIVE:
        out[column] = merged[f"{column}_new"].where(merged["_merge"] != "left_only", merged[f"{column}_old"])
    out["OldUnitPrice"] = old_price.to_numpy()
    out["NewUnitPrice"] = new_price.to_numpy()
    found = [_price_change(b, a) for b, a in zip(out["OldUnitPrice"], out["NewUnitPrice"], strict=True)]
    out["Change"] = [f[0] for f in found]
    out["ChangeAmount"] = pd.Series([f[1] for f in found], index=out.index, dtype=object)
    out["ChangePercent"] = pd.Series([f[2] for f in found], index=out.index, dtype=object)
    out["ChangedFields"] = pd.Series(
        [("UnitPrice" if f[0] in ("price_up", "price_down") else None) for f in found], index=out.index, dtype=object
    )
    return _finish_diff(out, include_unchanged)


def diff_from_indicators(price_list: pd.DataFrame, *, include_unchanged: bool = False) -> pd.DataFrame:
    """What changed since last month, from one current price list that carries ``ChangeIndicator`` and
    ``PreviousValues`` (the real November 2025 US list does: 182 ``Change`` rows, 58 ``Add``).

    ``Add`` rows are ``added``. A ``Change`` row's old price is ``PreviousValues['UnitPrice']`` (a whole-term
    price like the row's own): ``price_up`` / ``price_down``, or ``changed`` when the price is the same or the row
    changed only other fields (``PreviousValues`` such as ``{'SkuTitle': '…'}``). ``Unchanged`` rows are listed only
    with ``include_unchanged``. A single file cannot tell what was removed: compare two files with
    :func:`diff_price_lists` for that. Free-trial rows are left out.

    Args:
        price_list: a frame from :func:`cspkit.billing.pricelist.read_price_list` (``PreviousValues`` parsed to
            dicts there).

    Returns:
        Columns :data:`DIFF_COLUMNS` (as :func:`diff_price_lists`; ``ChangedFields`` lists the fields named in
        ``PreviousValues``, comma-separated).

    Raises:
        ValueError: the frame has no ``ChangeIndicator`` column, or a PreviousValues UnitPrice is not a number
            (the message names the product, SKU, term and plan).
    """
    if "ChangeIndicator" not in price_list.columns:
        raise ValueError("this price list has no ChangeIndicator column: compare it with last month's list instead")
    rows = _descriptive(_paid(price_list))
    if "PreviousValues" not in rows.columns:
        rows = rows.assign(PreviousValues=None)
    if not include_unchanged:
        rows = rows[rows["ChangeIndicator"] != "Unchanged"]
    out = rows[[*KEY_COLUMNS, *_DESCRIPTIVE]].copy()
    olds, changes, amounts, percents, fields = [], [], [], [], []
    for indicator, previous, price, key in zip(
        rows["ChangeIndicator"], rows["PreviousValues"], rows["UnitPrice"],
        rows[list(KEY_COLUMNS)].itertuples(index=False, name=None), strict=True,
    ):  # fmt: skip
        previous = previous if isinstance(previous, Mapping) else {}
        fields.append(", ".join(previous) or None)
        if indicator == "Add":
            olds.append(None)
            changes.append("added")
            amounts.append(None)
            percents.append(None)
            continue
        old_text = previous.get("UnitPrice")
        try:
            before = price if old_text is None else Decimal(str(old_text).replace(",", ""))
        except ArithmeticError:
            key_text = "/".join(map(str, key))
            raise ValueError(f"{key_text}: PreviousValues UnitPrice {old_text!r} is not a number") from None
        kind, delta, percent = _price_change(before, price)
        if kind == "unchanged" and indicator == "Change":
            kind = "changed"
        olds.append(before)
        changes.append(kind)
        amounts.append(delta)
        percents.append(percent)
    out["Change"] = changes
    out["OldUnitPrice"] = pd.Series(olds, index=out.index, dtype=object)
    out["NewUnitPrice"] = pd.Series(rows["UnitPrice"].to_numpy(dtype=object), index=out.index, dtype=object)
    out["ChangeAmount"] = pd.Series(amounts, index=out.index, dtype=object)
    out["ChangePercent"] = pd.Series(percents, index=out.index, dtype=object)
    out["ChangedFields"] = pd.Series(fields, index=out.index, dtype=object)
    return _finish_diff(out, include_unchanged)


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
    frame = price_figures(_paid(price_list).reset_index(drop=True))
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
    sale = [_cents(p * (1 + m / 100)) for p, m in zip(prices, markup, strict=True)]
    if cap_at_erp and "ERPPrice" in frame:
        sale = [s if erp is None or s <= erp else erp for s, erp in zip(sale, frame["ERPPrice"], strict=True)]
    sale_period = [
        None if n is None else _cents(s / n) for s, n in zip(sale, frame["BillingPeriods"], strict=True)
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
        "SkuId": str(sku_id).strip().zfill(4) if str(sku_id).strip().isdigit() else str(sku_id).strip(),
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
    moment = _utc(on if on is not None else datetime.now(UTC))
    parsed = [_split_line(line, number) for number, line in enumerate(lines, start=1)]
    columns = list(PREVIEW_COLUMNS)
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
    figures = [_figures(u, t, p) for u, t, p in zip(unit, frame["TermDuration"], frame["BillingPlan"], strict=True)]
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
        _period=rows["BillingPlan"].map(lambda p: _PLAN_MONTHS.get(p, 0)),
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
        None if hi == 0 else _cents((hi - lo) / hi * 100)
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
        return None if part is None or not whole else _cents(part / whole * 100)

    annual, monthly_billed, month = table["P1YAnnualTermPrice"], table["P1YMonthlyTermPrice"], table["P1MPeriodPrice"]
    table["P1YAnnualMonthlyEquivalent"] = [
        None if a is None else (a / 12).quantize(_FOURTH, rounding=ROUND_HALF_UP) for a in annual
    ]
    table["P1YMonthlyPeriodPrice"] = [None if m is None else _cents(period_price(m, "P1Y", "Monthly"))
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
                "MinMonthlyEquivalent": _cents(monthly[0]),
                "MedianMonthlyEquivalent": _cents(median),
                "MaxMonthlyEquivalent": _cents(monthly[-1]),
                "PartnerDiscountPercent": _cents(sum(discounts) / len(discounts)) if discounts else None,
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=["Publisher", "Currency", "Products", "Skus", "PriceRows", "MinMonthlyEquivalent",
                 "MedianMonthlyEquivalent", "MaxMonthlyEquivalent", "PartnerDiscountPercent"],
    )  # fmt: skip
