"""Billing arithmetic: billing cycles, proration and the money of a reconciliation line. Pure functions.

Rules (billing-formats.md §2.4, documented there as NCE's):

- A monthly charge cycle starting on day *d* runs to day *d − 1* of the next month (``ChargeEndDate`` inclusive);
  an annual one to the day before the anniversary.
- ``UnitPrice`` is the price of one billing period: the catalog's term price ÷ the billing periods of the term
  (P1Y monthly 12, P1Y annual 1, P1M 1; :mod:`cspkit.billing.pricing`, :meth:`cspkit.emulator.catalog.Term.unit_price`),
  as Microsoft's invoice reconciliation samples show it (unitPrice 16 a month for a P1Y monthly Power BI PPU).
- ``chargeCycleDays`` = days in the month the cycle started (28–31), or 365/366 for annual cycles.
- ``EffectiveUnitPrice = UnitPrice / chargeCycleDays × billingDays`` (billingDays = days from the event to the
  end of the cycle, inclusive); a full cycle (or a full refund) is charged at ``UnitPrice``. Negative on refunds.
- Seats: ``Subtotal = ROUNDDOWN(EffectiveUnitPrice × PCToBCExchangeRate, 2) × BillableQuantity``; the emulator
  prices in the billing currency, so the exchange rate is 1. ``TaxTotal = Subtotal × the customer's country's tax
  rate`` (rounded half-up to the cent; the rate is :attr:`cspkit.emulator.policy.Policy.tax_rates`' entry when the
  charge was made, 0 by default, e.g. for the US), ``Total = Subtotal + TaxTotal`` (billing-formats.md §2.4, §4).

The emulator's arithmetic is approximate by design (emulator-notes.md §2.4): a full-refund cancellation refunds the
whole current cycle at the current seat count, whatever seat changes happened inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from cspkit.emulator._util import add_duration, add_months, days_in_month, rounddown2
from cspkit.emulator.models import Charge

__all__ = ["LineMoney", "cycle_end", "cycle_span", "line_money", "prorated_span"]

_EUP_PLACES = Decimal("0.000001")
_CENT = Decimal("0.01")


def cycle_end(start: datetime, billing_cycle: str, term_duration: str) -> datetime:
    """End (exclusive instant) of the billing cycle starting at ``start``."""
    cycle = billing_cycle.lower()
    if cycle == "monthly":
        return add_months(start, 1)
    if cycle == "annual":
        return add_months(start, 12)
    if cycle == "triennial":
        return add_months(start, 36)
    return add_duration(start, term_duration)  # one_time / none (trials): the whole term is one cycle


def cycle_days(start: date, billing_cycle: str, end_exclusive: date) -> int:
    """``chargeCycleDays``: days in the start month for monthly cycles, else the cycle's length in days."""
    if billing_cycle.lower() == "monthly":
        return days_in_month(start.year, start.month)
    return (end_exclusive - start).days


def cycle_span(start: datetime, end_exclusive: datetime, billing_cycle: str) -> tuple[date, date, int, int]:
    """A whole cycle: (chargeStart, chargeEnd inclusive, chargeCycleDays, billingDays)."""
    first, stop = start.date(), end_exclusive.date()
    if stop <= first:
        stop = first + timedelta(days=1)
    days = cycle_days(first, billing_cycle, stop)
    return first, stop - timedelta(days=1), days, days


def prorated_span(
    event: datetime, cycle_start: datetime, cycle_end_exclusive: datetime, billing_cycle: str
) -> tuple[date, date, int, int]:
    """The rest of a cycle from ``event``: (chargeStart, chargeEnd inclusive, chargeCycleDays, billingDays)."""
    first, _, days, _ = cycle_span(cycle_start, cycle_end_exclusive, billing_cycle)
    charge_start = max(event.date(), first)
    charge_end = max(cycle_end_exclusive.date() - timedelta(days=1), charge_start)
    return charge_start, charge_end, days, (charge_end - charge_start).days + 1


@dataclass(frozen=True)
class LineMoney:
    effective_unit_price: Decimal
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal


def line_money(charge: Charge, exchange_rate: Decimal = Decimal(1)) -> LineMoney:
    """The money of one reconciliation line (seat formula of billing-formats.md §2.4), tax by ``charge.tax_rate``.

    E.g. 12 seats × 6.30 at a 0.2 tax rate → subtotal 75.60, tax 15.12, total 90.72 (amounts in the charge's currency).
    """
    unit = charge.unit_price * (1 - charge.discount) if charge.discount else charge.unit_price  # a promotion
    if charge.full_refund or charge.billing_days >= charge.cycle_days:
        eup = unit.quantize(_EUP_PLACES, ROUND_HALF_UP) if charge.discount else unit
    else:
        eup = (unit / charge.cycle_days * charge.billing_days).quantize(_EUP_PLACES, ROUND_HALF_UP)
    eup = eup * charge.sign
    subtotal = rounddown2(eup * exchange_rate) * charge.quantity
    tax = (subtotal * charge.tax_rate).quantize(_CENT, ROUND_HALF_UP)
    return LineMoney(eup, subtotal, tax, subtotal + tax)
