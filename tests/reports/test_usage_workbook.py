"""Usage workbook (cspkit.reports.usage_workbook): sheets, the native chart, exact figures, atomic writes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cspkit.billing.usage import NOT_APPLIED, reconcile_usage
from cspkit.reports.usage_workbook import daily_spend_pivot, write_usage_report, write_usage_workbook
from tests.billing.test_usage import ENT_A, ENT_B, SUB_A, SUB_B, _frame, _row

SHEETS = ["Summary", "Customers", "Subscriptions", "PEC", "Anomalies", "Meters", "Resource groups", "Daily",
          "Daily spend chart"]  # fmt: skip


@pytest.fixture(scope="module")
def result():
    rows = []
    for n in range(7):  # seven customers: the chart draws the top five
        rows += [_row(SUB_A, f"ent-{n}", d, str(n + 1), customer=f"cust-{n}") for d in range(1, 11)]
    rows += [_row(SUB_B, ENT_B, d, "2", credit=NOT_APPLIED, customer="cust-0") for d in range(5, 11)]
    rows += [_row(SUB_A, ENT_A, 3, "9", credit=NOT_APPLIED, publisher="Elastic", publisher_id="42")]
    recon = pd.DataFrame({"SubscriptionId": [SUB_A], "Subtotal": [Decimal("1")], "Currency": ["EUR"]})
    return reconcile_usage(_frame(rows), invoice=recon)


def test_sheets_chart_and_figures(result, tmp_path: Path) -> None:
    path = write_usage_workbook(result, tmp_path / "usage.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [*SHEETS, "Invoice tie"]
    charts = wb["Daily spend chart"]._charts
    assert len(charts) == 1 and charts[0].tagname == "lineChart"
    assert len(charts[0].series) == 5
    # the chart's data: top customer first (cust-6: 7 a day), days as rows
    ws = wb["Daily spend chart"]
    header = [c.value for c in ws[3]]
    assert header[0] == "UsageDate" and header[1].startswith("CUST-6 (cust-6)")
    assert ws.cell(4, 2).value == 7
    values = {}
    for row in wb["Summary"].iter_rows(values_only=True):
        if row[0] in ("PEC not applied (first party)", "Marketplace (never eligible)"):
            values[row[0]] = row[2:5]
    assert values["PEC not applied (first party)"] == (6, 24, pytest.approx(3.6))  # pricing = 2 × billing
    assert values["Marketplace (never eligible)"] == (1, 9, 0)
    customers = list(wb["Customers"].iter_rows(values_only=True))
    assert customers[0][0] == "CustomerId" and customers[1][0] == "cust-6"
    assert "Status" in [c.value for c in wb["PEC"][2]]


def test_pivot_keeps_customers_with_the_same_name_apart(result) -> None:
    pivot = daily_spend_pivot(result, top=7)
    assert len(pivot.columns) == 8 and len(pivot) == 10
    assert pivot.iloc[:, 1:].sum().sum() == pytest.approx(float(sum(result.daily["BillingPreTaxTotal"].astype(object))))


def test_csv_parquet_and_no_half_written_file(result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = write_usage_report(result, tmp_path / "u.csv", fmt="csv")
    assert {p.name for p in files} >= {"u.summary.csv", "u.pec.csv", "u.anomalies.csv", "u.invoice_tie.csv"}
    text = (tmp_path / "u.summary.csv").read_text()
    assert "BillingPreTaxTotal" in text
    parquet = write_usage_report(result, tmp_path / "u", fmt="parquet")
    assert pd.read_parquet(parquet[0])["Rows"].sum() == result.rows_read
    import cspkit.reports.usage_workbook as module

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "_chart_sheet", boom)
    target = tmp_path / "half.xlsx"
    with pytest.raises(RuntimeError):
        write_usage_workbook(result, target)
    assert not target.exists() and not list(tmp_path.glob(".half.xlsx.*"))
