"""HTTP transport: one ``requests.Session``, Partner Center headers, retries, status → exception mapping.

Headers on every call (partner-center-api.md §7.1): ``Authorization: Bearer``, ``Accept: application/json``,
``MS-RequestId`` (minted once per logical call and identical on every retry of it — Partner Center's idempotency
key), ``MS-CorrelationId`` (new per call unless pinned for a workflow with :meth:`Transport.pin_correlation_id`),
``X-Locale``, ``MS-Contract-Version: v1``, ``MS-PartnerCenter-Application``.

Retries (§7.3, §10.3): as :class:`cspkit.retry.RetryPolicy` says — connection errors, read timeouts, 408, 429 and
5xx, with capped exponential back-off and full jitter, honouring ``Retry-After`` (seconds, HTTP date, or the seconds
of a 429 body's message), under a cap on the total time spent waiting. :meth:`Transport.request` builds the call
once (``_build``), sends it (``_send_once``) and backs off between attempts (``_back_off``). A 401 triggers one token
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
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
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
    error_for_status,
)
from cspkit.pagination import Paginator
from cspkit.retry import RETRY_STATUSES, RetryPolicy, retry_after

__all__ = [
    "DEFAULT_DEADLINE",
    "RETRY_STATUSES",
    "APIResponse",
    "RetryNotice",
    "RetryPolicy",
    "Transport",
    "fix_malformed_uri",
]

log = logging.getLogger("cspkit.transport")

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


@dataclass
class _Call:
    """One logical call being made: what :meth:`Transport._build` prepared, and how far it got."""

    method: str
    url: str
    params: Mapping[str, Any] | None
    body: bytes | None
    headers: dict[str, str]
    stream: bool
    request_id: str
    correlation_id: str
    max_attempts: int
    started: float
    attempt: int = 0
    waited: float = 0.0
    refreshed: bool = False

    @property
    def ids(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "correlation_id": self.correlation_id, "method": self.method,
                "url": self.url}


def fix_malformed_uri(uri: str) -> str:
    """Repair the next links the docs show with a second ``?`` (``…&size=2?seekOperation=Next`` → ``…&size=2&…``)."""
    if uri.count("?") > 1:
        head, tail = uri.split("?", 1)
        uri = head + "?" + tail.replace("?", "&")
    return uri


class Transport:
    """Sends Partner Center requests.

    Args:
        base_url: service root without the version (``https://api.partnercenter.microsoft.com``).
        token_provider: ``callable(force_refresh: bool) -> str`` returning a bearer token.
        api_prefix: path prefix added to relative paths (``"v1"``; ``"v1.0"`` for Graph; ``""`` for none).
        locale: ``X-Locale`` value.
        timeout: (connect, read) seconds.
        retry: :class:`~cspkit.retry.RetryPolicy` (statuses, back-off, total wait budget); the same object serves
            the Graph blob downloads (:mod:`cspkit.resources.billing_exports`).
        sleep: the sleep function (stubbed in tests); also used by the blob downloads and export polling.
        jitter: ``callable(upper) -> seconds``, set on the policy (default ``random.uniform(0, upper)``; stubbed in
            tests).
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
        policy = retry or RetryPolicy()
        self.retry = replace(policy, jitter=jitter) if jitter is not None else policy
        self._sleep = sleep
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
        call = self._build(method, path, params=params, json=json, headers=headers, data=data, retry=retry,
                           request_id=request_id, correlation_id=correlation_id, stream=stream,
                           expect_json=expect_json)
        self.stats["calls"] += 1
        while True:
            call.attempt += 1
            self.stats["attempts"] += 1
            response, error = self._send_once(call)
            if response is not None:
                status = response.status_code
                if status == 401 and not call.refreshed:
                    call.refreshed = True
                    response.close()
                    self._bearer(force_refresh=True)
                    call.attempt -= 1  # the replay after a refresh is not a retry
                    continue
                if status < 400:
                    return self._response(response, call.request_id, call.correlation_id, call.attempt, call.url,
                                          stream, expect_json)
                error, asked = self._status_error(response, call.ids)
                if status == 429:
                    self.stats["throttled"] += 1
                if not self.retry.retryable_status(status):
                    raise error
            else:
                asked = None
            assert error is not None
            self._back_off(call, error, asked)

    def _build(
        self, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any,
        headers: Mapping[str, str] | None, data: bytes | None, retry: bool, request_id: str | None,
        correlation_id: str | None, stream: bool, expect_json: bool,
    ) -> _Call:
        """The logical call: URL, ids (minted once, reused on every attempt), headers and body."""
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
        return _Call(
            method=method.upper(), url=self.url_for(path), params=params, body=body, headers=send_headers,
            stream=stream, request_id=request_id, correlation_id=correlation_id,
            max_attempts=self.retry.max_attempts if retry else 1, started=self._clock(),
        )

    def _send_once(self, call: _Call) -> tuple[requests.Response | None, APIError | None]:
        """One HTTP attempt: ``(response, None)`` for any answer, ``(None, error)`` when none came."""
        call.headers["Authorization"] = f"Bearer {self._bearer()}"
        timeout = self.timeout
        deadline = self.deadline
        if deadline is not None:  # no attempt outlives the call's budget
            left = max(0.001, deadline - (self._clock() - call.started))
            timeout = (min(timeout[0], left), min(timeout[1], left))
        error: APIError
        try:
            response = self.session.request(
                call.method, call.url, params=call.params, data=call.body, headers=call.headers,
                timeout=timeout, stream=call.stream,
            )
        except requests.exceptions.Timeout as exc:
            spent = self._clock() - call.started
            error = APITimeoutError(
                f"{call.method} {call.url}: no answer after {spent:.1f} s "
                f"({_attempts(call.attempt)}{_budget(deadline)})", **call.ids,
                hint="For a write the outcome is unknown: read the resource back before trying again. "
                "A longer budget: --timeout SECONDS or CSPKIT_TIMEOUT.",
            )
            error.__cause__ = exc
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            spent = self._clock() - call.started
            error = APIConnectionError(
                f"{call.method} {call.url}: connection failed ({type(exc).__name__}) after {spent:.1f} s "
                f"({_attempts(call.attempt)})", **call.ids,
                hint="Check the network and the endpoint; for a write, read the resource back before retrying.",
            )
            error.__cause__ = exc
        else:
            log.debug(
                "%s %s -> %s (attempt %d, request id %s, correlation id %s)",
                call.method, call.url, response.status_code, call.attempt, call.request_id, call.correlation_id,
            )
            return response, None
        log.debug("%s %s -> %s (attempt %d, request id %s)", call.method, call.url, error, call.attempt,
                  call.request_id)
        return None, error

    def _back_off(self, call: _Call, error: APIError, asked: float | None) -> None:
        """Wait before the next attempt as the policy says, or raise ``error`` when no attempt should follow
        (attempts spent, total wait cap, or the call's deadline)."""
        policy = self.retry
        if call.attempt >= call.max_attempts:
            raise error
        wait = policy.wait_for(call.attempt, asked)
        if not policy.within_budget(call.waited, wait):
            log.info("giving up on %s %s: next wait %.1fs would pass the cap", call.method, call.url, wait)
            raise error
        elapsed = self._clock() - call.started
        deadline = self.deadline
        if deadline is not None and elapsed + wait >= deadline:
            log.info("giving up on %s %s: next try in %.1fs would pass the %gs budget", call.method, call.url, wait,
                     deadline)
            error.hint = ((error.hint + " ") if error.hint else "") + (
                f"Gave up after {elapsed:.1f} s and {_attempts(call.attempt)}: the next try, in {wait:.0f} s, "
                f"would pass the {deadline:g} s budget (--timeout / CSPKIT_TIMEOUT)."
            )
            raise error
        if self.on_retry is not None:
            self.on_retry(RetryNotice(
                method=call.method, url=call.url, attempt=call.attempt, max_attempts=call.max_attempts,
                reason=_reason(error), wait=wait, elapsed=elapsed, deadline=deadline, request_id=call.request_id,
            ))
        log.info(
            "retrying %s %s in %.2fs after %s (attempt %d/%d, request id %s)",
            call.method, call.url, wait, getattr(error, "status_code", type(error).__name__), call.attempt,
            call.max_attempts, call.request_id,
        )
        self.stats["retries"] += 1
        self.stats["waited"] += wait
        call.waited += wait
        self._sleep(wait)

    def _status_error(self, response: requests.Response, ids: dict[str, Any]) -> tuple[APIStatusError, float | None]:
        """The error for an error status, and the seconds the server asked to wait (any of Retry-After's forms)."""
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        finally:
            response.close()
        asked = retry_after(response.headers, body)
        error = error_for_status(response.status_code, body, retry_after=asked, **ids)
        if isinstance(error, AuthenticationError):
            error.hint = "The token was refused after one refresh: check the credential, tenant and API permission."
        return error, asked

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

    def sleep(self, seconds: float) -> None:
        """Sleep with the transport's (injectable) sleep function: every wait of a call over it goes through here."""
        self._sleep(seconds)

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        parse: Callable[[dict], Any] | None = None,
        style: str = "links",
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Paginator[Any]:
        """Walk every page of a collection lazily; see :class:`cspkit.pagination.Paginator`."""
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

