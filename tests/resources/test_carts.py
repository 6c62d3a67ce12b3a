"""Carts resource: the purchase guard runs before the POST; checkout reuses the given MS-RequestId."""

from __future__ import annotations

import json

import pytest
import responses

from cspkit.errors import PolicyError

BASE = "https://pc.test/v1"
AVAILABILITY = {
    "id": "A1", "productId": "P1", "skuId": "0001", "catalogItemId": "P1:0001:A1", "isPurchasable": True,
    "terms": [{"duration": "P1M", "billingCycle": "monthly"}],
    "sku": {"id": "0001", "productId": "P1", "minimumQuantity": 1, "maximumQuantity": 10},
}


@responses.activate
def test_create_checks_the_catalog_then_posts_lines_with_ids(pc):
    responses.get(f"{BASE}/products/P1/skus/0001/availabilities/A1", json=AVAILABILITY)
    responses.post(f"{BASE}/customers/c1/carts", status=201, json={
        "id": "cart-1", "status": "Active", "creationTimeStamp": "2026-11-02T09:00:00Z",
        "lineItems": [{"id": 0, "catalogItemId": "P1:0001:A1", "quantity": 3, "orderGroup": "0"}]})
    cart = pc.carts.create("c1", country="US", line_items=[
        {"catalogItemId": "P1:0001:A1", "quantity": 3, "termDuration": "P1M", "billingCycle": "monthly"}])
    assert cart.id == "cart-1" and cart.line_items[0].order_group == "0"
    assert cart.creation_timestamp.isoformat() == "2026-11-02T09:00:00+00:00"
    assert json.loads(responses.calls[1].request.body) == {"lineItems": [
        {"id": 0, "catalogItemId": "P1:0001:A1", "quantity": 3, "termDuration": "P1M", "billingCycle": "monthly"}]}


@responses.activate
def test_create_refuses_a_quantity_above_the_sku_maximum_without_posting(pc):
    responses.get(f"{BASE}/products/P1/skus/0001/availabilities/A1", json=AVAILABILITY)
    with pytest.raises(PolicyError) as info:
        pc.carts.create("c1", country="US", line_items=[
            {"catalogItemId": "P1:0001:A1", "quantity": 11, "termDuration": "P1M", "billingCycle": "monthly"}])
    assert info.value.reason == "quantity_out_of_bounds"
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_checkout_retries_with_the_same_request_id_and_parses_orders_and_errors(pc):
    url = f"{BASE}/customers/c1/carts/cart-1/checkout"
    responses.post(url, status=503, json={"code": "500", "description": "busy"})
    responses.post(url, status=201, json={
        "orders": [{"id": "o1", "lineItems": [{"lineItemNumber": 0, "offerId": "P1:0001:A1", "quantity": 3}]}],
        "orderErrors": [{"orderGroupId": "1", "code": 800009, "description": "Error in cart items"}]})
    result = pc.carts.checkout("c1", "cart-1", request_id="rid-1")
    assert [o.id for o in result.orders] == ["o1"]
    assert result.order_errors[0].code == 800009
    assert [c.request.headers["MS-RequestId"] for c in responses.calls] == ["rid-1", "rid-1"]
    assert responses.calls[0].request.body in (b"", None, "")


def test_against_the_emulator_create_update_checkout_is_idempotent(emulator):
    from cspkit.client import PartnerCenter

    customer = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
    with PartnerCenter(endpoint=emulator.url, access_token=emulator.token, sleep=lambda s: None,
                       jitter=lambda upper: 0.0) as pc:
        cart = pc.carts.create(customer, line_items=[{"catalogItemId": "CFQ7TTC0LH18:0001:CFQ7TTC0K59J",
                                                      "quantity": 2, "termDuration": "P1M",
                                                      "billingCycle": "monthly"}])
        assert cart.expiration_timestamp.isoformat() == "2026-11-09T09:00:00+00:00"
        cart.line_items[0].quantity = 4
        updated = pc.carts.update(customer, cart.id, cart=cart)
        assert updated.line_items[0].quantity == 4 and emulator.backend.carts[cart.id].lines[0].quantity == 4
        first = pc.carts.checkout(customer, cart.id)
        again = pc.carts.checkout(customer, cart.id)
        assert [o.id for o in again.orders] == [o.id for o in first.orders] and len(emulator.backend.orders) == 1
        assert pc.carts.get(customer, cart.id).is_ordered
