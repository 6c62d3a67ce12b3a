"""HTTP transport: one ``requests.Session``, Partner Center headers, retries, status → exception mapping.

Headers on every call (partner-center-api.md §7.1): ``Authorization: Bearer``, ``Accept: application/json``,
``MS-RequestId`` (minted once per logical call and identical on every retry of it — Partner Center's idempotency
key), ``MS-CorrelationId`` (new per call unless pinned for a workflow with :meth:`Transport.pin_correlation_id`),
``X-Locale``, ``MS-Contract-Version: v1``, ``MS-PartnerCenter-Application``.

Retries (§7.3, §10.3): connection errors, read timeouts, 408, 429 and 5xx, with capped exponential back-off and full
jitter, honouring ``Retry-After`` (seconds), under a cap on the total time spent waiting. A 401 triggers one token
refresh and one replay. Everything else maps to the :mod:`cspkit.errors` tree; every exception carries the request
and correlation ids.

Deadline: each logical call has a total time budget (``deadline`` seconds, default 120), attempts, back-off and
Retry-After waits included. No attempt's connect or read timeout is longer than what is left of it, and a wait that
would pass it is not started: the last error is raised instead. An endpoint that accepts the connection and never
answers therefore fails within the budget with :class:`~cspkit.errors.APITimeoutError` stating the time waited.
Before each wait the ``on_retry`` hook (if any) receives a :class:`RetryNotice`; the CLI uses it to say on stderr
that it is waiting. The transport itself never prints.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import requests

from cspkit._version import __version__
from cspkit.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    RateLimitError,
    error_for_status,
)

__all__ = ["DEFAULT_DEADLINE", "APIResponse", "RetryNotice", "RetryPolicy", "Transport", "fix_malformed_uri"]

log = logging.getLogger("cspkit.transport")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_DEADLINE = 120.0  # seconds per logical call, retries included (cspkit.config.DEFAULT_TIMEOUT)


@dataclass(frozen=True)
class RetryNotice:
    """What the transport is about to wait for; given to the ``on_retry`` hook before each back-off.

    Attributes:
        method, url: the logical call.
        attempt: the attempt that just failed (1-based); ``max_attempts`` the most that will be made.
        reason: why it failed, in words (``"429 Too Many Requests"``, ``"no answer (timeout)"``...).
        wait: seconds until the next attempt.
        elapsed: seconds spent on this call so far; ``deadline``: its total budget in seconds (None: no budget).
        request_id: the MS-RequestId (the same on every attempt).
    """

    method: str
    url: str
    attempt: int
    max_attempts: int
    reason: str
    wait: float
    elapsed: float
    deadline: float | None
    request_id: str


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.

    Attributes:
        max_attempts: total attempts per logical call (first try included).
        backoff_base: seconds; attempt n waits up to ``backoff_base * 2**(n-1)`` (full jitter), capped by
            ``backoff_cap``.
        backoff_cap: the largest single wait in seconds (a longer Retry-After is still honoured up to
            ``max_total_wait``).
        max_total_wait: seconds of waiting allowed across all retries of one call; when the next wait would pass it,
            the last error is raised instead.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_total_wait: float = 120.0


@dataclass
class APIResponse:
    """One answer from Partner Center.

    Attributes:
        status_code: HTTP status (int).
        headers: response headers (case-insensitive mapping).
        json: parsed JSON body, or None when empty / not JSON.
        text: raw body text.
        request_id, correlation_id: the ids sent with the call.
        attempts: how many HTTP attempts the call took.
    """

    status_code: int
    headers: Mapping[str, str]
    json: Any
    text: str
    request_id: str
    correlation_id: str
    attempts: int = 1
    url: str = ""
    raw: requests.Response | None = field(default=None, repr=False)


def fix_malformed_uri(uri: str) -> str:
    """Repair the next links the docs show with a second ``?`` (``…&size=2?seekOperation=Next`` → ``…&size=2&…``)."""
    if uri.count("?") > 1:
        head, tail = uri.split("?", 1)
        uri = head + "?" + tail.replace("?", "&")
    return uri


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # HTTP-date form
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Transport:
    """Sends Partner Center requests.

    Args:
        base_url: service root without the version (``https://api.partnercenter.microsoft.com``).
        token_provider: ``callable(force_refresh: bool) -> str`` returning a bearer token.
        api_prefix: path prefix added to relative paths (``"v1"``; ``"v1.0"`` for Graph; ``""`` for none).
        locale: ``X-Locale`` value.
        timeout: (connect, read) seconds.
        retry: :class:`RetryPolicy`.
        sleep: the sleep function (stubbed in tests).
        jitter: ``callable(upper) -> seconds`` (default ``random.uniform(0, upper)``; stubbed in tests).
        correlation_id: pin one MS-CorrelationId for every call (a CLI run, a batch).
        session: a ``requests.Session`` to use (one per client by default).
        deadline: total seconds one logical call may take, retries and waits included (default 120; None: no
            budget beyond the policy's). Every attempt's timeouts are cut to what is left of it.
        on_retry: ``callable(RetryNotice)`` called before each wait between attempts (the CLI's visible waiting).
        clock: monotonic seconds (stubbed in tests).
    """

    def __init__(
        self,
        base_url: str,
        token_provider: Callable[[bool], str],
        *,
        api_prefix: str = "v1",
        locale: str = "en-US",
        timeout: float | tuple[float, float] = (10.0, 60.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] | None = None,
        correlation_id: str | None = None,
        session: requests.Session | None = None,
        application: str = "cspkit",
        deadline: float | None = DEFAULT_DEADLINE,
        on_retry: Callable[[RetryNotice], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_prefix = api_prefix.strip("/")
        self._token_provider = token_provider
        self.locale = locale
        self.timeout = timeout if isinstance(timeout, tuple) else (min(10.0, timeout), timeout)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._jitter = jitter or (lambda upper: random.uniform(0.0, upper))
        self._pinned_correlation_id = correlation_id
        self.deadline = deadline
        self.on_retry = on_retry
        self._clock = clock
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"cspkit/{__version__}",
                "MS-PartnerCenter-Application": application,
            }
        )
        self._token: str | None = None
        self._token_lock = threading.Lock()
        self.stats = {"calls": 0, "attempts": 0, "retries": 0, "waited": 0.0, "throttled": 0}

    # -- ids -----------------------------------------------------------------------------------------------------
    @property
    def correlation_id(self) -> str | None:
        return self._pinned_correlation_id

    def pin_correlation_id(self, correlation_id: str | None = None) -> str:
        """Use one MS-CorrelationId for every following call (a workflow); returns it."""
        self._pinned_correlation_id = correlation_id or str(uuid.uuid4())
        return self._pinned_correlation_id

    # -- urls ----------------------------------------------------------------------------------------------------
    def url_for(self, path: str) -> str:
        """Absolute URL for a relative Partner Center path or link URI.

        ``customers``, ``/customers``, ``v1/customers``, ``/v1/customers`` and absolute URLs are all accepted; links
        with a malformed query (a second ``?``) are repaired.
        """
        path = fix_malformed_uri(path.strip())
        if path.startswith(("http://", "https://")):
            return path
        path = path.lstrip("/")
        prefix = self.api_prefix
        if prefix and not (path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?")):
            path = f"{prefix}/{path}"
        return urljoin(self.base_url + "/", path)

    # -- token ---------------------------------------------------------------------------------------------------
    def _bearer(self, force_refresh: bool = False) -> str:
        with self._token_lock:
            if self._token is None or force_refresh:
                self._token = self._token_provider(force_refresh)
            return self._token

    # -- the call ------------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        retry: bool = True,
        request_id: str | None = None,
        correlation_id: str | None = None,
        stream: bool = False,
        expect_json: bool = True,
    ) -> APIResponse:
        """Send one logical call, retrying as the policy allows.

        Args:
            method: HTTP method.
            path: relative path (``customers/{id}``) or absolute URL (a ``links.next`` uri).
            params: query parameters.
            json: JSON body (serialized compactly; ``Content-Type: application/json``).
            headers: extra headers (e.g. ``MS-ContinuationToken``, ``If-Match``).
            retry: False to send once (no retry on any failure).
            request_id: reuse an MS-RequestId (e.g. replaying an ambiguous checkout); default a new GUID.
            correlation_id: MS-CorrelationId for this call; default the pinned one or a new GUID.
            stream: keep the body unread (``APIResponse.raw.iter_content``) for large downloads.
        Returns:
            :class:`APIResponse` for a 2xx answer.
        Raises:
            APIStatusError subclass for an error status (RateLimitError with ``retry_after`` on 429);
            APITimeoutError / APIConnectionError when no answer arrived after the last attempt or within the
            call's time budget (``deadline``); the message states the seconds actually spent.
        """
        url = self.url_for(path)
        request_id = request_id or str(uuid.uuid4())
        correlation_id = correlation_id or self._pinned_correlation_id or str(uuid.uuid4())
        body = data
        send_headers = {
            "MS-RequestId": request_id,
            "MS-CorrelationId": correlation_id,
            "X-Locale": self.locale,
            "MS-Contract-Version": "v1",
        }
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":"), default=str).encode()
            send_headers["Content-Type"] = "application/json"
        elif method.upper() in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        if headers:
            send_headers.update(headers)
        self.stats["calls"] += 1
        policy = self.retry
        max_attempts = policy.max_attempts if retry else 1
        waited = 0.0
        refreshed = False
        attempt = 0
        ids = {"request_id": request_id, "correlation_id": correlation_id, "method": method.upper(), "url": url}
        deadline = self.deadline
        started = self._clock()
        while True:
            attempt += 1
            self.stats["attempts"] += 1
            send_headers["Authorization"] = f"Bearer {self._bearer()}"
            error: Exception | None = None
            response: requests.Response | None = None
            timeout = self.timeout
            if deadline is not None:  # no attempt outlives the call's budget
                left = max(0.001, deadline - (self._clock() - started))
                timeout = (min(timeout[0], left), min(timeout[1], left))
            try:
                response = self.session.request(
                    method.upper(), url, params=params, data=body, headers=send_headers,
                    timeout=timeout, stream=stream,
                )
            except requests.exceptions.Timeout as exc:
                spent = self._clock() - started
                error = APITimeoutError(
                    f"{method.upper()} {url}: no answer after {spent:.1f} s "
                    f"({_attempts(attempt)}{_budget(deadline)})", **ids,
                    hint="For a write the outcome is unknown: read the resource back before trying again. "
                    "A longer budget: --timeout SECONDS or CSPKIT_TIMEOUT.",
                )
                error.__cause__ = exc
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                spent = self._clock() - started
                error = APIConnectionError(
                    f"{method.upper()} {url}: connection failed ({type(exc).__name__}) after {spent:.1f} s "
                    f"({_attempts(attempt)})", **ids,
                    hint="Check the network and the endpoint; for a write, read the resource back before retrying.",
                )
                error.__cause__ = exc
            retry_after: float | None = None
            if response is not None:
                status = response.status_code
                log.debug(
                    "%s %s -> %s (attempt %d, request id %s, correlation id %s)",
                    method.upper(), url, status, attempt, request_id, correlation_id,
                )
                if status == 401 and not refreshed:
                    refreshed = True
                    response.close()
                    self._bearer(force_refresh=True)
                    attempt -= 1  # the replay after a refresh is not a retry
                    continue
                if status < 400:
                    return self._response(response, request_id, correlation_id, attempt, url, stream, expect_json)
                retry_after = _retry_after_seconds(response)
                error = self._status_error(response, retry_after, ids)
                if status == 429:
                    self.stats["throttled"] += 1
                if status not in RETRY_STATUSES:
                    raise error
            else:
                log.debug("%s %s -> %s (attempt %d, request id %s)", method.upper(), url, error, attempt, request_id)
            assert error is not None
            if attempt >= max_attempts:
                raise error
            backoff = min(policy.backoff_cap, policy.backoff_base * (2 ** (attempt - 1)))
            wait = self._jitter(backoff)
            if retry_after is not None:
                wait = max(wait, retry_after)
            if waited + wait > policy.max_total_wait:
                log.info("giving up on %s %s: next wait %.1fs would pass the cap", method.upper(), url, wait)
                raise error
            elapsed = self._clock() - started
            if deadline is not None and elapsed + wait >= deadline:
                log.info("giving up on %s %s: next try in %.1fs would pass the %gs budget", method.upper(), url, wait,
                         deadline)
                if isinstance(error, APIError):
                    error.hint = ((error.hint + " ") if error.hint else "") + (
                        f"Gave up after {elapsed:.1f} s and {_attempts(attempt)}: the next try, in {wait:.0f} s, "
                        f"would pass the {deadline:g} s budget (--timeout / CSPKIT_TIMEOUT)."
                    )
                raise error
            if self.on_retry is not None:
                self.on_retry(RetryNotice(
                    method=method.upper(), url=url, attempt=attempt, max_attempts=max_attempts,
                    reason=_reason(error), wait=wait, elapsed=elapsed, deadline=deadline, request_id=request_id,
                ))
            log.info(
                "retrying %s %s in %.2fs after %s (attempt %d/%d, request id %s)",
                method.upper(), url, wait, getattr(error, "status_code", type(error).__name__), attempt,
                max_attempts, request_id,
            )
            self.stats["retries"] += 1
            self.stats["waited"] += wait
            waited += wait
            self._sleep(wait)

    def _status_error(
        self, response: requests.Response, retry_after: float | None, ids: dict[str, Any]
    ) -> APIStatusError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        finally:
            response.close()
        error = error_for_status(response.status_code, body, retry_after=retry_after, **ids)
        if isinstance(error, AuthenticationError):
            error.hint = "The token was refused after one refresh: check the credential, tenant and API permission."
        if isinstance(error, RateLimitError) and error.retry_after is None and isinstance(body, dict):
            error.retry_after = _seconds_from_message(body.get("message"))
        return error

    @staticmethod
    def _response(
        response: requests.Response, request_id: str, correlation_id: str, attempts: int, url: str, stream: bool,
        expect_json: bool,
    ) -> APIResponse:
        if stream:
            return APIResponse(response.status_code, response.headers, None, "", request_id, correlation_id,
                               attempts, url, response)
        text = response.text
        payload: Any = None
        if text and expect_json:
            try:
                payload = jsonlib.loads(text.lstrip("\ufeff"))
            except ValueError:
                payload = None
        return APIResponse(response.status_code, response.headers, payload, text, request_id, correlation_id,
                           attempts, url, response)

    # -- convenience ---------------------------------------------------------------------------------------------
    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """GET and return the parsed JSON body."""
        return self.request("GET", path, params=params, **kwargs).json

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        parse: Callable[[dict], Any] | None = None,
        style: str = "links",
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Walk every page of a collection; see :class:`cspkit.pagination.Paginator`."""
        from cspkit.pagination import Paginator

        return Paginator(self, path, params=params, parse=parse, style=style, page_size=page_size, headers=headers)

    def iter_bytes(self, path: str, chunk_size: int = 1 << 20, **kwargs: Any) -> Iterator[bytes]:
        """Stream a download's body in chunks (the price sheet, export blobs)."""
        response = self.request("GET", path, stream=True, **kwargs)
        assert response.raw is not None
        try:
            yield from response.raw.iter_content(chunk_size)
        finally:
            response.raw.close()

    def close(self) -> None:
        self.session.close()


def _attempts(n: int) -> str:
    return f"{n} attempt" + ("" if n == 1 else "s")


def _budget(deadline: float | None) -> str:
    return f"; budget {deadline:g} s per call" if deadline is not None else ""


def _reason(error: Exception) -> str:
    """A failed attempt in a few words: ``429 Too Many Requests``, ``503 Service Unavailable``, ``no answer``."""
    if isinstance(error, APIStatusError):
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(error.status_code).phrase
        except ValueError:
            phrase = "error"
        return f"{error.status_code} {phrase}"
    if isinstance(error, APITimeoutError):
        return "no answer (timeout)"
    if isinstance(error, APIConnectionError):
        return "connection failed"
    return type(error).__name__


def _seconds_from_message(message: Any) -> float | None:
    """``"Rate limit is exceeded. Try again in 57 seconds."`` → 57.0."""
    if not isinstance(message, str):
        return None
    import re

    match = re.search(r"(\d+(?:\.\d+)?)\s*second", message)
    return float(match.group(1)) if match else None
