"""Carts and orders: create/update/checkout a cart, create/list/get orders, provisioning status, activation links."""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator.http import backend_of, body_json, cart_lines, respond
from cspkit.emulator.models import EmulatorError


def _country_of(request: Request, customer_id: str) -> str:
    return backend_of(request).get_customer(customer_id).country


async def create_cart(request: Request, customer_id: str) -> Response:
    body = await body_json(request)
    cart = backend_of(request).create_cart(customer_id, lines=cart_lines(body),
                                           attestation=body.get("partnerOnRecordAttestationAccepted"))
    return respond(wire.cart(cart), 201)


def get_cart(request: Request, customer_id: str, cart_id: str) -> Response:
    return respond(wire.cart(backend_of(request).get_cart(customer_id, cart_id)))


async def update_cart(request: Request, customer_id: str, cart_id: str) -> Response:
    body = await body_json(request)
    return respond(wire.cart(backend_of(request).update_cart(customer_id, cart_id, lines=cart_lines(body))), 201)


def checkout_cart(request: Request, customer_id: str, cart_id: str) -> Response:
    orders, errors = backend_of(request).checkout_cart(customer_id, cart_id)
    return respond(wire.checkout_result(orders, errors, country=_country_of(request, customer_id)), 201)


def list_orders(request: Request, customer_id: str, billingType: str | None = None,
                include_price: bool = False) -> Response:
    orders = backend_of(request).list_orders(customer_id, billing_type=billingType)
    country = _country_of(request, customer_id)
    return respond(wire.collection([wire.order(o, country=country, include_price=include_price) for o in orders],
                                   self_uri=f"/customers/{customer_id}/orders"))


def get_order(request: Request, customer_id: str, order_id: str, include_price: bool = False) -> Response:
    return respond(wire.order(backend_of(request).get_order(customer_id, order_id),
                              country=_country_of(request, customer_id), include_price=include_price))


async def create_order(request: Request, customer_id: str) -> Response:
    """Create an order for a customer ("Create an order for a customer"): ``{billingCycle, lineItems:
    [{lineItemNumber, offerId, quantity, termDuration, friendlyName?, provisioningContext?}]}`` → 201 + the
    order; the checkout's validation and billing; idempotent on MS-RequestId."""
    body = await body_json(request)
    items = body.get("lineItems")
    if not isinstance(items, list) or not items:
        raise EmulatorError(400, "800002", "lineItems is required: at least one order line item.")
    cycle = body.get("billingCycle")
    lines = []
    for i, d in enumerate(items):
        if not isinstance(d, dict):
            raise EmulatorError(400, "800002", f"lineItems[{i}] must be an object.")
        lines.append({**d, "catalogItemId": d.get("offerId") or d.get("catalogItemId"),
                      "billingCycle": d.get("billingCycle") or cycle, "id": d.get("lineItemNumber", i)})
    order = await asyncio.to_thread(backend_of(request).create_order, customer_id,
                                    lines=cart_lines({"lineItems": lines}),
                                    request_id=request.scope["state"].get("request_id"))
    return respond(wire.order(order, country=_country_of(request, customer_id)), 201)


def get_order_provisioning_status(request: Request, customer_id: str, order_id: str) -> Response:
    b = backend_of(request)
    order = b.get_order(customer_id, order_id)
    return respond(wire.collection(wire.provisioning_status(order, b.subscriptions),
                                   self_uri=f"/customers/{customer_id}/orders/{order_id}/provisioningstatus"))


def activation_links(request: Request, customer_id: str, order_id: str, line: int | None, self_uri: str) -> Response:
    """The activation links of an order (or one of its lines): the emulated publisher's landing page + token."""
    b = backend_of(request)
    base = str(request.base_url).rstrip("/")
    items = []
    for number, publisher_id, token in b.order_activation_links(customer_id, order_id, line):
        sub_line = b.get_order(customer_id, order_id).lines[number]
        product = b.catalog.product(sub_line.offer_id.split(":")[0]) or {}
        items.append((number, wire.landing_uri(base, publisher_id, token, product.get("landingPageUrl"))))
    return respond(wire.activation_links(items, self_uri=self_uri))


def get_line_item_activation_links(request: Request, customer_id: str, order_id: str,
                                   line_item_number: int) -> Response:
    return activation_links(request, customer_id, order_id, line_item_number,
                            f"/customers/{customer_id}/orders/{order_id}/lineitems/{line_item_number}/activationlinks")


def get_order_activation_links(request: Request, customer_id: str, order_id: str) -> Response:
    return activation_links(request, customer_id, order_id, None,
                            f"/customers/{customer_id}/orders/{order_id}/activationlinks")
