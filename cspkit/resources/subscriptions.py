"""Subscriptions: list, get, change quantity, auto-renew, cancel, suspend/reactivate, sandbox activate
(partner-center-api.md §5).

Doc pages: "Get all of a customer's subscriptions", "Get a subscription by ID", "Change the quantity of a
subscription", "Update autorenew for an Azure Marketplace subscription", "Cancel an Azure Marketplace subscription",
"Suspend a subscription", "Activate a sandbox subscription for Azure Marketplace products", "Schedule changes for a
new commerce subscription" (create-scheduled-changes: ``scheduledNextTermInstructions`` set by PATCH, null clears).
Upgrades hang off this resource: ``pc.subscriptions.transitions`` (:class:`cspkit.resources.transitions.Transitions`).

Every update is a read-modify-write ``PATCH`` of the **full** resource (with its etag), as the docs require. This
resource sends what it is told: the guards (cancellation window, seat-decrease window, SKU quantity bounds) live in
the one guarded path of the ordering workflow (:meth:`cspkit.workflows.ordering.Ordering.change`), which journals
every change and judges windows on the service's clock (:meth:`Subscriptions.read`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cspkit.models.catalog import Sku
from cspkit.models.subscription import Subscription, SubscriptionActivationResult
from cspkit.models.transition import ScheduledNextTermInstructions
from cspkit.pagination import Paginator
from cspkit.resources.base import Resource, segment, service_now
from cspkit.resources.catalog import Catalog
from cspkit.resources.customers import Customers
from cspkit.resources.transitions import Transitions

__all__ = ["Subscriptions", "SubscriptionChange"]


@dataclass
class SubscriptionChange:
    """The outcome of an update: the resource ``before`` and ``after`` the PATCH, and the ids of the PATCH call."""

    before: Subscription
    after: Subscription
    request_id: str
    correlation_id: str


class Subscriptions(Resource):
    """``pc.subscriptions``: a customer's subscriptions (and ``.transitions``: their upgrades)."""

    @property
    def transitions(self) -> Transitions:
        """Upgrades (transitions) of these subscriptions: eligibilities, create, history."""
        return Transitions(self.transport)

    def _path(self, customer_id: str, subscription_id: str | None = None) -> str:
        path = f"customers/{segment(customer_id)}/subscriptions"
        return f"{path}/{segment(subscription_id)}" if subscription_id is not None else path

    def list(self, customer_id: str, *, order_id: str | None = None) -> Paginator[Subscription]:
        """Get all of a customer's subscriptions (``GET /customers/{customerId}/subscriptions[?order_id=]``)."""
        params = {"order_id": order_id} if order_id else None
        return self.transport.paginate(self._path(customer_id), params=params, parse=Subscription.from_wire).load()

    def get(self, customer_id: str, subscription_id: str) -> Subscription:
        """Get a subscription by ID (``GET /customers/{customerId}/subscriptions/{subscriptionId}``).

        Raises:
            NotFoundError: no such subscription (20003).
        """
        return self.read(customer_id, subscription_id)[0]

    def read(self, customer_id: str, subscription_id: str) -> tuple[Subscription, datetime]:
        """Get a subscription and the service's time of the answer (:func:`cspkit.resources.base.service_now`)."""
        response = self.transport.request("GET", self._path(customer_id, subscription_id))
        return Subscription.from_wire(response.json), service_now(response.headers)

    def sku_of(self, customer_id: str, subscription: Subscription, *, country: str | None = None) -> Sku | None:
        """The catalog SKU a subscription was bought from (None when its offer id is not ``product:sku:...``)."""
        if not (subscription.product_id and subscription.sku_id):
            return None
        country = country or Customers(self.transport).get(customer_id).country or "US"
        return Catalog(self.transport).get_sku(subscription.product_id, subscription.sku_id, country=country)

    def update(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        changes: Mapping[str, Any],
        current: Subscription | None = None,
        request_id: str | None = None,
    ) -> SubscriptionChange:
        """Update a subscription (``PATCH /customers/{c}/subscriptions/{s}`` with the full resource).

        No guard runs here (see the module docstring).

        Args:
            changes: wire fields to change, e.g. ``{"quantity": 5}``, ``{"autoRenewEnabled": False}``,
                ``{"status": "deleted"}``.
            current: the resource as just read (read again when None); its etag goes back in the body and in
                the ``If-Match`` header.
            request_id: MS-RequestId (reused on retries).
        Returns:
            :class:`SubscriptionChange` (before, after, ids).
        Raises:
            BadRequestError: the service refused (e.g. 900117 past the cancellation window, 800090 quantity
                cannot be decreased); PreconditionFailedError: stale etag (2055) — read again.
        """
        if current is None:
            current = self.get(customer_id, subscription_id)
        body = current.to_wire()
        body.update(changes)
        # the etag travels in If-Match as well as in the body, as the documented PATCH examples send it
        # ("Update autorenew...", "Cancel an Azure Marketplace subscription": If-Match: <etag>)
        headers = {"If-Match": current.etag} if current.etag else None
        response = self.transport.request("PATCH", self._path(customer_id, subscription_id), json=body,
                                          request_id=request_id, headers=headers)
        after = Subscription.from_wire(response.json) if response.json else self.get(customer_id, subscription_id)
        return SubscriptionChange(current, after, response.request_id, response.correlation_id)

    def set_quantity(
        self, customer_id: str, subscription_id: str, *, quantity: int, request_id: str | None = None,
    ) -> SubscriptionChange:
        """Change the quantity of a subscription (seats; PATCH ``quantity``). No guard runs here.

        Args:
            quantity: the new seat count (absolute, not a delta), 0 or more.
        Raises:
            ValueError: a negative quantity; APIStatusError: the service refused (2002, 800090...).
        """
        if quantity < 0:
            raise ValueError("quantity must be zero or more")
        return self.update(customer_id, subscription_id, changes={"quantity": quantity}, request_id=request_id)

    def set_auto_renew(
        self, customer_id: str, subscription_id: str, *, enabled: bool, request_id: str | None = None
    ) -> SubscriptionChange:
        """Turn auto-renew on or off (``autoRenewEnabled``). Raises BadRequestError 800093 when not eligible."""
        return self.update(customer_id, subscription_id, changes={"autoRenewEnabled": bool(enabled)},
                           request_id=request_id)

    def cancel(self, customer_id: str, subscription_id: str, *, request_id: str | None = None) -> SubscriptionChange:
        """Cancel a subscription (PATCH ``status: "deleted"``, NCE and marketplace SaaS). No guard runs here.

        Raises:
            BadRequestError: the service refused (900117 past the cancellation window).
        """
        return self.update(customer_id, subscription_id, changes={"status": "deleted"}, request_id=request_id)

    def suspend(self, customer_id: str, subscription_id: str, *, request_id: str | None = None) -> SubscriptionChange:
        """Suspend a subscription (PATCH ``status: "suspended"``; NCE billing continues while suspended)."""
        return self.update(customer_id, subscription_id, changes={"status": "suspended"}, request_id=request_id)

    def reactivate(
        self, customer_id: str, subscription_id: str, *, request_id: str | None = None
    ) -> SubscriptionChange:
        """Reactivate a suspended subscription (PATCH ``status: "active"``)."""
        return self.update(customer_id, subscription_id, changes={"status": "active"}, request_id=request_id)

    def set_next_term(
        self, customer_id: str, subscription_id: str, *, instructions: ScheduledNextTermInstructions,
        current: Subscription | None = None, request_id: str | None = None,
    ) -> SubscriptionChange:
        """Schedule changes for the renewal (PATCH ``scheduledNextTermInstructions``: ``{product: {productId, skuId,
        availabilityId, billingCycle, termDuration}, quantity}``); auto-renew must be on.

        Raises:
            BadRequestError: refused (not an upgrade path, term not offered, 2002 quantity out of the SKU's bounds,
            auto-renew off).
        """
        return self.update(customer_id, subscription_id, current=current, request_id=request_id,
                           changes={"scheduledNextTermInstructions": instructions.to_wire()})

    def clear_next_term(
        self, customer_id: str, subscription_id: str, *, current: Subscription | None = None,
        request_id: str | None = None,
    ) -> SubscriptionChange:
        """Delete the changes scheduled for the renewal (PATCH ``scheduledNextTermInstructions: null``)."""
        return self.update(customer_id, subscription_id, current=current, request_id=request_id,
                           changes={"scheduledNextTermInstructions": None})

    def activate_sandbox(self, customer_id: str, subscription_id: str) -> SubscriptionActivationResult:
        """Activate a sandbox marketplace SaaS subscription (``POST /customers/{c}/subscriptions/{s}/activate``;
        integration sandbox and emulator only).

        Returns:
            ``{"subscriptionId", "status": "Success"}`` as :class:`SubscriptionActivationResult`.
        """
        response = self.transport.request("POST", f"{self._path(customer_id, subscription_id)}/activate")
        return SubscriptionActivationResult.from_wire(response.json or {})
