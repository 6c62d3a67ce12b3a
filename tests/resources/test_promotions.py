"""pc.promotions and pc.term_end_dates with the documented request and response shapes (Microsoft Learn:
get-promotions, get-promotion-by-id, verify-promotion-eligibility, custom-term-end-dates), and the cart line's
promotionId / customTermEndDate on the wire."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import responses

BASE = "https://pc.test/v1"
CUSTOMER = "46632f71-f052-4384-8f84-4cdb6c12c2a1"

# "Get promotions" response example (abridged to its first promotion)
PROMOTIONS = {"totalCount": 1, "items": [{
    "id": "39NFJQT1PJQB:0001:39NFJQT1Q5KN", "name": "Visio Plan 1", "description": "Visio Plan 1",
    "startDate": "2021-09-23T00:00:00+00:00", "endDate": "2021-10-14T23:59:59+00:00",
    "properties": {"isAutoApplicable": True},
    "requiredProducts": [{"productId": "CFQ7TTC0HD33", "skuId": "0003",
                          "term": {"duration": "P1Y", "billingCycle": "Annual"},
                          "pricingPolicies": [{"policyType": "PercentDiscount", "value": "0.05"}]}]}],
    "attributes": {"objectType": "Collection"}}

# "Verify promotion eligibility" response example with a promotion id
ELIGIBILITIES = {"totalCount": 1, "items": [{
    "id": 0, "catalogItemId": "CFQ7TTC0LH2Z:0002:CFQ7TTC0HRVK", "quantity": 2400, "billingCycle": "monthly",
    "termDuration": "P1Y",
    "eligibilities": [{"promotionId": "39NFJQT1PM6C:0005:39NFJQT1Q5L7", "isEligible": False, "errors": [
        {"minimumRequiredSeats": 1, "maximumRequiredSeats": 2400, "availableSeats": 500, "type": "SeatCount",
         "description": "The provided quantity does not satisfy the minimum or maximum seat requirements for the "
                        "promotion."}]}],
    "attributes": {"objectType": "PromotionEligibilities"}}], "attributes": {"objectType": "Collection"}}

# "Get custom term end dates" response example
END_DATES = {"totalCount": 2, "items": [
    {"allowedCustomTermEndDateType": "calendarMonthAligned", "allowedCustomTermEndDate": "2023-07-31T00:00:00"},
    {"allowedCustomTermEndDateType": "subscriptionAligned",
     "cotermSubscriptionIds": ["5fcf618b-1daa-4604-da99-cc3e1c9ee422", "d30a9ff9-713e-4546-c97e-f06b9dcf6ef6"],
     "allowedCustomTermEndDate": "2023-08-01T00:00:00"}],
    "links": {"self": {"uri": f"/customers/{CUSTOMER}/subscriptions/customTermEndDates?term_duration=P1M",
                       "method": "GET", "headers": []}},
    "attributes": {"objectType": "Collection"}}


@responses.activate
def test_list_promotions_sends_country_and_segment_and_reads_the_pricing_policy(pc):
    responses.get(f"{BASE}/productpromotions", json=PROMOTIONS)
    [promo] = pc.promotions.list(country="us")
    assert responses.calls[0].request.url == f"{BASE}/productpromotions?country=US&segment=commercial"
    assert promo.id == "39NFJQT1PJQB:0001:39NFJQT1Q5KN" and promo.properties.is_auto_applicable is True
    policy = promo.policy_for("CFQ7TTC0HD33", "0003", "P1Y", "annual")
    assert policy.percent_off == Decimal("0.05")
    assert promo.policy_for("CFQ7TTC0HD33", "0003", "P1Y", "monthly") is None  # another billing cycle
    assert promo.end_date.isoformat() == "2021-10-14T23:59:59+00:00"


@responses.activate
def test_get_promotion_by_id(pc):
    responses.get(f"{BASE}/productpromotions/39NFJQT1PJQB%3A0001%3A39NFJQT1Q5KN", json=PROMOTIONS["items"][0])
    promo = pc.promotions.get("39NFJQT1PJQB:0001:39NFJQT1Q5KN", country="US")
    assert promo.name == "Visio Plan 1" and responses.calls[0].request.url.endswith("?country=US")


@responses.activate
def test_verify_eligibility_posts_the_documented_items_and_reads_the_errors(pc):
    responses.post(f"{BASE}/customers/{CUSTOMER}/promotionEligibilities", json=ELIGIBILITIES)
    [result] = pc.promotions.eligibilities(CUSTOMER, [{
        "catalogItemId": "CFQ7TTC0LH2Z:0002:CFQ7TTC0HRVK", "quantity": 2400, "termDuration": "P1Y",
        "billingCycle": "Monthly", "promotionId": "39NFJQT1PM6C:0005:39NFJQT1Q5L7"}])
    assert json.loads(responses.calls[0].request.body) == {"items": [{
        "id": 0, "catalogItemId": "CFQ7TTC0LH2Z:0002:CFQ7TTC0HRVK", "quantity": 2400, "termDuration": "P1Y",
        "billingCycle": "Monthly", "promotionId": "39NFJQT1PM6C:0005:39NFJQT1Q5L7"}]}
    eligibility = result.for_promotion("39NFJQT1PM6C:0005:39NFJQT1Q5L7")
    assert eligibility.is_eligible is False and result.billing_cycle == "monthly"
    text = eligibility.errors[0].text()
    assert text.startswith("SeatCount: The provided quantity") and "maximumRequiredSeats=2400" in text


@responses.activate
def test_custom_term_end_dates_query_and_response(pc):
    responses.get(f"{BASE}/customers/{CUSTOMER}/subscriptions/customTermEndDates", json=END_DATES)
    dates = pc.term_end_dates.list(CUSTOMER, term_duration="p1m", term_start_date=date(2023, 7, 2),
                                   target_subscription_id="5fcf618b-1daa-4604-da99-cc3e1c9ee422")
    query = responses.calls[0].request.url.split("?", 1)[1]
    assert query == ("term_duration=P1M&term_start_date=2023-07-02"
                     "&target_coterm_subscription_id=5fcf618b-1daa-4604-da99-cc3e1c9ee422")
    assert [(d.kind, d.end_date.date().isoformat()) for d in dates] == [
        ("calendarMonthAligned", "2023-07-31"), ("subscriptionAligned", "2023-08-01")]
    assert dates[1].coterm_subscription_ids[1] == "d30a9ff9-713e-4546-c97e-f06b9dcf6ef6"


@responses.activate
def test_a_cart_line_carries_promotion_id_and_custom_term_end_date(pc):
    responses.post(f"{BASE}/customers/c1/carts", status=201, json={"id": "cart-1", "lineItems": []})
    pc.carts.create("c1", line_items=[{"catalogItemId": "P1:0001:A1", "quantity": 3, "termDuration": "P1Y",
                                       "billingCycle": "monthly", "promotionId": "PROMO",
                                       "customTermEndDate": "2023-07-31T00:00:00"}])
    [line] = json.loads(responses.calls[0].request.body)["lineItems"]
    assert line["promotionId"] == "PROMO" and line["customTermEndDate"] == "2023-07-31T00:00:00Z"
