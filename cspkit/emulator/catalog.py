"""The seeded catalog: products → SKUs → availabilities → terms, with prices per currency.

:class:`Catalog` *is* the seed document (a ``dict`` shaped like ``sample_data/catalog.json``, see
``sample_data/README.md``) plus lookups. Other code (the price-sheet endpoint) may read it as plain data through
``backend.catalog``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from cspkit.billing.pricing import CENT, billing_periods, period_price

__all__ = ["Catalog", "CatalogItem", "Term", "load_seed", "seed_path"]

_PACKAGE_SEED = Path(__file__).with_name("seed")
_REPO_SEED = Path(__file__).resolve().parents[2] / "sample_data"


def seed_path(name: str) -> Path:
    """Where a seed file lives: the package copy (``cspkit/emulator/seed``), else the repository's sample_data."""
    for folder in (_PACKAGE_SEED, _REPO_SEED):
        candidate = folder / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"emulator seed file {name} not found in {_PACKAGE_SEED} or {_REPO_SEED}")


def load_seed(name: str) -> dict[str, Any]:
    return json.loads(seed_path(name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Term:
    """One term of a SKU: duration, billing cycle and, per currency, the **term prices** of the seed catalog.

    The catalog's ``unitPrice``/``erpPrice`` are prices of one seat for the whole term, for every billing cycle, like
    a price list's ``UnitPrice`` (billing-formats.md §1.5; :mod:`cspkit.billing.pricing`). What a subscription is
    charged each billing period is :meth:`unit_price`: term price ÷ billing periods (P1Y monthly 12, P1Y annual 1,
    P1M monthly 1, trials 1), rounded half-up to the cent as invoices carry it.
    """

    duration: str
    billing_cycle: str
    description: str
    prices: dict[str, dict[str, str]]

    def term_price(self, currency: str) -> Decimal:
        """The partner's price of one seat for the whole term (the price list's ``UnitPrice``), in ``currency``."""
        return Decimal(self.prices[currency]["unitPrice"])

    def erp_term_price(self, currency: str) -> Decimal:
        """The estimated retail price of one seat for the whole term (the price list's ``ERP Price``)."""
        return Decimal(self.prices[currency]["erpPrice"])

    def unit_price(self, currency: str) -> Decimal:
        """The partner's price of one seat for one billing period: term price ÷ billing periods, to the cent.

        E.g. a P1Y monthly term priced 75.60 → 6.30 a month; 157.50 → 13.13 (13.125 rounded half-up).
        """
        return self._per_period(self.term_price(currency))

    def erp_price(self, currency: str) -> Decimal:
        """The estimated retail price of one seat for one billing period (as :meth:`unit_price`)."""
        return self._per_period(self.erp_term_price(currency))

    @property
    def billing_periods(self) -> int:
        """Billing periods in the term (:func:`cspkit.billing.pricing.billing_periods`)."""
        return billing_periods(self.duration, self.billing_cycle)

    def _per_period(self, price: Decimal) -> Decimal:
        return period_price(price, self.duration, self.billing_cycle).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CatalogItem:
    """One purchasable ``productId:skuId:availabilityId`` with its product and SKU documents."""

    product: dict[str, Any]
    sku: dict[str, Any]

    @property
    def product_id(self) -> str:
        return self.product["id"]

    @property
    def sku_id(self) -> str:
        return self.sku["id"]

    @property
    def availability_id(self) -> str:
        return self.sku["availabilityId"]

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"

    @property
    def is_saas(self) -> bool:
        pt = self.product.get("productType") or {}
        return pt.get("id") == "Azure" and (pt.get("subType") or {}).get("id") == "SaaS"

    @property
    def is_azure_plan(self) -> bool:
        """The Azure plan (product ``DZH318Z0BCZC``): consumption, quantity 1, no term (Microsoft Learn, "Create an
        Azure plan")."""
        return self.product["id"].upper() == "DZH318Z0BCZC"

    @property
    def is_trial(self) -> bool:
        return bool(self.sku.get("isTrial"))

    @property
    def is_addon(self) -> bool:
        return bool(self.sku.get("isAddon"))

    @property
    def terms(self) -> list[Term]:
        return [
            Term(t["duration"], t["billingCycle"], t.get("description", ""), t["prices"]) for t in self.sku["terms"]
        ]

    def term(self, duration: str | None, billing_cycle: str | None) -> Term | None:
        """The term matching duration and billing cycle (case-insensitive); None when not offered."""
        for term in self.terms:
            if (duration is None or term.duration.upper() == duration.upper()) and (
                billing_cycle is None or term.billing_cycle.lower() == billing_cycle.lower()
            ):
                return term
        return None


class Catalog(dict):
    """The seed catalog document with lookups by id (ids are strings, compared case-insensitively)."""

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(document)
        self._products = {p["id"].upper(): p for p in self.get("products", [])}
        self._markets = {m["country"].upper(): m for m in self.get("markets", [])}

    # -- markets --------------------------------------------------------------------------------------------
    @property
    def segment(self) -> str:
        return self.get("segment", "commercial")

    def market(self, country: str | None) -> dict[str, Any] | None:
        return self._markets.get((country or "").upper())

    def currency_for(self, country: str) -> str:
        market = self.market(country)
        return market["currency"] if market else "USD"

    # -- products / skus ------------------------------------------------------------------------------------
    def products(self) -> list[dict[str, Any]]:
        return list(self._products.values())

    def product(self, product_id: str) -> dict[str, Any] | None:
        return self._products.get((product_id or "").upper())

    def sku(self, product_id: str, sku_id: str) -> dict[str, Any] | None:
        product = self.product(product_id)
        if product is None:
            return None
        return next((s for s in product["skus"] if s["id"].upper() == (sku_id or "").upper()), None)

    def item(self, product_id: str, sku_id: str) -> CatalogItem | None:
        product, sku = self.product(product_id), self.sku(product_id, sku_id)
        return CatalogItem(product, sku) if product and sku else None

    def resolve(self, catalog_item_id: str | None) -> CatalogItem | None:
        """``productId:skuId:availabilityId`` → item, or None when any part is unknown."""
        parts = (catalog_item_id or "").split(":")
        if len(parts) != 3:
            return None
        item = self.item(parts[0], parts[1])
        if item is None or item.availability_id.upper() != parts[2].upper():
            return None
        return item

    def items(self) -> list[CatalogItem]:
        return [CatalogItem(p, s) for p in self._products.values() for s in p["skus"]]

    def saas_plan(self, offer_id: str, plan_id: str) -> CatalogItem | None:
        for item in self.items():
            if item.is_saas and item.product.get("saasOfferId") == offer_id and item.sku.get("planId") == plan_id:
                return item
        return None
