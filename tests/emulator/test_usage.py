"""The emulator's Azure plan: ordering, deterministic daily rated usage, PEC loss, a spike, the invoice tie, and the
v1 usagelineitems and Graph usage export routes (plain requests; the usage library reads what they serve)."""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
import requests

from cspkit.billing.recon_columns import DAILY_USAGE_COLUMNS
from cspkit.billing.recon_readers import read_recon
from cspkit.billing.usage import reconcile_usage
from cspkit.emulator.synthetic import recon_page
from cspkit.emulator.usage import DAILY_COLUMNS, daily_csv, iter_usage, usage_page

from .conftest import US_CUSTOMER

AZURE_PLAN = "DZH318Z0BCZC:0001:DZH318Z0BZ8C"


@pytest.fixture
def azure(emulator, pc):
    """An Azure plan for the US customer bought on 2 November 2026; admin access removed on 15 November; a
    20× compute spike on 20 November; November invoiced on 8 December."""
    result = pc.buy(US_CUSTOMER, {"catalogItemId": AZURE_PLAN, "quantity": 1})
    sub_id = result["orders"][0]["lineItems"][0]["subscriptionId"]
    control = requests.Session()
    r = control.post(emulator.url + "/_emulator/azure/admin-access",
                     json={"customerId": US_CUSTOMER, "removedOn": "2026-11-15"}, timeout=10)
    assert r.status_code == 200 and r.json()["removedOn"] == "2026-11-15", r.text
    r = control.post(emulator.url + "/_emulator/azure/usage-spike",
                     json={"subscriptionId": sub_id, "date": "2026-11-20", "factor": 20}, timeout=10)
    assert r.status_code == 200, r.text
    emulator.clock.set("2026-12-08T00:00:00Z")
    invoice = next(i for i in pc.get("/invoices").json()["items"] if i["currencyCode"] == "USD")
    return sub_id, invoice


def test_the_azure_plan_is_listed_in_microsoft_azure_and_ordered_with_quantity_one(emulator, pc):
    azure = pc.get("/products?country=US&targetView=MicrosoftAzure").json()["items"]
    assert [p["id"] for p in azure] == ["DZH318Z0BCZC"]
    online = pc.get("/products?country=US&targetView=OnlineServices").json()["items"]
    assert "DZH318Z0BCZC" not in {p["id"] for p in online}
    cart = pc.post(f"/customers/{US_CUSTOMER}/carts",
                   json={"lineItems": [{"catalogItemId": AZURE_PLAN, "quantity": 2}]}).json()
    assert "quantity 1" in cart["lineItems"][0]["error"]["errorDescription"]
    result = pc.buy(US_CUSTOMER, {"catalogItemId": AZURE_PLAN, "quantity": 1})
    sub = pc.subscription(US_CUSTOMER, result["orders"][0]["lineItems"][0]["subscriptionId"])
    assert (sub["status"], sub["quantity"], sub["offerName"]) == ("active", 1, "Microsoft Azure plan")
    again = pc.post(f"/customers/{US_CUSTOMER}/carts",
                    json={"lineItems": [{"catalogItemId": AZURE_PLAN, "quantity": 1}]}).json()
    assert "already has an Azure plan" in again["lineItems"][0]["error"]["errorDescription"]


def test_usage_is_deterministic_and_has_the_55_columns_read_back_as_daily(emulator, azure, tmp_path):
    _, invoice = azure
    key = {"inv": invoice["id"]}
    first, total = usage_page(emulator.backend, key, 0, 10_000)
    again, _ = usage_page(emulator.backend, key, 0, 10_000)
    assert first == again and total == len(first) == 29 * 9  # 2–30 November, nine resources a day
    assert list(DAILY_COLUMNS) == list(DAILY_USAGE_COLUMNS)
    # paging is a window on the same rows
    middle, _ = usage_page(emulator.backend, key, 100, 25)
    assert middle == first[100:125]
    path = tmp_path / "daily.csv"
    path.write_text(daily_csv(iter_usage(emulator.backend, key)), encoding="utf-8")
    report = read_recon(path, kind="daily")
    assert report.kind == "daily" and len(report.frame) == total
    assert set(DAILY_USAGE_COLUMNS) <= set(report.frame.columns)
    frame = report.frame
    assert set(frame["ChargeType"]) == {"usage"} and set(frame["BenefitType"]) == {"Charge"}  # normalised
    assert sum(Decimal(str(v)) for v in frame["BillingPreTaxTotal"]) == sum(r["BillingPreTaxTotal"] for r in first)
    market = frame[frame["PublisherName"] != "Microsoft"]
    assert len(market) == 29 * 2 and set(market["CreditType"]) == {"Credit Not Applied"}
    assert market["PublisherId"].str.fullmatch(r"\d+").all()
    assert frame["ResourceURI"].str.startswith("/subscriptions/").all() and frame["ResourceGroup"].ne("").any()


def test_pec_stops_the_day_admin_access_is_removed_and_the_spike_is_found(emulator, azure):
    sub_id, invoice = azure
    rows = list(iter_usage(emulator.backend, {"inv": invoice["id"]}))
    first_party = [r for r in rows if r["PublisherName"] == "Microsoft"]
    before = {r["CreditType"] for r in first_party if r["UsageDate"] < date(2026, 11, 15)}
    after = {r["CreditType"] for r in first_party if r["UsageDate"] >= date(2026, 11, 15)}
    assert before == {"Partner Earned Credit Applied"} and after == {"Credit Not Applied"}
    applied = next(r for r in first_party if r["CreditType"] == "Partner Earned Credit Applied")
    assert applied["PartnerEarnedCreditPercentage"] == applied["CreditPercentage"] == 15
    assert applied["EffectiveUnitPrice"] == applied["UnitPrice"] * Decimal("0.85")
    lost = next(r for r in first_party if r["CreditType"] == "Credit Not Applied")
    assert lost["PartnerEarnedCreditPercentage"] is None and lost["EffectiveUnitPrice"] == lost["UnitPrice"]

    result = reconcile_usage(pd.DataFrame(rows).astype({c: str for c in ("BillingPreTaxTotal", "PricingPreTaxTotal")})
                             .pipe(_decimals))
    pec = result.pec.iloc[0]
    assert (pec["Status"], pd.Timestamp(pec["StoppedOn"]).date()) == ("lost", date(2026, 11, 15))
    spikes = result.anomalies[result.anomalies["Kind"] == "spend spike"]
    assert [(r.SubscriptionId, pd.Timestamp(r.UsageDate).date()) for r in spikes.itertuples()] == [
        (sub_id, date(2026, 11, 20))]


def _decimals(frame: pd.DataFrame) -> pd.DataFrame:
    import pyarrow as pa

    out = frame.copy()
    for c in ("BillingPreTaxTotal", "PricingPreTaxTotal"):
        out[c] = pd.array([Decimal(v) for v in frame[c]], dtype=pd.ArrowDtype(pa.decimal128(38, 15)))
    out["UsageDate"] = pd.to_datetime(out["UsageDate"])
    return out


def test_the_invoice_carries_the_usage_and_ties_to_the_daily_rows(emulator, azure, pc, tmp_path):
    sub_id, invoice = azure
    lines = pc.all_pages(f"/invoices/{invoice['id']}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems"
                         "&currencycode=USD&size=5")
    usage = [x for x in lines if x["subscriptionDescription"] == "Azure plan"]
    assert usage and {x["chargeType"] for x in usage} == {"usage"} and all(x["meterDescription"] for x in usage)
    assert Decimal(str(invoice["totalCharges"])) == sum(Decimal(x["totalForCustomer"]) for x in lines)
    path = tmp_path / "daily.csv"
    path.write_text(daily_csv(iter_usage(emulator.backend, {"inv": invoice["id"]})), encoding="utf-8")
    frame = pd.DataFrame({"SubscriptionId": [x["subscriptionId"] for x in lines],
                          "Subtotal": [Decimal(x["subtotal"]) for x in lines],
                          "Currency": [x["currency"] for x in lines],
                          "InvoiceNumber": [x["invoiceNumber"] for x in lines],
                          "ProductId": [x["productId"] for x in lines], "SkuId": [x["skuId"] for x in lines],
                          "AvailabilityId": [x["availabilityId"] for x in lines],
                          "SubscriptionDescription": [x["subscriptionDescription"] for x in lines]})
    result = reconcile_usage(path, invoice=frame)
    tie = result.invoice_tie
    assert list(tie["SubscriptionId"]) == [sub_id] and list(tie["Status"]) == ["ties"]
    # each invoice line is the usage formula's ROUNDDOWN to cents: under a cent per line of difference
    assert Decimal(0) <= Decimal(tie["Difference"].iloc[0]) < Decimal("0.01") * len(usage)
    assert (result.invoice_tie_products["Status"] == "ties").all()


def test_v1_usage_line_items_billed_unbilled_and_paged(emulator, azure, pc):
    sub_id, invoice = azure
    base = f"/invoices/{invoice['id']}/lineitems?provider=onetime&invoicelineitemtype=usagelineitems&currencycode=USD"
    first = pc.get(base + "&size=100").json()
    assert first["totalCount"] == 100 and first["links"]["next"]["headers"][0]["key"] == "MS-ContinuationToken"
    items = pc.all_pages(base + "&size=100")
    assert len(items) == 29 * 9
    item = items[0]
    assert item["attributes"]["objectType"] == "DailyRatedUsageLineItem"
    assert item["invoiceLineItemType"] == "usage_line_items" and item["subscriptionId"] == sub_id
    assert {"unitOfMeasure", "resourceUri", "rateOfPartnerEarnedCredit", "entitlementId", "meterId"} <= set(item)
    assert item["rateOfPartnerEarnedCredit"] == "0.15" and item["hasPartnerEarnedCredit"] is True
    with_pec = pc.all_pages(base + "&hasPartnerEarnedCredit=true&size=50")
    assert len(with_pec) == 13 * 7 and all(x["hasPartnerEarnedCredit"] for x in with_pec)  # 2–14 Nov, first party
    # unbilled: December so far (1–7 December), nothing unbilled left for November
    current = pc.all_pages("/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=usagelineitems"
                           "&currencycode=USD&period=current")
    assert len(current) == 7 * 9 and {x["invoiceNumber"] for x in current} == {""}
    previous = pc.get("/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=usagelineitems"
                      "&currencycode=USD&period=previous").json()
    assert previous["totalCount"] == 0
    assert pc.get("/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=usagelineitems"
                  "&currencycode=EUR&period=current").json()["totalCount"] == 0  # DE customer has no plan
    bad = pc.get(base + "&hasPartnerEarnedCredit=maybe")
    assert bad.status_code == 400 and "hasPartnerEarnedCredit" in bad.text


def test_graph_usage_export_answers_the_documented_shape(emulator, azure):
    _, invoice = azure
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {emulator.token}"
    r = s.post(emulator.url + "/v1.0/reports/partners/billing/usage/billed/export",
               json={"invoiceId": invoice["id"], "attributeSet": "full"}, timeout=10)
    assert r.status_code == 202
    location = r.headers["Location"]
    body = {}
    for _ in range(20):
        body = s.get(location, timeout=10).json()
        if body["status"] in ("succeeded", "failed"):
            break
    assert body["status"] == "succeeded", body
    manifest = s.get(body["resourceLocation@odata.navigationLink"], timeout=10).json()
    records = []
    for blob in manifest["blobs"]:
        data = requests.get(f"{manifest['rootDirectory']}/{blob['name']}?{manifest['sasToken']}", timeout=10).content
        records += [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    assert len(records) == 29 * 9
    assert list(records[0]) == [c[:1].lower() + c[1:] if not c.startswith("PCTo") else "pc" + c[2:]
                                for c in DAILY_COLUMNS]
    assert isinstance(records[0]["billingPreTaxTotal"], (int, float)) and records[0]["chargeType"] == "Usage"
    daily = sum(Decimal(str(r["BillingPreTaxTotal"])) for r in iter_usage(emulator.backend, {"inv": invoice["id"]}))
    assert abs(sum(Decimal(str(x["billingPreTaxTotal"])) for x in records) - daily) < Decimal("1E-9")


def test_no_azure_plan_no_usage_and_recon_lines_unchanged(emulator, pc):
    pc.buy_one(US_CUSTOMER, "CFQ7TTC0LH18:0001:CFQ7TTC0K59J", 3)
    emulator.clock.set("2026-12-08T00:00:00Z")
    invoice = pc.get("/invoices").json()["items"][0]
    items, total = recon_page(emulator.backend, {"inv": invoice["id"]}, 0, 100)
    assert total == len(items) == 1 and items[0]["chargeType"] == "new"
    usage = pc.get(f"/invoices/{invoice['id']}/lineitems?provider=onetime&invoicelineitemtype=usagelineitems"
                   "&currencycode=USD").json()
    assert usage["totalCount"] == 0 and usage["items"] == []


@pytest.mark.parametrize("body, field", [({"removedOn": "2026-11-15"}, "customerId"),
                                         ({"customerId": US_CUSTOMER, "removedOn": "soon"}, "removedOn")])
def test_the_admin_access_control_route_validates(emulator, body, field):
    r = requests.post(emulator.url + "/_emulator/azure/admin-access", json=body, timeout=10)
    assert r.status_code == 400 and field in r.text
