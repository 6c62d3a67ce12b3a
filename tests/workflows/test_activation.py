"""Following an activation link (cspkit.workflows.activation, moved out of the emulator): errors are CspkitErrors."""

from __future__ import annotations

import pytest

from cspkit.errors import APIConnectionError, CspkitError
from cspkit.workflows.activation import follow_activation_link, rebase_link


def test_a_refused_token_gives_the_status_and_the_pages_words_without_the_token(emulator):
    with pytest.raises(CspkitError) as info:
        follow_activation_link(f"{emulator.url}/publisher/21223810/landing?token=not-a-purchase-token")
    assert str(info.value) == (f"the landing page {emulator.url}/publisher/21223810/landing answered HTTP 400: "
                               "Cannot set up your subscription: The marketplace token is malformed or unknown.")
    assert info.value.exit_code == 1 and "activation-links" in info.value.hint
    assert "not-a-purchase-token" not in str(info.value)


def test_a_page_that_is_not_a_landing_page_says_so(emulator):
    with pytest.raises(CspkitError) as info:
        follow_activation_link(f"{emulator.url}/no/such/page?token=SECRET")
    assert "answered HTTP 404 (not a landing page: is the link complete?)" in str(info.value)
    assert "SECRET" not in str(info.value)


def saas_link(emulator, emulator_client) -> str:
    customer = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
    with emulator_client() as pc:
        item = pc.catalog.find_availability("DZH318Z0SA01", "0001", country="US", term_duration="P1M",
                                            billing_cycle="monthly")[0].resolved_catalog_item_id
        cart = pc.carts.create(customer, line_items=[{"catalogItemId": item, "quantity": 1, "termDuration": "P1M",
                                                      "billingCycle": "monthly"}])
        order = pc.carts.checkout(customer, cart.id).orders[0]
        return pc.orders.all_activation_links(customer, order.id)[0].uri


def test_following_a_fresh_link_activates_and_a_publisher_that_activates_at_once_is_a_success(
        emulator, emulator_client):
    assert follow_activation_link(saas_link(emulator, emulator_client)) == "Your subscription is active"
    emulator.backend.marketplace.publisher_config["auto_activate"] = True  # no form: active on opening
    assert follow_activation_link(saas_link(emulator, emulator_client)) == "Your subscription is active"


@pytest.mark.parametrize("uri", ["foo", "", "ftp://127.0.0.1/x?token=t", "http://127.0.0.1:5/publisher/1/landing"])
def test_a_malformed_link_is_a_value_error_naming_what_is_expected(uri):
    with pytest.raises(ValueError, match="activation-links"):
        follow_activation_link(uri)


def test_an_unreachable_page_is_a_connection_error_without_its_token():
    with pytest.raises(APIConnectionError) as info:
        follow_activation_link("http://127.0.0.1:9/publisher/1/landing?token=SECRET", timeout=2)
    assert "SECRET" not in str(info.value)
    assert str(info.value).endswith("could not be reached: nothing answers at 127.0.0.1:9 (connection refused or "
                                    "host unknown)")
    assert "Error" not in str(info.value)  # no library class name


def test_rebase_moves_only_loopback_links():
    assert rebase_link("http://127.0.0.1:5000/publisher/1/landing?token=t", "http://127.0.0.1:6000") == \
        "http://127.0.0.1:6000/publisher/1/landing?token=t"
    assert rebase_link("https://isv.example/landing?token=t", "http://127.0.0.1:6000") == \
        "https://isv.example/landing?token=t"
