"""Subscription PATCH rules: quantity bounds, etags, seat decreases and cancellation only inside the window, before
and after the virtual clock passes it; auto-renew at term end."""

from __future__ import annotations

from tests.emulator.conftest import BASIC, E3, US_CUSTOMER


def test_quantity_increase_opens_a_window_for_the_added_seats(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 10)
    emulator.clock.advance(days=8)  # the purchase window (7 days) has closed
    sub = pc.subscription(US_CUSTOMER, sub["id"])
    assert sub["refundableQuantity"] == {"totalQuantity": 0, "details": []}
    assert sub["refundOptions"] == []
    assert "cancel" not in sub["actions"]
    r = pc.patch_subscription(US_CUSTOMER, sub, quantity=9)
    assert r.status_code == 400 and r.json()["code"] == "800090"
    r = pc.patch_subscription(US_CUSTOMER, sub, quantity=15)
    assert r.status_code == 200 and r.json()["quantity"] == 15
    sub = r.json()
    assert sub["refundableQuantity"] == {"totalQuantity": 5, "details": [
        {"quantity": 5, "allowedUntilDateTime": "2026-11-17T09:00:00Z"}]}
    r = pc.patch_subscription(US_CUSTOMER, sub, quantity=9)  # more than the 5 refundable seats
    assert r.status_code == 400 and r.json()["code"] == "800090"
    r = pc.patch_subscription(US_CUSTOMER, sub, quantity=12)
    assert r.status_code == 200 and r.json()["refundableQuantity"]["totalQuantity"] == 2
    emulator.clock.advance(days=7)  # the added seats' window closes too
    sub = pc.subscription(US_CUSTOMER, sub["id"])
    assert pc.patch_subscription(US_CUSTOMER, sub, quantity=11).json()["code"] == "800090"


def test_seat_decrease_inside_the_window(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 10)
    emulator.clock.advance(days=6, hours=23)
    r = pc.patch_subscription(US_CUSTOMER, sub, quantity=4)
    assert r.status_code == 200 and r.json()["quantity"] == 4
    assert r.json()["refundableQuantity"]["totalQuantity"] == 4


def test_quantity_bounds_and_etag(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 10)
    r = pc.patch_subscription(US_CUSTOMER, sub, quantity=301)
    assert r.status_code == 400 and r.json()["code"] == "2002"
    assert pc.patch_subscription(US_CUSTOMER, sub, quantity=0).json()["code"] == "2002"
    changed = pc.patch_subscription(US_CUSTOMER, sub, friendlyName="Front desk")
    assert changed.status_code == 200 and changed.json()["friendlyName"] == "Front desk"
    assert changed.json()["attributes"]["etag"] != sub["attributes"]["etag"]
    stale = pc.patch_subscription(US_CUSTOMER, sub, quantity=11)  # body carries the old etag
    assert stale.status_code == 412 and stale.json()["code"] == "2055"
    r = pc.patch(f"/customers/{US_CUSTOMER}/subscriptions/{sub['id']}", json={"quantity": 11},
                 headers={"If-Match": '"stale"'})
    assert r.status_code == 412
    r = pc.patch(f"/customers/{US_CUSTOMER}/subscriptions/{sub['id']}", json={"quantity": 11},
                 headers={"If-Match": f'"{changed.json()["attributes"]["etag"]}"'})
    assert r.status_code == 200 and r.json()["quantity"] == 11


def test_cancel_inside_and_outside_the_window(pc, emulator):
    early = pc.buy_one(US_CUSTOMER, BASIC, 3)
    late = pc.buy_one(US_CUSTOMER, E3, 3, "P1Y", "annual")
    emulator.clock.advance(days=2)
    r = pc.patch_subscription(US_CUSTOMER, early, status="deleted")
    assert r.status_code == 200 and r.json()["status"] == "deleted"
    assert r.json()["autoRenewEnabled"] is False
    emulator.clock.advance(days=5, seconds=1)  # 7 days and a second after purchase
    late = pc.subscription(US_CUSTOMER, late["id"])
    r = pc.patch_subscription(US_CUSTOMER, late, status="deleted")
    assert r.status_code == 400 and r.json()["code"] == "900117"
    assert "7-day cancellation window" in r.json()["description"]
    assert pc.subscription(US_CUSTOMER, late["id"])["status"] == "active"
    deleted = pc.subscription(US_CUSTOMER, early["id"])
    assert pc.patch_subscription(US_CUSTOMER, deleted, quantity=5).json()["code"] == "2011"


def test_suspend_and_reactivate(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 3)
    r = pc.patch_subscription(US_CUSTOMER, sub, status="suspended")
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert pc.patch_subscription(US_CUSTOMER, r.json(), quantity=4).json()["code"] == "800091"
    r = pc.patch_subscription(US_CUSTOMER, r.json(), status="active")
    assert r.json()["status"] == "active"


def test_term_end_renews_or_expires(pc, emulator):
    renewing = pc.buy_one(US_CUSTOMER, BASIC, 2)
    ending = pc.buy_one(US_CUSTOMER, BASIC, 2)
    r = pc.patch_subscription(US_CUSTOMER, ending, autoRenewEnabled=False)
    assert r.status_code == 200 and r.json()["autoRenewEnabled"] is False
    emulator.clock.advance("P1M")
    renewed = pc.subscription(US_CUSTOMER, renewing["id"])
    assert renewed["status"] == "active"
    assert renewed["effectiveStartDate"] == "2026-12-02T09:00:00Z"
    assert renewed["commitmentEndDate"] == "2027-01-02T09:00:00Z"
    assert renewed["cancellationAllowedUntilDate"] == "2026-12-09T09:00:00Z"  # the renewal reopens the window
    assert renewed["refundableQuantity"]["totalQuantity"] == 2
    assert pc.subscription(US_CUSTOMER, ending["id"])["status"] == "expired"


def test_legacy_preset_is_configuration(emulator, pc):
    import requests

    r = requests.post(emulator.url + "/_emulator/config", json={"policy": "legacy-2023"}, timeout=5)
    assert r.json()["policy"]["name"] == "legacy-2023"
    avail = pc.get("/products/DZH318Z0SA01/skus/0001/availabilities", params={"country": "US"}).json()["items"][0]
    by_term = {(t["duration"], t["billingCycle"]): t["cancellationPolicies"][0]["refundOptions"][0]["expiresAfter"]
               for t in avail["terms"]}
    assert by_term == {("P1M", "monthly"): "P1D", ("P1Y", "monthly"): "P14D", ("P1Y", "annual"): "P14D"}
    requests.post(emulator.url + "/_emulator/config", json={"policy": "current"}, timeout=5)
    avail = pc.get("/products/DZH318Z0SA01/skus/0001/availabilities", params={"country": "US"}).json()["items"][0]
    assert {t["cancellationPolicies"][0]["refundOptions"][0]["expiresAfter"] for t in avail["terms"]} == {"P3D"}
