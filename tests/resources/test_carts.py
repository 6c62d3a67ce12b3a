"""Carts resource: sends the lines it is told (the purchase guard lives in the ordering workflow:
tests/workflows/ordering/test_guarded_changes.py); checkout reuses the given MS-RequestId."""

from __future__ import annotations

import json

import responses

BASE = "https://pc.test/v1"
@responses.activate
def test_create_posts_lines_with_ids(pc):
    responses.post(f"{BASE}/customers/c1/carts", status=201, json={
        "id": "cart-1", "status": "Active", "creationTimeStamp": "2026-11-02T09:00:00Z",
        "lineItems": [{"id": 0, "catalogItemId": "P1:0001:A1", "quantity": 3, "orderGroup": "0"}]})
    cart = pc.carts.create("c1", line_items=[
        {"catalogItemId": "P1:0001:A1", "quantity": 3, "termDuration": "P1M", "billingCycle": "monthly"}])
    assert cart.id == "cart-1" and cart.line_items[0].order_group == "0"
    assert cart.creation_timestamp.isoformat() == "2026-11-02T09:00:00+00:00"
    assert [c.request.method for c in responses.calls] == ["POST"]  # no catalog read: no guard here
    assert json.loads(responses.calls[0].request.body) == {"lineItems": [
        {"id": 0, "catalogItemId": "P1:0001:A1", "quantity": 3, "termDuration": "P1M", "billingCycle": "monthly"}]}


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
