"""Every link the emulator emits resolves on the emulator (issue 17, item 2).

The README's month is driven over HTTP with plain ``requests`` (customers, catalog, an order of seats and of a SaaS
offer, its activation link, seat changes, auto-renew off, a cancellation past its window, a month's invoice and its
reconciliation lines, estimate links); every JSON response is kept, and every ``links`` value in it (and the
``link`` of activation links and the invoice's ``pdfDownloadLink``), at any depth, is followed with its method and
headers. None may answer 4xx (or 5xx).
"""

from __future__ import annotations

from typing import Any

import requests

from tests.emulator.conftest import BASIC, HELPDESK, US_CUSTOMER


class Recorder:
    """Plain requests against the emulator: every JSON answer's links are followed at once (at the virtual time
    they were emitted: a purchase token in an activation link is valid for 24 hours, as documented)."""

    def __init__(self, emulator) -> None:
        self.url = emulator.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emulator.token}"
        self.followed: dict[tuple[str, str], int] = {}
        self.failures: list[str] = []

    def call(self, method: str, path: str, **kw) -> Any:
        r = self.session.request(method, self.url + path, timeout=10, **kw)
        assert r.status_code < 400, (method, path, r.status_code, r.text[:300])
        if not (r.headers.get("Content-Type", "").startswith("application/json") and r.content):
            return None
        self.follow_links(f"{method} {path}", r.json())
        return r.json()

    def follow_links(self, where: str, body: Any) -> None:
        for uri, method, headers in emitted_links(body):
            key = (method.upper(), uri)
            if key in self.followed:
                continue
            r = self.session.request(method, absolute(self.url, uri), headers=headers, timeout=10)
            self.followed[key] = r.status_code
            if r.status_code >= 400:
                self.failures.append(f"{where}: {method} {uri} → {r.status_code} {r.text[:200]}")
            elif r.headers.get("Content-Type", "").startswith("application/json") and r.content:
                self.follow_links(f"{where} → {uri}", r.json())  # links of what a link leads to, too


def emitted_links(body: Any) -> list[tuple[str, str, dict[str, str]]]:
    """(uri, method, headers) of every link in a body: values of ``links`` objects, activation ``link``s,
    ``pdfDownloadLink``."""
    found: list[tuple[str, str, dict[str, str]]] = []

    def add(value: Any) -> None:
        if isinstance(value, dict) and isinstance(value.get("uri"), str):
            headers = {h["key"]: h["value"] for h in value.get("headers") or []}
            found.append((value["uri"], value.get("method") or "GET", headers))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "links" and isinstance(value, dict):
                    for item in value.values():
                        add(item)
                elif key == "link":
                    add(value)
                elif key == "pdfDownloadLink" and isinstance(value, str):
                    found.append((value, "GET", {}))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body)
    return found


def absolute(base: str, uri: str) -> str:
    """Partner Center link URIs are relative and usually omit /v1 (partner-center-api.md §7.5)."""
    if uri.startswith(("http://", "https://")):
        return uri
    return base + (uri if uri.startswith("/v1/") else "/v1" + uri)


def the_readme_month(rec: Recorder, emulator) -> None:
    c = US_CUSTOMER
    rec.call("GET", "/v1/customers")
    rec.call("GET", "/v1/customers", params={"size": 2})
    rec.call("GET", f"/v1/customers/{c}")
    rec.call("GET", "/v1/products", params={"country": "US", "targetView": "OnlineServices"})
    rec.call("GET", "/v1/products/DZH318Z0SA01/skus", params={"country": "US"})
    rec.call("GET", "/v1/products/CFQ7TTC0LH18/skus/0001/availabilities", params={"country": "US"})
    rec.call("GET", f"/v1/customers/{c}/products/CFQ7TTC0LH18/skus/0001/availabilities")
    lines = [{"catalogItemId": BASIC, "quantity": 10, "termDuration": "P1M", "billingCycle": "monthly"},
             {"catalogItemId": HELPDESK, "quantity": 5, "termDuration": "P1M", "billingCycle": "monthly"}]
    cart = rec.call("POST", f"/v1/customers/{c}/carts", json={"lineItems": lines})
    result = rec.call("POST", f"/v1/customers/{c}/carts/{cart['id']}/checkout")
    orders = result["orders"]
    seats = next(ln["subscriptionId"] for o in orders for ln in o["lineItems"] if ln["offerId"] == BASIC)
    saas_order = next(o["id"] for o in orders for ln in o["lineItems"] if ln["offerId"] == HELPDESK)
    links = rec.call("GET", f"/v1/customers/{c}/orders/{saas_order}/activationlinks")
    landing = links["items"][0]["link"]["uri"]
    token = landing.split("token=", 1)[1]
    publisher = landing.split("/publisher/", 1)[1].split("/", 1)[0]
    rec.session.post(f"{rec.url}/publisher/{publisher}/activate", data={"token": requests.utils.unquote(token)},
                     timeout=10).raise_for_status()
    rec.call("GET", f"/v1/customers/{c}/orders")
    for o in orders:
        rec.call("GET", f"/v1/customers/{c}/orders/{o['id']}")
        rec.call("GET", f"/v1/customers/{c}/orders/{o['id']}/provisioningstatus")
    rec.call("GET", f"/v1/customers/{c}/subscriptions")
    emulator.clock.advance("P1D")
    for change in ({"quantity": 15}, {"quantity": 12}, {"autoRenewEnabled": False}):
        sub = rec.call("GET", f"/v1/customers/{c}/subscriptions/{seats}")
        rec.call("PATCH", f"/v1/customers/{c}/subscriptions/{seats}", json={**sub, **change},
                 headers={"If-Match": sub["attributes"]["etag"]})
    emulator.clock.advance("P8D")
    emulator.clock.advance("P1M")
    emulator.clock.advance("P8D")  # whichever day November's invoice is issued on (1st or 8th), it is out
    invoices = rec.call("GET", "/v1/invoices")
    assert invoices["items"], "no invoice in the README month"
    invoice_id = invoices["items"][0]["id"]
    rec.call("GET", f"/v1/invoices/{invoice_id}")
    rec.call("GET", f"/v1/invoices/{invoice_id}/lineitems",
             params={"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": 2})
    rec.call("GET", "/v1/invoices/estimates/links", params={"currencycode": "USD"})
    rec.call("GET", "/v1/invoices/unbilled/lineitems", params={
        "provider": "onetime", "invoicelineitemtype": "billinglineitems", "currencycode": "USD",
        "period": "current", "size": 1})
    rec.call("GET", f"/v1/customers/{c}/subscriptions")


def test_every_link_in_the_readme_month_resolves(emulator):
    rec = Recorder(emulator)
    the_readme_month(rec, emulator)
    assert not rec.failures, "\n".join(rec.failures)
    # the walk really covered the catalog, subscription, order, profile, invoice and paging links
    uris = " ".join(u for _, u in rec.followed)
    for expected in ("?country=US", "/profiles/company", "/profiles/billing", "/provisioningstatus",
                     "/documents/statement", "seekOperation=Next", "/activationlinks", "/publisher/",
                     "/availabilities/"):
        assert expected in uris, expected
    assert len(rec.followed) > 30


def test_emitted_links_finds_nested_links_and_their_headers():
    body = {"items": [{"links": {"sku": {"uri": "/products/P/skus/S?country=US", "method": "GET", "headers": []}},
                       "companyProfile": {"links": {"self": {"uri": "/customers/c/profiles/company"}}}}],
            "links": {"next": {"uri": "/customers?seekOperation=Next",
                               "headers": [{"key": "MS-ContinuationToken", "value": "t"}]}},
            "pdfDownloadLink": "/invoices/G1/documents/statement"}
    found = emitted_links(body)
    assert ("/products/P/skus/S?country=US", "GET", {}) in found
    assert ("/customers/c/profiles/company", "GET", {}) in found
    assert ("/customers?seekOperation=Next", "GET", {"MS-ContinuationToken": "t"}) in found
    assert ("/invoices/G1/documents/statement", "GET", {}) in found
    assert absolute("http://h", "/v1/customers") == "http://h/v1/customers"
    assert absolute("http://h", "/customers") == "http://h/v1/customers"
