"""Microsoft's price rule and the real files' other lessons, on the real November 2025 files of ../shared/realdata/.

The files are read where they are (public data we do not redistribute: never copied into this repository); every
test here skips with the reason when that folder is absent."""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cspkit.billing.pricelist import read_price_list
from cspkit.billing.pricelist_analysis import (
    cheapest_terms,
    compare_billing_plans,
    diff_from_indicators,
    preview_cart_cost,
    price_figures,
)
from cspkit.billing.recon_columns import CREDIT_TYPES, DAILY_USAGE_COLUMNS
from cspkit.billing.recon_readers import read_recon
from cspkit.cli.main import cli

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
PRICE_LIST = REALDATA / "nce-pricelist-US-2025-11.csv"
DAILY = REALDATA / "daily-rated-usage-2025-11-subset.csv"
D = Decimal


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"real file {path.name} not found in ../shared/realdata/ (the shared folder beside the repository)")
    return path


@pytest.fixture(scope="module")
def real_list() -> pd.DataFrame:
    return read_price_list(need(PRICE_LIST))


def business_basic(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["ProductId"] == "CFQ7TTC0LH18") & (frame["SkuId"] == "0001")]


def test_business_basic_term_period_and_monthly_figures(real_list: pd.DataFrame) -> None:
    rows = price_figures(business_basic(real_list)).set_index(["TermDuration", "BillingPlan"])
    assert set(rows["Segment"]) == {"Commercial"}
    got = {key: (row.TermPrice, row.BillingPeriods, row.PeriodPrice, row.MonthlyEquivalent)
           for key, row in rows.iterrows()}  # fmt: skip
    assert got == {
        ("P1Y", "Annual"): (D("57.6"), 1, D("57.60"), D("4.8000")),  # 57.60 a year, billed once
        ("P1Y", "Monthly"): (D("60.48"), 12, D("5.04"), D("5.0400")),  # 60.48 a year = 5.04 a month
        ("P1M", "Monthly"): (D("5.76"), 1, D("5.76"), D("5.7600")),  # 5.76 a month
    }


def test_compare_billing_plans_shows_the_5_and_20_percent_premiums(real_list: pd.DataFrame) -> None:
    table = compare_billing_plans(real_list)
    [basic] = business_basic(table).itertuples()
    assert (basic.P1YAnnualTermPrice, basic.P1YMonthlyTermPrice, basic.P1YMonthlyPeriodPrice, basic.P1MPeriodPrice,
            basic.P1MYearTotal) == (D("57.6"), D("60.48"), D("5.04"), D("5.76"), D("69.12"))  # fmt: skip
    assert (basic.MonthlyBillingPremium, basic.MonthlyBillingPremiumPercent) == (D("2.88"), D("5.00"))
    assert (basic.MonthToMonthPremium, basic.MonthToMonthPremiumPercent) == (D("11.52"), D("20.00"))
    # the same premiums across the list: 1,247 SKUs with both P1Y plans, most within 0.1 point of 5 % (prices are
    # rounded to the cent); 20 % is the usual month-to-month premium (886 of 1,172 SKUs; 88 SKUs show 11.11 %)
    monthly = table["MonthlyBillingPremiumPercent"].dropna()
    month_to_month = table["MonthToMonthPremiumPercent"].dropna()
    assert len(monthly) == 1247 and ((monthly - D(5)).abs() <= D("0.1")).mean() > 0.85
    assert month_to_month.value_counts().index[0] == D("20.00")


def test_cheapest_terms_pick_p1y_annual_for_business_basic(real_list: pd.DataFrame) -> None:
    [row] = business_basic(cheapest_terms(real_list)).itertuples()
    assert (row.TermDuration, row.BillingPlan, row.TermPrice, row.MonthlyEquivalent,
            row.MostExpensiveMonthlyEquivalent, row.SavingPercent, row.Options) == (
        "P1Y", "Annual", D("57.6"), D("4.8000"), D("5.7600"), D("16.67"), 3)  # fmt: skip


def test_preview_ten_seats_p1y_billed_monthly(real_list: pd.DataFrame) -> None:
    line = {"catalog_item_id": "CFQ7TTC0LH18:1:CFQ7TTC0K59J", "quantity": 10, "term_duration": "P1Y",
            "billing_cycle": "monthly", "currency": "USD"}  # fmt: skip
    [row] = preview_cart_cost(real_list, [line], on="2025-11-15").itertuples()
    assert (row.SkuId, row.TermPrice, row.BillingPeriods, row.PeriodPrice, row.PeriodTotal, row.TermTotal) == (
        "0001", D("60.48"), 12, D("5.04"), D("50.40"), D("604.80"))  # fmt: skip


def test_change_indicator_and_previous_values_are_understood(real_list: pd.DataFrame) -> None:
    assert real_list["ChangeIndicator"].value_counts().to_dict() == {"Unchanged": 4130, "Change": 182, "Add": 58}
    previous = real_list["PreviousValues"].dropna()
    assert len(previous) == 182 and all(isinstance(p, dict) for p in previous)
    changes = diff_from_indicators(real_list).set_index(["ProductId", "SkuId", "TermDuration", "BillingPlan"])
    row = changes.loc[("CFQ7TTC0LH18", "000P", "P1Y", "Annual")]  # Business Basic (no Teams)
    assert (row["Change"], row["OldUnitPrice"], row["NewUnitPrice"], row["ChangeAmount"], row["ChangePercent"],
            row["ChangedFields"]) == ("price_down", D("46.08"), D("42.24"), D("-3.84"), D("-8.33"),
                                      "ERP Price, UnitPrice")  # fmt: skip
    assert changes.loc[("CFQ7TTC0LH18", "001H", "P1M", "Monthly"), "Change"] == "added"
    counts = changes["Change"].value_counts().to_dict()
    assert counts["changed"] > 0 and counts["price_up"] > 0  # title-only changes are listed as such


def run(*args: str, tmp_path: Path):
    env = {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull, "CSPKIT_DATABASE_URL": ""}
    return CliRunner().invoke(cli, list(args), env=env)


def test_cli_diff_from_the_single_real_file(tmp_path: Path) -> None:
    result = run("-o", "csv", "pricelist", "diff", str(need(PRICE_LIST)), tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    [row] = [r for r in rows if (r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"]) ==
             ("CFQ7TTC0LH18", "000P", "P1Y", "Monthly")]  # fmt: skip
    assert (row["Change"], row["OldUnitPrice"], row["NewUnitPrice"], row["Segment"]) == (
        "price_down", "48.36", "44.4", "Commercial")  # fmt: skip
    assert "price up" in result.stderr and "changed" in result.stderr


def test_cli_show_filters_by_segment(tmp_path: Path, real_list: pd.DataFrame) -> None:
    result = run("-o", "csv", "pricelist", "show", str(PRICE_LIST), "--segment", "education", tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["Segment"] for r in rows} == {"Education"}
    assert len(rows) == int((real_list["Segment"] == "Education").sum()) == 1467


def test_reconcile_refuses_the_daily_usage_file_naming_it(tmp_path: Path) -> None:
    result = run("reconcile", "--file", str(need(DAILY)), "--out", str(tmp_path / "r.xlsx"), tmp_path=tmp_path)
    assert result.exit_code == 2
    assert "daily rated usage file" in result.stderr and "invoice reconciliation file" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "r.xlsx").exists()


def test_the_daily_reader_takes_the_real_header_order_and_values() -> None:
    with need(DAILY).open(encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle))
    assert header == list(DAILY_USAGE_COLUMNS)  # ..., CreditType, BenefitId, BenefitOrderId, BenefitType
    usage = read_recon(DAILY)
    assert (usage.kind, usage.rows_read, usage.missing_columns, usage.extra_columns, usage.warnings) == (
        "daily", 3367, [], [], [])  # fmt: skip
    frame = usage.frame
    assert set(frame["ChargeType"]) == {"usage"}
    assert set(frame["CreditType"]) <= set(CREDIT_TYPES)
    assert set(frame["BenefitType"]) == {"Charge"}
    applied = frame[frame["CreditType"] == "Partner Earned Credit Applied"]
    assert set(applied["PartnerEarnedCreditPercentage"]) == {D("15")}
