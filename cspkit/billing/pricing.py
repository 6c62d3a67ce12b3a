"""Microsoft's price semantics for new-commerce license-based offers: term price, billing periods, period price.

The one definition of the rule every price figure in cspkit follows (price-list analysis, the order plan, the
reconciliation's unit-price check, the emulator's price sheet and billing). Standard library only, so that the
emulator, the billing library and the workflows can all import it.

The rule
    A price list's ``UnitPrice`` is the price of **one seat for the whole term**, for every billing plan. A term is
    billed in equal billing periods; each period is charged ``term price ÷ billing periods``:

    ============  ===========  ================
    TermDuration  BillingPlan  billing periods
    ============  ===========  ================
    P1M           Monthly      1
    P1Y           Monthly      12
    P1Y           Annual       1
    P3Y           Monthly      36
    P3Y           Annual       3
    P3Y           Triennial    1
    any           None         1 (trials, one-time purchases)
    ============  ===========  ================

    The same table follows from ``months in the term ÷ months in the billing period`` (Monthly 1, Annual 12,
    Triennial 36), which also covers the rarer terms (P2Y, P6Y, P36M). The monthly equivalent, used to compare
    terms and plans, is ``term price ÷ months in the term``.

Sources
    * Microsoft Learn, "New commerce license-based pricing and offers" (``partner-center/pricing-and-offers``, ms.date
      2023-10-18, billing-formats.md [doc S5]): the price-list UnitPrice is for the term being purchased; a monthly
      billing plan bills one-twelfth of the annual-term price each month.
    * The real November 2025 US price list (``../shared/realdata/nce-pricelist-US-2025-11.csv``): across the 1,247
      SKUs carrying both, P1Y/Monthly = 1.05 × P1Y/Annual and 12 × P1M = 1.2 × P1Y/Annual; e.g. CFQ7TTC0LH18/0001
      (Microsoft 365 Business Basic): P1Y Annual 57.60, P1Y Monthly 60.48 (= 5.04 a month), P1M 5.76.
    * Microsoft's invoice reconciliation samples ("Get invoice line items", "Get unbilled reconciliation line
      items": Power BI Premium Per User and Office 365 E3, P1Y billed monthly) carry ``unitPrice`` per billing
      period (16 a month), i.e. the term price ÷ 12.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "CENT",
    "PLAN_MONTHS",
    "billing_periods",
    "billing_plan",
    "divided_term_price",
    "monthly_equivalent",
    "months_in",
    "period_price",
    "period_price_matches",
    "term_price",
]

CENT = Decimal("0.01")
#: Months in one billing period of each billing plan (``None``: the whole term, billed once).
PLAN_MONTHS: dict[str, int] = {"Monthly": 1, "Annual": 12, "Triennial": 36}

_PLAN_NAMES = {
    "monthly": "Monthly",
    "month": "Monthly",
    "annual": "Annual",
    "yearly": "Annual",
    "annually": "Annual",
    "triennial": "Triennial",
    "none": "None",
    "": "None",
    "onetime": "None",
}
_TERM = re.compile(r"P(\d+)([MY])")


def billing_plan(value: str | None) -> str | None:
    """A billing plan or billing cycle in any spelling → ``Monthly`` | ``Annual`` | ``Triennial`` | ``None``.

    Accepts the price list's ``BillingPlan`` (``Monthly``), Partner Center's ``billingCycle`` (``monthly``,
    ``annual``, ``triennial``, ``none``, ``one_time``) and the reconciliation file's ``BillingFrequency``
    (``Monthly``, ``OneTime``, blank). ``None`` or blank → ``"None"``; an unknown word → ``None`` (the caller names it).
    """
    if value is None:
        return "None"
    return _PLAN_NAMES.get(re.sub(r"[\s_\-]", "", str(value)).lower())


def months_in(term_duration: str) -> int:
    """Months in an ISO 8601 term: ``P1M`` → 1, ``P1Y`` → 12, ``P3Y`` → 36, ``P36M`` → 36.

    Raises:
        ValueError: not a month or year duration (the message quotes the value).
    """
    match = _TERM.fullmatch(str(term_duration).strip().upper())
    if not match:
        raise ValueError(f"expected a term duration such as P1M, P1Y or P3Y, got {term_duration!r}")
    count = int(match.group(1))
    return count * 12 if match.group(2) == "Y" else count


def billing_periods(term_duration: str, plan: str | None) -> int:
    """How many billing periods a term is billed in (the table in the module docstring).

    Args:
        term_duration: ISO 8601 term (``P1M``, ``P1Y``, ``P3Y``, ...).
        plan: billing plan / cycle / frequency in any spelling (see :func:`billing_plan`).

    Returns:
        P1M/Monthly 1, P1Y/Monthly 12, P1Y/Annual 1, P3Y/Monthly 36, P3Y/Annual 3, P3Y/Triennial 1, any/None 1.

    Raises:
        ValueError: unknown plan or term, or a billing period that does not divide the term (P1M billed annually).
    """
    name = billing_plan(plan)
    if name is None:
        raise ValueError(f"expected a billing plan Monthly, Annual, Triennial or None, got {plan!r}")
    months = months_in(term_duration)
    if name == "None":
        return 1
    period = PLAN_MONTHS[name]
    if period > months or months % period:
        raise ValueError(f"a {term_duration} term cannot be billed {name.lower()}")
    return months // period


def period_price(term_price: Decimal, term_duration: str, plan: str | None) -> Decimal:
    """The price of one billing period: ``term price ÷ billing periods`` (exact, not rounded).

    Args:
        term_price: the price list's ``UnitPrice`` (one seat, whole term), in the list's currency.
        term_duration, plan: as for :func:`billing_periods`.

    Returns:
        Decimal in the same currency; e.g. 60.48 for P1Y/Monthly → 5.04. Round with :data:`CENT` only for display.

    Raises:
        ValueError: as :func:`billing_periods`.
    """
    return divided_term_price(term_price, billing_periods(term_duration, plan))


def divided_term_price(term_price: Decimal, periods: int) -> Decimal:
    """:func:`period_price` when the billing periods (:func:`billing_periods`, ≥ 1) are already known: ``term price
    ÷ periods``, exact (callers that price many lines decide the periods once per term and plan)."""
    return Decimal(term_price) / periods


def term_price(period: Decimal, term_duration: str, plan: str | None) -> Decimal:
    """The inverse of :func:`period_price`: one billing period's price × the billing periods in the term."""
    return Decimal(period) * billing_periods(term_duration, plan)


def monthly_equivalent(term_price: Decimal, term_duration: str) -> Decimal:
    """The term price spread over the months of the term (``term price ÷ months``), for comparing terms and plans.

    Exact, not rounded: P1Y/Annual 57.60 → 4.80; P1Y/Monthly 60.48 → 5.04; P1M 5.76 → 5.76.

    Raises:
        ValueError: not a month or year term.
    """
    return Decimal(term_price) / months_in(term_duration)


def period_price_matches(invoiced: Decimal, term_price: Decimal, term_duration: str, plan: str | None,
                         *, tolerance: Decimal = Decimal(0)) -> bool:
    """Whether an invoice line's ``UnitPrice`` (one billing period) agrees with a price list's term price.

    The line agrees when it equals the exact quotient or the quotient rounded half-up to the cent (Microsoft invoices
    in cents when the division does not end there, e.g. 3393.96 / 36), give or take ``tolerance``.

    Raises:
        ValueError: as :func:`billing_periods`.
    """
    exact = period_price(term_price, term_duration, plan)
    line = Decimal(invoiced)
    return min(abs(line - exact), abs(line - exact.quantize(CENT, rounding=ROUND_HALF_UP))) <= tolerance
