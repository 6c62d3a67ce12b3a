"""Customers and the catalog: the backend's partner-side reads and customer creation (a part of
:class:`~cspkit.emulator.backend.Backend`)."""

from __future__ import annotations

from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator.catalog import CatalogItem
from cspkit.emulator.models import (
    Customer,
    EmulatorError,
)

__all__ = ["CatalogOps"]


class CatalogOps:
    """Operations of :class:`~cspkit.emulator.backend.Backend` on its state (its lock, clock and tables)."""

    # ======================================================================================================
    # customers
    # ======================================================================================================
    @operation
    def list_customers(self, *, name_prefix: str | None = None, domain_prefix: str | None = None) -> list[Customer]:
        out = list(self.customers.values())
        if name_prefix:
            out = [c for c in out if c.company_name.lower().startswith(name_prefix.lower())]
        if domain_prefix:
            out = [c for c in out if c.domain.lower().startswith(domain_prefix.lower())]
        return out

    @operation
    def get_customer(self, customer_id: str) -> Customer:
        customer = self.customers.get(customer_id) or self.customers.get((customer_id or "").lower())
        if customer is None:
            raise EmulatorError(404, "60003", f"Tenant {customer_id} not found.")
        return customer

    @operation
    def create_customer(
        self,
        *,
        company_name: str,
        domain: str,
        country: str,
        profile: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Customer:
        """Create a customer; idempotent on ``request_id`` (MS-RequestId)."""
        if request_id and request_id in self.request_results:
            return self.customers[self.request_results[request_id]]
        if not company_name or not domain or not country:
            raise EmulatorError(400, "800002", "companyName, domain and defaultAddress.country are required.")
        if not domain.lower().endswith(".onmicrosoft.com"):
            domain = f"{domain}.onmicrosoft.com"
        if any(c.domain.lower() == domain.lower() for c in self.customers.values()):
            raise EmulatorError(409, "600067", f"Domain {domain} is already in use.")
        customer = self._add_customer(
            {"companyName": company_name, "domain": domain, "country": country, **(profile or {})}
        )
        if request_id:
            self.request_results[request_id] = customer.id
        self._log("customer_created", customerId=customer.id)
        return customer

    # ======================================================================================================
    # catalog
    # ======================================================================================================
    def _check_catalog_query(self, country: str | None, target_view: str | None, target_segment: str | None) -> bool:
        """Validate catalog query parameters; False when the (valid) view/segment simply has nothing."""
        if not country:
            raise EmulatorError(400, "400056", "The country parameter is required.")
        if target_segment and target_segment.lower() not in ("commercial", "education", "government", "nonprofit"):
            raise EmulatorError(403, "400030", f"Access to the targetSegment {target_segment} is not allowed.")
        views = {
            "azure", "azurereservations", "azurereservationsvm", "azurereservationssql", "azurereservationscosmosdb",
            "microsoftazure", "onlineservices", "software", "softwaresuselinux", "softwareperpetual",
            "softwaresubscriptions",
        }
        if target_view is not None and target_view.lower() not in views:
            raise EmulatorError(403, "400036", f"Access to the targetView {target_view} is not allowed.")
        if target_segment and target_segment.lower() != self.catalog.segment:
            return False
        if self.catalog.market(country) is None:
            return False
        return target_view is None or target_view.lower() == "onlineservices"

    @operation
    def list_products(
        self, *, country: str | None, target_view: str | None, target_segment: str | None = None
    ) -> list[dict[str, Any]]:
        if not target_view:
            raise EmulatorError(400, "400056", "The targetView parameter is required.")
        if not self._check_catalog_query(country, target_view, target_segment):
            return []
        return self.catalog.products()

    @operation
    def get_product(self, product_id: str, *, country: str | None) -> dict[str, Any]:
        self._check_catalog_query(country, None, None)
        product = self.catalog.product(product_id)
        if product is None or self.catalog.market(country) is None:
            raise EmulatorError(404, "400013", f"Product {product_id} was not found.")
        return product

    @operation
    def list_skus(
        self, product_id: str, *, country: str | None, target_segment: str | None = None
    ) -> list[CatalogItem]:
        ok = self._check_catalog_query(country, None, target_segment)
        product = self.get_product(product_id, country=country)
        return [self.catalog.item(product["id"], s["id"]) for s in product["skus"]] if ok else []

    @operation
    def get_sku(self, product_id: str, sku_id: str, *, country: str | None) -> CatalogItem:
        product = self.get_product(product_id, country=country)
        item = self.catalog.item(product["id"], sku_id)
        if item is None:
            raise EmulatorError(404, "400018", f"SKU {sku_id} of product {product_id} was not found.")
        return item

    @operation
    def list_availabilities(
        self, product_id: str, sku_id: str, *, country: str | None, target_segment: str | None = None
    ) -> list[CatalogItem]:
        ok = self._check_catalog_query(country, None, target_segment)
        item = self.get_sku(product_id, sku_id, country=country)
        return [item] if ok else []

    @operation
    def get_availability(
        self, product_id: str, sku_id: str, availability_id: str, *, country: str | None
    ) -> CatalogItem:
        item = self.get_sku(product_id, sku_id, country=country)
        if item.availability_id.upper() != (availability_id or "").upper():
            raise EmulatorError(404, "400019", f"Availability {availability_id} was not found.")
        return item

    @operation
    def check_inventory(self, *, country: str | None, target_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._check_catalog_query(country, None, None)
        out = []
        for target in target_items:
            product = self.catalog.product(target.get("productId", ""))
            if product is None:
                continue  # items not in the catalog are omitted
            skus = [target["skuId"]] if target.get("skuId") else [s["id"] for s in product["skus"]]
            for sku_id in skus:
                if self.catalog.sku(product["id"], sku_id) is not None:
                    out.append({"productId": product["id"], "skuId": sku_id, "isRestricted": False, "restrictions": []})
        return out
