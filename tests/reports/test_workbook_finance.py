"""The reconciliation workbook as finance reads it: number formats by kind, grand totals per currency, conditional
formats, native charts; opened by LibreOffice (headless PDF export) and by openpyxl."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest

from cspkit.billing.recon_readers import recon_lines_to_frame
from cspkit.billing.reconcile import reconcile
from cspkit.reports import recon_summary
from cspkit.reports.formats import VARIANCE_VALUE_KINDS, column_kind, number_format
from cspkit.reports.reconciliation import write_reconciliation_workbook

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "sample_data"
SAMPLES = ROOT / ".." / "shared" / "reference" / "samples"

USD = '#,##0.00 "USD";[Red]-#,##0.00 "USD"'
EUR = '#,##0.00 "EUR";[Red]-#,##0.00 "EUR"'
SEATS = "#,##0;[Red]-#,##0"
RATE = "0.0000#####"


@pytest.fixture(scope="module")
def book_path(result, tmp_path_factory):
    return write_reconciliation_workbook(result, tmp_path_factory.mktemp("wb") / "recon.xlsx", sources=["s.csv"])


def _rows(sheet):
    return list(sheet.iter_rows())


def _find(sheet, first_value):
    for row in sheet.iter_rows():
        if row[0].value == first_value:
            return row[0].row
    raise AssertionError(f"{first_value!r} not in column A of {sheet.title}")


def test_number_format_rules():
    assert number_format("money", "USD") == USD
    assert number_format("price", "EUR") == '#,##0.00#### "EUR";[Red]-#,##0.00#### "EUR"'
    assert number_format("seats", "USD") == SEATS  # seats and rates never carry a currency
    assert number_format("rate", "USD") == RATE
    assert number_format("percent") == '0.00"%";[Red]-0.00"%"'  # percentage points: 15 shows 15.00%, not 1500%
    assert number_format("money", 'U"S;D') == '#,##0.00 "USD";[Red]-#,##0.00 "USD"'  # no quote escapes the format
    assert [column_kind(c) for c in ("Total", "UnitPrice", "PCToBCExchangeRate", "BilledSeats", "Lines",
                                     "PartnerEarnedCreditPercentage", "MarginPercent", "CustomerName")] == [
        "money", "price", "rate", "seats", "count", "percent", "percent", None]  # fmt: skip
    with pytest.raises(KeyError):
        number_format("furlongs")


def test_variances_are_formatted_by_what_they_measure(book_path):
    sheet = openpyxl.load_workbook(book_path)["Variances"]
    header = [c.value for c in sheet[1]]
    seen = {}
    for row in sheet.iter_rows(min_row=2):
        category = row[header.index("Category")].value
        seen[category] = [row[header.index(name)].number_format for name in ("Expected", "Actual", "Amount")]
        values = [row[header.index(name)].value for name in ("Expected", "Actual")]
        if category == "seat_mismatch":
            assert values == [18, 20]
    assert seen["seat_mismatch"] == [SEATS, SEATS, USD]  # seat counts, not dollars; Amount stays money
    assert seen["currency_mismatch"] == [RATE, RATE, EUR]  # an exchange rate, not euros
    assert seen["unit_price_mismatch"][:2] == ['#,##0.00#### "USD";[Red]-#,##0.00#### "USD"'] * 2
    assert seen["amount_mismatch"] == [USD, USD, USD]
    assert set(seen) <= set(VARIANCE_VALUE_KINDS)


def test_other_sheets_format_seats_rates_and_money_by_kind(book_path):
    book = openpyxl.load_workbook(book_path)
    subs = book["Subscriptions"]
    header = [c.value for c in subs[1]]
    assert subs.cell(2, header.index("BilledSeats") + 1).number_format == SEATS
    assert subs.cell(2, header.index("Total") + 1).number_format == USD
    lines = book["Line items"]
    header = [c.value for c in lines[1]]
    assert lines.cell(2, header.index("PCToBCExchangeRate") + 1).number_format == RATE
    assert lines.cell(2, header.index("UnitPrice") + 1).number_format == "#,##0.00####;[Red]-#,##0.00####"


def test_summary_blocks_have_grand_totals_per_currency(result, book_path):
    formulas = openpyxl.load_workbook(book_path)["Summary"]
    values = openpyxl.load_workbook(book_path, data_only=True)["Summary"]
    assert formulas.freeze_panes is None
    start = _find(formulas, "Totals by customer") + 1
    header = [c.value for c in formulas[start]]
    totals = {}
    for row in formulas.iter_rows(min_row=start + 1):
        if row[0].value is None:
            break
        if row[0].value == "Grand total":
            ccy = row[header.index("Currency")].value
            cell = row[header.index("Total")]
            assert cell.value.startswith("=SUMIFS(") and f'"{ccy}")' in cell.value
            assert cell.font.b and cell.number_format == (USD if ccy == "USD" else EUR)
            totals[ccy] = values.cell(cell.row, cell.column).value
    expected = result.customers.astype({"Total": object}).groupby("Currency")["Total"].sum()
    assert totals == {ccy: float(expected[ccy]) for ccy in ("EUR", "USD")}
    assert totals["USD"] == pytest.approx(float(D("569.40") + D("68.96") - D("117.55") + D("336.06")))
    charge = _find(formulas, "Totals by charge type") + 1
    grand = [r for r in formulas.iter_rows(min_row=charge + 1, max_row=charge + 9) if r[1].value == "Grand total"]
    assert [r[0].value for r in grand] == ["EUR", "USD"]
    tie = _find(formulas, "Invoice tie-out") + 1
    tie_totals = [r for r in formulas.iter_rows(min_row=tie + 1, max_row=tie + 5) if r[0].value == "Grand total"]
    assert [r[1].value for r in tie_totals] == ["EUR", "USD"]
    diff = [c.value for c in formulas[tie]].index("Difference")
    assert values.cell(tie_totals[0][diff].row, diff + 1).value == -5  # EUR invoice is 5.00 off


def test_conditional_formats_mark_invoices_that_do_not_tie_and_error_findings(book_path):
    book = openpyxl.load_workbook(book_path)
    summary = book["Summary"]
    tie = _find(summary, "Invoice tie-out") + 1
    differs_row = next(r[0].row for r in summary.iter_rows(min_row=tie + 1) if r[8].value == "differs")
    rules = {str(rng.sqref): [(rule.formula, rule.dxf) for rule in rng.rules]
             for rng in summary.conditional_formatting}  # fmt: skip
    tie_range = f"A{tie + 1}:I{tie + 2}"
    assert differs_row in (tie + 1, tie + 2)
    (formula, dxf), = rules[tie_range]
    assert formula == [f"AND(ISNUMBER($H{tie + 1}),ROUND($H{tie + 1},2)<>0)"]  # Difference column, at the cent
    assert dxf.fill.fgColor.rgb.endswith("FFC7CE") or dxf.fill.bgColor.rgb.endswith("FFC7CE")
    cat = _find(summary, "Variances by category") + 1
    (formula, _), = rules[f"A{cat + 1}:D{cat + 11}"]
    assert formula == [f'AND($B{cat + 1}="error",$C{cat + 1}>0)']
    variances = book["Variances"]
    (rng,) = list(variances.conditional_formatting)
    assert str(rng.sqref) == f"A2:R{variances.max_row}"
    assert rng.rules[0].formula == ['$B2="error"'] and variances["B1"].value == "Severity"


def test_charts_spend_by_customer_and_findings_by_category(result, tmp_path, monkeypatch):
    monkeypatch.setattr(recon_summary, "CHART_CUSTOMERS", 2)  # 4 USD customers: 2 bars and "Other (2 customers)"
    path = write_reconciliation_workbook(result, tmp_path / "charts.xlsx")
    sheet = openpyxl.load_workbook(path)["Charts"]
    charts = sheet._charts
    titles = ["".join(run.t for p in c.title.tx.rich.p for run in p.r) for c in charts]
    assert titles == ["Spend by customer (EUR)", "Spend by customer (USD)",
                      "Findings by category (red: error, amber: warning)"]  # fmt: skip
    assert all(c.tagname == "barChart" for c in charts)
    usd = charts[1].series[0]
    cats, vals = (usd.cat.strRef or usd.cat.numRef).f, usd.val.numRef.f  # constant memory: no cached data
    first = int(vals.split("$B$")[1].split(":")[0])
    last = int(vals.split("$B$")[2])
    assert cats == f"Charts!$A${first}:$A${last}" and last - first + 1 == 3
    names = [sheet.cell(r, 1).value for r in range(first, last + 1)]
    amounts = [sheet.cell(r, 2).value for r in range(first, last + 1)]
    assert names == ["Fourth Coffee Roasters", "Contoso Dental Group", "Other (2 customers)"]
    assert amounts == [569.4, 336.06, pytest.approx(68.96 - 117.55)]
    assert sheet.cell(first, 2).number_format == USD
    findings = charts[2].series[0]
    colours = [getattr(p.spPr.solidFill.srgbClr, "val", p.spPr.solidFill.srgbClr) for p in findings.dPt]
    severities = list(result.variance_counts["Severity"])
    assert colours == ["C00000" if s == "error" else "FFC000" for s in severities]


def test_documented_sample_lines_give_a_workbook_with_rates_and_totals(tmp_path):
    path = SAMPLES / "invoice_lineitems_onetime.json"
    if not path.exists():
        pytest.skip(f"documented sample {path} is absent (../shared/reference/samples)")
    items = json.loads(path.read_text())["response"]["body"]["items"]
    frame = recon_lines_to_frame(items, source="invoice_lineitems_onetime.json").frame
    result = reconcile(frame)
    book = write_reconciliation_workbook(result, tmp_path / "sample.xlsx")
    lines = openpyxl.load_workbook(book)["Line items"]
    header = [c.value for c in lines[1]]
    rate = lines.cell(2, header.index("PCToBCExchangeRate") + 1)
    assert rate.value == 1 and rate.number_format == RATE  # the sample's pcToBCExchangeRate "1"
    summary = openpyxl.load_workbook(book, data_only=True)["Summary"]
    start = _find(summary, "Totals by customer") + 1
    header = [c.value for c in summary[start]]
    grand = [r for r in summary.iter_rows(min_row=start + 1) if r[0].value == "Grand total"]
    assert [r[header.index("Currency")].value for r in grand] == sorted(set(frame["Currency"].dropna()))
    expected = sum(D(str(v)) for v in frame["Total"].astype(object) if v is not None and v == v)
    assert sum(D(str(r[header.index("Total")].value)) for r in grand) == expected


def test_libreoffice_opens_the_workbook_and_exports_pdf(book_path, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui; .ci/run tries it)")
    proc = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(tmp_path / "out"), str(book_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    pdf = tmp_path / "out" / "recon.pdf"
    assert proc.returncode == 0, proc.stderr
    assert "Error" not in proc.stderr and "Error" not in proc.stdout, proc.stderr + proc.stdout
    assert pdf.exists() and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
