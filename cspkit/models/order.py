"""Order resources: order, order line item, activation links (partner-center-api.md §4)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from cspkit.models.base import Link, Money, PCModel, UtcDateTime
from cspkit.models.common import BillingCycle, ResourceAttributes, TermDuration, link_uri

__all__ = ["ActivationLink", "Order", "OrderLineItem", "OrderLineItemPricing"]


class OrderLineItemPricing(PCModel):
    """Prices of an order line (with ``include_price=true``), in the order's currency."""

    list_price: Money | None = None
    discounted_price: Money | None = None
    prorated_price: Money | None = None
    price: Money | None = None
    extended_price: Money | None = None


class OrderLineItem(PCModel):
    """One line of an order; ``subscription_id`` appears once provisioning finished."""

    line_item_number: int
    offer_id: str | None = None
    subscription_id: str | None = None
    parent_subscription_id: str | None = None
    term_duration: TermDuration | None = None
    transaction_type: str | None = None
    friendly_name: str | None = None
    quantity: int | None = None
    promotion_id: str | None = None
    custom_term_end_date: UtcDateTime | None = None
    pricing: OrderLineItemPricing | None = None
    partner_id_on_record: str | None = None
    provisioning_context: dict[str, Any] | None = None
    renews_to: dict[str, Any] | None = None
    links: dict[str, Any] | None = None

    @field_validator("renews_to", mode="before")
    @classmethod
    def _renews_to_array(cls, value: Any) -> Any:
        if isinstance(value, list):
            return value[0] if value else None
        return value

    @property
    def activation_links_uri(self) -> str | None:
        """``links.activationLinks.uri`` (present for marketplace SaaS lines), or None."""
        return link_uri(self.links, "activationLinks")


class Order(PCModel):
    """An order (``GET /customers/{customerId}/orders/{orderId}``); ``status`` pending/completed/cancelled."""

    id: str | None = None
    alternate_id: str | None = None
    reference_customer_id: str | None = None
    billing_cycle: BillingCycle | None = None
    currency_code: str | None = None
    currency_symbol: str | None = None
    line_items: list[OrderLineItem] = []
    creation_date: UtcDateTime | None = None
    status: str | None = None
    transaction_type: str | None = None
    total_price: Money | None = None
    partner_on_record_attestation_accepted: bool | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None


class ActivationLink(PCModel):
    """``{"lineItemNumber": 0, "link": {"uri": "<publisher landing page>", "method": "GET", "headers": []}}``."""

    line_item_number: int | None = None
    link: Link | None = None

    @property
    def uri(self) -> str | None:
        return self.link.uri if self.link else None
