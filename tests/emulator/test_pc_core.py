"""Partner Center surface of the emulator, over real HTTP with plain requests: customers, catalog, carts,
orders, subscriptions, activation links, isolation between customers."""

from __future__ import annotations

import uuid

import requests

from tests.emulator.conftest import (
    ADVCOMMS,
    BASIC,
    DE_CUSTOMER,
    E3,
    HELPDESK,
    PREMIUM,
    TRIAL,
    US_CUSTOMER,
    US_CUSTOMER_2,
)


def test_every_response_echoes_request_and_correlation_ids(pc):
    r = pc.get("/customers", headers={"MS-RequestId": "11111111-1111-1111-1111-111111111111",
                                      "MS-CorrelationId": "22222222-2222-2222-2222-222222222222"})
    assert r.headers["MS-RequestId"] == "11111111-1111-1111-1111-111111111111"
    assert r.headers["MS-CorrelationId"] == "22222222-2222-2222-2222-222222222222"
    missing = pc.get("/customers/not-a-customer")
    assert missing.status_code == 404
    uuid.UUID(missing.headers["MS-RequestId"])  # minted when absent, also on errors
    assert missing.json() == {"code": "60003", "description": missing.json()["description"], "data": [],
                              "source": "PartnerFD"}


def test_v1_requires_the_bearer_token(emulator):
    r = requests.get(emulator.url + "/v1/customers", timeout=5)
    assert r.status_code == 401
    assert r.json()["code"] == "800001"
    r = requests.get(emulator.url + "/v1/customers", headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert r.status_code == 401


def test_customers_seek_paging_walks_every_page(pc):
    first = pc.get("/customers", params={"size": 2}).json()
    assert first["totalCount"] == 2 and len(first["items"]) == 2
    assert first["attributes"] == {"objectType": "Collection"}
    nxt = first["links"]["next"]
    assert "seekOperation=Next" in nxt["uri"] and nxt["headers"][0]["key"] == "MS-ContinuationToken"
    assert first["continuationToken"] == nxt["headers"][0]["value"]
    everyone = pc.all_pages("/customers", params={"size": 2})
    assert len(everyone) == 5 and len({c["id"] for c in everyone}) == 5
    assert {c["companyProfile"]["companyName"] for c in everyone} >= {"Contoso Dental Group", "Wingtip Toys GmbH"}
    bad = pc.get("/customers?size=2&seekOperation=Next", headers={"MS-ContinuationToken": "forged"})
    assert bad.status_code == 400


def test_customer_filter_get_and_idempotent_create(pc):
    found = pc.get("/customers", params={"filter": '{"Field":"CompanyName","Value":"four","Operator":"starts_with"}'})
    assert [c["companyProfile"]["companyName"] for c in found.json()["items"]] == ["Fourth Coffee Roasters"]
    de = pc.get(f"/customers/{DE_CUSTOMER}").json()
    assert de["billingProfile"]["defaultAddress"]["country"] == "DE"
    body = {"companyProfile": {"domain": "newco"}, "billingProfile": {
        "companyName": "NewCo", "email": "a@newco.example", "culture": "en-US", "language": "en",
        "defaultAddress": {"country": "US", "city": "Austin", "state": "TX", "postalCode": "73301"}}}
    rid = {"MS-RequestId": str(uuid.uuid4())}
    a, b = pc.post("/customers", json=body, headers=rid), pc.post("/customers", json=body, headers=rid)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    assert a.json()["companyProfile"]["domain"] == "newco.onmicrosoft.com"


def test_catalog_products_skus_availabilities(pc):
    products = pc.get("/products", params={"country": "US", "targetView": "OnlineServices"}).json()["items"]
    nce = [p for p in products if p["productType"]["id"] == "OnlineServicesNCE"]
    saas = [p for p in products if p["productType"]["id"] == "Azure" and p["productType"]["subType"]["id"] == "SaaS"]
    assert len(nce) >= 5 and len(saas) >= 3
    assert {p["publisherName"] for p in saas} >= {"Contoso Ltd", "Fabrikam, Inc.", "Northwind Traders"}
    skus = pc.get("/products/CFQ7TTC0LDPB/skus", params={"country": "US"}).json()["items"]
    trial = next(s for s in skus if s["isTrial"])
    assert trial["supportedBillingCycles"] == ["none"]
    avails = pc.get("/products/CFQ7TTC0LH18/skus/0001/availabilities", params={"country": "DE"}).json()["items"]
    assert avails[0]["catalogItemId"] == BASIC
    assert avails[0]["defaultCurrency"] == {"code": "EUR", "symbol": "€"}
    terms = {(t["duration"], t["billingCycle"]) for t in avails[0]["terms"]}
    assert terms == {("P1M", "monthly"), ("P1Y", "monthly"), ("P1Y", "annual")}
    policy = avails[0]["terms"][0]["cancellationPolicies"][0]["refundOptions"]
    assert policy == [{"sequenceId": 0, "type": "Full", "expiresAfter": "P1D"},
                      {"sequenceId": 1, "type": "Partial", "expiresAfter": "P7D"}]
    # customer-scoped variants take the country from the customer
    scoped = pc.get(f"/customers/{DE_CUSTOMER}/products/CFQ7TTC0LH18/skus/0001/availabilities").json()["items"]
    assert scoped[0]["country"] == "DE"
    assert pc.get("/products", params={"country": "US", "targetView": "Azure"}).json()["items"] == []
    assert pc.get("/products", params={"country": "US", "targetView": "Bogus"}).json()["code"] == "400036"
    assert pc.get("/products", params={"country": "US", "targetView": "OnlineServices",
                                       "targetSegment": "education"}).json()["items"] == []
    assert pc.get("/products", params={"country": "US", "targetView": "OnlineServices",
                                       "targetSegment": "bogus"}).status_code == 403
    assert pc.get("/products/NOPE", params={"country": "US"}).json()["code"] == "400013"
    assert pc.get("/products/CFQ7TTC0LH18/skus/9999", params={"country": "US"}).json()["code"] == "400018"
    inv = pc.post("/extensions/product/checkinventory?country=US",
                  json={"targetItems": [{"productId": "CFQ7TTC0LH18"}, {"productId": "NOPE"}]}).json()
    assert inv == [{"productId": "CFQ7TTC0LH18", "skuId": "0001", "isRestricted": False, "restrictions": []}]


def test_cart_line_errors(pc):
    cart = pc.cart(
        US_CUSTOMER,
        pc.line(BASIC, 5),
        pc.line("CFQ7TTC0LH18:0001:WRONGAVAIL", 1),
        pc.line(BASIC, 301),
        pc.line(BASIC, 1, term="P1M", cycle="annual"),
        pc.line(ADVCOMMS, 1),  # add-on without a base
    )
    errors = {li["id"]: (li.get("error") or {}).get("errorCode") for li in cart["lineItems"]}
    assert errors == {0: None, 1: "CatalogItemIdIsNotValid", 2: "MaxAllowedSeatsPerSubscriptionExceeded",
                      3: "BillingPlanNotSupported", 4: "UnableToProcessCartLineItem"}
    assert cart["lineItems"][0]["currencyCode"] == "USD" and cart["lineItems"][0]["orderGroup"] == "0"
    assert cart["status"] == "Active"
    assert cart["expirationTimestamp"] == "2026-11-09T09:00:00Z"  # 7 days
    r = pc.post(f"/customers/{US_CUSTOMER}/carts/{cart['id']}/checkout").json()
    assert r["orders"] == [] and r["orderErrors"][0]["code"] == 800009
    fixed = pc.put(f"/customers/{US_CUSTOMER}/carts/{cart['id']}", json={"lineItems": [pc.line(BASIC, 5)]})
    assert fixed.status_code == 201 and "error" not in fixed.json()["lineItems"][0]


def test_checkout_is_idempotent(pc):
    cart = pc.cart(US_CUSTOMER, pc.line(BASIC, 5), pc.line(E3, 2, "P1Y", "annual"))
    path = f"/customers/{US_CUSTOMER}/carts/{cart['id']}/checkout"
    first = pc.post(path)
    again = pc.post(path, headers={"MS-RequestId": str(uuid.uuid4())})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    orders = first.json()["orders"]
    assert len(orders) == 2  # monthly and annual lines are separate order groups
    subs = pc.get(f"/customers/{US_CUSTOMER}/subscriptions").json()["items"]
    assert len(subs) == 2  # the repeat created nothing
    assert pc.get(f"/customers/{US_CUSTOMER}/carts/{cart['id']}").json()["status"] == "Ordered"
    assert pc.put(f"/customers/{US_CUSTOMER}/carts/{cart['id']}",
                  json={"lineItems": [pc.line(BASIC, 1)]}).json()["code"] == "800065"


def test_cart_expires_after_seven_days(pc, emulator):
    cart = pc.cart(US_CUSTOMER, pc.line(BASIC, 1))
    emulator.clock.advance(days=7)
    r = pc.post(f"/customers/{US_CUSTOMER}/carts/{cart['id']}/checkout")
    assert r.status_code == 400 and "expired" in r.json()["description"]


def test_orders_appear_in_the_list_after_the_documented_delay(pc, emulator):
    result = pc.buy(US_CUSTOMER, pc.line(BASIC, 3))
    order_id = result["orders"][0]["id"]
    order = pc.get(f"/customers/{US_CUSTOMER}/orders/{order_id}").json()
    assert order["status"] == "completed" and order["lineItems"][0]["subscriptionId"]
    assert order["attributes"]["objectType"] == "Order"
    assert pc.get(f"/customers/{US_CUSTOMER}/orders").json()["items"] == []
    emulator.clock.advance(minutes=15)
    assert [o["id"] for o in pc.get(f"/customers/{US_CUSTOMER}/orders").json()["items"]] == [order_id]
    priced = pc.get(f"/customers/{US_CUSTOMER}/orders/{order_id}", params={"include_price": "true"}).json()
    assert priced["lineItems"][0]["pricing"]["price"] == 7.2
    assert pc.get(f"/customers/{US_CUSTOMER}/orders/nope").json()["code"] == "20000"


def test_subscription_shape_and_addons(pc):
    result = pc.buy(US_CUSTOMER, pc.line(PREMIUM, 10, addonItems=[pc.line(ADVCOMMS, 4)]))
    lines = result["orders"][0]["lineItems"]
    base = pc.subscription(US_CUSTOMER, lines[0]["subscriptionId"])
    addon = pc.subscription(US_CUSTOMER, lines[1]["subscriptionId"])
    assert addon["parentSubscriptionId"] == base["id"]
    assert base["status"] == "active" and base["quantity"] == 10 and base["autoRenewEnabled"] is True
    assert base["offerId"] == PREMIUM and base["termDuration"] == "P1M" and base["billingCycle"] == "monthly"
    assert base["effectiveStartDate"] == "2026-11-02T09:00:00Z"
    assert base["commitmentEndDate"] == "2026-12-02T09:00:00Z"
    assert base["cancellationAllowedUntilDate"] == "2026-11-09T09:00:00Z"
    assert base["refundOptions"] == [{"type": "Full", "expiresAt": "2026-11-03T09:00:00Z"},
                                     {"type": "Partial", "expiresAt": "2026-11-09T09:00:00Z"}]
    assert base["refundableQuantity"] == {"totalQuantity": 10, "details": [
        {"quantity": 10, "allowedUntilDateTime": "2026-11-09T09:00:00Z"}]}
    assert base["attributes"]["objectType"] == "Subscription" and base["attributes"]["etag"]
    addons = pc.get(f"/customers/{US_CUSTOMER}/subscriptions/{base['id']}/addons").json()["items"]
    assert [a["id"] for a in addons] == [addon["id"]]
    # an add-on for an existing base, through provisioningContext
    more = pc.buy(US_CUSTOMER, pc.line(ADVCOMMS, 2, provisioningContext={"parentSubscriptionId": base["id"]}))
    assert more["orders"][0]["lineItems"][0]["parentSubscriptionId"] == base["id"]


def test_trial_is_free_and_does_not_renew(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, TRIAL, 25, "P1M", "none")
    assert sub["isTrial"] is True and sub["autoRenewEnabled"] is False
    emulator.clock.advance("P1M")
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "expired"


def test_one_customers_resources_are_not_reachable_through_another(pc):
    result = pc.buy(US_CUSTOMER, pc.line(BASIC, 2))
    order = result["orders"][0]
    sub_id = order["lineItems"][0]["subscriptionId"]
    other = US_CUSTOMER_2
    assert pc.get(f"/customers/{other}/subscriptions/{sub_id}").status_code == 404
    assert pc.get(f"/customers/{other}/orders/{order['id']}").status_code == 404
    sub = pc.subscription(US_CUSTOMER, sub_id)
    assert pc.patch(f"/customers/{other}/subscriptions/{sub_id}", json={**sub, "quantity": 1}).status_code == 404
    assert pc.get(f"/customers/{other}/subscriptions").json()["items"] == []
    assert pc.get(f"/customers/{other}/orders/{order['id']}/lineitems/0/activationlinks").status_code == 404
    cart = pc.cart(US_CUSTOMER, pc.line(BASIC, 1))
    assert pc.get(f"/customers/{other}/carts/{cart['id']}").status_code == 404
    assert pc.post(f"/customers/{other}/carts/{cart['id']}/checkout").status_code == 404
    assert pc.post(f"/customers/{other}/subscriptions/{sub_id}/activate").status_code == 404


def test_activation_links_of_a_saas_line(pc):
    result = pc.buy(US_CUSTOMER, pc.line(BASIC, 1), pc.line(HELPDESK, 3))
    saas_order = next(o for o in result["orders"] if o["lineItems"][0]["offerId"] == HELPDESK)
    sub = pc.subscription(US_CUSTOMER, saas_order["lineItems"][0]["subscriptionId"])
    assert sub["status"] == "pending" and sub["productType"]["id"] == "Azure"
    links = pc.get(f"/customers/{US_CUSTOMER}/orders/{saas_order['id']}/lineitems/0/activationlinks").json()
    assert links["totalCount"] == 1 and links["items"][0]["lineItemNumber"] == 0
    assert "/publisher/21223810/landing?token=" in links["items"][0]["link"]["uri"]
    seat_order = next(o for o in result["orders"] if o["lineItems"][0]["offerId"] == BASIC)
    none = pc.get(f"/customers/{US_CUSTOMER}/orders/{seat_order['id']}/lineitems/0/activationlinks").json()
    assert none["totalCount"] == 0
