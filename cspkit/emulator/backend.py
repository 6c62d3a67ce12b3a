"""The emulator's backend: Partner Center state machines behind methods named after the operations.

It knows nothing of HTTP. Every public method takes the backend's single lock; webhook deliveries queued while it
is held go out once it is released (so a webhook receiver may call back into the emulator). Time comes from
:attr:`Backend.clock` only.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator._util import IdSource, add_duration, add_months, parse_dt
from cspkit.emulator.billing import cycle_end, cycle_span, prorated_span
from cspkit.emulator.catalog import Catalog, CatalogItem, load_seed
from cspkit.emulator.clock import Clock, Event
from cspkit.emulator.models import (
    Cart,
    CartLine,
    Charge,
    Customer,
    EmulatorError,
    Invoice,
    Order,
    OrderLine,
    SeatWindow,
    Subscription,
)
from cspkit.emulator.policy import Policy, policy_from
from cspkit.emulator.graph import GraphExports
from cspkit.emulator.pricesheets import price_sheet
from cspkit.emulator.saas import Marketplace

__all__ = ["DEFAULT_NOW", "Backend"]

DEFAULT_NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

# CartErrorCode names (partner-center-api.md §3.3); the JSON carries the name.
CART_ERRORS = {
    10000: "CurrencyIsNotSupported",
    10001: "CatalogItemIdIsNotValid",
    10006: "UnableToProcessCartLineItem",
    10010: "InvalidInput",
    10013: "BillingPlanNotSupported",
    10015: "MaxAllowedSeatsPerSubscriptionExceeded",
}


class Backend:
    """All emulator state and the Partner Center / fulfillment operations on it."""

    def __init__(
        self,
        *,
        now: datetime = DEFAULT_NOW,
        policy: str | Policy = "current",
        seed: str | dict[str, Any] | None = "default",
        webhook_url: str | None = None,
        id_seed: int = 20261102,
    ) -> None:
        self.lock = threading.RLock()
        self._local = threading.local()
        self.clock = Clock(now, lock=self.lock)
        self.clock.bind(self._dispatch, self._flush_outbox)
        self.policy = policy_from(policy)
        self.webhook_url = webhook_url
        self._initial_now = parse_dt(now)
        self._seed = seed
        self._id_seed = id_seed
        self._outbox: list[Callable[[], None]] = []
        self.marketplace = Marketplace(self)  # the SaaS fulfillment side and the emulated publisher
        self.graph = GraphExports(self)  # Microsoft Graph billing exports and their blobs
        self._handlers: dict[str, Callable[[Event], None]] = {
            "term_end": self._on_term_end,
            "cycle": self._on_cycle,
            "month_end": self._on_month_end,
            "window_close": self._on_window_close,
            **self.marketplace.event_handlers(),
        }
        self.reset()

    # ======================================================================================================
    # state
    # ======================================================================================================
    @operation
    def reset(self, *, now: datetime | None = None, seed: str | dict[str, Any] | None = None) -> None:
        """Back to the seeded state; the clock goes back to the start time (or ``now``). A new ``instance_id`` is
        minted: clients journal writes per instance, so orders of the emulator before the reset never count."""
        self.instance_id = uuid.uuid4().hex
        if seed is not None:
            self._seed = seed
        self.ids = IdSource(self._id_seed)
        self.clock.reset(now or self._initial_now)
        self.customers: dict[str, Customer] = {}
        self.carts: dict[str, Cart] = {}
        self.orders: dict[str, Order] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.charges: list[Charge] = []
        self.invoices: dict[str, Invoice] = {}
        self.event_log: list[dict[str, Any]] = []
        self.request_results: dict[str, str] = {}  # MS-RequestId of idempotent creates → resource id
        self.invoice_counter = 0
        self.marketplace.reset()
        self.graph.reset()
        self._apply_seed(self._seed)
        self._schedule_month_end()

    def _apply_seed(self, seed: str | dict[str, Any] | None) -> None:
        if isinstance(seed, dict):
            catalog_doc = seed.get("catalog") or load_seed("catalog.json")
            customers_doc = seed.get("customers") or {"partner": load_seed("customers.json")["partner"]}
        elif seed in ("default", None):
            catalog_doc, customers_doc = load_seed("catalog.json"), load_seed("customers.json")
        elif seed == "empty":
            catalog_doc = load_seed("catalog.json")
            customers_doc = {"partner": load_seed("customers.json")["partner"], "customers": []}
        else:
            raise ValueError(f"unknown seed {seed!r}: use 'default', 'empty' or a dict with catalog/customers")
        self.catalog = Catalog(catalog_doc)
        self.partner: dict[str, Any] = dict(customers_doc["partner"])
        for c in customers_doc.get("customers", []):
            self._add_customer(c)

    @operation
    def seed(self, *, catalog: dict[str, Any] | None = None, customers: list[dict[str, Any]] | None = None) -> None:
        """Replace the catalog and/or add customers (seed shapes of sample_data/README.md)."""
        if catalog is not None:
            self.catalog = Catalog(catalog)
        for c in customers or []:
            self._add_customer(c)

    def _add_customer(self, c: dict[str, Any]) -> Customer:
        profile = {k: v for k, v in c.items() if k not in ("id", "commerceId", "companyName", "domain", "country")}
        customer = Customer(
            id=c.get("id") or self.ids.guid(),
            commerce_id=c.get("commerceId") or self.ids.guid(),
            company_name=c["companyName"],
            domain=c["domain"],
            country=c.get("country", "US").upper(),
            profile=profile,
            created=self.now(),
        )
        self.customers[customer.id] = customer
        return customer

    def now(self) -> datetime:
        return self.clock.now()

    def _owned(self, table: dict[str, Any], key: str, customer_id: str, code: str, what: str) -> Any:
        """A cart, order or subscription of this customer: 404 when it is missing *or another customer's*."""
        customer = self.get_customer(customer_id)
        found = table.get(key) or table.get((key or "").lower())
        if found is None or found.customer_id != customer.id:
            raise EmulatorError(404, code, f"{what} {key} was not found.")
        return found

    def _log(self, kind: str, **data: Any) -> None:
        self.event_log.append({"at": self.now(), "kind": kind, **data})

    def _dispatch(self, event: Event) -> None:
        self._handlers[event.kind](event)

    def _flush_outbox(self) -> None:
        if getattr(self._local, "depth", 0):
            return
        while True:
            with self.lock:
                if not self._outbox:
                    return
                jobs, self._outbox = self._outbox, []
            for job in jobs:
                job()

    # ======================================================================================================
    # customers
    # ======================================================================================================
    @operation
    def list_customers(self, *, name_prefix: str | None = None, domain_prefix: str | None = None) -> list[Customer]:
        out = list(self.customers.values())
        if name_prefix:
            out = [c for c in out if c.company_name.lower().startswith(name_prefix.lower())]
        if domain_prefix:
            out = [c for c in out if c.domain.lower().startswith(domain_prefix.lower())]
        return out

    @operation
    def get_customer(self, customer_id: str) -> Customer:
        customer = self.customers.get(customer_id) or self.customers.get((customer_id or "").lower())
        if customer is None:
            raise EmulatorError(404, "60003", f"Tenant {customer_id} not found.")
        return customer

    @operation
    def create_customer(
        self,
        *,
        company_name: str,
        domain: str,
        country: str,
        profile: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Customer:
        """Create a customer; idempotent on ``request_id`` (MS-RequestId)."""
        if request_id and request_id in self.request_results:
            return self.customers[self.request_results[request_id]]
        if not company_name or not domain or not country:
            raise EmulatorError(400, "800002", "companyName, domain and defaultAddress.country are required.")
        if not domain.lower().endswith(".onmicrosoft.com"):
            domain = f"{domain}.onmicrosoft.com"
        if any(c.domain.lower() == domain.lower() for c in self.customers.values()):
            raise EmulatorError(409, "600067", f"Domain {domain} is already in use.")
        customer = self._add_customer(
            {"companyName": company_name, "domain": domain, "country": country, **(profile or {})}
        )
        if request_id:
            self.request_results[request_id] = customer.id
        self._log("customer_created", customerId=customer.id)
        return customer

    # ======================================================================================================
    # catalog
    # ======================================================================================================
    def _check_catalog_query(self, country: str | None, target_view: str | None, target_segment: str | None) -> bool:
        """Validate catalog query parameters; False when the (valid) view/segment simply has nothing."""
        if not country:
            raise EmulatorError(400, "400056", "The country parameter is required.")
        if target_segment and target_segment.lower() not in ("commercial", "education", "government", "nonprofit"):
            raise EmulatorError(403, "400030", f"Access to the targetSegment {target_segment} is not allowed.")
        views = {
            "azure", "azurereservations", "azurereservationsvm", "azurereservationssql", "azurereservationscosmosdb",
            "microsoftazure", "onlineservices", "software", "softwaresuselinux", "softwareperpetual",
            "softwaresubscriptions",
        }
        if target_view is not None and target_view.lower() not in views:
            raise EmulatorError(403, "400036", f"Access to the targetView {target_view} is not allowed.")
        if target_segment and target_segment.lower() != self.catalog.segment:
            return False
        if self.catalog.market(country) is None:
            return False
        return target_view is None or target_view.lower() == "onlineservices"

    @operation
    def list_products(
        self, *, country: str | None, target_view: str | None, target_segment: str | None = None
    ) -> list[dict[str, Any]]:
        if not target_view:
            raise EmulatorError(400, "400056", "The targetView parameter is required.")
        if not self._check_catalog_query(country, target_view, target_segment):
            return []
        return self.catalog.products()

    @operation
    def get_product(self, product_id: str, *, country: str | None) -> dict[str, Any]:
        self._check_catalog_query(country, None, None)
        product = self.catalog.product(product_id)
        if product is None or self.catalog.market(country) is None:
            raise EmulatorError(404, "400013", f"Product {product_id} was not found.")
        return product

    @operation
    def list_skus(
        self, product_id: str, *, country: str | None, target_segment: str | None = None
    ) -> list[CatalogItem]:
        ok = self._check_catalog_query(country, None, target_segment)
        product = self.get_product(product_id, country=country)
        return [self.catalog.item(product["id"], s["id"]) for s in product["skus"]] if ok else []

    @operation
    def get_sku(self, product_id: str, sku_id: str, *, country: str | None) -> CatalogItem:
        product = self.get_product(product_id, country=country)
        item = self.catalog.item(product["id"], sku_id)
        if item is None:
            raise EmulatorError(404, "400018", f"SKU {sku_id} of product {product_id} was not found.")
        return item

    @operation
    def list_availabilities(
        self, product_id: str, sku_id: str, *, country: str | None, target_segment: str | None = None
    ) -> list[CatalogItem]:
        ok = self._check_catalog_query(country, None, target_segment)
        item = self.get_sku(product_id, sku_id, country=country)
        return [item] if ok else []

    @operation
    def get_availability(
        self, product_id: str, sku_id: str, availability_id: str, *, country: str | None
    ) -> CatalogItem:
        item = self.get_sku(product_id, sku_id, country=country)
        if item.availability_id.upper() != (availability_id or "").upper():
            raise EmulatorError(404, "400019", f"Availability {availability_id} was not found.")
        return item

    @operation
    def check_inventory(self, *, country: str | None, target_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._check_catalog_query(country, None, None)
        out = []
        for target in target_items:
            product = self.catalog.product(target.get("productId", ""))
            if product is None:
                continue  # items not in the catalog are omitted
            skus = [target["skuId"]] if target.get("skuId") else [s["id"] for s in product["skus"]]
            for sku_id in skus:
                if self.catalog.sku(product["id"], sku_id) is not None:
                    out.append({"productId": product["id"], "skuId": sku_id, "isRestricted": False, "restrictions": []})
        return out

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
            promotion_id=line.promotion_id,
        )
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

    # ======================================================================================================
    # subscriptions
    # ======================================================================================================
    @operation
    def list_subscriptions(self, customer_id: str, *, order_id: str | None = None) -> list[Subscription]:
        customer = self.get_customer(customer_id)
        out = [s for s in self.subscriptions.values() if s.customer_id == customer.id]
        if order_id:
            out = [s for s in out if s.order_id == order_id]
        return out

    @operation
    def get_subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        return self._owned(self.subscriptions, subscription_id, customer_id, "20003", "Subscription")

    @operation
    def list_addons(self, customer_id: str, subscription_id: str) -> list[Subscription]:
        sub = self.get_subscription(customer_id, subscription_id)
        return [s for s in self.subscriptions.values() if s.parent_subscription_id == sub.id]

    @staticmethod
    def etag(sub: Subscription) -> str:
        return hashlib.sha1(f"{sub.id}:{sub.etag_counter}".encode()).hexdigest()[:20]

    def _touch(self, sub: Subscription) -> None:
        sub.etag_counter += 1

    def open_windows(self, sub: Subscription) -> list[SeatWindow]:
        now = self.now()
        return [w for w in sub.seat_windows if w.until > now and w.quantity > 0]

    def refundable_quantity(self, sub: Subscription) -> int:
        return sum(w.quantity for w in self.open_windows(sub)) if sub.status == "active" else 0

    @operation
    def update_subscription(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        quantity: int | None = None,
        auto_renew: bool | None = None,
        status: str | None = None,
        friendly_name: str | None = None,
        etag: str | None = None,
    ) -> Subscription:
        """PATCH a subscription: quantity, autoRenewEnabled, status (active/suspended/deleted), friendlyName."""
        sub = self.get_subscription(customer_id, subscription_id)
        if etag is not None and etag.strip('"').removeprefix("W/").strip('"') != self.etag(sub):
            raise EmulatorError(412, "2055", "Etag is no longer valid. Get the subscription again and retry.")
        if sub.status in ("deleted", "expired"):
            unchanged = (
                (status is None or status.lower() == sub.status)
                and (quantity is None or int(quantity) == sub.quantity)
                and (auto_renew is None or bool(auto_renew) == sub.auto_renew)
                and (friendly_name is None or friendly_name == sub.friendly_name)
            )
            if unchanged:
                return sub
            raise EmulatorError(400, "2011", f"Subscription {sub.id} is {sub.status} and cannot be changed.")
        wanted = status.lower() if status else sub.status
        if wanted == "deleted" and sub.status != "deleted":
            self._cancel(sub)
            return sub
        if wanted != sub.status:
            self._change_status(sub, wanted)
        if quantity is not None and int(quantity) != sub.quantity:
            self._change_quantity(sub, int(quantity))
        if auto_renew is not None and bool(auto_renew) != sub.auto_renew:
            if sub.is_trial:
                raise EmulatorError(400, "800093", "A trial subscription is not eligible to be auto-renewed.")
            sub.auto_renew = bool(auto_renew)
            self._touch(sub)
            self.marketplace.auto_renew_changed(sub)
        if friendly_name is not None and friendly_name != sub.friendly_name:
            sub.friendly_name = friendly_name
            self._touch(sub)
        return sub

    def _change_status(self, sub: Subscription, wanted: str) -> None:
        allowed = {("active", "suspended"), ("suspended", "active")}
        if sub.is_saas or (sub.status, wanted) not in allowed:
            raise EmulatorError(
                400, "800040", f"Changing the status of subscription {sub.id} from {sub.status} to {wanted} "
                "is not allowed."
            )
        sub.status = wanted
        sub.suspension_reasons = ["ResellerInitiated"] if wanted == "suspended" else []
        self._touch(sub)
        self._log("subscription_status", subscriptionId=sub.id, status=wanted)

    def _check_quantity(self, sub: Subscription, quantity: int) -> CatalogItem:
        item = self.catalog.item(sub.product_id, sub.sku_id)
        lo, hi = (int(item.sku["minimumQuantity"]), int(item.sku["maximumQuantity"])) if item else (1, 10**6)
        if not lo <= quantity <= hi:
            raise EmulatorError(400, "2002", f"Quantity {quantity} is outside the allowed range {lo}-{hi}.")
        if sub.status == "pending":
            raise EmulatorError(400, "800081", f"Subscription {sub.id} has not been activated yet.")
        if sub.status == "suspended":
            raise EmulatorError(400, "800091", f"Subscription {sub.id} is suspended.")
        if quantity < sub.quantity:
            removable = self.refundable_quantity(sub)
            if sub.quantity - quantity > removable:
                raise EmulatorError(
                    400, "800090",
                    f"Quantity cannot be decreased by {sub.quantity - quantity}: only {removable} seat(s) are "
                    "inside their cancellation window.",
                )
        return item

    def _change_quantity(self, sub: Subscription, quantity: int) -> None:
        self._check_quantity(sub, quantity)
        if sub.is_saas:
            self.marketplace.request_quantity(sub, quantity)  # applied when the publisher ACKs (or auto-accepts)
            return
        self._apply_quantity(sub, quantity)

    def _apply_quantity(self, sub: Subscription, quantity: int) -> None:
        """Set the seat count now: the refund/charge pair over the rest of the cycle, and the seat windows."""
        now = self.now()
        old = sub.quantity
        if quantity == old:
            return
        kind = "addQuantity" if quantity > old else "removeQuantity"
        ref = self.ids.guid()
        span = prorated_span(now, sub.cycle_start, sub.cycle_end, sub.billing_cycle)
        self._charge(sub, kind, -1, old, span, ref)
        self._charge(sub, kind, +1, quantity, span, ref)
        if quantity > old:
            rule = self.policy.refund_rule(saas=sub.is_saas, term_duration=sub.term_duration)
            sub.seat_windows.append(SeatWindow(quantity - old, now, now + rule.full, now + rule.window))
            self.clock.schedule(now + rule.window, "window_close", subscription_id=sub.id, scope="seats")
        else:
            remove = old - quantity
            for window in sorted(self.open_windows(sub), key=lambda w: w.start, reverse=True):
                take = min(remove, window.quantity)
                window.quantity -= take
                remove -= take
                if not remove:
                    break
        sub.quantity = quantity
        sub.pending_quantity = None
        self._touch(sub)
        self._log(kind, subscriptionId=sub.id, old=old, new=quantity)

    def _cancel(self, sub: Subscription) -> None:
        now = self.now()
        if sub.status == "pending":  # never activated: nothing was billed
            self._end(sub, "deleted", reason="cancelled before activation")
            return
        window = sub.term_window
        if not sub.is_trial and (window is None or now > window.until):
            days = (window.until - window.start).days if window else 0
            hours = int((window.until - window.start).total_seconds() // 3600) if window else 0
            raise EmulatorError(
                400, "900117",
                f"You have passed your {days or hours}-{'day' if days else 'hour'} cancellation window "
                f"(it closed at {window.until.isoformat() if window else 'purchase'}).",
            )
        if not sub.is_trial and sub.unit_price:
            full = now <= window.full_until
            if full:
                span = cycle_span(sub.cycle_start, sub.cycle_end, sub.billing_cycle)
            else:
                span = prorated_span(now, sub.cycle_start, sub.cycle_end, sub.billing_cycle)
            self._charge(sub, "cancelImmediate", -1, sub.quantity, span, self.ids.guid(), full_refund=full)
        self._end(sub, "deleted", reason="cancelled")
        for addon in [s for s in self.subscriptions.values() if s.parent_subscription_id == sub.id]:
            if addon.status == "active":
                self._end(addon, "deleted", reason="parent cancelled")

    def _end(self, sub: Subscription, status: str, *, reason: str) -> None:
        sub.status = status
        sub.auto_renew = False
        sub.cancelled_at = self.now()
        sub.pending_quantity = None
        self._touch(sub)
        self.clock.cancel(lambda e: e.data.get("subscription_id") == sub.id and e.kind in ("term_end", "cycle"))
        self._log(f"subscription_{status}", subscriptionId=sub.id, reason=reason)
        self.marketplace.ended(sub, reason)

    # -- terms, cycles, charges ---------------------------------------------------------------------------
    def _start_term(self, sub: Subscription, *, charge_type: str, reference_id: str) -> None:
        """Begin a term now (purchase, activation, renewal): dates, windows, the first cycle's charge, events."""
        now = self.now()
        if sub.status != "suspended":  # a suspended subscription renews suspended
            sub.status = "active"
        sub.effective_start = now
        sub.commitment_end = add_duration(now, sub.term_duration)
        sub.cycle_start = now
        sub.cycle_end = min(cycle_end(now, sub.billing_cycle, sub.term_duration), sub.commitment_end)
        rule = self.policy.refund_rule(saas=sub.is_saas, term_duration=sub.term_duration)
        if sub.is_trial:  # free trials can be cancelled any time during the trial
            window = SeatWindow(sub.quantity, now, sub.commitment_end, sub.commitment_end)
        else:
            window = SeatWindow(sub.quantity, now, now + rule.full, now + rule.window)
        sub.term_window = window
        sub.seat_windows = [copy.copy(window)]
        self._touch(sub)
        span = cycle_span(now, sub.cycle_end, sub.billing_cycle)
        self._charge(sub, charge_type, +1, sub.quantity, span, reference_id)
        self.clock.schedule(window.until, "window_close", subscription_id=sub.id, scope="term")
        self.clock.schedule(sub.commitment_end, "term_end", subscription_id=sub.id, term_end=sub.commitment_end)
        if sub.cycle_end < sub.commitment_end:
            self.clock.schedule(sub.cycle_end, "cycle", subscription_id=sub.id, cycle_end=sub.cycle_end)

    def _charge(
        self,
        sub: Subscription,
        charge_type: str,
        sign: int,
        quantity: int,
        span: tuple,
        reference_id: str,
        *,
        full_refund: bool = False,
    ) -> Charge:
        customer = self.customers[sub.customer_id]
        item = self.catalog.item(sub.product_id, sub.sku_id)
        term = item.term(sub.term_duration, sub.billing_cycle) if item else None
        charge_start, charge_end, cycle_days, billing_days = span
        qualifiers = (["AddOn"] if sub.is_addon else []) + (["Trial"] if sub.is_trial else [])
        charge = Charge(
            id=self.ids.guid(),
            charge_type=charge_type,
            at=self.now(),
            sign=sign,
            quantity=quantity,
            unit_price=sub.unit_price,
            currency=sub.currency,
            charge_start=charge_start,
            charge_end=charge_end,
            cycle_days=cycle_days,
            billing_days=billing_days,
            full_refund=full_refund,
            reference_id=reference_id,
            subscription_id=sub.id,
            subscription_start=sub.effective_start.date(),
            subscription_end=(sub.commitment_end - timedelta(days=1)).date(),
            order_id=sub.order_id,
            customer_id=customer.id,
            customer_name=customer.company_name,
            customer_domain=customer.domain,
            customer_country=customer.country,
            product_id=sub.product_id,
            sku_id=sub.sku_id,
            availability_id=sub.availability_id,
            product_name=item.product["title"] if item else sub.offer_name,
            sku_name=sub.offer_name,
            publisher_name=sub.publisher_name,
            publisher_id=sub.publisher_id,
            subscription_description=sub.friendly_name,
            term_and_billing_cycle=term.description if term else "",
            billing_frequency={"monthly": "Monthly", "annual": "Annual"}.get(sub.billing_cycle, ""),
            product_qualifiers=qualifiers,
            promotion_id=sub.promotion_id or "",
            product_category="SaaS" if sub.is_saas else "OnlineServices",
        )
        self.charges.append(charge)
        return charge

    def _on_cycle(self, event: Event) -> None:
        sub = self.subscriptions.get(event.data["subscription_id"])
        if sub is None or sub.status not in ("active", "suspended") or sub.cycle_end != event.data["cycle_end"]:
            return
        sub.cycle_start = sub.cycle_end
        sub.cycle_end = min(cycle_end(sub.cycle_start, sub.billing_cycle, sub.term_duration), sub.commitment_end)
        sub.pending_quantity = None
        self._touch(sub)
        span = cycle_span(sub.cycle_start, sub.cycle_end, sub.billing_cycle)
        self._charge(sub, "cycleCharge", +1, sub.quantity, span, self.ids.guid())
        self._log("cycle_charge", subscriptionId=sub.id)
        if sub.cycle_end < sub.commitment_end:
            self.clock.schedule(sub.cycle_end, "cycle", subscription_id=sub.id, cycle_end=sub.cycle_end)

    def _on_term_end(self, event: Event) -> None:
        sub = self.subscriptions.get(event.data["subscription_id"])
        if sub is None or sub.status not in ("active", "suspended") or sub.commitment_end != event.data["term_end"]:
            return
        if sub.auto_renew and not sub.is_trial:
            item = self.catalog.item(sub.product_id, sub.sku_id)
            term = item.term(sub.term_duration, sub.billing_cycle) if item else None
            if term is not None:  # price changes apply at renewal
                sub.unit_price, sub.list_price = term.unit_price(sub.currency), term.erp_price(sub.currency)
            self._start_term(sub, charge_type="renew", reference_id=self.ids.guid())
            self._log("renewed", subscriptionId=sub.id)
            self.marketplace.renewed(sub)
        else:
            self._end(sub, "expired", reason="term ended without auto-renew")

    def _on_window_close(self, event: Event) -> None:
        self._log("window_closed", subscriptionId=event.data["subscription_id"], scope=event.data.get("scope"))

    # ======================================================================================================
    # invoices
    # ======================================================================================================
    def _schedule_month_end(self) -> None:
        now = self.now()
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        self.clock.schedule(add_months(first, 1), "month_end")

    def _on_month_end(self, event: Event) -> None:
        boundary = event.due
        start = add_months(boundary, -1)
        self._close_period(start, boundary)
        self.clock.schedule(add_months(boundary, 1), "month_end")

    def _close_period(self, start: datetime, end: datetime) -> list[Invoice]:
        made = []
        currencies = sorted({c.currency for c in self.charges if start <= c.at < end})
        for currency in currencies:
            invoice = Invoice(
                id=self._next_invoice_id(),
                currency=currency,
                period_start=start.date(),
                period_end=(end - timedelta(days=1)).date(),
                invoice_date=end,
            )
            self.invoices[invoice.id] = invoice
            made.append(invoice)
            self._log("invoice_issued", invoiceId=invoice.id, currency=currency)
        return made

    def _next_invoice_id(self) -> str:
        self.invoice_counter += 1
        return f"G{100000000 + self.invoice_counter:09d}"

    @operation
    def list_invoices(self) -> list[Invoice]:
        return sorted(self.invoices.values(), key=lambda i: (i.invoice_date, i.id), reverse=True)

    @operation
    def get_invoice(self, invoice_id: str) -> Invoice:
        invoice = self.invoices.get((invoice_id or "").upper())
        if invoice is None:
            raise EmulatorError(404, "20000", f"Invoice {invoice_id} was not found.")
        return invoice

    def invoice_charges(self, invoice: Invoice) -> list[Charge]:
        start = datetime.combine(invoice.period_start, datetime.min.time(), UTC)
        end = datetime.combine(invoice.period_end + timedelta(days=1), datetime.min.time(), UTC)
        return [c for c in self.charges if c.currency == invoice.currency and start <= c.at < end]

    def open_period(self, period: str = "current") -> tuple[datetime, datetime]:
        now = self.now()
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if period.lower() == "previous":
            return add_months(start, -1), start
        return start, add_months(start, 1)

    @operation
    def unbilled_charges(self, *, currency: str, period: str = "current") -> list[Charge]:
        """Charges of an open period not on any invoice yet (``previous``: last period, if still uninvoiced)."""
        start, end = self.open_period(period)
        invoiced = {(i.period_start, i.currency) for i in self.invoices.values()}
        if (start.date(), currency.upper()) in invoiced:
            return []
        return [c for c in self.charges if c.currency == currency.upper() and start <= c.at < end]

    @operation
    def add_synthetic_invoice(self, *, lines: int, currency: str = "USD") -> Invoice:
        """Benchmark hook: an invoice whose ``lines`` reconciliation lines are generated on demand."""
        start = add_months(self.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0), -1)
        invoice = Invoice(
            id=self._next_invoice_id(),
            currency=currency.upper(),
            period_start=start.date(),
            period_end=(add_months(start, 1) - timedelta(days=1)).date(),
            invoice_date=add_months(start, 1),
            synthetic_lines=int(lines),
        )
        self.invoices[invoice.id] = invoice
        return invoice

    # ======================================================================================================
    # persistence
    # ======================================================================================================
    _PERSISTED = (
        "customers", "carts", "orders", "subscriptions", "charges", "invoices", "event_log", "request_results",
        "invoice_counter", "partner", "policy", "webhook_url", "instance_id",
    )

    @operation
    def export_state(self) -> dict[str, Any]:
        """Everything needed to continue later (see :mod:`cspkit.emulator.state`)."""
        doc = {name: getattr(self, name) for name in self._PERSISTED}
        doc.update({name: getattr(self.marketplace, name) for name in Marketplace._PERSISTED})
        doc.update(catalog=dict(self.catalog), clock=self.clock.to_state(), ids=self.ids.getstate(),
                   initial_now=self._initial_now, graph=self.graph.to_state())
        return doc

    @operation
    def import_state(self, doc: dict[str, Any]) -> None:
        for name in self._PERSISTED:
            if name in doc:
                setattr(self, name, doc[name])
        for name in Marketplace._PERSISTED:
            if name in doc:
                setattr(self.marketplace, name, doc[name])
        self.catalog = Catalog(doc["catalog"])
        self.clock.load_state(doc["clock"])
        self.ids.setstate(doc["ids"])
        self._initial_now = doc.get("initial_now", self._initial_now)
        self.graph.load_state(doc.get("graph"))

    def price_sheet(self, *, market: str, view: str, timeline: str = "current", month: str | None = None) -> str:
        """The CSV price sheet of the seeded catalog (:func:`cspkit.emulator.pricesheets.price_sheet`: views,
        timelines and errors as Partner Center's price-sheet API)."""
        return price_sheet(dict(self.catalog), market=market, view=view, timeline=timeline, month=month)

    # ======================================================================================================
    # inspection
    # ======================================================================================================
    @operation
    def state_summary(self) -> dict[str, Any]:
        return {
            "now": self.now(),
            "policy": self.policy.name,
            "instance": self.instance_id,
            "partnerTenantId": self.partner["tenantId"],
            "customers": len(self.customers),
            "carts": len(self.carts),
            "orders": len(self.orders),
            "subscriptions": {s: sum(1 for x in self.subscriptions.values() if x.status == s)
                              for s in sorted({x.status for x in self.subscriptions.values()})},
            "saasSubscriptions": len(self.marketplace.saas),
            "charges": len(self.charges),
            "invoices": [i.id for i in self.list_invoices()],
            "pendingEvents": [{"due": e.due, "kind": e.kind, **e.data} for e in self.clock.pending[:50]],
            "eventLog": self.event_log[-100:],
        }
