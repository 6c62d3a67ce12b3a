"""Upgrade and renewal-instruction workflows: intent journaled before the call, refusals before any write,
idempotent on ``key``, a lost answer resolved by reading the history back."""

from __future__ import annotations

import pytest

from cspkit.errors import APIConnectionError, PolicyError
from cspkit.ledger import Ledger
from cspkit.resources.transitions import Transitions
from cspkit.workflows.transitions import Upgrades
from tests.emulator.conftest import BASIC, PC, US_CUSTOMER

STANDARD = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5"


@pytest.fixture
def service(emulator_client, tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="emulator")
    yield Upgrades(emulator_client(), led)
    led.close()


@pytest.fixture
def sub(emulator) -> dict:
    return PC(emulator).buy_one(US_CUSTOMER, BASIC, 5, "P1Y", "monthly")


def test_plan_reads_only_and_completes_a_product_sku_target(service, emulator, sub):
    plan = service.plan(US_CUSTOMER, sub["id"], to="cfq7ttc0lchc:0002", quantity=2)
    assert plan.target.catalog_item_id == STANDARD and plan.quantity == 2 and not plan.full
    assert "Upgrade 2 of 5 seat(s)" in plan.describe()
    assert emulator.backend.subscriptions[sub["id"]].transitions == []


def test_refused_before_any_write(service, emulator, sub):
    with pytest.raises(PolicyError, match="not an upgrade") as not_eligible:
        service.plan(US_CUSTOMER, sub["id"], to="CFQ7TTC0LFLZ:0002")
    assert not_eligible.value.reason == "not_eligible"
    with pytest.raises(PolicyError, match="quantity 6"):
        service.plan(US_CUSTOMER, sub["id"], to=STANDARD, quantity=6)
    assert emulator.backend.subscriptions[sub["id"]].quantity == 5


def test_upgrade_is_journaled_and_replayed_under_its_key(service, emulator, sub):
    plan = service.plan(US_CUSTOMER, sub["id"], to=STANDARD)
    first = service.upgrade(plan, key="u1")
    assert first.status == "done" and first.transition.quantity == 5 and first.transition.completed
    entry = service.ledger.by_key("u1")
    assert entry.status == "done" and entry.kind == "upgrade" and entry.request_id
    again = service.upgrade(plan, key="u1")
    assert again.replayed and again.transition.to_subscription_id == first.transition.to_subscription_id
    assert len(emulator.backend.subscriptions[sub["id"]].transitions) == 1
    assert emulator.backend.subscriptions[sub["id"]].status == "expired"


def test_a_lost_answer_is_confirmed_by_reading_the_history(service, emulator, sub, monkeypatch):
    real = Transitions.create

    def lose_answer(self, *args, **kwargs):
        real(self, *args, **kwargs)  # the seats move, the answer is lost
        raise APIConnectionError("connection reset")

    monkeypatch.setattr(Transitions, "create", lose_answer)
    plan = service.plan(US_CUSTOMER, sub["id"], to=STANDARD, quantity=2)
    outcome = service.upgrade(plan, key="u2")
    assert outcome.status == "done" and outcome.transition.quantity == 2
    assert service.ledger.by_key("u2").status == "done"
    assert emulator.backend.subscriptions[sub["id"]].quantity == 3  # moved once


def test_an_unresolved_lost_answer_is_unknown_and_resent_with_the_same_request_id(service, emulator, sub,
                                                                                 monkeypatch):
    sent: list[str] = []
    real = Transitions.create

    def never_arrives(self, *args, **kwargs):
        sent.append(kwargs["request_id"])
        raise APIConnectionError("connection reset")

    monkeypatch.setattr(Transitions, "create", never_arrives)
    plan = service.plan(US_CUSTOMER, sub["id"], to=STANDARD, quantity=1)
    with pytest.raises(APIConnectionError):
        service.upgrade(plan, key="u3")
    assert service.ledger.by_key("u3").status == "unknown"
    monkeypatch.setattr(Transitions, "create", lambda self, *a, **kw: (sent.append(kw["request_id"]),
                                                                      real(self, *a, **kw))[1])
    assert service.upgrade(plan, key="u3").status == "done"
    assert len(set(sent)) == 1  # one MS-RequestId for the one intent
    assert emulator.backend.subscriptions[sub["id"]].quantity == 4


def test_renewal_set_merges_with_what_is_scheduled_and_clear_removes_it(service, emulator, sub):
    first = service.set_next_term(US_CUSTOMER, sub["id"], quantity=3, key="r1")
    assert first.status == "done" and first.after.scheduled_next_term_instructions.quantity == 3
    assert service.set_next_term(US_CUSTOMER, sub["id"], quantity=3, key="r1").replayed
    second = service.set_next_term(US_CUSTOMER, sub["id"], item="CFQ7TTC0LCHC:0002", billing_cycle="annual")
    n = second.after.scheduled_next_term_instructions
    assert (n.product.catalog_item_id, n.quantity, n.product.term_duration, n.product.billing_cycle) == (
        STANDARD, 3, "P1Y", "annual")
    same = service.set_next_term(US_CUSTOMER, sub["id"], quantity=3)
    assert same.note == "already in the requested state"
    service.clear_next_term(US_CUSTOMER, sub["id"], key="c1")
    assert emulator.backend.subscriptions[sub["id"]].next_term is None
    assert service.ledger.by_key("c1").kind == "renewal_clear"


def test_renewal_guards_refuse_before_any_write(service, emulator, sub):
    with pytest.raises(PolicyError) as bounds:
        service.set_next_term(US_CUSTOMER, sub["id"], quantity=301)
    assert bounds.value.reason == "quantity_out_of_bounds"
    with pytest.raises(PolicyError, match="neither"):
        service.set_next_term(US_CUSTOMER, sub["id"], item="CFQ7TTC0LFLZ:0002")
    emulator.backend.update_subscription(US_CUSTOMER, sub["id"], auto_renew=False)
    with pytest.raises(PolicyError) as off:
        service.set_next_term(US_CUSTOMER, sub["id"], quantity=2)
    assert off.value.reason == "auto_renew_off"
    assert emulator.backend.subscriptions[sub["id"]].next_term is None


def test_upgrade_at_renewal_schedules_the_target(service, emulator, sub):
    plan = service.plan(US_CUSTOMER, sub["id"], to="CFQ7TTC0LCHC:0002", when="renewal")
    outcome = service.upgrade(plan, key="ur")
    assert outcome.renewal is not None and outcome.transition is None
    assert emulator.backend.subscriptions[sub["id"]].next_term["sku_id"] == "0002"
    assert service.ledger.by_key("ur").kind == "renewal_set"
