"""The emulator's backend: Partner Center state machines behind methods named after the operations.

Its operations are grouped by area (:mod:`~cspkit.emulator.backend_catalog`, :mod:`~cspkit.emulator.backend_orders`,
:mod:`~cspkit.emulator.backend_billing`, subscriptions here); the marketplace
(:class:`~cspkit.emulator.saas.Marketplace`) and Graph exports (:class:`~cspkit.emulator.graph.GraphExports`) are
objects it holds.

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
from datetime import UTC, datetime
from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator._util import IdSource, add_duration, parse_dt
from cspkit.emulator.backend_billing import BillingOps
from cspkit.emulator.backend_catalog import CatalogOps
from cspkit.emulator.backend_orders import OrderOps
from cspkit.emulator.backend_promotions import PromotionOps
from cspkit.emulator.backend_transitions import TransitionOps
from cspkit.emulator.backend_usage import UsageOps
from cspkit.emulator.billing import cycle_end, cycle_span, prorated_span
from cspkit.emulator.catalog import Catalog, CatalogItem, load_seed
from cspkit.emulator.clock import Clock, Event
from cspkit.emulator.graph import GraphExports
from cspkit.emulator.models import (
    Cart,
    Charge,
    Customer,
    EmulatorError,
    Invoice,
    Order,
    SeatWindow,
    Subscription,
)
from cspkit.emulator.policy import Policy, policy_from
from cspkit.emulator.pricesheets import price_sheet
from cspkit.emulator.saas import Marketplace

__all__ = ["DEFAULT_NOW", "Backend"]

DEFAULT_NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)



class Backend(CatalogOps, OrderOps, BillingOps, UsageOps, TransitionOps, PromotionOps):
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

    def _add_customer(self, c: dict[str, Any], *, accepted: bool = True) -> Customer:
        """Add a customer; ``accepted``: it has confirmed the Microsoft Customer Agreement (seeded customers do)."""
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
        customer.agreements = [self._seed_agreement(customer)] if accepted else []
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
