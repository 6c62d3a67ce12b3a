"""Column tables of the Partner Center reconciliation formats: order, types and header aliases.

Follows /work/shared/reference/billing-formats.md:

* §1.1 the new-commerce invoice reconciliation file (47 columns, provider ``onetime`` billing line items);
* §1.2 the new-commerce daily rated usage file (55 columns, provider ``onetime`` usage line items);
* §1.6 header spelling variants (``ResellerMpnId`` = ``Tier2MpnId``, ``ReferenceID``, ``totalForCustomer`` = ``Total``,
  ``unitOfMeasure`` = ``Unit``, ``rateOfPartnerEarnedCredit`` = ``PartnerEarnedCreditPercentage`` as a fraction ...);
* §2.1 charge types (camelCase in new commerce; PascalCase in older files) — parsed in any case, emitted camelCase.

Headers are matched case-insensitively and ignoring spaces, underscores and dashes (``Subscription Id``,
``subscription_id`` and ``SUBSCRIPTIONID`` are all ``SubscriptionId``).
"""

from __future__ import annotations

import re

from cspkit.wire import (  # shared with the emulator and the models
    CHARGE_TYPES,  # §2.1, with normalize_charge_type: one charge-type rule for models and billing
    DAILY_USAGE_COLUMNS,  # §1.2, in file order (55)
    INVOICE_RECON_COLUMNS,  # §1.1, in file order (47)
    normalize_charge_type,
)

__all__ = [
    "BENEFIT_TYPES",
    "CHARGE_TYPES",
    "CREDIT_TYPES",
    "COLUMN_TYPES",
    "DAILY_USAGE_COLUMNS",
    "FRACTION_ALIASES",
    "INVOICE_RECON_COLUMNS",
    "REQUIRED_COLUMNS",
    "canonical_column",
    "normalize_charge_type",
    "normalize_header",
]

assert len(INVOICE_RECON_COLUMNS) == 47 and len(DAILY_USAGE_COLUMNS) == 55

#: Columns without which a file of that kind cannot be reconciled; the others are optional (NA when absent:
#: the Graph ``basic`` attribute set and older files leave several out).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "invoice": (
        "CustomerId", "ProductId", "SkuId", "ChargeType", "UnitPrice", "Subtotal", "Currency", "SubscriptionId",
        "ChargeStartDate", "ChargeEndDate", "EffectiveUnitPrice", "BillableQuantity",
    ),
    "daily": ("CustomerId", "SubscriptionId", "UsageDate", "Quantity", "BillingPreTaxTotal", "BillingCurrency"),
}  # fmt: skip

# Value types. id: string kept verbatim (GUIDs lower-cased, Excel's ".0" removed); sku: 4-character SKU id
# ("1" → "0001"); guid: lower-cased; str: text; text-json: JSON kept as compact text; date: UTC timestamp;
# decimal: exact Decimal; percent: Decimal percent (0–100); currency: upper-case ISO 4217; charge: charge type;
# frequency: Monthly/Annual/blank.
COLUMN_TYPES: dict[str, str] = {
    "PartnerId": "guid", "CustomerId": "guid", "SubscriptionId": "guid", "ReferenceId": "guid",
    "ReservationOrderId": "guid", "EntitlementId": "guid", "BenefitOrderId": "guid", "BenefitId": "guid",
    "MpnId": "id", "Tier2MpnId": "id", "OrderId": "id", "AlternateId": "id", "ProductId": "id", "SkuId": "sku",
    "AvailabilityId": "id", "PublisherId": "id", "PromotionId": "id", "MeterId": "id", "InvoiceNumber": "id",
    "OrderDate": "date", "ChargeStartDate": "date", "ChargeEndDate": "date", "PCToBCExchangeRateDate": "date",
    "SubscriptionStartDate": "date", "SubscriptionEndDate": "date", "UsageDate": "date",
    "UnitPrice": "decimal", "Quantity": "decimal", "Subtotal": "decimal", "TaxTotal": "decimal", "Total": "decimal",
    "EffectiveUnitPrice": "decimal", "BillableQuantity": "decimal", "PCToBCExchangeRate": "decimal",
    "BillingPreTaxTotal": "decimal", "PricingPreTaxTotal": "decimal",
    "PartnerEarnedCreditPercentage": "percent", "CreditPercentage": "percent",
    "Currency": "currency", "PricingCurrency": "currency", "BillingCurrency": "currency",
    "CustomerCountry": "upper",
    "ChargeType": "charge", "BillingFrequency": "frequency",
    "ProductQualifiers": "text-json", "PriceAdjustmentDescription": "text-json", "Tags": "text-json",
    "AdditionalInfo": "text-json",
}  # fmt: skip

_SEP = re.compile(r"[\s_\-./]+")


def normalize_header(name: str) -> str:
    """Fold a header for matching: lower case, no spaces/underscores/dashes/dots, BOM and quotes removed."""
    return _SEP.sub("", str(name).replace("\ufeff", "").strip().strip('"')).lower()


_CANONICAL = {normalize_header(c): c for c in INVOICE_RECON_COLUMNS + DAILY_USAGE_COLUMNS}

#: §1.6 spelling variants → canonical column.
_ALIASES = {
    "resellermpnid": "Tier2MpnId",
    "totalforcustomer": "Total",
    "posttaxtotal": "Total",
    "tax": "TaxTotal",
    "unitofmeasure": "Unit",
    "rateofpartnerearnedcredit": "PartnerEarnedCreditPercentage",
    "rateofcredit": "CreditPercentage",
    "partnerearnedcreditpercent": "PartnerEarnedCreditPercentage",
    "creditpercent": "CreditPercentage",
    "pctobcexchangeratedatetime": "PCToBCExchangeRateDate",
}

#: Aliases whose values are fractions (0.15) where the canonical column holds a percent (15): §6.6.
FRACTION_ALIASES = frozenset({"rateofpartnerearnedcredit", "rateofcredit"})


def canonical_column(name: str) -> str | None:
    """The canonical PascalCase column for a header or JSON key, or None when it is not a documented column."""
    key = normalize_header(name)
    return _CANONICAL.get(key) or _ALIASES.get(key)


#: §1.2 column 52, the daily rated usage file's ``CreditType`` values, as written: ``Partner Earned Credit Applied``
#: (PartnerEarnedCreditPercentage and CreditPercentage 15) and ``Credit Not Applied`` (both blank) on the real billed
#: November 2025 file; ``Azure Credit Applied`` from the SDK's documentation [sdk S8].
CREDIT_TYPES: tuple[str, ...] = ("Partner Earned Credit Applied", "Credit Not Applied", "Azure Credit Applied")

#: §1.2 column 55, ``BenefitType``: ``Charge`` on every row of the real billed file (savings-plan benefit rows are
#: documented but not seen).
BENEFIT_TYPES: tuple[str, ...] = ("Charge",)
