"""Month-over-month price-list changes: from two lists, or from one current list's ChangeIndicator/PreviousValues.

Price semantics: Microsoft's rule, defined once in :mod:`cspkit.billing.pricing` (sources there: Microsoft Learn
"New commerce license-based pricing and offers", the real November 2025 US price list, the invoice reconciliation
samples): ``UnitPrice`` is one seat for the whole term, billed in ``billing_periods(term, plan)`` equal periods.
Prices compared are whole-term prices. The ``ChangeIndicator`` / ``PreviousValues`` columns are those of the real
November 2025 US list (``../shared/realdata/nce-pricelist-US-2025-11.csv``, read by
:mod:`cspkit.billing.pricelist_changes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from cspkit.billing.pricelist import KEY_COLUMNS
from cspkit.billing.pricelist_figures import cents, current_prices, paid_rows

__all__ = ["CHANGE_KINDS", "DIFF_COLUMNS", "diff_from_indicators", "diff_price_lists"]

#: Values of the ``Change`` column of :func:`diff_price_lists` / :func:`diff_from_indicators` (``changed``: the
#: price is the same, other fields such as a title changed).
CHANGE_KINDS = ("added", "removed", "price_up", "price_down", "changed", "unchanged")
_DESCRIPTIVE = ("ProductTitle", "SkuTitle", "Publisher", "Segment")


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
    percent = cents(delta / before * 100) if before != 0 else None
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
    rows = _descriptive(paid_rows(price_list))
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


