"""Guards: each refuses with its reason and deadline, and force=True bypasses it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cspkit.errors import PolicyError
from cspkit.models.catalog import Availability, InventoryItem, Sku
from cspkit.models.subscription import Subscription
from cspkit.resources.base import service_now
from cspkit.workflows.guards import (
    cancellation_deadline,
    check_cancellation,
    check_purchasable,
    check_quantity,
    check_seat_change,
)

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
SKU = Sku.from_wire({"id": "0001", "productId": "CFQ7TTC0LH18", "minimumQuantity": 1, "maximumQuantity": 300})


def sub(**fields) -> Subscription:
    return Subscription.from_wire({"id": "s1", "status": "active", "quantity": 10, **fields})


@pytest.mark.parametrize("quantity", [0, 301])
def test_quantity_outside_sku_bounds_is_refused(quantity):
    with pytest.raises(PolicyError) as info:
        check_quantity(SKU, quantity)
    assert info.value.reason == "quantity_out_of_bounds"
    assert "1..300" in str(info.value)
    check_quantity(SKU, quantity, force=True)


@pytest.mark.parametrize("quantity", [1, 300])
def test_quantity_at_the_bounds_passes(quantity):
    check_quantity(SKU, quantity)


def test_cancellation_after_the_deadline_is_refused_with_the_deadline():
    s = sub(cancellationAllowedUntilDate="2026-11-05T11:59:59Z")
    with pytest.raises(PolicyError) as info:
        check_cancellation(s, now=NOW)
    assert info.value.reason == "cancellation_window_closed"
    assert info.value.deadline == datetime(2026, 11, 5, 11, 59, 59, tzinfo=UTC)
    check_cancellation(s, now=NOW, force=True)


def test_cancellation_at_the_deadline_passes():
    check_cancellation(sub(cancellationAllowedUntilDate="2026-11-05T12:00:00Z"), now=NOW)


def test_cancellation_deadline_falls_back_to_refund_options_expires_at_and_expires_after():
    s = sub(refundOptions=[{"type": "Full", "expiresAt": "2026-11-03T09:00:00Z"},
                           {"type": "Partial", "expiresAfter": "2026-11-09T09:00:00Z"}])
    assert cancellation_deadline(s) == datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
    check_cancellation(s, now=NOW)


def test_cancellation_without_any_window_is_refused_as_not_cancellable():
    with pytest.raises(PolicyError) as info:
        check_cancellation(sub(), now=NOW)
    assert info.value.reason == "not_cancellable" and info.value.deadline is None


def test_cancelling_a_cancelled_subscription_is_refused():
    with pytest.raises(PolicyError) as info:
        check_cancellation(sub(status="deleted", cancellationAllowedUntilDate="2026-12-01T00:00:00Z"), now=NOW)
    assert info.value.reason == "already_cancelled"


def test_seat_decrease_limited_to_refundable_quantity_details():
    s = sub(refundableQuantity={"totalQuantity": 7, "details": [
        {"quantity": 4, "allowedUntilDateTime": "2026-11-04T00:00:00Z"},   # closed
        {"quantity": 3, "allowedUntilDateTime": "2026-11-08T00:00:00Z"},   # open
    ]})
    check_seat_change(s, 7, now=NOW)           # remove 3: allowed
    check_seat_change(s, 25, now=NOW)          # increases always allowed
    with pytest.raises(PolicyError) as info:
        check_seat_change(s, 6, now=NOW)       # remove 4: only 3 still refundable
    assert info.value.reason == "seat_decrease_window_closed"
    assert info.value.deadline == datetime(2026, 11, 8, tzinfo=UTC)
    assert "only 3 seat(s)" in str(info.value)
    check_seat_change(s, 6, now=NOW, force=True)


def test_seat_decrease_without_refundable_quantity_uses_the_cancellation_deadline():
    s = sub(cancellationAllowedUntilDate="2026-11-05T00:00:00Z")
    with pytest.raises(PolicyError) as info:
        check_seat_change(s, 9, now=NOW)
    assert info.value.deadline == datetime(2026, 11, 5, tzinfo=UTC)
    check_seat_change(sub(cancellationAllowedUntilDate="2026-11-06T00:00:00Z"), 9, now=NOW)


def availability(**fields) -> Availability:
    return Availability.from_wire({
        "id": "CFQ7TTC0K59J", "productId": "CFQ7TTC0LH18", "skuId": "0001",
        "catalogItemId": "CFQ7TTC0LH18:0001:CFQ7TTC0K59J", "isPurchasable": True,
        "terms": [{"duration": "P1M", "billingCycle": "Monthly"}, {"duration": "P1Y", "billingCycle": "annual"}],
        **fields,
    })


def test_purchase_guard_checks_purchasable_term_quantity():
    check_purchasable(availability(), term_duration="p1y", billing_cycle="Annual", quantity=5, sku=SKU)
    cases = [
        (availability(isPurchasable=False), "P1M", "monthly", 5, "not_purchasable"),
        (availability(), "P1Y", "monthly", 5, "term_not_offered"),
        (availability(), "P1M", "monthly", 301, "quantity_out_of_bounds"),
    ]
    for avail, term, cycle, quantity, reason in cases:
        with pytest.raises(PolicyError) as info:
            check_purchasable(avail, term_duration=term, billing_cycle=cycle, quantity=quantity, sku=SKU)
        assert info.value.reason == reason
        check_purchasable(avail, term_duration=term, billing_cycle=cycle, quantity=quantity, sku=SKU, force=True)


def test_purchase_guard_requires_a_passed_inventory_check_when_the_sku_asks_for_one():
    sku = Sku.from_wire({"id": "0001", "purchasePrerequisites": ["InventoryCheck"]})
    ok = [InventoryItem.from_wire({"productId": "P", "skuId": "0001", "isRestricted": False})]
    bad = [InventoryItem.from_wire({"productId": "P", "skuId": "0001", "isRestricted": True,
                                    "restrictions": [{"reasonCode": "X", "description": "no capacity"}]})]
    check_purchasable(availability(), term_duration="P1M", billing_cycle="monthly", quantity=1, sku=sku, inventory=ok)
    for inventory in (None, bad):
        with pytest.raises(PolicyError) as info:
            check_purchasable(availability(), term_duration="P1M", billing_cycle="monthly", quantity=1, sku=sku,
                              inventory=inventory)
        assert info.value.reason == "inventory_restricted"


def test_service_now_prefers_the_emulator_header_then_date():
    assert service_now({"X-Emulator-Now": "2026-11-02T09:00:00Z", "Date": "Sat, 21 Nov 2026 13:00:00 GMT"}) == \
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert service_now({"Date": "Sat, 21 Nov 2026 13:00:00 GMT"}) == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
    assert service_now({}, fallback=NOW) == NOW


@pytest.mark.parametrize(("auto_renew", "advice"), [
    (True, "turn auto-renew off to stop it at the end of the term on 2027-11-01 00:00 UTC instead"),
    (None, "turn auto-renew off to stop it at the end of the term on 2027-11-01 00:00 UTC instead"),
    (False, "auto-renew is already off, so it ends with its term on 2027-11-01 00:00 UTC: nothing more to do"),
])
def test_a_late_cancellation_advises_auto_renew_off_only_when_it_is_not_already_off(auto_renew, advice):
    fields = {"cancellationAllowedUntilDate": "2026-11-05T11:59:59Z", "commitmentEndDate": "2027-11-01T00:00:00Z"}
    if auto_renew is not None:
        fields["autoRenewEnabled"] = auto_renew
    with pytest.raises(PolicyError) as info:
        check_cancellation(sub(**fields), now=NOW)
    assert str(info.value).endswith(advice)
    if auto_renew is False:
        assert "turn auto-renew off" not in str(info.value)
