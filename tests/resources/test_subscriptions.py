"""Subscriptions resource: read-modify-write PATCH of the full resource; it sends what it is told (the guards live
in the ordering workflow: tests/workflows/ordering/test_guarded_changes.py)."""

from __future__ import annotations

import json

import pytest
import responses

from cspkit.errors import BadRequestError

BASE = "https://pc.test/v1"
SUB = {
    "id": "s1", "offerId": "P1:0001:A1", "quantity": 10, "status": "active", "autoRenewEnabled": True,
    "cancellationAllowedUntilDate": "2026-11-09T09:00:00Z", "unknownField": {"kept": True},
    "refundableQuantity": {"totalQuantity": 10, "details": [{"quantity": 10,
                                                             "allowedUntilDateTime": "2026-11-09T09:00:00Z"}]},
    "attributes": {"etag": "e1", "objectType": "Subscription"},
}


def served(now: str) -> dict:
    return {"X-Emulator-Now": now}


@responses.activate
def test_set_quantity_patches_the_full_resource_with_its_etag(pc):
    responses.get(f"{BASE}/customers/c1/subscriptions/s1", json=SUB, headers=served("2026-11-03T09:00:00Z"))
    responses.get(f"{BASE}/customers/c1", json={"id": "c1", "billingProfile": {"defaultAddress": {"country": "US"}}})
    responses.get(f"{BASE}/products/P1/skus/0001", json={"id": "0001", "minimumQuantity": 1, "maximumQuantity": 300})
    responses.patch(f"{BASE}/customers/c1/subscriptions/s1", json={**SUB, "quantity": 4})
    change = pc.subscriptions.set_quantity("c1", "s1", quantity=4)
    body = json.loads(responses.calls[-1].request.body)
    assert body["quantity"] == 4 and body["attributes"]["etag"] == "e1" and body["unknownField"] == {"kept": True}
    assert (change.before.quantity, change.after.quantity) == (10, 4)


@responses.activate
def test_cancel_and_set_quantity_send_what_they_are_told_without_guarding(pc):
    responses.get(f"{BASE}/customers/c1/subscriptions/s1", json=SUB, headers=served("2026-11-10T09:00:00Z"))
    responses.patch(f"{BASE}/customers/c1/subscriptions/s1", status=400,
                    json={"code": "900117", "description": "You have passed your 7-day cancellation window"})
    with pytest.raises(BadRequestError) as refused:
        pc.subscriptions.cancel("c1", "s1")  # past the window: the resource does not judge, the service refuses
    assert refused.value.code == "900117"
    assert json.loads(responses.calls[-1].request.body)["status"] == "deleted"
    responses.patch(f"{BASE}/customers/c1/subscriptions/s1", json={**SUB, "quantity": 9})
    assert pc.subscriptions.set_quantity("c1", "s1", quantity=9).after.quantity == 9
    assert [c.request.method for c in responses.calls] == ["GET", "PATCH", "GET", "PATCH"]


def test_against_the_emulator_every_change_is_a_patch_of_the_subscription(emulator):
    from cspkit.client import PartnerCenter

    customer = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
    with PartnerCenter(endpoint=emulator.url, access_token=emulator.token, sleep=lambda s: None,
                       jitter=lambda upper: 0.0) as pc:
        cart = pc.carts.create(customer, line_items=[{"catalogItemId": "CFQ7TTC0LH18:0001:CFQ7TTC0K59J",
                                                      "quantity": 6, "termDuration": "P1M",
                                                      "billingCycle": "monthly"}])
        sub_id = pc.carts.checkout(customer, cart.id).orders[0].line_items[0].subscription_id
        [listed] = pc.subscriptions.list(customer)
        assert listed.id == sub_id and listed.refundable_quantity.total_quantity == 6
        change = pc.subscriptions.set_quantity(customer, sub_id, quantity=5)
        assert change.after.quantity == 5 and emulator.backend.subscriptions[sub_id].quantity == 5
        assert pc.subscriptions.set_auto_renew(customer, sub_id, enabled=False).after.auto_renew_enabled is False
        assert pc.subscriptions.suspend(customer, sub_id).after.status == "suspended"
        assert pc.subscriptions.reactivate(customer, sub_id).after.status == "active"
        assert pc.subscriptions.cancel(customer, sub_id).after.status == "deleted"
