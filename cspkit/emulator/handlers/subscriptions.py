"""Subscriptions: list, get, PATCH (quantity, auto-renew, status, friendly name under If-Match), add-ons,
activation links, provisioning status and the sandbox ``/activate``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator._util import fmt_dt
from cspkit.emulator.handlers.orders import activation_links
from cspkit.emulator.http import backend_of, body_json, respond
from cspkit.emulator.models import EmulatorError


def _body(request: Request, sub: Any) -> dict[str, Any]:
    b = backend_of(request)
    with b.lock:
        return wire.subscription(sub, now=b.now(), etag=b.etag(sub), open_windows=b.open_windows(sub),
                                 country=b.customers[sub.customer_id].country)


def list_subscriptions(request: Request, customer_id: str, order_id: str | None = None) -> Response:
    subs = backend_of(request).list_subscriptions(customer_id, order_id=order_id)
    return respond(wire.collection([_body(request, s) for s in subs],
                                   self_uri=f"/customers/{customer_id}/subscriptions"))


def get_subscription(request: Request, customer_id: str, subscription_id: str) -> Response:
    return respond(_body(request, backend_of(request).get_subscription(customer_id, subscription_id)))


async def update_subscription(request: Request, customer_id: str, subscription_id: str) -> Response:
    body = await body_json(request)
    etag = request.headers.get("If-Match") or (body.get("attributes") or {}).get("etag")
    quantity = body.get("quantity")
    try:
        quantity = int(quantity) if quantity is not None else None
    except (TypeError, ValueError):
        raise EmulatorError(400, "800002", f"quantity {quantity!r} is not a number.") from None
    b = backend_of(request)

    def run() -> Any:
        sub = b.update_subscription(
            customer_id, subscription_id, quantity=quantity, auto_renew=body.get("autoRenewEnabled"),
            status=body.get("status"), friendly_name=body.get("friendlyName"), etag=etag,
        )
        if "scheduledNextTermInstructions" in body:  # null clears (backend_transitions.py)
            sub = b.schedule_next_term(customer_id, subscription_id, body["scheduledNextTermInstructions"])
        return sub

    sub = await asyncio.to_thread(run)  # may deliver webhooks that call back into this server
    return respond(_body(request, sub))


def list_addons(request: Request, customer_id: str, subscription_id: str) -> Response:
    subs = backend_of(request).list_addons(customer_id, subscription_id)
    return respond(wire.collection([_body(request, s) for s in subs],
                                   self_uri=f"/customers/{customer_id}/subscriptions/{subscription_id}/addons"))


def get_subscription_activation_links(request: Request, customer_id: str, subscription_id: str) -> Response:
    b = backend_of(request)
    sub = b.get_subscription(customer_id, subscription_id)
    order = b.get_order(customer_id, sub.order_id)
    line = next(ln.line_item_number for ln in order.lines if ln.subscription_id == sub.id)
    return activation_links(request, customer_id, order.id, line,
                            f"/customers/{customer_id}/subscriptions/{subscription_id}/activationlinks")


def get_subscription_provisioning_status(request: Request, customer_id: str, subscription_id: str) -> Response:
    sub = backend_of(request).get_subscription(customer_id, subscription_id)
    status = {"active": "success", "pending": "pending"}.get(sub.status, "failed")
    return respond({"skuId": sub.sku_id, "status": status, "quantity": sub.quantity,
                    "endDate": fmt_dt(sub.commitment_end),
                    "attributes": {"objectType": "SubscriptionProvisioningStatus"}})


def activate_sandbox_subscription(request: Request, customer_id: str, subscription_id: str) -> Response:
    sub = backend_of(request).marketplace.sandbox_activate(customer_id, subscription_id)
    return respond({"subscriptionId": sub.id, "status": "Success"})
