"""Upgrades (transitions) and changes at renewal (``scheduledNextTermInstructions``), journaled in the ledger.

Both are writes, so each follows the ordering journal's rule (:meth:`cspkit.workflows.ordering.Ordering.change`):
the intent is recorded (``pending``) before the call, ``submitted`` with its MS-RequestId just before it, then
``done``, ``failed`` or ``refused`` (a guard said no before calling), or ``unknown`` when the answer was lost and
reading back could not tell. A ``key`` whose entry is ``done`` is never written again (the stored result is
returned, ``replayed``).

- **Upgrade now** (kind ``upgrade``): the target must be one of the subscription's immediate transition
  eligibilities ("Transition a new commerce subscription": ``GET …/transitionEligibilities?eligibilityType=
  immediate``, then ``POST …/transitions`` with ``{toCatalogItemId, quantity, transitionType}``); all seats by
  default, or N (a partial upgrade). A lost answer is resolved by reading the history (``GET …/transitions``).
- **Upgrade at renewal** (``when="renewal"``): the target must be a *scheduled* eligibility; it is scheduled as the
  subscription's ``scheduledNextTermInstructions`` (create-scheduled-changes: "Get transition eligibilities with
  eligibilityType=scheduled, then PATCH the subscription").
- **Renewal instructions** (kinds ``renewal_set`` / ``renewal_clear``): PATCH ``scheduledNextTermInstructions``
  ``{product: {productId, skuId, availabilityId, billingCycle, termDuration}, quantity}`` (null clears). Options not
  given keep what is already scheduled, else the subscription's current values. Guards: auto-renew on ("Auto-renew
  is enabled on the subscription", a documented prerequisite), the quantity within the target SKU's bounds.

Sources: learn.microsoft.com/partner-center/developer/transition-a-new-commerce-subscription, get-transitions,
transition-resources, create-scheduled-changes; docs/partner-center-transitions.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cspkit.errors import APIStatusError, PolicyError
from cspkit.models.subscription import Subscription
from cspkit.models.transition import (
    ProductTerm,
    ScheduledNextTermInstructions,
    Transition,
    TransitionEligibility,
)
from cspkit.resources.catalog import Catalog
from cspkit.workflows.guards import check_quantity
from cspkit.workflows.ordering.plan import AMBIGUOUS

__all__ = ["RenewalOutcome", "UpgradeOutcome", "UpgradePlan", "Upgrades", "WHEN"]

WHEN = {"immediate": "immediate", "renewal": "scheduled"}
"""``--when`` → ``eligibilityType``: ``immediate`` (now) or ``renewal`` (scheduled for the next term)."""


@dataclass
class UpgradePlan:
    """What an upgrade will do: the subscription, the eligible target and the seats to move."""

    customer_id: str
    subscription: Subscription
    target: TransitionEligibility
    quantity: int
    when: str = "immediate"
    transition_type: str = "transition_only"

    @property
    def full(self) -> bool:
        return self.quantity == (self.subscription.quantity or 0)

    def describe(self) -> str:
        sub = self.subscription
        seats = "all" if self.full else f"{self.quantity} of"
        moment = "now" if self.when == "immediate" else "at the renewal"
        return (f"Upgrade {seats} {sub.quantity} seat(s) of {sub.offer_name or sub.offer_id} ({sub.id}) to "
                f"{self.target.title or self.target.catalog_item_id} ({self.target.catalog_item_id}) {moment}.")


@dataclass
class UpgradeOutcome:
    entry_id: int
    status: str
    transition: Transition | None = None
    renewal: RenewalOutcome | None = None
    replayed: bool = False
    note: str | None = None


@dataclass
class RenewalOutcome:
    entry_id: int
    status: str
    before: Subscription | None
    after: Subscription | None
    replayed: bool = False
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Upgrades:
    """Upgrades and renewal instructions over a client (``pc``) and a :class:`~cspkit.ledger.Ledger`."""

    def __init__(self, pc: Any, ledger: Any) -> None:
        self.pc = pc
        self.ledger = ledger

    # -- reads -------------------------------------------------------------------------------------------------
    def targets(self, customer_id: str, subscription_id: str, *,
                when: str = "immediate") -> list[TransitionEligibility]:
        """The SKUs the subscription may be upgraded to, now (``immediate``) or at the renewal (``renewal``)."""
        return self.pc.subscriptions.transitions.eligibilities(customer_id, subscription_id,
                                                               eligibility_type=_eligibility_type(when))

    def history(self, customer_id: str, subscription_id: str) -> list[Transition]:
        """The subscription's transitions (``GET …/transitions``) with their events and resulting subscriptions."""
        return self.pc.subscriptions.transitions.list(customer_id, subscription_id)

    def plan(self, customer_id: str, subscription_id: str, *, to: str, quantity: int | None = None,
             when: str = "immediate", transition_type: str = "transition_only") -> UpgradePlan:
        """Check an upgrade before making it (reads only).

        Args:
            to: the target ``productId:skuId:availabilityId`` or just ``productId:skuId``.
            quantity: seats to move (default all).
        Raises:
            PolicyError: the target is not an eligible upgrade (reason ``not_eligible``; the service's reasons are
                quoted), or the quantity is more than the subscription has (``quantity_out_of_bounds``).
        """
        sub = self.pc.subscriptions.get(customer_id, subscription_id)
        targets = self.targets(customer_id, subscription_id, when=when)
        wanted = to.strip().upper()
        match = [t for t in targets if t.catalog_item_id.upper() == wanted
                 or t.catalog_item_id.upper().startswith(wanted + ":")]
        if not match:
            offered = ", ".join(f"{t.catalog_item_id} ({t.title})" for t in targets) or "none"
            raise PolicyError(f"{to} is not an upgrade of subscription {subscription_id} "
                              f"({sub.offer_name or sub.offer_id}); eligible targets: {offered}.",
                              reason="not_eligible", hint="List them with: cspkit subscriptions upgrades ...")
        target = match[0]
        if not target.is_eligible or transition_type not in target.eligible_types():
            raise PolicyError(f"Partner Center says subscription {subscription_id} cannot be upgraded to "
                              f"{target.catalog_item_id} ({transition_type}): "
                              + ("; ".join(target.problems()) or "not eligible") + ".", reason="not_eligible")
        seats = (sub.quantity or 0) if quantity is None else int(quantity)
        if not 1 <= seats <= (sub.quantity or 0):
            raise PolicyError(f"quantity {seats} is outside 1..{sub.quantity} (the subscription's seats)",
                              reason="quantity_out_of_bounds")
        return UpgradePlan(customer_id, sub, target, seats, when, transition_type)

    # -- writes ------------------------------------------------------------------------------------------------
    def upgrade(self, plan: UpgradePlan, *, key: str | None = None) -> UpgradeOutcome:
        """Make the upgrade planned by :meth:`plan`, journaled (kind ``upgrade``); idempotent on ``key``.

        At the renewal (``plan.when == "renewal"``) it schedules the target as the next term's product
        (:meth:`set_next_term`).

        Raises:
            APIStatusError: Partner Center refused (entry ``failed``); connection errors still unknown after
            reading back leave it ``unknown``.
        """
        sub = plan.subscription
        if plan.when != "immediate":
            renewal = self.set_next_term(plan.customer_id, sub.id, item=plan.target.catalog_item_id,
                                         quantity=plan.quantity, key=key)
            return UpgradeOutcome(renewal.entry_id, renewal.status, renewal=renewal, replayed=renewal.replayed,
                                  note=renewal.note)
        request = {"toCatalogItemId": plan.target.catalog_item_id, "quantity": plan.quantity,
                   "transitionType": plan.transition_type}
        entry, created = self.ledger.begin(kind="upgrade", key=key, customer_id=plan.customer_id,
                                           subscription_id=sub.id, request=request,
                                           correlation_id=self.pc.transport.correlation_id)
        if not created and entry.status == "done":
            return UpgradeOutcome(entry.id or 0, "done", _stored(entry, Transition), replayed=True)
        known = {t.operation_id for t in self.history(plan.customer_id, sub.id)}
        self.ledger.submitted(entry.id, request_id=entry.request_id or "", before=sub.to_wire(),
                              detail=plan.describe())
        try:
            transition = self.pc.subscriptions.transitions.create(
                plan.customer_id, sub.id, to_catalog_item_id=plan.target.catalog_item_id, quantity=plan.quantity,
                transition_type=plan.transition_type, request_id=entry.request_id)
        except AMBIGUOUS as exc:
            found = [t for t in self.history(plan.customer_id, sub.id) if t.operation_id not in known
                     and (t.to_catalog_item_id or "").upper() == plan.target.catalog_item_id.upper()
                     and t.quantity == plan.quantity]
            if not found:
                self.ledger.fail(entry.id, exc, status="unknown")
                raise
            transition = found[-1]
        except APIStatusError as exc:
            self.ledger.fail(entry.id, exc)
            raise
        self.ledger.complete(entry.id, after=transition.to_wire(), subscription_id=sub.id,
                             detail=f"{plan.quantity} seat(s) moved to {transition.to_subscription_id}")
        return UpgradeOutcome(entry.id or 0, "done", transition)

    def set_next_term(self, customer_id: str, subscription_id: str, *, item: str | None = None,
                      quantity: int | None = None, term_duration: str | None = None,
                      billing_cycle: str | None = None, key: str | None = None) -> RenewalOutcome:
        """Schedule what the subscription becomes at its renewal (kind ``renewal_set``); idempotent on ``key``.

        Args:
            item: the next term's ``productId:skuId:availabilityId`` (default: what is scheduled, else the current
                one); ``productId:skuId`` is completed from the scheduled eligibilities.
            quantity: seats at the renewal; term_duration: ``P1M``/``P1Y``/``P3Y``; billing_cycle: ``monthly``,
                ``annual``... (each defaults to what is scheduled, else the current value).
        Raises:
            PolicyError: auto-renew is off (``auto_renew_off``), the quantity is outside the SKU's bounds
                (``quantity_out_of_bounds``), ``item`` is not an eligible product; APIStatusError: refused by
                Partner Center (term not offered...).
        """
        subs = self.pc.subscriptions
        sub = subs.get(customer_id, subscription_id)
        instructions = self.next_term_instructions(customer_id, sub, item, quantity, term_duration, billing_cycle)
        changes = {"scheduledNextTermInstructions": instructions.to_wire()}
        return self._patch("renewal_set", customer_id, sub, changes, key, instructions)

    def clear_next_term(self, customer_id: str, subscription_id: str, *, key: str | None = None) -> RenewalOutcome:
        """Delete the changes scheduled for the renewal (kind ``renewal_clear``); idempotent on ``key``."""
        sub = self.pc.subscriptions.get(customer_id, subscription_id)
        return self._patch("renewal_clear", customer_id, sub, {"scheduledNextTermInstructions": None}, key, None)

    def next_term_instructions(self, customer_id: str, sub: Subscription, item: str | None = None,
                               quantity: int | None = None, term_duration: str | None = None,
                               billing_cycle: str | None = None) -> ScheduledNextTermInstructions:
        """The instructions :meth:`set_next_term` would send (reads only; its guards raise PolicyError)."""
        now = sub.scheduled_next_term_instructions
        base = now.product.catalog_item_id if now else (sub.offer_id or "")
        wanted = (item or base).strip()
        if len(wanted.split(":")) == 2:  # productId:skuId: complete it from the scheduled eligibilities
            same = base.upper().startswith(wanted.upper() + ":")
            if same:
                wanted = base
            else:
                match = [t.catalog_item_id for t in self.targets(customer_id, sub.id, when="renewal")
                         if t.catalog_item_id.upper().startswith(wanted.upper() + ":")]
                if not match:
                    raise PolicyError(f"{item} is neither the subscription's product nor one of its upgrades at "
                                      "renewal", reason="not_eligible",
                                      hint="List them with: cspkit subscriptions upgrades --when renewal ...")
                wanted = match[0]
        parts = wanted.split(":")
        if len(parts) != 3 or not all(parts):
            raise PolicyError(f"expected a catalog item id productId:skuId:availabilityId, got {wanted!r}",
                              reason="bad_catalog_item_id")
        if not sub.auto_renew_enabled:
            raise PolicyError(f"subscription {sub.id} has auto-renew off: changes at renewal need it on",
                              reason="auto_renew_off",
                              hint=f"Turn it on first: cspkit subscriptions auto-renew on {sub.id} --customer ...")
        seats = quantity if quantity is not None else (now.quantity if now else sub.quantity or 0)
        country = None
        try:
            country = self.pc.customers.get(customer_id).country or "US"
            sku = Catalog(self.pc.transport).get_sku(parts[0], parts[1], country=country)
        except APIStatusError:
            sku = None  # Partner Center validates the quantity itself
        if sku is not None:
            check_quantity(sku, int(seats))
        product = ProductTerm(
            product_id=parts[0], sku_id=parts[1], availability_id=parts[2],
            billing_cycle=billing_cycle or (now.product.billing_cycle if now else None) or sub.billing_cycle,
            term_duration=term_duration or (now.product.term_duration if now else None) or sub.term_duration,
        )
        return ScheduledNextTermInstructions(product=product, quantity=int(seats))

    # -- helpers -----------------------------------------------------------------------------------------------
    def _patch(self, kind: str, customer_id: str, sub: Subscription, changes: dict[str, Any], key: str | None,
               wanted: ScheduledNextTermInstructions | None) -> RenewalOutcome:
        entry, created = self.ledger.begin(kind=kind, key=key, customer_id=customer_id, subscription_id=sub.id,
                                           request={"changes": changes},
                                           correlation_id=self.pc.transport.correlation_id)
        if not created and entry.status == "done":
            return RenewalOutcome(entry.id or 0, "done", None, _stored(entry, Subscription), replayed=True)
        if _scheduled(sub, wanted):
            self.ledger.complete(entry.id, after=sub.to_wire(), detail="already in the requested state")
            return RenewalOutcome(entry.id or 0, "done", sub, sub, note="already in the requested state")
        self.ledger.submitted(entry.id, request_id=entry.request_id or "", before=sub.to_wire(),
                              detail=f"PATCH scheduledNextTermInstructions={json.dumps(changes[next(iter(changes))])}")
        subs = self.pc.subscriptions
        try:
            change = subs.update(customer_id, sub.id, changes=changes, current=sub, request_id=entry.request_id)
        except AMBIGUOUS as exc:
            fresh = subs.get(customer_id, sub.id)
            if not _scheduled(fresh, wanted):
                self.ledger.fail(entry.id, exc, status="unknown")
                raise
            self.ledger.complete(entry.id, after=fresh.to_wire(), detail="applied (confirmed by reading back)")
            return RenewalOutcome(entry.id or 0, "done", sub, fresh, note="confirmed by reading back")
        except APIStatusError as exc:
            self.ledger.fail(entry.id, exc)
            raise
        self.ledger.complete(entry.id, after=change.after.to_wire())
        return RenewalOutcome(entry.id or 0, "done", change.before, change.after)


def _eligibility_type(when: str) -> str:
    kind = WHEN.get(when.strip().lower(), when.strip().lower())
    if kind not in WHEN.values():
        raise ValueError(f"when must be immediate or renewal, got {when!r}")
    return kind


def _scheduled(sub: Subscription, wanted: ScheduledNextTermInstructions | None) -> bool:
    """True when the subscription already carries ``wanted`` (None: nothing scheduled)."""
    now = sub.scheduled_next_term_instructions
    if wanted is None or now is None:
        return wanted is None and now is None
    a, b = now.product, wanted.product
    return (now.quantity == wanted.quantity and a.catalog_item_id.upper() == b.catalog_item_id.upper()
            and (a.term_duration or "").upper() == (b.term_duration or "").upper()
            and (a.billing_cycle or "").lower() == (b.billing_cycle or "").lower())


def _stored(entry: Any, model: Any) -> Any:
    return model.from_wire(json.loads(entry.after_json)) if entry.after_json else None
