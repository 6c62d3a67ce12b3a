"""The client side of the samples comparison (issue 17, item 8), with ``responses`` serving Microsoft's documented
bodies from ``../shared/reference/samples/`` (skipped with a reason when absent): ``customers.list()`` sends the
documented ``size``; the auto-renew and cancellation PATCHes send ``If-Match`` with the etag; PascalCase keys are
read at every depth."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from cspkit.models.cart import Cart
from cspkit.models.subscription import Subscription
from cspkit.resources.customers import DEFAULT_PAGE_SIZE

BASE = "https://pc.test/v1"

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(),
                                   reason=f"documented samples not found at {SAMPLES} (../shared is absent)")


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def served(now: str) -> dict[str, str]:
    return {"X-Emulator-Now": now}


@needs_samples
@responses.activate
def test_customers_list_sends_the_documented_size(pc):
    doc = sample("customers_list")
    responses.get(f"{BASE}/customers", json=doc["response"]["body"])
    customers = list(pc.customers.list())
    assert [c.id for c in customers] == [i["id"] for i in doc["response"]["body"]["items"]]
    query = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert query["size"] == [str(DEFAULT_PAGE_SIZE)]
    assert "size" in doc["request"]["query"]  # the documented request carries it
    list(pc.customers.list(page_size=40))
    assert parse_qs(urlsplit(responses.calls[1].request.url).query)["size"] == ["40"]
    with pytest.raises(ValueError):
        pc.customers.list(page_size=0)


def active_subscription(doc_body: dict, *, etag: str = "W/\"datetime'2026-11-02T09%3A00%3A00Z'\"") -> dict:
    """The documented subscription body, active, with an etag and a cancellation window still open."""
    body = {**doc_body, "status": "active", "attributes": {"etag": etag, "objectType": "Subscription"},
            "cancellationAllowedUntilDate": "2030-01-01T00:00:00Z",
            "refundOptions": [{"type": "Full", "expiresAt": "2030-01-01T00:00:00Z"}]}
    return body


@needs_samples
@responses.activate
def test_auto_renew_patch_sends_if_match_with_the_etag(pc):
    doc = sample("subscription_update_autorenew")
    assert "If-Match" in doc["request"]["headers"]
    current = active_subscription(doc["response"]["body"])
    path = f"{BASE}/customers/c1/subscriptions/{current['id']}"
    responses.get(path, json=current, headers=served("2026-11-03T09:00:00Z"))
    responses.patch(path, json=doc["response"]["body"], status=doc["response"]["status"])
    change = pc.subscriptions.set_auto_renew("c1", current["id"], enabled=False)
    patch = responses.calls[-1].request
    assert patch.method == "PATCH"
    assert patch.headers["If-Match"] == current["attributes"]["etag"]
    sent = json.loads(patch.body)
    assert sent["autoRenewEnabled"] is False and sent["attributes"]["etag"] == current["attributes"]["etag"]
    assert change.after.auto_renew_enabled is False


@needs_samples
@responses.activate
def test_cancellation_patch_sends_if_match_with_the_etag(pc):
    doc = sample("subscription_cancel")
    assert "If-Match" in doc["request"]["headers"]
    current = active_subscription(doc["request"]["body"], etag="0f3c9a")
    path = f"{BASE}/customers/c1/subscriptions/{current['id']}"
    responses.get(path, json=current, headers=served("2026-11-03T09:00:00Z"))
    responses.patch(path, json=doc["response"]["body"], status=doc["response"]["status"])
    change = pc.subscriptions.cancel("c1", current["id"])
    patch = responses.calls[-1].request
    assert patch.headers["If-Match"] == "0f3c9a"
    assert json.loads(patch.body)["status"] == "deleted"
    assert change.after.status == "deleted"


@responses.activate
def test_no_if_match_when_the_resource_has_no_etag(pc):
    body = {"id": "s1", "status": "active", "autoRenewEnabled": True}
    responses.get(f"{BASE}/customers/c1/subscriptions/s1", json=body, headers=served("2026-11-03T09:00:00Z"))
    responses.patch(f"{BASE}/customers/c1/subscriptions/s1", json={**body, "autoRenewEnabled": False})
    pc.subscriptions.set_auto_renew("c1", "s1", enabled=False)
    assert "If-Match" not in responses.calls[-1].request.headers


@needs_samples
def test_pascal_case_keys_are_read_at_every_depth():
    suspended = Subscription.from_wire(sample("subscription_suspend")["response"]["body"])
    assert suspended.status == "suspended" and suspended.quantity == 2
    assert suspended.etag == "<etag>"  # Attributes.Etag, nested PascalCase
    assert suspended.attributes.object_type == "Subscription"
    updated = Subscription.from_wire(sample("subscription_update_quantity")["response"]["body"])
    assert updated.etag and updated.attributes.object_type == "Subscription"
    cart = Cart.from_wire(sample("cart_update")["request"]["body"])  # LineItems[].ProvisioningContext
    line = cart.line_items[0]
    assert line.catalog_item_id and line.quantity == 2
    # the context is free-form: its own keys are kept as sent (the service's provisioning variables)
    assert {k.lower(): v for k, v in line.provisioning_context.items()} == {
        "subscriptionid": "3D5ECED6-1151-44C7-AEE6-70A4BB725666", "scope": "shared", "duration": "1Year"}


def test_pascal_case_nested_without_samples():
    sub = Subscription.from_wire({"Id": "s", "Attributes": {"Etag": "e1", "ObjectType": "Subscription"},
                                  "RefundableQuantity": {"TotalQuantity": 3, "Details": [
                                      {"Quantity": 3, "AllowedUntilDateTime": "2026-11-09T00:00:00Z"}]}})
    assert sub.etag == "e1"
    assert sub.refundable_quantity.total_quantity == 3
    assert sub.refundable_quantity.details[0].allowed_until_date_time.day == 9
    # camelCase wins when both spellings are present; unknown PascalCase keys are kept as they are
    both = Subscription.from_wire({"id": "s", "quantity": 4, "Quantity": 9, "SomethingNew": 1})
    assert both.quantity == 4 and both.model_extra["SomethingNew"] == 1
