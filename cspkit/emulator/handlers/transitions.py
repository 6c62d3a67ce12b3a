"""Upgrades (transitions): eligibilities, create, history ("Transition a new commerce subscription", "Get
transitions"); the wire shapes are in :mod:`cspkit.emulator.backend_transitions` and
docs/partner-center-transitions.md."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator._util import fmt_dt
from cspkit.emulator.http import backend_of, body_json, lower_keys, respond
from cspkit.emulator.models import EmulatorError


def _eligibility(e: dict[str, Any]) -> dict[str, Any]:
    item = e["item"]
    return {
        "catalogItemId": item.catalog_item_id,
        "title": item.sku["title"],
        "description": item.sku.get("description", ""),
        "quantity": e["quantity"],
        # the target's terms the move may land on (an emulator addition: the docs' item carries no term)
        "terms": [{"termDuration": t.duration, "billingCycle": t.billing_cycle} for t in e["terms"]],
        "eligibilities": [{"isEligible": ok, "transitionType": kind,
                           "errors": [{"code": c, "description": d} for c, d in errors]}
                          for kind, ok, errors in e["eligibilities"]],
        "attributes": {"objectType": "TransitionEligibility"},
    }


def transition_body(t: dict[str, Any]) -> dict[str, Any]:
    """A Transition resource (SDK ``Transition``: operationId, from/to catalog item and subscription, quantity,
    termDuration, billingCycle, transitionType, events[] {name, status, timestamp})."""
    return {
        "operationId": t["operation_id"],
        "fromCatalogItemId": t["from_catalog_item_id"],
        "fromSubscriptionId": t["from_subscription_id"],
        "toCatalogItemId": t["to_catalog_item_id"],
        "toSubscriptionId": t["to_subscription_id"],
        "quantity": t["quantity"],
        "termDuration": t["term_duration"],
        "billingCycle": t["billing_cycle"],
        "transitionType": t["transition_type"],
        "events": [{"name": e["name"], "status": e["status"], "timestamp": fmt_dt(e["timestamp"]),
                    "attributes": {"objectType": "TransitionEvent"}} for e in t["events"]],
        "attributes": {"objectType": "Transition"},
    }


def get_transition_eligibilities(request: Request, customer_id: str, subscription_id: str,
                                 eligibilityType: str | None = None) -> Response:  # noqa: N803 (wire name)
    if not eligibilityType:
        raise EmulatorError(400, "800002", "eligibilityType is required: immediate or scheduled.")
    found = backend_of(request).transition_eligibilities(customer_id, subscription_id,
                                                         eligibility_type=eligibilityType)
    return respond(wire.collection(
        [_eligibility(e) for e in found],
        self_uri=f"/customers/{customer_id}/subscriptions/{subscription_id}/transitionEligibilities"
                 f"?eligibilityType={eligibilityType}"))


async def create_transition(request: Request, customer_id: str, subscription_id: str) -> Response:
    body = lower_keys(await body_json(request))
    quantity = body.get("quantity")
    try:
        quantity = int(quantity) if quantity not in (None, "") else None
    except (TypeError, ValueError):
        raise EmulatorError(400, "800002", f"quantity {quantity!r} is not a number.") from None
    if not body.get("toCatalogItemId") and not body.get("toSubscriptionId"):
        raise EmulatorError(400, "800002", "toCatalogItemId or toSubscriptionId is required.")
    record = backend_of(request).create_transition(
        customer_id, subscription_id, to_catalog_item_id=body.get("toCatalogItemId"),
        to_subscription_id=body.get("toSubscriptionId"), quantity=quantity,
        transition_type=body.get("transitionType"), term_duration=body.get("termDuration"),
        billing_cycle=body.get("billingCycle"), request_id=request.scope["state"].get("request_id"),
    )
    return respond(transition_body(record))


def list_transitions(request: Request, customer_id: str, subscription_id: str) -> Response:
    found = backend_of(request).list_transitions(customer_id, subscription_id)
    return respond(wire.collection([transition_body(t) for t in found],
                                   self_uri=f"/customers/{customer_id}/subscriptions/{subscription_id}/transitions"))
