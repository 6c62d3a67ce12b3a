"""The journaled ordering service against the emulator: what changed in the emulator, what the ledger says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cspkit.errors import APIConnectionError, BadRequestError, CheckoutError, PolicyError
from cspkit.ledger import Ledger, entry_json
from cspkit.transport import RetryPolicy
from cspkit.workflows.ordering import Ordering

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001"
BASIC_ITEM = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
HELPDESK = "DZH318Z0SA01:0001"


@pytest.fixture
def pc(emulator_client):
    return emulator_client()


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="emulator")
    yield led
    led.close()


@pytest.fixture
def service(pc, ledger, emulator):
    return Ordering(pc, ledger, clock=emulator.clock.now, sleep=lambda s: None)


def orders_of(emulator, customer_id=CONTOSO):
    return [o for o in emulator.backend.orders.values() if o.customer_id == customer_id]


def buy(service, quantity=5, item=BASIC, term="P1M", billing="monthly", key=None):
    plan = service.plan(CONTOSO, item=item, quantity=quantity, term_duration=term, billing_cycle=billing)
    return service.place_order(plan, key=key)


def test_plan_picks_the_availability_and_place_order_journals_cart_then_order(service, emulator, ledger):
    plan = service.plan(CONTOSO, item=BASIC, quantity=5, term_duration="p1y", billing_cycle="Annual",
                        friendly_name="Front desk")
    assert (plan.catalog_item_id, plan.term_duration, plan.billing_cycle) == (BASIC_ITEM, "P1Y", "annual")
    assert plan.cancellation_policy == "full refund within 1 day, partial refund within 7 days of purchase"
    assert plan.unit_price is None  # no price list given

    outcome = service.place_order(plan)

    [order] = orders_of(emulator)
    assert outcome.status == "done" and outcome.order_ids == [order.id]
    [line] = order.lines
    assert (line.offer_id, line.quantity, line.term_duration, line.billing_cycle) == (BASIC_ITEM, 5, "P1Y", "annual")
    sub = emulator.backend.subscriptions[line.subscription_id]
    assert (sub.friendly_name, sub.status) == ("Front desk", "active")
    entry = ledger.get(outcome.entry_id)
    assert entry.cart_id == order.cart_id and entry_json(entry, "order_ids_json") == [order.id]
    assert [e.status for e in ledger.events(entry_id=entry.id)] == ["pending", "pending", "submitted", "done"]


def test_the_same_key_never_orders_twice(service, emulator):
    first = buy(service, key="k-1")
    again = buy(service, key="k-1")
    assert again.replayed and again.order_ids == first.order_ids
    assert len(orders_of(emulator)) == 1


def test_a_connection_dropped_after_the_checkout_committed_is_resolved_by_the_same_cart(service, emulator, ledger):
    emulator.faults.add(action="drop", operation="checkout_cart", count=1)
    outcome = buy(service)
    assert [f["action"] for f in emulator.faults.log] == ["drop"]
    assert len(orders_of(emulator)) == 1 and outcome.status == "done"
    assert ledger.get(outcome.entry_id).attempts == 1  # the transport's own retry, same MS-RequestId


def test_ambiguity_left_unknown_is_resumed_by_checking_out_the_same_cart(emulator, emulator_client, ledger):
    emulator.faults.add(action="drop", operation="checkout_cart", count=3)
    with emulator_client(retry=RetryPolicy(max_attempts=1)) as pc:
        service = Ordering(pc, ledger, resolve_attempts=2, clock=emulator.clock.now, sleep=lambda s: None)
        with pytest.raises(APIConnectionError) as info:
            buy(service, key="row-7")
        assert "ledger resume" in info.value.hint
        [entry] = ledger.unresolved()
        assert entry.status == "unknown" and entry.cart_id is not None
        assert len(orders_of(emulator)) == 1  # the first drop committed the order

        assert service.resume(ledger.get(entry.id)).startswith("done: orders ")
    [order] = orders_of(emulator)
    assert order.cart_id == entry.cart_id
    assert entry_json(ledger.get(entry.id), "order_ids_json") == [order.id]


def test_a_checkout_with_only_order_errors_fails_and_orders_nothing(service, emulator, ledger):
    plan = service.plan(CONTOSO, item=BASIC, quantity=301, term_duration="P1M", billing_cycle="monthly", force=True)
    with pytest.raises(CheckoutError) as info:
        service.place_order(plan)
    assert "300" in str(info.value)
    assert orders_of(emulator) == []
    [entry] = ledger.list()
    assert entry.status == "failed" and entry.cart_id is None  # a retry builds a new cart


def test_plan_refuses_quantity_above_the_sku_maximum(service):
    with pytest.raises(PolicyError) as info:
        service.plan(CONTOSO, item=BASIC, quantity=301, term_duration="P1M", billing_cycle="monthly")
    assert info.value.reason == "quantity_out_of_bounds"


def test_seat_decrease_inside_then_outside_the_window(service, emulator, ledger):
    sub_id = buy(service, quantity=10).subscription_ids[0]
    change = service.set_quantity(CONTOSO, sub_id, quantity=8)
    assert (change.before.quantity, change.after.quantity) == (10, 8)
    assert emulator.backend.subscriptions[sub_id].quantity == 8

    emulator.clock.advance(days=8)
    with pytest.raises(PolicyError) as info:
        service.set_quantity(CONTOSO, sub_id, quantity=7)
    assert info.value.reason == "seat_decrease_window_closed"
    assert info.value.deadline == datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
    assert emulator.backend.subscriptions[sub_id].quantity == 8
    assert ledger.list(limit=1)[0].status == "refused"

    with pytest.raises(BadRequestError) as refused:  # forced: Partner Center's own refusal is reported
        service.set_quantity(CONTOSO, sub_id, quantity=7, force=True)
    assert refused.value.code == "800090"
    assert ledger.list(limit=1)[0].status == "failed"
    assert service.set_quantity(CONTOSO, sub_id, quantity=12).after.quantity == 12  # increases always pass


def test_cancel_inside_the_window_and_refused_after_it(service, emulator):
    first, second = buy(service, key="a").subscription_ids[0], buy(service, key="b").subscription_ids[0]
    assert service.cancel(CONTOSO, first).after.status == "deleted"
    assert emulator.backend.subscriptions[first].status == "deleted"

    emulator.clock.advance(days=7, hours=1)
    with pytest.raises(PolicyError) as info:
        service.cancel(CONTOSO, second)
    assert info.value.reason == "cancellation_window_closed"
    assert info.value.deadline == datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
    assert emulator.backend.subscriptions[second].status == "active"
    with pytest.raises(BadRequestError) as refused:
        service.cancel(CONTOSO, second, force=True)
    assert refused.value.code == "900117"


def test_auto_renew_suspend_reactivate(service, emulator):
    sub_id = buy(service).subscription_ids[0]
    assert service.set_auto_renew(CONTOSO, sub_id, enabled=False).after.auto_renew_enabled is False
    assert emulator.backend.subscriptions[sub_id].auto_renew is False
    assert service.suspend(CONTOSO, sub_id).after.status == "suspended"
    assert emulator.backend.subscriptions[sub_id].status == "suspended"
    assert service.reactivate(CONTOSO, sub_id).after.status == "active"
    noop = service.set_auto_renew(CONTOSO, sub_id, enabled=False)
    assert noop.note == "already in the requested state"


def test_a_patch_whose_answer_was_dropped_is_confirmed_by_reading_back(service, emulator, ledger):
    sub_id = buy(service, quantity=4).subscription_ids[0]
    emulator.faults.add(action="drop", operation="update_subscription", count=1)
    change = service.set_quantity(CONTOSO, sub_id, quantity=6)
    # the retry carried the old etag (412); reading back showed the change applied once
    assert change.note == "confirmed by reading back" and change.after.quantity == 6
    assert emulator.backend.subscriptions[sub_id].quantity == 6
    assert ledger.list(limit=1)[0].status == "done"


def test_saas_order_activation_links_and_sandbox_activation(service, pc, emulator):
    outcome = buy(service, item=HELPDESK, quantity=3)
    order_id, sub_id = outcome.order_ids[0], outcome.subscription_ids[0]
    assert emulator.backend.subscriptions[sub_id].status == "pending"
    links = pc.orders.all_activation_links(CONTOSO, order_id)
    assert [link.line_item_number for link in links] == [0] and links[0].uri.startswith(emulator.url)
    assert service.activate(CONTOSO, sub_id).after.status == "active"
    assert emulator.backend.subscriptions[sub_id].status == "active"


def test_an_entry_of_another_target_is_never_resumed_here(emulator, emulator_client, tmp_path):
    from cspkit.errors import CspkitError
    from cspkit.ledger import Target

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    emulator.faults.add(action="reset", operation="checkout_cart")
    elsewhere = Ledger(url, actor="t", target=Target.emulator("http://127.0.0.1:9", instance_id="f" * 32))
    here = Ledger(url, actor="t", target=Target.emulator(emulator.url, instance_id=emulator.backend.instance_id))
    with emulator_client(retry=RetryPolicy(max_attempts=1)) as pc:
        other = Ordering(pc, elsewhere, resolve_attempts=1, clock=emulator.clock.now, sleep=lambda s: None)
        with pytest.raises(APIConnectionError):
            buy(other, key="row-1")
        [foreign] = elsewhere.unresolved()
        emulator.faults.clear()
        service = Ordering(pc, here, clock=emulator.clock.now, sleep=lambda s: None)
        assert here.unresolved() == []
        with pytest.raises(CspkitError, match="not resumed here") as info:
            service.resume(here.get(foreign.id))
        assert info.value.exit_code == 2
    assert orders_of(emulator) == [] and here.get(foreign.id).status == "unknown"
    elsewhere.close()
    here.close()



def test_checkout_resolution_waits_by_the_shared_retry_policy(emulator, emulator_client, ledger):
    """The waits between re-checkouts of one cart come from cspkit.retry.RetryPolicy (no back-off loop of its own)."""
    emulator.faults.add(action="drop", operation="checkout_cart", count=3)
    waits: list[float] = []
    with emulator_client(retry=RetryPolicy(max_attempts=1)) as pc:
        service = Ordering(pc, ledger, resolve_attempts=3, clock=emulator.clock.now, sleep=waits.append)
        assert service.retry_policy == RetryPolicy(max_attempts=3, backoff_base=2.0, backoff_cap=30.0)
        service.retry_policy = RetryPolicy(max_attempts=3, backoff_base=2.0, backoff_cap=30.0,
                                           jitter=lambda upper: upper)
        with pytest.raises(APIConnectionError):
            buy(service, key="row-9")
    assert waits == [2.0, 4.0]  # after attempts 1 and 2: the policy's capped back-off (jitter made deterministic)
