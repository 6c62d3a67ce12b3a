"""The one guarded path for subscription changes (moved from tests/resources/test_subscriptions.py with the guards):
the ordering workflow refuses on the service's clock before calling, and ``force`` sends the change so Partner
Center's own refusal is reported."""

from __future__ import annotations

import json

import pytest
import responses

from cspkit.client import PartnerCenter
from cspkit.errors import BadRequestError, PolicyError
from cspkit.ledger import Ledger
from cspkit.workflows.ordering import Ordering

BASE = "https://pc.test/v1"
CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
SUB = {
    "id": "s1", "offerId": "P1:0001:A1", "quantity": 10, "status": "active", "autoRenewEnabled": True,
    "cancellationAllowedUntilDate": "2026-11-09T09:00:00Z", "unknownField": {"kept": True},
    "refundableQuantity": {"totalQuantity": 10, "details": [{"quantity": 10,
                                                             "allowedUntilDateTime": "2026-11-09T09:00:00Z"}]},
    "attributes": {"etag": "e1", "objectType": "Subscription"},
}
AVAILABILITY = {
    "id": "A1", "productId": "P1", "skuId": "0001", "catalogItemId": "P1:0001:A1", "isPurchasable": True,
    "terms": [{"duration": "P1M", "billingCycle": "monthly"}],
    "sku": {"id": "0001", "productId": "P1", "minimumQuantity": 1, "maximumQuantity": 10},
    "product": {"id": "P1", "title": "Product one"},
}


def served(now: str) -> dict:
    return {"X-Emulator-Now": now}


@pytest.fixture
def service(tmp_path):
    pc = PartnerCenter(endpoint="https://pc.test", access_token="t0k3n", sleep=lambda s: None,
                       jitter=lambda upper: 0.0)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="test")
    yield Ordering(pc, ledger, sleep=lambda s: None)  # no clock: the guards judge at the answer's time
    ledger.close()
    pc.close()


@responses.activate
def test_cancel_after_the_window_is_refused_on_the_service_clock_and_force_reports_the_api_refusal(service):
    responses.get(f"{BASE}/customers/c1/subscriptions/s1", json=SUB, headers=served("2026-11-10T09:00:00Z"))
    with pytest.raises(PolicyError) as info:
        service.cancel("c1", "s1")
    assert info.value.reason == "cancellation_window_closed"
    assert info.value.deadline.isoformat() == "2026-11-09T09:00:00+00:00"
    assert [c.request.method for c in responses.calls] == ["GET"]

    responses.patch(f"{BASE}/customers/c1/subscriptions/s1", status=400,
                    json={"code": "900117", "description": "You have passed your 7-day cancellation window"})
    with pytest.raises(BadRequestError) as refused:
        service.cancel("c1", "s1", force=True)
    assert refused.value.code == "900117"
    assert json.loads(responses.calls[-1].request.body)["status"] == "deleted"


@responses.activate
def test_seat_decrease_after_the_window_is_refused(service):
    responses.get(f"{BASE}/customers/c1/subscriptions/s1", json=SUB, headers=served("2026-11-10T09:00:00Z"))
    responses.get(f"{BASE}/customers/c1", json={"id": "c1", "billingProfile": {"defaultAddress": {"country": "US"}}})
    responses.get(f"{BASE}/products/P1/skus/0001", json={"id": "0001", "minimumQuantity": 1, "maximumQuantity": 300})
    with pytest.raises(PolicyError) as info:
        service.set_quantity("c1", "s1", quantity=9)
    assert info.value.reason == "seat_decrease_window_closed"
    assert not any(c.request.method == "PATCH" for c in responses.calls)


def test_against_the_emulator_the_workflow_guards_with_the_emulator_clock(emulator, emulator_client, tmp_path):
    with emulator_client() as pc:
        ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="emulator")
        service = Ordering(pc, ledger, clock=emulator.clock.now, sleep=lambda s: None)
        plan = service.plan(CONTOSO, item="CFQ7TTC0LH18:0001", quantity=6, term_duration="P1M",
                            billing_cycle="monthly")
        [sub_id] = service.place_order(plan).subscription_ids
        assert service.set_quantity(CONTOSO, sub_id, quantity=5).after.quantity == 5
        with pytest.raises(PolicyError) as bounds:
            service.set_quantity(CONTOSO, sub_id, quantity=301)
        assert bounds.value.reason == "quantity_out_of_bounds"
        emulator.clock.advance(days=7, seconds=1)
        with pytest.raises(PolicyError) as info:
            service.cancel(CONTOSO, sub_id)
        assert info.value.deadline.isoformat() == "2026-11-09T09:00:00+00:00"
        assert emulator.backend.subscriptions[sub_id].status == "active"
        ledger.close()


@responses.activate
def test_plan_refuses_a_quantity_above_the_sku_maximum_without_creating_a_cart(service):
    responses.get(f"{BASE}/products/P1/skus/0001/availabilities/A1", json=AVAILABILITY)
    with pytest.raises(PolicyError) as info:
        service.plan("c1", item="P1:0001:A1", quantity=11, term_duration="P1M", billing_cycle="monthly",
                     country="US")
    assert info.value.reason == "quantity_out_of_bounds"
    assert [c.request.method for c in responses.calls] == ["GET"]
