"""Co-terming on the emulator: Get custom term end dates, a cart line's customTermEndDate, and the prorated first
charge (billing-formats.md §2.4: EffectiveUnitPrice = UnitPrice / chargeCycleDays × billingDays)."""

from __future__ import annotations

from decimal import Decimal as D

from tests.emulator.conftest import BASIC, E3, HELPDESK, PREMIUM, US_CUSTOMER


def end_dates(pc, term: str, **query):
    r = pc.get(f"/customers/{US_CUSTOMER}/subscriptions/customTermEndDates", params={"term_duration": term, **query})
    assert r.status_code == 200, r.text
    return r.json()


def unbilled(pc):
    return pc.all_pages("/invoices/unbilled/lineitems", params={
        "provider": "onetime", "invoicelineitemtype": "billinglineitems", "currencycode": "USD", "period": "current"})


def test_custom_term_end_dates_are_the_month_end_and_the_customers_subscription_ends(pc):
    basic = pc.buy_one(US_CUSTOMER, BASIC, 5)  # P1M from 2 November: last day 1 December
    e3 = pc.buy_one(US_CUSTOMER, E3, 2, "P1Y", "annual")  # last day 1 November 2027
    body = end_dates(pc, "P1M")
    assert body["attributes"] == {"objectType": "Collection"}
    assert body["items"] == [
        {"allowedCustomTermEndDateType": "calendarMonthAligned", "allowedCustomTermEndDate": "2026-11-30T00:00:00"},
        {"allowedCustomTermEndDateType": "subscriptionAligned", "cotermSubscriptionIds": [basic["id"]],
         "allowedCustomTermEndDate": "2026-12-01T00:00:00"}]  # E3 ends after a one-month term would
    yearly = end_dates(pc, "P1Y")["items"]
    assert [(i["allowedCustomTermEndDateType"], i["allowedCustomTermEndDate"][:10]) for i in yearly] == [
        ("calendarMonthAligned", "2027-10-31"), ("subscriptionAligned", "2026-12-01"),
        ("subscriptionAligned", "2027-11-01")]
    target = end_dates(pc, "P1Y", target_coterm_subscription_id=e3["id"])["items"]
    assert [i.get("cotermSubscriptionIds") for i in target] == [None, [e3["id"]]]
    assert pc.get(f"/customers/{US_CUSTOMER}/subscriptions/customTermEndDates").status_code == 400
    past = pc.get(f"/customers/{US_CUSTOMER}/subscriptions/customTermEndDates",
                  params={"term_duration": "P1M", "term_start_date": "2026-10-01"})
    assert past.status_code == 400  # "This can't be in the past"


def test_a_co_termed_purchase_ends_with_its_target_and_its_first_charge_is_prorated(pc, emulator):
    basic = pc.buy_one(US_CUSTOMER, BASIC, 5)
    emulator.clock.advance("P10D")  # 12 November
    result = pc.buy(US_CUSTOMER, pc.line(PREMIUM, 3, customTermEndDate="2026-12-01T00:00:00Z"))
    sub = pc.subscription(US_CUSTOMER, result["orders"][0]["lineItems"][0]["subscriptionId"])
    assert sub["commitmentEndDate"] == basic["commitmentEndDate"]  # both renew together
    [first] = [ln for ln in unbilled(pc) if ln["subscriptionId"] == sub["id"]]
    # the cycle 2 Nov - 1 Dec (30 days) is billed from 12 Nov: 26.40 / 30 × 20 = 17.60 a seat
    assert first["chargeStartDate"] == "2026-11-12T00:00:00Z" and first["chargeEndDate"] == "2026-12-01T00:00:00Z"
    assert D(first["effectiveUnitPrice"]) == D("17.6") and D(first["subtotal"]) == D("52.8")
    assert first["unitPrice"] == "26.4" and first["subscriptionEndDate"] == "2026-12-01T00:00:00Z"


def test_a_month_aligned_year_billed_monthly_prorates_only_its_first_cycle(pc, emulator):
    emulator.clock.advance("P10D")  # 12 November
    result = pc.buy(US_CUSTOMER, pc.line(BASIC, 2, "P1Y", "monthly", customTermEndDate="2027-10-31T00:00:00Z"))
    sub_id = result["orders"][0]["lineItems"][0]["subscriptionId"]
    [first] = [ln for ln in unbilled(pc) if ln["subscriptionId"] == sub_id]
    # cycles run from the 1st (counted back from the end, 1 November 2027): 12-30 November is 19 of 30 days
    assert (first["chargeStartDate"][:10], first["chargeEndDate"][:10]) == ("2026-11-12", "2026-11-30")
    assert D(first["effectiveUnitPrice"]) == D("3.99") and D(first["subtotal"]) == D("7.98")
    emulator.clock.set("2026-12-08T00:00:00Z")
    [december] = [ln for ln in unbilled(pc) if ln["subscriptionId"] == sub_id]
    assert december["chargeType"] == "cycleCharge" and december["chargeStartDate"][:10] == "2026-12-01"
    assert D(december["effectiveUnitPrice"]) == D("6.3")


def test_a_co_termed_annual_term_is_prorated_over_the_year(pc, emulator):
    emulator.clock.advance("P10D")
    result = pc.buy(US_CUSTOMER, pc.line(E3, 1, "P1Y", "annual", customTermEndDate="2027-10-31T00:00:00Z"))
    sub_id = result["orders"][0]["lineItems"][0]["subscriptionId"]
    [first] = [ln for ln in unbilled(pc) if ln["subscriptionId"] == sub_id]
    # 276.00 / 365 × 354 days (12 Nov 2026 - 31 Oct 2027)
    assert D(first["effectiveUnitPrice"]) == (D("276") / 365 * 354).quantize(D("0.000001"))
    assert D(first["subtotal"]) == D("267.68")


def test_end_dates_that_are_not_offered_are_refused_on_the_cart_line(pc):
    bad = pc.cart(US_CUSTOMER, pc.line(BASIC, 1, customTermEndDate="2026-11-20T00:00:00Z"))["lineItems"][0]["error"]
    assert bad["errorCode"] == "InvalidCustomTermEndDate" and "2026-11-30" in bad["errorDescription"]
    saas = pc.cart(US_CUSTOMER, pc.line(HELPDESK, 1, customTermEndDate="2026-11-30T00:00:00Z"))["lineItems"][0]
    assert saas["error"]["errorCode"] == "InvalidCustomTermEndDateProduct"
    ok = pc.cart(US_CUSTOMER, pc.line(BASIC, 1, customTermEndDate="2026-11-30T00:00:00Z"))["lineItems"][0]
    assert "error" not in ok and ok["customTermEndDate"] == "2026-11-30T00:00:00Z"
