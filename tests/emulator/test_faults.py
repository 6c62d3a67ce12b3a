"""Fault injection and the rate limiter, seen by a plain requests client: 429 with Retry-After and the throttling
body, 5xx, latency past the read timeout, a dropped connection after the write committed, a reset before it,
malformed JSON, nth/count, the fault log, and the per-tenant limit on orders and subscriptions."""

from __future__ import annotations

import time

import pytest
import requests

from tests.emulator.conftest import BASIC, US_CUSTOMER


def test_429_with_retry_after_and_the_throttling_body(pc, emulator):
    emulator.faults.add(action=429, path_glob="/v1/customers/*/subscriptions", retry_after=7, count=2)
    for _ in range(2):
        r = pc.get(f"/customers/{US_CUSTOMER}/subscriptions", headers={"MS-RequestId": "rid-1"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "7"
        assert r.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}
        assert r.headers["MS-RequestId"] == "rid-1"
    assert pc.get(f"/customers/{US_CUSTOMER}/subscriptions").status_code == 200  # count exhausted
    assert [(e["ruleId"], e["status"], e["requestId"]) for e in emulator.faults.log] == [
        ("fault-1", 429, "rid-1"), ("fault-1", 429, "rid-1")]


def test_5xx_nth_and_control_api(pc, emulator):
    r = requests.post(emulator.url + "/_emulator/faults", timeout=5,
                      json={"action": 503, "method": "GET", "pathGlob": "/v1/customers", "nth": 2, "count": 1})
    assert r.status_code == 201 and r.json()["id"] == "fault-1"
    assert pc.get("/customers").status_code == 200
    second = pc.get("/customers")
    assert second.status_code == 503 and second.json()["code"] == "900192" and "Retry-After" in second.headers
    assert pc.get("/customers").status_code == 200
    log = requests.get(emulator.url + "/_emulator/faults/log", timeout=5).json()["items"]
    assert [(e["action"], e["status"]) for e in log] == [("status", 503)]
    emulator.faults.add({"action": 500, "operation": "get_customer"})
    assert pc.get(f"/customers/{US_CUSTOMER}").status_code == 500
    assert pc.get("/customers").status_code == 200  # other operations untouched
    assert requests.delete(emulator.url + "/_emulator/faults", timeout=5).json() == {"rules": []}
    assert pc.get(f"/customers/{US_CUSTOMER}").status_code == 200
    assert requests.post(emulator.url + "/_emulator/faults", json={"action": "explode"}, timeout=5).status_code == 400


def test_dropped_connection_after_the_write_committed(pc, emulator):
    cart = pc.cart(US_CUSTOMER, pc.line(BASIC, 2))
    emulator.faults.add(action="drop", method="POST", path_glob="/v1/customers/*/carts/*/checkout", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        pc.post(f"/customers/{US_CUSTOMER}/carts/{cart['id']}/checkout")
    # the client saw no answer, but the order exists; the idempotent retry returns it
    assert pc.get(f"/customers/{US_CUSTOMER}/carts/{cart['id']}").json()["status"] == "Ordered"
    retry = pc.post(f"/customers/{US_CUSTOMER}/carts/{cart['id']}/checkout")
    assert retry.status_code == 201 and len(retry.json()["orders"]) == 1
    assert len(pc.get(f"/customers/{US_CUSTOMER}/subscriptions").json()["items"]) == 1


def test_reset_connection_before_the_write(pc, emulator):
    cart = pc.cart(US_CUSTOMER, pc.line(BASIC, 2))
    emulator.faults.add(action="reset", path_glob="*/checkout", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        pc.post(f"/customers/{US_CUSTOMER}/carts/{cart['id']}/checkout")
    assert pc.get(f"/customers/{US_CUSTOMER}/carts/{cart['id']}").json()["status"] == "Active"


def test_latency_beyond_the_read_timeout_still_commits(pc, emulator):
    cart = pc.cart(US_CUSTOMER, pc.line(BASIC, 2))
    emulator.faults.add(action="latency", delay=0.6, path_glob="*/checkout", count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        pc.session.post(f"{pc.base}/customers/{US_CUSTOMER}/carts/{cart['id']}/checkout", timeout=0.2)
    deadline = time.monotonic() + 5
    while pc.get(f"/customers/{US_CUSTOMER}/carts/{cart['id']}").json()["status"] != "Ordered":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_malformed_json(pc, emulator):
    emulator.faults.add(action="malformed", path_glob="/v1/customers", count=1)
    r = pc.get("/customers")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_faults_by_plane(pc, emulator):
    emulator.faults.add(action=500, plane="saas")
    assert pc.get("/customers").status_code == 200
    r = requests.get(emulator.url + "/api/saas/subscriptions", params={"api-version": "2018-08-31"},
                     headers={"Authorization": f"Bearer {emulator.token}"}, timeout=5)
    assert r.status_code == 500 and r.json()["error"]["code"] == "500"


def test_rate_limit_per_partner_tenant_on_orders_and_subscriptions(pc, emulator):
    r = requests.post(emulator.url + "/_emulator/config", json={"rateLimit": {"limit": 3}}, timeout=5)
    assert r.json()["rateLimit"]["limit"] == 3 and r.json()["rateLimit"]["windowSeconds"] == 60
    for _ in range(3):
        assert pc.get(f"/customers/{US_CUSTOMER}/subscriptions").status_code == 200
    throttled = pc.get(f"/customers/{US_CUSTOMER}/orders")
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert throttled.json()["statusCode"] == 429 and "Try again in" in throttled.json()["message"]
    assert pc.get("/customers").status_code == 200  # other APIs are not counted
    assert emulator.faults.log[-1]["ruleId"] == "rate-limit"
    requests.post(emulator.url + "/_emulator/config", json={"rateLimit": {"limit": 3, "windowSeconds": 0.3}},
                  timeout=5)
    for _ in range(3):
        assert pc.get(f"/customers/{US_CUSTOMER}/orders").status_code == 200
    assert pc.get(f"/customers/{US_CUSTOMER}/orders").status_code == 429
    time.sleep(0.35)  # the window is wall-clock time, whatever the emulator clock says
    assert pc.get(f"/customers/{US_CUSTOMER}/orders").status_code == 200
