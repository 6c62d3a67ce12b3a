"""Benchmark: read a 500,000-row new-commerce price list (CSV, zipped CSV and .xlsx) and look up prices.

Run:  .venv/bin/python benchmarks/bench_pricelist.py [--rows 500000] [--repeat 3] [--no-xlsx]

Generates the files in a temporary directory (real quoted header, both date styles, free-trial rows, long
descriptions with commas), then prints wall-clock seconds for each step. Target: CSV read <= 3 s.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from cspkit.billing.pricelist import lookup_prices, read_price_list
from cspkit.wire import PRICE_LIST_HEADER

HEADER = list(PRICE_LIST_HEADER)
PLANS = [("P1M", "Monthly"), ("P1Y", "Monthly"), ("P1Y", "Annual"), ("P3Y", "Annual"), ("P3Y", "Triennial")]
STARTS = ["10/1/2026 12:00:00 AM", "2026-11-01T00:00:00.0000000Z", "9/1/2026 12:00:00 AM", "1/1/1753 12:00:00 AM"]
ENDS = ["11/30/9999 11:59:59 PM", "9999-11-30T23:59:59.9999999Z", "10/31/2026 11:59:59 PM"]
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def make_rows(n: int, seed: int = 7) -> list[list[str]]:
    """``n`` price rows: products x SKUs x term/plan x segment, every 40th SKU with a free-trial row."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    product = 0
    while len(rows) < n:
        product_id = "CFQ7TTC0" + "".join(rng.choice(ALPHABET) for _ in range(4))
        title = f"Product {product} Plan"
        for sku in range(1, 5):
            base = rng.randint(100, 50000) / 100
            for segment in ("Commercial", "Education"):
                for term, plan in PLANS:
                    months = {"P1M": 1, "P1Y": 12, "P3Y": 36}[term]
                    per = {"Monthly": 1, "Annual": 12, "Triennial": 36}[plan]
                    price = round(base * per * (1.2 if term == "P1M" else 1.0), 2)
                    rows.append(
                        [
                            title,
                            product_id,
                            f"{sku:04d}",
                            f"{title} SKU {sku}",
                            "Microsoft Corporation",
                            f"{title}, SKU {sku}: seats, storage, security and compliance ({months} months)",
                            "",
                            term,
                            plan,
                            "US",
                            "USD",
                            f"{price}",
                            "",
                            "",
                            rng.choice(STARTS),
                            rng.choice(ENDS),
                            "License",
                            f"{round(price * 1.25, 2)}",
                            segment,
                        ]
                    )
            if product % 40 == 0:
                rows.append(
                    [
                        title,
                        product_id,
                        f"{sku:04d}",
                        f"{title} SKU {sku}",
                        "Microsoft Corporation",
                        "Trial",
                        "",
                        "P1M",
                        "None",
                        "US",
                        "USD",
                        "0",
                        "",
                        "",
                        STARTS[0],
                        ENDS[0],
                        "License; Trial",
                        "0",
                        "Commercial",
                    ]
                )
        product += 1
    return rows[:n]


_NS = "http://schemas.openxmlformats.org/"
_XLSX_PARTS = {
    "[Content_Types].xml": (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="{_NS}package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{_NS}package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{_NS}officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{_NS}spreadsheetml/2006/main" xmlns:r="{_NS}officeDocument/2006/relationships">'
        '<sheets><sheet name="Price list" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{_NS}package/2006/relationships"><Relationship Id="rId1" '
        f'Type="{_NS}officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}
_NUMERIC = {"SkuId", "UnitPrice", "ERP Price"}  # stored as numbers, as Excel does after opening the CSV


def write_xlsx(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """A minimal .xlsx (one sheet, inline strings) written straight as XML: pandas/xlsxwriter take minutes here.

    SkuId, UnitPrice and ERP Price are numeric cells, so the reader has to repair "0001" stored as 1.
    """
    numeric = [h in _NUMERIC for h in header]

    def cell(value: str, is_number: bool) -> str:
        if is_number and value:
            return f"<c><v>{value}</v></c>"
        return f'<c t="inlineStr"><is><t>{escape(value)}</t></is></c>' if value else "<c/>"

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in _XLSX_PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{_NS}spreadsheetml/2006/main"><sheetData>'.encode())
            sheet.write(("<row>" + "".join(cell(h, False) for h in header) + "</row>").encode())
            batch: list[str] = []
            for row in rows:
                batch.append("<row>" + "".join(cell(v, n) for v, n in zip(row, numeric, strict=True)) + "</row>")
                if len(batch) == 10_000:
                    sheet.write("".join(batch).encode())
                    batch.clear()
            sheet.write(("".join(batch) + "</sheetData></worksheet>").encode())


def timed(label: str, func: Any, repeat: int, note: str = "") -> Any:
    """Run ``func`` ``repeat`` times; print the first and the best wall-clock time."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    best = f", best of {repeat} {min(times):6.2f} s" if repeat > 1 else ""
    print(f"{label:<16} {times[0]:6.2f} s{best}  {note}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per step (first and best printed)")
    parser.add_argument("--no-xlsx", action="store_true", help="skip the .xlsx variant")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work skews the figures)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        rows = make_rows(args.rows)
        csv_path = folder / "pricelist.csv"
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(HEADER)
            writer.writerows(rows)
        zip_path = folder / "pricelist.zip"
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(csv_path, "pricelist.csv")
        xlsx_path = folder / "pricelist.xlsx"
        if not args.no_xlsx:
            write_xlsx(xlsx_path, HEADER, rows)
        print(
            f"generated {len(rows):,} rows: CSV {csv_path.stat().st_size / 1e6:.1f} MB, zip "
            f"{zip_path.stat().st_size / 1e6:.1f} MB"
            + ("" if args.no_xlsx else f", .xlsx {xlsx_path.stat().st_size / 1e6:.1f} MB")
            + f" in {time.perf_counter() - t0:.1f} s"
        )
        del rows
        gc.collect()

        frame = timed("read CSV:", lambda: read_price_list(csv_path), args.repeat, "(target <= 3 s)")
        timed("read zipped CSV:", lambda: read_price_list(zip_path), args.repeat)

        small = frame.iloc[:100_000]
        keys = small[["ProductId", "SkuId", "TermDuration", "BillingPlan", "Currency"]]
        queries = keys.loc[keys.index.repeat(10)].reset_index(drop=True)
        queries["On"] = pd.Timestamp("2026-09-01", tz="UTC") + pd.to_timedelta(
            np.random.default_rng(3).integers(0, 120, len(queries)), unit="D"
        )
        found = timed(
            "lookup_prices:", lambda: lookup_prices(small, queries), args.repeat,
            f"({len(queries):,} queries against {len(small):,} rows)",
        )  # fmt: skip
        print(f"                 {found.notna().sum():,} of {len(found):,} queries priced")
        if not args.no_xlsx:
            timed("read .xlsx:", lambda: read_price_list(xlsx_path), 1, "(calamine engine)")


if __name__ == "__main__":
    main()
