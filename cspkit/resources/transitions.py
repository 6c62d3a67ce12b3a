"""Upgrades (transitions) of a new-commerce subscription: eligibilities, create, history (``pc.subscriptions.
transitions``).

Doc pages: "Transition a new commerce subscription" (learn.microsoft.com/partner-center/developer/
transition-a-new-commerce-subscription), "Get transitions" (…/get-transitions), "Transition resources"; REST
reference "Manage orders - Create a transition for a subscription", "Get transition history events for a
subscription". Shapes: :mod:`cspkit.models.transition` and docs/partner-center-transitions.md.

This resource sends what it is told; the journal (intent before the call, idempotent ``--key``) lives in
:mod:`cspkit.workflows.transitions`.
"""

from __future__ import annotations

from typing import Any

from cspkit.models.transition import Transition, TransitionEligibility
from cspkit.resources.base import Resource, segment

__all__ = ["ELIGIBILITY_TYPES", "TRANSITION_TYPES", "Transitions"]

ELIGIBILITY_TYPES = ("immediate", "scheduled")
"""``eligibilityType`` values: an upgrade now, or one scheduled for the renewal."""

TRANSITION_TYPES = ("transition_only", "transition_with_license_transfer")
"""``transitionType`` values (SDK ``Transition.TransitionType``): move the seats only, or move them with the users'
license assignments."""


class Transitions(Resource):
    """Upgrades of a customer's subscription."""

    def _path(self, customer_id: str, subscription_id: str, tail: str) -> str:
        return f"customers/{segment(customer_id)}/subscriptions/{segment(subscription_id)}/{tail}"

    def eligibilities(self, customer_id: str, subscription_id: str, *,
                      eligibility_type: str = "immediate") -> list[TransitionEligibility]:
        """Get transition eligibilities (``GET …/transitionEligibilities?eligibilityType=immediate|scheduled``).

        Returns:
            one :class:`TransitionEligibility` per target SKU (``catalogItemId``, title, quantity, eligibilities per
            transition type with their errors).
        Raises:
            ValueError: an eligibility type other than ``immediate``/``scheduled``; NotFoundError: no such
            subscription (20003).
        """
        kind = eligibility_type.strip().lower()
        if kind not in ELIGIBILITY_TYPES:
            raise ValueError(f"eligibility_type must be one of {', '.join(ELIGIBILITY_TYPES)}, got "
                             f"{eligibility_type!r}")
        response = self.transport.request("GET", self._path(customer_id, subscription_id, "transitionEligibilities"),
                                          params={"eligibilityType": kind})
        return [TransitionEligibility.from_wire(i) for i in (response.json or {}).get("items", [])]

    def create(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        to_catalog_item_id: str | None = None,
        to_subscription_id: str | None = None,
        quantity: int,
        transition_type: str = "transition_only",
        term_duration: str | None = None,
        billing_cycle: str | None = None,
        promotion_id: str | None = None,
        request_id: str | None = None,
    ) -> Transition:
        """Create a transition (``POST …/transitions``): move ``quantity`` seats to a higher SKU now.

        Args:
            to_catalog_item_id: the target ``productId:skuId:availabilityId`` (a new subscription), or
            to_subscription_id: an existing subscription of the target SKU to move the seats into.
            quantity: seats to move (all of them: a full upgrade; fewer: a partial one), 1 or more.
            transition_type: ``transition_only`` or ``transition_with_license_transfer``.
            term_duration, billing_cycle: the target's term (ISO 8601, e.g. ``P1Y``) and cycle (``monthly``...).
            request_id: MS-RequestId (reused on retries: the service answers a retried POST with its first result).
        Returns:
            the :class:`Transition` with ``operationId``, ``toSubscriptionId`` and its first events.
        Raises:
            ValueError: neither or both targets, a quantity under 1, an unknown transition type;
            BadRequestError: Partner Center refused (not an upgrade path, quantity out of range...).
        """
        if bool(to_catalog_item_id) == bool(to_subscription_id):
            raise ValueError("give exactly one of to_catalog_item_id and to_subscription_id")
        if quantity < 1:
            raise ValueError("quantity must be 1 or more")
        if transition_type not in TRANSITION_TYPES:
            raise ValueError(f"transition_type must be one of {', '.join(TRANSITION_TYPES)}, got {transition_type!r}")
        body: dict[str, Any] = {"quantity": int(quantity), "transitionType": transition_type}
        if to_catalog_item_id:
            body["toCatalogItemId"] = to_catalog_item_id
        if to_subscription_id:
            body["toSubscriptionId"] = to_subscription_id
        for name, value in (("termDuration", term_duration), ("billingCycle", billing_cycle),
                            ("promotionId", promotion_id)):
            if value:
                body[name] = value
        response = self.transport.request("POST", self._path(customer_id, subscription_id, "transitions"),
                                          json=body, request_id=request_id)
        return Transition.from_wire(response.json or {})

    def list(self, customer_id: str, subscription_id: str) -> list[Transition]:
        """Get transitions (``GET …/transitions``): the subscription's transition history, with events."""
        response = self.transport.request("GET", self._path(customer_id, subscription_id, "transitions"))
        return [Transition.from_wire(i) for i in (response.json or {}).get("items", [])]
