"""Transport behaviour against exact HTTP exchanges (responses): ids, retries, Retry-After, error mapping."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from cspkit.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from cspkit.transport import RetryPolicy, Transport

BASE = "https://pc.test"


class Tokens:
    """A token provider that counts refreshes."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, force_refresh: bool) -> str:
        self.calls.append(force_refresh)
        return f"token-{len(self.calls)}"


def make(sleeps: list[float] | None = None, **kwargs) -> Transport:
    sleeps = sleeps if sleeps is not None else []
    return Transport(
        BASE, kwargs.pop("tokens", Tokens()), sleep=sleeps.append, jitter=lambda upper: upper, **kwargs
    )


@responses.activate
def test_request_id_is_reused_across_retries_and_new_for_the_next_call():
    url = f"{BASE}/v1/customers/c1"
    responses.get(url, status=503, json={"code": "500", "description": "busy"})
    responses.get(url, status=500, json={"code": "800003", "description": "unexpected"})
    responses.get(url, status=200, json={"id": "c1"})
    responses.get(url, status=200, json={"id": "c1"})
    sleeps: list[float] = []
    transport = make(sleeps)

    first = transport.request("GET", "customers/c1")
    second = transport.request("GET", "/customers/c1")

    ids = [call.request.headers["MS-RequestId"] for call in responses.calls]
    assert first.json == {"id": "c1"} and first.attempts == 3
    assert ids[0] == ids[1] == ids[2] == first.request_id
    assert ids[3] == second.request_id != first.request_id
    assert sleeps == [0.5, 1.0]  # capped exponential back-off (jitter stubbed to its upper bound)
    correlation = [call.request.headers["MS-CorrelationId"] for call in responses.calls]
    assert correlation[0] == correlation[2] and correlation[3] != correlation[0]


@responses.activate
def test_partner_center_headers_are_sent():
    responses.get(f"{BASE}/v1/products", json={"items": []})
    transport = make(locale="de-DE")
    pinned = transport.pin_correlation_id("11111111-2222-3333-4444-555555555555")
    transport.request("GET", "products", params={"country": "US"})
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == "Bearer token-1"
    assert headers["Accept"] == "application/json"
    assert headers["X-Locale"] == "de-DE"
    assert headers["MS-Contract-Version"] == "v1"
    assert headers["MS-CorrelationId"] == pinned
    assert responses.calls[0].request.url == f"{BASE}/v1/products?country=US"


@responses.activate
def test_retry_after_is_honoured_and_total_wait_is_capped():
    url = f"{BASE}/v1/customers/c1/subscriptions"
    for _ in range(3):
        responses.get(url, status=429, headers={"Retry-After": "7"},
                      json={"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."})
    sleeps: list[float] = []
    transport = make(sleeps, retry=RetryPolicy(max_attempts=5, max_total_wait=15))

    with pytest.raises(RateLimitError) as caught:
        transport.request("GET", "customers/c1/subscriptions")

    assert sleeps == [7.0, 7.0]  # a third 7 s wait would pass the 15 s cap
    assert len(responses.calls) == 3
    assert caught.value.retry_after == 7.0
    assert caught.value.status_code == 429
    assert caught.value.description == "Rate limit is exceeded. Try again in 7 seconds."


@responses.activate
def test_429_with_the_non_standard_body_raises_rate_limit_error_when_retries_run_out():
    url = f"{BASE}/v1/customers/c1/orders"
    responses.post(url, status=429, headers={"Retry-After": "2"},
                   json={"statusCode": 429, "message": "Rate limit is exceeded. Try again in 2 seconds."})
    sleeps: list[float] = []
    transport = make(sleeps, retry=RetryPolicy(max_attempts=3))

    with pytest.raises(RateLimitError) as caught:
        transport.request("POST", "customers/c1/orders", json={"lineItems": []})

    err = caught.value
    assert err.retry_after == 2.0 and sleeps == [2.0, 2.0] and len(responses.calls) == 3
    assert err.request_id == responses.calls[0].request.headers["MS-RequestId"]
    assert err.correlation_id == responses.calls[0].request.headers["MS-CorrelationId"]
    assert err.request_id in str(err)


@responses.activate
def test_retry_after_taken_from_the_message_when_the_header_is_missing():
    responses.get(f"{BASE}/v1/x", status=429, json={"statusCode": 429, "message": "Try again in 57 seconds."})
    with pytest.raises(RateLimitError) as caught:
        make(retry=RetryPolicy(max_attempts=1)).request("GET", "x")
    assert caught.value.retry_after == 57.0


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (400, {"code": "800002", "description": "Invalid request input", "data": [], "source": "PartnerFD"},
         BadRequestError, "800002"),
        (404, {"code": 20003, "description": "Subscription not found", "data": ["s1"], "source": "PartnerFD"},
         NotFoundError, "20003"),
        (409, {"code": "800060", "description": "Order in progress"}, ConflictError, "800060"),
    ],
)
@responses.activate
def test_error_body_maps_to_the_exception_tree(status, body, cls, code):
    responses.get(f"{BASE}/v1/thing", status=status, json=body)
    transport = make()
    with pytest.raises(cls) as caught:
        transport.request("GET", "thing")
    err = caught.value
    assert err.status_code == status and err.code == code
    assert err.description == body["description"]
    assert err.data == body.get("data", [])
    assert err.source == body.get("source")
    assert len(responses.calls) == 1  # 4xx are never retried
    assert err.request_id == responses.calls[0].request.headers["MS-RequestId"]


@responses.activate
def test_server_error_after_retries_keeps_partner_center_code():
    responses.get(f"{BASE}/v1/thing", status=500, json={"code": "900192", "description": "Something went wrong"})
    with pytest.raises(ServerError) as caught:
        make(retry=RetryPolicy(max_attempts=2)).request("GET", "thing")
    assert caught.value.code == "900192" and len(responses.calls) == 2


@responses.activate
def test_401_refreshes_the_token_once_and_replays():
    url = f"{BASE}/v1/customers"
    responses.get(url, status=401, json={"code": "800001", "description": "token expired"})
    responses.get(url, status=200, json={"items": []})
    tokens = Tokens()
    transport = make(tokens=tokens)
    response = transport.request("GET", "customers")
    assert response.status_code == 200
    assert tokens.calls == [False, True]
    assert [c.request.headers["Authorization"] for c in responses.calls] == ["Bearer token-1", "Bearer token-2"]
    assert responses.calls[0].request.headers["MS-RequestId"] == responses.calls[1].request.headers["MS-RequestId"]


@responses.activate
def test_second_401_raises_authentication_error():
    responses.get(f"{BASE}/v1/customers", status=401, json={"code": "800001", "description": "denied"})
    tokens = Tokens()
    with pytest.raises(AuthenticationError):
        make(tokens=tokens).request("GET", "customers")
    assert tokens.calls == [False, True] and len(responses.calls) == 2


@responses.activate
def test_connection_errors_are_retried_then_raised_with_ids():
    url = f"{BASE}/v1/customers"
    responses.get(url, body=requests.exceptions.ConnectionError("reset"))
    responses.get(url, body=requests.exceptions.ConnectionError("reset"))
    sleeps: list[float] = []
    with pytest.raises(APIConnectionError) as caught:
        make(sleeps, retry=RetryPolicy(max_attempts=2)).request("GET", "customers")
    assert len(responses.calls) == 2 and sleeps == [0.5]
    assert caught.value.request_id and caught.value.correlation_id


@responses.activate
def test_retry_false_sends_once():
    responses.post(f"{BASE}/v1/x", status=503, json={})
    with pytest.raises(ServerError):
        make().request("POST", "x", retry=False)
    assert len(responses.calls) == 1


@responses.activate
def test_json_body_and_urls_with_or_without_v1():
    responses.post(f"{BASE}/v1/customers/c1/carts", status=201, json={"id": "cart"})
    responses.get(f"{BASE}/v1/customers?size=2", json={"items": []})
    transport = make()
    transport.request("POST", "/v1/customers/c1/carts", json={"lineItems": [{"id": 0}]})
    transport.request("GET", f"{BASE}/v1/customers?size=2")
    assert json.loads(responses.calls[0].request.body) == {"lineItems": [{"id": 0}]}
    assert responses.calls[0].request.headers["Content-Type"] == "application/json"


@responses.activate
def test_the_token_never_reaches_logs(caplog):
    responses.get(f"{BASE}/v1/x", status=503, json={})
    responses.get(f"{BASE}/v1/x", status=200, json={})
    caplog.set_level(logging.DEBUG, logger="cspkit")
    make().request("GET", "x")
    assert "token-1" not in caplog.text
    assert "retrying GET" in caplog.text  # the log is there, just without the token


# -- the call's time budget (issue 12, item 3) ----------------------------------------------------------------------
def test_an_endpoint_that_never_answers_fails_within_the_budget_and_says_how_long(silent_endpoint):
    from cspkit.errors import APITimeoutError

    notices = []
    transport = Transport(silent_endpoint, lambda force: "t", deadline=1.5, timeout=(10.0, 60.0),
                          on_retry=notices.append)
    with pytest.raises(APITimeoutError) as caught:
        transport.request("GET", "customers")
    message = str(caught.value)
    # it returned (the read timeout alone was 60 s) and says how long it actually waited: the whole budget
    import re

    waited = re.search(r"no answer after (\d+\.\d) s \(1 attempt; budget 1\.5 s per call\)", message)
    assert waited is not None, message
    assert float(waited.group(1)) >= 1.5
    assert caught.value.request_id in message
    assert notices == []  # nothing left of the budget for a retry, so no wait was announced


def test_attempt_timeouts_are_cut_to_what_is_left_of_the_budget():
    """Each attempt's (connect, read) timeout is at most the budget left; a wait that would pass it is not started."""
    now = [0.0]
    seen: list[tuple[float, float]] = []

    class Session(requests.Session):
        def request(self, method, url, **kwargs):  # noqa: ANN001 - requests' own signature
            seen.append(kwargs["timeout"])
            now[0] += 4.0  # each attempt takes 4 s and times out
            raise requests.exceptions.ReadTimeout("slow")

    def sleep(seconds: float) -> None:
        now[0] += seconds

    notices = []
    transport = Transport(BASE, lambda force: "t", session=Session(), deadline=10.0, timeout=(10.0, 60.0),
                          sleep=sleep, jitter=lambda upper: upper, clock=lambda: now[0], on_retry=notices.append,
                          retry=RetryPolicy(max_attempts=5, backoff_base=1.0))
    from cspkit.errors import APITimeoutError

    with pytest.raises(APITimeoutError) as caught:
        transport.request("GET", "customers")
    # attempt 1 at t=0 (10 s left), wait 1 s, attempt 2 at t=5 (5 s left); then t=9 and a 2 s wait would pass 10 s
    assert seen == [(10.0, 10.0), (5.0, 5.0)]
    assert [(n.attempt, n.reason, n.wait) for n in notices] == [(1, "no answer (timeout)", 1.0)]
    assert "no answer after 9.0 s (2 attempts; budget 10 s per call)" in str(caught.value)
    assert "would pass the 10 s budget" in (caught.value.hint or "")


@responses.activate
def test_a_retry_after_is_announced_to_the_hook_before_the_wait():
    url = f"{BASE}/v1/customers"
    responses.get(url, status=429, headers={"Retry-After": "7"}, json={"statusCode": 429, "message": "slow down"})
    responses.get(url, status=200, json={"items": []})
    sleeps: list[float] = []
    notices = []
    transport = make(sleeps, on_retry=notices.append)
    assert transport.request("GET", "customers").json == {"items": []}
    assert len(notices) == 1 and sleeps == [7.0]
    notice = notices[0]
    assert (notice.attempt, notice.max_attempts, notice.reason, notice.wait) == (1, 5, "429 Too Many Requests", 7.0)
    assert notice.request_id == responses.calls[0].request.headers["MS-RequestId"]


@responses.activate
def test_a_retry_after_longer_than_the_budget_is_not_waited_for():
    url = f"{BASE}/v1/customers"
    responses.get(url, status=429, headers={"Retry-After": "30"}, json={"statusCode": 429, "message": "slow down"})
    sleeps: list[float] = []
    with pytest.raises(RateLimitError) as caught:
        make(sleeps, deadline=20.0).request("GET", "customers")
    assert sleeps == [] and len(responses.calls) == 1
    assert "the next try, in 30 s, would pass the 20 s budget" in (caught.value.hint or "")
