"""New-commerce promotions and co-terming (custom term end dates): a part of
:class:`~cspkit.emulator.backend.Backend`.

Shapes and rules, from Microsoft Learn (Partner Center REST API):

- "Get promotions" (``GET /v1/productpromotions?country={country}&segment={segment}``, both required; "returns
  available current promotions based on the promotions available start and end dates"; segment "currently supports
  only commercial") and "Promotion resources": ``{id, name, description, startDate, endDate, properties:
  {isAutoApplicable}, requiredProducts: [{productId, skuId, term: {duration, billingCycle}, pricingPolicies:
  [{policyType: "PercentDiscount", value: "0.05"}]}]}`` — the value is a fraction (0.05 = 5% off).
- "Verify promotion eligibility" (``POST /v1/customers/{id}/promotionEligibilities``, body ``{items: [{id?,
  catalogItemId, quantity, termDuration, billingCycle, promotionId?}]}``) → a collection of ``PromotionEligibilities``
  ``{id, catalogItemId, quantity, billingCycle, termDuration, eligibilities: [{promotionId, isEligible, errors:
  [{type, description, ...}]}]}``; error types ``InvalidCatalogItemId``, ``InvalidPromotion``,
  ``PrerequisiteProductOwnership``, ``RedemptionLimit`` (``maxPromotionRedemptionCount``,
  ``remainingPromotionRedemptionCount``), ``SeatCount`` (``minimumRequiredSeats``, ``maximumRequiredSeats``),
  ``OfferPurchasedPreviously``, ``Term`` (``eligibleTerms``), ``NoPromotionsAvailable``. Without ``promotionId``
  every promotion of the offer is evaluated.
- A cart line's ``promotionId`` that is not eligible is flagged ``InvalidPromotionId`` (CartErrorCode 10014,
  partner-center-api.md §3.3); an eligible one is recorded on the subscription (``promotionId``) and its charges
  carry ``PromotionId``, the list ``UnitPrice`` and the discounted ``EffectiveUnitPrice`` (billing-formats.md §1.1:
  UnitPrice is the price-list price, EffectiveUnitPrice the "prorated, discounted" one; the documented
  reconciliation sample bills a promoted Power BI line at unitPrice 16, effectiveUnitPrice 14.4 with the
  PriceAdjustmentDescription below). The promotion holds for the term it was bought with, not for renewals.
- "Get custom term end dates" (``GET /v1/customers/{id}/subscriptions/customTermEndDates?term_duration=P1M
  [&term_start_date=...][&target_coterm_subscription_id=...]``; "APIs only support the calculation of custom term
  end dates for the purchase of new subscriptions"; term_start_date "can't be in the past") → a collection of
  ``{allowedCustomTermEndDateType: "calendarMonthAligned" | "subscriptionAligned", allowedCustomTermEndDate,
  cotermSubscriptionIds?}``. The emulator offers the last calendar-month end on or before the default term end, and
  the end date of every active licence-based subscription of the customer that falls inside the new term. A cart line's
  ``customTermEndDate`` outside those is ``InvalidCustomTermEndDate`` (10017); on a product that cannot be co-termed
  (marketplace SaaS, trials) ``InvalidCustomTermEndDateProduct`` (10016).
- The co-termed first charge is prorated (billing-formats.md §2.4: ``EffectiveUnitPrice = UnitPrice /
  chargeCycleDays × billingDays``): the charge cycles are counted back from the aligned end date, so the first one
  runs from the purchase to the first aligned cycle boundary, at its share of that cycle.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator._util import add_duration, add_months, days_in_month, parse_dt
from cspkit.emulator.billing import prorated_span
from cspkit.emulator.models import CartLine, Customer, EmulatorError, SeatWindow, Subscription

__all__ = ["PROMOTED_PRICE_ADJUSTMENT", "PromotionOps"]

#: PriceAdjustmentDescription of the promoted line in Microsoft's documented invoice reconciliation sample
#: (``invoice_lineitems_onetime.json``, promotionId 78bcf906-…; billing-formats.md §2.3).
PROMOTED_PRICE_ADJUSTMENT = (
    '["Price for given billing period","You are getting a discount due to a pre-determined override.",'
    '"You are getting a discount for being a partner.","You are getting a price guarantee for your price.",'
    '"Price for given term"]'
)

_DESCRIPTIONS = {
    "InvalidCatalogItemId": "The provided CatalogItemId is invalid.",
    "InvalidPromotion": "The provided promotion is invalid.",
    "RedemptionLimit": "The redemption limit for this promotion has been met.",
    "SeatCount": "The provided quantity does not satisfy the minimum or maximum seat requirements for the promotion.",
    "Term": "The provided term is not applicable for the promotion.",
    "NoPromotionsAvailable": "There are no promotions available at this time.",
}
_CYCLE_MONTHS = {"monthly": 1, "annual": 12, "triennial": 36}


def _error(kind: str, **extra: Any) -> dict[str, Any]:
    return {**extra, "type": kind, "description": _DESCRIPTIONS[kind]}


def _last_day(d: date) -> date:
    return d.replace(day=days_in_month(d.year, d.month))


class PromotionOps:
    """Operations of :class:`~cspkit.emulator.backend.Backend` on its state (its lock, clock and tables)."""

    # -- promotions -----------------------------------------------------------------------------------------------
    def _promotions(self) -> list[dict[str, Any]]:
        return list(self.catalog.get("promotions") or [])

    def _active(self, promo: dict[str, Any], at: datetime) -> bool:
        return parse_dt(promo["startDate"]) <= at <= parse_dt(promo["endDate"])

    @staticmethod
    def _in_market(promo: dict[str, Any], country: str | None, segment: str | None = None) -> bool:
        rules = promo.get("emulator") or {}
        countries = [c.upper() for c in rules.get("countries") or []]
        if country and countries and country.upper() not in countries:
            return False
        return not segment or segment.lower() == str(rules.get("segment") or "commercial").lower()

    @operation
    def list_promotions(self, *, country: str | None, segment: str | None) -> list[dict[str, Any]]:
        """The promotions in force now for a market and segment (both required, 400 otherwise)."""
        if not country or not segment:
            raise EmulatorError(400, "400", "The country and segment query parameters are required.")
        now = self.now()
        return [p for p in self._promotions() if self._active(p, now) and self._in_market(p, country, segment)]

    @operation
    def get_promotion(self, promotion_id: str, *, country: str | None) -> dict[str, Any]:
        if not country:
            raise EmulatorError(400, "400", "The country query parameter is required.")
        for p in self._promotions():
            if p["id"].lower() == (promotion_id or "").lower() and self._in_market(p, country):
                return p
        raise EmulatorError(404, "600036", f"Promotion {promotion_id} was not found for country {country}.")

    def _find_promotion(self, promotion_id: str | None) -> dict[str, Any] | None:
        return next((p for p in self._promotions() if p["id"].lower() == (promotion_id or "").lower()), None)

    @staticmethod
    def discount_of(promo: dict[str, Any], product_id: str, sku_id: str) -> Decimal:
        """The PercentDiscount fraction of ``promo`` for the product and SKU (0 when it has none)."""
        for req in promo.get("requiredProducts") or []:
            if req["productId"].upper() == product_id.upper() and req["skuId"].upper() == sku_id.upper():
                for policy in req.get("pricingPolicies") or []:
                    if str(policy.get("policyType", "")).lower() == "percentdiscount":
                        return Decimal(str(policy["value"]))
        return Decimal(0)

    def _promotion_errors(self, customer: Customer, promo: dict[str, Any] | None, catalog_item_id: str,
                          quantity: int, term_duration: str | None, billing_cycle: str | None) -> list[dict]:
        """Why ``promo`` does not apply to this transaction (empty when it does)."""
        item = self.catalog.resolve(catalog_item_id)
        if item is None:
            return [_error("InvalidCatalogItemId")]
        if promo is None or not self._active(promo, self.now()) or not self._in_market(promo, customer.country):
            return [_error("InvalidPromotion")]
        required = [r for r in promo.get("requiredProducts") or []
                    if r["productId"].upper() == item.product_id.upper() and r["skuId"].upper() == item.sku_id.upper()]
        if not required:
            return [_error("InvalidPromotion")]
        errors = []
        terms = [r["term"] for r in required]
        if not any(t["duration"].upper() == (term_duration or "").upper()
                   and t["billingCycle"].lower() == (billing_cycle or "").lower() for t in terms):
            errors.append(_error("Term", eligibleTerms=[{"duration": t["duration"], "billingCycle": t["billingCycle"]}
                                                        for t in terms]))
        rules = promo.get("emulator") or {}
        lo, hi = int(rules.get("minimumSeats", 1)), int(rules.get("maximumSeats", 10**6))
        if not lo <= quantity <= hi:
            errors.append(_error("SeatCount", minimumRequiredSeats=lo, maximumRequiredSeats=hi))
        limit = rules.get("maxRedemptionsPerCustomer")
        if limit is not None:
            used = sum(1 for s in self.subscriptions.values()
                       if s.customer_id == customer.id and (s.promotion_id or "").lower() == promo["id"].lower())
            if used >= int(limit):
                errors.append(_error("RedemptionLimit", maxPromotionRedemptionCount=int(limit),
                                     remainingPromotionRedemptionCount=max(0, int(limit) - used)))
        return errors

    @operation
    def promotion_eligibilities(self, customer_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Verify promotion eligibility for each item ``{id?, catalogItemId, quantity, termDuration, billingCycle,
        promotionId?}``; without a promotionId every promotion of the item's product and SKU is evaluated."""
        customer = self.get_customer(customer_id)
        if not items:
            raise EmulatorError(400, "400", "items is required: at least one promotion eligibility request item.")
        out = []
        for i, raw in enumerate(items):
            catalog_item_id = str(raw.get("catalogItemId") or "")
            try:
                quantity = int(raw.get("quantity") or 0)
            except (TypeError, ValueError):
                raise EmulatorError(400, "400",
                                    f"items[{i}].quantity {raw.get('quantity')!r} is not a number.") from None
            term, cycle = raw.get("termDuration"), raw.get("billingCycle")
            wanted = raw.get("promotionId")
            if wanted:
                candidates = [(wanted, self._find_promotion(wanted))]
            else:
                item = self.catalog.resolve(catalog_item_id)
                now = self.now()
                candidates = [(p["id"], p) for p in self._promotions()
                              if item is not None and self._active(p, now) and self._in_market(p, customer.country)
                              and self.discount_of(p, item.product_id, item.sku_id) > 0]
            eligibilities = []
            for promo_id, promo in candidates:
                errors = self._promotion_errors(customer, promo, catalog_item_id, quantity, term, cycle)
                eligibilities.append({"promotionId": promo_id, "isEligible": not errors,
                                      **({"errors": errors} if errors else {})})
            if not candidates:
                eligibilities.append({"isEligible": False, "errors": [_error("NoPromotionsAvailable")]})
            out.append({"id": int(raw.get("id", i)), "catalogItemId": catalog_item_id, "quantity": quantity,
                        "billingCycle": cycle, "termDuration": term, "eligibilities": eligibilities,
                        "attributes": {"objectType": "PromotionEligibilities"}})
        return out

    # -- custom term end dates (co-terming) -----------------------------------------------------------------------
    @staticmethod
    def _last_term_day(sub: Subscription) -> date:
        """A subscription's last day of term (its reconciliation lines' SubscriptionEndDate)."""
        return (sub.commitment_end - timedelta(days=1)).date()

    def _coterm_targets(self, customer: Customer) -> list[Subscription]:
        return [s for s in self.subscriptions.values()
                if s.customer_id == customer.id and s.status == "active" and not s.is_trial and not s.is_saas
                and s.commitment_end is not None]

    @operation
    def custom_term_end_dates(self, customer_id: str, *, term_duration: str | None, term_start_date: Any = None,
                              target_subscription_id: str | None = None) -> list[dict[str, Any]]:
        """The allowed custom term end dates of a new subscription of ``term_duration`` bought on
        ``term_start_date`` (default now): ``[(type, last day of term, [subscription ids])]`` as wire dicts."""
        customer = self.get_customer(customer_id)
        if not term_duration or term_duration.upper() not in ("P1M", "P1Y", "P3Y"):
            raise EmulatorError(400, "400", f"term_duration {term_duration!r} is not valid: use P1M, P1Y or P3Y.")
        now = self.now()
        start = now
        if term_start_date:
            try:
                start = parse_dt(term_start_date)
            except (TypeError, ValueError):
                raise EmulatorError(400, "400", f"term_start_date {term_start_date!r} is not a date.") from None
            if start.date() < now.date():
                raise EmulatorError(400, "400", f"term_start_date {start.date()} is in the past.")
        return self._allowed_end_dates(customer, term_duration.upper(), start, target_subscription_id)

    def _allowed_end_dates(self, customer: Customer, term_duration: str, start: datetime,
                           target: str | None = None) -> list[dict[str, Any]]:
        default_last = (add_duration(start, term_duration) - timedelta(days=1)).date()
        month_end = _last_day(default_last)
        if month_end != default_last:
            month_end = default_last.replace(day=1) - timedelta(days=1)
        items: list[dict[str, Any]] = []
        if month_end >= start.date():
            items.append({"allowedCustomTermEndDateType": "calendarMonthAligned",
                          "allowedCustomTermEndDate": f"{month_end.isoformat()}T00:00:00"})
        by_day: dict[date, list[str]] = {}
        for sub in self._coterm_targets(customer):
            if target and sub.id.lower() != target.lower():
                continue
            day = self._last_term_day(sub)
            if start.date() <= day <= default_last:
                by_day.setdefault(day, []).append(sub.id)
        for day in sorted(by_day):
            items.append({"allowedCustomTermEndDateType": "subscriptionAligned", "cotermSubscriptionIds": by_day[day],
                          "allowedCustomTermEndDate": f"{day.isoformat()}T00:00:00"})
        return items

    def _check_custom_term_end(self, customer: Customer, line: CartLine, item: Any) -> tuple[int, str] | None:
        """(cart error code, description) when the line's customTermEndDate cannot be used, else None."""
        if line.custom_term_end_date is None:
            return None
        if item.is_saas or item.is_trial or (line.billing_cycle or "").lower() not in _CYCLE_MONTHS:
            return 10016, f"{line.catalog_item_id} cannot be bought with a custom term end date."
        wanted = line.custom_term_end_date.date()
        allowed = self._allowed_end_dates(customer, line.term_duration or "", self.now())
        days = [date.fromisoformat(a["allowedCustomTermEndDate"][:10]) for a in allowed]
        if wanted not in days:
            return 10017, (f"customTermEndDate {wanted} is not allowed for a {line.term_duration} term bought now "
                           f"(allowed: {', '.join(d.isoformat() for d in days) or 'none'}).")
        return None

    # -- the start of a co-termed term and a promotion on a new subscription ---------------------------------------
    def _apply_promotion(self, sub: Subscription, line: CartLine) -> None:
        promo = self._find_promotion(line.promotion_id) if line.promotion_id else None
        if promo is not None:
            sub.promotion_id = promo["id"]
            sub.promotion_discount = self.discount_of(promo, sub.product_id, sub.sku_id)

    def _coterm_end(self, customer: Customer, last_day: date) -> datetime:
        """The exclusive end instant of a term whose last day is ``last_day``: the co-termed subscription's own end
        (so both renew together), else the next midnight UTC."""
        for sub in self._coterm_targets(customer):
            if self._last_term_day(sub) == last_day:
                return sub.commitment_end
        return datetime.combine(last_day + timedelta(days=1), time.min, UTC)

    def _start_coterm(self, sub: Subscription, *, last_day: date, reference_id: str) -> None:
        """Begin a purchased term that ends on ``last_day`` (the cart line's customTermEndDate): dates, windows, the
        prorated first charge (from now to the first cycle boundary counted back from the end), events."""
        now = self.now()
        sub.status = "active"
        sub.effective_start = now
        sub.commitment_end = self._coterm_end(self.customers[sub.customer_id], last_day)
        step = _CYCLE_MONTHS[sub.billing_cycle.lower()]
        k = 0
        while add_months(sub.commitment_end, -(k + 1) * step) > now:
            k += 1
        boundary = add_months(sub.commitment_end, -k * step)
        sub.cycle_start, sub.cycle_end = now, boundary
        rule = self.policy.refund_rule(saas=sub.is_saas, term_duration=sub.term_duration)
        window = SeatWindow(sub.quantity, now, now + rule.full, now + rule.window)
        sub.term_window = window
        sub.seat_windows = [copy.copy(window)]
        self._touch(sub)
        span = prorated_span(now, add_months(boundary, -step), boundary, sub.billing_cycle)
        self._charge(sub, "new", +1, sub.quantity, span, reference_id)
        self.clock.schedule(window.until, "window_close", subscription_id=sub.id, scope="term")
        self.clock.schedule(sub.commitment_end, "term_end", subscription_id=sub.id, term_end=sub.commitment_end)
        if sub.cycle_end < sub.commitment_end:
            self.clock.schedule(sub.cycle_end, "cycle", subscription_id=sub.id, cycle_end=sub.cycle_end)
