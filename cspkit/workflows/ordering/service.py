"""Ordering service: plans, journaled checkouts, journaled subscription changes (the one guarded path).

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

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from cspkit.errors import (
    EXIT_USAGE,
    APIStatusError,
    CheckoutError,
    ConflictError,
    CspkitError,
    NotFoundError,
    PolicyError,
    PreconditionFailedError,
)
from cspkit.ledger import Ledger, LedgerEntry, entry_json
from cspkit.models.cart import CartCheckoutResult
from cspkit.models.catalog import AvailabilityTerm, Product, Sku
from cspkit.models.common import normalize_billing_cycle, normalize_term_duration
from cspkit.models.subscription import Subscription
from cspkit.resources.catalog import parse_item_reference
from cspkit.retry import RetryPolicy
from cspkit.workflows.guards import check_cancellation, check_purchasable, check_quantity, check_seat_change
from cspkit.workflows.ordering.extras import choose_term_end, first_charge, promotion_refusal
from cspkit.workflows.ordering.plan import AMBIGUOUS, ChangeOutcome, OrderOutcome, OrderPlan, describe_policy

__all__ = ["Ordering"]

T = TypeVar("T")


class Ordering:
    """Journaled ordering and subscription lifecycle on top of a :class:`~cspkit.client.PartnerCenter`.

    Args:
        pc: the client (its ``customers``, ``catalog``, ``carts``, ``orders``, ``subscriptions`` resources).
        ledger: where writes are journaled.
        price_list: a price-list DataFrame (:func:`cspkit.billing.pricelist.read_price_list`) or None.
        price_source: when ``price_list`` is None, ``callable(market) -> DataFrame | None`` giving the price list
            of the customer's market (:class:`cspkit.workflows.ordering.prices.PriceSheetSource`: the price-sheet
            API, cached for the month); its ``problems`` (market → why) explain an unknown price.
        resolve_attempts: how many times one ambiguous checkout/PATCH is re-sent before the entry is left
            ``unknown`` for ``cspkit ledger resume``.
        sleep: pause between resolution attempts (stubbed in tests); how long comes from :attr:`retry_policy`.
        clock: the service's time for the window guards (an emulator's virtual clock); default the time of the
            answer the subscription came in (its ``X-Emulator-Now`` / ``Date`` header).
    """

    def __init__(
        self, pc: Any, ledger: Ledger, *, price_list: Any = None, resolve_attempts: int = 4,
        sleep: Callable[[float], None] | None = None, clock: Callable[[], datetime] | None = None,
        price_source: Callable[[str], Any] | None = None,
    ) -> None:
        self.pc = pc
        self.clock = clock
        self.ledger = ledger
        self.price_list = price_list
        self.price_source = price_source
        self.resolve_attempts = resolve_attempts
        #: the waits between re-checkouts of one cart: cspkit's one retry policy (full jitter up to 2, 4, 8… s,
        #: capped at 30 s, raised to a 429's Retry-After), as the transport and the blob downloads use it
        self.retry_policy = RetryPolicy(max_attempts=max(1, resolve_attempts), backoff_base=2.0, backoff_cap=30.0)
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
        on: datetime | None = None, parent_subscription_id: str | None = None, promotion_id: str | None = None,
        coterm_with: str | None = None, term_end: date | None = None,
    ) -> OrderPlan:
        """Resolve ``item`` (``PRODUCT:SKU`` or a catalog item id) for the term and billing cycle and run the
        purchase guards. ``parent_subscription_id``: the subscription an add-on is bought onto (see
        :class:`OrderPlan`).

        ``promotion_id``: buy with this promotion — eligibility is verified first ("Verify promotion eligibility")
        and the promotional price shown. ``coterm_with`` (a subscription id) or ``term_end`` (the term's last day):
        align the new term's end — the allowed dates are read ("Get custom term end dates") and the prorated first
        charge is shown (:mod:`cspkit.workflows.ordering.extras`).

        Raises:
            ValueError: malformed item or quantity, or both ``coterm_with`` and ``term_end``; NotFoundError: unknown
            customer/product/SKU/availability or term not offered; PolicyError: the catalog says it cannot be
            bought, the promotion does not apply, or the end date is not offered (unless ``force``).
        """
        if coterm_with and term_end:
            raise ValueError("give either a subscription to co-term with or a term end date, not both")
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
            cancellation_policy=describe_policy(term), force=force,
            parent_subscription_id=parent_subscription_id or None,
        )
        now = on or (self.clock() if self.clock else None)
        self._price(plan, on=now)
        if promotion_id:
            self._promote(plan, promotion_id, force=force)
        if coterm_with or term_end:
            self._coterm(plan, coterm_with=coterm_with, term_end=term_end, today=(now or datetime.now(UTC)).date())
        return plan

    def _promote(self, plan: OrderPlan, promotion_id: str, *, force: bool) -> None:
        """Verify the promotion for the plan's line, then read its discount (Microsoft Learn "Verify promotion
        eligibility", "Get promotion by ID"). Raises PolicyError when it does not apply (unless ``force``)."""
        plan.promotion_id = promotion_id
        [result] = self.pc.promotions.eligibilities(plan.customer_id, [{
            "catalogItemId": plan.catalog_item_id, "quantity": plan.quantity, "termDuration": plan.term_duration,
            "billingCycle": plan.billing_cycle, "promotionId": promotion_id}]) or [None]
        eligibility = result.for_promotion(promotion_id) if result is not None else None
        if (eligibility is None or not eligibility.is_eligible) and not force:
            raise promotion_refusal(promotion_id, eligibility)
        try:
            promotion = self.pc.promotions.get(promotion_id, country=plan.country)
        except NotFoundError:
            plan.promotion_note = "promotion details not found: price unknown"
            return
        plan.promotion_name = promotion.name
        policy = promotion.policy_for(plan.product_id, plan.sku_id, plan.term_duration, plan.billing_cycle)
        if policy is not None and policy.percent_off is not None:
            plan.percent_off = policy.percent_off
        else:
            plan.promotion_note = (f"discount type {policy.policy_type if policy else 'unknown'} is not one cspkit "
                                   "prices (only PercentDiscount is documented): promotional price unknown")

    def _coterm(self, plan: OrderPlan, *, coterm_with: str | None, term_end: date | None, today: date) -> None:
        """Pick the allowed end date (Microsoft Learn "Get custom term end dates") and prorate the first charge."""
        allowed = self.pc.term_end_dates.list(plan.customer_id, term_duration=plan.term_duration,
                                              target_subscription_id=coterm_with)
        chosen = choose_term_end(allowed, coterm_with=coterm_with, term_end=term_end,
                                 term_duration=plan.term_duration)
        plan.term_end, plan.term_end_kind, plan.coterm_with = chosen.end_date.date(), chosen.kind, coterm_with
        if plan.period_price is not None:
            plan.first_charge = first_charge(purchase=today, last_day=plan.term_end,
                                             billing_cycle=plan.billing_cycle, period_price=plan.period_price,
                                             quantity=plan.quantity, percent_off=plan.percent_off)

    def price_list_for(self, market: str) -> Any:
        """The price list pricing ``market``: the one given, else the price source's (None when unknown)."""
        if self.price_list is not None or self.price_source is None:
            return self.price_list
        return self.price_source(market)

    def _price(self, plan: OrderPlan, *, on: datetime | None) -> None:
        price_list = self.price_list_for(plan.country)
        problems = getattr(self.price_source, "problems", {}) if self.price_list is None else {}
        plan.price_note = problems.get(plan.country)
        if price_list is None:
            return
        try:
            from cspkit.billing.pricelist_analysis import preview_cart_cost
        except ImportError:  # the price-list helper is optional: the price stays unknown
            return
        try:
            frame = preview_cart_cost(price_list, [{
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
                cart = self.pc.carts.create(customer_id, line_items=[plan.line()])
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
            promotion_id=request.get("promotionId"), coterm_with=request.get("cotermWith"),
            term_end=date.fromisoformat(request["customTermEndDate"]) if request.get("customTermEndDate") else None,
        )

    def _checkout(self, entry: LedgerEntry) -> OrderOutcome:
        customer_id, cart_id = entry.customer_id or "", entry.cart_id or ""
        request_id = entry.request_id or ""
        last: Exception | None = None
        for attempt in range(max(1, self.resolve_attempts)):
            if attempt:  # a busy cart (800064) or a dropped answer needs a moment
                self._sleep(self.retry_policy.wait_for(attempt, last))
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
        return self.pc.carts.create(plan.customer_id, line_items=[plan.line()])

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
    def resumable(self, entry_ids: list[int] | None = None) -> list[LedgerEntry]:
        """The entries to resume: ``entry_ids`` (default every unresolved entry of this ledger's target), keeping
        only those still ``pending``, ``submitted``, ``unknown`` or ``failed``.

        Raises:
            NotFoundError-like CspkitError: an unknown entry id (from the ledger); CspkitError (exit code 2): an
            entry went to another target (another emulator instance, Partner Center for another tenant, or before
            targets were recorded) — nothing is resumed then.
        """
        ledger = self.ledger
        entries = [ledger.get(i) for i in entry_ids] if entry_ids else ledger.unresolved()
        foreign = [e for e in entries if not ledger.is_current(e)]
        if foreign:
            error = CspkitError(
                "ledger entr" + ("y " if len(foreign) == 1 else "ies ") + ", ".join(str(e.id) for e in foreign)
                + f" went to another target ({'; '.join(sorted({e.target or 'unknown' for e in foreign}))}), not to "
                f"the current one ({ledger.target.label}): nothing was resumed",
                hint="Point cspkit at that target (--endpoint/--profile) to resume them; `cspkit ledger list "
                     "--target all` shows every entry with its target.")
            error.exit_code = EXIT_USAGE
            raise error
        return [e for e in entries if e.status in ("pending", "submitted", "unknown", "failed")]

    def resume_each(self, entries: list[LedgerEntry]) -> list[tuple[LedgerEntry, str, bool]]:
        """:meth:`resume` every entry in turn: ``(entry, what was done or the error, succeeded)``; a
        :class:`~cspkit.errors.CspkitError` on one entry is reported and the next one is resumed."""
        results = []
        for entry in entries:
            try:
                results.append((entry, self.resume(entry), True))
            except CspkitError as exc:
                results.append((entry, f"error: {exc}", False))
        return results

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
            error.exit_code = EXIT_USAGE
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
