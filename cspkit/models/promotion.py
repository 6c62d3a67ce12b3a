"""New-commerce promotions, promotion eligibilities and custom term end dates (co-terming).

Shapes (Microsoft Learn, Partner Center REST API; summarised in docs/partner-center-promotions.md):

- "Get promotions" / "Promotion resources": Promotion ``{id, name, description, startDate, endDate, properties:
  {isAutoApplicable}, requiredProducts: [{productId, skuId, term: {duration, billingCycle}, pricingPolicies:
  [{policyType, value}]}]}``; the documented ``policyType`` is ``PercentDiscount`` with ``value`` a fraction
  (``"0.05"`` = 5% off). ⚠ The resource page also names a flat-rate type, without its spelling; such policies are kept
  and read as "unknown discount" (no promotional price is computed for them).
- "Verify promotion eligibility": PromotionEligibilities ``{id, catalogItemId, quantity, billingCycle,
  termDuration, eligibilities: [{promotionId, isEligible, errors: [{type, description, ...}]}]}`` (error types
  ``Term``, ``SeatCount``, ``RedemptionLimit``, ``InvalidPromotion``...; extra fields such as
  ``minimumRequiredSeats`` are kept).
- "Get custom term end dates": ``{allowedCustomTermEndDateType: calendarMonthAligned | subscriptionAligned,
  allowedCustomTermEndDate, cotermSubscriptionIds}``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from cspkit.models.base import Money, PCModel, UtcDateTime
from cspkit.models.common import BillingCycle, ResourceAttributes, TermDuration

__all__ = ["CustomTermEndDate", "PricingPolicy", "Promotion", "PromotionEligibilities", "PromotionEligibility",
           "PromotionEligibilityError", "PromotionProperties", "PromotionTerm", "RequiredProduct"]


class PromotionTerm(PCModel):
    """A term a promotion applies to: ``duration`` (P1M/P1Y/P3Y) and ``billing_cycle`` (monthly, annual...)."""

    duration: TermDuration | None = None
    billing_cycle: BillingCycle | None = None


class PricingPolicy(PCModel):
    """One discount of a promotion: ``policy_type`` (``PercentDiscount``) and ``value`` (a fraction, 0.05 = 5%)."""

    policy_type: str | None = None
    value: Money | None = None

    @property
    def percent_off(self) -> Decimal | None:
        """The fraction taken off for a ``PercentDiscount`` (0.20 = 20% off), else None."""
        if (self.policy_type or "").lower() == "percentdiscount" and self.value is not None:
            return self.value
        return None


class RequiredProduct(PCModel):
    """The product, SKU and term a promotion applies to, and its pricing policies."""

    product_id: str | None = None
    sku_id: str | None = None
    term: PromotionTerm | None = None
    pricing_policies: list[PricingPolicy] = []

    def matches(self, product_id: str, sku_id: str, term_duration: str, billing_cycle: str) -> bool:
        term = self.term or PromotionTerm()
        return ((self.product_id or "").upper() == product_id.upper() and (self.sku_id or "").upper() == sku_id.upper()
                and (term.duration or "").upper() == term_duration.upper()
                and str(term.billing_cycle or "").lower() == billing_cycle.lower())


class PromotionProperties(PCModel):
    is_auto_applicable: bool | None = None


class Promotion(PCModel):
    """A new-commerce promotion of a market (``GET /productpromotions?country=&segment=``)."""

    id: str
    name: str | None = None
    description: str | None = None
    start_date: UtcDateTime | None = None
    end_date: UtcDateTime | None = None
    properties: PromotionProperties | None = None
    required_products: list[RequiredProduct] = []

    def policy_for(self, product_id: str, sku_id: str, term_duration: str, billing_cycle: str) -> PricingPolicy | None:
        """The pricing policy this promotion gives the product, SKU, term and billing cycle (None: not covered)."""
        for req in self.required_products:
            if req.matches(product_id, sku_id, term_duration, billing_cycle):
                return req.pricing_policies[0] if req.pricing_policies else PricingPolicy()
        return None

    def in_force(self, at: datetime) -> bool:
        return (self.start_date is None or self.start_date <= at) and (self.end_date is None or at <= self.end_date)


class PromotionEligibilityError(PCModel):
    """Why a transaction is not eligible: ``type`` (``Term``, ``SeatCount``, ``RedemptionLimit``...) and
    ``description``; the type's own fields (``minimumRequiredSeats``, ``eligibleTerms``...) are kept as extras."""

    type: str | None = None
    description: str | None = None

    def text(self) -> str:
        extra = {k: v for k, v in (self.model_extra or {}).items()}
        details = ", ".join(f"{k}={v}" for k, v in extra.items())
        return f"{self.type}: {self.description or ''}".strip() + (f" ({details})" if details else "")


class PromotionEligibility(PCModel):
    promotion_id: str | None = None
    is_eligible: bool = False
    errors: list[PromotionEligibilityError] = []


class PromotionEligibilities(PCModel):
    """The eligibilities of one request item (``POST /customers/{id}/promotionEligibilities``)."""

    id: int | None = None
    catalog_item_id: str | None = None
    quantity: int | None = None
    billing_cycle: BillingCycle | None = None
    term_duration: TermDuration | None = None
    eligibilities: list[PromotionEligibility] = []
    attributes: ResourceAttributes | None = None

    def for_promotion(self, promotion_id: str) -> PromotionEligibility | None:
        return next((e for e in self.eligibilities if (e.promotion_id or "").lower() == promotion_id.lower()), None)


class CustomTermEndDate(PCModel):
    """One allowed end date of a new subscription's term (``GET /customers/{id}/subscriptions/customTermEndDates``):
    ``kind`` ``calendarMonthAligned`` or ``subscriptionAligned`` (then ``coterm_subscription_ids``), ``end_date``
    the term's last day (UTC midnight)."""

    allowed_custom_term_end_date_type: str | None = None
    allowed_custom_term_end_date: UtcDateTime | None = None
    coterm_subscription_ids: list[str] = []

    @property
    def kind(self) -> str | None:
        return self.allowed_custom_term_end_date_type

    @property
    def end_date(self) -> datetime | None:
        return self.allowed_custom_term_end_date
