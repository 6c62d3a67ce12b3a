"""Transitions and renewal instructions over ``responses``: each operation sends the documented request and parses
the documented response ("Transition a new commerce subscription", "Get transitions", "Schedule changes for a new
commerce subscription"; the JSON below follows those pages' samples)."""

from __future__ import annotations

import json

import pytest
import responses

from cspkit.errors import BadRequestError
from cspkit.models.transition import ProductTerm, ScheduledNextTermInstructions

BASE = "https://pc.test/v1"
SUBS = f"{BASE}/customers/c1/subscriptions/s1"

# "Get transition eligibilities" response sample (learn / DOCS-2021 transition-a-new-commerce-subscription.md)
ELIGIBILITIES = {
    "totalCount": 2,
    "items": [
        {"catalogItemId": "CFQ7TTC0KZCR:0001:CFQ7TTC0K71H", "title": "Microsoft 365 E5 Test Sku Title",
         "description": "Microsoft 365 E5 Test Sku Description", "quantity": 1,
         "eligibilities": [
             {"isEligible": True, "transitionType": "transition_only", "errors": []},
             {"isEligible": False, "transitionType": "transition_with_license_transfer",
              "errors": [{"code": 3, "description": "Subscription cannot be transitioned because there are "
                                                    "conflicting services."}]}],
         "attributes": {"objectType": "TransitionEligibility"}},
        {"catalogItemId": "CFQ7TTC0L4M3:0001:CFQ7TTC0K78T", "title": "Business Premium Test Sku Title",
         "description": "Business Premium Test Sku Description", "quantity": 1,
         "eligibilities": [
             {"isEligible": False, "transitionType": "transition_with_license_transfer",
              "errors": [{"code": 3, "description": "Subscription cannot be transitioned because there are "
                                                    "conflicting services."}]}],
         "attributes": {"objectType": "TransitionEligibility"}},
    ],
    "attributes": {"objectType": "Collection"},
}

# "Post Transition" response sample (PascalCase keys as the page shows them, "Started " with its trailing space)
CREATED = {
    "FromCatalogItemId": "CFQ7TTC0LDPB:0001:CFQ7TTC0LGNT", "ToCatalogItemId": "CFQ7TTC0LF8S:0001:CFQ7TTC0K9G9",
    "quantity": 1, "transitionType": "transition_with_license_transfer",
    "Events": [{"name": "Conversion", "status": "Started ", "timestamp": "2021-01-08T18:01:14.7488618Z",
                "attributes": {"objectType": "TransitionEvent"}}],
    "attributes": {"objectType": "Transition"},
}


@responses.activate
def test_eligibilities_send_the_eligibility_type_and_parse_the_documented_sample(pc):
    responses.get(SUBS + "/transitionEligibilities", json=ELIGIBILITIES,
                  match=[responses.matchers.query_param_matcher({"eligibilityType": "scheduled"})])
    found = pc.subscriptions.transitions.eligibilities("c1", "s1", eligibility_type="Scheduled")
    assert [t.catalog_item_id for t in found] == ["CFQ7TTC0KZCR:0001:CFQ7TTC0K71H", "CFQ7TTC0L4M3:0001:CFQ7TTC0K78T"]
    assert found[0].is_eligible and found[0].eligible_types() == ["transition_only"]
    assert not found[1].is_eligible
    assert found[1].problems() == ["Subscription cannot be transitioned because there are conflicting services."]
    with pytest.raises(ValueError):
        pc.subscriptions.transitions.eligibilities("c1", "s1", eligibility_type="tomorrow")


@responses.activate
def test_create_posts_the_documented_body_with_its_request_id(pc):
    responses.post(SUBS + "/transitions", json=CREATED)
    t = pc.subscriptions.transitions.create("c1", "s1", to_catalog_item_id="CFQ7TTC0KZ59:0001:CFQ7TTC0KZ59",
                                            quantity=5, transition_type="transition_with_license_transfer",
                                            request_id="18752a69-1aa1-4ef7-8f9d-eb3681b2d70a")
    request = responses.calls[-1].request
    assert json.loads(request.body) == {"toCatalogItemId": "CFQ7TTC0KZ59:0001:CFQ7TTC0KZ59", "quantity": 5,
                                        "transitionType": "transition_with_license_transfer"}
    assert request.headers["MS-RequestId"] == "18752a69-1aa1-4ef7-8f9d-eb3681b2d70a"
    assert t.from_catalog_item_id == "CFQ7TTC0LDPB:0001:CFQ7TTC0LGNT"
    assert t.to_catalog_item_id == "CFQ7TTC0LF8S:0001:CFQ7TTC0K9G9" and t.quantity == 1
    assert t.status == "Started" and not t.completed and t.events[0].name == "Conversion"
    with pytest.raises(ValueError):
        pc.subscriptions.transitions.create("c1", "s1", quantity=1)  # no target
    with pytest.raises(ValueError):
        pc.subscriptions.transitions.create("c1", "s1", to_catalog_item_id="A:B:C", quantity=0)


@responses.activate
def test_create_into_an_existing_subscription_and_a_refusal(pc):
    responses.post(SUBS + "/transitions", status=400, json={"code": "800002", "description": "not an upgrade"})
    with pytest.raises(BadRequestError) as refused:
        pc.subscriptions.transitions.create("c1", "s1", to_subscription_id="s2", quantity=2, term_duration="P1Y",
                                            billing_cycle="monthly")
    assert refused.value.code == "800002"
    assert json.loads(responses.calls[-1].request.body) == {
        "toSubscriptionId": "s2", "quantity": 2, "transitionType": "transition_only", "termDuration": "P1Y",
        "billingCycle": "monthly"}


@responses.activate
def test_list_parses_the_history_with_resulting_subscriptions(pc):
    done = {"operationId": "op1", "fromSubscriptionId": "s1", "toSubscriptionId": "s9",
            "fromCatalogItemId": "A:1:X", "toCatalogItemId": "B:1:Y", "quantity": 3, "termDuration": "P1Y",
            "billingCycle": "monthly", "transitionType": "transition_only",
            "events": [{"name": "Conversion", "status": "Completed", "timestamp": "2026-11-16T09:00:00Z"}]}
    responses.get(SUBS + "/transitions", json={"totalCount": 1, "items": [done],
                                               "attributes": {"objectType": "Collection"}})
    [t] = pc.subscriptions.transitions.list("c1", "s1")
    assert (t.operation_id, t.to_subscription_id, t.quantity, t.completed) == ("op1", "s9", 3, True)
    assert t.events[0].timestamp.isoformat() == "2026-11-16T09:00:00+00:00"


SUB = {"id": "s1", "offerId": "DG7GMGF0DVSV:000P:DG7GMGF0F3Q9", "quantity": 1, "status": "active",
       "autoRenewEnabled": True, "billingCycle": "triennial", "termDuration": "P3Y",
       "attributes": {"etag": "e1", "objectType": "Subscription"}}
# the documented PATCH example's instructions ("Update autorenew for a commercial marketplace subscription")
NEXT = {"product": {"productId": "DG7GMGF0DVSV", "skuId": "000P", "availabilityId": "DG7GMGF0F3Q9",
                    "billingCycle": "Annual", "termDuration": "P3Y"}, "quantity": 1}


@responses.activate
def test_set_next_term_patches_the_full_resource_with_the_instructions(pc):
    responses.get(SUBS, json=SUB)
    responses.patch(SUBS, json={**SUB, "scheduledNextTermInstructions": NEXT})
    instructions = ScheduledNextTermInstructions(
        product=ProductTerm(product_id="DG7GMGF0DVSV", sku_id="000P", availability_id="DG7GMGF0F3Q9",
                            billing_cycle="annual", term_duration="P3Y"), quantity=1)
    change = pc.subscriptions.set_next_term("c1", "s1", instructions=instructions)
    request = responses.calls[-1].request
    body = json.loads(request.body)
    assert body["scheduledNextTermInstructions"] == {
        "product": {"productId": "DG7GMGF0DVSV", "skuId": "000P", "availabilityId": "DG7GMGF0F3Q9",
                    "billingCycle": "annual", "termDuration": "P3Y"}, "quantity": 1}
    assert body["attributes"]["etag"] == "e1" and request.headers["If-Match"] == "e1"
    n = change.after.scheduled_next_term_instructions
    assert n.product.catalog_item_id == "DG7GMGF0DVSV:000P:DG7GMGF0F3Q9" and n.product.billing_cycle == "annual"


@responses.activate
def test_clear_next_term_sends_null(pc):
    responses.get(SUBS, json={**SUB, "scheduledNextTermInstructions": NEXT})
    responses.patch(SUBS, json=SUB)
    change = pc.subscriptions.clear_next_term("c1", "s1")
    body = json.loads(responses.calls[-1].request.body)
    assert "scheduledNextTermInstructions" in body and body["scheduledNextTermInstructions"] is None
    assert change.before.scheduled_next_term_instructions is not None
    assert change.after.scheduled_next_term_instructions is None
