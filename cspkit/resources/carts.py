"""Carts: create, get, update, checkout (partner-center-api.md §3).

Doc pages: "Create a cart", "Update a cart", "Checkout a cart". Checkout is idempotent per cart id (a repeated
checkout returns the original result), so after an ambiguous failure re-check out the **same** cart — never build a
new one. :class:`cspkit.ordering.Ordering` journals this through the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cspkit.guards import check_purchasable
from cspkit.models.cart import Cart, CartCheckoutResult, CartLineItem
from cspkit.models.catalog import Availability, InventoryItem, Sku
from cspkit.resources.base import Resource, segment
from cspkit.resources.catalog import Catalog
from cspkit.resources.customers import Customers

__all__ = ["Carts", "LineCheck"]


@dataclass
class LineCheck:
    """What the catalog says about one cart line: its availability, SKU and (when required) inventory answer."""

    line: CartLineItem
    availability: Availability
    sku: Sku
    inventory: list[InventoryItem] | None = None


def _line(item: CartLineItem | Mapping[str, Any], index: int) -> CartLineItem:
    line = item if isinstance(item, CartLineItem) else CartLineItem.model_validate(dict(item))
    if line.id is None:
        line = line.model_copy(update={"id": index})
    return line


class Carts(Resource):
    """``pc.carts``: a customer's carts."""

    def check_line(self, customer_id: str, line: CartLineItem, *, country: str, force: bool = False) -> LineCheck:
        """Read the catalog for one line and run the purchase guard (:func:`cspkit.guards.check_purchasable`).

        Raises:
            PolicyError: the catalog says the line cannot be bought (unless ``force``).
            NotFoundError: the catalog item does not exist.
            ValueError: the line has no ``catalogItemId`` of the form ``product:sku:availability``.
        """
        parts = (line.catalog_item_id or "").split(":")
        if len(parts) != 3:
            raise ValueError(f"cart line {line.id}: catalogItemId must be PRODUCT:SKU:AVAILABILITY, "
                             f"got {line.catalog_item_id!r}")
        catalog = Catalog(self.transport)
        availability = catalog.get_availability(parts[0], parts[1], parts[2], country=country)
        sku = availability.sku or catalog.get_sku(parts[0], parts[1], country=country)
        inventory = None
        if sku.requires_inventory_check and not force:
            inventory = catalog.check_inventory(
                country=country, items=[{"productId": parts[0], "skuId": parts[1]}],
                context={"customerId": customer_id},
            )
        check_purchasable(availability, term_duration=line.term_duration, billing_cycle=line.billing_cycle,
                          quantity=line.quantity, sku=sku, inventory=inventory, force=force)
        return LineCheck(line, availability, sku, inventory)

    def create(
        self,
        customer_id: str,
        *,
        line_items: Iterable[CartLineItem | Mapping[str, Any]],
        country: str | None = None,
        force: bool = False,
        request_id: str | None = None,
    ) -> Cart:
        """Create a cart (``POST /customers/{customerId}/carts``), after checking every line against the catalog.

        Args:
            line_items: :class:`~cspkit.models.cart.CartLineItem` or dicts (``catalogItemId``, ``quantity``,
                ``termDuration``, ``billingCycle``, ``friendlyName``...); ids 0..n-1 are filled in when missing.
            country: the customer's country for catalog reads (read from the customer when None).
            force: skip the purchase guards (Partner Center may still refuse; its refusal is raised).
        Returns:
            The created :class:`~cspkit.models.cart.Cart` (server-assigned ``id``, ``orderGroup`` per line, and a
            per-line ``error`` when the server rejects a line).
        Raises:
            PolicyError: a line the catalog says cannot be bought; NotFoundError: unknown customer or catalog item;
            APIStatusError: the service refused.
        """
        lines = [_line(item, i) for i, item in enumerate(line_items)]
        if not lines:
            raise ValueError("a cart needs at least one line item")
        if not force:
            country = country or Customers(self.transport).get(customer_id).country or "US"
            for line in lines:
                self.check_line(customer_id, line, country=country)
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
