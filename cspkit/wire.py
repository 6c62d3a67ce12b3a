"""Wire-format constants shared by the client and the emulator (and nothing else: each keeps the other honest).

Charge types (billing-formats.md §2.1; partner-center-api.md §6.1 for the v1 API's ``Purchase``/``Refund``) are a
wire value every layer reads: :func:`normalize_charge_type` is their one rule, used by the models
(:mod:`cspkit.models.invoice`) and the billing readers (:mod:`cspkit.billing.recon_columns`) alike.

Sources: Partner Center "Get a price sheet" (the new-commerce license-based price list header, billing-formats.md
§1.5) — 18 documented columns in file order, then ``Segment`` as current files carry it.
"""

from __future__ import annotations

import re

__all__ = [
    "CHARGE_TYPES",
    "DAILY_USAGE_COLUMNS",
    "EMULATOR_INSTANCE_HEADER",
    "EMULATOR_TOKEN",
    "INVOICE_RECON_COLUMNS",
    "PRICE_LIST_HEADER",
    "PRICE_SHEET_VIEWS",
    "json_key",
    "normalize_charge_type",
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

#: The daily rated usage file's 55 columns in file order (billing-formats.md §1.2). The order is the real file's
#: (``../shared/realdata/daily-rated-usage-2025-11-subset.csv``, billed daily rated usage, November 2025), which
#: ends ``CreditType, BenefitId, BenefitOrderId, BenefitType``.
DAILY_USAGE_COLUMNS: tuple[str, ...] = (
    "PartnerId", "PartnerName", "CustomerId", "CustomerName", "CustomerDomainName", "CustomerCountry", "MpnId",
    "Tier2MpnId", "InvoiceNumber", "ProductId", "SkuId", "AvailabilityId", "SkuName", "ProductName", "PublisherName",
    "PublisherId", "SubscriptionDescription", "SubscriptionId", "ChargeStartDate", "ChargeEndDate", "UsageDate",
    "MeterType", "MeterCategory", "MeterId", "MeterSubCategory", "MeterName", "MeterRegion", "Unit",
    "ResourceLocation", "ConsumedService", "ResourceGroup", "ResourceURI", "ChargeType", "UnitPrice", "Quantity",
    "UnitType", "BillingPreTaxTotal", "BillingCurrency", "PricingPreTaxTotal", "PricingCurrency", "ServiceInfo1",
    "ServiceInfo2", "Tags", "AdditionalInfo", "EffectiveUnitPrice", "PCToBCExchangeRate", "PCToBCExchangeRateDate",
    "EntitlementId", "EntitlementDescription", "PartnerEarnedCreditPercentage", "CreditPercentage", "CreditType",
    "BenefitId", "BenefitOrderId", "BenefitType",
)  # fmt: skip


def json_key(column: str) -> str:
    """A file column's camelCase JSON key (``PartnerId`` → ``partnerId``, ``PCToBCExchangeRate`` →
    ``pcToBCExchangeRate``)."""
    if column.startswith("PCTo"):
        return "pc" + column[2:]
    return column[:1].lower() + column[1:]


#: §2.1 new-commerce charge types (emitted exactly like this) and older spellings mapped onto them. ``usage`` is the
#: daily rated usage file's: ``Usage`` on every row of the real billed November 2025 file (§1.2 column 33).
CHARGE_TYPES: tuple[str, ...] = (
    "new", "renew", "cycleCharge", "addQuantity", "removeQuantity", "cancelImmediate", "convert", "moveQuantity",
    "changeBillingPlan", "customerCredit", "usage",
)  # fmt: skip
_CHARGE_FOLD = {c.lower(): c for c in CHARGE_TYPES} | {"purchase": "new", "cancel": "cancel", "refund": "cancel"}


def normalize_charge_type(value: str | None) -> str | None:
    """Charge type in any case (``New``, ``CANCELIMMEDIATE``, ``cycle_charge``) → camelCase (``new``, ...).

    ``Purchase`` → ``new`` and ``Refund`` → ``cancel`` (the v1 API's mapping, §6.1). Values we do not know are
    returned with their first letter lower-cased and spaces kept (legacy descriptive strings survive as text).
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    folded = re.sub(r"[\s_\-]+", "", text).lower()
    if folded in _CHARGE_FOLD:
        return _CHARGE_FOLD[folded]
    return text[:1].lower() + text[1:]
