"""Benchmark: read a 500,000-row new-commerce price list (CSV, zipped CSV and .xlsx) and look up prices.

Run:  .venv/bin/python benchmarks/bench_pricelist.py [--rows 500000] [--no-xlsx]

Generates the files in a temporary directory (real quoted header, both date styles, free-trial rows, long
descriptions with commas), then prints wall-clock seconds for each step. Target: CSV read <= 3 s.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from cspkit.billing.pricelist import lookup_prices, read_price_list

HEADER = [
    "ProductTitle",
    "ProductId",
    "SkuId",
    "SkuTitle",
    "Publisher",
    "SkuDescription",
    "UnitOfMeasure",
    "TermDuration",
    "BillingPlan",
    "Market",
    "Currency",
    "UnitPrice",
    "PricingTierRangeMin",
    "PricingTierRangeMax",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "Tags",
    "ERP Price",
    "Segment",
]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--no-xlsx", action="store_true", help="skip the (slow to write) .xlsx variant")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        rows = make_rows(args.rows)
        csv_path = folder / "pricelist.csv"
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(HEADER)
            writer.writerows(rows)
        print(
            f"generated {len(rows):,} rows ({csv_path.stat().st_size / 1e6:.1f} MB CSV) "
            f"in {time.perf_counter() - t0:.2f} s"
        )

        t0 = time.perf_counter()
        frame = read_price_list(csv_path)
        print(f"read CSV:        {time.perf_counter() - t0:6.2f} s  ({len(frame):,} rows; target <= 3 s)")

        zip_path = folder / "pricelist.zip"
        with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(csv_path, "pricelist.csv")
        t0 = time.perf_counter()
        read_price_list(zip_path)
        print(f"read zipped CSV: {time.perf_counter() - t0:6.2f} s")

        small = frame.iloc[:100_000]
        keys = small[["ProductId", "SkuId", "TermDuration", "BillingPlan", "Currency"]]
        queries = keys.loc[keys.index.repeat(10)].reset_index(drop=True)
        queries["On"] = pd.Timestamp("2026-09-01", tz="UTC") + pd.to_timedelta(
            np.random.default_rng(3).integers(0, 120, len(queries)), unit="D"
        )
        t0 = time.perf_counter()
        found = lookup_prices(small, queries)
        print(
            f"lookup_prices:   {time.perf_counter() - t0:6.2f} s  ({len(queries):,} queries against "
            f"{len(small):,} rows, {found.notna().sum():,} priced)"
        )

        if not args.no_xlsx:
            xlsx_path = folder / "pricelist.xlsx"
            t0 = time.perf_counter()
            pd.read_csv(csv_path, dtype=str, keep_default_na=False).to_excel(
                xlsx_path, index=False, engine="xlsxwriter"
            )
            print(f"(wrote .xlsx in {time.perf_counter() - t0:.1f} s, {xlsx_path.stat().st_size / 1e6:.1f} MB)")
            t0 = time.perf_counter()
            read_price_list(xlsx_path)
            print(f"read .xlsx:      {time.perf_counter() - t0:6.2f} s  (calamine engine)")


if __name__ == "__main__":
    main()
