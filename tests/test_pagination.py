"""Paging: links.next with its headers (MS-ContinuationToken), malformed next links, offset paging."""

from __future__ import annotations

import pytest
import responses

from cspkit.transport import Transport

BASE = "https://pc.test"


def transport() -> Transport:
    return Transport(BASE, lambda force: "t", sleep=lambda s: None, jitter=lambda u: 0.0)


def page(items, next_link=None, **extra):
    body = {"totalCount": len(items), "items": items, "links": {"self": {"uri": "/x", "method": "GET", "headers": []}},
            "attributes": {"objectType": "Collection"}, **extra}
    if next_link is not None:
        body["links"]["next"] = next_link
    return body


@responses.activate
def test_three_pages_driven_only_by_next_links_and_their_headers():
    token_2 = "d19617b8-aa,0705c4a9-bb_a4ayc/80/OGda4BO/1o/V0etpOqiLx1JwB5S3beHW0s=,0d81c700"
    token_3 = "second+token/=="
    url = f"{BASE}/v1/invoices/G1/lineitems"
    responses.get(url, json=page([{"n": 1}, {"n": 2}], {
        "uri": "/invoices/G1/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&size=2"
               "?seekOperation=Next",  # the docs' malformed link: a second '?'
        "method": "GET", "headers": [{"key": "MS-ContinuationToken", "value": token_2}]}))
    responses.get(url, json=page([{"n": 3}, {"n": 4}], {
        "uri": f"{BASE}/v1/invoices/G1/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&size=2"
               "&seekOperation=Next",  # absolute, with /v1
        "method": "GET", "headers": [{"key": "MS-ContinuationToken", "value": token_3}]}))
    responses.get(url, json=page([{"n": 5}]))

    pager = transport().paginate(
        "invoices/G1/lineitems",
        params={"provider": "onetime", "invoicelineitemtype": "billinglineitems"},
        page_size=2,
        parse=lambda item: item["n"],
    )
    assert list(pager) == [1, 2, 3, 4, 5]

    calls = [c.request for c in responses.calls]
    assert len(calls) == 3
    assert "MS-ContinuationToken" not in calls[0].headers
    assert calls[1].headers["MS-ContinuationToken"] == token_2
    assert calls[2].headers["MS-ContinuationToken"] == token_3
    assert calls[1].url.count("?") == 1 and "seekOperation=Next" in calls[1].url and "size=2" in calls[1].url
    for call in calls:  # the token travels as a header, never in the query
        assert "ContinuationToken" not in call.url and "a4ayc" not in call.url


@responses.activate
def test_stops_when_next_is_absent_even_if_a_token_is_present():
    responses.get(f"{BASE}/v1/customers", json=page([{"id": "a"}], continuationToken="leftover"))
    assert list(transport().paginate("customers")) == [{"id": "a"}]
    assert len(responses.calls) == 1


@responses.activate
def test_next_link_without_uri_rebuilds_the_query_with_the_top_level_token():
    url = f"{BASE}/v1/customers"
    responses.get(url, json=page([{"id": "a"}], {"uri": "", "method": "GET", "headers": []},
                                 continuationToken="tok-1"))
    responses.get(url, json=page([{"id": "b"}]))
    items = list(transport().paginate("customers", params={"size": 1}))
    assert items == [{"id": "a"}, {"id": "b"}]
    second = responses.calls[1].request
    assert second.headers["MS-ContinuationToken"] == "tok-1"
    assert "seekOperation=Next" in second.url and "size=1" in second.url


@responses.activate
def test_relative_link_without_v1_gets_the_prefix():
    responses.get(f"{BASE}/v1/customers", json=page([{"id": "a"}], {
        "uri": "customers?size=1&seekOperation=Next", "method": "GET",
        "headers": [{"key": "MS-ContinuationToken", "value": "x"}]}))
    responses.get(f"{BASE}/v1/customers", json=page([{"id": "b"}]))
    assert [c["id"] for c in transport().paginate("customers")] == ["a", "b"]
    assert responses.calls[1].request.url.startswith(f"{BASE}/v1/customers?")


@responses.activate
def test_offset_paging_for_invoices():
    url = f"{BASE}/v1/invoices"
    responses.get(url, json=page([{"id": "G1"}, {"id": "G2"}]))
    responses.get(url, json=page([{"id": "G3"}, {"id": "G4"}]))
    responses.get(url, json=page([{"id": "G5"}]))
    pager = transport().paginate("invoices", style="offset", page_size=2)
    assert [i["id"] for i in pager] == ["G1", "G2", "G3", "G4", "G5"]
    offsets = [c.request.url.split("offset=")[1].split("&")[0] for c in responses.calls]
    assert offsets == ["0", "2", "4"]


@responses.activate
def test_pages_expose_per_page_total_count():
    responses.get(f"{BASE}/v1/customers", json=page([{"id": "a"}, {"id": "b"}], {
        "uri": "/customers?seekOperation=Next", "method": "GET",
        "headers": [{"key": "MS-ContinuationToken", "value": "t"}]}))
    responses.get(f"{BASE}/v1/customers", json=page([{"id": "c"}]))
    pages = list(transport().paginate("customers").pages())
    assert [p.total_count for p in pages] == [2, 1]


@responses.activate
def test_a_next_link_pointing_back_raises_a_paging_error_with_the_ids():
    from cspkit.errors import APIError, PagingError

    url = f"{BASE}/v1/customers"
    loop = {"uri": "/customers?seekOperation=Next", "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": "same"}]}
    for _ in range(3):
        responses.get(url, json=page([{"id": "a"}], loop))

    with pytest.raises(PagingError) as caught:
        list(transport().paginate("customers"))

    assert isinstance(caught.value, APIError)
    assert "returned the same next link twice" in str(caught.value)
    assert caught.value.request_id == responses.calls[-1].request.headers["MS-RequestId"]
    assert len(responses.calls) == 2  # the second page hands back the same next link: stop there


@responses.activate
def test_a_loaded_paginator_indexes_compares_and_iterates_without_asking_again():
    responses.get(f"{BASE}/v1/customers", json=page([{"id": "a"}, {"id": "b"}]))
    pager = transport().paginate("customers")
    with pytest.raises(TypeError):
        len(pager)  # not walked yet: no silent fetch for a length
    assert not pager.loaded and len(responses.calls) == 0  # lazy until walked

    assert pager.load() is pager and pager.loaded
    assert (len(pager), pager[1], pager == [{"id": "a"}, {"id": "b"}]) == (2, {"id": "b"}, True)
    assert [c["id"] for c in pager] == ["a", "b"] and list(pager) == pager.to_list()
    assert len(responses.calls) == 1


@responses.activate
def test_every_list_returns_a_paginator():
    from cspkit.pagination import Paginator
    from cspkit.resources.customers import Customers
    from cspkit.resources.invoices import Invoices
    from cspkit.resources.orders import Orders
    from cspkit.resources.subscriptions import Subscriptions

    responses.get(f"{BASE}/v1/customers/c1/orders", json=page([{"id": "o1"}]))
    responses.get(f"{BASE}/v1/customers/c1/subscriptions", json=page([{"id": "s1", "offerId": "P:S:A"}]))
    t = transport()
    orders, subscriptions = Orders(t).list("c1"), Subscriptions(t).list("c1")
    lazy = [Customers(t).list(), Invoices(t).list()]

    assert all(isinstance(p, Paginator) for p in [orders, subscriptions, *lazy])
    assert orders.loaded and subscriptions.loaded  # read at the call, as before: errors surface there
    assert (orders[0].id, subscriptions[0].id) == ("o1", "s1")
    assert not any(p.loaded for p in lazy) and len(responses.calls) == 2
