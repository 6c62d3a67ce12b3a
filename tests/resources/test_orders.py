"""Orders resource: list with filters, get, activation links per line item."""

from __future__ import annotations

import responses
from responses import matchers

BASE = "https://pc.test/v1"


@responses.activate
def test_list_get_and_activation_links(pc):
    responses.get(f"{BASE}/customers/c1/orders", match=[matchers.query_param_matcher({"billingType": "monthly"})],
                  json={"items": [{"id": "o1", "billingCycle": "Monthly", "status": "completed"}]})
    responses.get(f"{BASE}/customers/c1/orders/o1", json={
        "id": "o1", "creationDate": "2026-11-02T09:00:00.1234567Z", "lineItems": [
            {"lineItemNumber": 0, "offerId": "P:S:A", "subscriptionId": "s0"},
            {"lineItemNumber": 1, "offerId": "Q:S:A", "subscriptionId": "s1",
             "links": {"activationLinks": {"uri": "/customers/c1/orders/o1/lineitems/1/activationlinks"}}}]})
    responses.get(f"{BASE}/customers/c1/orders/o1/lineitems/1/activationlinks", json={
        "totalCount": 1, "items": [{"lineItemNumber": 1, "link": {"uri": "https://isv.test/landing?token=x"}}]})
    orders = pc.orders.list("c1", billing_type="monthly")
    assert orders[0].billing_cycle == "monthly"
    links = pc.orders.all_activation_links("c1", "o1")
    assert [(link.line_item_number, link.uri) for link in links] == [(1, "https://isv.test/landing?token=x")]


def test_against_the_emulator_get_missing_order_raises_not_found(emulator):
    import pytest

    from cspkit.client import PartnerCenter
    from cspkit.errors import NotFoundError

    with PartnerCenter(endpoint=emulator.url, access_token=emulator.token, sleep=lambda s: None,
                       jitter=lambda upper: 0.0) as pc:
        with pytest.raises(NotFoundError) as info:
            pc.orders.get("9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80", "nope")
        assert info.value.code == "20000"
        assert pc.orders.list("9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80") == []
