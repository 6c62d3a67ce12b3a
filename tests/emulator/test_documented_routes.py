"""Documented Partner Center routes real clients call (issue 17): direct order creation, the invoice statement PDF,
the customer's company and billing profiles; Partner Center's error body for the framework's own refusals (404,
405, request validation); both slash forms of collection routes."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
import requests

from tests.emulator.conftest import BASIC, DE_CUSTOMER, HELPDESK, US_CUSTOMER

PC_ERROR_KEYS = {"code", "description", "data", "source"}


def order_body(offer_id: str, quantity: int = 3, term: str = "P1M", cycle: str = "monthly") -> dict:
    """The body of "Create an order for a customer": order-level billingCycle, lines with offerId and term."""
    return {"referenceCustomerId": US_CUSTOMER, "billingCycle": cycle,
            "lineItems": [{"lineItemNumber": 0, "offerId": offer_id, "quantity": quantity, "termDuration": term,
                           "friendlyName": "direct"}]}


# -- POST /customers/{id}/orders ---------------------------------------------------------------------------------
def test_create_order_directly_answers_201_with_the_order_and_provisions_it(pc):
    r = pc.post(f"/customers/{US_CUSTOMER}/orders", json=order_body(BASIC))
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["attributes"]["objectType"] == "Order"
    assert order["referenceCustomerId"] == US_CUSTOMER and order["billingCycle"] == "monthly"
    assert order["currencyCode"] == "USD"
    (line,) = order["lineItems"]
    assert line["offerId"] == BASIC and line["quantity"] == 3 and line["termDuration"] == "P1M"
    assert line["friendlyName"] == "direct"
    sub = pc.subscription(US_CUSTOMER, line["subscriptionId"])
    assert sub["status"] == "active" and sub["quantity"] == 3 and sub["orderId"] == order["id"]
    assert pc.get(f"/customers/{US_CUSTOMER}/orders/{order['id']}").json()["id"] == order["id"]


def test_direct_order_is_billed_like_a_checkout(pc):
    """The same charge as the cart path: one 'new' line of the same amount in the unbilled recon data."""
    direct = pc.post(f"/customers/{US_CUSTOMER}/orders", json=order_body(BASIC, quantity=2)).json()
    via_cart = pc.buy(US_CUSTOMER, pc.line(BASIC, 2))["orders"][0]
    lines = pc.all_pages("/invoices/unbilled/lineitems", params={
        "provider": "onetime", "invoicelineitemtype": "billinglineitems", "currencycode": "USD", "period": "current"})
    by_order = {ln["orderId"]: ln for ln in lines}
    a, b = by_order[direct["id"]], by_order[via_cart["id"]]
    assert a["chargeType"] == b["chargeType"] == "new"
    assert Decimal(a["totalForCustomer"]) == Decimal(b["totalForCustomer"]) > 0


def test_direct_order_validates_like_the_cart_and_names_the_line(pc):
    bad = pc.post(f"/customers/{US_CUSTOMER}/orders", json=order_body("CFQ7TTC0LH18:0001:NOPE"))
    assert bad.status_code == 400
    assert set(bad.json()) == PC_ERROR_KEYS and bad.json()["code"] == "800002"
    assert "line 0" in bad.json()["description"] and "CFQ7TTC0LH18:0001:NOPE" in bad.json()["description"]
    too_many = pc.post(f"/customers/{US_CUSTOMER}/orders", json=order_body(BASIC, quantity=100000))
    assert too_many.status_code == 400 and "maximum" in too_many.json()["description"]
    empty = pc.post(f"/customers/{US_CUSTOMER}/orders", json={"billingCycle": "monthly", "lineItems": []})
    assert empty.status_code == 400 and "lineItems" in empty.json()["description"]
    unknown = pc.post("/customers/not-a-customer/orders", json=order_body(BASIC))
    assert unknown.status_code == 404
    assert pc.get(f"/customers/{US_CUSTOMER}/subscriptions").json()["items"] == []  # nothing half-ordered


def test_direct_order_is_idempotent_on_the_request_id(pc):
    rid = {"MS-RequestId": str(uuid.uuid4())}
    a = pc.post(f"/customers/{US_CUSTOMER}/orders", json=order_body(BASIC), headers=rid)
    b = pc.post(f"/customers/{US_CUSTOMER}/orders", json=order_body(BASIC), headers=rid)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    assert len(pc.get(f"/customers/{US_CUSTOMER}/subscriptions").json()["items"]) == 1


def test_direct_order_accepts_pascal_case_and_saas_lines(pc):
    body = {"BillingCycle": "monthly", "LineItems": [{"LineItemNumber": 0, "OfferId": HELPDESK, "Quantity": 5,
                                                      "TermDuration": "P1M"}]}
    r = pc.post(f"/customers/{US_CUSTOMER}/orders", json=body)
    assert r.status_code == 201, r.text
    line = r.json()["lineItems"][0]
    assert "activationLinks" in line["links"]
    assert pc.subscription(US_CUSTOMER, line["subscriptionId"])["status"] == "pending"


# -- GET /invoices/{id}/documents/statement ----------------------------------------------------------------------
def test_invoice_statement_is_a_pdf_of_the_invoice(pc, emulator):
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the statement back")
    pc.buy(US_CUSTOMER, pc.line(BASIC, 4))
    emulator.clock.advance(days=45)  # past November's invoice (1st or 8th of December, by the billing rule)
    invoices = pc.get("/invoices").json()["items"]
    assert invoices, "no invoice issued"
    invoice = pc.get(f"/invoices/{invoices[0]['id']}").json()
    link = invoice["pdfDownloadLink"]
    assert link == f"/invoices/{invoice['id']}/documents/statement"
    r = pc.get(link)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    assert invoice["id"] in text
    total = Decimal(str(invoice["totalCharges"])).quantize(Decimal("0.01"))
    assert f"{total:,} USD" in text
    assert "Contoso Dental Group" in text
    missing = pc.get("/invoices/G999999999/documents/statement")
    assert missing.status_code == 404 and set(missing.json()) == PC_ERROR_KEYS


# -- GET /customers/{id}/profiles/company|billing ----------------------------------------------------------------
def test_company_profile_is_the_documented_shape_and_the_customer_links_to_it(pc):
    customer = pc.get(f"/customers/{DE_CUSTOMER}").json()
    r = pc.get(customer["companyProfile"]["links"]["self"]["uri"])
    assert r.status_code == 200
    profile = r.json()
    assert profile["attributes"]["objectType"] == "CustomerCompanyProfile"
    assert profile["tenantId"] == DE_CUSTOMER
    assert profile["companyName"] == customer["companyProfile"]["companyName"] == "Wingtip Toys GmbH"
    assert profile["domain"].endswith(".onmicrosoft.com")


def test_billing_profile_is_the_documented_shape_and_the_customer_links_to_it(pc):
    customer = pc.get(f"/customers/{DE_CUSTOMER}").json()
    r = pc.get(customer["billingProfile"]["links"]["self"]["uri"])
    assert r.status_code == 200
    profile = r.json()
    assert profile["attributes"]["objectType"] == "CustomerBillingProfile" and profile["attributes"]["etag"]
    assert profile["defaultAddress"]["country"] == "DE"
    assert {"id", "firstName", "lastName", "email", "culture", "language", "companyName"} <= set(profile)
    assert pc.get("/customers/nobody/profiles/billing").status_code == 404


# -- errors and slashes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/no/such/route", 404),
    ("GET", "/nothing-here", 404),
    ("DELETE", "/v1/customers", 405),
    ("PUT", f"/v1/customers/{US_CUSTOMER}/orders", 405),
    ("GET", "/v1/invoices?size=many", 400),
    ("GET", "/v1/invoices?offset=x", 400),
])
def test_framework_refusals_carry_partner_centers_error_body(emulator, method, path, status):
    r = requests.request(method, emulator.url + path, headers={"Authorization": f"Bearer {emulator.token}"},
                         timeout=10)
    assert r.status_code == status
    body = r.json()
    assert set(body) == PC_ERROR_KEYS and "detail" not in body
    assert isinstance(body["code"], str) and body["code"].isdigit()
    assert body["description"]
    if status == 405:
        assert r.headers["Allow"]
    if status == 400:
        assert body["code"] == "800002" and body["data"] and "query." in body["data"][0]["field"]


def test_saas_refusals_keep_the_saas_error_shape(emulator):
    auth = {"Authorization": f"Bearer {emulator.token}"}
    for method, path, status in (("GET", "/api/saas/nothing?api-version=2018-08-31", 404),
                                 ("PUT", "/api/saas/subscriptions?api-version=2018-08-31", 405)):
        r = requests.request(method, emulator.url + path, headers=auth, timeout=10)
        assert r.status_code == status
        assert set(r.json()) == {"error"} and {"code", "message"} <= set(r.json()["error"])


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/invoices", f"/v1/customers/{US_CUSTOMER}/subscriptions",
                                  f"/v1/customers/{US_CUSTOMER}/orders", "/v1/products?country=US&targetView=Azure",
                                  "/api/saas/subscriptions?api-version=2018-08-31"])
def test_both_slash_forms_of_collection_routes_answer_200(emulator, path):
    auth = {"Authorization": f"Bearer {emulator.token}"}
    bare, _, query = path.partition("?")
    for form in (bare, bare + "/"):
        url = emulator.url + form + (f"?{query}" if query else "")
        r = requests.get(url, headers=auth, timeout=10, allow_redirects=False)
        assert r.status_code == 200, (form, r.status_code, r.text[:200])
