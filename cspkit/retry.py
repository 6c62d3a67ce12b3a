"""One retry policy for every loop that tries again: the transport, the Graph blob downloads, the ordering workflow.

What is retried (partner-center-api.md §7.3 "API throttling guidance", §10.3; Azure Storage "Retry-After" on 503):
connection errors, timeouts, and the statuses 408, 429, 500, 502, 503 and 504. Everything else is an answer.

How long to wait before attempt ``n + 1`` (``n`` = the attempt that just failed, 1-based): full jitter over a capped
exponential back-off, ``jitter(min(backoff_cap, backoff_base * 2**(n-1)))`` seconds, raised to the server's
``Retry-After`` when it asks for longer. The server states Retry-After in three forms, all read by
:func:`retry_after`:

* a ``Retry-After`` header holding seconds (``"57"``, RFC 9110 §10.2.3 delay-seconds);
* a ``Retry-After`` header holding an HTTP date (``"Wed, 21 Oct 2026 07:28:00 GMT"``), counted from now;
* no header, but the 429 body Partner Center sends instead of its normal error shape:
  ``{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}`` (errors.py, §7.3).

A total budget (``max_total_wait`` seconds of waiting per logical call) bounds the whole loop: a wait that would pass
it is not started and the caller raises its last error instead. Per-call deadlines (wall-clock time, attempts
included) stay with the caller, which knows its clock (:class:`cspkit.transport.Transport`).

Use from a loop of your own (the ordering workflow's checkout resolve, for instance)::

    policy = RetryPolicy()
    waited = 0.0
    for attempt in itertools.count(1):
        try:
            return do_it()
        except Exception as error:
            if not policy.should_retry(attempt, error):
                raise
            wait = policy.wait_for(attempt, error)
            if not policy.within_budget(waited, wait):
                raise
            sleep(wait)
            waited += wait

or simply ``for wait in policy.delays(): ...`` for a fixed schedule of back-off waits inside the budget.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from cspkit.errors import APIConnectionError, APIStatusError

__all__ = ["RETRY_STATUSES", "RetryPolicy", "retry_after", "seconds_from_message"]

#: Statuses worth another attempt: 408 Request Timeout, 429 Too Many Requests, 500, 502, 503, 504 (§7.3).
RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})

_RETRY_ERRORS: tuple[type[BaseException], ...] = (
    APIConnectionError,  # and APITimeoutError under it
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
)


def _full_jitter(upper: float) -> float:
    return random.uniform(0.0, upper)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try, and how long to wait in between.

    Attributes:
        max_attempts: total attempts per logical call (first try included).
        backoff_base: seconds; attempt n waits up to ``backoff_base * 2**(n-1)`` (full jitter), capped by
            ``backoff_cap``.
        backoff_cap: the largest back-off in seconds (a longer Retry-After is still honoured up to
            ``max_total_wait``).
        max_total_wait: seconds of waiting allowed across all retries of one call; when the next wait would pass it,
            the last error is raised instead.
        retry_statuses: HTTP statuses retried (default :data:`RETRY_STATUSES`).
        jitter: ``callable(upper) -> seconds in [0, upper]`` (default ``random.uniform(0, upper)``; stub it in tests,
            e.g. ``lambda upper: upper`` for the deterministic cap or ``lambda upper: 0.0``).
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_total_wait: float = 120.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    jitter: Callable[[float], float] | None = field(default=None, compare=False, repr=False)

    # -- what ----------------------------------------------------------------------------------------------------
    def retryable_status(self, status: int) -> bool:
        """True when an HTTP ``status`` is worth another attempt (408, 429, 5xx of the set)."""
        return status in self.retry_statuses

    def retryable(self, error: BaseException | int) -> bool:
        """True for a retryable status (int or :class:`~cspkit.errors.APIStatusError`), a connection error or a
        timeout (cspkit's :class:`~cspkit.errors.APIConnectionError`/``APITimeoutError``, ``requests``' and the
        built-in ones)."""
        if isinstance(error, int):
            return self.retryable_status(error)
        if isinstance(error, APIStatusError):
            return self.retryable_status(error.status_code)
        return isinstance(error, _RETRY_ERRORS)

    def should_retry(self, attempt: int, error: BaseException | int) -> bool:
        """True when attempt ``attempt`` (1-based) failed with a retryable ``error`` and attempts are left."""
        return attempt < self.max_attempts and self.retryable(error)

    # -- how long ------------------------------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """The jittered, capped back-off in seconds after failed attempt ``attempt`` (1-based)."""
        upper = min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempt - 1)))
        return (self.jitter or _full_jitter)(upper)

    def wait_for(self, attempt: int, error: BaseException | float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt``: the back-off, or the server's Retry-After when longer.

        Args:
            attempt: the attempt that just failed (1-based).
            error: a :class:`~cspkit.errors.RateLimitError` (its ``retry_after``), any error (no Retry-After), or
                the Retry-After seconds themselves (from :func:`retry_after`); None for none.
        """
        wait = self.backoff(attempt)
        asked: float | None
        if isinstance(error, int | float) and not isinstance(error, bool):
            asked = float(error)
        else:
            asked = getattr(error, "retry_after", None)
        return max(wait, asked) if asked is not None else wait

    def within_budget(self, waited: float, wait: float) -> bool:
        """True when waiting ``wait`` more seconds keeps the call within ``max_total_wait`` (``waited`` so far)."""
        return waited + wait <= self.max_total_wait

    def delays(self) -> Iterator[float]:
        """The back-off waits (seconds) between ``max_attempts`` attempts, stopping before the budget is passed.

        ``len(list(policy.delays())) <= max_attempts - 1``; each value is jittered (see :meth:`backoff`).
        """
        waited = 0.0
        for attempt in range(1, self.max_attempts):
            wait = self.backoff(attempt)
            if not self.within_budget(waited, wait):
                return
            waited += wait
            yield wait


def seconds_from_message(message: Any) -> float | None:
    """The seconds in a 429 body's message: ``"Rate limit is exceeded. Try again in 57 seconds."`` → 57.0.

    None when ``message`` is not a string or states no seconds. Source: Partner Center "API throttling guidance".
    """
    if not isinstance(message, str):
        return None
    match = re.search(r"(\d+(?:\.\d+)?)\s*second", message)
    return float(match.group(1)) if match else None


def retry_after(
    headers: Mapping[str, str] | None = None, body: Any = None, *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the server asks to wait, from any of its three forms; None when it asks nothing.

    Args:
        headers: response headers (case-insensitive mapping, or a plain dict): ``Retry-After`` as seconds
            (``"57"``, ``"1.5"``) or an HTTP date (counted from ``now()``; a past date → 0).
        body: the parsed response body: a 429 body ``{"message": "... Try again in 57 seconds."}`` is read when
            no usable header was sent.
        now: epoch seconds (stubbed in tests, for the HTTP-date form).
    Returns:
        seconds ≥ 0, or None.
    Source: RFC 9110 §10.2.3 (Retry-After); Partner Center "API throttling guidance" (the 429 body).
    """
    value = _header(headers, "Retry-After") if headers is not None else None
    if value is not None:
        text = str(value).strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(text).timestamp() - now())
        except (TypeError, ValueError, IndexError):
            pass
    if isinstance(body, Mapping):
        return seconds_from_message(body.get("message"))
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if str(key).lower() == lowered:
            return item
    return None

