"""Wire-format constants shared by the client and the emulator (and nothing else: each keeps the other honest).

Sources: Partner Center "Get a price sheet" (the new-commerce license-based price list header, billing-formats.md
§1.5) — 18 documented columns in file order, then ``Segment`` as current files carry it.
"""

from __future__ import annotations

__all__ = [
    "EMULATOR_INSTANCE_HEADER",
    "EMULATOR_TOKEN",
    "INVOICE_RECON_COLUMNS",
    "PRICE_LIST_HEADER",
    "PRICE_SHEET_VIEWS",
    "json_key",
]

#: The bearer token every emulator accepts unless started with another (not a secret: it listens on loopback).
EMULATOR_TOKEN = "cspkit-emulator-token"
#: Response header of every emulator answer: the instance id a fresh emulator or a reset mints (never sent by
#: Partner Center). The ledger journals writes per instance.
EMULATOR_INSTANCE_HEADER = "X-Cspkit-Emulator-Instance"

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

#: The new-commerce invoice reconciliation file's 47 columns in file order (billing-formats.md §1.1);
#: ``ProductCategory`` (the last) only appears in files from about 2023 on.
INVOICE_RECON_COLUMNS: tuple[str, ...] = (
    "PartnerId", "CustomerId", "CustomerName", "CustomerDomainName", "CustomerCountry", "InvoiceNumber", "MpnId",
    "Tier2MpnId", "OrderId", "OrderDate", "ProductId", "SkuId", "AvailabilityId", "SkuName", "ProductName",
    "ChargeType", "UnitPrice", "Quantity", "Subtotal", "TaxTotal", "Total", "Currency", "PriceAdjustmentDescription",
    "PublisherName", "PublisherId", "SubscriptionDescription", "SubscriptionId", "ChargeStartDate", "ChargeEndDate",
    "TermAndBillingCycle", "EffectiveUnitPrice", "UnitType", "AlternateId", "BillableQuantity", "BillingFrequency",
    "PricingCurrency", "PCToBCExchangeRate", "PCToBCExchangeRateDate", "MeterDescription", "ReservationOrderId",
    "CreditReasonCode", "SubscriptionStartDate", "SubscriptionEndDate", "ReferenceId", "ProductQualifiers",
    "PromotionId", "ProductCategory",
)  # fmt: skip


def json_key(column: str) -> str:
    """A file column's camelCase JSON key (``PartnerId`` → ``partnerId``, ``PCToBCExchangeRate`` →
    ``pcToBCExchangeRate``)."""
    if column.startswith("PCTo"):
        return "pc" + column[2:]
    return column[:1].lower() + column[1:]
