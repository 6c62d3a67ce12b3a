"""Price-list analysis: diff, margin rules, cart cost preview, billing-plan comparison (exact values).

Figures under Microsoft's price rule (UnitPrice = the whole term) are asserted on a list built here; the same on the
real November 2025 US list in test_realdata_prices.py."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from cspkit.billing.pricelist import read_price_list
from cspkit.billing.pricelist_analysis import (
    DIFF_COLUMNS,
    FIGURE_COLUMNS,
    PLAN_COMPARISON_COLUMNS,
    PREVIEW_COLUMNS,
    MarkupRule,
    apply_margin,
    billing_periods,
    cheapest_terms,
    compare_billing_plans,
    current_prices,
    diff_from_indicators,
    diff_price_lists,
    preview_cart_cost,
    price_figures,
    publisher_summary,
)
from cspkit.errors import InputFileError

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
D = Decimal


@pytest.fixture(scope="module")
def october() -> pd.DataFrame:
    return read_price_list(SAMPLE / "pricelist_nce_US_202610.csv")


@pytest.fixture(scope="module")
def november() -> pd.DataFrame:
    return read_price_list(SAMPLE / "pricelist_nce_US_202611.csv")


def test_diff_october_to_november(october: pd.DataFrame, november: pd.DataFrame) -> None:
    changes = diff_price_lists(october, november)
    got = [
        (r.Change, r.ProductId, r.SkuId, r.TermDuration, r.BillingPlan, r.OldUnitPrice, r.NewUnitPrice,
         r.ChangeAmount, r.ChangePercent)
        for r in changes.itertuples()
    ]  # fmt: skip
    assert got == [
        ("added", "CFQ7TTC0HDK0", "0001", "P1M", "Monthly", None, D("14.40"), None, None),
        ("removed", "CFQ7TTC0LH1G", "0002", "P1M", "Monthly", D("9.90"), None, None, None),
        ("removed", "CFQ7TTC0LH1G", "0002", "P1Y", "Annual", D("99.00"), None, None, None),
        ("removed", "CFQ7TTC0LH1G", "0002", "P1Y", "Monthly", D("103.95"), None, None, None),
        ("price_up", "CFQ7TTC0LCHC", "0002", "P1Y", "Annual", D("144.00"), D("150.00"), D("6.00"), D("4.17")),
        ("price_up", "CFQ7TTC0LH18", "0001", "P1M", "Monthly", D("6.90"), D("7.20"), D("0.30"), D("4.35")),
        ("price_down", "CFQ7TTC0LFLZ", "0002", "P1Y", "Annual", D("288.00"), D("276.00"), D("-12.00"), D("-4.17")),
    ]
    assert changes.loc[1, "ProductTitle"] == "Microsoft 365 Apps for business"  # title kept for removed rows


def test_diff_ignores_trials_and_can_list_unchanged(october: pd.DataFrame, november: pd.DataFrame) -> None:
    changes = diff_price_lists(october, november, include_unchanged=True)
    assert changes["Change"].value_counts().to_dict() == {
        "unchanged": 11, "removed": 3, "price_up": 2, "added": 1, "price_down": 1,
    }  # fmt: skip
    # the E3 trial row (October only) is not reported as removed
    assert not ((changes["BillingPlan"] == "None") & (changes["ProductId"] == "CFQ7TTC0LFLZ")).any()


def test_current_prices_on_a_date_uses_the_overlap_rule(october: pd.DataFrame) -> None:
    key = (october["ProductId"] == "CFQ7TTC0LDPB") & (october["BillingPlan"] == "Annual")
    before = current_prices(october[key], on="2025-12-01")
    during = current_prices(october[key], on="2026-06-01")
    assert before["UnitPrice"].tolist() == [D("252.00")]
    assert during["UnitPrice"].tolist() == [D("264.00")]  # both in force: latest start wins


# A list built here under Microsoft's rule (UnitPrice = one seat for the whole term; the premiums of the real lists:
# P1Y/Monthly = 1.05 × P1Y/Annual, 12 × P1M = 1.2 × P1Y/Annual, P3Y/Monthly = 1.05 × P3Y/Triennial = 1.05 × P3Y/Annual).
BUILT_HEADER = ["ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher", "TermDuration", "BillingPlan",
                "Currency", "UnitPrice", "EffectiveStartDate", "EffectiveEndDate", "Tags", "ERP Price", "Segment"]
BUILT_ROWS = [
    ("Microsoft 365 Business Basic", "CFQ7TTC0LH18", "0001", "Microsoft 365 Business Basic", "Microsoft Corporation",
     "P1Y", "Annual", "USD", "57.6", "72", "Commercial"),
    ("Microsoft 365 Business Basic", "CFQ7TTC0LH18", "0001", "Microsoft 365 Business Basic", "Microsoft Corporation",
     "P1Y", "Monthly", "USD", "60.48", "75.6", "Commercial"),
    ("Microsoft 365 Business Basic", "CFQ7TTC0LH18", "0001", "Microsoft 365 Business Basic", "Microsoft Corporation",
     "P1M", "Monthly", "USD", "5.76", "7.2", "Commercial"),
    ("Microsoft 365 Business Basic", "CFQ7TTC0LH18", "0001", "Microsoft 365 Business Basic", "Microsoft Corporation",
     "P1M", "None", "USD", "0", "0", "Commercial"),  # trial
    ("Office 365 E3", "CFQ7TTC0LFLZ", "0002", "Office 365 E3", "Microsoft Corporation", "P1Y", "Annual", "USD",
     "276", "345", "Commercial"),
    ("Office 365 E3", "CFQ7TTC0LFLZ", "0002", "Office 365 E3", "Microsoft Corporation", "P1Y", "Monthly", "USD",
     "289.8", "362.25", "Commercial"),
    ("Office 365 E3", "CFQ7TTC0LFLZ", "0002", "Office 365 E3", "Microsoft Corporation", "P1M", "Monthly", "USD",
     "27.6", "34.5", "Commercial"),
    ("Office 365 E3", "CFQ7TTC0LFLZ", "0002", "Office 365 E3", "Microsoft Corporation", "P3Y", "Triennial", "USD",
     "792", "990", "Commercial"),
    ("Office 365 E3", "CFQ7TTC0LFLZ", "0002", "Office 365 E3", "Microsoft Corporation", "P3Y", "Annual", "USD",
     "792", "990", "Commercial"),
    ("Office 365 E3", "CFQ7TTC0LFLZ", "0002", "Office 365 E3", "Microsoft Corporation", "P3Y", "Monthly", "USD",
     "831.6", "1039.5", "Commercial"),
    ("Office 365 E3 (Education)", "CFQ7TTC0LFLZ", "0005", "Office 365 E3 Faculty", "Microsoft Corporation", "P1Y",
     "Annual", "USD", "96", "120", "Education"),
    ("Helpdesk SaaS", "DZH318Z0SA01", "0001", "Helpdesk Standard", "Contoso Ltd", "P1M", "Monthly", "USD", "8",
     "10", ""),
    ("Helpdesk SaaS", "DZH318Z0SA01", "0001", "Helpdesk Standard", "Contoso Ltd", "P1Y", "Annual", "USD", "86.4",
     "", ""),
    ("Helpdesk SaaS", "DZH318Z0SA01", "0001", "Helpdesk Standard", "Contoso Ltd", "P1Y", "Monthly", "USD", "90.72",
     "", ""),
    ("Backup Vault", "DZH318Z0SA02", "0001", "Backup Vault 1 TB", "Fabrikam, Inc.", "P1Y", "Annual", "USD",
     "855.36", "", ""),
]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("built") / "pricelist.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(BUILT_HEADER)
        for title, product, sku, sku_title, publisher, term, plan, currency, price, erp, segment in BUILT_ROWS:
            tags = "License;Trial" if plan == "None" else "License"
            writer.writerow([title, product, sku, sku_title, publisher, term, plan, currency, price,
                             "2025-04-01T00:00:00.0000000Z", "9999-11-30T23:59:59.0000000Z", tags, erp, segment])
    return read_price_list(path)


def test_price_figures_follow_the_rule(built: pd.DataFrame) -> None:
    figures = price_figures(built).set_index(["ProductId", "SkuId", "TermDuration", "BillingPlan"])
    got = {
        key: tuple(figures.loc[("CFQ7TTC0LFLZ", "0002", *key), list(FIGURE_COLUMNS)])
        for key in [("P1Y", "Annual"), ("P1Y", "Monthly"), ("P1M", "Monthly"), ("P3Y", "Triennial"),
                    ("P3Y", "Annual"), ("P3Y", "Monthly")]
    }  # fmt: skip
    assert got == {
        ("P1Y", "Annual"): (D("276"), 1, D("276.00"), D("23.0000")),
        ("P1Y", "Monthly"): (D("289.8"), 12, D("24.15"), D("24.1500")),
        ("P1M", "Monthly"): (D("27.6"), 1, D("27.60"), D("27.6000")),
        ("P3Y", "Triennial"): (D("792"), 1, D("792.00"), D("22.0000")),
        ("P3Y", "Annual"): (D("792"), 3, D("264.00"), D("22.0000")),
        ("P3Y", "Monthly"): (D("831.6"), 36, D("23.10"), D("23.1000")),
    }
    assert list(FIGURE_COLUMNS) == ["TermPrice", "BillingPeriods", "PeriodPrice", "MonthlyEquivalent"]


def test_margin_rules_most_specific_wins(built: pd.DataFrame) -> None:
    rules = [
        {"publisher": "microsoft corporation", "markup_percent": "10"},
        MarkupRule(markup_percent=D("15"), product_id="cfq7ttc0lflz"),
        {"product_id": "CFQ7TTC0LFLZ", "sku_id": "2", "markup_percent": 20},  # Excel-style SKU id
        {"publisher": "Contoso Ltd", "markup_percent": "25"},
        {"publisher": "Contoso Ltd", "markup_percent": "30"},  # same level, later wins
    ]
    result = apply_margin(built, rules, default_markup_percent=5).set_index(
        ["ProductId", "SkuId", "TermDuration", "BillingPlan"])  # fmt: skip
    columns = ["MarkupRule", "MarkupPercent", "SaleTermPrice", "SalePeriodPrice", "TermMargin", "PeriodMargin",
               "MarginPercent"]  # fmt: skip
    e3 = result.loc[("CFQ7TTC0LFLZ", "0002", "P1Y", "Monthly"), columns]
    # 289.80 × 1.2 = 347.76 for the year, billed 28.98 a month (the cost is 24.15 a month)
    assert tuple(e3) == ("sku CFQ7TTC0LFLZ:0002", D("20"), D("347.76"), D("28.98"), D("57.96"), D("4.83"),
                         D("16.67"))  # fmt: skip
    basic = result.loc[("CFQ7TTC0LH18", "0001", "P1Y", "Monthly"), columns]
    # 60.48 × 1.1 = 66.528 → 66.53 a year; ÷ 12 = 5.544 → 5.54 a month against a 5.04 cost
    assert tuple(basic) == ("publisher microsoft corporation", D("10"), D("66.53"), D("5.54"), D("6.05"),
                            D("0.50"), D("9.09"))  # fmt: skip
    faculty = result.loc[("CFQ7TTC0LFLZ", "0005", "P1Y", "Annual")]
    assert (faculty["MarkupRule"], faculty["SaleTermPrice"]) == ("product CFQ7TTC0LFLZ", D("110.40"))
    contoso = result.loc[("DZH318Z0SA01", "0001", "P1M", "Monthly")]
    assert (contoso["MarkupRule"], contoso["SaleTermPrice"]) == ("publisher Contoso Ltd", D("10.40"))
    fabrikam = result.loc[("DZH318Z0SA02", "0001", "P1Y", "Annual")]
    assert (fabrikam["MarkupRule"], fabrikam["SaleTermPrice"]) == ("default", D("898.13"))  # 855.36 × 1.05
    assert len(result) == len(built) - 1  # the trial row is not priced


def test_margin_capped_at_erp(built: pd.DataFrame) -> None:
    result = apply_margin(built, default_markup_percent=30, cap_at_erp=True)
    row = result[(result["ProductId"] == "DZH318Z0SA01") & (result["TermDuration"] == "P1M")].iloc[0]
    assert (row["TermPrice"], row["ERPPrice"], row["SaleTermPrice"], row["TermMargin"]) == (
        D("8"), D("10"), D("10"), D("2"))  # fmt: skip
    annual = result[(result["ProductId"] == "DZH318Z0SA01") & (result["BillingPlan"] == "Annual")].iloc[0]
    assert annual["SaleTermPrice"] == D("112.32")  # no ERP price: no cap


def test_preview_cart_cost(built: pd.DataFrame) -> None:
    lines = [
        {"catalog_item_id": "CFQ7TTC0LFLZ:0002:CFQ7TTC0J1FV", "quantity": 10, "term_duration": "P1Y",
         "billing_cycle": "monthly", "currency": "USD"},
        {"product_id": "CFQ7TTC0LH18", "sku_id": "1", "quantity": 3, "term_duration": "p1y",
         "billing_cycle": "Annual", "currency": "usd"},
        {"product_id": "CFQ7TTC0LFLZ", "sku_id": "0002", "quantity": 2, "term_duration": "P3Y",
         "billing_cycle": "monthly", "currency": "USD"},
        {"product_id": "CFQ7TTC0LFLZ", "sku_id": "0002", "quantity": 2, "term_duration": "P3Y",
         "billing_cycle": "annual", "currency": "USD"},
        {"product_id": "CFQ7TTC0LFLZ", "sku_id": "0002", "quantity": 2, "term_duration": "P1M",
         "billing_cycle": "monthly", "currency": "EUR"},
    ]  # fmt: skip
    preview = preview_cart_cost(built, lines, on="2026-11-20")
    assert list(preview.columns) == list(PREVIEW_COLUMNS)
    got = [
        (r.ProductId, r.SkuId, r.BillingPlan, r.Quantity, r.TermPrice, r.BillingPeriods, r.PeriodPrice,
         r.MonthlyEquivalent, r.PeriodTotal, r.TermTotal, r.PriceFound)
        for r in preview.itertuples()
    ]  # fmt: skip
    assert got == [
        ("CFQ7TTC0LFLZ", "0002", "Monthly", 10, D("289.8"), 12, D("24.15"), D("24.1500"), D("241.50"), D("2898.0"),
         True),
        ("CFQ7TTC0LH18", "0001", "Annual", 3, D("57.6"), 1, D("57.60"), D("4.8000"), D("172.80"), D("172.8"), True),
        ("CFQ7TTC0LFLZ", "0002", "Monthly", 2, D("831.6"), 36, D("23.10"), D("23.1000"), D("46.20"), D("1663.2"),
         True),
        ("CFQ7TTC0LFLZ", "0002", "Annual", 2, D("792"), 3, D("264.00"), D("22.0000"), D("528.00"), D("1584"), True),
        ("CFQ7TTC0LFLZ", "0002", "Monthly", 2, None, 1, None, None, None, None, False),  # no EUR in a US list
    ]  # fmt: skip
    assert preview.loc[0, "SkuTitle"] == "Office 365 E3"
    # every line bills its term total over its periods
    for row in preview.iloc[:4].itertuples():
        assert row.PeriodTotal * row.BillingPeriods == row.TermTotal


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"quantity": 1, "term_duration": "P1Y", "billing_cycle": "monthly", "currency": "USD"}, "give catalog_item"),
        ({"catalog_item_id": "A:B", "quantity": 1, "term_duration": "P1Y", "billing_cycle": "monthly",
          "currency": "USD"}, "productId:skuId:availabilityId"),
        ({"product_id": "P", "sku_id": "1", "quantity": 0, "term_duration": "P1Y", "billing_cycle": "monthly",
          "currency": "USD"}, "whole number >= 1"),
        ({"product_id": "P", "sku_id": "1", "quantity": 1, "term_duration": "P1M", "billing_cycle": "annual",
          "currency": "USD"}, "cannot be billed annual"),
        ({"product_id": "P", "sku_id": "1", "quantity": 1, "term_duration": "P1M", "billing_cycle": "weekly",
          "currency": "USD"}, "unknown billing_cycle"),
        ({"product_id": "P", "sku_id": "1", "quantity": 1, "term_duration": "P1M", "billing_cycle": "monthly"},
         "missing currency"),
    ],
)  # fmt: skip
def test_preview_rejects_bad_lines(november: pd.DataFrame, line: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        preview_cart_cost(november, [line], on="2026-11-20")
    assert "cart line 1" in str(info.value)


def test_billing_periods() -> None:
    assert [billing_periods(t, p) for t, p in [("P1M", "Monthly"), ("P1Y", "Monthly"), ("P1Y", "Annual"),
                                              ("P3Y", "Annual"), ("P3Y", "Triennial"), ("P3Y", "monthly"),
                                              ("P1M", "None")]] == [1, 12, 1, 3, 1, 36, 1]  # fmt: skip


def test_compare_billing_plans_shows_the_premiums(built: pd.DataFrame) -> None:
    table = compare_billing_plans(built)
    assert list(table.columns) == list(PLAN_COMPARISON_COLUMNS)
    rows = table.set_index(["ProductId", "SkuId"])
    basic = rows.loc[("CFQ7TTC0LH18", "0001")]
    assert tuple(basic[list(PLAN_COMPARISON_COLUMNS[7:])]) == (
        D("57.6"), D("4.8000"), D("60.48"), D("5.04"), D("5.76"), D("69.12"), D("2.88"), D("5.00"), D("11.52"),
        D("20.00"),
    )  # fmt: skip
    e3 = rows.loc[("CFQ7TTC0LFLZ", "0002")]
    assert (e3["P1YMonthlyPeriodPrice"], e3["MonthlyBillingPremiumPercent"], e3["MonthToMonthPremiumPercent"]) == (
        D("24.15"), D("5.00"), D("20.00"))  # fmt: skip
    assert e3["Segment"] == "Commercial" and rows.loc[("CFQ7TTC0LFLZ", "0005"), "Segment"] == "Education"
    backup = rows.loc[("DZH318Z0SA02", "0001")]  # annual only: no premium to show
    assert (backup["P1YMonthlyTermPrice"], backup["MonthlyBillingPremium"], backup["P1MYearTotal"]) == (
        None, None, None)  # fmt: skip


def test_cheapest_terms_and_publishers(built: pd.DataFrame) -> None:
    cheapest = cheapest_terms(built).set_index(["ProductId", "SkuId"])
    basic = cheapest.loc[("CFQ7TTC0LH18", "0001")]
    assert (basic["TermDuration"], basic["BillingPlan"], basic["TermPrice"], basic["MonthlyEquivalent"],
            basic["MostExpensiveMonthlyEquivalent"], basic["SavingPercent"], basic["Options"]) == (
        "P1Y", "Annual", D("57.6"), D("4.8000"), D("5.7600"), D("16.67"), 3)  # fmt: skip
    e3 = cheapest.loc[("CFQ7TTC0LFLZ", "0002")]
    # P3Y annual and triennial both come to 22.00 a month: the tie goes to the shorter billing period
    assert (e3["TermDuration"], e3["BillingPlan"], e3["BillingPeriods"], e3["PeriodPrice"], e3["Options"]) == (
        "P3Y", "Annual", 3, D("264.00"), 6)  # fmt: skip
    assert len(cheapest) == 5  # five SKUs; the trial is not a purchasable price of its own
    summary = publisher_summary(built)
    assert summary["Publisher"].tolist() == ["Contoso Ltd", "Fabrikam, Inc.", "Microsoft Corporation"]
    contoso = summary.iloc[0]
    # monthly equivalents: P1Y annual 86.40 / 12 = 7.20, P1Y monthly 90.72 / 12 = 7.56, P1M 8.00
    assert (contoso["Products"], contoso["Skus"], contoso["PriceRows"], contoso["MinMonthlyEquivalent"],
            contoso["MedianMonthlyEquivalent"], contoso["MaxMonthlyEquivalent"],
            contoso["PartnerDiscountPercent"]) == (1, 1, 3, D("7.20"), D("7.56"), D("8.00"), D("20.00"))  # fmt: skip


INDICATOR_CSV = """ChangeIndicator,ProductTitle,ProductId,SkuId,SkuTitle,Publisher,TermDuration,BillingPlan,Currency,\
UnitPrice,EffectiveStartDate,EffectiveEndDate,Tags,ERP Price,Segment,PreviousValues
Unchanged,Basic,CFQ7TTC0LH18,1,Basic,Microsoft Corporation,P1Y,Annual,USD,57.6,2024-05-01,,License,72,Commercial,
Change,Basic,CFQ7TTC0LH18,000P,Basic (no Teams),Microsoft Corporation,P1Y,Annual,USD,42.24,2025-11-01,,License,\
52.8,Commercial,"{'ERP Price': '57.6', 'UnitPrice': '46.08'}"
Change,E5,CFQ7TTC0LFLZ,7,E5 Add-on,Microsoft Corporation,P1M,Monthly,USD,12,2025-11-01,,License,15,Commercial,\
"{'SkuTitle': 'E5 Compliance Add-on'}"
Change,E5,CFQ7TTC0LFLZ,8,E5 Plus,Microsoft Corporation,P1M,Monthly,USD,13,2025-11-01,,License,15,Commercial,\
"{'ERP Price': '15', 'UnitPrice': '12.5'}"
Add,Basic,CFQ7TTC0LH18,001H,Basic (no Teams) - Extended,Microsoft Corporation,P1M,Monthly,USD,4.22,2025-11-01,,\
License,5.28,Commercial,
"""


def test_diff_from_indicators_reads_one_current_file(tmp_path: Path) -> None:
    path = tmp_path / "current.csv"
    path.write_text(INDICATOR_CSV, encoding="utf-8")
    current = read_price_list(path)
    assert current["PreviousValues"].iloc[1] == {"ERP Price": "57.6", "UnitPrice": "46.08"}
    changes = diff_from_indicators(current)
    assert list(changes.columns) == list(DIFF_COLUMNS)
    got = [(r.Change, r.SkuId, r.OldUnitPrice, r.NewUnitPrice, r.ChangeAmount, r.ChangePercent, r.ChangedFields)
           for r in changes.itertuples()]  # fmt: skip
    assert got == [
        ("added", "001H", None, D("4.22"), None, None, None),
        ("price_up", "0008", D("12.5"), D("13"), D("0.5"), D("4.00"), "ERP Price, UnitPrice"),
        ("price_down", "000P", D("46.08"), D("42.24"), D("-3.84"), D("-8.33"), "ERP Price, UnitPrice"),
        ("changed", "0007", D("12"), D("12"), D("0"), D("0.00"), "SkuTitle"),
    ]
    assert len(diff_from_indicators(current, include_unchanged=True)) == 5
    with pytest.raises(ValueError, match="no ChangeIndicator"):
        diff_from_indicators(current.drop(columns="ChangeIndicator"))


@pytest.mark.parametrize(
    ("cell", "fragment"),
    [("\"__import__('os').system('true')\"", "dict of previous values"), ("\"[1, 2]\"", "dict of field names"),
     ("\"{'UnitPrice': [1]}\"", "dict of field names")],
)
def test_previous_values_are_parsed_as_literals_only(tmp_path: Path, cell: str, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "ChangeIndicator,ProductId,SkuId,TermDuration,BillingPlan,Currency,UnitPrice,EffectiveStartDate,"
        "PreviousValues\n"
        "Unchanged,P1,0001,P1M,Monthly,USD,1,2025-11-01,\n"
        f"Change,P1,0002,P1M,Monthly,USD,1,2025-11-01,{cell}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputFileError, match=fragment) as info:
        read_price_list(path)
    assert (info.value.row, info.value.column) == (2, "PreviousValues")


def test_change_indicator_values_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("ChangeIndicator,ProductId,SkuId,TermDuration,BillingPlan,Currency,UnitPrice,EffectiveStartDate\n"
                    "Removed,P1,0001,P1M,Monthly,USD,1,2025-11-01\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(InputFileError, match="Unchanged, Change or Add") as info:
        read_price_list(path)
    assert (info.value.row, info.value.column, info.value.value) == (1, "ChangeIndicator", "Removed")


def test_cart_and_markup_sku_ids_follow_the_readers_repair(built: pd.DataFrame) -> None:
    """A SkuId Excel turned into ``1.0`` names SKU 0001 in a cart line and a markup rule, as in the reader."""
    line = {"product_id": "CFQ7TTC0LH18", "sku_id": "1.0", "quantity": 1, "term_duration": "P1Y",
            "billing_cycle": "annual", "currency": "USD"}  # fmt: skip
    row = preview_cart_cost(built, [line], on="2026-11-20").iloc[0]
    assert (row["SkuId"], row["TermPrice"], row["PriceFound"]) == ("0001", D("57.6"), True)
    assert row["ProductTitle"] == built.loc[built["ProductId"] == "CFQ7TTC0LH18", "ProductTitle"].iloc[0]
    assert MarkupRule(markup_percent=D(10), product_id="CFQ7TTC0LH18", sku_id=" 1.0").sku_id == "0001"
