"""The SaaS Fulfillment API v2 wire shapes: subscriptions, resolve answers, plans, operations and webhook payloads
(saas-fulfillment.md §1.2-1.5; schemas of ``saasapi.v2.json``); Partner Center's shapes are in
:mod:`cspkit.emulator.serializers`.

Value types follow Microsoft's documented samples where they are specific (``samples/saas_resolve.json``,
``saas_operation_get.json``, ``saas_operations_list.json``: the resolve answer's top-level ``quantity`` and an
operation's ``quantity`` are strings such as ``"20"``, the subscription object's ``quantity`` an integer), and the
OpenAPI description elsewhere. Fields without a value are omitted, never ``null``: a pending subscription's term has
no dates yet (saas-fulfillment.md §1.3, "the term dates are filled in only after activation"), a flat-priced plan's
subscription and operations carry no ``quantity``.
"""

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
        "term": _term(s),
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


def _term(s: SaasSubscription) -> dict[str, Any]:
    """``term``: ``termUnit`` always; ``startDate``/``endDate`` once activated; ``chargeDuration`` (the billing
    period as an ISO 8601 duration, ``P1M`` monthly, ``P1Y`` annual: the OpenAPI ``Subscription.term`` field that
    tells monthly from annual billing on a ``P1Y`` term) when the billing frequency is known."""
    term: dict[str, Any] = {"termUnit": s.term_unit}
    if s.term_start is not None and s.term_end is not None:
        term["startDate"], term["endDate"] = fmt_dt(s.term_start), fmt_dt(s.term_end)
    charge = _CHARGE_DURATION.get((s.billing_cycle or "").lower())
    if charge:
        term["chargeDuration"] = charge
    return term


_CHARGE_DURATION = {"monthly": "P1M", "annual": "P1Y"}
_FREQUENCY_TEXT = {"monthly": "monthly payment", "annual": "upfront payment (billed annually)"}
_TERM_TEXT = {"P1M": "1-month subscription", "P1Y": "1-year subscription", "P2Y": "2-year subscription",
              "P3Y": "3-year subscription"}


def resolved(s: SaasSubscription) -> dict[str, Any]:
    """The Resolve answer: ``{id, subscriptionName, offerId, planId, quantity?, subscription}``, ``quantity`` a
    string as in the documented sample (``"quantity": "20"``, samples/saas_resolve.json)."""
    body = {"id": s.id, "subscriptionName": s.name, "offerId": s.offer_id, "planId": s.plan_id,
            "subscription": saas_subscription(s)}
    if s.quantity is not None:
        body["quantity"] = str(s.quantity)
    return body


def billing_terms(item: CatalogItem, currency: str) -> list[dict[str, Any]]:
    """``planComponents.recurrentBillingTerms``: one entry per term *and* billing frequency of the plan.

    ``currency`` is the market's currency (a string, e.g. ``"USD"``) and ``price`` a number: the plan's price for
    the whole term of one seat (or of the flat plan) in that currency, as the catalog's term price
    (:meth:`~cspkit.emulator.catalog.Term.term_price`; a P1Y plan billed monthly is charged ``price`` ÷ 12 a month).
    A ``P1Y`` term appears once per billing frequency; the schema's ``RecurrentBillingTerm`` has no frequency field,
    so ``termDescription`` names it ("1-year subscription, monthly payment" / "…, upfront payment (billed
    annually)"), as the marketplace's plan setup offers "monthly" or "one-time (upfront)" payment for 1-year terms;
    the subscription itself says which through ``term.chargeDuration``. Terms priced in no currency of the market
    are left out. Source: saasapi.v2.json ``Plan``/``RecurrentBillingTerm``; saas-fulfillment.md §1.2 (5).
    """
    out = []
    for t in item.terms:
        if currency not in t.prices:
            continue
        frequency = _FREQUENCY_TEXT.get(t.billing_cycle.lower(), t.billing_cycle.lower())
        out.append({"currency": currency, "price": float(t.term_price(currency)), "termUnit": t.duration,
                    "termDescription": f"{_TERM_TEXT.get(t.duration, t.duration)}, {frequency}"})
    return out


def saas_plan(item: CatalogItem, *, market: str, currency: str = "USD") -> dict[str, Any]:
    """One plan of ``listAvailablePlans`` (saasapi.v2.json ``Plan``), prices in ``currency`` (:func:`billing_terms`)."""
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
            "recurrentBillingTerms": billing_terms(item, currency),
            "meteringDimensions": [],
        },
    }


def saas_operation(op: Operation) -> dict[str, Any]:
    """An operation (saasapi.v2.json ``SaaSOperation``): ``quantity`` a string as in the documented samples
    (samples/saas_operation_get.json ``"quantity": "20"``), omitted for flat-priced plans."""
    body = {
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
    if op.quantity is None:
        del body["quantity"]
    else:
        body["quantity"] = str(op.quantity)
    return body


def webhook_payload(op: Operation, saas: SaasSubscription) -> dict[str, Any]:
    """A webhook's body: the operation, ``operationRequestSource``, the subscription and ``purchaseToken: null``;
    ``quantity`` a number here, as the webhook documentation's payload examples carry it."""
    body = {**saas_operation(op), "operationRequestSource": op.source,
            "subscription": saas_subscription(saas), "purchaseToken": None}
    if op.quantity is not None:
        body["quantity"] = op.quantity
    return body


