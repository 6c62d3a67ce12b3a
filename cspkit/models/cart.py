"""Cart resources: cart, cart line item, cart error, checkout result (partner-center-api.md §3).

⚠ Variants read: ``CartLineItem.id`` as int (JSON/SDK) or string (docs) → int when it is numeric;
``catalogItemId`` or the docs' ``catalogId``; ``renewsTo`` as an object (JSON/SDK) or a one-element array (docs);
``…Timestamp`` or the docs' ``…TimeStamp``; cart error codes as numbers or enum names.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field, field_validator

from cspkit.models.base import PCModel, UtcDateTime
from cspkit.models.common import BillingCycle, ResourceAttributes, TermDuration
from cspkit.models.order import Order

__all__ = ["Cart", "CartCheckoutResult", "CartError", "CartLineItem", "OrderError", "RenewsTo"]


def _int_if_numeric(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


IntOrStr = Annotated[int | str, BeforeValidator(_int_if_numeric)]


class CartError(PCModel):
    """A line item's error set by the server (``errorCode`` e.g. 10001 CatalogItemIdIsNotValid)."""

    error_code: IntOrStr | None = None
    error_description: str | None = None
    additional_information: Any = None


class RenewsTo(PCModel):
    term_duration: TermDuration | None = None


class CartLineItem(PCModel):
    """A cart line: what to buy (``catalog_item_id``), how many, for which term and billing cycle."""

    id: IntOrStr | None = None
    catalog_item_id: str | None = Field(
        default=None, validation_alias=AliasChoices("catalogItemId", "catalogId", "catalog_item_id")
    )
    friendly_name: str | None = None
    quantity: int
    currency_code: str | None = None
    billing_cycle: BillingCycle | None = None
    term_duration: TermDuration | None = None
    promotion_id: str | None = None
    participants: list[dict[str, Any]] | None = None
    provisioning_context: dict[str, str] | None = None
    order_group: str | None = None
    addon_items: list[CartLineItem] | None = None
    renews_to: RenewsTo | None = None
    custom_term_end_date: UtcDateTime | None = None
    attestation_accepted: bool | None = None
    error: CartError | None = None

    @field_validator("renews_to", mode="before")
    @classmethod
    def _renews_to_array(cls, value: Any) -> Any:
        if isinstance(value, list):
            return value[0] if value else None
        return value

    @property
    def product_id(self) -> str | None:
        return self.catalog_item_id.split(":")[0] if self.catalog_item_id else None

    @property
    def sku_id(self) -> str | None:
        parts = (self.catalog_item_id or "").split(":")
        return parts[1] if len(parts) > 1 else None


class Cart(PCModel):
    """A cart (``POST /customers/{customerId}/carts``); ``status`` is ``Active`` or ``Ordered``."""

    id: str | None = None
    creation_timestamp: UtcDateTime | None = Field(
        default=None, validation_alias=AliasChoices("creationTimestamp", "creationTimeStamp", "creation_timestamp")
    )
    last_modified_timestamp: UtcDateTime | None = Field(
        default=None,
        validation_alias=AliasChoices("lastModifiedTimestamp", "lastModifiedTimeStamp", "last_modified_timestamp"),
    )
    expiration_timestamp: UtcDateTime | None = Field(
        default=None,
        validation_alias=AliasChoices("expirationTimestamp", "expirationTimeStamp", "expiration_timestamp"),
    )
    last_modified_user: str | None = None
    line_items: list[CartLineItem] = []
    status: str | None = None
    partner_on_record_attestation_accepted: bool | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None

    @property
    def line_errors(self) -> list[tuple[CartLineItem, CartError]]:
        """Lines the server flagged with an error."""
        return [(line, line.error) for line in self.line_items if line.error is not None]

    @property
    def is_ordered(self) -> bool:
        return (self.status or "").lower() == "ordered"


class OrderError(PCModel):
    """An order group that failed at checkout: ``{orderGroupId, code, description}``."""

    order_group_id: str | None = None
    code: IntOrStr | None = None
    description: str | None = None


class CartCheckoutResult(PCModel):
    """The answer of ``POST …/carts/{cartId}/checkout``: ``orders`` (one per order group that succeeded) and
    ``order_errors`` (the groups that failed). Partial success is possible."""

    orders: list[Order] = []
    order_errors: list[OrderError] = []
    attributes: ResourceAttributes | None = None
