"""Regenerate the sample price lists from the emulator's seed catalog (sample_data/catalog.json).

Run from the repository root:  .venv/bin/python sample_data/make_price_lists.py

Writes, next to this script:

* ``pricelist_nce_US_202611.csv``: the new-commerce license-based price list for market US, byte for byte what the
  emulator's price-sheet endpoint serves for ``Market='US', PricesheetView='updatedlicensebased'`` (so prices are the
  catalog's term prices: ``UnitPrice`` is the price of the whole term for every billing plan, as in Microsoft's
  price lists, billing-formats.md §1.5; dates in the API sample's ``1/1/2026 12:00:00 AM`` style, open end
  ``11/30/9999 11:59:59 PM``);
* ``pricelist_marketplace_US_202611.csv``: the marketplace view (the catalog's SaaS products), likewise;
* ``pricelist_nce_US_202610.csv``: the month before, in the portal's ISO 8601 date style
  (``2026-01-01T00:00:00.0000000Z``), with the differences listed in ``OCTOBER_CHANGES`` below: two prices that
  rise in November, one that falls, a SKU removed in November, a term added in November, a closed price range
  overlapping the current one, and a free-trial row (zero price) next to the paid rows of the same SKU.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cspkit.emulator.pricesheets import render_price_sheet  # noqa: E402

# (ProductId, SkuId, TermDuration, BillingPlan) -> October UnitPrice (November has the catalog price)
OCTOBER_PRICES = {
    ("CFQ7TTC0LH18", "0001", "P1M", "Monthly"): "6.90",  # up to 7.20 in November
    ("CFQ7TTC0LCHC", "0002", "P1Y", "Annual"): "144.00",  # up to 150.00
    ("CFQ7TTC0LFLZ", "0002", "P1Y", "Annual"): "288.00",  # down to 276.00
}
# rows only in October (removed in November): an illustrative SKU that went end-of-sale
OCTOBER_ONLY = [
    {
        "ProductTitle": "Microsoft 365 Apps for business",
        "ProductId": "CFQ7TTC0LH1G",
        "SkuId": "0002",
        "SkuTitle": "Microsoft 365 Apps for business",
        "Publisher": "Microsoft Corporation",
        "SkuDescription": "Desktop versions of Word, Excel, PowerPoint and Outlook, plus 1 TB of cloud storage.",
        "TermDuration": term,
        "BillingPlan": plan,
        "UnitPrice": price,
        "ERP Price": price,
    }
    # term prices (Microsoft's rule): P1Y/Monthly = 1.05 × P1Y/Annual, P1M = 1.2 × P1Y/Annual ÷ 12
    for term, plan, price in (("P1M", "Monthly", "9.90"), ("P1Y", "Monthly", "103.95"), ("P1Y", "Annual", "99.00"))
]
# terms first offered in November (absent from October)
ADDED_IN_NOVEMBER = {("CFQ7TTC0HDK0", "0001", "P1M", "Monthly")}
# a closed range under the current row: Business Premium P1Y/Annual was 252.00 until 30 Sep 2026
OVERLAP = (
    ("CFQ7TTC0LDPB", "0001", "P1Y", "Annual"),
    "252.00",
    "2025-10-01T00:00:00.0000000Z",
    "2026-09-30T23:59:59.9999999Z",
)
# a free-trial row next to the paid rows of the same SKU (Office 365 E3)
TRIAL = ("CFQ7TTC0LFLZ", "0002")


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(out.getvalue().encode("utf-8"))
    tmp.replace(path)


def october(catalog: dict) -> tuple[list[str], list[dict[str, str]]]:
    """The 202610 rows: November's rows with the changes above, ISO 8601 dates."""
    header, rows = _rows(render_price_sheet(catalog, market="US", view="updatedlicensebased", date_style="iso"))
    template = rows[0]
    out: list[dict[str, str]] = []
    for row in rows:
        key = (row["ProductId"], row["SkuId"], row["TermDuration"], row["BillingPlan"])
        if key in ADDED_IN_NOVEMBER:
            continue
        if key in OCTOBER_PRICES:
            row = dict(row, **{"UnitPrice": OCTOBER_PRICES[key], "ERP Price": OCTOBER_PRICES[key]})
        if key == OVERLAP[0]:
            out.append(
                dict(
                    row,
                    **{
                        "UnitPrice": OVERLAP[1],
                        "ERP Price": OVERLAP[1],
                        "EffectiveStartDate": OVERLAP[2],
                        "EffectiveEndDate": OVERLAP[3],
                    },
                )
            )
        out.append(row)
        if (row["ProductId"], row["SkuId"]) == TRIAL and key[2:] == ("P1Y", "Annual"):
            out.append(
                dict(
                    row,
                    **{
                        "TermDuration": "P1M",
                        "BillingPlan": "None",
                        "UnitPrice": "0.00",
                        "ERP Price": "0.00",
                        "Tags": "License; Trial",
                    },
                )
            )
    for extra in OCTOBER_ONLY:
        out.append({**template, "UnitOfMeasure": "", "Tags": "License", **extra})
    return header, out


def main() -> None:
    catalog = json.loads((HERE / "catalog.json").read_text(encoding="utf-8"))
    for view, name in (
        ("updatedlicensebased", "pricelist_nce_US_202611.csv"),
        ("marketplace", "pricelist_marketplace_US_202611.csv"),
    ):
        text = render_price_sheet(catalog, market="US", view=view)
        tmp = HERE / (name + ".tmp")
        tmp.write_bytes(text.encode("utf-8"))
        tmp.replace(HERE / name)
    header, rows = october(catalog)
    _write(HERE / "pricelist_nce_US_202610.csv", header, rows)
    print("wrote", ", ".join(sorted(p.name for p in HERE.glob("pricelist_*.csv"))))


if __name__ == "__main__":
    main()
