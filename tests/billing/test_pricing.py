"""The price rule (cspkit.billing.pricing): term price, billing periods, period price, monthly equivalent."""

from decimal import Decimal

import pytest

from cspkit.billing import pricing


@pytest.mark.parametrize(
    ("term", "plan", "periods"),
    [("P1M", "Monthly", 1), ("P1Y", "Monthly", 12), ("P1Y", "Annual", 1), ("P3Y", "Monthly", 36),
     ("P3Y", "Annual", 3), ("P3Y", "Triennial", 1), ("P1M", "None", 1), ("P1Y", None, 1), ("P1Y", "one_time", 1),
     ("p1y", "MONTHLY", 12), ("P36M", "annual", 3)],
)
def test_billing_periods_follow_the_table(term, plan, periods):
    assert pricing.billing_periods(term, plan) == periods


@pytest.mark.parametrize(
    ("term", "plan"), [("P1M", "Annual"), ("P1Y", "Triennial"), ("P1Y", "weekly"), ("1Y", "Monthly")]
)
def test_impossible_or_unknown_combinations_are_refused(term, plan):
    with pytest.raises(ValueError, match=term if plan != "weekly" else "weekly"):
        pricing.billing_periods(term, plan)


def test_business_basic_figures_from_the_real_price_list():
    # CFQ7TTC0LH18/0001 in the November 2025 US list: P1Y Annual 57.60, P1Y Monthly 60.48, P1M 5.76 (term prices)
    assert pricing.period_price(Decimal("60.48"), "P1Y", "Monthly") == Decimal("5.04")
    assert pricing.period_price(Decimal("57.60"), "P1Y", "Annual") == Decimal("57.60")
    assert pricing.period_price(Decimal("5.76"), "P1M", "Monthly") == Decimal("5.76")
    assert pricing.monthly_equivalent(Decimal("57.60"), "P1Y") == Decimal("4.8")
    assert pricing.term_price(Decimal("5.04"), "P1Y", "monthly") == Decimal("60.48")


def test_invoice_unit_price_matches_exact_or_cent_rounded_quotient():
    assert pricing.period_price_matches(Decimal("5.04"), Decimal("60.48"), "P1Y", "Monthly")
    assert not pricing.period_price_matches(Decimal("6.04"), Decimal("60.48"), "P1Y", "Monthly")
    assert not pricing.period_price_matches(Decimal("60.48"), Decimal("60.48"), "P1Y", "Monthly")
    # 3393.96 / 36 = 94.2766..., invoiced in cents
    assert pricing.period_price_matches(Decimal("94.28"), Decimal("3393.96"), "P3Y", "Monthly")
    assert not pricing.period_price_matches(Decimal("94.27"), Decimal("3393.96"), "P3Y", "Monthly")
    cent = Decimal("0.01")
    assert pricing.period_price_matches(Decimal("94.27"), Decimal("3393.96"), "P3Y", "Monthly", tolerance=cent)
