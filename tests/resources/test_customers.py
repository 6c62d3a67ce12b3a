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


def test_against_the_emulator_every_page_and_get(emulator):
    from cspkit.client import PartnerCenter

    with PartnerCenter(endpoint=emulator.url, access_token=emulator.token, sleep=lambda s: None,
                       jitter=lambda upper: 0.0) as pc:
        pages = list(pc.customers.list(page_size=2).pages())
        assert [len(p.items) for p in pages] == [2, 2, 1]
        assert [c.id for p in pages for c in p.items] == list(emulator.backend.customers)
        wingtip = pc.customers.get("d1b2c3e4-7f8a-4b9c-9d0e-f1a2b3c4d5e6")
        assert (wingtip.company_name, wingtip.country) == ("Wingtip Toys GmbH", "DE")
        with pytest.raises(NotFoundError):
            pc.customers.get("00000000-0000-0000-0000-000000000000")
