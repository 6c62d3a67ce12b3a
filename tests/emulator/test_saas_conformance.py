"""The SaaS Fulfillment API against Microsoft's description (``../shared/reference/openapi/saasapi.v2.json``): plan
prices per term and billing frequency, documented value types, malformed requests answered 400 in the SaaS error
shape, and a bounded property-based conformance run (schemathesis, deterministic, a few examples per operation)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from cspkit.emulator.catalog import load_seed
from tests.emulator.conftest import BACKUP, HELPDESK, US_CUSTOMER
from tests.emulator.test_saas import Saas, activate, buy_saas, token_of

OPENAPI = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "openapi" / "saasapi.v2.json"


@pytest.fixture
def saas(emulator) -> Saas:
    return Saas(emulator)


def _is_saas_error(r: requests.Response) -> bool:
    body = r.json()
    return isinstance(body.get("error"), dict) and {"code", "message"} <= set(body["error"])


def test_plans_carry_their_price_per_term_and_billing_frequency(pc, saas, emulator):
    _, saas_id = activate(pc, saas, HELPDESK, 3)
    plans = {p["planId"]: p for p in saas.call("GET", f"/subscriptions/{saas_id}/listAvailablePlans").json()["plans"]}
    seed = next(p for p in load_seed("catalog.json")["products"] if p["id"] == "DZH318Z0SA01")
    for sku in seed["skus"]:
        terms = plans[sku["planId"]]["planComponents"]["recurrentBillingTerms"]
        expected = [("USD", float(Decimal(t["prices"]["USD"]["unitPrice"])), t["duration"]) for t in sku["terms"]]
        assert [(t["currency"], t["price"], t["termUnit"]) for t in terms] == expected
        assert all(isinstance(t["price"], float) and isinstance(t["currency"], str) for t in terms)
        p1y = [t["termDescription"] for t in terms if t["termUnit"] == "P1Y"]
        assert p1y == ["1-year subscription, monthly payment", "1-year subscription, upfront payment (billed annually)"]


def test_annual_billing_is_told_by_charge_duration(pc, saas, emulator):
    _, monthly = activate(pc, saas, HELPDESK, 3)
    _, link = buy_saas(pc, HELPDESK, 2, "P1Y", "annual")
    annual = saas.resolve(token_of(link)).json()["id"]
    terms = {s["id"]: s["term"] for s in saas.call("GET", "/subscriptions").json()["subscriptions"]}
    assert terms[monthly]["chargeDuration"] == "P1M" and terms[monthly]["termUnit"] == "P1M"
    assert terms[annual] == {"termUnit": "P1Y", "chargeDuration": "P1Y"}  # pending: no dates yet


def test_flat_priced_plans_carry_no_quantity_anywhere(pc, saas, emulator):
    _, saas_id = activate(pc, saas, BACKUP, 1)
    assert "quantity" not in saas.call("GET", f"/subscriptions/{saas_id}").json()
    r = saas.call("DELETE", f"/subscriptions/{saas_id}")
    op = requests.get(r.headers["Operation-Location"], headers=saas.s.headers, timeout=5).json()
    assert op["action"] == "Unsubscribe" and "quantity" not in op


@pytest.mark.parametrize("quantity", [{}, "abc", [1], 2.5, True, -1, "2.5"])
def test_a_quantity_that_is_not_a_whole_number_is_a_400_in_the_saas_shape(pc, saas, emulator, quantity):
    _, link = buy_saas(pc, HELPDESK, 3)
    pending = saas.resolve(token_of(link)).json()["id"]
    r = saas.call("POST", f"/subscriptions/{pending}/activate", json={"planId": "standard", "quantity": quantity})
    assert r.status_code == 400 and _is_saas_error(r) and "quantity" in r.json()["error"]["message"]
    assert saas.call("GET", f"/subscriptions/{pending}").json()["saasSubscriptionStatus"] == "PendingFulfillmentStart"
    _, active = activate(pc, saas, HELPDESK, 3)
    r = saas.call("PATCH", f"/subscriptions/{active}", json={"quantity": quantity})
    assert r.status_code == 400 and _is_saas_error(r) and "quantity" in r.json()["error"]["message"]
    assert saas.call("GET", f"/subscriptions/{active}").json()["quantity"] == 3  # not truncated, not changed


def test_a_bad_continuation_token_is_answered_in_the_saas_shape(saas):
    r = saas.s.get(saas.base + "/subscriptions", params={"api-version": "2018-08-31", "continuationToken": "x"},
                   timeout=10)
    assert r.status_code == 400 and _is_saas_error(r)
    assert "continuationToken" in r.json()["error"]["message"] and "MS-ContinuationToken" not in r.text


def test_saas_api_conforms_to_microsofts_openapi_description(pc, saas, emulator):
    """Property-based: every operation of the description, with generated parameters and bodies (bounded: a few
    examples each, derandomized), against pending, active per-seat and active flat-priced subscriptions. Every
    answer must not be a 5xx, must match the description's schema where it gives one, and errors come in the SaaS
    error shape.

    Where the description and Microsoft's prose docs disagree we follow saas-fulfillment.md, so the status-code
    conformance check is not run: the docs give 400 on every call (validation, e.g. a bad api-version) where the
    description lists it for some operations only, and 409 while an operation is pending (§1.6, "one pending
    update at a time") where the description has no 409 on PATCH subscription.
    """
    if not OPENAPI.exists():
        pytest.skip(f"Microsoft's SaaS OpenAPI description is not here ({OPENAPI}); ../shared is absent")
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

    _, link = buy_saas(pc, HELPDESK, 3)
    pending = saas.resolve(token_of(link)).json()["id"]
    seats, flat = activate(pc, saas, HELPDESK, 3)[1], activate(pc, saas, BACKUP, 1)[1]
    assert saas.call("PATCH", f"/subscriptions/{seats}", json={"quantity": 4}).status_code == 202  # an operation
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    # The one place where the description and Microsoft's documented samples disagree on a value type: the
    # samples (pc-saas-fulfillment-subscription-api / -operations-api, samples/saas_resolve.json,
    # saas_operation_get.json, saas_operations_list.json) give Resolve's top-level quantity and an operation's
    # quantity as strings ("20"), the description as integers. The emulator follows the samples (issue 17 item 4);
    # either form is accepted here, nothing else is loosened.
    schemas = document["components"]["schemas"]
    for name in ("ResolvedSubscription", "SaaSOperation"):
        schemas[name]["properties"]["quantity"] = {"type": ["integer", "string"], "pattern": "^[0-9]+$"}
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {emulator.token}"}
    base = emulator.url + "/api"
    seen: list[tuple[str, int]] = []
    # read-only operations first, then the ones that change state, Delete last
    order = {"get": 0, "post": 1, "patch": 2, "delete": 3}
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=lambda o: order[o.method.lower()])
    for op in operations:
        for saas_id in ((None,) if "{subscriptionId}" not in op.path else (pending, seats, flat)):
            fixed = {"subscriptionId": saas_id} if saas_id else {}
            if "{operationId}" in op.path:
                ops = [o for o in emulator.backend.marketplace.operations.values() if o.subscription_id == saas_id]
                if not ops:
                    continue
                fixed["operationId"] = ops[0].id

            @settings(max_examples=6, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(path_parameters=fixed or None, query={"api-version": "2018-08-31"}))
            def run(case):
                response = case.call(base_url=base, headers=headers)
                seen.append((case.operation.label, response.status_code))
                case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                                         response_schema_conformance])
                if response.status_code >= 400:
                    assert _is_saas_error(response), (case.operation.label, response.text)

            run()
    labels = {label for label, _ in seen}
    assert len(labels) == 10, labels  # every operation of the description was exercised
    assert any(status == 200 for _, status in seen) and any(status == 400 for _, status in seen)
    assert US_CUSTOMER in {s["beneficiary"]["tenantId"] for s in
                           saas.call("GET", "/subscriptions").json()["subscriptions"]}
