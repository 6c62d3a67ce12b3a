"""Customers resource: seek paging over every page, get by id (exact HTTP exchanges)."""

from __future__ import annotations

import pytest
import responses

from cspkit.errors import NotFoundError

BASE = "https://pc.test/v1"


@responses.activate
def test_list_walks_pages_with_the_continuation_header(pc):
    responses.get(f"{BASE}/customers", match=[responses.matchers.query_param_matcher({"size": "2"})], json={
        "totalCount": 2,
        "items": [{"id": "c1", "companyProfile": {"companyName": "A"}}, {"id": "c2"}],
        "links": {"next": {"uri": "/customers?size=2&seekOperation=Next",
                           "headers": [{"key": "MS-ContinuationToken", "value": "tok/1=="}]}},
    })
    responses.get(f"{BASE}/customers",
                  match=[responses.matchers.query_param_matcher({"size": "2", "seekOperation": "Next"}),
                         responses.matchers.header_matcher({"MS-ContinuationToken": "tok/1=="})],
                  json={"totalCount": 1, "items": [{"id": "c3"}]})
    customers = list(pc.customers.list(page_size=2))
    assert [c.id for c in customers] == ["c1", "c2", "c3"]
    assert customers[0].company_name == "A"


@responses.activate
def test_get_reads_the_country_and_a_missing_customer_raises_not_found(pc):
    responses.get(f"{BASE}/customers/c1", json={
        "id": "c1", "companyProfile": {"domain": "a.onmicrosoft.com"},
        "billingProfile": {"defaultAddress": {"country": "DE"}}})
    responses.get(f"{BASE}/customers/nope", status=404, json={"code": "60003", "description": "Tenant not found"})
    customer = pc.customers.get("c1")
    assert (customer.country, customer.domain) == ("DE", "a.onmicrosoft.com")
    with pytest.raises(NotFoundError) as info:
        pc.customers.get("nope")
    assert info.value.code == "60003"
