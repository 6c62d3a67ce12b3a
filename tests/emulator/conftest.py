"""Helpers for the emulator tests: a plain-requests client (never cspkit's own client)."""

from __future__ import annotations

import pytest
import requests

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
PREMIUM = "CFQ7TTC0LDPB:0001:CFQ7TTC0LLL4"
TRIAL = "CFQ7TTC0LDPB:0005:CFQ7TTC0TR1A"
E3 = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS"
ADVCOMMS = "CFQ7TTC0HDK0:0001:CFQ7TTC0HX99"
HELPDESK = "DZH318Z0SA01:0001:DZH318Z0C001"  # per-seat SaaS
BACKUP = "DZH318Z0SA02:0001:DZH318Z0F001"  # flat SaaS
US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
US_CUSTOMER_2 = "2f7b9c14-3a8d-4e6f-b1c2-d3e4f5a6b7c8"
DE_CUSTOMER = "d1b2c3e4-7f8a-4b9c-9d0e-f1a2b3c4d5e6"
PARTNER_TENANT = "4d6f3c2a-8b1e-4f0a-9c3d-2e5b7a1f0c11"


class PC:
    """Plain ``requests`` against the emulator's /v1, with the bearer token."""

    def __init__(self, emu) -> None:
        self.emu = emu
        self.base = emu.url + "/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emu.token}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base + path, timeout=10, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.session.post(self.base + path, json=json, timeout=10, **kw)

    def put(self, path: str, json=None, **kw) -> requests.Response:
        return self.session.put(self.base + path, json=json, timeout=10, **kw)

    def patch(self, path: str, json=None, **kw) -> requests.Response:
        return self.session.patch(self.base + path, json=json, timeout=10, **kw)

    # -- flows --------------------------------------------------------------------------------------------
    def line(self, catalog_item_id: str, quantity: int = 1, term: str = "P1M", cycle: str = "monthly", **extra):
        return {"catalogItemId": catalog_item_id, "quantity": quantity, "termDuration": term, "billingCycle": cycle,
                **extra}

    def cart(self, customer_id: str, *lines) -> dict:
        r = self.post(f"/customers/{customer_id}/carts", json={"lineItems": list(lines)})
        assert r.status_code == 201, r.text
        return r.json()

    def buy(self, customer_id: str, *lines) -> dict:
        cart = self.cart(customer_id, *lines)
        r = self.post(f"/customers/{customer_id}/carts/{cart['id']}/checkout")
        assert r.status_code == 201, r.text
        result = r.json()
        assert not result["orderErrors"], result
        return result

    def buy_one(self, customer_id: str, catalog_item_id: str, quantity: int = 1, term: str = "P1M",
                cycle: str = "monthly") -> dict:
        """Buy one line; returns the subscription resource."""
        result = self.buy(customer_id, self.line(catalog_item_id, quantity, term, cycle))
        sub_id = result["orders"][0]["lineItems"][0]["subscriptionId"]
        return self.subscription(customer_id, sub_id)

    def subscription(self, customer_id: str, subscription_id: str) -> dict:
        r = self.get(f"/customers/{customer_id}/subscriptions/{subscription_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def patch_subscription(self, customer_id: str, sub: dict, **changes) -> requests.Response:
        return self.patch(f"/customers/{customer_id}/subscriptions/{sub['id']}", json={**sub, **changes})

    def all_pages(self, path: str, **kw) -> list[dict]:
        """Follow links.next (with its headers) like the SDK does."""
        items, r = [], self.get(path, **kw)
        while True:
            assert r.status_code == 200, r.text
            body = r.json()
            items += body["items"]
            nxt = body["links"].get("next")
            if not nxt:
                return items
            headers = {h["key"]: h["value"] for h in nxt["headers"]}
            r = self.get(nxt["uri"], headers=headers)


@pytest.fixture
def pc(emulator) -> PC:
    return PC(emulator)
