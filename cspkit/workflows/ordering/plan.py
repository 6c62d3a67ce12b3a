"""Order plans and the outcomes of journaled writes: what will be bought, and what happened.

:class:`OrderPlan` is one cart line checked against the catalog and priced from the price list (Microsoft's
term-price rule, :mod:`cspkit.billing.pricing`); :class:`OrderOutcome` / :class:`ChangeOutcome` are what the
ordering service (:mod:`cspkit.workflows.ordering.service`) returns for a checkout or a subscription change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from cspkit.errors import APIConnectionError, RateLimitError, ServerError
from cspkit.models.cart import CartLineItem, OrderError
from cspkit.models.catalog import AvailabilityTerm
from cspkit.models.order import Order
from cspkit.models.subscription import Subscription
from cspkit.workflows.ordering.extras import FirstCharge

__all__ = ["AMBIGUOUS", "ChangeOutcome", "OrderOutcome", "OrderPlan", "describe_policy"]

AMBIGUOUS = (APIConnectionError, ServerError, RateLimitError)
"""Failures after which a write may or may not have happened."""


@dataclass
class OrderPlan:
    """What will be bought: one cart line, checked against the catalog, priced from the price list when known.

    Attributes:
        catalog_item_id: ``productId:skuId:availabilityId`` chosen for the term and billing cycle.
        cancellation_policy: the availability term's refund phases as text (``"full refund P1D, partial P7D"``),
            the cancellation deadline counted from the purchase; the exact deadline is read from the subscription
            after purchase.
        term_price / billing_periods / period_price / period_total / term_total: the price under Microsoft's rule
            (:mod:`cspkit.billing.pricing`; Microsoft Learn "New commerce license-based pricing and offers"), from
            the price list, Decimal in ``currency``, or None (no price list, or no price in force):
            ``term_price`` one seat for the whole term (the list's UnitPrice), ``billing_periods`` how many times
            the term is billed (P1Y monthly 12, P1Y annual 1, P3Y annual 3, ...), ``period_price`` one seat for one
            billing period (term price ÷ billing periods, to the cent: the invoice's UnitPrice), ``period_total``
            period price × quantity (each bill), ``term_total`` term price × quantity (the whole commitment).
            ``unit_price`` is ``period_price`` (what each invoice line will say per seat).
        price_note: why the price is unknown or partly so (the price sheet could not be fetched), or None.
        parent_subscription_id: for a new-commerce add-on, the customer's subscription it is bought onto — sent as
            the cart line's ``provisioningContext.parentSubscriptionId`` (new-commerce add-ons are bought like base
            offers, without ``addonItems``: "Create a cart with add-ons", learn.microsoft.com/partner-center/developer/
            create-a-cart-with-add-ons; ``provisioningContext`` is the cart line's string map, partner-center-api.md
            §3.3; the order line then carries ``parentSubscriptionId``, §4.3).
        promotion_id / promotion_name / percent_off: the promotion the cart line carries (``promotionId``), checked
            eligible before ordering, and its ``PercentDiscount`` fraction (0.20 = 20% off; None when its discount
            type is not a documented one: then :attr:`promotion_note` says so and no promotional price is shown).
            The invoice keeps the list price in UnitPrice and bills :attr:`promotional_period_price` as
            EffectiveUnitPrice (:mod:`cspkit.workflows.ordering.extras`).
        term_end / term_end_kind / coterm_with: the co-termed term's last day (the cart line's ``customTermEndDate``),
            ``calendarMonthAligned`` or ``subscriptionAligned``, and the subscription it is aligned with;
            ``first_charge`` the prorated first charge (:class:`~cspkit.workflows.ordering.extras.FirstCharge`,
            when the price is known).
    """

    customer_id: str
    country: str
    catalog_item_id: str
    product_id: str
    sku_id: str
    availability_id: str
    quantity: int
    term_duration: str
    billing_cycle: str
    friendly_name: str | None = None
    product_title: str | None = None
    sku_title: str | None = None
    is_saas: bool = False
    currency: str | None = None
    cancellation_policy: str | None = None
    term_price: Decimal | None = None
    billing_periods: int | None = None
    period_price: Decimal | None = None
    period_total: Decimal | None = None
    term_total: Decimal | None = None
    force: bool = False
    parent_subscription_id: str | None = None
    price_note: str | None = None
    promotion_id: str | None = None
    promotion_name: str | None = None
    percent_off: Decimal | None = None
    promotion_note: str | None = None
    term_end: date | None = None
    term_end_kind: str | None = None
    coterm_with: str | None = None
    first_charge: FirstCharge | None = None

    @property
    def unit_price(self) -> Decimal | None:
        """One seat for one billing period (= :attr:`period_price`, the invoice line's UnitPrice)."""
        return self.period_price

    @property
    def promotional_period_price(self) -> Decimal | None:
        """One seat for one billing period after the promotion (the invoice's EffectiveUnitPrice for a full
        period), or None without a promotion's percentage or a price."""
        if self.percent_off is None or self.period_price is None:
            return None
        return (self.period_price * (1 - self.percent_off)).quantize(Decimal("0.000001"), ROUND_HALF_UP).normalize()

    def line(self) -> CartLineItem:
        context = {"parentSubscriptionId": self.parent_subscription_id} if self.parent_subscription_id else None
        end = None
        if self.term_end:
            end = datetime(self.term_end.year, self.term_end.month, self.term_end.day, tzinfo=UTC)
        return CartLineItem(id=0, catalog_item_id=self.catalog_item_id, quantity=self.quantity,
                            term_duration=self.term_duration, billing_cycle=self.billing_cycle,
                            friendly_name=self.friendly_name, provisioning_context=context,
                            promotion_id=self.promotion_id, custom_term_end_date=end)

    def to_request(self) -> dict[str, Any]:
        """The plan as stored in the ledger (enough to rebuild the cart on resume)."""
        return {
            "customerId": self.customer_id, "country": self.country, "catalogItemId": self.catalog_item_id,
            "quantity": self.quantity, "termDuration": self.term_duration, "billingCycle": self.billing_cycle,
            "friendlyName": self.friendly_name, "force": self.force,
            "unitPrice": None if self.unit_price is None else str(self.unit_price), "currency": self.currency,
            **({"parentSubscriptionId": self.parent_subscription_id} if self.parent_subscription_id else {}),
            "termPrice": None if self.term_price is None else str(self.term_price),
            **({"promotionId": self.promotion_id} if self.promotion_id else {}),
            **({"customTermEndDate": self.term_end.isoformat()} if self.term_end else {}),
            **({"cotermWith": self.coterm_with} if self.coterm_with else {}),
        }

    def describe(self) -> dict[str, Any]:
        """One row for the CLI's plan table: money as ``"<amount> <currency>"`` (``"unknown"`` without a price).

        ``term_price`` (one seat, whole term), ``billing_periods``, ``period_price`` (one seat, one billing period),
        ``period_total`` (each bill) and ``term_total`` (the term), e.g. 10 seats of Microsoft 365 Business Basic
        P1Y billed monthly: ``60.48 USD``, 12, ``5.04 USD``, ``50.40 USD``, ``604.80 USD``."""
        return {
            "customer_id": self.customer_id, "catalog_item_id": self.catalog_item_id,
            "product": self.product_title, "sku": self.sku_title, "quantity": self.quantity,
            "term_duration": self.term_duration, "billing_cycle": self.billing_cycle,
            "friendly_name": self.friendly_name, "saas": self.is_saas,
            "term_price": _money(self.term_price, self.currency), "billing_periods": self.billing_periods,
            "period_price": _money(self.period_price, self.currency),
            "period_total": _money(self.period_total, self.currency),
            "term_total": _money(self.term_total, self.currency),
            "billing": f"unknown ({self.price_note or 'no price list, or no price in force in it'})"
            if self.period_total is None else
            f"{_money(self.period_total, self.currency)} per billing period × {self.billing_periods} = "
            f"{_money(self.term_total, self.currency)} for the term",
            "cancellation": self.cancellation_policy or "not cancellable (no refund window in the catalog)",
            **self._describe_extras(),
        }

    def _describe_extras(self) -> dict[str, Any]:
        """The promotion and co-terming rows, only where they apply (item 6 of issue 18)."""
        rows: dict[str, Any] = {}
        if self.promotion_id:
            what = f"{self.promotion_id}" + (f" ({self.promotion_name})" if self.promotion_name else "")
            if self.percent_off is not None:
                what += f": {_percent(self.percent_off)} off"
                price = self.promotional_period_price
                if price is not None:
                    each = price.quantize(Decimal("0.01"), ROUND_DOWN) * self.quantity  # seats: §2.4
                    what += (f", {_money(price, self.currency)} a seat per billing period instead of "
                             f"{_money(self.period_price, self.currency)} ({_money(each, self.currency)} per billing "
                             f"period" + (f" × {self.billing_periods} = "
                                          f"{_money(each * self.billing_periods, self.currency)} for the term"
                                          if self.billing_periods else "") + ")")
            elif self.promotion_note:
                what += f": {self.promotion_note}"
            rows["promotion"] = what
        if self.term_end:
            aligned = f"aligned with subscription {self.coterm_with}" if self.coterm_with else (
                "aligned with the end of a calendar month" if self.term_end_kind == "calendarMonthAligned" else
                f"{self.term_end_kind or 'custom'}")
            rows["term_end"] = f"{self.term_end.isoformat()} ({aligned}; the first term is shortened to end then)"
            charge = self.first_charge
            if charge is not None:
                rows["first_charge"] = (
                    f"{_money(charge.subtotal, self.currency)} for {charge.charge_start.isoformat()} to "
                    f"{charge.charge_end.isoformat()} ({charge.billing_days} of {charge.cycle_days} days: "
                    f"{_money(charge.effective_unit_price.normalize(), self.currency)} a seat × {self.quantity}"
                    + (", prorated" if charge.prorated else ", a full period") + ")")
            else:
                rows["first_charge"] = "unknown (no price)"
        return rows


def _percent(fraction: Decimal) -> str:
    """``Decimal("0.20")`` → ``"20%"``, ``Decimal("0.167")`` → ``"16.7%"``."""
    return f"{format((fraction * 100).normalize(), 'f')}%"


def _money(value: Decimal | None, currency: str | None) -> str:
    """``Decimal('576.0'), 'USD'`` → ``"576.00 USD"`` (at least cents, never fewer places); None → ``"unknown"``."""
    if value is None:
        return "unknown"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return f"{value} {currency or ''}".strip()


@dataclass
class OrderOutcome:
    """What happened to one journaled order.

    Attributes:
        status: ``done`` (ordered), ``failed`` (refused, nothing ordered), ``refused`` (a guard refused),
            ``unknown`` (ambiguous; resolve with ``cspkit ledger resume``).
        replayed: True when the ledger already held this key as done: nothing was ordered now.
    """

    entry_id: int
    key: str
    status: str
    customer_id: str
    cart_id: str | None = None
    orders: list[Order] = field(default_factory=list)
    order_errors: list[OrderError] = field(default_factory=list)
    replayed: bool = False
    error: str | None = None

    @property
    def order_ids(self) -> list[str]:
        return [o.id for o in self.orders if o.id]

    @property
    def subscription_ids(self) -> list[str]:
        return [li.subscription_id for o in self.orders for li in o.line_items if li.subscription_id]


@dataclass
class ChangeOutcome:
    """What happened to one journaled subscription change (``before``/``after`` resources)."""

    entry_id: int
    status: str
    before: Subscription | None
    after: Subscription | None
    replayed: bool = False
    note: str | None = None



_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$", re.I)


def _human_duration(text: str | None) -> str:
    match = _DURATION.match(text or "")
    if not match:
        return text or "?"
    names = ("year", "month", "week", "day", "hour", "minute")
    parts = [f"{int(v)} {n}{'s' if int(v) != 1 else ''}" for v, n in zip(match.groups(), names, strict=True) if v]
    return " ".join(parts) or text or "?"


def describe_policy(term: AvailabilityTerm | None) -> str | None:
    """The term's cancellation policy in words, phases in ``sequenceId`` order: ``refundOptions`` ``[{type: "Full",
    expiresAfter: "P1D"}, {type: "Partial", expiresAfter: "P7D"}]`` → ``"full refund within 1 day, partial refund
    within 7 days of purchase"``; None without a policy (or without a term).

    Source: the availability term's ``cancellationPolicies[].refundOptions[] {sequenceId, type, expiresAfter}``
    (partner-center-api.md §2 "AvailabilityTerm" and §5.5; documented sample ``availabilities_list.json``;
    Microsoft Learn ``new-commerce-cancellation-policy``)."""
    if term is None:
        return None
    options = [o for p in term.cancellation_policies or [] for o in p.refund_options]
    if not options:
        return None
    options.sort(key=lambda o: o.sequence_id or 0)
    bits = [f"{(o.type or 'full').lower()} refund within {_human_duration(o.expires_after)}" for o in options]
    return ", ".join(bits) + " of purchase"
