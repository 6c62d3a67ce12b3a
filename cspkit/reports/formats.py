"""Number formats by kind for the workbooks: money, unit prices, seats, exchange rates, percentages and counts.

A column's kind comes from its name (:func:`column_kind`); the Variances sheet's ``Expected``/``Actual``/``Difference``
take theirs from the finding's category (:data:`VARIANCE_VALUE_KINDS`), because one column holds a unit price on a
``unit_price_mismatch`` row, a seat count on a ``seat_mismatch`` row and an exchange rate on a ``currency_mismatch``
row. Money and unit prices carry their currency in the format (``#,##0.00 "USD"``) when the row's currency is known.

Sources: /work/shared/reference/billing-formats.md §1.1 (``UnitPrice``/``EffectiveUnitPrice`` per billing period with
up to 6 places, ``BillableQuantity`` "seats or usage units", ``PCToBCExchangeRate`` e.g. ``0.846202666``), §1.2 #50
(``PartnerEarnedCreditPercentage`` ``15`` = 15 %, percentage points), §2.4 (money rounded to the cent), §4.3–4.4
(the price and seat checks whose values the Variances sheet shows).
"""

from __future__ import annotations

__all__ = [
    "COUNT_COLUMNS",
    "KINDS",
    "MONEY_COLUMNS",
    "NUMBER_FORMATS",
    "PRICE_COLUMNS",
    "RATE_COLUMNS",
    "SEAT_COLUMNS",
    "VARIANCE_VALUE_COLUMNS",
    "VARIANCE_VALUE_KINDS",
    "column_kind",
    "number_format",
]

KINDS = ("money", "price", "seats", "rate", "percent", "count")
"""The number kinds a workbook cell can have (anything else is written in Excel's General format)."""

MONEY_COLUMNS = frozenset(
    {"Subtotal", "TaxTotal", "Total", "Charges", "Refunds", "InvoiceTotal", "Difference", "Amount",
     "BillingPreTaxTotal", "PricingPreTaxTotal", "GrandTotal"}
)  # fmt: skip
"""Amounts in a currency, to the cent (§2.4)."""
PRICE_COLUMNS = frozenset({"UnitPrice", "EffectiveUnitPrice", "Expected", "Actual"})
"""Unit prices per billing period: at least 2 and up to 6 places (§1.1 #17, #33)."""
RATE_COLUMNS = frozenset({"PCToBCExchangeRate"})
"""Exchange rates pricing → billing currency: a ratio, no currency, up to 9 places (§1.1 #37)."""
SEAT_COLUMNS = frozenset({"BilledSeats", "SubscriptionQuantity"})
"""Seat counts: whole numbers (§4.4)."""
COUNT_COLUMNS = frozenset({"Lines", "Count", "Subscriptions", "Variances", "SourceRow", "Customers", "Errors",
                           "Warnings", "InvoicesNotTying"})  # fmt: skip
"""Counts of rows, findings or things: whole numbers."""

NUMBER_FORMATS: dict[str, str] = {
    "money": "#,##0.00;[Red]-#,##0.00",
    "price": "#,##0.00####;[Red]-#,##0.00####",
    "seats": "#,##0;[Red]-#,##0",
    "rate": "0.0000#####",
    "percent": '0.00"%";[Red]-0.00"%"',  # percentage points (15 = 15 %): a literal sign, not Excel's ×100
    "count": "#,##0",
}
"""The Excel number format of each kind without a currency."""

VARIANCE_VALUE_COLUMNS = ("Expected", "Actual", "Difference")
"""The Variances columns whose kind depends on the finding's category."""

VARIANCE_VALUE_KINDS: dict[str, str] = {
    "unit_price_mismatch": "price",  # §4.3: UnitPrice against the term price ÷ billing periods
    "proration_mismatch": "price",  # §2.4: EffectiveUnitPrice against UnitPrice / cycle days × billed days
    "amount_mismatch": "money",  # §2.4: Subtotal/Total against the formula
    "seat_mismatch": "seats",  # §4.4: billed seats against the subscription's quantity
    "currency_mismatch": "rate",  # §1.1 #37: PCToBCExchangeRate against 1 or the pair's usual rate
    "charge_after_cancellation": "money",
    "missing_charge": "money",
    "duplicate_charge": "money",
    "refund_without_charge": "money",
    "price_not_found": "price",
    "unknown_subscription": "money",
}
"""The kind of ``Expected``/``Actual``/``Difference`` on a Variances row, by category (see
:data:`cspkit.billing.recon_shared.CATEGORIES`); ``Amount`` is always money. An unknown category falls back to
``price`` (two to six places), which misstates neither a seat count nor an amount."""


def column_kind(name: str) -> str | None:
    """The number kind of a column by its name (one of :data:`KINDS`), or None for Excel's General format.

    Percentages are the columns named ``…Percent`` or ``…Percentage`` (percentage points, §1.2 #50)."""
    if name in MONEY_COLUMNS:
        return "money"
    if name in PRICE_COLUMNS:
        return "price"
    if name in RATE_COLUMNS:
        return "rate"
    if name in SEAT_COLUMNS:
        return "seats"
    if name in COUNT_COLUMNS:
        return "count"
    if name.endswith(("Percent", "Percentage")):
        return "percent"
    return None


def number_format(kind: str, currency: str | None = None) -> str:
    """The Excel number format for ``kind``; money and prices end in the ``currency`` code when given
    (``#,##0.00 "EUR";[Red]-#,##0.00 "EUR"``). Only letters and digits of the code are kept (3 at most).

    Raises:
        KeyError: ``kind`` is not one of :data:`KINDS`.
    """
    fmt = NUMBER_FORMATS[kind]
    safe = "".join(ch for ch in currency or "" if ch.isalnum())[:3]
    if not safe or kind not in ("money", "price"):
        return fmt
    return ";".join(f'{part} "{safe}"' for part in fmt.split(";"))
