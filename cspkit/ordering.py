"""Ordering service: plans, journaled checkouts, journaled subscription changes, batches and fan-out.

The CLI's ordering commands are thin wrappers over :class:`Ordering`. Every write goes through the ledger
(:mod:`cspkit.ledger`): the intent is recorded before the call, the result after it. A checkout is journaled in
three steps — intent, cart id stored, checkout submitted — so any crash or ambiguous failure (timeout, dropped
connection, 5xx after the transport's retries) is resolved by checking out **the same cart again** with the same
MS-RequestId (Partner Center's checkout is idempotent per cart, partner-center-api.md §3.5, §7.2), never by ordering
again. Subscription changes are resolved by reading the subscription back and comparing it with the requested state.

Batches key every row with a stable key (``batch id`` + the row's content + its occurrence), so re-running the same
file after a crash completes what is missing and orders nothing twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from cspkit.errors import (
    APIConnectionError,
    APIStatusError,
    CheckoutError,
    ConflictError,
    CspkitError,
    InputFileError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
    RateLimitError,
    ServerError,
)
from cspkit.guards import check_cancellation, check_purchasable, check_quantity, check_seat_change
from cspkit.ledger import Ledger, LedgerEntry, entry_json
from cspkit.models.cart import CartCheckoutResult, CartLineItem, OrderError
from cspkit.models.catalog import AvailabilityTerm, Product, Sku
from cspkit.models.common import normalize_billing_cycle, normalize_term_duration
from cspkit.models.order import Order
from cspkit.models.subscription import Subscription
from cspkit.resources.catalog import parse_item_reference

__all__ = [
    "BatchRow",
    "ChangeOutcome",
    "OrderOutcome",
    "OrderPlan",
    "Ordering",
    "RowResult",
    "cancellable_subscriptions",
    "fan_out",
    "read_batch_file",
    "write_results_atomically",
]

AMBIGUOUS = (APIConnectionError, ServerError, RateLimitError)
"""Failures after which a write may or may not have happened."""

T = TypeVar("T")
R = TypeVar("R")


# =====================================================================================================================
# plans and outcomes
# =====================================================================================================================
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
        parent_subscription_id: for a new-commerce add-on, the customer's subscription it is bought onto — sent as
            the cart line's ``provisioningContext.parentSubscriptionId`` (new-commerce add-ons are bought like base
            offers, without ``addonItems``: "Create a cart with add-ons", learn.microsoft.com/partner-center/developer/
            create-a-cart-with-add-ons; ``provisioningContext`` is the cart line's string map, partner-center-api.md
            §3.3; the order line then carries ``parentSubscriptionId``, §4.3).
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

    @property
    def unit_price(self) -> Decimal | None:
        """One seat for one billing period (= :attr:`period_price`, the invoice line's UnitPrice)."""
        return self.period_price

    def line(self) -> CartLineItem:
        context = {"parentSubscriptionId": self.parent_subscription_id} if self.parent_subscription_id else None
        return CartLineItem(id=0, catalog_item_id=self.catalog_item_id, quantity=self.quantity,
                            term_duration=self.term_duration, billing_cycle=self.billing_cycle,
                            friendly_name=self.friendly_name, provisioning_context=context)

    def to_request(self) -> dict[str, Any]:
        """The plan as stored in the ledger (enough to rebuild the cart on resume)."""
        return {
            "customerId": self.customer_id, "country": self.country, "catalogItemId": self.catalog_item_id,
            "quantity": self.quantity, "termDuration": self.term_duration, "billingCycle": self.billing_cycle,
            "friendlyName": self.friendly_name, "force": self.force,
            "unitPrice": None if self.unit_price is None else str(self.unit_price), "currency": self.currency,
            **({"parentSubscriptionId": self.parent_subscription_id} if self.parent_subscription_id else {}),
            "termPrice": None if self.term_price is None else str(self.term_price),
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
            "billing": "unknown (no price list, or no price in force in it)" if self.period_total is None else
            f"{_money(self.period_total, self.currency)} per billing period × {self.billing_periods} = "
            f"{_money(self.term_total, self.currency)} for the term",
            "cancellation": self.cancellation_policy or "not cancellable (no refund window in the catalog)",
        }


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


# =====================================================================================================================
# the service
# =====================================================================================================================
class Ordering:
    """Journaled ordering and subscription lifecycle on top of a :class:`~cspkit.client.PartnerCenter`.

    Args:
        pc: the client (its ``customers``, ``catalog``, ``carts``, ``orders``, ``subscriptions`` resources).
        ledger: where writes are journaled.
        price_list: a price-list DataFrame (:func:`cspkit.billing.pricelist.read_price_list`) or None.
        resolve_attempts: how many times one ambiguous checkout/PATCH is re-sent before the entry is left
            ``unknown`` for ``cspkit ledger resume``.
        sleep: pause between resolution attempts (stubbed in tests).
        clock: the service's time for the window guards (an emulator's virtual clock); default the time of the
            answer the subscription came in (its ``X-Emulator-Now`` / ``Date`` header).
    """

    def __init__(
        self, pc: Any, ledger: Ledger, *, price_list: Any = None, resolve_attempts: int = 4,
        sleep: Callable[[float], None] | None = None, clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.pc = pc
        self.clock = clock
        self.ledger = ledger
        self.price_list = price_list
        self.resolve_attempts = resolve_attempts
        self._sleep = sleep or time.sleep
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._cache_lock = threading.Lock()

    # -- cached catalog reads (a batch asks the same questions many times) ---------------------------------------
    def _cached(self, key: tuple[Any, ...], load: Callable[[], T]) -> T:
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        value = load()
        with self._cache_lock:
            self._cache[key] = value
        return value

    def country_of(self, customer_id: str) -> str:
        """The customer's country (ISO alpha-2) from its billing profile. Raises NotFoundError."""
        customer = self._cached(("customer", customer_id), lambda: self.pc.customers.get(customer_id))
        return (customer.country or "US").upper()

    # -- planning -----------------------------------------------------------------------------------------------
    def plan(
        self, customer_id: str, *, item: str, quantity: int, term_duration: str, billing_cycle: str,
        friendly_name: str | None = None, country: str | None = None, force: bool = False,
        on: datetime | None = None, parent_subscription_id: str | None = None,
    ) -> OrderPlan:
        """Resolve ``item`` (``PRODUCT:SKU`` or a catalog item id) for the term and billing cycle and run the
        purchase guards. ``parent_subscription_id``: the subscription an add-on is bought onto (see
        :class:`OrderPlan`).

        Raises:
            ValueError: malformed item or quantity; NotFoundError: unknown customer/product/SKU/availability or
            term not offered; PolicyError: the catalog says it cannot be bought (unless ``force``).
        """
        if quantity < 1:
            raise ValueError(f"quantity must be 1 or more, got {quantity}")
        product_id, sku_id, availability_id = parse_item_reference(item)
        term_duration = normalize_term_duration(term_duration)
        billing_cycle = normalize_billing_cycle(billing_cycle)
        country = (country or self.country_of(customer_id)).upper()
        catalog = self.pc.catalog
        term: AvailabilityTerm | None
        if availability_id:
            availability = self._cached(
                ("availability", product_id, sku_id, availability_id, country),
                lambda: catalog.get_availability(product_id, sku_id, availability_id, country=country))
            term = availability.term_for(term_duration, billing_cycle)
        else:
            availability, term = self._cached(
                ("find", product_id, sku_id, country, term_duration, billing_cycle),
                lambda: catalog.find_availability(product_id, sku_id, country=country, term_duration=term_duration,
                                                  billing_cycle=billing_cycle))
        sku: Sku = availability.sku or self._cached(
            ("sku", product_id, sku_id, country), lambda: catalog.get_sku(product_id, sku_id, country=country))
        product: Product = availability.product or self._cached(
            ("product", product_id, country), lambda: catalog.get_product(product_id, country=country))
        inventory = None
        if sku.requires_inventory_check and not force:
            inventory = catalog.check_inventory(country=country, items=[{"productId": product_id, "skuId": sku_id}],
                                                context={"customerId": customer_id})
        check_purchasable(availability, term_duration=term_duration, billing_cycle=billing_cycle, quantity=quantity,
                          sku=sku, inventory=inventory, force=force)
        plan = OrderPlan(
            customer_id=customer_id, country=country,
            catalog_item_id=availability.resolved_catalog_item_id or f"{product_id}:{sku_id}:{availability.id}",
            product_id=product_id, sku_id=sku_id, availability_id=availability.id, quantity=quantity,
            term_duration=term_duration, billing_cycle=billing_cycle, friendly_name=friendly_name,
            product_title=product.title, sku_title=sku.title, is_saas=product.is_saas,
            currency=availability.default_currency.code if availability.default_currency else None,
            cancellation_policy=_describe_policy(term), force=force,
            parent_subscription_id=parent_subscription_id or None,
        )
        self._price(plan, on=on or (self.clock() if self.clock else None))
        return plan

    def _price(self, plan: OrderPlan, *, on: datetime | None) -> None:
        if self.price_list is None:
            return
        try:
            from cspkit.billing.pricelist_analysis import preview_cart_cost
        except ImportError:  # the price-list helper is optional: the price stays unknown
            return
        try:
            frame = preview_cart_cost(self.price_list, [{
                "catalog_item_id": plan.catalog_item_id, "quantity": plan.quantity,
                "term_duration": plan.term_duration, "billing_cycle": plan.billing_cycle,
                "currency": plan.currency or "USD"}], on=on)
        except (ValueError, KeyError):
            return
        if len(frame) and bool(frame.iloc[0]["PriceFound"]):
            row = frame.iloc[0]
            plan.term_price, plan.billing_periods, plan.period_price = (
                row["TermPrice"], int(row["BillingPeriods"]), row["PeriodPrice"])
            plan.period_total, plan.term_total = row["PeriodTotal"], row["TermTotal"]
            plan.currency = row["Currency"] or plan.currency

    # -- ordering -----------------------------------------------------------------------------------------------
    def place_order(
        self, plan: OrderPlan, *, key: str | None = None, batch_id: str | None = None,
        row_number: int | None = None,
    ) -> OrderOutcome:
        """Buy ``plan``, journaled: intent → cart created (id stored) → checkout submitted → result.

        Args:
            key: idempotency key; an entry already ``done`` under it is returned (``replayed``) without ordering.
        Returns:
            :class:`OrderOutcome`.
        Raises:
            PolicyError: a guard refused (recorded as ``refused``); CheckoutError: every order group failed
            (``failed``); APIStatusError: Partner Center refused the cart (``failed``); APIConnectionError /
            ServerError: still ambiguous after ``resolve_attempts`` re-checkouts of the same cart (``unknown``;
            run ``cspkit ledger resume``).
        """
        entry, created = self.ledger.begin(
            kind="order", key=key, customer_id=plan.customer_id, request=plan.to_request(),
            correlation_id=self.pc.transport.correlation_id, batch_id=batch_id, row_number=row_number,
        )
        if not created:
            return self.continue_order(entry, plan)
        return self._drive_order(entry, plan)

    def continue_order(self, entry: LedgerEntry, plan: OrderPlan | None = None) -> OrderOutcome:
        """Finish an order entry found in the ledger: ``done`` → returned as ``replayed``; a journaled cart →
        checked out again (same cart, same MS-RequestId); no cart yet → a cart built from ``plan`` (or the
        journaled plan).

        Raises:
            CspkitError: another live run holds the entry; otherwise as :meth:`place_order`.
        """
        if entry.status == "done":
            return self._outcome(entry, replayed=True)
        if not self.ledger.claim(entry.id or 0):
            raise CspkitError(f"ledger entry {entry.id} ({entry.key}) is being worked on by another run "
                              f"({entry.claimed_by})", hint="Wait for it to finish, then run again.")
        return self._drive_order(entry, plan)

    def _drive_order(self, entry: LedgerEntry, plan: OrderPlan | None) -> OrderOutcome:
        customer_id = entry.customer_id or ""
        if entry.cart_id is None:
            if plan is None:
                plan = self._plan_from_entry(entry)
            try:
                cart = self.pc.carts.create(customer_id, line_items=[plan.line()], country=plan.country, force=True)
            except PolicyError as exc:  # not reached (guards ran in plan), kept for safety
                self.ledger.fail(entry.id, exc, status="refused")
                raise
            except APIStatusError as exc:
                self.ledger.fail(entry.id, exc)
                raise
            except AMBIGUOUS as exc:  # a cart may exist: harmless, it is never checked out; record and stop
                self.ledger.fail(entry.id, exc, status="unknown")
                raise
            entry = self.ledger.set_cart(entry.id, cart_id=cart.id or "", cart=cart.to_wire())
            errors = cart.line_errors
            if errors and not plan.force:
                detail = "; ".join(f"line {line.id}: {err.error_description or err.error_code}"
                                   for line, err in errors)
                error = CspkitError(f"Partner Center flagged the cart: {detail}")
                self.ledger.clear_cart(entry.id, "cart has invalid lines; a retry builds a new one")
                self.ledger.fail(entry.id, error)
                raise CheckoutError(str(error), cart_id=cart.id or "", order_errors=[
                    {"code": err.error_code, "description": err.error_description} for _, err in errors])
        return self._checkout(entry)

    def _plan_from_entry(self, entry: LedgerEntry) -> OrderPlan:
        request = entry_json(entry, "request_json") or {}
        product_id, sku_id, availability_id = parse_item_reference(request["catalogItemId"])
        return OrderPlan(
            customer_id=entry.customer_id or request["customerId"], country=request.get("country") or "US",
            catalog_item_id=request["catalogItemId"], product_id=product_id, sku_id=sku_id,
            availability_id=availability_id or "", quantity=int(request["quantity"]),
            term_duration=request["termDuration"], billing_cycle=request["billingCycle"],
            friendly_name=request.get("friendlyName"), force=bool(request.get("force")),
            parent_subscription_id=request.get("parentSubscriptionId"),
        )

    def _checkout(self, entry: LedgerEntry) -> OrderOutcome:
        customer_id, cart_id = entry.customer_id or "", entry.cart_id or ""
        request_id = entry.request_id or ""
        last: Exception | None = None
        for attempt in range(max(1, self.resolve_attempts)):
            if attempt:  # full jitter, like the transport: a busy cart (800064) needs a moment
                self._sleep(random.uniform(0.0, min(30.0, 2.0 ** attempt)))
            entry = self.ledger.submitted(entry.id, request_id=request_id,
                                          detail=f"checkout of cart {cart_id} sent (attempt {attempt + 1})")
            try:
                result = self.pc.carts.checkout(customer_id, cart_id, request_id=request_id)
            except (*AMBIGUOUS, ConflictError) as exc:  # 800064/800060: busy — re-check out the same cart
                last = exc
                self.ledger.fail(entry.id, exc, status="unknown")
                continue
            except APIStatusError as exc:
                return self._checkout_refused(entry, exc)
            return self._record_checkout(entry, result)
        assert last is not None
        if isinstance(last, CspkitError):
            last.hint = (f"The outcome of checking out cart {cart_id} is unknown (ledger entry {entry.id}); "
                         "`cspkit ledger resume` checks out the same cart again — it never orders twice.")
        raise last

    def _checkout_refused(self, entry: LedgerEntry, exc: APIStatusError) -> OrderOutcome:
        customer_id, cart_id = entry.customer_id or "", entry.cart_id or ""
        if exc.code == "800065":  # legacy "already submitted": it was ordered, we lack the order ids
            self.ledger.fail(entry.id, CspkitError(
                f"cart {cart_id} was already checked out but the service did not return its orders; look them up "
                f"with `cspkit orders list --customer {customer_id}` and record them"), status="unknown")
            raise exc
        try:
            cart = self.pc.carts.get(customer_id, cart_id)
        except NotFoundError:
            cart = None
        if cart is not None and cart.is_ordered:  # refused now, but the cart did order: read back by re-checkout
            self.ledger.fail(entry.id, exc, status="unknown")
            raise exc
        self.ledger.clear_cart(entry.id, f"cart {cart_id} not ordered ({exc.code or exc.status_code}); "
                                         "a retry builds a new cart")
        self.ledger.fail(entry.id, exc)
        raise exc

    def _record_checkout(self, entry: LedgerEntry, result: CartCheckoutResult) -> OrderOutcome:
        if result.orders:
            detail = "ordered " + ", ".join(o.id or "?" for o in result.orders)
            if result.order_errors:
                detail += "; order errors: " + "; ".join(f"{e.code} {e.description}" for e in result.order_errors)
            entry = self.ledger.complete(entry.id, after=result.to_wire(),
                                         order_ids=[o.id or "" for o in result.orders], detail=detail)
            return self._outcome(entry)
        errors = [e.to_wire() for e in result.order_errors]
        message = "checkout returned no order: " + ("; ".join(
            f"{e.code} {e.description}" for e in result.order_errors) or "no order errors either")
        error = CheckoutError(message, cart_id=entry.cart_id or "", order_errors=errors)
        self.ledger.clear_cart(entry.id, "checkout failed; a retry builds a new cart")
        self.ledger.fail(entry.id, error, after=result.to_wire())
        raise error

    def _outcome(self, entry: LedgerEntry, *, replayed: bool = False) -> OrderOutcome:
        after = entry_json(entry, "after_json") or {}
        result = CartCheckoutResult.from_wire(after) if entry.status == "done" and after else CartCheckoutResult()
        return OrderOutcome(entry_id=entry.id or 0, key=entry.key, status=entry.status,
                            customer_id=entry.customer_id or "", cart_id=entry.cart_id, orders=result.orders,
                            order_errors=result.order_errors, replayed=replayed, error=entry.error)

    def validate_cart(self, plan: OrderPlan) -> Any:
        """Dry run: build the cart in Partner Center (server validation, never checked out, expires by itself)
        and return it; its lines carry the server's ``error`` when invalid."""
        return self.pc.carts.create(plan.customer_id, line_items=[plan.line()], country=plan.country, force=True)

    # -- subscription changes -----------------------------------------------------------------------------------
    def set_quantity(self, customer_id: str, subscription_id: str, *, quantity: int, force: bool = False,
                     key: str | None = None) -> ChangeOutcome:
        """Change seats (journaled). Guards: SKU min/max, seat-decrease window. See :meth:`change`."""
        return self.change("set_quantity", customer_id, subscription_id, {"quantity": int(quantity)}, force=force,
                           key=key)

    def set_auto_renew(self, customer_id: str, subscription_id: str, *, enabled: bool,
                       key: str | None = None) -> ChangeOutcome:
        return self.change("auto_renew", customer_id, subscription_id, {"autoRenewEnabled": bool(enabled)}, key=key)

    def cancel(self, customer_id: str, subscription_id: str, *, force: bool = False,
               key: str | None = None) -> ChangeOutcome:
        """Cancel (journaled). Guard: the cancellation window."""
        return self.change("cancel", customer_id, subscription_id, {"status": "deleted"}, force=force, key=key)

    def suspend(self, customer_id: str, subscription_id: str, *, key: str | None = None) -> ChangeOutcome:
        return self.change("suspend", customer_id, subscription_id, {"status": "suspended"}, key=key)

    def reactivate(self, customer_id: str, subscription_id: str, *, key: str | None = None) -> ChangeOutcome:
        return self.change("reactivate", customer_id, subscription_id, {"status": "active"}, key=key)

    def change(
        self, kind: str, customer_id: str, subscription_id: str, changes: Mapping[str, Any], *,
        force: bool = False, key: str | None = None,
    ) -> ChangeOutcome:
        """Read the subscription, guard, journal, PATCH, and resolve ambiguity by reading back.

        Raises:
            PolicyError: a guard refused (``refused``); APIStatusError: Partner Center refused (``failed``);
            APIConnectionError/ServerError: still unknown after reading back (``unknown``).
        """
        entry, created = self.ledger.begin(
            kind=kind, key=key, customer_id=customer_id, subscription_id=subscription_id,
            request={"changes": dict(changes), "force": force}, correlation_id=self.pc.transport.correlation_id,
        )
        if not created and entry.status == "done":
            after = entry_json(entry, "after_json")
            return ChangeOutcome(entry.id or 0, "done", None, Subscription.from_wire(after) if after else None,
                                 replayed=True)
        return self._drive_change(entry, kind, customer_id, subscription_id, dict(changes), force)

    def _drive_change(self, entry: LedgerEntry, kind: str, customer_id: str, subscription_id: str,
                      changes: dict[str, Any], force: bool) -> ChangeOutcome:
        subs = self.pc.subscriptions
        current, served_at = subs.read(customer_id, subscription_id)
        if _reached(current, changes):
            entry = self.ledger.complete(entry.id, after=current.to_wire(), detail="already in the requested state")
            return ChangeOutcome(entry.id or 0, "done", current, current, note="already in the requested state")
        try:
            self._guard(kind, customer_id, current, changes, served_at, force)
        except PolicyError as exc:
            self.ledger.fail(entry.id, exc, status="refused")
            raise
        for attempt in range(max(1, self.resolve_attempts)):
            self.ledger.submitted(entry.id, request_id=entry.request_id or "", before=current.to_wire(),
                                  detail=f"PATCH {', '.join(f'{k}={v}' for k, v in changes.items())} "
                                         f"(attempt {attempt + 1})")
            try:
                change = subs.update(customer_id, subscription_id, changes=changes, current=current,
                                     request_id=entry.request_id)
            except (*AMBIGUOUS, PreconditionFailedError) as exc:
                # the PATCH may have been applied (a dropped answer, then a retry refused for its stale etag)
                fresh, served_at = subs.read(customer_id, subscription_id)
                if _reached(fresh, changes):
                    entry = self.ledger.complete(entry.id, after=fresh.to_wire(),
                                                 detail="applied (confirmed by reading back)")
                    return ChangeOutcome(entry.id or 0, "done", current, fresh, note="confirmed by reading back")
                self.ledger.fail(entry.id, exc, status="unknown")
                if attempt + 1 >= self.resolve_attempts:
                    raise
                current = fresh
                try:
                    self._guard(kind, customer_id, current, changes, served_at, force)
                except PolicyError as policy:
                    self.ledger.fail(entry.id, policy, status="refused")
                    raise
                continue
            except APIStatusError as exc:
                self.ledger.fail(entry.id, exc)
                raise
            note = None
            if not _reached(change.after, changes):
                note = "accepted; not yet visible on the subscription (e.g. waiting for the SaaS publisher)"
            entry = self.ledger.complete(entry.id, after=change.after.to_wire(), detail=note)
            return ChangeOutcome(entry.id or 0, "done", change.before, change.after, note=note)
        raise AssertionError("unreachable")

    def _guard(self, kind: str, customer_id: str, current: Subscription, changes: Mapping[str, Any],
               served_at: datetime, force: bool) -> None:
        if force:
            return
        if self.clock is not None:
            served_at = self.clock()
        if kind == "set_quantity":
            quantity = int(changes["quantity"])
            sku = self._cached(("sub-sku", current.product_id, current.sku_id),
                               lambda: self.pc.subscriptions.sku_of(customer_id, current,
                                                                    country=self.country_of(customer_id)))
            if sku is not None:
                check_quantity(sku, quantity)
            check_seat_change(current, quantity, now=served_at)
        elif kind == "cancel":
            check_cancellation(current, now=served_at)

    def activate(self, customer_id: str, subscription_id: str, *, key: str | None = None) -> ChangeOutcome:
        """Sandbox-activate a marketplace SaaS subscription (journaled)."""
        entry, created = self.ledger.begin(kind="activate", key=key, customer_id=customer_id,
                                           subscription_id=subscription_id, request={"activate": True},
                                           correlation_id=self.pc.transport.correlation_id)
        if not created and entry.status == "done":
            return ChangeOutcome(entry.id or 0, "done", None, None, replayed=True)
        before = self.pc.subscriptions.get(customer_id, subscription_id)
        self.ledger.submitted(entry.id, request_id=entry.request_id or "", before=before.to_wire())
        try:
            result = self.pc.subscriptions.activate_sandbox(customer_id, subscription_id)
        except AMBIGUOUS as exc:
            self.ledger.fail(entry.id, exc, status="unknown")
            raise
        except APIStatusError as exc:
            self.ledger.fail(entry.id, exc)
            raise
        after = self.pc.subscriptions.get(customer_id, subscription_id)
        self.ledger.complete(entry.id, after=after.to_wire(), detail=f"activation {result.status}")
        return ChangeOutcome(entry.id or 0, "done", before, after, note=result.status)

    # -- resume ------------------------------------------------------------------------------------------------
    def resume(self, entry: LedgerEntry) -> str:
        """Resolve one unresolved entry; returns a one-line description of what was done.

        Orders: check out the journaled cart again (same MS-RequestId; idempotent) — or, when no cart was created
        yet, build the cart from the journaled plan. Changes: read the subscription back; apply the change only if it
        is not there yet (guards run again unless the intent was forced).

        Raises:
            CspkitError (exit code 2): the entry was written to another target than this ledger's (another emulator
            instance, another Partner Center tenant, or before targets were recorded) — never resumed here.
        """
        if not self.ledger.is_current(entry):
            error = CspkitError(f"ledger entry {entry.id} went to {entry.target or 'an unknown target'}, not to "
                                f"{self.ledger.target.label}: it is not resumed here",
                                hint="Point cspkit at that target to resume it.")
            error.exit_code = 2
            raise error
        if entry.kind == "order":
            outcome = self.continue_order(entry)
            return f"{outcome.status}: orders {', '.join(outcome.order_ids) or '-'}"
        if not self.ledger.claim(entry.id or 0):
            return f"skipped: another run ({entry.claimed_by}) is working on it"
        request = entry_json(entry, "request_json") or {}
        if entry.kind == "activate":
            sub = self.pc.subscriptions.get(entry.customer_id or "", entry.subscription_id or "")
            if sub.status != "pending":
                self.ledger.complete(entry.id or 0, after=sub.to_wire(), detail="resolved by reading back")
                return f"done: subscription is {sub.status}"
            outcome = self.activate(entry.customer_id or "", entry.subscription_id or "", key=entry.key)
            return f"done: {outcome.note}"
        result = self._drive_change(entry, entry.kind, entry.customer_id or "", entry.subscription_id or "",
                                    dict(request.get("changes") or {}), bool(request.get("force")))
        return f"{result.status}: {result.note or 'applied'}"


def _reached(sub: Subscription, changes: Mapping[str, Any]) -> bool:
    for name, wanted in changes.items():
        if name == "quantity" and sub.quantity != int(wanted):
            return False
        if name == "autoRenewEnabled" and bool(sub.auto_renew_enabled) != bool(wanted):
            return False
        if name == "status" and (sub.status or "") != str(wanted).lower():
            return False
        if name == "friendlyName" and sub.friendly_name != wanted:
            return False
    return True


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$", re.I)


def _human_duration(text: str | None) -> str:
    match = _DURATION.match(text or "")
    if not match:
        return text or "?"
    names = ("year", "month", "week", "day", "hour", "minute")
    parts = [f"{int(v)} {n}{'s' if int(v) != 1 else ''}" for v, n in zip(match.groups(), names, strict=True) if v]
    return " ".join(parts) or text or "?"


def _describe_policy(term: AvailabilityTerm | None) -> str | None:
    """``"full refund within 1 day, partial until 7 days after purchase"`` from the term's cancellation policy."""
    if term is None:
        return None
    options = [o for p in term.cancellation_policies or [] for o in p.refund_options]
    if not options:
        return None
    options.sort(key=lambda o: o.sequence_id or 0)
    bits = [f"{(o.type or 'refund').lower()} refund until {_human_duration(o.expires_after)}" for o in options]
    return ", ".join(bits) + " after purchase"


# =====================================================================================================================
# batches
# =====================================================================================================================
_COLUMNS = {
    "customer_id": ("customer_id", "customer", "customerid", "customer_tenant_id"),
    "item": ("item", "catalog_item_id", "catalogitemid", "product_sku", "offer"),
    "quantity": ("quantity", "qty", "seats"),
    "term_duration": ("term_duration", "term", "termduration"),
    "billing_cycle": ("billing_cycle", "billing", "billingcycle", "billing_plan"),
    "friendly_name": ("friendly_name", "friendlyname", "name"),
    "parent_subscription_id": ("parent_subscription_id", "parentsubscriptionid", "parent_subscription",
                               "parent"),
    "key": ("key", "row_key", "rowkey", "id"),
}
_DELIMITERS = (",", ";", "\t")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_REQUIRED = ("customer_id", "item", "quantity", "term_duration", "billing_cycle")


@dataclass
class BatchRow:
    """One batch line: one item for one customer. ``number`` is the 1-based data row; ``key`` its stable key;
    ``line`` the 1-based line of the file it starts on (the header is line 1); ``parent_subscription_id`` the
    subscription an add-on row is bought onto."""

    number: int
    customer_id: str
    item: str
    quantity: int
    term_duration: str
    billing_cycle: str
    friendly_name: str | None
    key: str
    parent_subscription_id: str | None = None
    line: int | None = None


@dataclass
class RowResult:
    """The result of one batch row (one line of the result file)."""

    row: BatchRow
    status: str  # ordered | already_ordered | failed | refused | unknown | valid (dry run) | invalid (dry run)
    order_ids: list[str] = field(default_factory=list)
    subscription_ids: list[str] = field(default_factory=list)
    cart_id: str | None = None
    entry_id: int | None = None
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "row": self.row.number, "key": self.row.key, "customer_id": self.row.customer_id, "item": self.row.item,
            "quantity": self.row.quantity, "term_duration": self.row.term_duration,
            "billing_cycle": self.row.billing_cycle, "friendly_name": self.row.friendly_name or "",
            "parent_subscription_id": self.row.parent_subscription_id or "", "status": self.status,
            "order_ids": " ".join(self.order_ids),
            "subscription_ids": " ".join(self.subscription_ids), "cart_id": self.cart_id or "",
            "ledger_entry": self.entry_id or "", "error": self.error or "",
        }


RESULT_COLUMNS = ["row", "key", "customer_id", "item", "quantity", "term_duration", "billing_cycle", "friendly_name",
                  "parent_subscription_id", "status", "order_ids", "subscription_ids", "cart_id", "ledger_entry",
                  "error"]


def _header_mapping(fieldnames: Sequence[str] | None) -> dict[str, str]:
    header = {(h or "").strip().lower().replace(" ", "_"): h for h in fieldnames or []}
    mapping: dict[str, str] = {}
    for name, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in header:
                mapping[name] = header[alias]
                break
    return mapping


def _pick_delimiter(text: str) -> str:
    """``,``, ``;`` (Excel in locales whose decimal separator is a comma saves "CSV" with semicolons) or a tab:
    the one whose header names the most known columns; on a tie, what :class:`csv.Sniffer` sees; else ``,``."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    scores = {d: len(_header_mapping(next(csv.reader([first], delimiter=d), []))) for d in _DELIMITERS}
    best = max(scores.values())
    tied = [d for d in _DELIMITERS if scores[d] == best]
    if len(tied) == 1:
        return tied[0]
    try:
        sniffed = csv.Sniffer().sniff(first, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return ","
    return sniffed if sniffed in tied else ","


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma (,)", ";": "semicolon (;)", "\t": "tab"}.get(delimiter, repr(delimiter))


def read_batch_file(
    path: str | os.PathLike[str], *, batch_id: str | None = None, allow_duplicates: bool = False,
) -> tuple[str, list[BatchRow]]:
    """Read a batch CSV: one line per customer item.

    Columns (header names case-insensitive; aliases in brackets): ``customer_id`` [customer], ``item``
    [catalog_item_id] (``PRODUCT:SKU`` or ``PRODUCT:SKU:AVAILABILITY``), ``quantity``, ``term_duration`` [term]
    (P1M/P1Y/P3Y), ``billing_cycle`` [billing] (monthly/annual/...), optional ``friendly_name``,
    ``parent_subscription_id`` [parent] (the subscription a new-commerce add-on is bought onto, a GUID) and ``key``.
    Comma-, semicolon- (European Excel) and tab-separated files are read; UTF-8 (with or without BOM), else
    Windows-1252 (Excel's "CSV" in Western European locales).

    Row keys: ``<batch id>:<key column>`` when given, else ``<batch id>:<hash of the row's values>#<occurrence>`` —
    stable across re-runs of the same file, so the ledger recognizes rows already ordered (per target: see
    :mod:`cspkit.ledger.target`). The batch id defaults to the file name (``orders.csv``); pass another to order the
    same lines again on purpose.

    Identical rows (same customer, item, quantity, term, billing cycle, friendly name and parent subscription)
    without distinct ``key`` values are refused — a copy-paste slip would otherwise buy twice — unless
    ``allow_duplicates`` (then each occurrence is its own order).

    Returns:
        ``(batch_id, rows)``.
    Raises:
        InputFileError: unreadable file, a header naming none/not all of the required columns (says which delimiter
        was seen), bad quantity/term/billing/parent value (names row and column), duplicate rows (names their
        lines).
    """
    path = Path(path)
    batch_id = batch_id or path.name
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), expected=f"a readable CSV file ({exc})") from exc
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw_bytes.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InputFileError(str(path), expected=f"a UTF-8 or Windows-1252 CSV file ({exc})") from exc
    delimiter = _pick_delimiter(text)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    mapping = _header_mapping(reader.fieldnames)
    missing = [c for c in _REQUIRED if c not in mapping]
    if missing:
        seen_header = delimiter.join(h or "" for h in reader.fieldnames or [])
        raise InputFileError(
            str(path), row=0,
            expected=f"the columns {', '.join(_REQUIRED)} (missing: {', '.join(missing)}; the header "
                     f"{seen_header[:200]!r} was read as {_delimiter_name(delimiter)}-separated)",
            hint="Separate columns with commas or semicolons and name them as above; see `cspkit order batch "
                 "--help`.")
    rows: list[BatchRow] = []
    seen: dict[str, int] = {}
    lines_of: dict[str, list[int]] = {}
    for number, raw in enumerate(reader, start=1):
        # the file line the record starts on (blank lines are skipped by the reader; quoted cells may span lines)
        first_line = reader.line_num - sum(v.count("\n") for v in raw.values() if isinstance(v, str))

        def cell(name: str, raw: dict[str, Any] = raw) -> str:
            column = mapping.get(name)
            return (raw.get(column) or "").strip() if column else ""

        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue  # blank line
        values = {name: cell(name) for name in _COLUMNS}
        for name in _REQUIRED:
            if not values[name]:
                raise InputFileError(str(path), row=number, column=mapping[name], expected="a value")
        try:
            quantity = int(values["quantity"])
            if quantity < 1:
                raise ValueError
        except ValueError:
            raise InputFileError(str(path), row=number, column=mapping["quantity"],
                                 expected="a whole number of seats >= 1", value=values["quantity"]) from None
        try:
            parse_item_reference(values["item"])
        except ValueError:
            raise InputFileError(str(path), row=number, column=mapping["item"],
                                 expected="PRODUCT_ID:SKU_ID or PRODUCT_ID:SKU_ID:AVAILABILITY_ID",
                                 value=values["item"]) from None
        term = normalize_term_duration(values["term_duration"])
        if not re.fullmatch(r"P\d+[MY]", term):
            raise InputFileError(str(path), row=number, column=mapping["term_duration"],
                                 expected="an ISO 8601 term such as P1M, P1Y or P3Y", value=values["term_duration"])
        cycle = normalize_billing_cycle(values["billing_cycle"])
        if cycle not in ("monthly", "annual", "triennial", "biennial", "one_time", "none"):
            raise InputFileError(str(path), row=number, column=mapping["billing_cycle"],
                                 expected="monthly, annual, triennial or none", value=values["billing_cycle"])
        parent = values["parent_subscription_id"]
        if parent and not _GUID.match(parent):
            raise InputFileError(str(path), row=number, column=mapping["parent_subscription_id"],
                                 expected="a subscription id (GUID) or nothing", value=parent)
        if values["key"]:
            key = f"{batch_id}:{values['key']}"
            if key in seen:
                raise InputFileError(str(path), row=number, column=mapping["key"],
                                     expected="a key not used on another row", value=values["key"])
            seen[key] = 1
        else:
            parts = [values["customer_id"].lower(), values["item"].upper(), str(quantity), term, cycle,
                     values["friendly_name"]]
            if parent:  # only add-on rows: the keys of files written before the column existed stay the same
                parts.append(parent.lower())
            digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
            occurrence = seen.get(digest, 0) + 1
            seen[digest] = occurrence
            lines_of.setdefault(digest, []).append(first_line)
            key = f"{batch_id}:{digest}#{occurrence}"
        rows.append(BatchRow(number, values["customer_id"], values["item"], quantity, term, cycle,
                             values["friendly_name"] or None, key, parent or None, first_line))
    if not rows:
        raise InputFileError(str(path), expected="at least one data row")
    duplicates = [lines for lines in lines_of.values() if len(lines) > 1]
    if duplicates and not allow_duplicates:
        groups = "; ".join("lines " + ", ".join(str(n) for n in lines) for lines in duplicates[:10])
        more = f" (and {len(duplicates) - 10} more groups)" if len(duplicates) > 10 else ""
        raise InputFileError(
            str(path),
            expected=f"no identical rows without distinct keys: {groups}{more} are the same customer, item, "
                     "quantity, term, billing cycle and friendly name — nothing was ordered",
            hint="Delete the copies, give each row its own value in a `key` column, or pass --allow-duplicates "
                 "to order every copy.")
    return batch_id, rows


def write_results_atomically(path: str | os.PathLike[str], results: Sequence[RowResult]) -> Path:
    """Write the per-row result CSV to a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for result in sorted(results, key=lambda r: r.row.number):
                writer.writerow(result.to_row())
            handle.flush()
            os.fsync(handle.fileno())
        from cspkit.reports.workbook import user_file_mode

        os.chmod(tmp, user_file_mode())  # the user's file follows their umask (mkstemp made it 0600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def run_batch_row(service: Ordering, row: BatchRow, *, batch_id: str, dry_run: bool = False,
                  force: bool = False) -> RowResult:
    """Plan and (unless ``dry_run``) place one row; every failure becomes the row's status, never an exception
    (except KeyboardInterrupt)."""
    existing = None if dry_run else service.ledger.by_key(row.key)
    try:
        if existing is not None and (existing.status == "done" or existing.cart_id):
            # ordered before, or a checkout in flight: finish it with the journaled cart, never a new one
            outcome = service.continue_order(existing)
            status = "already_ordered" if outcome.replayed else "ordered"
            return RowResult(row, status, outcome.order_ids, outcome.subscription_ids, outcome.cart_id,
                             outcome.entry_id)
        plan = service.plan(row.customer_id, item=row.item, quantity=row.quantity, term_duration=row.term_duration,
                            billing_cycle=row.billing_cycle, friendly_name=row.friendly_name, force=force,
                            parent_subscription_id=row.parent_subscription_id)
        if dry_run:
            cart = service.validate_cart(plan)
            errors = cart.line_errors
            if errors:
                return RowResult(row, "invalid", cart_id=cart.id, error="; ".join(
                    str(e.error_description or e.error_code) for _, e in errors))
            return RowResult(row, "valid", cart_id=cart.id)
        outcome = service.place_order(plan, key=row.key, batch_id=batch_id, row_number=row.number)
    except PolicyError as exc:
        entry = service.ledger.by_key(row.key)
        return RowResult(row, "refused", entry_id=entry.id if entry else None, error=str(exc))
    except (*AMBIGUOUS, ConflictError) as exc:
        entry = service.ledger.by_key(row.key)
        return RowResult(row, "unknown", cart_id=entry.cart_id if entry else None,
                         entry_id=entry.id if entry else None, error=str(exc))
    except CspkitError as exc:
        entry = service.ledger.by_key(row.key)
        return RowResult(row, "failed", entry_id=entry.id if entry else None, error=str(exc))
    status = "already_ordered" if outcome.replayed else "ordered"
    return RowResult(row, status, outcome.order_ids, outcome.subscription_ids, outcome.cart_id, outcome.entry_id)


# =====================================================================================================================
# fan-out
# =====================================================================================================================
def cancellable_subscriptions(
    pc: Any, customer_ids: Sequence[str], *, workers: int = 8, clock: Callable[[], datetime] | None = None,
) -> tuple[list[tuple[str, Subscription]], list[tuple[str, BaseException]]]:
    """Every active subscription still inside its cancellation window, over many customers concurrently.

    Returns:
        ``([(customer_id, subscription)], [(customer_id, error)])`` — subscriptions soonest deadline first.
    """
    from cspkit.guards import cancellation_deadline

    def one(customer_id: str) -> list[Subscription]:
        return pc.subscriptions.list(customer_id)

    now = clock() if clock else datetime.now(UTC)
    found: list[tuple[str, Subscription]] = []
    failures: list[tuple[str, BaseException]] = []
    for customer_id, subs, error in fan_out(one, customer_ids, workers=workers):
        if error is not None:
            failures.append((customer_id, error))
            continue
        for sub in subs or []:
            deadline = cancellation_deadline(sub)
            if sub.status == "active" and deadline is not None and now <= deadline:
                found.append((customer_id, sub))
    found.sort(key=lambda pair: (cancellation_deadline(pair[1]), pair[0], pair[1].id))
    return found, failures


def fan_out(func: Callable[[T], R], items: Iterable[T], *, workers: int = 8,
            on_done: Callable[[T, R | None, BaseException | None], None] | None = None,
            ) -> list[tuple[T, R | None, BaseException | None]]:
    """Run ``func`` over ``items`` on ``workers`` threads (they share the client and its rate limiter).

    Returns:
        ``(item, result, error)`` per item, in the order of ``items``; a :class:`~cspkit.errors.CspkitError`
        becomes that item's ``error``. Other exceptions propagate (bugs must not be swallowed).
    """
    items = list(items)
    results: list[tuple[T, R | None, BaseException | None]] = [(item, None, None) for item in items]

    def run(index: int) -> None:
        item = items[index]
        try:
            value: R | None = func(item)
            error: BaseException | None = None
        except CspkitError as exc:
            value, error = None, exc
        results[index] = (item, value, error)
        if on_done is not None:
            on_done(item, value, error)

    if workers <= 1 or len(items) <= 1:
        for index in range(len(items)):
            run(index)
        return results
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cspkit")
    try:
        for future in [pool.submit(run, index) for index in range(len(items))]:
            future.result()
    except BaseException:
        # Ctrl-C or a bug: start nothing new; the items already running finish (and journal) first
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results
