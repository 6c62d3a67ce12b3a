"""The marketplace: SaaS Fulfillment API v2 (``/api/saas``, ``api-version=2018-08-31``) and the emulated
publisher's pages (``/publisher``: landing page, activation form, webhook receiver)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from cspkit.emulator import serializers_saas as saas_wire
from cspkit.emulator.http import SAAS_API_VERSION, backend_of, body_json, emulator_of, respond
from cspkit.emulator.models import EmulatorError
from cspkit.emulator.saas import Marketplace


def _market(request: Request) -> Marketplace:
    return backend_of(request).marketplace


def _version(request: Request) -> None:
    got = request.query_params.get("api-version")
    if got != SAAS_API_VERSION:
        raise EmulatorError(400, "BadRequest", f"api-version must be {SAAS_API_VERSION} (got {got!r}).")


def _caller(request: Request) -> str | None:
    """The publisher the bearer token belongs to (None: the emulator's unscoped token, any publisher)."""
    return request.scope.get("state", {}).get("publisher_id")


def _owned(request: Request, saas_id: str) -> Any:
    """The SaaS subscription, once the API version is right and the caller's publisher owns it."""
    _version(request)
    saas = _market(request).get_saas_subscription(saas_id)
    _market(request).check_publisher(saas, _caller(request))
    return saas


def _op_location(request: Request, op: Any) -> dict[str, str]:
    base = str(request.base_url).rstrip("/")
    return {"Operation-Location": f"{base}/api/saas/subscriptions/{op.subscription_id}/operations/{op.id}"
                                  f"?api-version={SAAS_API_VERSION}"}


def saas_resolve(request: Request) -> Response:
    _version(request)
    token = request.headers.get("x-ms-marketplace-token")
    return respond(saas_wire.resolved(_market(request).resolve_purchase_token(token, publisher_id=_caller(request))))


def saas_list_subscriptions(request: Request, continuationToken: str | None = None) -> Response:
    _version(request)
    publisher_id = _caller(request)
    subs = [s for s in _market(request).list_saas_subscriptions()
            if publisher_id is None or s.publisher_id.lower() == publisher_id.lower()]
    tokens = emulator_of(request).continuation
    offset = int(tokens.decode(continuationToken, "saas")["o"]) if continuationToken else 0
    page = subs[offset: offset + 100]
    body: dict[str, Any] = {"subscriptions": [saas_wire.saas_subscription(s) for s in page]}
    if offset + 100 < len(subs):
        token = tokens.encode({"k": "saas", "o": offset + 100, "s": 100})
        body["@nextLink"] = (f"{str(request.base_url).rstrip('/')}/api/saas/subscriptions?"
                             f"continuationToken={quote(token, safe='')}&api-version={SAAS_API_VERSION}")
    return respond(body)


def saas_get_subscription(request: Request, saas_id: str) -> Response:
    return respond(saas_wire.saas_subscription(_owned(request, saas_id)))


def saas_list_plans(request: Request, saas_id: str, planId: str | None = None) -> Response:
    market = backend_of(request).get_customer(_owned(request, saas_id).customer_id).country
    plans = _market(request).list_saas_plans(saas_id, plan_id=planId)
    return respond({"plans": [saas_wire.saas_plan(i, market=market) for i in plans]})


async def saas_activate(request: Request, saas_id: str) -> Response:
    _version(request)
    body = await body_json(request)
    quantity = body.get("quantity")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, (int, str))
                                 or not str(quantity).strip().isdigit()):
        raise EmulatorError(400, "BadRequest", f"quantity must be a whole number, got {quantity!r}.")
    _market(request).activate_saas(saas_id, plan_id=body.get("planId"),
                                   quantity=int(quantity) if quantity is not None else None,
                                   publisher_id=_caller(request))
    return Response(status_code=200)


async def saas_update_subscription(request: Request, saas_id: str) -> Response:
    _owned(request, saas_id)
    body = await body_json(request)
    if "planId" in body and "quantity" in body:
        raise EmulatorError(400, "BadRequest", "Plan and quantity cannot be changed in the same call.")
    if "planId" in body:
        op = _market(request).change_saas_plan(saas_id, plan_id=str(body["planId"]))
    elif "quantity" in body:
        op = _market(request).change_saas_quantity(saas_id, quantity=body["quantity"])
    else:
        raise EmulatorError(400, "BadRequest", "The body needs planId or quantity.")
    return Response(status_code=202, headers=_op_location(request, op))


def saas_delete_subscription(request: Request, saas_id: str) -> Response:
    _owned(request, saas_id)
    op = _market(request).delete_saas_subscription(saas_id)
    return Response(status_code=202, headers=_op_location(request, op))


def saas_list_operations(request: Request, saas_id: str) -> Response:
    _owned(request, saas_id)
    operations = _market(request).list_saas_operations(saas_id)
    return respond({"operations": [saas_wire.saas_operation(o) for o in operations]})


def saas_get_operation(request: Request, saas_id: str, operation_id: str) -> Response:
    _owned(request, saas_id)
    return respond(saas_wire.saas_operation(_market(request).get_saas_operation(saas_id, operation_id)))


async def saas_update_operation(request: Request, saas_id: str, operation_id: str) -> Response:
    _owned(request, saas_id)
    body = await body_json(request)
    await asyncio.to_thread(_market(request).update_saas_operation, saas_id, operation_id,
                            status=str(body.get("status")))
    return Response(status_code=200)


# -- the emulated publisher's pages ---------------------------------------------------------------------------

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto">
<p style="color:#a33">cspkit emulator &middot; emulated publisher {publisher}</p><h1>{title}</h1>{body}</body></html>"""


def _page(publisher_id: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), publisher=html.escape(publisher_id), body=body),
                        status_code=status)


def _details(saas: Any) -> str:
    rows = {"Subscription": saas.id, "Offer": saas.offer_id, "Plan": saas.plan_id, "Quantity": saas.quantity,
            "Status": saas.status, "Beneficiary tenant": saas.beneficiary.get("tenantId"),
            "Purchaser tenant": saas.purchaser.get("tenantId")}
    return "<dl>" + "".join(f"<dt>{k}</dt><dd id='{k.lower().replace(' ', '-')}'>{html.escape(str(v))}</dd>"
                            for k, v in rows.items()) + "</dl>"


def publisher_landing(request: Request, publisher_id: str, token: str | None = None) -> HTMLResponse:
    try:
        result = _market(request).publisher_landing(token, publisher_id)  # this publisher's own purchases only
    except EmulatorError as exc:
        return _page(publisher_id, "Cannot set up your subscription", f"<p>{html.escape(exc.description)}</p>",
                     exc.status)
    saas = result["subscription"]
    if result["activated"]:
        return _page(publisher_id, "Your subscription is active", _details(saas))
    form = (f"<form method='post' action='/publisher/{html.escape(publisher_id)}/activate'>"
            f"<input type='hidden' name='token' value='{html.escape(token or '')}'>"
            "<button type='submit'>Activate</button></form>")
    return _page(publisher_id, "Finish setting up your subscription", _details(saas) + form)


async def publisher_activate(request: Request, publisher_id: str) -> HTMLResponse:
    form = await request.body()
    token = (parse_qs(form.decode()).get("token") or [None])[0]
    market = _market(request)
    try:
        saas = market.resolve_purchase_token(token, publisher_id=publisher_id)
        if saas.status == "PendingFulfillmentStart":
            saas = market.activate_saas(saas.id, plan_id=saas.plan_id, quantity=saas.quantity,
                                        publisher_id=publisher_id)
    except EmulatorError as exc:
        return _page(publisher_id, "Activation failed", f"<p>{html.escape(exc.description)}</p>", exc.status)
    return _page(publisher_id, "Your subscription is active", _details(saas))


async def publisher_webhook(request: Request) -> Response:
    """A webhook receiver for ``webhook_url = <emulator>/publisher/webhook``: checks the JWT, confirms the
    operation through Get operation, ACKs by the built-in publisher's configuration."""
    market = _market(request)
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else ""
    try:
        head, claims, sig = token.split(".")
        good = base64.urlsafe_b64encode(hmac.new(market.webhook_secret.encode(), f"{head}.{claims}".encode(),
                                                 hashlib.sha256).digest()).rstrip(b"=").decode()
        valid = hmac.compare_digest(good, sig)
    except ValueError:
        valid = False
    if not valid:
        return respond({"error": "invalid token"}, 401)
    payload = json.loads(await request.body())
    status = await asyncio.to_thread(market.builtin_publisher_webhook, payload)
    return Response(status_code=status)
