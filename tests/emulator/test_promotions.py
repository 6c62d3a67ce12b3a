"""Promotions on the emulator: Get promotions, Verify promotion eligibility, a cart line's promotionId, and the
promoted invoice line (shapes: cspkit/emulator/backend_promotions.py, from Microsoft Learn's pages)."""

from __future__ import annotations

from decimal import Decimal as D

from tests.emulator.conftest import BASIC, E3, US_CUSTOMER

PROMO = "39NFJQT1Q5KP:0001:39NFJQT1Q5KQ"  # Business Basic, P1Y billed monthly, 20% off, Nov 2026 - Jan 2027
LATER = "39NFJQT1Q5KR:0002:39NFJQT1Q5KS"  # Business Standard, P1Y billed annually, from January 2027
STANDARD = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5"
DOCUMENTED_ADJUSTMENT = ('["Price for given billing period","You are getting a discount due to a pre-determined '
                         'override.","You are getting a discount for being a partner.","You are getting a price '
                         'guarantee for your price.","Price for given term"]')


def eligibility(pc, *items):
    r = pc.post(f"/customers/{US_CUSTOMER}/promotionEligibilities", json={"items": list(items)})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_get_promotions_lists_the_promotions_in_force_for_the_market(pc, emulator):
    body = pc.get("/productpromotions", params={"country": "US", "segment": "commercial"}).json()
    assert body["attributes"] == {"objectType": "Collection"} and body["totalCount"] == 1
    promo = body["items"][0]
    assert promo["id"] == PROMO and "emulator" not in promo
    assert promo["startDate"] == "2026-11-01T00:00:00+00:00" and promo["properties"] == {"isAutoApplicable": False}
    assert promo["requiredProducts"] == [{"productId": "CFQ7TTC0LH18", "skuId": "0001",
                                          "term": {"duration": "P1Y", "billingCycle": "Monthly"},
                                          "pricingPolicies": [{"policyType": "PercentDiscount", "value": "0.20"}]}]
    assert pc.get("/productpromotions", params={"country": "US"}).status_code == 400  # segment is required
    assert pc.get(f"/productpromotions/{LATER}", params={"country": "US"}).json()["id"] == LATER
    assert pc.get("/productpromotions/NOPE", params={"country": "US"}).status_code == 404
    emulator.clock.set("2027-01-02T00:00:00Z")  # the January promotion starts
    ids = [p["id"] for p in pc.get("/productpromotions", params={"country": "US", "segment": "commercial"})
           .json()["items"]]
    assert ids == [PROMO, LATER]


def test_eligibility_names_why_a_transaction_does_not_qualify(pc):
    good = {"catalogItemId": BASIC, "quantity": 10, "termDuration": "P1Y", "billingCycle": "Monthly",
            "promotionId": PROMO}
    [item] = eligibility(pc, good)
    assert item["attributes"] == {"objectType": "PromotionEligibilities"} and item["id"] == 0
    assert item["eligibilities"] == [{"promotionId": PROMO, "isEligible": True}]
    [term] = eligibility(pc, {**good, "termDuration": "P1M"})[0]["eligibilities"]
    assert term["isEligible"] is False and term["errors"][0]["type"] == "Term"
    assert term["errors"][0]["eligibleTerms"] == [{"duration": "P1Y", "billingCycle": "Monthly"}]
    [seats] = eligibility(pc, {**good, "quantity": 500})[0]["eligibilities"]
    assert seats["errors"][0] | {} == {"type": "SeatCount", "minimumRequiredSeats": 1, "maximumRequiredSeats": 300,
                                       "description": seats["errors"][0]["description"]}
    [later] = eligibility(pc, {**good, "catalogItemId": STANDARD, "billingCycle": "Annual",
                               "promotionId": LATER})[0]["eligibilities"]
    assert later["errors"][0]["type"] == "InvalidPromotion"  # not started yet
    # without a promotionId: every promotion of the offer, or NoPromotionsAvailable
    basic, e3 = eligibility(pc, {k: v for k, v in good.items() if k != "promotionId"},
                            {"id": 1, "catalogItemId": E3, "quantity": 1, "termDuration": "P1M",
                             "billingCycle": "Monthly"})
    assert basic["eligibilities"] == [{"promotionId": PROMO, "isEligible": True}]
    assert e3["id"] == 1 and e3["eligibilities"][0]["errors"][0]["type"] == "NoPromotionsAvailable"


def test_a_promoted_purchase_is_billed_at_the_discounted_effective_unit_price(pc, emulator):
    line = pc.line(BASIC, 10, "P1Y", "monthly", promotionId=PROMO)
    result = pc.buy(US_CUSTOMER, line)
    sub = pc.subscription(US_CUSTOMER, result["orders"][0]["lineItems"][0]["subscriptionId"])
    assert sub["promotionId"] == PROMO
    # one per customer: a second redemption is refused on the cart line (InvalidPromotionId, 10014)
    again = pc.cart(US_CUSTOMER, line)["lineItems"][0]["error"]
    assert again["errorCode"] == "InvalidPromotionId" and "RedemptionLimit" in again["errorDescription"]
    future = pc.cart(US_CUSTOMER, pc.line(STANDARD, 1, "P1Y", "annual", promotionId=LATER))
    assert future["lineItems"][0]["error"]["errorCode"] == "InvalidPromotionId"
    emulator.clock.set("2026-12-08T00:00:00Z")
    [invoice] = pc.get("/invoices").json()["items"]
    [charge] = [ln for ln in pc.all_pages(f"/invoices/{invoice['id']}/lineitems",
                                          params={"provider": "onetime", "invoicelineitemtype": "billinglineitems"})
                if ln["subscriptionId"] == sub["id"]]
    # UnitPrice stays the list price per billing period (75.60 a year / 12); the discount is in EffectiveUnitPrice
    assert charge["unitPrice"] == "6.3" and D(charge["effectiveUnitPrice"]) == D("5.04")
    assert D(charge["subtotal"]) == D("50.40") and charge["promotionId"] == PROMO
    assert charge["priceAdjustmentDescription"] == DOCUMENTED_ADJUSTMENT
    # December's cycle charge keeps the promotional price (the promotion holds for the term)
    december = pc.all_pages("/invoices/unbilled/lineitems", params={
        "provider": "onetime", "invoicelineitemtype": "billinglineitems", "currencycode": "USD",
        "period": "current"})
    [cycle] = [ln for ln in december if ln["subscriptionId"] == sub["id"]]
    assert cycle["chargeType"] == "cycleCharge" and D(cycle["effectiveUnitPrice"]) == D("5.04")
