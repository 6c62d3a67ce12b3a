"""Upgrades (transitions) and changes at renewal (``scheduledNextTermInstructions``): a part of
:class:`~cspkit.emulator.backend.Backend`.

Shapes and rules (docs/partner-center-transitions.md has the wire shapes and their sources):

- **Upgrade paths** come from the seed catalog: a SKU's ``upgradeTargetOffers`` lists the ``productId:skuId`` it may
  be upgraded to (Partner Center publishes them as the SKU's ``dynamicAttributes.upgradeTargetOffers``;
  partner-center-api.md §2.3) — higher SKUs only, e.g. Microsoft 365 Business Basic → Standard → Premium.
- **Eligibilities** (``GET …/transitionEligibilities?eligibilityType=immediate|scheduled``, "Transition a new
  commerce subscription"): one item per target with ``eligibilities[] {isEligible, transitionType, errors}``; an
  immediate upgrade keeps the term and billing cycle, a scheduled one (at renewal) may pick any of the target's
  terms. A source that is not active is not eligible ("Subscription cannot be Transitioned - source subscription is
  not active.").
- **Create a transition** (``POST …/transitions``, body ``{toCatalogItemId | toSubscriptionId, quantity,
  transitionType, termDuration, billingCycle}``): all seats or N of them move at once. The target is a new
  subscription ending with the source's term (or an existing one, ``toSubscriptionId``). Billing (billing-formats.md
  §2.1 [doc S4]: ``convert`` "upgrade: a base-refund line plus a new-product charge line"; ``moveQuantity`` "upgrade
  into an existing subscription"): from the transition date to the end of the current billing cycle, prorated
  (:func:`cspkit.emulator.billing.prorated_span`), one reference id for every line of the transition —
  the source is credited with a ``convert`` refund of its seats (a full upgrade; the source then ends, ``expired``)
  or a ``convert`` refund/charge pair to its remaining seats (a partial upgrade, the seat-change pair pattern of
  §2.1), and the target is charged a ``convert`` line for the moved seats (a new subscription) or a
  ``moveQuantity`` pair (an existing one). "If you make a mid-term (immediate) change before your renewal date, all
  scheduled changes … are deleted" (create-scheduled-changes): the source's instructions are cleared.
- **Get transitions** (``GET …/transitions``): the history, with ``events[] {name: Conversion, status, timestamp}``.
- **Scheduled changes** ("Schedule changes for a new commerce subscription", create-scheduled-changes): PATCH the
  subscription with ``scheduledNextTermInstructions {product: {productId, skuId, availabilityId, billingCycle,
  termDuration}, quantity}`` (null clears); auto-renew must be on. Validated against the catalog (the SKU itself or
  an upgrade target, a term the target offers, the quantity within its bounds) and applied by the term-end event
  (:meth:`TransitionOps._apply_next_term`): the renewal (charge type ``renew``) is of the new SKU, term, billing
  cycle and seats at the new SKU's price.
"""

from __future__ import annotations

import copy
from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator.billing import prorated_span
from cspkit.emulator.catalog import CatalogItem
from cspkit.emulator.models import EmulatorError, SeatWindow, Subscription

__all__ = ["ELIGIBILITY_TYPES", "TRANSITION_TYPES", "TransitionOps"]

ELIGIBILITY_TYPES = ("immediate", "scheduled")
TRANSITION_TYPES = ("transition_only", "transition_with_license_transfer")


class TransitionOps:
    """Operations of :class:`~cspkit.emulator.backend.Backend` on its state (its lock, clock and tables)."""

    # -- upgrade paths ----------------------------------------------------------------------------------------
    def upgrade_targets(self, sub: Subscription) -> list[CatalogItem]:
        """The SKUs a subscription may be upgraded to (its SKU's ``upgradeTargetOffers`` in the seed catalog)."""
        sku = self.catalog.sku(sub.product_id, sub.sku_id) or {}
        out = []
        for ref in sku.get("upgradeTargetOffers") or []:
            product_id, _, sku_id = str(ref).partition(":")
            item = self.catalog.item(product_id, sku_id)
            if item is not None:
                out.append(item)
        return out

    @operation
    def transition_eligibilities(self, customer_id: str, subscription_id: str, *,
                                 eligibility_type: str) -> list[dict[str, Any]]:
        """``GET …/transitionEligibilities?eligibilityType=``: per target, ``item``, ``terms`` (the terms it may
        move to), ``quantity`` and ``eligibilities`` (transition type, eligible, errors as (code, description))."""
        sub = self.get_subscription(customer_id, subscription_id)
        kind = (eligibility_type or "").strip().lower()
        if kind not in ELIGIBILITY_TYPES:
            raise EmulatorError(400, "800002", f"eligibilityType must be one of {', '.join(ELIGIBILITY_TYPES)}, "
                                f"got {eligibility_type!r}.")
        errors: list[tuple[int, str]] = []
        if sub.status != "active":
            errors.append((1, "Subscription cannot be Transitioned - source subscription is not active."))
        elif kind == "scheduled" and not sub.auto_renew:
            errors.append((2, "Subscription cannot be Transitioned at renewal - auto-renew is off."))
        out = []
        for item in self.upgrade_targets(sub):
            if kind == "immediate":
                terms = [t for t in item.terms if t.duration == sub.term_duration
                         and t.billing_cycle.lower() == sub.billing_cycle.lower()]
            else:
                terms = list(item.terms)
            item_errors = list(errors) or ([] if terms else [(4, "The target offers no matching term.")])
            out.append({
                "item": item, "quantity": sub.quantity, "terms": terms,
                "eligibilities": [(t, not item_errors, item_errors) for t in TRANSITION_TYPES],
            })
        return out

    # -- immediate upgrades -----------------------------------------------------------------------------------
    @operation
    def create_transition(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        to_catalog_item_id: str | None = None,
        to_subscription_id: str | None = None,
        quantity: int | None = None,
        transition_type: str | None = None,
        term_duration: str | None = None,
        billing_cycle: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST …/transitions``: move ``quantity`` seats (all when None) to the target now; returns the
        transition record (snake_case; see the module docstring for the billing)."""
        key = f"transition:{request_id}" if request_id else None
        src = self.get_subscription(customer_id, subscription_id)
        if key and key in self.request_results:  # MS-RequestId: a retried POST answers the first result
            return next(t for t in src.transitions if t["operation_id"] == self.request_results[key])
        kind = (transition_type or "transition_only").strip().lower()
        if kind not in TRANSITION_TYPES:
            raise EmulatorError(400, "800002", f"transitionType must be one of {', '.join(TRANSITION_TYPES)}, "
                                f"got {transition_type!r}.")
        if src.status != "active":
            raise EmulatorError(400, "800040", f"Subscription {src.id} cannot be transitioned: it is {src.status}, "
                                "not active.")
        target_sub = None
        if to_subscription_id:
            target_sub = self.get_subscription(customer_id, to_subscription_id)
            if target_sub.status != "active" or target_sub.id == src.id:
                raise EmulatorError(400, "800002", f"Subscription {to_subscription_id} cannot receive the seats: "
                                    "it must be another active subscription.")
            item = self.catalog.item(target_sub.product_id, target_sub.sku_id)
        else:
            item = self.catalog.resolve(to_catalog_item_id)
            if item is None:
                raise EmulatorError(400, "800004", f"Invalid catalog item id {to_catalog_item_id!r}: expected "
                                    "productId:skuId:availabilityId of the catalog.")
        if item is None or item.catalog_item_id not in {t.catalog_item_id for t in self.upgrade_targets(src)}:
            raise EmulatorError(400, "800002", f"{item.catalog_item_id if item else to_catalog_item_id} is not an "
                                f"upgrade of {src.product_id}:{src.sku_id} (see transitionEligibilities).")
        duration = (term_duration or src.term_duration).upper()
        cycle = (billing_cycle or src.billing_cycle).lower()
        if duration != src.term_duration.upper() or cycle != src.billing_cycle.lower():
            raise EmulatorError(400, "800002", f"An immediate upgrade keeps the term and billing cycle "
                                f"({src.term_duration} {src.billing_cycle}); schedule {duration} {cycle} for the "
                                "renewal instead (scheduledNextTermInstructions).")
        term = item.term(duration, cycle)
        if term is None:
            raise EmulatorError(400, "800002", f"{item.catalog_item_id} offers no {duration} {cycle} term.")
        moved = src.quantity if quantity is None else int(quantity)
        if not 1 <= moved <= src.quantity:
            raise EmulatorError(400, "2002", f"Quantity {moved} is outside the allowed range 1-{src.quantity} "
                                "(the source's seats).")
        lo, hi = int(item.sku["minimumQuantity"]), int(item.sku["maximumQuantity"])
        landing = moved + (target_sub.quantity if target_sub else 0)
        if not lo <= landing <= hi:
            raise EmulatorError(400, "2002", f"Quantity {landing} is outside the allowed range {lo}-{hi} of "
                                f"{item.sku['title']}.")
        now = self.now()
        ref = self.ids.guid()
        old = src.quantity
        span = prorated_span(now, src.cycle_start, src.cycle_end, src.billing_cycle)
        self._charge(src, "convert", -1, old, span, ref)
        if moved < old:
            self._charge(src, "convert", +1, old - moved, span, ref)
            self._take_seats(src, moved)
            src.quantity = old - moved
            self._touch(src)
        if target_sub is None:
            target_sub = self._transition_target(src, item, term, moved)
            self._charge(target_sub, "convert", +1, moved, span, ref)
        else:
            tspan = prorated_span(now, target_sub.cycle_start, target_sub.cycle_end, target_sub.billing_cycle)
            self._charge(target_sub, "moveQuantity", -1, target_sub.quantity, tspan, ref)
            self._charge(target_sub, "moveQuantity", +1, target_sub.quantity + moved, tspan, ref)
            target_sub.quantity += moved
            self._touch(target_sub)
        if moved == old:
            self._end(src, "expired", reason=f"upgraded to {target_sub.id}")
        src.next_term = None
        record = {
            "operation_id": self.ids.guid(),
            "from_catalog_item_id": f"{src.product_id}:{src.sku_id}:{src.availability_id}",
            "from_subscription_id": src.id,
            "to_catalog_item_id": item.catalog_item_id,
            "to_subscription_id": target_sub.id,
            "quantity": moved,
            "transition_type": kind,
            "term_duration": term.duration,
            "billing_cycle": term.billing_cycle,
            "events": [{"name": "Conversion", "status": "Completed", "timestamp": now}],
            "created": now,
        }
        src.transitions.append(record)
        if key:
            self.request_results[key] = record["operation_id"]
        self._log("transition", subscriptionId=src.id, to=target_sub.id, quantity=moved)
        return record

    @operation
    def list_transitions(self, customer_id: str, subscription_id: str) -> list[dict[str, Any]]:
        """``GET …/transitions``: the transitions from this subscription and into it, oldest first."""
        sub = self.get_subscription(customer_id, subscription_id)
        found = [t for s in self.subscriptions.values() if s.customer_id == sub.customer_id
                 for t in s.transitions if sub.id in (t["from_subscription_id"], t["to_subscription_id"])]
        return sorted(found, key=lambda t: t["created"])

    def _take_seats(self, sub: Subscription, moved: int) -> None:
        for window in sorted(self.open_windows(sub), key=lambda w: w.start, reverse=True):
            take = min(moved, window.quantity)
            window.quantity -= take
            moved -= take
            if not moved:
                return

    def _transition_target(self, src: Subscription, item: CatalogItem, term: Any, quantity: int) -> Subscription:
        """The new subscription of an upgrade: the target SKU, the moved seats, the source's term end and cycles."""
        now = self.now()
        sub = copy.copy(src)
        sub.id = self.ids.guid()
        sub.product_id, sub.sku_id, sub.availability_id = item.product_id, item.sku_id, item.availability_id
        sub.offer_name = sub.friendly_name = item.sku["title"]
        sub.quantity = quantity
        sub.status = "active"
        sub.unit_price, sub.list_price = term.unit_price(src.currency), term.erp_price(src.currency)
        sub.creation_date = sub.effective_start = now
        sub.product_type = item.product["productType"]
        rule = self.policy.refund_rule(saas=False, term_duration=sub.term_duration)
        sub.term_window = SeatWindow(quantity, now, now + rule.full, now + rule.window)
        sub.seat_windows = [copy.copy(sub.term_window)]
        sub.suspension_reasons, sub.transitions, sub.next_term = [], [], None
        sub.etag_counter, sub.pending_quantity, sub.cancelled_at = 1, None, None
        self.subscriptions[sub.id] = sub
        self.clock.schedule(sub.term_window.until, "window_close", subscription_id=sub.id, scope="term")
        self.clock.schedule(sub.commitment_end, "term_end", subscription_id=sub.id, term_end=sub.commitment_end)
        if sub.cycle_end < sub.commitment_end:
            self.clock.schedule(sub.cycle_end, "cycle", subscription_id=sub.id, cycle_end=sub.cycle_end)
        return sub

    # -- changes at renewal -----------------------------------------------------------------------------------
    @operation
    def schedule_next_term(self, customer_id: str, subscription_id: str,
                           instructions: dict[str, Any] | None) -> Subscription:
        """Set (or with None clear) a subscription's ``scheduledNextTermInstructions`` (wire shape in, validated).

        Raises:
            EmulatorError: 400 800002 (unknown product, not an upgrade, term not offered, auto-renew off, not
            active), 400 2002 (quantity outside the target SKU's bounds).
        """
        sub = self.get_subscription(customer_id, subscription_id)
        if instructions is None:
            if sub.next_term is not None:
                sub.next_term = None
                self._touch(sub)
            return sub
        wanted = self._next_term_from_wire(sub, instructions)
        if wanted == sub.next_term:
            return sub
        if sub.status not in ("active", "suspended"):
            raise EmulatorError(400, "800002", f"Subscription {sub.id} is {sub.status}: nothing renews.")
        if not sub.auto_renew:
            raise EmulatorError(400, "800002", "Scheduled changes require auto-renew: turn autoRenewEnabled on "
                                "first.")
        sub.next_term = wanted
        self._touch(sub)
        self._log("next_term_scheduled", subscriptionId=sub.id, **wanted)
        return sub

    def _next_term_from_wire(self, sub: Subscription, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise EmulatorError(400, "800002", "scheduledNextTermInstructions must be an object.")
        product = {k.lower(): v for k, v in (body.get("product") or body.get("Product") or {}).items()}
        quantity = body.get("quantity", body.get("Quantity"))
        product_id = product.get("productid") or sub.product_id
        sku_id = product.get("skuid") or sub.sku_id
        item = self.catalog.item(product_id, sku_id)
        availability = product.get("availabilityid") or (item.availability_id if item else None)
        if item is None or item.availability_id.upper() != str(availability).upper():
            raise EmulatorError(400, "800004", f"Invalid product {product_id}:{sku_id}:{availability} in "
                                "scheduledNextTermInstructions.")
        same = (item.product_id, item.sku_id) == (sub.product_id, sub.sku_id)
        if not same and item.catalog_item_id not in {t.catalog_item_id for t in self.upgrade_targets(sub)}:
            raise EmulatorError(400, "800002", f"{item.catalog_item_id} is not {sub.product_id}:{sub.sku_id} nor "
                                "one of its upgrades (transitionEligibilities?eligibilityType=scheduled).")
        duration = str(product.get("termduration") or sub.term_duration).upper()
        cycle = str(product.get("billingcycle") or sub.billing_cycle).lower()
        if item.term(duration, cycle) is None:
            offered = ", ".join(f"{t.duration} {t.billing_cycle}" for t in item.terms)
            raise EmulatorError(400, "800002", f"{item.sku['title']} offers no {duration} {cycle} term "
                                f"(offered: {offered}).")
        try:
            seats = int(quantity) if quantity is not None else sub.quantity
        except (TypeError, ValueError):
            raise EmulatorError(400, "800002", f"quantity {quantity!r} is not a number.") from None
        lo, hi = int(item.sku["minimumQuantity"]), int(item.sku["maximumQuantity"])
        if not lo <= seats <= hi:
            raise EmulatorError(400, "2002", f"Quantity {seats} is outside the allowed range {lo}-{hi}.")
        return {"product_id": item.product_id, "sku_id": item.sku_id, "availability_id": item.availability_id,
                "billing_cycle": cycle, "term_duration": duration, "quantity": seats}

    def _apply_next_term(self, sub: Subscription) -> None:
        """At the renewal (term-end event, before the renewal's charge): switch to the scheduled SKU, term, billing
        cycle and seats, then clear the instructions."""
        wanted = getattr(sub, "next_term", None)
        if not wanted:
            return
        item = self.catalog.item(wanted["product_id"], wanted["sku_id"])
        sub.next_term = None
        if item is None or item.term(wanted["term_duration"], wanted["billing_cycle"]) is None:
            self._log("next_term_dropped", subscriptionId=sub.id, reason="no longer offered")
            return
        sub.product_id, sub.sku_id, sub.availability_id = item.product_id, item.sku_id, item.availability_id
        sub.offer_name = item.sku["title"]
        sub.product_type = item.product["productType"]
        sub.term_duration, sub.billing_cycle = wanted["term_duration"], wanted["billing_cycle"]
        sub.quantity = int(wanted["quantity"])
        self._log("next_term_applied", subscriptionId=sub.id, **wanted)
