"""Catalog resource: query parameters, SaaS detection, availability choice, inventory's bare array."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from cspkit.errors import NotFoundError
from cspkit.resources.catalog import parse_item_reference

BASE = "https://pc.test/v1"


@responses.activate
def test_products_send_country_view_and_segment_and_flag_saas(pc):
    responses.get(f"{BASE}/products", match=[matchers.query_param_matcher(
        {"country": "US", "targetView": "OnlineServices", "targetSegment": "commercial"})], json={
        "totalCount": 2, "items": [
            {"id": "CFQ7TTC0LH18", "productType": {"id": "OnlineServicesNCE"}},
            {"id": "DZH318Z0SA01", "productType": {"id": "Azure", "subType": {"id": "SaaS"}}},
        ]})
    products = pc.catalog.products(country="US", target_segment="commercial")
    assert [(p.id, p.is_saas) for p in products] == [("CFQ7TTC0LH18", False), ("DZH318Z0SA01", True)]


@responses.activate
def test_find_availability_picks_the_one_with_term_and_billing_cycle(pc):
    url = f"{BASE}/products/P1/skus/0001/availabilities"
    responses.get(url, json={"items": [
        {"id": "A1", "productId": "P1", "skuId": "0001", "catalogItemId": "P1:0001:A1",
         "defaultCurrency": "USD", "terms": [{"duration": "P1M", "billingCycle": "monthly"}]},
        {"id": "A2", "productId": "P1", "skuId": "0001", "catalogItemId": "P1:0001:A2",
         "defaultCurrency": {"code": "USD", "symbol": "$"},
         "terms": [{"duration": "P1Y", "billingCycle": "Monthly"}, {"duration": "P1Y", "billingCycle": "Annual"}]},
    ]})
    availability, term = pc.catalog.find_availability("P1", "0001", country="US", term_duration="p1y",
                                                       billing_cycle="annual")
    assert availability.catalog_item_id == "P1:0001:A2" and term.billing_cycle == "annual"
    assert availability.default_currency.code == "USD"
    with pytest.raises(NotFoundError):
        pc.catalog.find_availability("P1", "0001", country="US", term_duration="P3Y", billing_cycle="triennial")


@responses.activate
def test_check_inventory_posts_targets_and_reads_a_bare_array(pc):
    responses.post(f"{BASE}/extensions/product/checkinventory", match=[matchers.query_param_matcher({"country": "US"})],
                   json=[{"productId": "P1", "skuId": "0001", "isRestricted": True,
                          "restrictions": [{"reasonCode": "R", "description": "sold out"}]}])
    items = pc.catalog.check_inventory(country="US", items=[{"productId": "P1", "skuId": "0001"}],
                                       context={"customerId": "c1"})
    assert items[0].is_restricted and items[0].restrictions[0].description == "sold out"
    assert json.loads(responses.calls[0].request.body) == {
        "targetItems": [{"productId": "P1", "skuId": "0001"}], "inventoryContext": {"customerId": "c1"}}


def test_parse_item_reference():
    assert parse_item_reference("P:S") == ("P", "S", None)
    assert parse_item_reference("P:S:A") == ("P", "S", "A")
    with pytest.raises(ValueError):
        parse_item_reference("P")


def test_against_the_emulator_catalog_reads(emulator):
    from cspkit.client import PartnerCenter

    with PartnerCenter(endpoint=emulator.url, access_token=emulator.token, sleep=lambda s: None,
                       jitter=lambda upper: 0.0) as pc:
        products = pc.catalog.products(country="DE", target_segment="commercial")
        assert sum(p.is_saas for p in products) == 3 and len(products) == 8
        sku = pc.catalog.get_sku("CFQ7TTC0LDPB", "0005", country="US")
        assert (sku.is_trial, sku.minimum_quantity, sku.maximum_quantity) == (True, 1, 25)
        availability, term = pc.catalog.find_availability("CFQ7TTC0LDPB", "0005", country="US", term_duration="P1M",
                                                           billing_cycle="none")
        assert availability.catalog_item_id == "CFQ7TTC0LDPB:0005:CFQ7TTC0TR1A" and term.billing_cycle == "none"
        de = pc.catalog.get_availability("CFQ7TTC0LH18", "0001", "CFQ7TTC0K59J", country="DE")
        assert de.default_currency.code == "EUR"
        inventory = pc.catalog.check_inventory(country="US", items=[{"productId": "CFQ7TTC0LH18"},
                                                                    {"productId": "NOPE"}])
        assert [(i.product_id, i.sku_id, i.is_restricted) for i in inventory] == [("CFQ7TTC0LH18", "0001", False)]
        with pytest.raises(NotFoundError):
            pc.catalog.skus("NOPE", country="US")
