"""Catalog resources: products → SKUs → availabilities, and inventory checks (partner-center-api.md §2).

Marketplace SaaS is ``productType.id == "Azure"`` with ``subType.id == "SaaS"`` (:attr:`Product.is_saas`). NCE
products offer one availability per term + billing cycle, but an availability may also list several terms: choose
with :meth:`Availability.term_for`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cspkit.models.base import PCModel
from cspkit.models.common import BillingCycle, Currency, ItemType, ResourceAttributes, TermDuration

__all__ = [
    "Availability",
    "AvailabilityTerm",
    "CancellationPolicy",
    "InventoryItem",
    "InventoryRestriction",
    "PolicyRefundOption",
    "Product",
    "RenewalOption",
    "Sku",
]


def _is_saas(product_type: ItemType | None) -> bool:
    if product_type is None or (product_type.id or "").lower() != "azure":
        return False
    return bool(product_type.sub_type and (product_type.sub_type.id or "").lower() == "saas")


class Product(PCModel):
    """A product (``GET /products/{productId}``): id such as ``CFQ7TTC0LH18``, title, ``productType``."""

    id: str
    title: str | None = None
    description: str | None = None
    product_type: ItemType | None = None
    is_microsoft_product: bool | None = None
    publisher_name: str | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None

    @property
    def is_saas(self) -> bool:
        """True for marketplace SaaS: ``productType.id == "Azure"`` and ``productType.subType.id == "SaaS"``."""
        return _is_saas(self.product_type)

    @property
    def product_type_id(self) -> str | None:
        return self.product_type.id if self.product_type else None


class Sku(PCModel):
    """A SKU of a product (``GET /products/{productId}/skus/{skuId}``); ``id`` is unique only within the product.

    ``minimum_quantity``/``maximum_quantity`` bound a cart line's and a subscription's seat count.
    ``purchase_prerequisites`` containing ``"InventoryCheck"`` means a check-inventory call must pass first.
    """

    id: str
    product_id: str | None = None
    title: str | None = None
    description: str | None = None
    minimum_quantity: int | None = None
    maximum_quantity: int | None = None
    is_trial: bool | None = None
    supported_billing_cycles: list[BillingCycle] | None = None
    purchase_prerequisites: list[str] | None = None
    inventory_variables: list[str] | None = None
    provisioning_variables: list[str] | None = None
    actions: list[str] | None = None
    dynamic_attributes: dict[str, Any] | None = None
    attestation_properties: dict[str, Any] | None = None
    consumption_type: str | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None

    @property
    def requires_inventory_check(self) -> bool:
        """True when ``purchasePrerequisites`` lists ``InventoryCheck`` (compared case-insensitively)."""
        return any(p.lower() == "inventorycheck" for p in self.purchase_prerequisites or [])

    @property
    def is_addon(self) -> bool:
        return bool((self.dynamic_attributes or {}).get("isAddon"))


class PolicyRefundOption(PCModel):
    """One refund phase of a term's cancellation policy: ``type`` Full/Partial, ``expiresAfter`` ISO 8601 duration."""

    sequence_id: int | None = None
    type: str | None = None
    expires_after: str | None = None


class CancellationPolicy(PCModel):
    refund_options: list[PolicyRefundOption] = []


class RenewalOption(PCModel):
    term_duration: TermDuration | None = None
    description: str | None = None


class AvailabilityTerm(PCModel):
    """A term of an availability: ``duration`` (``P1M``/``P1Y``/``P3Y``) with its ``billingCycle``."""

    id: str | None = None
    duration: TermDuration
    description: str | None = None
    billing_cycle: BillingCycle | None = None
    renewal_options: list[RenewalOption] | None = None
    cancellation_policies: list[CancellationPolicy] | None = None


class Availability(PCModel):
    """An availability (``GET /products/{p}/skus/{s}/availabilities/{a}``).

    ``catalog_item_id`` (``productId:skuId:availabilityId``) is what a cart line buys. Availability ids may change:
    fetch at purchase time.
    """

    id: str
    product_id: str | None = None
    sku_id: str | None = None
    catalog_item_id: str | None = None
    default_currency: Currency | None = None
    segment: str | None = None
    country: str | None = None
    is_purchasable: bool | None = None
    is_renewable: bool | None = None
    renewal_instructions: list[Any] | None = None
    terms: list[AvailabilityTerm] = []
    product: Product | None = None
    sku: Sku | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None

    def term_for(self, term_duration: str, billing_cycle: str) -> AvailabilityTerm | None:
        """The term with this duration and billing cycle (case-insensitive), or None when not offered."""
        from cspkit.models.common import normalize_billing_cycle, normalize_term_duration

        duration, cycle = normalize_term_duration(term_duration), normalize_billing_cycle(billing_cycle)
        for term in self.terms:
            if term.duration == duration and (term.billing_cycle or "") == cycle:
                return term
        return None

    @property
    def resolved_catalog_item_id(self) -> str | None:
        """``catalogItemId`` as sent, else built from ``productId:skuId:id``."""
        if self.catalog_item_id:
            return self.catalog_item_id
        if self.product_id and self.sku_id:
            return f"{self.product_id}:{self.sku_id}:{self.id}"
        return None


class InventoryRestriction(PCModel):
    reason_code: str | None = None
    description: str | None = None
    properties: dict[str, Any] | None = None


class InventoryItem(PCModel):
    """One answer of ``POST /extensions/product/checkinventory`` (a bare JSON array of these)."""

    product_id: str
    sku_id: str | None = None
    is_restricted: bool = False
    restrictions: list[InventoryRestriction] = Field(default_factory=list)
