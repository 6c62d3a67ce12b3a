"""``cspkit pricelist``: fetch, show and diff Partner Center price lists.

* ``cspkit pricelist fetch --market US --view updatedlicensebased [--month YYYY-MM]``: download through the price-sheet
  API (cached; the emulator's when no profile is configured) and print where the file is;
* ``cspkit pricelist show FILE [--product ID] [--search TEXT] [--segment NAME]``: the rows of a price list (CSV,
  zip or .xlsx) with Microsoft's price figures side by side: ``TermPrice`` (the list's UnitPrice, one seat for the
  whole term), ``BillingPeriods``, ``PeriodPrice`` (one billing period) and ``MonthlyEquivalent``
  (:mod:`cspkit.billing.pricing`);
* ``cspkit pricelist plans FILE [--product ID] [--segment NAME]``: one year of a seat paid up front, billed monthly
  on a P1Y term, and month to month, with the premiums (5 % and 20 % on Microsoft's lists);
* ``cspkit pricelist diff OLD NEW [--out FILE.xlsx]``: added / removed rows and price ups and downs;
  ``cspkit pricelist diff CURRENT``: what changed since last month from one current list's ``ChangeIndicator`` and
  ``PreviousValues`` columns (old price from PreviousValues).

Exit codes: 0 done, 2 bad usage or a malformed file (the message names the file, row and column).
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pandas as pd

from cspkit.cli.output import emit, note
from cspkit.cli.params import MONTH

__all__ = ["pricelist_group"]

SHOW_COLUMNS = [
    "ProductId", "SkuId", "ProductTitle", "SkuTitle", "Segment", "TermDuration", "BillingPlan", "Currency",
    "TermPrice", "BillingPeriods", "PeriodPrice", "MonthlyEquivalent", "ERPPrice", "EffectiveStartDate",
    "EffectiveEndDate", "IsFreeTrial",
]  # fmt: skip
DIFF_COLUMNS = [
    "Change", "ProductId", "SkuId", "ProductTitle", "SkuTitle", "Segment", "TermDuration", "BillingPlan", "Currency",
    "OldUnitPrice", "NewUnitPrice", "ChangeAmount", "ChangePercent", "ChangedFields",
]  # fmt: skip
PLAN_COLUMNS = [
    "ProductId", "SkuId", "SkuTitle", "Segment", "Currency", "P1YAnnualTermPrice", "P1YAnnualMonthlyEquivalent",
    "P1YMonthlyTermPrice", "P1YMonthlyPeriodPrice", "P1MPeriodPrice", "P1MYearTotal", "MonthlyBillingPremiumPercent",
    "MonthToMonthPremiumPercent",
]  # fmt: skip
#: the money columns of each table, each in the row's Currency (shown as "60.48 USD" in tables; CSV/JSON unchanged)
SHOW_MONEY = {c: "Currency" for c in ("TermPrice", "PeriodPrice", "MonthlyEquivalent", "ERPPrice")}
DIFF_MONEY = {c: "Currency" for c in ("OldUnitPrice", "NewUnitPrice", "ChangeAmount")}
PLAN_MONEY = {c: "Currency" for c in PLAN_COLUMNS if "Price" in c or "Equivalent" in c or c.endswith("YearTotal")}
_SEARCHED = ("ProductId", "ProductTitle", "SkuTitle", "SkuDescription", "Publisher")


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """DataFrame rows as dicts with Python values: Timestamp → datetime, NaT/NA → None."""
    rows: list[dict[str, Any]] = []
    for values in frame[columns].itertuples(index=False, name=None):
        row = {}
        for column, value in zip(columns, values, strict=True):
            if isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            elif value is not None and not isinstance(value, (str, Decimal, bool)) and pd.isna(value):
                value = None
            row[column] = value
        rows.append(row)
    return rows


def _filtered(frame: pd.DataFrame, product_id: str | None, segment: str | None) -> pd.DataFrame:
    if product_id:
        frame = frame[frame["ProductId"].str.upper() == product_id.strip().upper()]
    if segment:
        wanted = segment.strip().casefold()
        segments = frame["Segment"].fillna("").str.strip()
        if frame["Segment"].isna().all():
            raise click.BadParameter("this price list has no Segment column", param_hint="--segment")
        frame = frame[segments.str.casefold() == wanted]
    return frame


def write_xlsx_atomic(frame: pd.DataFrame, path: Path, *, sheet_name: str = "Changes") -> None:
    """Write ``frame`` to ``path`` as .xlsx via a temporary file in the same folder and :func:`os.replace`.

    Decimal money becomes Excel numbers with two decimals; tz-aware times become naive UTC.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert("UTC").dt.tz_localize(None)
        elif out[column].dtype == object:
            out[column] = out[column].map(lambda v: float(v) if isinstance(v, Decimal) else v)
    temp_name = str(path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.xlsx"))
    try:
        with pd.ExcelWriter(temp_name, engine="xlsxwriter") as writer:
            out.to_excel(writer, sheet_name=sheet_name, index=False)
            sheet = writer.sheets[sheet_name]
            money = writer.book.add_format({"num_format": "#,##0.00"})
            for position, column in enumerate(out.columns):
                width = min(60, max(10, len(str(column)) + 2, int(out[column].astype(str).str.len().max() or 0) + 2))
                is_money = column.endswith(("Price", "Amount", "Percent"))
                sheet.set_column(position, position, width, money if is_money else None)
            sheet.autofilter(0, 0, max(len(out), 1), max(len(out.columns) - 1, 0))
            sheet.freeze_panes(1, 0)
        os.replace(temp_name, path)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)



@click.group("pricelist")
def pricelist_group() -> None:
    """Fetch, show and compare Partner Center price lists (new commerce and marketplace)."""


@pricelist_group.command("fetch")
@click.option("--market", required=True, help="ISO 3166 two-letter country code of the market, e.g. US.")
@click.option(
    "--view", type=click.Choice(["updatedlicensebased", "marketplace"], case_sensitive=False),
    default="updatedlicensebased", show_default=True,
    help="New-commerce licence-based or marketplace list, e.g. --view marketplace.",
)  # fmt: skip
@click.option("--month", type=MONTH, help="Price list month, e.g. 2026-11 (202611 works too; default: this month).")
@click.option(
    "--timeline", type=click.Choice(["current", "history", "future"], case_sensitive=False), default="current",
    show_default=True, help="future = next month's preview (new commerce only), e.g. --timeline future.",
)  # fmt: skip
@click.option("--refresh", is_flag=True, help="Download again even when a cached copy exists.")
@click.pass_obj
def fetch(state: Any, market: str, view: str, month: str | None, timeline: str, refresh: bool) -> None:
    """Download a price list through the price-sheet API (cached) and print where it is."""
    from cspkit.billing.pricelist import read_price_list

    if timeline.lower() == "future" and view.lower() == "marketplace":
        raise click.BadParameter("the marketplace view has no future timeline", param_hint="--timeline")
    if len(market.strip()) != 2 or not market.strip().isalpha():
        raise click.BadParameter("expected a two-letter country code, e.g. US", param_hint="--market")
    client = state.client()
    month = month.replace("-", "") if month else None  # the price-sheet API's YYYYMM
    path = client.pricesheets.get(market, view.lower(), timeline.lower(), month, refresh=refresh)
    frame = read_price_list(path)
    row = {
        "File": str(path),
        "Market": market.upper(),
        "View": view.lower(),
        "Timeline": timeline.lower(),
        "Rows": len(frame),
        "Products": frame["ProductId"].nunique(),
        "FreeTrialRows": int(frame["IsFreeTrial"].sum()),
    }
    emit([row], columns=list(row), fmt=state.output, title="Price list")


@pricelist_group.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--product", "product_id", help="Only this ProductId (any case), e.g. CFQ7TTC0LH18.")
@click.option("--search", help="Only rows whose product/SKU title, description, publisher or id contain TEXT, "
                                "e.g. --search \"Business Basic\".")
@click.option("--segment", help="Only this Segment (Commercial, Education, Charity, Government; any case), "
                                 "e.g. Education.")
@click.option("--include-trials/--no-trials", default=True, show_default=True, help="Show free-trial rows.")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many rows, e.g. --limit 20.")
@click.pass_obj
def show(
    state: Any, file: Path, product_id: str | None, search: str | None, segment: str | None,
    include_trials: bool, limit: int | None,
) -> None:  # fmt: skip
    """Show the rows of a price list FILE (CSV, zipped CSV or .xlsx) with term price, price per billing period
    and monthly equivalent."""
    from cspkit.billing.pricelist import read_price_list
    from cspkit.billing.pricelist_analysis import price_figures

    frame = _filtered(read_price_list(file), product_id, segment)
    if search:
        needle = search.casefold()
        hit = pd.Series(False, index=frame.index)
        for column in _SEARCHED:
            hit |= frame[column].fillna("").str.casefold().str.contains(needle, regex=False)
        frame = frame[hit]
    if not include_trials:
        frame = frame[~frame["IsFreeTrial"]]
    total = len(frame)
    if limit is not None:
        frame = frame.head(limit)
    frame = price_figures(frame)
    emit(_records(frame, SHOW_COLUMNS), columns=SHOW_COLUMNS, fmt=state.output, title=str(file), money=SHOW_MONEY)
    if limit is not None and total > limit:
        note(f"({limit} of {total} rows shown)")


@pricelist_group.command("plans")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--product", "product_id", help="Only this ProductId (any case), e.g. CFQ7TTC0LH18.")
@click.option("--segment", help="Only this Segment (Commercial, Education, Charity, Government; any case), "
                                 "e.g. Education.")
@click.pass_obj
def plans(state: Any, file: Path, product_id: str | None, segment: str | None) -> None:
    """A year of one seat three ways: P1Y paid up front, P1Y billed monthly, P1M month to month.

    Term prices, the monthly bill and the monthly equivalent side by side, with the premiums of monthly billing
    (5 % on Microsoft's lists) and of month-to-month terms (20 %)."""
    from cspkit.billing.pricelist import read_price_list
    from cspkit.billing.pricelist_analysis import compare_billing_plans

    table = compare_billing_plans(_filtered(read_price_list(file), product_id, segment))
    emit(_records(table, PLAN_COLUMNS), columns=PLAN_COLUMNS, fmt=state.output, title=f"Billing plans: {file}",
         money=PLAN_MONEY)


@pricelist_group.command("diff")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the changes to this .xlsx workbook (written to a temporary file, then renamed), "
         "e.g. --out reports/price-changes.xlsx.",
)  # fmt: skip
@click.option("--include-unchanged", is_flag=True, help="List unchanged prices too.")
@click.pass_obj
def diff(state: Any, old: Path, new: Path | None, out: Path | None, include_unchanged: bool) -> None:
    """Compare two price lists OLD NEW: added, removed, price up and price down (per product/SKU/term/plan).

    With one file, what changed since last month according to its ChangeIndicator and PreviousValues columns
    (current Partner Center lists carry them): the old price comes from PreviousValues."""
    from cspkit.billing.pricelist import read_price_list
    from cspkit.billing.pricelist_analysis import diff_from_indicators, diff_price_lists

    if out is not None and out.suffix.lower() != ".xlsx":
        raise click.BadParameter("the workbook name must end in .xlsx", param_hint="--out")
    if new is None:
        current = read_price_list(old)
        if "ChangeIndicator" not in current.columns:
            raise click.UsageError(
                f"{old} has no ChangeIndicator column, so one file cannot tell what changed: give last month's "
                "list too (cspkit pricelist diff OLD NEW)"
            )
        changes = diff_from_indicators(current, include_unchanged=include_unchanged)
        title, kinds = f"{old}: changes since last month", ("added", "price_up", "price_down", "changed")
    else:
        changes = diff_price_lists(read_price_list(old), read_price_list(new), include_unchanged=include_unchanged)
        title, kinds = f"{old} → {new}", ("added", "removed", "price_up", "price_down")
    emit(_records(changes, DIFF_COLUMNS), columns=DIFF_COLUMNS, fmt=state.output, title=title, money=DIFF_MONEY)
    counts = changes["Change"].value_counts()
    note(", ".join(f"{counts.get(k, 0)} {k.replace('_', ' ')}" for k in kinds))
    if out is not None:
        write_xlsx_atomic(changes, out)
        note(f"Wrote {out}")
