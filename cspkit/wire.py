"""Wire-format constants shared by the client and the emulator (and nothing else: each keeps the other honest).

Sources: Partner Center "Get a price sheet" (the new-commerce license-based price list header, billing-formats.md
§1.5) — 18 documented columns in file order, then ``Segment`` as current files carry it.
"""

from __future__ import annotations

__all__ = ["PRICE_LIST_HEADER", "PRICE_SHEET_VIEWS"]

#: The new-commerce price list header as files and the price-sheet API write it (``ERP Price`` with its space).
PRICE_LIST_HEADER: tuple[str, ...] = (
    "ProductTitle",
    "ProductId",
    "SkuId",
    "SkuTitle",
    "Publisher",
    "SkuDescription",
    "UnitOfMeasure",
    "TermDuration",
    "BillingPlan",
    "Market",
    "Currency",
    "UnitPrice",
    "PricingTierRangeMin",
    "PricingTierRangeMax",
    "EffectiveStartDate",
    "EffectiveEndDate",
    "Tags",
    "ERP Price",
    "Segment",
)

#: ``PricesheetView`` values of the price-sheet API.
PRICE_SHEET_VIEWS: tuple[str, ...] = (
    "updatedlicensebased",
    "marketplace",
    "azure_consumption",
    "azure_reservations",
    "software",
)
