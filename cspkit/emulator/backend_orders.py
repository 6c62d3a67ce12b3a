"""Carts and orders: validation of cart lines, checkout, create order, provisioning (a part of
:class:`~cspkit.emulator.backend.Backend`)."""

from __future__ import annotations

from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator.models import (
    Cart,
    CartLine,
    Customer,
    EmulatorError,
    Order,
    OrderLine,
    Subscription,
)

__all__ = ["CART_ERRORS", "OrderOps"]

# CartErrorCode names (partner-center-api.md §3.3); the JSON carries the name.
CART_ERRORS = {
    10000: "CurrencyIsNotSupported",
    10001: "CatalogItemIdIsNotValid",
    10006: "UnableToProcessCartLineItem",
    10010: "InvalidInput",
    10013: "BillingPlanNotSupported",
    10014: "InvalidPromotionId",
    10015: "MaxAllowedSeatsPerSubscriptionExceeded",
    10016: "InvalidCustomTermEndDateProduct",
    10017: "InvalidCustomTermEndDate",
}


class OrderOps:
    """Operations of :class:`~cspkit.emulator.backend.Backend` on its state (its lock, clock and tables)."""

    # ======================================================================================================
    # carts
    # ======================================================================================================
    def _currency(self, customer: Customer) -> str:
        return self.catalog.currency_for(customer.country)

    def _validate_line(self, customer: Customer, line: CartLine, parent: CartLine | None) -> None:
        """Fill server-side fields of a cart line and set ``line.error`` when it cannot be ordered."""
        line.error = None
        line.currency_code = self._currency(customer)

        def fail(code: int, description: str) -> None:
            line.error = {"errorCode": CART_ERRORS[code], "errorDescription": description, "additionalInformation": {}}

        item = self.catalog.resolve(line.catalog_item_id)
        if item is None or self.catalog.market(customer.country) is None:
            return fail(10001, f"The catalog item id {line.catalog_item_id} is not valid.")
        if item.is_azure_plan:  # quantity 1, no term (backend_usage)
            if (why := self._azure_plan_line_error(customer, line, item)) is not None:
                return fail(10010, why)
            return None
        if line.currency_code not in item.sku["terms"][0]["prices"]:
            return fail(10000, f"Currency {line.currency_code} is not supported for this item.")
        if not line.term_duration or not line.billing_cycle:
            return fail(10010, "termDuration and billingCycle are required for this catalog item.")
        if item.term(line.term_duration, line.billing_cycle) is None:
            offered = ", ".join(f"{t.duration}/{t.billing_cycle}" for t in item.terms)
            return fail(
                10013,
                f"Billing cycle {line.billing_cycle} with term {line.term_duration} is not supported for "
                f"{line.catalog_item_id} (offered: {offered}).",
            )
        lo, hi = int(item.sku["minimumQuantity"]), int(item.sku["maximumQuantity"])
        if line.quantity > hi:
            return fail(10015, f"Quantity {line.quantity} exceeds the maximum of {hi} for this item.")
        if line.quantity < lo:
            return fail(10010, f"Quantity {line.quantity} is below the minimum of {lo} for this item.")
        if item.is_addon:
            prerequisites = {p.upper() for p in item.sku.get("prerequisiteSkus", [])}
            if parent is not None:
                base = self.catalog.resolve(parent.catalog_item_id)
                ok = base is not None and f"{base.product_id}:{base.sku_id}".upper() in prerequisites
            else:
                parent_id = (line.provisioning_context or {}).get("parentSubscriptionId")
                sub = self.subscriptions.get(parent_id or "")
                ok = (
                    sub is not None
                    and sub.customer_id == customer.id
                    and sub.status == "active"
                    and f"{sub.product_id}:{sub.sku_id}".upper() in prerequisites
                )
            if not ok:
                return fail(
                    10006,
                    "An add-on needs a qualifying base: buy it in the base line's addonItems or set "
                    "provisioningContext.parentSubscriptionId to an active subscription of "
                    + ", ".join(sorted(prerequisites)),
                )
        if line.promotion_id:  # promotions and co-terming: cspkit.emulator.backend_promotions
            reasons = self._promotion_errors(customer, self._find_promotion(line.promotion_id), line.catalog_item_id,
                                             line.quantity, line.term_duration, line.billing_cycle)
            if reasons:
                return fail(10014, f"Promotion {line.promotion_id} cannot be applied: "
                            + " ".join(f"{r['type']}: {r['description']}" for r in reasons))
        coterm = self._check_custom_term_end(customer, line, item)
        if coterm:
            return fail(*coterm)
        for addon in line.addon_items:
            self._validate_line(customer, addon, line)

    def _assign_groups(self, lines: list[CartLine]) -> None:
        groups: dict[tuple[str, str], str] = {}
        for line in lines:
            item = self.catalog.resolve(line.catalog_item_id)
            key = ("saas" if item and item.is_saas else "seat", (line.billing_cycle or "").lower())
            line.order_group = groups.setdefault(key, str(len(groups)))
            for addon in line.addon_items:
                addon.order_group = line.order_group

    def _prepare_lines(self, customer: Customer, lines: list[CartLine]) -> list[CartLine]:
        if not lines:
            raise EmulatorError(400, "800002", "A cart needs at least one line item.")
        for i, line in enumerate(lines):
            if line.id is None:
                line.id = i
            for j, addon in enumerate(line.addon_items):
                if addon.id is None:
                    addon.id = j
            self._validate_line(customer, line, None)
        self._assign_groups(lines)
        return lines

    @operation
    def create_cart(self, customer_id: str, *, lines: list[CartLine], attestation: bool | None = None) -> Cart:
        customer = self.get_customer(customer_id)
        now = self.now()
        cart = Cart(
            id=self.ids.guid(),
            customer_id=customer.id,
            created=now,
            modified=now,
            expires=now + self.policy.cart_expiry,
            lines=self._prepare_lines(customer, lines),
            last_modified_user=self.partner["tenantId"],
            partner_on_record_attestation_accepted=attestation,
        )
        self.carts[cart.id] = cart
        return cart

    @operation
    def get_cart(self, customer_id: str, cart_id: str) -> Cart:
        return self._owned(self.carts, cart_id, customer_id, "800008", "Cart")

    @operation
    def update_cart(self, customer_id: str, cart_id: str, *, lines: list[CartLine]) -> Cart:
        cart = self.get_cart(customer_id, cart_id)
        if cart.status != "Active":
            raise EmulatorError(400, "800065", f"Cannot update an already submitted cart {cart_id}.")
        if self.now() >= cart.expires:
            raise EmulatorError(400, "800002", f"Cart {cart_id} expired at {cart.expires.isoformat()}.")
        cart.lines = self._prepare_lines(self.customers[cart.customer_id], lines)
        cart.modified = self.now()
        return cart

    @operation
    def checkout_cart(self, customer_id: str, cart_id: str) -> tuple[list[Order], list[dict[str, Any]]]:
        """Order every order group of the cart. Idempotent: a repeat returns the original result."""
        cart = self.get_cart(customer_id, cart_id)
        if cart.status == "Ordered":
            return [self.orders[o] for o in cart.order_ids], list(cart.order_errors)
        now = self.now()
        if now >= cart.expires:
            raise EmulatorError(400, "800002", f"Cart {cart_id} expired at {cart.expires.isoformat()}.")
        customer = self.customers[cart.customer_id]
        self.require_customer_agreement(customer)
        for line in cart.lines:  # revalidate: time has passed (parents cancelled, catalog reseeded, ...)
            self._validate_line(customer, line, None)
        groups: dict[str, list[CartLine]] = {}
        for line in cart.lines:
            groups.setdefault(line.order_group or "0", []).append(line)
        orders, errors = [], []
        for group_id, lines in groups.items():
            bad = [ln for ln in lines for x in (ln, *ln.addon_items) if x.error]
            if bad:
                errors.append({
                    "orderGroupId": group_id,
                    "code": 800009,
                    "description": "Error in cart items: "
                    + "; ".join(f"line {x.id}: {x.error['errorDescription']}" for ln in bad
                                for x in (ln, *ln.addon_items) if x.error),
                })
                continue
            orders.append(self._place_order(customer, cart, lines))
        if orders:
            cart.status = "Ordered"
            cart.order_ids = [o.id for o in orders]
            cart.order_errors = errors
            cart.modified = now
        return orders, errors

    # ======================================================================================================
    # orders
    # ======================================================================================================
    @operation
    def create_order(self, customer_id: str, *, lines: list[CartLine], request_id: str | None = None) -> Order:
        """Create an order directly (``POST /customers/{c}/orders``): the checkout's validation and billing,
        without a cart. A line that cannot be ordered refuses the whole order (400 800002, naming the line).
        Idempotent on ``request_id`` (MS-RequestId): a retry returns the order already placed."""
        customer = self.get_customer(customer_id)
        key = f"order:{request_id}" if request_id else None
        if key and key in self.request_results:
            return self.orders[self.request_results[key]]
        self.require_customer_agreement(customer)
        lines = self._prepare_lines(customer, lines)
        bad = [x for ln in lines for x in (ln, *ln.addon_items) if x.error]
        if bad:
            raise EmulatorError(400, "800002", "; ".join(
                f"line {x.id}: {x.error['errorDescription']}" for x in bad if x.error))
        order = self._place_order(customer, None, lines)
        if key:
            self.request_results[key] = order.id
        return order

    def _place_order(self, customer: Customer, cart: Cart | None, lines: list[CartLine]) -> Order:
        now = self.now()
        market = self.catalog.market(customer.country) or {"currency": "USD", "currencySymbol": "$"}
        order = Order(
            id=self.ids.hex(12),
            customer_id=customer.id,
            billing_cycle=(lines[0].billing_cycle or "monthly").lower(),
            currency=market["currency"],
            currency_symbol=market.get("currencySymbol", ""),
            lines=[],
            created=now,
            visible_after=now + self.policy.order_list_delay,
            cart_id=cart.id if cart else None,
        )
        self.orders[order.id] = order
        for line in lines:
            sub = self._provision(customer, order, line, parent=None)
            for addon in line.addon_items:
                self._provision(customer, order, addon, parent=sub)
        self._log("order_placed", orderId=order.id, customerId=customer.id)
        return order

    def _provision(self, customer: Customer, order: Order, line: CartLine, parent: Subscription | None) -> Subscription:
        item = self.catalog.resolve(line.catalog_item_id)
        assert item is not None
        if item.is_azure_plan:
            return self._provision_azure_plan(customer, order, line, item)
        term = item.term(line.term_duration, line.billing_cycle)
        assert term is not None
        currency = self._currency(customer)
        parent_id = parent.id if parent else (line.provisioning_context or {}).get("parentSubscriptionId")
        now = self.now()
        sub = Subscription(
            id=self.ids.guid(),
            customer_id=customer.id,
            order_id=order.id,
            product_id=item.product_id,
            sku_id=item.sku_id,
            availability_id=item.availability_id,
            offer_name=item.sku["title"],
            friendly_name=line.friendly_name or item.sku["title"],
            quantity=line.quantity,
            status="pending",
            auto_renew=not item.is_trial,
            billing_cycle=term.billing_cycle,
            term_duration=term.duration,
            currency=currency,
            unit_price=term.unit_price(currency),
            list_price=term.erp_price(currency),
            creation_date=now,
            product_type=item.product["productType"],
            publisher_name=item.product.get("publisherName", ""),
            publisher_id=item.product.get("publisherId", ""),
            is_trial=item.is_trial,
            is_addon=item.is_addon,
            is_saas=item.is_saas,
            parent_subscription_id=parent_id,
        )
        self._apply_promotion(sub, line)
        self.subscriptions[sub.id] = sub
        order.lines.append(
            OrderLine(
                line_item_number=len(order.lines),
                offer_id=item.catalog_item_id,
                quantity=line.quantity,
                term_duration=term.duration,
                billing_cycle=term.billing_cycle,
                subscription_id=sub.id,
                parent_subscription_id=parent_id,
                friendly_name=line.friendly_name or item.sku["title"],
                provisioning_context=dict(line.provisioning_context or {}),
                is_saas=item.is_saas,
                unit_price=sub.unit_price,
                list_price=sub.list_price,
            )
        )
        if item.is_saas:
            self.marketplace.create_saas_subscription(customer, sub, item)  # pending until the publisher activates
        elif line.custom_term_end_date is not None:
            self._start_coterm(sub, last_day=line.custom_term_end_date.date(), reference_id=self.ids.guid())
        else:
            self._start_term(sub, charge_type="new", reference_id=self.ids.guid())
        return sub

    @operation
    def get_order(self, customer_id: str, order_id: str) -> Order:
        return self._owned(self.orders, order_id, customer_id, "20000", "Order")

    @operation
    def list_orders(self, customer_id: str, *, billing_type: str | None = None) -> list[Order]:
        """The customer's orders that have become visible (new orders appear after the policy's delay)."""
        customer = self.get_customer(customer_id)
        now = self.now()
        out = [o for o in self.orders.values() if o.customer_id == customer.id and o.visible_after <= now]
        if billing_type:
            wanted = billing_type.lower().replace("_", "")
            out = [o for o in out if o.billing_cycle.replace("_", "") == wanted]
        return out

    @operation
    def order_activation_links(
        self, customer_id: str, order_id: str, line_item_number: int | None = None
    ) -> list[tuple[int, str, str]]:
        """Activation links of an order (or one line): ``(lineItemNumber, publisherId, token)`` per SaaS line."""
        order = self.get_order(customer_id, order_id)
        lines = order.lines
        if line_item_number is not None:
            lines = [ln for ln in order.lines if ln.line_item_number == line_item_number]
            if not lines:
                raise EmulatorError(404, "20000", f"Order {order_id} has no line item {line_item_number}.")
        out = []
        for line in lines:
            sub = self.subscriptions.get(line.subscription_id or "")
            if line.is_saas and sub is not None and sub.saas_id:
                publisher_id, token = self.marketplace.mint_activation(sub)
                out.append((line.line_item_number, publisher_id, token))
        return out
