"""The control API (``/_emulator``): reset, seed, clock, fault rules, configuration, state, tokens, webhooks.

Loopback callers only, or the control token (:func:`cspkit.emulator.edge.control_refusal`).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import validation as check
from cspkit.emulator._util import fmt_dt, parse_duration
from cspkit.emulator.http import backend_of, body_json, emulator_of, respond
from cspkit.emulator.models import EmulatorError
from cspkit.emulator.policy import policy_from
from cspkit.emulator.state import to_jsonable


def _clock_body(request: Request) -> dict[str, Any]:
    b = backend_of(request)
    return {"now": fmt_dt(b.now()), "instance": b.instance_id,
            "pending": [{"due": fmt_dt(e.due), "kind": e.kind} for e in b.clock.pending[:20]]}


async def control_reset(request: Request) -> Response:
    body = await body_json(request)
    now = check.datetime_field(body, "now")
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, (str, dict)):
        raise check.bad_field("seed", "a seed name or a seed object", seed)
    clear_faults = check.boolean(body, "clearFaults", default=True)
    await asyncio.to_thread(backend_of(request).reset, now=now, seed=seed)
    if clear_faults:
        emulator_of(request).faults.clear()
    return respond({"reset": True, **_clock_body(request)})


async def control_seed(request: Request) -> Response:
    body = await body_json(request)
    b = backend_of(request)
    catalog = check.obj(body, "catalog")
    customers = body.get("customers")
    if isinstance(customers, dict):
        customers = customers.get("customers")
    if customers is not None and not (isinstance(customers, list) and all(isinstance(c, dict) for c in customers)):
        raise check.bad_field("customers", "a list of customer objects", customers)
    for i, customer in enumerate(customers or []):
        if not isinstance(customer.get("companyName"), str):
            raise check.bad_field(f"customers[{i}].companyName", "a string (required)", customer.get("companyName"))
    try:
        b.seed(catalog=catalog, customers=customers)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise check.bad_field("catalog", f"a catalog seed as in sample_data/catalog.json ({exc!r} in it)") from None
    return respond({"customers": len(b.customers), "products": len(b.catalog.products())})


def control_get_clock(request: Request) -> Response:
    return respond(_clock_body(request))


async def control_set_clock(request: Request) -> Response:
    body = await body_json(request)
    now = check.datetime_field(body, "now", required=True)
    try:
        await asyncio.to_thread(backend_of(request).clock.set, now)
    except ValueError as exc:  # backwards
        raise EmulatorError(400, "800002", f"Field 'now': {exc}.") from None
    return respond(_clock_body(request))


async def control_advance_clock(request: Request) -> Response:
    body = await body_json(request)
    parts = {k: check.number(body, k, minimum=0) for k in ("days", "hours", "minutes", "seconds", "weeks")
             if body.get(k) is not None}
    by = check.text(body, "by")
    if not by and not parts:
        raise EmulatorError(400, "800002", 'Body must be {"by": "P1M"} or {"days": 3, "hours": 1, ...}.')
    if by:
        try:
            parse_duration(by)
        except (ValueError, TypeError):
            raise check.bad_field("by", "an ISO 8601 duration such as 'P1M', 'P7D' or 'PT36H'", by) from None
    try:
        await asyncio.to_thread(backend_of(request).clock.advance, by or None, **parts)
    except (ValueError, OverflowError) as exc:
        raise EmulatorError(400, "800002", str(exc)) from None
    return respond(_clock_body(request))


def control_list_faults(request: Request) -> Response:
    state = emulator_of(request)
    return respond({"rules": [f.to_wire() for f in state.faults.rules], "rateLimit": state.rate_limiter.describe()})


async def control_add_fault(request: Request) -> Response:
    body = await body_json(request)
    try:
        rule = emulator_of(request).faults.add(body)
    except (ValueError, TypeError) as exc:
        raise EmulatorError(400, "800002", str(exc)) from None
    return respond(rule.to_wire(), 201)


def control_clear_faults(request: Request) -> Response:
    emulator_of(request).faults.clear()
    return respond({"rules": []})


def control_remove_fault(request: Request, rule_id: str) -> Response:
    if not emulator_of(request).faults.remove(rule_id):
        raise EmulatorError(404, "800002", f"No fault rule {rule_id}.")
    return respond({"removed": rule_id})


def control_fault_log(request: Request) -> Response:
    return respond({"items": emulator_of(request).faults.log})


async def graph_set_faults(request: Request) -> Response:
    """``{"failNext": {"code": "500", "message": "...", "count": 1}, "dropBlobAfter": 1000, "count": 1}``: Graph
    export faults as rules of the one fault engine (:mod:`cspkit.emulator.faults`)."""
    body = await body_json(request)
    faults = emulator_of(request).faults
    fail = body.get("failNext")
    try:
        if isinstance(fail, dict):
            faults.add(action="fail_export", code=str(fail.get("code", "500")),
                       description=str(fail.get("message", "Export failed (injected fault)")),
                       count=int(fail.get("count", 1)))
        if body.get("dropBlobAfter") is not None:
            faults.add(action="drop_blob", after_bytes=int(body["dropBlobAfter"]), count=int(body.get("count", 1)))
    except (ValueError, TypeError) as exc:
        raise EmulatorError(400, "800002", str(exc)) from None
    return respond(faults.graph_summary())


def _config_body(request: Request) -> dict[str, Any]:
    b, state = backend_of(request), emulator_of(request)
    return {"policy": b.policy.describe(), "rateLimit": state.rate_limiter.describe(),
            "publisher": b.marketplace.publisher_config, "webhookUrl": b.webhook_url,
            "taxRates": {country: float(rate) for country, rate in sorted(b.policy.tax_rates.items())},
            "partnerTenantId": b.partner["tenantId"]}


def control_get_config(request: Request) -> Response:
    return respond(_config_body(request))


def _policy_overrides(body: dict[str, Any]) -> dict[str, Any]:
    overrides = check.obj(body, "policyOverrides", default={})
    for key in overrides:
        where = f"policyOverrides.{key}"
        if key in ("cart_expiry", "order_list_delay", "purchase_token_ttl", "ack_auto_accept"):
            check.number(overrides, key, required=True, minimum=0)
        elif key == "saas_activation_days":
            check.integer(overrides, key, required=True, minimum=0)
        elif key == "invoice_day":
            check.integer(overrides, key, required=True, minimum=1, maximum=28)
        elif key == "webhook_retry_delays":
            delays = overrides[key]
            if not isinstance(delays, list) or not all(
                isinstance(d, (int, float)) and not isinstance(d, bool) and d >= 0 for d in delays
            ):
                raise check.bad_field(where, "a list of seconds", delays)
        else:
            raise check.bad_field(where, "one of cart_expiry, order_list_delay, purchase_token_ttl, "
                                         "ack_auto_accept (seconds), saas_activation_days, invoice_day, "
                                         "webhook_retry_delays")
    return overrides


def _tax_rates(body: dict[str, Any]) -> dict[str, str]:
    """``taxRates``: ``{"GB": 0.2, ...}``, country (ISO 3166 alpha-2) → rate from 0 to 1; merged into the table."""
    rates = check.obj(body, "taxRates", default={})
    clean = {}
    for key, rate in rates.items():
        country = str(key).upper()  # body keys arrive with a lower-cased first letter (PascalCase tolerance)
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise check.bad_field(f"taxRates.{country}", "a two-letter country code as the key")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise check.bad_field(f"taxRates.{country}", "a rate from 0 to 1 (0.2 = 20 %)", rate)
        clean[country] = str(rate)
    return clean


def _rate_limit(body: dict[str, Any]) -> dict[str, Any]:
    rate = check.obj(body, "rateLimit", default={})
    limit = check.integer(rate, "limit", minimum=0) if rate.get("limit") is not None else None
    window = check.number(rate, "windowSeconds", minimum=0) if "windowSeconds" in rate else None
    pattern = check.text(rate, "pathPattern") if "pathPattern" in rate else None
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise check.bad_field("rateLimit.pathPattern", f"a regular expression ({exc})", pattern) from None
    return {"limit": limit, "window_seconds": window, "pattern": pattern}


async def control_set_config(request: Request) -> Response:
    body = await body_json(request)
    backend, state = backend_of(request), emulator_of(request)
    policy = body.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise check.bad_field("policy", "a policy preset name", policy)
    overrides = _policy_overrides(body)
    rate = _rate_limit(body)
    taxes = _tax_rates(body)
    publisher = check.obj(body, "publisher", default={})
    check.text(publisher, "ack", choices=("Success", "Failure", "none"))
    check.integer(publisher, "webhook_status", minimum=100, maximum=599)
    check.boolean(publisher, "auto_activate")
    webhook_url = check.text(body, "webhookUrl")
    with backend.lock:
        if "policy" in body or "policyOverrides" in body:
            try:
                backend.policy = policy_from(policy or backend.policy, **overrides)
            except (ValueError, TypeError) as exc:
                raise EmulatorError(400, "800002", f"Field 'policyOverrides': {exc}.") from None
        if taxes:
            backend.policy = policy_from(backend.policy, tax_rates={**backend.policy.tax_rates, **taxes})
        if "rateLimit" in body:
            state.rate_limiter.configure(**rate)
        if "publisher" in body:
            backend.marketplace.publisher_config.update(publisher)
        if "webhookUrl" in body:
            backend.webhook_url = webhook_url
    return respond(_config_body(request))


def control_state(request: Request) -> Response:
    return respond(to_jsonable(backend_of(request).state_summary()))


def control_save(request: Request) -> Response:
    state = emulator_of(request)
    if state.save_hook is None:
        raise EmulatorError(400, "800002", "The emulator runs without a state file.")
    return respond({"saved": str(state.save_hook())})


async def control_synthetic_recon(request: Request) -> Response:
    body = await body_json(request)
    lines = check.integer(body, "lines", default=1000, minimum=1)
    currency = check.text(body, "currency", default="USD")
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise check.bad_field("currency", "a 3-letter ISO 4217 code", currency)
    invoice = backend_of(request).add_synthetic_invoice(lines=lines, currency=currency)
    return respond({"invoiceId": invoice.id, "lines": invoice.synthetic_lines, "currency": invoice.currency}, 201)


async def control_inspect_token(request: Request) -> Response:
    body = await body_json(request)
    token = check.text(body, "token", required=True)
    return respond(to_jsonable(backend_of(request).marketplace.inspect_token(token)))


def control_webhooks(request: Request) -> Response:
    market = backend_of(request).marketplace
    return respond({"items": to_jsonable(market.webhook_log), "signingKey": market.webhook_secret})


def control_events(request: Request) -> Response:
    return respond({"items": to_jsonable(backend_of(request).event_log)})


async def control_issue_token(request: Request) -> Response:
    """Another bearer token; with ``{"publisherId": ...}`` one for that publisher's SaaS fulfillment calls only
    (like the publisher's own Entra app token: it sees and activates that publisher's purchases only)."""
    body = await body_json(request)
    state = emulator_of(request)
    publisher_id = check.text(body, "publisherId")
    token = "emu_" + uuid.uuid4().hex
    expires = int(timedelta(hours=1).total_seconds())
    if publisher_id:
        state.publishers[token] = publisher_id
        return respond({"accessToken": token, "tokenType": "Bearer", "publisherId": publisher_id,
                        "expiresIn": expires}, 201)
    state.tokens.add(token)
    return respond({"accessToken": token, "tokenType": "Bearer", "expiresIn": expires}, 201)


# -- Azure plan usage (cspkit.emulator.usage) -------------------------------------------------------------------


async def control_admin_access(request: Request) -> Response:
    """``POST /_emulator/azure/admin-access {"customerId", "removedOn": "2026-11-15" | null}``: the partner loses
    (or, with null, regains) admin access to the customer's Azure subscriptions from that day: no PEC on its usage."""
    body = await body_json(request)
    customer_id = check.text(body, "customerId", required=True)
    removed = check.datetime_field(body, "removedOn")
    customer = backend_of(request).set_admin_access(customer_id, removed_on=removed.date() if removed else None)
    day = customer.azure_admin_access_removed
    return respond({"customerId": customer.id, "removedOn": day.isoformat() if day else None})


async def control_usage_spike(request: Request) -> Response:
    """``POST /_emulator/azure/usage-spike {"subscriptionId", "date": "2026-11-20", "factor": 20}``: an Azure plan
    subscription's compute usage that day × factor (1 removes the spike)."""
    body = await body_json(request)
    subscription_id = check.text(body, "subscriptionId", required=True)
    day = check.datetime_field(body, "date", required=True)
    factor = check.number(body, "factor", default=20)
    if factor <= 0 or factor > 1000:
        raise check.bad_field("factor", "a number above 0 and at most 1000", factor)
    sub = backend_of(request).set_usage_spike(subscription_id, day=day.date(), factor=Decimal(str(factor)))
    return respond({"subscriptionId": sub.id, "spikes": dict(sub.usage_spikes)})
