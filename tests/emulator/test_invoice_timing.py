"""Invoice timing and taxes: a month's invoice and reconciliation data appear on the 8th of the next month at
midnight UTC (billing-formats.md § timing: "available on the 6th–8th of the next month"); until then the month's
lines are unbilled (``period=previous``); taxes follow the customer's country from the configurable table."""

from __future__ import annotations

from decimal import Decimal as D

import requests

from tests.emulator.conftest import BASIC, DE_CUSTOMER, US_CUSTOMER
from tests.emulator.test_billing import lines_of, unbilled


def _config(emulator, body: dict | None = None) -> requests.Response:
    url = emulator.url + "/_emulator/config"
    return requests.post(url, json=body, timeout=10) if body is not None else requests.get(url, timeout=10)


def test_november_is_unbilled_until_midnight_of_8_december_then_invoiced(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5)
    emulator.clock.set("2026-12-01T00:00:00Z")  # the month is over, its invoice not out yet
    assert pc.get("/invoices").json()["items"] == []
    previous = unbilled(pc, period="previous")
    assert [(ln["subscriptionId"], ln["chargeType"], ln["invoiceNumber"]) for ln in previous] == \
        [(sub["id"], "new", "")]
    emulator.clock.set("2026-12-07T23:59:59Z")
    assert pc.get("/invoices").json()["items"] == [] and len(unbilled(pc, period="previous")) == 1
    emulator.clock.set("2026-12-08T00:00:00Z")
    invoices = pc.get("/invoices").json()["items"]
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice["invoiceDate"] == "2026-12-08T00:00:00Z"
    assert (invoice["billingPeriodStartDate"], invoice["billingPeriodEndDate"]) == \
        ("2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z")
    assert unbilled(pc, period="previous") == []  # now billed
    billed = lines_of(pc, invoice["id"])
    assert [(ln["subscriptionId"], ln["invoiceNumber"]) for ln in billed] == [(sub["id"], invoice["id"])]
    # December's renewal (2 December) stays unbilled in the current period, for the invoice of 8 January
    assert [ln["chargeType"] for ln in unbilled(pc)] == ["renew"]
    emulator.clock.set("2027-01-08T00:00:00Z")
    assert [i["billingPeriodStartDate"][:7] for i in pc.get("/invoices").json()["items"]] == ["2026-12", "2026-11"]


def test_invoice_day_is_a_policy_setting(pc, emulator):
    assert _config(emulator, {"policyOverrides": {"invoice_day": 6}}).status_code == 200
    pc.buy_one(US_CUSTOMER, BASIC, 1)
    emulator.clock.set("2026-12-05T23:00:00Z")
    assert pc.get("/invoices").json()["items"] == []
    emulator.clock.set("2026-12-06T00:00:00Z")
    assert [i["invoiceDate"] for i in pc.get("/invoices").json()["items"]] == ["2026-12-06T00:00:00Z"]
    bad = _config(emulator, {"policyOverrides": {"invoice_day": 31}})
    assert bad.status_code == 400 and "invoice_day" in bad.json()["description"]


def test_taxes_follow_the_customer_country_from_the_configured_table(pc, emulator):
    assert _config(emulator).json()["taxRates"] == {"US": 0.0}  # 0 for the US by default
    pc.buy_one(US_CUSTOMER, BASIC, 5)  # 7.20 a month
    untaxed = unbilled(pc)[0]
    assert (untaxed["subtotal"], untaxed["taxTotal"], untaxed["totalForCustomer"]) == ("36", "0", "36")

    assert _config(emulator, {"taxRates": {"de": 0.19}}).json()["taxRates"] == {"DE": 0.19, "US": 0.0}
    pc.buy_one(DE_CUSTOMER, BASIC, 3)
    line = unbilled(pc, currency="EUR")[0]
    subtotal = D(line["subtotal"])
    assert D(line["taxTotal"]) == (subtotal * D("0.19")).quantize(D("0.01"))
    assert D(line["totalForCustomer"]) == subtotal + D(line["taxTotal"])
    assert D(line["taxTotal"]) > 0

    emulator.clock.set("2026-12-08T00:00:00Z")
    eur = next(i for i in pc.get("/invoices").json()["items"] if i["currencyCode"] == "EUR")
    assert D(str(eur["totalCharges"])) == subtotal + D(line["taxTotal"])  # the invoice total includes the tax

    for body, field in (({"taxRates": {"GB": 1.5}}, "taxRates.GB"), ({"taxRates": {"GB": "x"}}, "taxRates.GB"),
                        ({"taxRates": {"GBR": 0.2}}, "taxRates.GBR"), ({"taxRates": [1]}, "taxRates")):
        r = _config(emulator, body)
        assert r.status_code == 400 and field in r.json()["description"], (body, r.text)
