"""Generate a large, formula-consistent month of new-commerce reconciliation data for benchmarks.

Writes (in --out, default benchmarks/out/):

* ``recon_<N>.csv`` — N invoice reconciliation lines, all 47 columns (billing-formats.md §1.1), portal format;
* ``pricelist_<M>.csv`` — an M-row NCE price list (§1.5a) holding every product the lines use;
* ``subscriptions_<N>.csv`` — the subscriptions behind the lines (customer_id, subscription_id, offer_id, ...).

The lines follow §2.4: monthly cycles run from day d to day d−1 of the next month, an ``addQuantity`` event is a
refund/charge pair over the rest of the cycle with ``EffectiveUnitPrice = UnitPrice / cycleDays × billingDays`` and
``Subtotal = ROUNDDOWN(EUP × rate, 2) × BillableQuantity``. Prices follow Microsoft's rule: the price list holds
term prices and each line's ``UnitPrice`` is one billing period's, the term price ÷ billing periods (P1Y billed
monthly ÷ 12) rounded half-up to the cent. About 1 line in 1,000 carries a planted variance (wrong
unit price, wrong proration, duplicate) so the engine has something to find. Deterministic for a given --seed.

Usage: python benchmarks/gen_recon.py --lines 1000000 --prices 100000 [--out DIR] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
import uuid
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cspkit.billing.pricing import period_price  # noqa: E402
from cspkit.billing.recon_columns import INVOICE_RECON_COLUMNS  # noqa: E402

PRICE_HEADER = [
    "ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher", "SkuDescription", "UnitOfMeasure", "TermDuration",
    "BillingPlan", "Market", "Currency", "UnitPrice", "PricingTierRangeMin", "PricingTierRangeMax",
    "EffectiveStartDate", "EffectiveEndDate", "Tags", "ERP Price", "Segment",
]  # fmt: skip
TERMS = [("P1M", "Monthly", "One-Month commitment for monthly billing"),
         ("P1Y", "Monthly", "One-Year commitment for monthly/yearly billing"),
         ("P1Y", "Annual", "One-Year commitment for monthly/yearly billing")]  # fmt: skip
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")


def product_id(i: int) -> str:
    alphabet = "0123456789BCDFGHJKLMNPQRSTVWXZ"
    s = ""
    for _ in range(4):
        i, r = divmod(i, len(alphabet))
        s = alphabet[r] + s
    return "CFQ7TTC0" + s


def term_prices(annual: Decimal, p1m: Decimal, factor: Decimal) -> dict[tuple[str, str], Decimal]:
    """The three term prices of one SKU in one currency (``factor`` converts USD to it), to the cent."""
    return {
        ("P1M", "Monthly"): (p1m * factor).quantize(CENT),
        ("P1Y", "Monthly"): (annual * Decimal("1.05") * factor).quantize(CENT),
        ("P1Y", "Annual"): (annual * factor).quantize(CENT),
    }


def write_price_list(path: Path, rows: int, rng: random.Random) -> list[tuple[str, str, Decimal, Decimal]]:
    """Write ``rows`` price rows (products × 2 SKUs × 3 terms × USD/EUR); return (product, sku, P1Y/Annual, P1M).

    Term prices, as Microsoft's lists carry them (billing-formats.md §1.5, :mod:`cspkit.billing.pricing`): P1Y/Annual
    a whole number of cents, P1Y/Monthly = 1.05 × P1Y/Annual, P1M = 1.2 × P1Y/Annual ÷ 12 (to the cent).
    """
    products = []
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(PRICE_HEADER)
        written = 0
        i = 0
        while written < rows:
            pid = product_id(i)
            for sku in ("0001", "0002"):
                annual = Decimal(rng.randrange(2400, 60000)) / 100
                p1m = (annual * Decimal("1.2") / 12).quantize(CENT)
                products.append((pid, sku, annual, p1m))
                for ccy, factor in (("USD", Decimal(1)), ("EUR", Decimal("0.93"))):
                    for term, plan, _ in TERMS:
                        price = term_prices(annual, p1m, factor)[(term, plan)]
                        if written < rows:
                            market = "US" if ccy == "USD" else "DE"
                            writer.writerow([f"Product {i}", pid, sku, f"Product {i} SKU {sku}",
                                             "Microsoft Corporation", "Synthetic product", "", term, plan, market, ccy,
                                             str(price), "", "", "1/1/2026 12:00:00 AM", "11/30/9999 11:59:59 PM",
                                             "License", str(price), "Commercial"])  # fmt: skip
                            written += 1
            i += 1
    return products


def generate(lines: int, prices: int, out: Path, seed: int = 7) -> dict[str, Path]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "recon": out / f"recon_{lines}.csv",
        "prices": out / f"pricelist_{prices}.csv",
        "subscriptions": out / f"subscriptions_{lines}.csv",
    }
    products = write_price_list(paths["prices"], prices, rng)
    partner = "4d6f3c2a-8b1e-4f0a-9c3d-2e5b7a1f0c11"
    customers = [(str(uuid.UUID(int=rng.getrandbits(128))), f"Customer {i:05d}") for i in range(max(lines // 200, 1))]
    index = {c: i for i, c in enumerate(INVOICE_RECON_COLUMNS)}
    written = 0
    n_sub = 0
    with (
        paths["recon"].open("w", newline="", encoding="utf-8") as fh,
        paths["subscriptions"].open("w", newline="", encoding="utf-8") as sh,
    ):
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(INVOICE_RECON_COLUMNS)
        subs = csv.writer(sh, lineterminator="\n")
        subs.writerow(["customer_id", "subscription_id", "offer_id", "quantity", "status", "term_duration",
                       "billing_cycle", "effective_start", "currency"])  # fmt: skip
        template = [""] * len(INVOICE_RECON_COLUMNS)
        template[index["PartnerId"]] = partner
        template[index["MpnId"]] = template[index["Tier2MpnId"]] = "6034453"
        template[index["PublisherName"]] = "Microsoft Corporation"
        template[index["PriceAdjustmentDescription"]] = ""
        template[index["ProductQualifiers"]] = "[]"
        template[index["PCToBCExchangeRate"]] = "1"
        template[index["PCToBCExchangeRateDate"]] = "3/1/2026"
        template[index["TaxTotal"]] = "0"
        while written < lines:
            n_sub += 1
            customer_id, customer_name = customers[rng.randrange(len(customers))]
            pid, sku, annual, p1m = products[rng.randrange(len(products))]
            term, plan, text = TERMS[rng.randrange(2)]  # monthly-billed terms: one cycle line a month
            ccy = "EUR" if customer_name.endswith("7") else "USD"
            # one billing period: the term price ÷ billing periods (P1Y monthly ÷ 12), rounded half-up to the cent
            listed = term_prices(annual, p1m, Decimal("0.93") if ccy == "EUR" else Decimal(1))[(term, plan)]
            unit_price = period_price(listed, term, plan).quantize(CENT, rounding=ROUND_HALF_UP)
            day = rng.randrange(1, 29)
            seats = rng.randrange(1, 300)
            sub_id = str(uuid.UUID(int=rng.getrandbits(128)))
            start = f"3/{day}/2026"
            end = "3/31/2026" if day == 1 else f"4/{day - 1}/2026"
            if term == "P1Y":
                began = date(2025, rng.randrange(4, 13), day)
                ends = date(2026, began.month, day) - timedelta(days=1)
                sub_start, sub_end = f"{began.month}/{day}/2025", f"{ends.month}/{ends.day}/{ends.year}"
            else:
                sub_start, sub_end = start, end
            cycle_days = 31
            final_seats = seats
            events: list[tuple[str, str, str, Decimal, int, str]] = [
                ("cycleCharge", start, start, unit_price, seats, "")
            ]
            if rng.random() < 0.3 and written + 3 <= lines:
                change_day = rng.randrange(day, 32)
                event = f"3/{change_day}/2026"
                end_day = 31 + (day - 1 if day > 1 else 0)
                billing_days = end_day - change_day + 1
                eup = (unit_price / cycle_days * billing_days).quantize(MICRO)
                new_seats = seats + rng.randrange(1, 20)
                ref = str(uuid.UUID(int=rng.getrandbits(128)))
                events.append(("addQuantity", event, event, -eup, seats, ref))
                events.append(("addQuantity", event, event, eup, new_seats, ref))
                final_seats = new_seats
            plant = rng.random()
            for charge, order_date, charge_start, eup, qty, ref in events:
                if written >= lines:
                    break
                row = template.copy()
                written += 1
                line_price = unit_price
                line_eup = eup
                if plant < 0.0005 and charge == "cycleCharge":
                    line_price = unit_price + 1  # unit price variance
                    line_eup = line_price
                elif 0.0005 <= plant < 0.001 and charge == "cycleCharge":
                    line_eup = (eup * Decimal("0.9")).quantize(MICRO)  # proration variance
                subtotal = (line_eup.copy_abs().quantize(CENT, rounding=ROUND_DOWN) * qty).copy_sign(line_eup)
                row[index["CustomerId"]] = customer_id
                row[index["CustomerName"]] = customer_name
                row[index["CustomerDomainName"]] = customer_name.replace(" ", "").lower() + ".onmicrosoft.com"
                row[index["CustomerCountry"]] = "DE" if ccy == "EUR" else "US"
                row[index["InvoiceNumber"]] = "G000100301" if ccy == "USD" else "G000100302"
                row[index["OrderId"]] = f"{n_sub:012x}"
                row[index["AlternateId"]] = row[index["OrderId"]]
                row[index["OrderDate"]] = order_date
                row[index["ProductId"]] = pid
                row[index["SkuId"]] = sku
                row[index["AvailabilityId"]] = pid[:8] + "AV01"
                row[index["SkuName"]] = row[index["ProductName"]] = row[index["SubscriptionDescription"]] = (
                    f"{pid} {sku}"
                )
                row[index["ChargeType"]] = charge
                row[index["UnitPrice"]] = str(line_price)
                row[index["Quantity"]] = row[index["BillableQuantity"]] = str(qty)
                row[index["Subtotal"]] = row[index["Total"]] = str(subtotal)
                row[index["Currency"]] = row[index["PricingCurrency"]] = ccy
                row[index["SubscriptionId"]] = sub_id
                row[index["ChargeStartDate"]] = charge_start
                row[index["ChargeEndDate"]] = end
                row[index["TermAndBillingCycle"]] = text
                row[index["EffectiveUnitPrice"]] = str(line_eup)
                row[index["BillingFrequency"]] = plan
                row[index["SubscriptionStartDate"]] = sub_start
                row[index["SubscriptionEndDate"]] = sub_end
                row[index["ReferenceId"]] = ref
                writer.writerow(row)
                if plant > 0.9995 and written < lines:  # duplicate line
                    writer.writerow(row)
                    written += 1
            subs.writerow([customer_id, sub_id, f"{pid}:{sku}:{pid[:8]}AV01", final_seats, "active", term,
                           plan.lower(), _iso(sub_start), ccy])  # fmt: skip
    return paths


def _iso(mdy: str) -> str:
    m, d, y = (int(x) for x in mdy.split("/"))
    return f"{y:04d}-{m:02d}-{d:02d}T00:00:00Z"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--prices", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    paths = generate(args.lines, args.prices, args.out, args.seed)
    for name, path in paths.items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:,.1f} MB)")
    print(f"generated in {time.perf_counter() - started:,.1f} s")


if __name__ == "__main__":
    main()
