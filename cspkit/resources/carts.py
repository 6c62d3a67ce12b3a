"""Carts: create, get, update, checkout (partner-center-api.md §3).

Doc pages: "Create a cart", "Update a cart", "Checkout a cart". Checkout is idempotent per cart id (a repeated
checkout returns the original result), so after an ambiguous failure re-check out the **same** cart — never build a
new one. :class:`cspkit.workflows.ordering.Ordering` journals this through the ledger and runs the purchase guards
(:func:`cspkit.workflows.guards.check_purchasable`) before creating a cart: this resource sends what it is told.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cspkit.models.cart import Cart, CartCheckoutResult, CartLineItem
from cspkit.resources.base import Resource, segment

__all__ = ["Carts"]


def _line(item: CartLineItem | Mapping[str, Any], index: int) -> CartLineItem:
    line = item if isinstance(item, CartLineItem) else CartLineItem.model_validate(dict(item))
    if line.id is None:
        line = line.model_copy(update={"id": index})
    return line


class Carts(Resource):
    """``pc.carts``: a customer's carts."""

    def create(
        self,
        customer_id: str,
        *,
        line_items: Iterable[CartLineItem | Mapping[str, Any]],
        request_id: str | None = None,
    ) -> Cart:
        """Create a cart (``POST /customers/{customerId}/carts``). No guard runs here.

        Args:
            line_items: :class:`~cspkit.models.cart.CartLineItem` or dicts (``catalogItemId``, ``quantity``,
                ``termDuration``, ``billingCycle``, ``friendlyName``...); ids 0..n-1 are filled in when missing.
        Returns:
            The created :class:`~cspkit.models.cart.Cart` (server-assigned ``id``, ``orderGroup`` per line, and a
            per-line ``error`` when the server rejects a line).
        Raises:
            NotFoundError: unknown customer or catalog item; APIStatusError: the service refused.
        """
        lines = [_line(item, i) for i, item in enumerate(line_items)]
        if not lines:
            raise ValueError("a cart needs at least one line item")
        body = {"lineItems": [line.to_wire() for line in lines]}
        response = self.transport.request("POST", f"customers/{segment(customer_id)}/carts", json=body,
                                          request_id=request_id)
        return Cart.from_wire(response.json)

    def get(self, customer_id: str, cart_id: str) -> Cart:
        """Get a cart (``GET /customers/{customerId}/carts/{cartId}``). Raises NotFoundError (800008)."""
        return Cart.from_wire(self.transport.get_json(f"customers/{segment(customer_id)}/carts/{segment(cart_id)}"))

    def update(self, customer_id: str, cart_id: str, *, cart: Cart) -> Cart:
        """Update a cart (``PUT /customers/{customerId}/carts/{cartId}``, the full cart replaces the old one)."""
        response = self.transport.request(
            "PUT", f"customers/{segment(customer_id)}/carts/{segment(cart_id)}", json=cart.to_wire()
        )
        return Cart.from_wire(response.json)

    def checkout(self, customer_id: str, cart_id: str, *, request_id: str | None = None) -> CartCheckoutResult:
        """Checkout a cart (``POST /customers/{customerId}/carts/{cartId}/checkout``, empty body).

        Idempotent per cart: retried with the same MS-RequestId after timeouts and 5xx; calling it again for the
        same cart returns the original result.

        Args:
            request_id: MS-RequestId to send (pass the journaled one when replaying an ambiguous checkout).
        Returns:
            :class:`~cspkit.models.cart.CartCheckoutResult` — ``orders`` and ``order_errors`` (inspect both: partial
            success is possible; subscription ids appear on order lines only once provisioned).
        Raises:
            NotFoundError: unknown cart (800008); ConflictError: cart being processed (800064) or order in progress
            (800060); APITimeoutError/APIConnectionError/ServerError: outcome unknown — check out the same cart again.
        """
        response = self.transport.request(
            "POST", f"customers/{segment(customer_id)}/carts/{segment(cart_id)}/checkout", request_id=request_id
        )
        return CartCheckoutResult.from_wire(response.json or {})
