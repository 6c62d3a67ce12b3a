"""RetryPolicy: what is retried, Retry-After in its three forms, the capped jittered back-off, the wait budget."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
import responses

from cspkit.errors import APIConnectionError, APITimeoutError, NotFoundError, RateLimitError, ServerError
from cspkit.retry import RETRY_STATUSES, RetryPolicy, retry_after, seconds_from_message
from cspkit.transport import Transport


def test_the_retryable_statuses_and_errors():
    policy = RetryPolicy()
    assert RETRY_STATUSES == {408, 429, 500, 502, 503, 504}
    assert [s for s in (200, 400, 401, 404, 408, 409, 429, 500, 501, 502, 503, 504) if policy.retryable(s)] == [
        408, 429, 500, 502, 503, 504]
    assert policy.retryable(ServerError("busy", status_code=503))
    assert policy.retryable(RateLimitError("slow", status_code=429))
    assert not policy.retryable(NotFoundError("gone", status_code=404))
    for error in (APIConnectionError("reset"), APITimeoutError("slow"), requests.exceptions.ConnectionError(),
                  requests.exceptions.ReadTimeout(), TimeoutError(), ConnectionResetError()):
        assert policy.retryable(error), error
    assert not policy.retryable(ValueError("a bug"))
    assert policy.should_retry(4, 503) and not policy.should_retry(5, 503)  # 5 attempts in all
    assert not policy.should_retry(1, 400)


def test_retry_after_in_seconds_as_an_http_date_and_from_the_429_body():
    now = datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC).timestamp()
    in_90_s = format_datetime(datetime(2026, 11, 2, 9, 1, 30, tzinfo=UTC), usegmt=True)

    assert retry_after({"Retry-After": "57"}) == 57.0
    assert retry_after({"retry-after": " 1.5 "}) == 1.5  # any case, spaces trimmed
    assert retry_after({"Retry-After": in_90_s}, now=lambda: now) == 90.0
    assert retry_after({"Retry-After": "Sun, 01 Nov 2026 09:00:00 GMT"}, now=lambda: now) == 0.0  # past: no wait
    body = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}
    assert retry_after({}, body) == 57.0
    assert retry_after({"Retry-After": "3"}, body) == 3.0  # the header wins
    assert retry_after({"Retry-After": "soon"}, {"message": "slow down"}) is None
    assert retry_after(None, "not json") is None
    assert seconds_from_message("Try again in 2.5 seconds.") == 2.5 and seconds_from_message(None) is None


def test_back_off_is_exponential_capped_and_jittered_below_the_cap():
    uppers: list[float] = []

    def jitter(upper: float) -> float:
        uppers.append(upper)
        return upper / 2

    policy = RetryPolicy(backoff_base=0.5, backoff_cap=3.0, jitter=jitter)
    waits = [policy.backoff(n) for n in range(1, 6)]
    assert uppers == [0.5, 1.0, 2.0, 3.0, 3.0]  # 0.5 * 2**(n-1), capped at 3
    assert waits == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert policy.wait_for(1, 10.0) == 10.0  # a longer Retry-After is honoured past the cap
    assert policy.wait_for(2, RateLimitError("slow", status_code=429, retry_after=0.1)) == 0.5
    assert policy.wait_for(3, ServerError("busy", status_code=503)) == 1.0


def test_default_jitter_stays_within_zero_and_the_cap():
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=4.0)
    for attempt in range(1, 8):
        for _ in range(20):
            assert 0.0 <= policy.backoff(attempt) <= min(4.0, 2 ** (attempt - 1))


def test_the_total_wait_budget_bounds_the_delays():
    policy = RetryPolicy(max_attempts=10, backoff_base=1.0, backoff_cap=100.0, max_total_wait=10.0,
                         jitter=lambda upper: upper)
    assert list(policy.delays()) == [1.0, 2.0, 4.0]  # 1 + 2 + 4 = 7; +8 would pass 10
    assert policy.within_budget(7.0, 3.0) and not policy.within_budget(7.0, 3.5)
    assert list(RetryPolicy(max_attempts=3, jitter=lambda upper: 0.0).delays()) == [0.0, 0.0]


@responses.activate
def test_the_transport_waits_the_http_date_and_the_body_seconds():
    base = "https://pc.test"
    responses.get(f"{base}/v1/x", status=503, headers={"Retry-After": "Thu, 01 Jan 2099 00:00:00 GMT"})
    responses.get(f"{base}/v1/x", status=429, json={"statusCode": 429, "message": "Try again in 3 seconds."})
    responses.get(f"{base}/v1/x", json={"ok": True})
    sleeps: list[float] = []
    transport = Transport(base, lambda force: "t", sleep=sleeps.append, jitter=lambda upper: 0.0, deadline=None,
                          retry=RetryPolicy(max_total_wait=1e12))
    assert transport.request("GET", "x").json == {"ok": True}
    assert sleeps[0] > 365 * 86400 and sleeps[1] == 3.0  # the date, counted from now; then the 429 body's seconds


@responses.activate
def test_the_transport_gives_up_before_a_wait_would_pass_the_budget():
    base = "https://pc.test"
    for _ in range(3):
        responses.get(f"{base}/v1/x", status=502)
    sleeps: list[float] = []
    transport = Transport(base, lambda force: "t", sleep=sleeps.append, jitter=lambda upper: upper,
                          retry=RetryPolicy(max_attempts=5, backoff_base=2.0, max_total_wait=5.0))
    with pytest.raises(ServerError):
        transport.request("GET", "x")
    assert sleeps == [2.0] and len(responses.calls) == 2  # 2 + 4 would pass 5 s
