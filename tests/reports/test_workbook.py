"""The reconciliation workbook and the CSV/Parquet exports: layout, styles, splitting, atomic writes."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cspkit.reports import reconciliation as recon_report
from cspkit.reports import workbook as wb
from cspkit.reports.reconciliation import write_reconciliation_report, write_reconciliation_workbook
from cspkit.reports.workbook import write_frames

DATA = Path(__file__).resolve().parents[2] / "sample_data"


def test_workbook_sheets_styles_and_values(result, tmp_path):
    path = write_reconciliation_workbook(result, tmp_path / "recon.xlsx", sources=["recon_sample.csv"],
                                         max_rows_per_sheet=10)  # fmt: skip
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Charts", "Variances", "Customers", "Subscriptions", "Line items",
                               "Line items (2)"]  # fmt: skip
    # 16 lines split 10 + 6 under their own header rows
    assert (book["Line items"].max_row, book["Line items (2)"].max_row) == (11, 7)
    second = book["Line items (2)"]
    assert second.cell(2, [c.value for c in second[1]].index("SourceRow") + 1).value == 11  # the 11th line
    for name in ("Variances", "Customers", "Subscriptions", "Line items"):
        sheet = book[name]
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref.startswith("A1:")
        header = sheet["A1"]
        assert header.font.b and header.fill.fgColor.rgb.endswith("1F4E78")
        assert sheet.column_dimensions["A"].width > 8
    summary = book["Summary"]
    rows = list(summary.iter_rows(values_only=True))
    assert rows[0][0] == "Invoice reconciliation" and rows[1][:2] == ("Billing period", "2026-03-01 – 2026-03-31")
    tie_header = rows.index(("InvoiceNumber", "Currency", "Lines", "Subtotal", "TaxTotal", "Total", "InvoiceTotal",
                             "Difference", "Status"))  # fmt: skip
    assert rows[tie_header + 1] == ("G000000301", "USD", 14, 856.87, 0, 856.87, 856.87, 0, "ties")
    assert rows[tie_header + 2] == ("G000000302", "EUR", 2, 100.47, 6.7, 107.17, 112.17, -5, "differs")
    assert summary.cell(tie_header + 2, 4).number_format == '#,##0.00 "USD";[Red]-#,##0.00 "USD"'
    assert summary.cell(tie_header + 3, 6).number_format == '#,##0.00 "EUR";[Red]-#,##0.00 "EUR"'
    assert summary.freeze_panes is None and summary.auto_filter.ref is None  # blocks of different columns
    variances = book["Variances"]
    assert [c.value for c in variances[2]][:2] == ["unit_price_mismatch", "error"]
    assert variances.max_row == 10
    lines = book["Line items"]
    headers = [c.value for c in lines[1]]
    order_date = headers.index("OrderDate") + 1
    assert lines.cell(2, order_date).number_format == "yyyy-mm-dd"
    assert lines.cell(2, order_date).value.isoformat() == "2026-03-15T00:00:00"
    unit_price = headers.index("UnitPrice") + 1
    assert lines.cell(5, unit_price).value == 27.0 and lines.cell(2, headers.index("SkuId") + 1).value == "0001"
    assert lines.cell(5, headers.index("Variances") + 1).value == "unit_price_mismatch"


def test_failed_write_leaves_the_old_report_and_no_temporary_file(result, tmp_path, monkeypatch):
    target = tmp_path / "recon.xlsx"
    target.write_bytes(b"old report")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(recon_report, "summary_sheet", boom)  # fails half-way through the workbook
    with pytest.raises(RuntimeError, match="disk full"):
        write_reconciliation_workbook(result, target)
    assert target.read_bytes() == b"old report"
    assert [p.name for p in tmp_path.iterdir()] == ["recon.xlsx"]


def test_csv_and_parquet_exports_keep_exact_amounts(result, tmp_path):
    csv_files = write_reconciliation_report(result, tmp_path / "m.csv", fmt="csv")
    frames = ("tieout", "charge_types", "variance_counts", "variances", "customers", "subscriptions", "lines")
    assert [p.name for p in csv_files] == [f"m.{n}.csv" if n != "variances" else "m.csv" for n in frames]
    tie = pd.read_csv(tmp_path / "m.tieout.csv", dtype=str)
    assert tie[["Total", "Difference"]].values.tolist() == [["856.87", "0.00"], ["107.17", "-5.00"]]
    lines = pd.read_csv(tmp_path / "m.lines.csv", dtype=str)
    assert lines.loc[1, "EffectiveUnitPrice"] == "-5.283871" and lines.loc[0, "OrderDate"] == "2026-03-15T00:00:00Z"
    parquet = write_frames({"lines": result.lines, "customers": result.customers}, tmp_path / "p.parquet",
                           fmt="parquet")  # fmt: skip
    back = pd.read_parquet(parquet[0])
    assert back["Subtotal"].tolist()[:3] == [D("63.00"), D("-52.80"), D("63.36")]
    assert str(back["OrderDate"].dtype) == "datetime64[ns, UTC]"
    assert pd.read_parquet(parquet[1])["Total"].tolist()[0] == D("569.40")
    with pytest.raises(ValueError):
        write_frames({}, tmp_path / "x", fmt="xls")


def test_fast_row_writer_escapes_text_like_xlsxwriter(tmp_path):
    import xlsxwriter

    frame = pd.DataFrame(
        {
            "Name": ["A & B <Ltd>", "  padded ", "tab\tand\x01control", None],
            "Flag": pd.array([True, False, None, True], dtype="boolean"),
            "Amount": [D("1.5"), None, D("-2"), D("1234567.891")],
            "When": pd.to_datetime(["2026-03-01", None, "2026-03-31", "2026-01-01"], utc=True),
        }
    )
    results = []
    for constant_memory in (True, False):
        path = tmp_path / f"t{constant_memory}.xlsx"
        book = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
        sheet = book.add_worksheet("T")
        wb.write_table(sheet, wb.Styles(book), frame, 0)
        book.close()
        results.append([list(r) for r in openpyxl.load_workbook(path)["T"].iter_rows(values_only=True)])
    fast, regular = results
    assert fast == regular
    assert fast[1][0] == "A & B <Ltd>" and fast[2][0] == "  padded "
    assert fast[3][0] == "tab\tand_x0001_control"  # control characters escaped as xlsxwriter does
    assert fast[1][1:3] == [True, 1.5] and fast[4][0] is None and fast[4][2] == 1234567.891


def test_large_workbooks_use_zip64_and_still_open(result, tmp_path, monkeypatch):
    monkeypatch.setattr(wb, "ZIP64_LINES", 5)  # 16 lines count as "large" here
    path = write_reconciliation_workbook(result, tmp_path / "big.xlsx")
    assert openpyxl.load_workbook(path, read_only=True)["Line items"].max_row == 17


def test_rows_written_in_chunks_are_the_same(result, tmp_path, monkeypatch):
    whole = write_reconciliation_workbook(result, tmp_path / "whole.xlsx")
    monkeypatch.setattr(wb, "_FAST_CHUNK", 3)  # 16 lines in 6 chunks; 13 subscriptions in 5
    chunked = write_reconciliation_workbook(result, tmp_path / "chunked.xlsx")
    for sheet in ("Line items", "Subscriptions", "Customers"):  # (Summary carries the time it was written)
        a = list(openpyxl.load_workbook(whole)[sheet].iter_rows(values_only=True))
        b = list(openpyxl.load_workbook(chunked)[sheet].iter_rows(values_only=True))
        assert a == b
        assert len(a) == {"Line items": 17, "Subscriptions": 13, "Customers": 6}[sheet]
