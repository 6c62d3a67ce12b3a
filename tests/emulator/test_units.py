"""The emulator's pure parts: the clock's event order, durations, proration and rounding, policy presets, the
state file round trip, and the seed catalog's documented shape."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from cspkit.emulator import Backend, Clock
from cspkit.emulator._util import add_duration, fmt_dec, rounddown2
from cspkit.emulator.billing import cycle_end, line_money, prorated_span
from cspkit.emulator.models import Charge
from cspkit.emulator.policy import policy_from
from cspkit.emulator.state import decode, encode

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def test_clock_fires_due_events_in_order_and_never_goes_back():
    clock = Clock(T0)
    fired = []
    clock.bind(lambda e: fired.append((e.kind, clock.now())))
    clock.schedule(T0 + timedelta(days=2), "b")
    clock.schedule(T0 + timedelta(hours=1), "a")
    clock.schedule(T0 + timedelta(days=40), "later")
    # an event that schedules another inside the same advance is fired too, in order
    clock.bind(lambda e: (fired.append((e.kind, clock.now())),
                          e.kind == "a" and clock.schedule(clock.now() + timedelta(hours=1), "a2")))
    clock.advance(days=3)
    assert fired == [("a", T0 + timedelta(hours=1)), ("a2", T0 + timedelta(hours=2)), ("b", T0 + timedelta(days=2))]
    assert clock.now() == T0 + timedelta(days=3)
    with pytest.raises(ValueError):
        clock.set(T0)
    assert [e.kind for e in clock.pending] == ["later"]


def test_durations_and_calendar_months():
    assert add_duration(datetime(2027, 1, 31, tzinfo=UTC), "P1M") == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_duration(T0, "P1Y") == datetime(2027, 11, 2, 9, tzinfo=UTC)
    assert add_duration(T0, "PT36H") == T0 + timedelta(hours=36)
    assert add_duration(T0, "P1DT2H") == T0 + timedelta(days=1, hours=2)
    with pytest.raises(ValueError):
        add_duration(T0, "P")
    # bought Jan 31, monthly: charge cycle ends Feb 27 (billing-formats.md §2.4)
    end = cycle_end(datetime(2027, 1, 31, tzinfo=UTC), "monthly", "P1M")
    assert end.date() - timedelta(days=1) == date(2027, 2, 27)


def _charge(**kw) -> Charge:
    base = dict(id="x", charge_type="addQuantity", at=T0, sign=1, quantity=12, unit_price=D("10.08"),
                currency="USD", charge_start=date(2026, 11, 3), charge_end=date(2026, 11, 30), cycle_days=30,
                billing_days=28, full_refund=False, reference_id="r", subscription_id="s",
                subscription_start=date(2026, 11, 1), subscription_end=date(2027, 10, 31), order_id="o",
                customer_id="c", customer_name="n", customer_domain="d", customer_country="US", product_id="p",
                sku_id="0001", availability_id="a", product_name="p", sku_name="s", publisher_name="Microsoft",
                publisher_id="", subscription_description="s", term_and_billing_cycle="t", billing_frequency="Monthly")
    return Charge(**{**base, **kw})


def test_documented_proration_and_rounding():
    money = line_money(_charge())  # 10.08 / 30 × 28 = 9.408 (the docs' example)
    assert money.effective_unit_price == D("9.408")
    assert money.subtotal == D("9.40") * 12  # ROUNDDOWN(EUP, 2) × BillableQuantity
    refund = line_money(_charge(sign=-1))
    assert refund.effective_unit_price == D("-9.408") and refund.subtotal == D("-9.40") * 12
    full = line_money(_charge(billing_days=30))
    assert full.effective_unit_price == D("10.08") and full.total == D("120.96")
    assert line_money(_charge(sign=-1, full_refund=True)).effective_unit_price == D("-10.08")
    assert rounddown2(D("-1.239")) == D("-1.23") and fmt_dec(D("100.80")) == "100.8" and fmt_dec(D("0.00")) == "0"
    span = prorated_span(datetime(2026, 11, 12, 15, tzinfo=UTC), T0, datetime(2026, 12, 2, 9, tzinfo=UTC), "monthly")
    assert span == (date(2026, 11, 12), date(2026, 12, 1), 30, 20)


def test_policy_presets_and_overrides():
    current, legacy = policy_from("current"), policy_from("legacy-2023")
    assert current.seats.window == timedelta(hours=168) and current.seats.full == timedelta(hours=24)
    assert current.refund_rule(saas=True, term_duration="P1Y").window == timedelta(hours=72)
    assert legacy.refund_rule(saas=True, term_duration="P1M").window == timedelta(hours=24)
    assert legacy.refund_rule(saas=True, term_duration="P1Y").window == timedelta(days=14)
    custom = policy_from("current", order_list_delay=0, saas_activation_days=3)
    assert custom.order_list_delay == timedelta(0) and custom.saas_activation_days == 3
    with pytest.raises(ValueError):
        policy_from("2019")


def test_state_round_trip_keeps_everything():
    backend = Backend()
    customer = next(iter(backend.customers))
    from cspkit.emulator.models import CartLine

    cart = backend.create_cart(customer, lines=[CartLine(id=None, catalog_item_id="CFQ7TTC0LH18:0001:CFQ7TTC0K59J",
                                                         quantity=3, billing_cycle="monthly", term_duration="P1M")])
    backend.checkout_cart(customer, cart.id)
    backend.clock.advance(days=2)
    doc = json.loads(json.dumps(encode(backend.export_state())))
    other = Backend()
    other.import_state(decode(doc))
    assert other.now() == backend.now()
    assert other.subscriptions == backend.subscriptions and other.charges == backend.charges
    assert [(e.due, e.kind) for e in other.clock.pending] == [(e.due, e.kind) for e in backend.clock.pending]
    assert other.ids.guid() == backend.ids.guid()  # the id generator continues where it stopped


def test_seed_catalog_has_the_documented_shape():
    catalog = json.loads((SAMPLE / "catalog.json").read_text())
    assert {m["currency"] for m in catalog["markets"]} == {"USD", "EUR"}
    kinds = {(p["productType"]["id"], (p["productType"].get("subType") or {}).get("id")) for p in catalog["products"]}
    assert kinds == {("OnlineServicesNCE", None), ("Azure", "SaaS"), ("Azure", None)}  # ("Azure", None): the Azure plan
    trials = addons = 0
    for product in catalog["products"]:
        assert isinstance(product["id"], str)
        for sku in product["skus"]:
            assert isinstance(sku["id"], str) and len(sku["id"]) == 4
            trials += sku["isTrial"]
            addons += sku["isAddon"]
            for term in sku["terms"]:
                assert term["duration"] in ("P1M", "P1Y") and term["billingCycle"] in ("monthly", "annual", "none")
                for currency in ("USD", "EUR"):
                    price = term["prices"][currency]
                    assert isinstance(price["unitPrice"], str) and isinstance(price["erpPrice"], str)
                    assert D(price["unitPrice"]) <= D(price["erpPrice"])
                if sku["isTrial"]:
                    assert D(term["prices"]["USD"]["unitPrice"]) == 0
            by = {(t["duration"], t["billingCycle"]): D(t["prices"]["USD"]["unitPrice"]) for t in sku["terms"]}
            if ("P1Y", "annual") in by and not product["productType"]["id"] == "Azure":
                # term prices (Microsoft's rule): P1Y monthly = 1.05 × P1Y annual, P1M = 1.2 × P1Y annual ÷ 12
                assert by[("P1Y", "monthly")] == D("1.05") * by[("P1Y", "annual")]
                assert by[("P1M", "monthly")] == D("1.2") * by[("P1Y", "annual")] / 12
    assert trials == 1 and addons >= 1
    assert (SAMPLE / "customers.json").exists()
