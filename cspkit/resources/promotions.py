"""New-commerce promotions and custom term end dates (co-terming).

Doc pages (Microsoft Learn, Partner Center REST API; shapes in :mod:`cspkit.models.promotion` and
docs/partner-center-promotions.md):

- "Get promotions": ``GET /productpromotions?country={country-code}&segment={segment}`` (both required; segment
  "currently supports only commercial") → a collection of promotions in force now.
- "Get promotion by ID": ``GET /productpromotions/{promotion-id}?country={country-code}``.
- "Verify promotion eligibility": ``POST /customers/{customerId}/promotionEligibilities`` with ``{"items":
  [{"id", "catalogItemId", "quantity", "termDuration", "billingCycle", "promotionId"?}]}`` → a collection of
  PromotionEligibilities (625 requests a minute per partner tenant).
- "Get custom term end dates": ``GET /customers/{customerId}/subscriptions/customTermEndDates?term_duration=P1M
  [&term_start_date=][&target_coterm_subscription_id=]`` → allowed end dates (calendar-month or subscription
  aligned), at most 300 a page with a continuation token.

The cart line then carries ``promotionId`` and/or ``customTermEndDate`` (partner-center-api.md §3.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from cspkit.models.promotion import CustomTermEndDate, Promotion, PromotionEligibilities
from cspkit.resources.base import Resource, segment

__all__ = ["CustomTermEndDates", "Promotions"]


class Promotions(Resource):
    """``pc.promotions``: new-commerce promotions of a market and a customer's eligibility for them."""

    def list(self, *, country: str, segment_name: str = "commercial") -> list[Promotion]:
        """Get promotions (``GET /productpromotions?country=&segment=``): those in force now.

        Args:
            country: ISO 3166 alpha-2 of the customers' market (``US``).
            segment_name: the customer segment (``commercial``, the only one Partner Center supports today).
        Returns:
            :class:`~cspkit.models.promotion.Promotion` list (id, dates, required products with term and
            pricing policies such as ``PercentDiscount`` 0.05).
        """
        params = {"country": country.upper(), "segment": segment_name.lower()}
        return list(self.transport.paginate("productpromotions", params=params, parse=Promotion.from_wire))

    def get(self, promotion_id: str, *, country: str) -> Promotion:
        """Get promotion by ID (``GET /productpromotions/{id}?country=``). Raises NotFoundError."""
        return Promotion.from_wire(self.transport.get_json(f"productpromotions/{segment(promotion_id)}",
                                                           params={"country": country.upper()}))

    def eligibilities(self, customer_id: str, items: Iterable[Mapping[str, Any]]) -> list[PromotionEligibilities]:
        """Verify promotion eligibility (``POST /customers/{customerId}/promotionEligibilities``).

        Args:
            items: dicts ``{catalogItemId, quantity, termDuration, billingCycle, promotionId?}`` (``id`` 0..n-1 is
                filled in when missing); without ``promotionId`` every promotion of the offer is evaluated.
        Returns:
            One :class:`~cspkit.models.promotion.PromotionEligibilities` per item (``eligibilities[]`` with
            ``is_eligible`` and the ``errors`` that explain a refusal).
        Raises:
            ValueError: no items; NotFoundError: unknown customer; BadRequestError: a malformed item.
        """
        body = {"items": [{"id": i, **dict(item)} if "id" not in item else dict(item)
                          for i, item in enumerate(items)]}
        if not body["items"]:
            raise ValueError("a promotion eligibility check needs at least one item")
        response = self.transport.request("POST", f"customers/{segment(customer_id)}/promotionEligibilities",
                                          json=body)
        return [PromotionEligibilities.from_wire(x) for x in (response.json or {}).get("items", [])]


class CustomTermEndDates(Resource):
    """``pc.term_end_dates``: the end dates a customer's new subscription may be aligned to (co-terming)."""

    def list(self, customer_id: str, *, term_duration: str, term_start_date: date | datetime | None = None,
             target_subscription_id: str | None = None) -> list[CustomTermEndDate]:
        """Get custom term end dates (``GET /customers/{customerId}/subscriptions/customTermEndDates``).

        Args:
            term_duration: the new subscription's term, ``P1M``, ``P1Y`` or ``P3Y`` (query ``term_duration``).
            term_start_date: the intended purchase date (not in the past; default today).
            target_subscription_id: only the dates of this subscription (``target_coterm_subscription_id``).
        Returns:
            :class:`~cspkit.models.promotion.CustomTermEndDate` list (``kind`` calendarMonthAligned or
            subscriptionAligned with ``coterm_subscription_ids``; ``end_date`` the term's last day), every page.
        Raises:
            NotFoundError: unknown customer; BadRequestError: a bad term or a start date in the past.
        """
        params: dict[str, Any] = {"term_duration": term_duration.upper()}
        if term_start_date is not None:
            params["term_start_date"] = term_start_date.isoformat()
        if target_subscription_id:
            params["target_coterm_subscription_id"] = target_subscription_id
        return list(self.transport.paginate(f"customers/{segment(customer_id)}/subscriptions/customTermEndDates",
                                            params=params, parse=CustomTermEndDate.from_wire))
