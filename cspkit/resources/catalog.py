"""Catalog: products, SKUs, availabilities, inventory checks (partner-center-api.md §2).

Doc pages: "Get a list of products", "Get a list of SKUs for a product", "Get a list of availabilities for a SKU",
"Check inventory".
"""

from __future__ import annotations

from typing import Any

from cspkit.errors import NotFoundError
from cspkit.models.catalog import Availability, AvailabilityTerm, InventoryItem, Product, Sku
from cspkit.models.common import normalize_billing_cycle, normalize_term_duration
from cspkit.resources.base import Resource, segment

__all__ = ["Catalog", "parse_item_reference"]


def parse_item_reference(reference: str) -> tuple[str, str, str | None]:
    """``PRODUCT:SKU`` or ``PRODUCT:SKU:AVAILABILITY`` → ``(product_id, sku_id, availability_id or None)``.

    Raises:
        ValueError: not two or three non-empty parts separated by ``:``.
    """
    parts = [p.strip() for p in (reference or "").split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(
            f"expected PRODUCT_ID:SKU_ID or a catalog item id PRODUCT_ID:SKU_ID:AVAILABILITY_ID, got {reference!r}"
        )
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


class Catalog(Resource):
    """``pc.catalog``: products → SKUs → availabilities of one country."""

    def products(
        self, *, country: str, target_view: str = "OnlineServices", target_segment: str | None = None,
        reservation_scope: str | None = None,
    ) -> list[Product]:
        """Get a list of products (``GET /products?country=&targetView=&targetSegment=``).

        Args:
            country: ISO 3166 alpha-2 (``US``).
            target_view: ``OnlineServices`` (NCE seats and marketplace SaaS), ``Azure``, ``Software``...
            target_segment: ``commercial``, ``education``, ``government``, ``nonprofit`` or None for all.
        Returns:
            Every :class:`~cspkit.models.catalog.Product` (``Product.is_saas`` flags marketplace SaaS).
        Raises:
            PermissionDeniedError: target view or segment not allowed (400030/400036).
        """
        params = {"country": country, "targetView": target_view}
        if target_segment:
            params["targetSegment"] = target_segment
        if reservation_scope:
            params["reservationScope"] = reservation_scope
        return list(self.transport.paginate("products", params=params, parse=Product.from_wire))

    def get_product(self, product_id: str, *, country: str) -> Product:
        """Get a product by ID (``GET /products/{productId}?country=``). Raises NotFoundError (400013)."""
        return Product.from_wire(
            self.transport.get_json(f"products/{segment(product_id)}", params={"country": country})
        )

    def skus(self, product_id: str, *, country: str, target_segment: str | None = None) -> list[Sku]:
        """Get a list of SKUs for a product (``GET /products/{productId}/skus?country=``).

        Raises:
            NotFoundError: the product does not exist (400013).
        """
        params = {"country": country}
        if target_segment:
            params["targetSegment"] = target_segment
        return list(self.transport.paginate(f"products/{segment(product_id)}/skus", params=params,
                                            parse=Sku.from_wire))

    def get_sku(self, product_id: str, sku_id: str, *, country: str) -> Sku:
        """Get a SKU by ID (``GET /products/{productId}/skus/{skuId}?country=``). Raises NotFoundError (400018)."""
        return Sku.from_wire(self.transport.get_json(
            f"products/{segment(product_id)}/skus/{segment(sku_id)}", params={"country": country}))

    def availabilities(
        self, product_id: str, sku_id: str, *, country: str, target_segment: str | None = None
    ) -> list[Availability]:
        """Get a list of availabilities for a SKU (``GET /products/{p}/skus/{s}/availabilities?country=``).

        Raises:
            NotFoundError: the product or SKU does not exist.
        """
        params = {"country": country}
        if target_segment:
            params["targetSegment"] = target_segment
        path = f"products/{segment(product_id)}/skus/{segment(sku_id)}/availabilities"
        return list(self.transport.paginate(path, params=params, parse=Availability.from_wire))

    def get_availability(self, product_id: str, sku_id: str, availability_id: str, *, country: str) -> Availability:
        """Get an availability by ID (``GET /products/{p}/skus/{s}/availabilities/{a}?country=``).

        Raises:
            NotFoundError: product, SKU or availability not found (400013/400018/400019).
        """
        path = f"products/{segment(product_id)}/skus/{segment(sku_id)}/availabilities/{segment(availability_id)}"
        return Availability.from_wire(self.transport.get_json(path, params={"country": country}))

    def check_inventory(
        self, *, country: str, items: list[dict[str, str]], context: dict[str, str] | None = None
    ) -> list[InventoryItem]:
        """Check inventory (``POST /extensions/product/checkinventory?country=``).

        Args:
            items: ``[{"productId": "...", "skuId": "..."}]`` (skuId optional: every SKU).
            context: ``{"customerId": ..., "azureSubscriptionId": ..., "armRegionName": ...}`` as the SKU's
                ``inventoryVariables`` require.
        Returns:
            One :class:`~cspkit.models.catalog.InventoryItem` per known item (unknown items are omitted).
        """
        body: dict[str, Any] = {"targetItems": items, "inventoryContext": context or {}}
        response = self.transport.request("POST", "extensions/product/checkinventory", params={"country": country},
                                          json=body)
        data = response.json
        if isinstance(data, dict):
            data = data.get("items") or []
        return [InventoryItem.from_wire(item) for item in data or []]

    def find_availability(
        self, product_id: str, sku_id: str, *, country: str, term_duration: str, billing_cycle: str,
        target_segment: str | None = None,
    ) -> tuple[Availability, AvailabilityTerm]:
        """Choose the availability of a SKU offering ``term_duration`` billed ``billing_cycle``.

        NCE publishes one availability per term + billing cycle; some availabilities list several terms: both work.
        Purchasable availabilities are preferred.

        Args:
            term_duration: ``P1M``, ``P1Y``, ``P3Y``.
            billing_cycle: ``monthly``, ``annual``, ``triennial``, ``none`` (trials).
        Returns:
            ``(availability, term)``.
        Raises:
            NotFoundError: the SKU has no availability with that term and billing cycle in ``country``.
        """
        duration, cycle = normalize_term_duration(term_duration), normalize_billing_cycle(billing_cycle)
        found = [
            (a, t)
            for a in self.availabilities(product_id, sku_id, country=country, target_segment=target_segment)
            if (t := a.term_for(duration, cycle)) is not None
        ]
        found.sort(key=lambda pair: pair[0].is_purchasable is False)
        if not found:
            raise NotFoundError(
                f"{product_id}:{sku_id} has no availability for term {duration} billed {cycle} in {country}",
                status_code=404,
                hint="List the offered terms with `cspkit catalog availabilities PRODUCT_ID SKU_ID --country CC`.",
            )
        return found[0]
