"""The catalog: products, SKUs and availabilities (partner-wide by ``country`` or under a customer), inventory."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator.http import backend_of, body_json, respond


def _country_of(request: Request, customer_id: str) -> str:
    return backend_of(request).get_customer(customer_id).country


def _products(request: Request, country: str | None, target_view: str | None, target_segment: str | None,
              prefix: str) -> Response:
    items = backend_of(request).list_products(country=country, target_view=target_view,
                                              target_segment=target_segment)
    return respond(wire.collection([wire.product(p, country=country, prefix=prefix) for p in items],
                                   self_uri=f"{prefix}/products?country={country}&targetView={target_view}"))


def _availability(request: Request, item: Any, country: str | None, prefix: str) -> dict[str, Any]:
    b = backend_of(request)
    return wire.availability(item, market=b.catalog.market(country), segment=b.catalog.segment, policy=b.policy,
                             prefix=prefix)


def list_products(request: Request, country: str | None = None, targetView: str | None = None,
                  targetSegment: str | None = None) -> Response:
    return _products(request, country, targetView, targetSegment, "")


def get_product(request: Request, product_id: str, country: str | None = None) -> Response:
    return respond(wire.product(backend_of(request).get_product(product_id, country=country), country=country))


def list_skus(request: Request, product_id: str, country: str | None = None,
              targetSegment: str | None = None) -> Response:
    items = backend_of(request).list_skus(product_id, country=country, target_segment=targetSegment)
    return respond(wire.collection([wire.sku(i, country=country) for i in items],
                                   self_uri=f"/products/{product_id}/skus?country={country}"))


def get_sku(request: Request, product_id: str, sku_id: str, country: str | None = None) -> Response:
    return respond(wire.sku(backend_of(request).get_sku(product_id, sku_id, country=country), country=country))


def list_availabilities(request: Request, product_id: str, sku_id: str, country: str | None = None,
                        targetSegment: str | None = None) -> Response:
    items = backend_of(request).list_availabilities(product_id, sku_id, country=country,
                                                    target_segment=targetSegment)
    return respond(wire.collection([_availability(request, i, country, "") for i in items],
                                   self_uri=f"/products/{product_id}/skus/{sku_id}/availabilities?country={country}"))


def get_availability(request: Request, product_id: str, sku_id: str, availability_id: str,
                     country: str | None = None) -> Response:
    item = backend_of(request).get_availability(product_id, sku_id, availability_id, country=country)
    return respond(_availability(request, item, country, ""))


async def check_inventory(request: Request, country: str | None = None) -> Response:
    body = await body_json(request)
    b = backend_of(request)
    context = body.get("inventoryContext") or {}
    if context.get("customerId"):
        b.get_customer(context["customerId"])
    return respond(b.check_inventory(country=country, target_items=body.get("targetItems") or []))


def list_customer_products(request: Request, customer_id: str, targetView: str | None = None,
                           targetSegment: str | None = None) -> Response:
    return _products(request, _country_of(request, customer_id), targetView, targetSegment,
                     f"/customers/{customer_id}")


def get_customer_product(request: Request, customer_id: str, product_id: str) -> Response:
    country = _country_of(request, customer_id)
    return respond(wire.product(backend_of(request).get_product(product_id, country=country), country=country,
                                prefix=f"/customers/{customer_id}"))


def list_customer_skus(request: Request, customer_id: str, product_id: str,
                       targetSegment: str | None = None) -> Response:
    country = _country_of(request, customer_id)
    items = backend_of(request).list_skus(product_id, country=country, target_segment=targetSegment)
    prefix = f"/customers/{customer_id}"
    return respond(wire.collection([wire.sku(i, country=country, prefix=prefix) for i in items],
                                   self_uri=f"{prefix}/products/{product_id}/skus"))


def get_customer_sku(request: Request, customer_id: str, product_id: str, sku_id: str) -> Response:
    country = _country_of(request, customer_id)
    return respond(wire.sku(backend_of(request).get_sku(product_id, sku_id, country=country), country=country,
                            prefix=f"/customers/{customer_id}"))


def list_customer_availabilities(request: Request, customer_id: str, product_id: str, sku_id: str,
                                 targetSegment: str | None = None) -> Response:
    country = _country_of(request, customer_id)
    prefix = f"/customers/{customer_id}"
    items = backend_of(request).list_availabilities(product_id, sku_id, country=country,
                                                    target_segment=targetSegment)
    return respond(wire.collection([_availability(request, i, country, prefix) for i in items],
                                   self_uri=f"{prefix}/products/{product_id}/skus/{sku_id}/availabilities"))


def get_customer_availability(request: Request, customer_id: str, product_id: str, sku_id: str,
                              availability_id: str) -> Response:
    country = _country_of(request, customer_id)
    item = backend_of(request).get_availability(product_id, sku_id, availability_id, country=country)
    return respond(_availability(request, item, country, f"/customers/{customer_id}"))
