"""Promotions and custom term end dates (co-terming): thin handlers over
:mod:`cspkit.emulator.backend_promotions`, which documents the shapes and their Microsoft Learn pages."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator.http import backend_of, body_json, respond
from cspkit.emulator.models import EmulatorError


def list_product_promotions(request: Request, country: str | None = None, segment: str | None = None) -> Response:
    items = backend_of(request).list_promotions(country=country, segment=segment)
    return respond(wire.collection([wire.promotion(p) for p in items],
                                   self_uri=f"/productpromotions?country={country}&segment={segment}"))


def get_product_promotion(request: Request, promotion_id: str, country: str | None = None) -> Response:
    return respond(wire.promotion(backend_of(request).get_promotion(promotion_id, country=country)))


async def verify_promotion_eligibilities(request: Request, customer_id: str) -> Response:
    body = await body_json(request)
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise EmulatorError(400, "400", "items is required: a list of promotion eligibility request items.")
    result = backend_of(request).promotion_eligibilities(customer_id, items)
    return respond(wire.collection(result, self_uri=f"/customers/{customer_id}/promotionEligibilities"))


def get_custom_term_end_dates(request: Request, customer_id: str, term_duration: str | None = None,
                              term_start_date: str | None = None,
                              target_coterm_subscription_id: str | None = None) -> Response:
    items = backend_of(request).custom_term_end_dates(customer_id, term_duration=term_duration,
                                                      term_start_date=term_start_date,
                                                      target_subscription_id=target_coterm_subscription_id)
    query = f"term_duration={term_duration}" + (
        f"&target_coterm_subscription_id={target_coterm_subscription_id}" if target_coterm_subscription_id else "")
    uri = f"/customers/{customer_id}/subscriptions/customTermEndDates?{query}"
    return respond(wire.collection(items, self_uri=uri))
