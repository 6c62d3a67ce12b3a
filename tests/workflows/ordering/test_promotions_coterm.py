"""Order plans with a promotion and a co-termed end date (cspkit.workflows.ordering.extras), against the emulator;
the first-charge rule on billing-formats.md §2.4's worked example."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cspkit.billing.pricelist import read_price_list
from cspkit.errors import PolicyError
from cspkit.ledger import Ledger
from cspkit.workflows.ordering import Ordering
from cspkit.workflows.ordering.extras import first_charge

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001"
PREMIUM = "CFQ7TTC0LDPB:0001"
PROMO = "39NFJQT1Q5KP:0001:39NFJQT1Q5KQ"
PRICE_LIST = Path(__file__).resolve().parents[3] / "sample_data" / "pricelist_nce_US_202611.csv"


@pytest.fixture
def service(emulator_client, emulator, tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="emulator")
    yield Ordering(emulator_client(), ledger, clock=emulator.clock.now, sleep=lambda s: None,
                   price_list=read_price_list(PRICE_LIST))
    ledger.close()


def test_first_charge_follows_the_documented_proration_example():
    # billing-formats.md §2.4: 10.08 / 30 × 28 = 9.408 (a 30-day cycle, 28 days billed); seats: ROUNDDOWN(9.408, 2)
    charge = first_charge(purchase=date(2021, 6, 3), last_day=date(2021, 6, 30), billing_cycle="monthly",
                          period_price=Decimal("10.08"), quantity=10)
    assert (charge.cycle_days, charge.billing_days) == (30, 28) and charge.prorated
    assert charge.effective_unit_price == Decimal("9.408") and charge.subtotal == Decimal("94.00")
    assert (charge.charge_start, charge.charge_end) == (date(2021, 6, 3), date(2021, 6, 30))
    full = first_charge(purchase=date(2021, 6, 1), last_day=date(2021, 6, 30), billing_cycle="monthly",
                        period_price=Decimal("10.08"), quantity=1, percent_off=Decimal("0.10"))
    assert not full.prorated and full.effective_unit_price == Decimal("9.072")  # a full period, 10% off
    with pytest.raises(ValueError, match="no charge cycles"):
        first_charge(purchase=date(2021, 6, 1), last_day=date(2021, 6, 30), billing_cycle="none",
                     period_price=Decimal(1), quantity=1)


def test_a_promoted_plan_is_checked_priced_and_journaled(service, emulator):
    plan = service.plan(CONTOSO, item=BASIC, quantity=10, term_duration="P1Y", billing_cycle="monthly",
                        promotion_id=PROMO)
    assert plan.percent_off == Decimal("0.20") and plan.promotional_period_price == Decimal("5.04")
    assert plan.period_price == Decimal("6.30")  # the list price stays the invoice's UnitPrice
    assert "20% off" in plan.describe()["promotion"] and "term_end" not in plan.describe()
    assert plan.line().promotion_id == PROMO and plan.to_request()["promotionId"] == PROMO
    outcome = service.place_order(plan)
    [sub_id] = outcome.subscription_ids
    assert emulator.backend.subscriptions[sub_id].promotion_id == PROMO
    rebuilt = service._plan_from_entry(service.ledger.get(outcome.entry_id))  # what a resume would order
    assert rebuilt.line().promotion_id == PROMO
    with pytest.raises(PolicyError, match="RedemptionLimit"):  # one per customer
        service.plan(CONTOSO, item=BASIC, quantity=1, term_duration="P1Y", billing_cycle="monthly",
                     promotion_id=PROMO)
    plain = service.plan(CONTOSO, item=BASIC, quantity=1, term_duration="P1M", billing_cycle="monthly")
    assert "promotion" not in plain.describe() and "first_charge" not in plain.describe()


def test_a_co_termed_plan_shows_the_end_and_the_prorated_first_charge(service, emulator):
    target = service.place_order(service.plan(CONTOSO, item=BASIC, quantity=5, term_duration="P1M",
                                              billing_cycle="monthly")).subscription_ids[0]
    emulator.clock.advance("P10D")
    plan = service.plan(CONTOSO, item=PREMIUM, quantity=3, term_duration="P1M", billing_cycle="monthly",
                        coterm_with=target)
    assert plan.term_end == date(2026, 12, 1) and plan.term_end_kind == "subscriptionAligned"
    assert plan.first_charge.subtotal == Decimal("52.80") and plan.first_charge.billing_days == 20
    assert plan.line().custom_term_end_date.isoformat() == "2026-12-01T00:00:00+00:00"
    [sub_id] = service.place_order(plan).subscription_ids
    billed = [c for c in emulator.backend.charges if c.subscription_id == sub_id]
    assert [(c.billing_days, c.cycle_days) for c in billed] == [(20, 30)]  # what the plan said
    monthly = service.plan(CONTOSO, item=BASIC, quantity=2, term_duration="P1Y", billing_cycle="monthly",
                           term_end=date(2027, 10, 31))
    assert monthly.term_end_kind == "calendarMonthAligned" and monthly.first_charge.subtotal == Decimal("7.98")
    with pytest.raises(PolicyError, match="not an allowed end date"):
        service.plan(CONTOSO, item=BASIC, quantity=2, term_duration="P1M", billing_cycle="monthly",
                     term_end=date(2026, 12, 15))
    with pytest.raises(ValueError, match="not both"):
        service.plan(CONTOSO, item=BASIC, quantity=2, term_duration="P1M", billing_cycle="monthly",
                     term_end=date(2026, 11, 30), coterm_with=target)
