"""Invoices and reconciliation line items generated from what happened: month-end invoices whose totals tie to
the subscriptions' prices, proration of seat changes, refunds, cycle charges, unbilled lines, seek paging."""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from pathlib import Path

import pytest

from cspkit.billing.pricelist import read_price_list
from cspkit.billing.pricing import period_price
from tests.emulator.conftest import BASIC, DE_CUSTOMER, E3, HELPDESK, PREMIUM, US_CUSTOMER, US_CUSTOMER_2

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"

RECON_FIELDS = [  # the 47 NCE recon columns as the v1 API names them (billing-formats.md §1.1, §1.6)
    "partnerId", "customerId", "customerName", "customerDomainName", "customerCountry", "invoiceNumber", "mpnId",
    "resellerMpnId", "orderId", "orderDate", "productId", "skuId", "availabilityId", "skuName", "productName",
    "chargeType", "unitPrice", "quantity", "subtotal", "taxTotal", "totalForCustomer", "currency",
    "priceAdjustmentDescription", "publisherName", "publisherId", "subscriptionDescription", "subscriptionId",
    "chargeStartDate", "chargeEndDate", "termAndBillingCycle", "effectiveUnitPrice", "unitType", "alternateId",
    "billableQuantity", "billingFrequency", "pricingCurrency", "pcToBCExchangeRate", "pcToBCExchangeRateDate",
    "meterDescription", "reservationOrderId", "creditReasonCode", "subscriptionStartDate", "subscriptionEndDate",
    "referenceId", "productQualifiers", "promotionId", "productCategory",
]


def lines_of(pc, invoice_id: str, size: int = 2000) -> list[dict]:
    return pc.all_pages(f"/invoices/{invoice_id}/lineitems",
                        params={"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": size})


def unbilled(pc, currency: str = "USD", period: str = "current") -> list[dict]:
    return pc.all_pages("/invoices/unbilled/lineitems",
                        params={"provider": "onetime", "invoicelineitemtype": "billinglineitems",
                                "currencycode": currency, "period": period, "size": 2000})


def test_month_end_invoice_ties_to_subscription_prices(pc, emulator):
    basic = pc.buy_one(US_CUSTOMER, BASIC, 5)  # 7.20/month
    premium = pc.buy_one(US_CUSTOMER_2, PREMIUM, 3, "P1Y", "monthly")  # 277.20 a year, billed 23.10 a month
    e3 = pc.buy_one(US_CUSTOMER, E3, 2, "P1Y", "annual")  # 276.00/year
    assert pc.get("/invoices").json()["items"] == []
    pending = unbilled(pc)
    assert len(pending) == 3 and {ln["invoiceNumber"] for ln in pending} == {""}
    emulator.clock.set("2026-12-08T00:00:00Z")  # invoices appear on the 8th of the next month
    invoices = pc.get("/invoices").json()["items"]
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice["id"].startswith("G") and len(invoice["id"]) == 10 and invoice["id"][1:].isdigit()
    assert invoice["billingPeriodStartDate"] == "2026-11-01T00:00:00Z"
    assert invoice["billingPeriodEndDate"] == "2026-11-30T00:00:00Z"
    assert invoice["currencyCode"] == "USD"
    lines = lines_of(pc, invoice["id"])
    by_sub = {ln["subscriptionId"]: ln for ln in lines}
    assert D(by_sub[basic["id"]]["subtotal"]) == D("7.20") * 5
    assert D(by_sub[premium["id"]]["subtotal"]) == D("23.10") * 3
    assert D(by_sub[e3["id"]]["subtotal"]) == D("276.00") * 2
    total = sum(D(ln["totalForCustomer"]) for ln in lines)
    assert total == D(str(invoice["totalCharges"])) == D("36.00") + D("69.30") + D("552.00")
    line = by_sub[basic["id"]]
    assert all(field in line for field in RECON_FIELDS)
    assert line["chargeType"] == "new" and line["invoiceNumber"] == invoice["id"]
    assert line["unitPrice"] == "7.2" and line["quantity"] == "5" and line["billableQuantity"] == "5"
    assert line["effectiveUnitPrice"] == "7.2" and line["taxTotal"] == "0"
    assert line["chargeStartDate"] == "2026-11-02T00:00:00Z" and line["chargeEndDate"] == "2026-12-01T00:00:00Z"
    assert line["billingFrequency"] == "Monthly" and line["pcToBCExchangeRate"] == "1"
    assert line["termAndBillingCycle"] == "One-Month commitment for monthly billing"
    assert line["invoiceLineItemType"] == "billing_line_items" and line["billingProvider"] == "one_time"
    assert line["attributes"] == {"objectType": "OneTimeInvoiceLineItem"}
    assert by_sub[e3["id"]]["billingFrequency"] == "Annual"
    assert unbilled(pc, period="previous") == []  # the previous period is invoiced
    detail = pc.get(f"/invoices/{invoice['id']}").json()["invoiceDetails"][0]
    assert detail["billingProvider"] == "one_time" and detail["invoiceLineItemType"] == "billing_line_items"


def test_seat_changes_are_prorated_pairs_sharing_a_reference_id(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5)
    emulator.clock.set("2026-11-12T09:00:00Z")
    sub = pc.patch_subscription(US_CUSTOMER, sub, quantity=8).json()
    emulator.clock.set("2026-11-17T09:00:00Z")  # the added seats may still be removed: Nov 17 .. Dec 1 = 15 days
    assert pc.patch_subscription(US_CUSTOMER, sub, quantity=6).status_code == 200
    emulator.clock.set("2026-12-08T00:00:00Z")  # invoices appear on the 8th of the next month
    lines = lines_of(pc, pc.get("/invoices").json()["items"][0]["id"])
    removes = sorted((D(ln["effectiveUnitPrice"]), ln["billableQuantity"], ln["subtotal"])
                     for ln in lines if ln["chargeType"] == "removeQuantity")
    assert removes == [(D("-3.6"), "8", "-28.8"), (D("3.6"), "6", "21.6")]  # 7.20 / 30 × 15 = 3.6
    assert len({ln["referenceId"] for ln in lines if ln["chargeType"] == "removeQuantity"}) == 1
    adds = [ln for ln in lines if ln["chargeType"] == "addQuantity"]
    assert len(adds) == 2 and adds[0]["referenceId"] == adds[1]["referenceId"]
    refund = next(ln for ln in adds if D(ln["effectiveUnitPrice"]) < 0)
    charge = next(ln for ln in adds if D(ln["effectiveUnitPrice"]) > 0)
    # cycle Nov 2 - Dec 1: chargeCycleDays 30 (November), billingDays Nov 12..Dec 1 = 20 → 7.20 / 30 × 20 = 4.8
    assert refund["effectiveUnitPrice"] == "-4.8" and refund["billableQuantity"] == "5"
    assert refund["subtotal"] == "-24"
    assert charge["effectiveUnitPrice"] == "4.8" and charge["billableQuantity"] == "8" and charge["subtotal"] == "38.4"
    assert charge["chargeStartDate"] == "2026-11-12T00:00:00Z" and charge["chargeEndDate"] == "2026-12-01T00:00:00Z"
    assert sum(D(ln["subtotal"]) for ln in lines) == D("36.00") + D("14.40") - D("7.20")


def test_cancellation_refunds(pc, emulator):
    full = pc.buy_one(US_CUSTOMER, BASIC, 5)
    prorated = pc.buy_one(US_CUSTOMER_2, BASIC, 4)
    emulator.clock.advance(hours=23)
    pc.patch_subscription(US_CUSTOMER, pc.subscription(US_CUSTOMER, full["id"]), status="deleted")
    emulator.clock.set("2026-11-07T09:00:00Z")  # day 5: prorated refund of Nov 7 .. Dec 1 = 25 days
    pc.patch_subscription(US_CUSTOMER_2, pc.subscription(US_CUSTOMER_2, prorated["id"]), status="deleted")
    lines = unbilled(pc)
    refunds = {ln["subscriptionId"]: ln for ln in lines if ln["chargeType"] == "cancelImmediate"}
    assert refunds[full["id"]]["effectiveUnitPrice"] == "-7.2" and refunds[full["id"]]["subtotal"] == "-36"
    assert refunds[prorated["id"]]["effectiveUnitPrice"] == "-6" and refunds[prorated["id"]]["subtotal"] == "-24"
    assert refunds[prorated["id"]]["billableQuantity"] == "4"
    net = {s: sum(D(ln["subtotal"]) for ln in lines if ln["subscriptionId"] == s) for s in refunds}
    assert net == {full["id"]: D(0), prorated["id"]: D("28.80") - D(24)}


def test_cycle_charges_and_renewals_follow_the_clock(pc, emulator):
    yearly_monthly = pc.buy_one(US_CUSTOMER, PREMIUM, 2, "P1Y", "monthly")
    monthly = pc.buy_one(US_CUSTOMER, BASIC, 1)
    emulator.clock.set("2027-01-08T09:00:00Z")  # two invoices (Nov, issued 8 Dec; Dec, issued 8 Jan)
    invoices = pc.get("/invoices").json()["items"]
    assert [i["billingPeriodStartDate"][:7] for i in invoices] == ["2026-12", "2026-11"]
    december = lines_of(pc, invoices[0]["id"])
    kinds = sorted((ln["subscriptionId"] == monthly["id"], ln["chargeType"]) for ln in december)
    assert kinds == [(False, "cycleCharge"), (True, "renew")]
    cycle = next(ln for ln in december if ln["chargeType"] == "cycleCharge")
    assert cycle["chargeStartDate"] == "2026-12-02T00:00:00Z" and cycle["chargeEndDate"] == "2027-01-01T00:00:00Z"
    assert cycle["subscriptionStartDate"] == "2026-11-02T00:00:00Z"
    assert cycle["subscriptionEndDate"] == "2027-11-01T00:00:00Z"
    assert D(cycle["subtotal"]) == D("23.10") * 2  # 277.20 a year ÷ 12, 2 seats
    current = unbilled(pc)  # January's charges so far: the third cycle charge and the second renewal
    assert sorted(ln["chargeType"] for ln in current) == ["cycleCharge", "renew"]
    assert pc.subscription(US_CUSTOMER, yearly_monthly["id"])["billingCycleEndDate"] == "2027-02-01T09:00:00Z"


def test_each_billing_currency_has_its_own_invoice(pc, emulator):
    pc.buy_one(US_CUSTOMER, BASIC, 1)
    de = pc.buy_one(DE_CUSTOMER, BASIC, 2)
    assert de["offerId"] == BASIC
    emulator.clock.set("2026-12-08T00:00:00Z")  # invoices appear on the 8th of the next month
    invoices = {i["currencyCode"]: i for i in pc.get("/invoices").json()["items"]}
    assert set(invoices) == {"USD", "EUR"}
    assert invoices["EUR"]["currencySymbol"] == "€" and invoices["EUR"]["totalCharges"] == 13.44  # 2 × 6.72
    eur = lines_of(pc, invoices["EUR"]["id"])
    assert [(ln["customerCountry"], ln["currency"], ln["pricingCurrency"]) for ln in eur] == [("DE", "EUR", "EUR")]


def test_recon_seek_paging_and_estimate_links(pc, emulator):
    for _ in range(5):
        pc.buy_one(US_CUSTOMER, BASIC, 1)
    emulator.clock.set("2026-12-08T00:00:00Z")  # invoices appear on the 8th of the next month
    invoice_id = pc.get("/invoices").json()["items"][0]["id"]
    first = pc.get(f"/invoices/{invoice_id}/lineitems",
                   params={"provider": "OneTime", "invoicelineitemtype": "BillingLineItems", "size": 2}).json()
    assert first["totalCount"] == 2
    token = first["links"]["next"]["headers"][0]
    assert token["key"] == "MS-ContinuationToken" and first["continuationToken"] == token["value"]
    assert "seekOperation=Next" in first["links"]["next"]["uri"]
    every = lines_of(pc, invoice_id, size=2)
    assert len(every) == 5 and len({ln["subscriptionId"] for ln in every}) == 5
    assert len(lines_of(pc, invoice_id, size=5000)) == 5  # size is capped at 2000, not refused
    by_path = pc.get(f"/invoices/{invoice_id}/lineitems/OneTime/BillingLineItems").json()
    assert by_path["totalCount"] == 5
    links = pc.get("/invoices/estimates/links", params={"currencycode": "USD"}).json()["items"]
    assert [ln["period"] for ln in links] == ["Current", "Previous"]
    follow = pc.get(links[0]["link"]["uri"]).json()  # December so far: the five P1M renewals of 2 December
    assert follow["attributes"]["objectType"] == "Collection"
    assert [(ln["chargeType"], ln["chargeStartDate"]) for ln in follow["items"]] == \
        [("renew", "2026-12-02T00:00:00Z")] * 5
    previous = pc.get(links[1]["link"]["uri"]).json()  # November is invoiced: nothing of it is unbilled any more
    assert previous["items"] == []
    assert pc.get("/invoices/G999999999").status_code == 404
    bad = pc.get(f"/invoices/{invoice_id}/lineitems", params={"provider": "office",
                                                               "invoicelineitemtype": "billinglineitems"})
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("item", "term", "cycle", "term_price", "unit_price"),
    [
        (PREMIUM, "P1Y", "monthly", "277.20", "23.1"),  # 277.20 ÷ 12
        ("CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5", "P1Y", "monthly", "157.50", "13.13"),  # 13.125 rounded half-up
        (E3, "P1Y", "annual", "276.00", "276"),  # ÷ 1
        (BASIC, "P1M", "monthly", "7.20", "7.2"),  # ÷ 1
        (HELPDESK, "P1Y", "monthly", "86.40", "7.2"),  # marketplace SaaS: priced per term too
    ],
)
def test_line_unit_price_is_the_price_sheet_term_price_divided_by_billing_periods(
    pc, emulator, item, term, cycle, term_price, unit_price
):
    product, sku, _ = item.split(":")
    sheets = [read_price_list(SAMPLE / name) for name in ("pricelist_nce_US_202611.csv",
                                                          "pricelist_marketplace_US_202611.csv")]  # fmt: skip
    rows = [f[(f["ProductId"] == product) & (f["SkuId"] == sku) & (f["TermDuration"] == term)
              & (f["BillingPlan"] == cycle.capitalize())] for f in sheets]  # fmt: skip
    listed = [r["UnitPrice"].iloc[0] for r in rows if len(r)]
    assert listed == [D(term_price)]  # the price sheet serves the term price
    if item == HELPDESK:  # SaaS bills once the publisher activates it: the order's line shows the period price
        order = pc.buy(US_CUSTOMER, pc.line(item, 2, term, cycle))["orders"][0]
        sub = emulator.backend.subscriptions[order["lineItems"][0]["subscriptionId"]]
        assert sub.unit_price == D(unit_price)
        return
    sub = pc.buy_one(US_CUSTOMER, item, 2, term, cycle)
    emulator.clock.set("2026-12-08T00:00:00Z")  # invoices appear on the 8th of the next month
    line = next(ln for ln in lines_of(pc, pc.get("/invoices").json()["items"][0]["id"])
                if ln["subscriptionId"] == sub["id"])  # fmt: skip
    assert line["unitPrice"] == unit_price
    assert D(line["unitPrice"]) == period_price(D(term_price), term, cycle).quantize(D("0.01"), ROUND_HALF_UP)


def test_a_month_of_every_term_and_plan_reconciles_against_the_price_sheet_with_no_variance(pc, emulator):
    # P1Y billed monthly (÷ 12, one at 13.125 → 13.13), P1Y annual (÷ 1), P1M, a seat change: the invoice's lines
    # agree with the served price sheet's term prices under Microsoft's rule
    from cspkit.billing.recon_readers import recon_lines_to_frame
    from cspkit.billing.reconcile import reconcile

    sheet = read_price_list(SAMPLE / "pricelist_nce_US_202611.csv")  # = the emulator's sheet (test_pricesheets)
    premium = pc.buy_one(US_CUSTOMER_2, PREMIUM, 3, "P1Y", "monthly")
    pc.buy_one(US_CUSTOMER, "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5", 4, "P1Y", "monthly")
    pc.buy_one(US_CUSTOMER, E3, 2, "P1Y", "annual")
    pc.buy_one(US_CUSTOMER, BASIC, 5)
    emulator.clock.set("2026-11-12T09:00:00Z")
    assert pc.patch_subscription(US_CUSTOMER_2, premium, quantity=5).status_code == 200
    emulator.clock.set("2026-12-08T00:00:00Z")  # invoices appear on the 8th of the next month
    invoice = pc.get("/invoices").json()["items"][0]
    items = lines_of(pc, invoice["id"])
    assert {ln["unitPrice"] for ln in items} == {"23.1", "13.13", "276", "7.2"}
    result = reconcile(recon_lines_to_frame(items).frame, price_list=sheet,
                       invoices=[{"currencyCode": "USD", "totalCharges": invoice["totalCharges"],
                                  "id": invoice["id"]}])  # fmt: skip
    assert result.variances["Category"].tolist() == []
    assert result.tieout["Status"].tolist() == ["ties"]
