"""The SaaS side: activation link → landing page token → Resolve → Activate → Partner Center subscription active;
token expiry, auto-cancel of never-activated purchases, quantity changes through webhooks and ACKs, the publisher's
own calls, and webhook delivery to a configured URL."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.emulator.conftest import BACKUP, HELPDESK, PARTNER_TENANT, US_CUSTOMER

V = {"api-version": "2018-08-31"}


class Saas:
    def __init__(self, emu) -> None:
        self.base = emu.url + "/api/saas"
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {emu.token}"

    def call(self, method: str, path: str, **kw) -> requests.Response:
        return self.s.request(method, self.base + path, params=V, timeout=10, **kw)

    def resolve(self, token: str) -> requests.Response:
        return self.call("POST", "/subscriptions/resolve", headers={"x-ms-marketplace-token": token})


@pytest.fixture
def saas(emulator) -> Saas:
    return Saas(emulator)


def buy_saas(pc, item=HELPDESK, quantity=3, term="P1M", cycle="monthly"):
    result = pc.buy(US_CUSTOMER, pc.line(item, quantity, term, cycle))
    order = result["orders"][0]
    sub = pc.subscription(US_CUSTOMER, order["lineItems"][0]["subscriptionId"])
    links = pc.get(f"/customers/{US_CUSTOMER}/orders/{order['id']}/lineitems/0/activationlinks").json()
    return sub, links["items"][0]["link"]["uri"]


def token_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["token"][0]  # URL-decoded, as the docs require


def test_full_activation_chain(pc, saas, emulator):
    sub, link = buy_saas(pc)
    assert sub["status"] == "pending" and sub["attentionNeeded"] is True
    page = requests.get(link, timeout=10)  # the customer follows the link to the publisher's landing page
    assert page.status_code == 200 and "Finish setting up your subscription" in page.text
    token = token_of(page.url)
    resolved = saas.call("POST", "/subscriptions/resolve", headers={"x-ms-marketplace-token": token})
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["planId"] == "standard" and body["offerId"] == "contoso-helpdesk" and body["quantity"] == "3"
    s = body["subscription"]
    assert s["saasSubscriptionStatus"] == "PendingFulfillmentStart"
    assert s["purchaser"]["tenantId"] == PARTNER_TENANT and s["beneficiary"]["tenantId"] == US_CUSTOMER
    assert s["allowedCustomerOperations"] == ["Read"]
    assert s["term"] == {"termUnit": "P1M", "chargeDuration": "P1M"}  # no dates before activation, never null
    assert resolved.headers["x-ms-requestid"]
    assert pc.get("/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=billinglineitems"
                  "&currencycode=USD&period=current").json()["items"] == []  # no billing before activation
    bad = saas.call("POST", f"/subscriptions/{body['id']}/activate", json={"planId": "enterprise"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"
    ok = saas.call("POST", f"/subscriptions/{body['id']}/activate", json={"planId": "standard", "quantity": 3})
    assert ok.status_code == 200
    active = pc.subscription(US_CUSTOMER, sub["id"])
    assert active["status"] == "active" and active["effectiveStartDate"] == "2026-11-02T09:00:00Z"
    assert active["refundOptions"] == [{"type": "Full", "expiresAt": "2026-11-05T09:00:00Z"}]  # 72 h
    fulfilled = saas.call("GET", f"/subscriptions/{body['id']}").json()
    assert fulfilled["saasSubscriptionStatus"] == "Subscribed"
    assert fulfilled["term"] == {"startDate": "2026-11-02T09:00:00Z", "endDate": "2026-12-02T09:00:00Z",
                                 "termUnit": "P1M", "chargeDuration": "P1M"}
    lines = pc.get("/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=billinglineitems"
                   "&currencycode=USD&period=current").json()["items"]
    assert [(ln["chargeType"], ln["subtotal"], ln["publisherName"]) for ln in lines] == [("new", "24", "Contoso Ltd")]
    again = saas.call("POST", f"/subscriptions/{body['id']}/activate", json={"planId": "standard"})
    assert again.status_code == 400  # already Subscribed


def test_landing_page_can_activate_and_token_expires_after_24_hours(pc, saas, emulator):
    sub, link = buy_saas(pc, BACKUP, 1)
    emulator.clock.advance(hours=23, minutes=59)
    assert saas.call("POST", "/subscriptions/resolve",
                     headers={"x-ms-marketplace-token": token_of(link)}).status_code == 200
    emulator.clock.advance(minutes=1)
    expired = saas.call("POST", "/subscriptions/resolve", headers={"x-ms-marketplace-token": token_of(link)})
    assert expired.status_code == 400 and "expired" in expired.json()["error"]["message"]
    assert requests.get(link, timeout=10).status_code == 400
    unknown = saas.call("POST", "/subscriptions/resolve", headers={"x-ms-marketplace-token": "bm90LWEtdG9rZW4="})
    assert unknown.status_code == 400
    # a fresh link carries a fresh token; the publisher's page activates with one click
    links = pc.get(f"/customers/{US_CUSTOMER}/subscriptions/{sub['id']}/activationlinks").json()
    fresh = links["items"][0]["link"]["uri"]
    form = requests.post(urlsplit(fresh)._replace(query="").geturl().replace("/landing", "/activate"),
                         data={"token": token_of(fresh)}, timeout=10)
    assert form.status_code == 200 and "Your subscription is active" in form.text
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "active"


def test_never_activated_purchase_is_cancelled_after_the_configured_days(pc, saas, emulator):
    sub, link = buy_saas(pc)
    saas_id = saas.resolve(token_of(link)).json()["id"]
    emulator.clock.advance(days=6, hours=23)
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "pending"
    emulator.clock.advance(hours=1)
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "deleted"
    assert saas.call("GET", f"/subscriptions/{saas_id}").json()["saasSubscriptionStatus"] == "Unsubscribed"
    late = saas.call("POST", f"/subscriptions/{saas_id}/activate", json={"planId": "standard"})
    assert late.status_code == 404
    hooks = requests.get(emulator.url + "/_emulator/webhooks", timeout=5).json()["items"]
    assert [(h["action"], h["outcome"]) for h in hooks] == [("Unsubscribe", "delivered")]


def test_sandbox_activate(pc):
    sub, _ = buy_saas(pc)
    r = pc.post(f"/customers/{US_CUSTOMER}/subscriptions/{sub['id']}/activate")
    assert r.status_code == 200 and r.json() == {"subscriptionId": sub["id"], "status": "Success"}
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "active"
    assert pc.post(f"/customers/{US_CUSTOMER}/subscriptions/{sub['id']}/activate").status_code == 400


def activate(pc, saas, item=HELPDESK, quantity=3):
    sub, link = buy_saas(pc, item, quantity)
    saas_id = saas.resolve(token_of(link)).json()["id"]
    plan = "standard" if item == HELPDESK else "backup-1tb"
    assert saas.call("POST", f"/subscriptions/{saas_id}/activate", json={"planId": plan}).status_code == 200
    return pc.subscription(US_CUSTOMER, sub["id"]), saas_id


def test_partner_center_quantity_change_goes_through_the_publisher(pc, saas, emulator):
    sub, saas_id = activate(pc, saas)
    r = pc.patch_subscription(US_CUSTOMER, sub, quantity=5)  # the built-in publisher ACKs Success at once
    assert r.status_code == 200 and r.json()["quantity"] == 5
    assert saas.call("GET", f"/subscriptions/{saas_id}").json()["quantity"] == 5
    hooks = requests.get(emulator.url + "/_emulator/webhooks", timeout=5).json()["items"]
    assert [(h["action"], h["outcome"]) for h in hooks] == [("ChangeQuantity", "delivered")]
    # a publisher that never answers: the change waits, then is auto-accepted after 10 seconds
    requests.post(emulator.url + "/_emulator/config", json={"publisher": {"ack": "none"}}, timeout=5)
    r = pc.patch_subscription(US_CUSTOMER, r.json(), quantity=6)
    assert r.json()["quantity"] == 5 and r.json()["pendingQuantity"] == 6
    ops = saas.call("GET", f"/subscriptions/{saas_id}/operations").json()
    assert [(o["action"], o["status"], o["quantity"]) for o in ops["operations"]] == [("ChangeQuantity",
                                                                                        "InProgress", "6")]
    assert pc.patch_subscription(US_CUSTOMER, r.json(), quantity=7).status_code == 409  # one pending at a time
    emulator.clock.advance(seconds=10)
    assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 6
    assert saas.call("GET", f"/subscriptions/{saas_id}/operations").json() == {"operations": []}
    # a publisher that rejects
    requests.post(emulator.url + "/_emulator/config", json={"publisher": {"ack": "Failure"}}, timeout=5)
    r = pc.patch_subscription(US_CUSTOMER, pc.subscription(US_CUSTOMER, sub["id"]), quantity=7)
    assert r.json()["quantity"] == 6 and "pendingQuantity" not in r.json()


def test_publisher_calls_change_quantity_plan_and_cancel(pc, saas, emulator):
    sub, saas_id = activate(pc, saas)
    plans = saas.call("GET", f"/subscriptions/{saas_id}/listAvailablePlans").json()["plans"]
    assert [(p["planId"], p["isPricePerSeat"], p["minQuantity"]) for p in plans] == [("standard", True, 1),
                                                                                     ("enterprise", True, 5)]
    r = saas.call("PATCH", f"/subscriptions/{saas_id}", json={"quantity": 4})
    assert r.status_code == 202
    op = requests.get(r.headers["Operation-Location"], headers=saas.s.headers, timeout=5).json()
    assert op["action"] == "ChangeQuantity" and op["status"] == "Succeeded" and op["quantity"] == "4"
    assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 4
    assert saas.call("PATCH", f"/subscriptions/{saas_id}", json={"quantity": 4, "planId": "x"}).status_code == 400
    assert saas.call("PATCH", f"/subscriptions/{saas_id}", json={"quantity": 4}).status_code == 400  # same
    r = saas.call("PATCH", f"/subscriptions/{saas_id}", json={"planId": "enterprise"})
    assert r.status_code == 202
    moved = pc.subscription(US_CUSTOMER, sub["id"])
    assert moved["offerId"] == "DZH318Z0SA01:0002:DZH318Z0C002" and moved["quantity"] == 5  # enterprise min 5
    r = saas.call("DELETE", f"/subscriptions/{saas_id}")
    assert r.status_code == 202 and "Operation-Location" in r.headers
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "deleted"
    assert saas.call("GET", f"/subscriptions/{saas_id}").json()["saasSubscriptionStatus"] == "Unsubscribed"
    listed = saas.call("GET", "/subscriptions").json()["subscriptions"]
    assert [x["id"] for x in listed] == [saas_id]  # unsubscribed ones stay listed


def test_saas_cancellation_window_is_72_hours(pc, saas, emulator):
    sub, _ = activate(pc, saas)
    emulator.clock.advance(hours=72, seconds=1)
    r = pc.patch_subscription(US_CUSTOMER, pc.subscription(US_CUSTOMER, sub["id"]), status="deleted")
    assert r.status_code == 400 and r.json()["code"] == "900117"


def test_fulfillment_api_checks_version_and_token(emulator, saas):
    assert requests.get(emulator.url + "/api/saas/subscriptions", params=V, timeout=5).status_code == 403
    r = saas.s.get(emulator.url + "/api/saas/subscriptions", timeout=5)
    assert r.status_code == 400 and "api-version" in r.json()["error"]["message"]
    assert saas.call("GET", "/subscriptions/00000000-0000-0000-0000-000000000000").status_code == 404


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.headers.get("Authorization", ""), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhooks_go_to_the_configured_url(pc, saas, emulator):
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        requests.post(emulator.url + "/_emulator/config", json={"webhookUrl": url}, timeout=5)
        sub, saas_id = activate(pc, saas)
        r = pc.patch_subscription(US_CUSTOMER, sub, quantity=4)
        assert r.json()["pendingQuantity"] == 4  # waiting for the publisher's ACK
        auth, payload = _Receiver.received[-1]
        assert auth.startswith("Bearer ") and auth.count(".") == 2  # a JWT
        assert payload["action"] == "ChangeQuantity" and payload["status"] == "InProgress"
        assert payload["operationRequestSource"] == "Azure" and payload["subscription"]["id"] == saas_id
        assert payload["purchaseToken"] is None and payload["quantity"] == 4
        ack = saas.call("PATCH", f"/subscriptions/{saas_id}/operations/{payload['id']}", json={"status": "Success"})
        assert ack.status_code == 200
        assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 4
        again = saas.call("PATCH", f"/subscriptions/{saas_id}/operations/{payload['id']}", json={"status": "Success"})
        assert again.status_code == 409
        # a receiver answering 4xx rejects the change
        _Receiver.status = 400
        r = pc.patch_subscription(US_CUSTOMER, pc.subscription(US_CUSTOMER, sub["id"]), quantity=5)
        assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 4
        hooks = requests.get(emulator.url + "/_emulator/webhooks", timeout=5).json()["items"]
        assert [h["outcome"] for h in hooks] == ["delivered", "rejected"]
    finally:
        _Receiver.status = 200
        server.shutdown()
        server.server_close()


def test_failed_webhook_deliveries_are_retried_on_the_virtual_clock(pc, saas, emulator):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    requests.post(emulator.url + "/_emulator/config", json={"webhookUrl": dead}, timeout=5)
    sub, _ = activate(pc, saas)
    pc.patch_subscription(US_CUSTOMER, sub, autoRenewEnabled=False)
    pc.patch_subscription(US_CUSTOMER, pc.subscription(US_CUSTOMER, sub["id"]), quantity=4)
    hooks = lambda: requests.get(emulator.url + "/_emulator/webhooks", timeout=5).json()["items"]  # noqa: E731
    assert [(h["attempt"], h["outcome"]) for h in hooks()] == [(1, "failed")]
    emulator.clock.advance(seconds=10)  # nobody ACKed: the change is auto-accepted
    assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 4
    emulator.clock.advance(minutes=1)
    assert [(h["attempt"], h["outcome"]) for h in hooks()] == [(1, "failed"), (2, "failed")]


# -- a purchase resolves and activates only at its own publisher ------------------------------------------------

CONTOSO, FABRIKAM = "21223810", "31877402"  # HELPDESK's and BACKUP's publishers (sample_data/catalog.json)


def publisher_session(emulator, publisher_id: str) -> Saas:
    """A fulfillment client holding a token of one publisher's app registration."""
    issued = requests.post(emulator.url + "/_emulator/tokens", json={"publisherId": publisher_id}, timeout=10)
    assert issued.status_code == 201 and issued.json()["publisherId"] == publisher_id
    client = Saas(emulator)
    client.s.headers["Authorization"] = f"Bearer {issued.json()['accessToken']}"
    return client


def test_a_purchase_token_resolves_and_activates_only_at_its_own_publisher(pc, emulator):
    sub, link = buy_saas(pc)  # Contoso's helpdesk
    token = token_of(requests.get(link, timeout=10).url)
    fabrikam, contoso = publisher_session(emulator, FABRIKAM), publisher_session(emulator, CONTOSO)
    refused = fabrikam.resolve(token)
    assert refused.status_code == 403  # saas-fulfillment.md §1.1: the offer belongs to a different app registration
    error = refused.json()["error"]
    assert error["code"] == "Forbidden" and "different publisher" in error["message"]
    resolved = contoso.resolve(token)
    assert resolved.status_code == 200 and resolved.json()["subscription"]["publisherId"] == CONTOSO
    saas_id = resolved.json()["id"]
    for method, path, kw in [("POST", f"/subscriptions/{saas_id}/activate", {"json": {"planId": "standard"}}),
                             ("GET", f"/subscriptions/{saas_id}", {}),
                             ("GET", f"/subscriptions/{saas_id}/listAvailablePlans", {}),
                             ("GET", f"/subscriptions/{saas_id}/operations", {}),
                             ("DELETE", f"/subscriptions/{saas_id}", {})]:
        answer = fabrikam.call(method, path, **kw)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "Forbidden", (method, path)
    assert saas_id not in [s["id"] for s in fabrikam.call("GET", "/subscriptions").json()["subscriptions"]]
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "pending"  # nothing activated by the refusals
    ok = contoso.call("POST", f"/subscriptions/{saas_id}/activate", json={"planId": "standard", "quantity": 3})
    assert ok.status_code == 200, ok.text
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "active"
    assert [s["id"] for s in contoso.call("GET", "/subscriptions").json()["subscriptions"]] == [saas_id]


def test_another_publishers_landing_page_refuses_the_token(pc, emulator):
    sub, link = buy_saas(pc)
    token = token_of(link)
    assert f"/publisher/{CONTOSO}/landing" in link
    elsewhere = requests.get(emulator.url + f"/publisher/{FABRIKAM}/landing", params={"token": token}, timeout=10)
    assert elsewhere.status_code == 403 and "Cannot set up your subscription" in elsewhere.text
    posted = requests.post(emulator.url + f"/publisher/{FABRIKAM}/activate", data={"token": token}, timeout=10)
    assert posted.status_code == 403 and "Activation failed" in posted.text
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "pending"
    own = requests.post(emulator.url + f"/publisher/{CONTOSO}/activate", data={"token": token}, timeout=10)
    assert own.status_code == 200 and "Your subscription is active" in own.text
    assert pc.subscription(US_CUSTOMER, sub["id"])["status"] == "active"


def test_a_publisher_token_is_not_a_partner_center_token(emulator):
    contoso = publisher_session(emulator, CONTOSO)
    answer = requests.get(emulator.url + "/v1/customers", headers=dict(contoso.s.headers), timeout=10)
    assert answer.status_code == 401


def test_activate_with_a_quantity_that_is_not_a_number_is_a_400(pc, saas, emulator):
    _, link = buy_saas(pc)
    saas_id = saas.resolve(token_of(link)).json()["id"]
    bad = saas.call("POST", f"/subscriptions/{saas_id}/activate", json={"planId": "standard", "quantity": "three"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"
