"""What a promotion and a co-termed end date change in an order plan (:class:`~cspkit.workflows.ordering.plan.
OrderPlan`): the promotional price, the aligned end date and the prorated first charge.

Rules and their sources:

- A promotion's ``PercentDiscount`` ``value`` is a fraction of the price ("Get promotions" example ``"value":
  "0.05"``; "Promotion resources": pricing policies "define the promotion discount types and values"). The invoice
  keeps the list price in ``UnitPrice`` and bills the discounted one in ``EffectiveUnitPrice`` (billing-formats.md
  §1.1; Microsoft's documented reconciliation sample: unitPrice 16, effectiveUnitPrice 14.4 with a promotionId). The
  plan checks eligibility first ("Verify promotion eligibility": "verify eligibility before submitting a transaction
  to ensure the promotion will be applied") and refuses an ineligible promotion with its reasons.
- Co-terming: the allowed end dates come from "Get custom term end dates" (``calendarMonthAligned`` or
  ``subscriptionAligned`` with ``cotermSubscriptionIds``); the cart line sends the chosen one as
  ``customTermEndDate``. The first term is shortened to end there, charge cycles are counted back from the aligned
  end, and the first charge is prorated with billing-formats.md §2.4 (Microsoft Learn "billing and proration" for
  new commerce): ``EffectiveUnitPrice = UnitPrice / chargeCycleDays × billingDays``, chargeCycleDays the days of the
  month the charge cycle starts in (monthly) or of the cycle (annual, triennial), billingDays from the purchase to
  the cycle's end inclusive; seats: ``Subtotal = ROUNDDOWN(EffectiveUnitPrice, 2) × quantity``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from cspkit.errors import PolicyError

__all__ = ["FirstCharge", "choose_term_end", "first_charge", "promotion_refusal"]

_CYCLE_MONTHS = {"monthly": 1, "annual": 12, "triennial": 36}
_EUP = Decimal("0.000001")
_CENT = Decimal("0.01")


def _add_months(d: date, months: int) -> date:
    total = d.month - 1 + months
    year, month = d.year + total // 12, total % 12 + 1
    return d.replace(year=year, month=month, day=min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class FirstCharge:
    """The prorated first charge of a co-termed subscription.

    Attributes:
        charge_start / charge_end: the days billed, both inclusive (the charge line's ChargeStart/EndDate).
        cycle_days: chargeCycleDays of the cycle the purchase falls in; billing_days: days billed.
        effective_unit_price: one seat for those days (Decimal, 6 places, in the plan's currency), after a
            promotion's discount; subtotal: ``ROUNDDOWN(effective_unit_price, 2) × quantity``.
    """

    charge_start: date
    charge_end: date
    cycle_days: int
    billing_days: int
    effective_unit_price: Decimal
    subtotal: Decimal

    @property
    def prorated(self) -> bool:
        return self.billing_days < self.cycle_days


def first_charge(*, purchase: date, last_day: date, billing_cycle: str, period_price: Decimal, quantity: int,
                 percent_off: Decimal | None = None) -> FirstCharge:
    """The first charge of a term bought on ``purchase`` that ends on ``last_day`` (the customTermEndDate).

    Args:
        billing_cycle: ``monthly``, ``annual`` or ``triennial``.
        period_price: one seat for one billing period (the invoice's UnitPrice), Decimal.
        percent_off: a promotion's fraction (0.20 = 20% off) or None.
    Raises:
        ValueError: a billing cycle without charge cycles (``none``, ``one_time``) or an end before the purchase.
    E.g. bought 12 Nov 2026, monthly, ending 1 Dec 2026, 26.40 a month, 3 seats: cycle 2 Nov–1 Dec (30 days),
    20 days billed, 17.60 a seat, 52.80.
    """
    step = _CYCLE_MONTHS.get(billing_cycle.lower())
    if step is None:
        raise ValueError(f"billing cycle {billing_cycle!r} has no charge cycles to align")
    end = last_day + timedelta(days=1)
    if end <= purchase:
        raise ValueError(f"term end {last_day} is before the purchase on {purchase}")
    k = 0
    while _add_months(end, -(k + 1) * step) > purchase:
        k += 1
    boundary = _add_months(end, -k * step)
    cycle_start = _add_months(boundary, -step)
    cycle_days = (calendar.monthrange(cycle_start.year, cycle_start.month)[1] if step == 1
                  else (boundary - cycle_start).days)
    billing_days = (boundary - purchase).days
    unit = period_price * (1 - percent_off) if percent_off else period_price
    if billing_days >= cycle_days:
        eup = unit.quantize(_EUP, ROUND_HALF_UP)
    else:
        eup = (unit / cycle_days * billing_days).quantize(_EUP, ROUND_HALF_UP)
    subtotal = eup.quantize(_CENT, ROUND_DOWN) * quantity
    return FirstCharge(purchase, boundary - timedelta(days=1), cycle_days, billing_days, eup, subtotal)


def choose_term_end(allowed: list[Any], *, coterm_with: str | None = None, term_end: date | None = None,
                    term_duration: str) -> Any:
    """The allowed end date (:class:`~cspkit.models.promotion.CustomTermEndDate`) to send: the one aligned with
    subscription ``coterm_with``, or the one on ``term_end``.

    Raises:
        PolicyError: Partner Center does not offer that end date for a new ``term_duration`` subscription (the
        message lists what it offers).
    """
    offered = ", ".join(f"{a.end_date.date()} ({a.kind}"
                        + (f": {' '.join(a.coterm_subscription_ids)}" if a.coterm_subscription_ids else "") + ")"
                        for a in allowed if a.end_date) or "none"
    if coterm_with:
        for a in allowed:
            if a.end_date and any(s.lower() == coterm_with.lower() for s in a.coterm_subscription_ids):
                return a
        raise PolicyError(f"subscription {coterm_with} offers no end date to co-term a new {term_duration} "
                          f"subscription with (allowed end dates: {offered})", reason="coterm_not_allowed",
                          hint="It must be an active licence-based subscription of the customer ending within the "
                               "new term; pick one of the allowed dates with --term-end.")
    for a in allowed:
        if a.end_date and a.end_date.date() == term_end:
            return a
    raise PolicyError(f"{term_end} is not an allowed end date for a new {term_duration} subscription "
                      f"(allowed end dates: {offered})", reason="term_end_not_allowed",
                      hint="Pick one of the allowed dates with --term-end.")


def promotion_refusal(promotion_id: str, eligibility: Any) -> PolicyError:
    """The refusal of an ineligible promotion, naming every reason Partner Center gave."""
    reasons = "; ".join(e.text() for e in (eligibility.errors if eligibility else [])) or "no eligibility returned"
    return PolicyError(f"promotion {promotion_id} does not apply to this purchase: {reasons}",
                       reason="promotion_not_eligible",
                       hint="`cspkit catalog promotions --country CC` lists the promotions in force and the terms "
                            "they apply to; order without --promotion to buy at the list price.")
