"""Write sample_data/recon_sample.csv, recon_pricelist.csv, recon_subscriptions.csv and recon_invoices.json.

The March 2026 invoice reconciliation of the emulator's seeded partner and customers (customers.json), priced from
catalog.json (term prices; each line's UnitPrice is the price of one billing period = term price ÷ billing periods),
with variances planted on purpose (README-recon.md lists them).
Run: python sample_data/recon_make_sample.py
"""

from __future__ import annotations

import csv
import json
import sys
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cspkit.billing.pricing import CENT, period_price  # noqa: E402

CATALOG = json.loads((HERE / "catalog.json").read_text())
CUSTOMERS = {c["companyName"]: c for c in json.loads((HERE / "customers.json").read_text())["customers"]}
PARTNER = json.loads((HERE / "customers.json").read_text())["partner"]
COLUMNS = (
    "PartnerId,CustomerId,CustomerName,CustomerDomainName,CustomerCountry,InvoiceNumber,MpnId,Tier2MpnId,OrderId,"
    "OrderDate,ProductId,SkuId,AvailabilityId,SkuName,ProductName,ChargeType,UnitPrice,Quantity,Subtotal,TaxTotal,"
    "Total,Currency,PriceAdjustmentDescription,PublisherName,PublisherId,SubscriptionDescription,SubscriptionId,"
    "ChargeStartDate,ChargeEndDate,TermAndBillingCycle,EffectiveUnitPrice,UnitType,AlternateId,BillableQuantity,"
    "BillingFrequency,PricingCurrency,PCToBCExchangeRate,PCToBCExchangeRateDate,MeterDescription,ReservationOrderId,"
    "CreditReasonCode,SubscriptionStartDate,SubscriptionEndDate,ReferenceId,ProductQualifiers,PromotionId,"
    "ProductCategory"
).split(",")
INVOICES = {"USD": "G000000301", "EUR": "G000000302"}


def product(pid: str, sku: str) -> tuple[dict, dict]:
    p = next(p for p in CATALOG["products"] if p["id"] == pid)
    return p, next(s for s in p["skus"] if s["id"] == sku)


def price(pid: str, sku: str, term: str, cycle: str, ccy: str) -> Decimal:
    """What one billing period costs: the catalog's term price ÷ billing periods, to the cent (Microsoft's rule)."""
    _, s = product(pid, sku)
    t = next(t for t in s["terms"] if t["duration"] == term and t["billingCycle"] == cycle)
    return period_price(Decimal(t["prices"][ccy]["unitPrice"]), term, cycle).quantize(CENT, rounding=ROUND_HALF_UP)


def mdy(day: str) -> str:
    y, m, d = (int(x) for x in day.split("-"))
    return f"{m}/{d}/{y}"


n_order = 0


def line(customer: str, sub: str, pid: str, sku: str, term: str, cycle: str, charge: str, order_date: str,
         start: str, end: str, sub_start: str, sub_end: str, qty: int, *, eup: Decimal | None = None,
         unit_price: Decimal | None = None, subtotal: Decimal | None = None, tax: Decimal = Decimal("0"),
         ref: str = "", fx: Decimal = Decimal("1"), qualifiers: str = "[]", refund: bool = False,
         pricing_ccy: str | None = None) -> dict[str, str]:
    global n_order
    n_order += 1
    c = CUSTOMERS[customer]
    ccy = "EUR" if c["country"] == "DE" else "USD"
    p, s = product(pid, sku)
    t = next(t for t in s["terms"] if t["duration"] == term and t["billingCycle"] == cycle)
    up = unit_price if unit_price is not None else price(pid, sku, term, cycle, pricing_ccy or ccy)
    eup = eup if eup is not None else up
    eup = -abs(eup) if refund else eup
    if subtotal is None:
        subtotal = (eup * fx).quantize(Decimal("0.01"), rounding=ROUND_DOWN) * qty
    subtotal = subtotal.quantize(Decimal("0.01"))
    return {
        "PartnerId": PARTNER["tenantId"], "CustomerId": c["id"], "CustomerName": c["companyName"],
        "CustomerDomainName": c["domain"], "CustomerCountry": c["country"], "InvoiceNumber": INVOICES[ccy],
        "MpnId": PARTNER["mpnId"], "Tier2MpnId": PARTNER["mpnId"], "OrderId": f"5a0c{n_order:08x}",
        "OrderDate": mdy(order_date), "ProductId": pid, "SkuId": sku, "AvailabilityId": s["availabilityId"],
        "SkuName": s["title"], "ProductName": p["title"], "ChargeType": charge, "UnitPrice": str(up),
        "Quantity": str(qty), "Subtotal": str(subtotal), "TaxTotal": str(tax), "Total": str(subtotal + tax),
        "Currency": ccy, "PriceAdjustmentDescription": "", "PublisherName": p["publisherName"],
        "PublisherId": p.get("publisherId", ""), "SubscriptionDescription": s["title"], "SubscriptionId": sub,
        "ChargeStartDate": mdy(start), "ChargeEndDate": mdy(end), "TermAndBillingCycle": t["description"],
        "EffectiveUnitPrice": str(eup), "UnitType": "", "AlternateId": f"5a0c{n_order:08x}",
        "BillableQuantity": str(qty), "BillingFrequency": {"monthly": "Monthly", "annual": "Annual"}.get(cycle, ""),
        "PricingCurrency": pricing_ccy or ccy, "PCToBCExchangeRate": str(fx), "PCToBCExchangeRateDate": "3/1/2026",
        "MeterDescription": "", "ReservationOrderId": "", "CreditReasonCode": "",
        "SubscriptionStartDate": mdy(sub_start), "SubscriptionEndDate": mdy(sub_end), "ReferenceId": ref,
        "ProductQualifiers": qualifiers, "PromotionId": "", "ProductCategory": "",
    }


def prorated(up: Decimal, cycle_days: int, days: int) -> Decimal:
    return (up / cycle_days * days).quantize(Decimal("0.000001"))


S = {i: f"5b{i:06d}-0c1d-4e2f-8a3b-4c5d6e7f8a{i:02d}" for i in range(1, 14)}
R = {i: f"7e{i:06d}-1111-4222-8333-444455556666" for i in range(1, 5)}
CD, FC, LL, AW, WT = ("Contoso Dental Group", "Fourth Coffee Roasters", "Litware Legal LLP",
                      "Adventure Works Cycles", "Wingtip Toys GmbH")
BB, BS, BP, E3, AC, HD = ("CFQ7TTC0LH18", "0001"), ("CFQ7TTC0LCHC", "0002"), ("CFQ7TTC0LDPB", "0001"), \
    ("CFQ7TTC0LFLZ", "0002"), ("CFQ7TTC0HDK0", "0001"), ("DZH318Z0SA01", "0001")
eup_add = prorated(price(*BB, "P1Y", "monthly", "USD"), 31, 26)
eup_cancel = prorated(Decimal("150.00"), 365, 362)
eup_refund = prorated(price(*BP, "P1Y", "monthly", "USD"), 31, 15)
rows = [
    # S1 clean cycle charge, then +2 seats on 3/20 (refund 10 / charge 12 pair sharing a ReferenceId)
    line(CD, S[1], *BB, "P1Y", "monthly", "cycleCharge", "2026-03-15", "2026-03-15", "2026-04-14", "2026-01-15",
         "2027-01-14", 10),
    line(CD, S[1], *BB, "P1Y", "monthly", "addQuantity", "2026-03-20", "2026-03-20", "2026-04-14", "2026-01-15",
         "2027-01-14", 10, eup=eup_add, refund=True, ref=R[1]),
    line(CD, S[1], *BB, "P1Y", "monthly", "addQuantity", "2026-03-20", "2026-03-20", "2026-04-14", "2026-01-15",
         "2027-01-14", 12, eup=eup_add, ref=R[1]),
    # S2 unit price 27.00 where the price list says 26.40
    line(CD, S[2], *BP, "P1M", "monthly", "cycleCharge", "2026-03-01", "2026-03-01", "2026-03-31", "2026-02-01",
         "2026-02-28", 5, unit_price=Decimal("27.00")),
    # S12 Subtotal 127.50 where 12.60 × 10 = 126.00
    line(CD, S[12], *AC, "P1Y", "monthly", "cycleCharge", "2026-03-15", "2026-03-15", "2026-04-14", "2026-01-15",
         "2027-01-14", 10, subtotal=Decimal("127.50")),
    # S3 billed 20 seats, subscription has 18
    line(FC, S[3], *E3, "P1Y", "monthly", "cycleCharge", "2026-03-05", "2026-03-05", "2026-04-04", "2025-12-05",
         "2026-12-04", 20),
    # S4 new purchase billed twice (same ReferenceId)
    line(FC, S[4], *AC, "P1M", "monthly", "new", "2026-03-10", "2026-03-10", "2026-04-09", "2026-03-10",
         "2026-04-09", 3, ref=R[2]),
    line(FC, S[4], *AC, "P1M", "monthly", "new", "2026-03-10", "2026-03-10", "2026-04-09", "2026-03-10",
         "2026-04-09", 3, ref=R[2]),
    # S5 annual prepaid purchase and its cancellation refund 3 days later (clean)
    line(LL, S[5], *BS, "P1Y", "annual", "new", "2026-03-03", "2026-03-03", "2027-03-02", "2026-03-03",
         "2027-03-02", 4, ref=R[3]),
    line(LL, S[5], *BS, "P1Y", "annual", "cancelImmediate", "2026-03-06", "2026-03-06", "2027-03-02",
         "2026-03-03", "2027-03-02", 4, eup=eup_cancel, refund=True, ref=R[4]),
    # S6 SaaS subscription cancelled on 2/20 but charged for March
    line(LL, S[6], *HD, "P1M", "monthly", "cycleCharge", "2026-03-01", "2026-03-01", "2026-03-31", "2026-01-01",
         "2026-01-31", 8),
    # S13 trial at zero price (clean)
    line(LL, S[13], "CFQ7TTC0LDPB", "0005", "P1M", "none", "new", "2026-03-12", "2026-03-12", "2026-04-11",
         "2026-03-12", "2026-04-11", 25, qualifiers='["Trial"]'),
    # S8 refund of 15 seats whose charge is not in the file
    line(AW, S[8], *BP, "P1Y", "monthly", "cancelImmediate", "2026-03-28", "2026-03-28", "2026-04-11", "2025-04-12",
         "2026-04-11", 15, eup=eup_refund, refund=True),
    # S9 full-cycle purchase whose EffectiveUnitPrice (25.00) is not the unit price (27.60)
    line(AW, S[9], *E3, "P1M", "monthly", "new", "2026-03-18", "2026-03-18", "2026-04-17", "2026-03-18",
         "2026-04-17", 2, eup=Decimal("25.00")),
    # S10 EUR, with 19 % tax (clean)
    line(WT, S[10], *BB, "P1Y", "monthly", "cycleCharge", "2026-03-08", "2026-03-08", "2026-04-07", "2025-10-08",
         "2026-10-07", 6, tax=Decimal("6.70")),
    # S11 EUR priced in EUR but exchange rate 0.92
    line(WT, S[11], *E3, "P1Y", "monthly", "cycleCharge", "2026-03-08", "2026-03-08", "2026-04-07", "2025-10-08",
         "2026-10-07", 3, fx=Decimal("0.92")),
]
# S7 (Adventure Works, Business Basic monthly, 25 seats, active) has no line at all: missing charge.

with open(HERE / "recon_sample.csv", "w", newline="", encoding="utf-8") as fh:
    writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)

subs = [
    (CD, 1, BB, 12, "active", "P1Y", "monthly", "2026-01-15", ""),
    (CD, 2, BP, 5, "active", "P1M", "monthly", "2026-02-01", ""),
    (CD, 12, AC, 10, "active", "P1Y", "monthly", "2026-01-15", ""),
    (FC, 3, E3, 18, "active", "P1Y", "monthly", "2025-12-05", ""),
    (FC, 4, AC, 3, "active", "P1M", "monthly", "2026-03-10", ""),
    (LL, 5, BS, 4, "deleted", "P1Y", "annual", "2026-03-03", "2026-03-06"),
    (LL, 6, HD, 8, "deleted", "P1M", "monthly", "2026-01-01", "2026-02-20"),
    (LL, 13, ("CFQ7TTC0LDPB", "0005"), 25, "active", "P1M", "none", "2026-03-12", ""),
    (AW, 7, BB, 25, "active", "P1M", "monthly", "2025-12-01", ""),
    (AW, 8, BP, 0, "deleted", "P1Y", "monthly", "2025-04-12", "2026-03-28"),
    (AW, 9, E3, 2, "active", "P1M", "monthly", "2026-03-18", ""),
    (WT, 10, BB, 6, "active", "P1Y", "monthly", "2025-10-08", ""),
    (WT, 11, E3, 3, "active", "P1Y", "monthly", "2025-10-08", ""),
]
with open(HERE / "recon_subscriptions.csv", "w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(["customer_id", "subscription_id", "offer_id", "quantity", "status", "term_duration",
                     "billing_cycle", "effective_start", "cancelled_at", "currency"])
    for cust, i, (pid, sku), qty, status, term, cycle, start, cancel in subs:
        c = CUSTOMERS[cust]
        avail = product(pid, sku)[1]["availabilityId"]
        writer.writerow([c["id"], S[i], f"{pid}:{sku}:{avail}", qty, status, term, cycle, start + "T00:00:00Z",
                         cancel + "T10:00:00Z" if cancel else "", "EUR" if c["country"] == "DE" else "USD"])

# price-list rows (NCE price list format, billing-formats.md §1.5a) for both markets of the seed catalog
header = ["ProductTitle", "ProductId", "SkuId", "SkuTitle", "Publisher", "SkuDescription", "UnitOfMeasure",
          "TermDuration", "BillingPlan", "Market", "Currency", "UnitPrice", "PricingTierRangeMin",
          "PricingTierRangeMax", "EffectiveStartDate", "EffectiveEndDate", "Tags", "ERP Price", "Segment"]
with open(HERE / "recon_pricelist.csv", "w", newline="", encoding="utf-8") as fh:
    writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(header)
    for market in CATALOG["markets"]:
        for p in CATALOG["products"]:
            for s in p["skus"]:
                for t in s["terms"]:
                    pr = t["prices"][market["currency"]]
                    writer.writerow([
                        p["title"], p["id"], s["id"], s["title"], p["publisherName"], s["description"], "",
                        t["duration"], {"monthly": "Monthly", "annual": "Annual"}.get(t["billingCycle"], "None"),
                        market["country"], market["currency"], pr["unitPrice"], "", "", "1/1/2026 12:00:00 AM",
                        "11/30/9999 11:59:59 PM", ";".join(s.get("tags", [])), pr["erpPrice"], "Commercial",
                    ])

totals: dict[str, Decimal] = {}
for r in rows:
    totals[r["Currency"]] = totals.get(r["Currency"], Decimal(0)) + Decimal(r["Total"])
invoices = [
    {"id": INVOICES["USD"], "invoiceDate": "2026-04-06T00:00:00Z", "billingPeriodStartDate": "2026-03-01T00:00:00Z",
     "billingPeriodEndDate": "2026-03-31T23:59:59Z", "totalCharges": str(totals["USD"]), "currencyCode": "USD",
     "invoiceType": "OneTime", "documentType": "invoice"},
    # the EUR invoice is 5.00 more than its lines: the tie-out shows the difference
    {"id": INVOICES["EUR"], "invoiceDate": "2026-04-06T00:00:00Z", "billingPeriodStartDate": "2026-03-01T00:00:00Z",
     "billingPeriodEndDate": "2026-03-31T23:59:59Z", "totalCharges": str(totals["EUR"] + 5), "currencyCode": "EUR",
     "invoiceType": "OneTime", "documentType": "invoice"},
]
(HERE / "recon_invoices.json").write_text(json.dumps({"totalCount": 2, "items": invoices}, indent=2) + "\n")
print(totals)
