"""Price-list analysis: pure functions from price-list DataFrames to DataFrames (no I/O, no printing).

Every function takes frames shaped like :func:`cspkit.billing.pricelist.read_price_list`'s result. Money stays
:class:`~decimal.Decimal` (object columns) with its ``Currency`` column next to it; rounding to cents is
``ROUND_HALF_UP`` and only where a function says so.

Price semantics followed: Microsoft's rule, defined once in :mod:`cspkit.billing.pricing` (sources there: Microsoft
Learn "New commerce license-based pricing and offers", the real November 2025 US price list, the invoice
reconciliation samples). A price list's ``UnitPrice`` is the price of one seat for the **whole term**, for every
billing plan; the term is billed in ``billing_periods(term, plan)`` equal periods (P1M/Monthly 1, P1Y/Monthly 12,
P1Y/Annual 1, P3Y/Monthly 36, P3Y/Annual 3, P3Y/Triennial 1, trials 1). The figures every function here shows,
named for what they hold:

* ``TermPrice``: one seat for the whole term (the list's ``UnitPrice``);
* ``BillingPeriods``: how many times the term is billed;
* ``PeriodPrice``: one seat for one billing period (``TermPrice ÷ BillingPeriods``, half-up to the cent: what an
  invoice line's ``UnitPrice`` says);
* ``MonthlyEquivalent``: one seat per month of the term (``TermPrice ÷ months``, 4 places), for comparing terms and
  plans;
* with quantities, ``PeriodTotal`` (charged each billing period) and ``TermTotal`` (the whole term).

E.g. Microsoft 365 Business Basic (CFQ7TTC0LH18/0001, Commercial, US, November 2025): P1Y/Annual TermPrice 57.60
(MonthlyEquivalent 4.80); P1Y/Monthly TermPrice 60.48, PeriodPrice 5.04 (the 5 % premium of monthly billing);
P1M/Monthly 5.76 (12 × 5.76 = 69.12: 20 % over P1Y/Annual).

Free-trial rows (``IsFreeTrial``) are never prices: every function here leaves them out.
"""

from __future__ import annotations

from cspkit.billing.pricelist import price_in_force
from cspkit.billing.pricelist_diff import CHANGE_KINDS, DIFF_COLUMNS, diff_from_indicators, diff_price_lists
from cspkit.billing.pricelist_figures import FIGURE_COLUMNS, current_prices, price_figures
from cspkit.billing.pricelist_margins import PREVIEW_COLUMNS, MarkupRule, apply_margin, preview_cart_cost
from cspkit.billing.pricelist_plans import (
    PLAN_COMPARISON_COLUMNS,
    cheapest_terms,
    compare_billing_plans,
    publisher_summary,
)
from cspkit.billing.pricing import billing_periods, months_in

# Defined in pricelist_figures, pricelist_diff, pricelist_plans and pricelist_margins; importable from here.
__all__ = [
    "CHANGE_KINDS",
    "DIFF_COLUMNS",
    "FIGURE_COLUMNS",
    "MarkupRule",
    "PLAN_COMPARISON_COLUMNS",
    "PREVIEW_COLUMNS",
    "apply_margin",
    "billing_periods",
    "cheapest_terms",
    "compare_billing_plans",
    "current_prices",
    "diff_from_indicators",
    "diff_price_lists",
    "months_in",
    "preview_cart_cost",
    "price_figures",
    "price_in_force",
    "publisher_summary",
]
