"""The SaaS Fulfillment API v2 wire shapes: subscriptions, resolve answers, plans, operations and webhook payloads
(marketplace-fulfillment.md); Partner Center's shapes are in :mod:`cspkit.emulator.serializers`."""

from __future__ import annotations

from typing import Any

from cspkit.emulator._util import fmt_dt
from cspkit.emulator.catalog import CatalogItem
from cspkit.emulator.models import (
    Operation,
    SaasSubscription,
)

# ------------------------------------------------------------------------------------------------------------
# SaaS fulfillment
# ------------------------------------------------------------------------------------------------------------


def saas_subscription(s: SaasSubscription) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": s.id,
        "publisherId": s.publisher_id,
        "offerId": s.offer_id,
        "name": s.name,
        "saasSubscriptionStatus": s.status,
        "beneficiary": s.beneficiary,
        "purchaser": s.purchaser,
        "planId": s.plan_id,
        "term": {"startDate": fmt_dt(s.term_start), "endDate": fmt_dt(s.term_end), "termUnit": s.term_unit},
        "autoRenew": s.auto_renew,
        "isTest": s.is_test,
        "isFreeTrial": s.is_free_trial,
        "allowedCustomerOperations": s.allowed_customer_operations,
        "sandboxType": s.sandbox_type,
        "sessionMode": s.session_mode,
        "created": fmt_dt(s.created),
        "lastModified": fmt_dt(s.last_modified),
    }
    if s.quantity is not None:
        body["quantity"] = s.quantity
    return body


def resolved(s: SaasSubscription) -> dict[str, Any]:
    body = {"id": s.id, "subscriptionName": s.name, "offerId": s.offer_id, "planId": s.plan_id,
            "subscription": saas_subscription(s)}
    if s.quantity is not None:
        body["quantity"] = s.quantity
    return body


def saas_plan(item: CatalogItem, *, market: str) -> dict[str, Any]:
    s = item.sku
    return {
        "planId": s.get("planId", s["id"]),
        "displayName": s["title"],
        "isPrivate": False,
        "description": s.get("description", ""),
        "minQuantity": int(s["minimumQuantity"]),
        "maxQuantity": int(s["maximumQuantity"]),
        "hasFreeTrials": False,
        "isPricePerSeat": bool(s.get("isPricePerSeat", True)),
        "isStopSell": False,
        "market": market,
        "planComponents": {
            "recurrentBillingTerms": [
                {"currency": None, "price": None, "termUnit": t.duration, "termDescription": t.description}
                for t in item.terms
            ],
            "meteringDimensions": [],
        },
    }


def saas_operation(op: Operation) -> dict[str, Any]:
    return {
        "id": op.id,
        "activityId": op.activity_id,
        "subscriptionId": op.subscription_id,
        "offerId": op.offer_id,
        "publisherId": op.publisher_id,
        "planId": op.plan_id,
        "quantity": op.quantity,
        "action": op.action,
        "timeStamp": fmt_dt(op.time_stamp),
        "status": op.status,
        "errorStatusCode": op.error_status_code,
        "errorMessage": op.error_message,
    }


def webhook_payload(op: Operation, saas: SaasSubscription) -> dict[str, Any]:
    return {**saas_operation(op), "operationRequestSource": op.source,
            "subscription": saas_subscription(saas), "purchaseToken": None}


