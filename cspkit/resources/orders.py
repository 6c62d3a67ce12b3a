"""Orders: list, get, activation links (partner-center-api.md §4).

Doc pages: "Get all of a customer's orders", "Get an order by ID", "Get activation link by order line item".
A new order can take up to 15 minutes to appear in the list; get it by id (from the checkout result) instead.
"""

from __future__ import annotations

from cspkit.models.order import ActivationLink, Order
from cspkit.pagination import Paginator
from cspkit.resources.base import Resource, segment

__all__ = ["Orders"]


class Orders(Resource):
    """``pc.orders``: a customer's orders."""

    def list(
        self, customer_id: str, *, billing_type: str | None = None, include_price: bool = False
    ) -> Paginator[Order]:
        """Get all of a customer's orders (``GET /customers/{customerId}/orders``).

        Args:
            billing_type: filter, e.g. ``onetime`` or ``monthly``.
            include_price: ask for line prices (``include_price=true``).
        Returns:
            A loaded :class:`~cspkit.pagination.Paginator` of every :class:`~cspkit.models.order.Order` (recent
            orders may be missing for up to 15 minutes); every page is read before it returns.
        """
        params: dict[str, str] = {}
        if billing_type:
            params["billingType"] = billing_type
        if include_price:
            params["include_price"] = "true"
        return self.transport.paginate(f"customers/{segment(customer_id)}/orders", params=params or None,
                                       parse=Order.from_wire).load()

    def get(self, customer_id: str, order_id: str, *, include_price: bool = False) -> Order:
        """Get an order by ID (``GET /customers/{customerId}/orders/{orderId}``). Raises NotFoundError (20000)."""
        params = {"include_price": "true"} if include_price else None
        return Order.from_wire(self.transport.get_json(
            f"customers/{segment(customer_id)}/orders/{segment(order_id)}", params=params))

    def activation_links(self, customer_id: str, order_id: str, line_item_number: int) -> list[ActivationLink]:
        """Get activation links of an order line item
        (``GET /customers/{c}/orders/{o}/lineitems/{lineItemNumber}/activationlinks``).

        Returns:
            :class:`~cspkit.models.order.ActivationLink` list (marketplace SaaS lines; empty for others).
        Raises:
            NotFoundError: unknown order or line.
        """
        path = (f"customers/{segment(customer_id)}/orders/{segment(order_id)}/lineitems/"
                f"{segment(str(line_item_number))}/activationlinks")
        return list(self.transport.paginate(path, parse=ActivationLink.from_wire))

    def all_activation_links(self, customer_id: str, order_id: str) -> list[ActivationLink]:
        """Activation links of every line of an order that has any (reads the order, then each SaaS line)."""
        order = self.get(customer_id, order_id)
        links: list[ActivationLink] = []
        for line in order.line_items:
            if line.activation_links_uri is None:
                continue
            for link in self.activation_links(customer_id, order_id, line.line_item_number):
                if link.line_item_number is None:
                    link = link.model_copy(update={"line_item_number": line.line_item_number})
                links.append(link)
        return links
