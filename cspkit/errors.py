"""Exceptions raised by cspkit.

Every error cspkit raises on purpose is a :class:`CspkitError`::

    CspkitError
    ├── ConfigurationError        missing or contradictory settings
    ├── CredentialError           no token could be obtained (msal error and description)
    ├── APIError                  request_id, correlation_id
    │   ├── APIConnectionError    the request may not have reached Partner Center
    │   │   └── APITimeoutError   no answer within the read timeout (outcome unknown)
    │   ├── PagingError           a collection's next link pointed back at a page already read (a paging loop)
    │   └── APIStatusError        status_code, code, description, data, source
    │       ├── BadRequestError          400
    │       ├── AuthenticationError      401
    │       ├── PermissionDeniedError    403
    │       ├── NotFoundError            404
    │       ├── ConflictError            409
    │       ├── PreconditionFailedError  412 (and 417 "pre-condition failed")
    │       ├── RateLimitError           429 (retry_after, seconds)
    │       └── ServerError              5xx
    ├── BillingExportError        a Graph billing export failed, or its download could not be completed
    │                             (defined beside its resource: cspkit.resources.billing_exports)
    ├── CheckoutError             order errors returned by a cart checkout
    ├── PolicyError               refused before calling: outside a cancellation window, quantity outside SKU bounds
    └── InputFileError            a file we read is malformed: names file, row, column and what was expected

Exit codes of the CLI (one place, :data:`EXIT_OK` ...): 0 success; 1 an operation failed or was refused (for
``reconcile``: differences found); 2 bad usage or bad input; 3 a batch partly failed. Each error's ``exit_code``
says which of 1 and 2 it is.

Partner Center's error body is ``{"code": "800002", "description": "...", "data": [...], "source": "..."}``
(``code`` is a string holding a number); throttling answers 429 with the different body
``{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}``.
Both map onto :class:`APIStatusError` subclasses by :func:`error_for_status`.
Source: Partner Center "Partner Center REST error codes" and "API throttling guidance".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CheckoutError",
    "ConfigurationError",
    "ConflictError",
    "CredentialError",
    "CspkitError",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "InputFileError",
    "NotFoundError",
    "PagingError",
    "PermissionDeniedError",
    "PolicyError",
    "PreconditionFailedError",
    "RateLimitError",
    "ServerError",
    "error_for_status",
]


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
"""CLI exit codes: success; operation failed or refused; bad usage or input; batch partly failed."""


class CspkitError(Exception):
    """Base of every error cspkit raises on purpose.

    ``hint`` is one sentence telling the user what to do next; the CLI prints it.
    """

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigurationError(CspkitError):
    """Settings are missing or contradict each other (profile, endpoint, credentials)."""

    exit_code = EXIT_USAGE


class CredentialError(CspkitError):
    """No access token could be obtained.

    Carries msal's ``error`` and ``error_description`` (never a secret).
    """

    def __init__(
        self, message: str, *, error: str | None = None, description: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.error = error
        self.description = description


class APIError(CspkitError):
    """A call to Partner Center (or the emulator) failed.

    Attributes:
        request_id: the MS-RequestId sent with the call (the same on every retry of it).
        correlation_id: the MS-CorrelationId sent with the call.
        method, url: what was called (no query secrets: Partner Center puts none in URLs).
    """

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        correlation_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.method = method
        self.url = url

    def __str__(self) -> str:
        ids = []
        if self.request_id:
            ids.append(f"request id {self.request_id}")
        if self.correlation_id:
            ids.append(f"correlation id {self.correlation_id}")
        return f"{self.message} ({', '.join(ids)})" if ids else self.message


class PagingError(APIError):
    """A collection's ``links.next`` handed back a page already read: paging stopped instead of looping forever."""


class APIConnectionError(APIError):
    """The request could not be sent or its answer was lost (DNS, refused, reset).

    For a write the outcome is unknown: read the resource back before trying again.
    """


class APITimeoutError(APIConnectionError):
    """No answer within the read timeout; for a write the outcome is unknown."""


class APIStatusError(APIError):
    """Partner Center answered with an error status.

    Attributes:
        status_code: HTTP status (int).
        code: Partner Center error code as a string (e.g. ``"800002"``), or None.
        description: Partner Center's description text.
        data: the ``data`` array of the error body (list, possibly empty).
        source: the ``source`` of the error body (e.g. ``"PartnerFD"``).
        body: the parsed body as received (dict) or the raw text.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        description: str | None = None,
        data: list[Any] | None = None,
        source: str | None = None,
        body: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.code = code
        self.description = description
        self.data = data or []
        self.source = source
        self.body = body


class BadRequestError(APIStatusError):
    """400: the request was invalid (Partner Center code says why)."""


class AuthenticationError(APIStatusError):
    """401: the token was missing, expired or for the wrong audience."""


class PermissionDeniedError(APIStatusError):
    """403: the identity lacks the right, or the customer relationship is missing."""


class NotFoundError(APIStatusError):
    """404: the resource does not exist (or is not visible under this customer)."""


class ConflictError(APIStatusError):
    """409: the resource is busy or already in the requested state (e.g. 800060 order in progress)."""


class PreconditionFailedError(APIStatusError):
    """412/417: an If-Match etag or precondition no longer holds; re-read and try again."""


class RateLimitError(APIStatusError):
    """429: throttled. ``retry_after`` is the server's Retry-After in seconds (float) or None."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: Partner Center failed; for a write the outcome is unknown until read back."""


class CheckoutError(CspkitError):
    """A cart checkout returned order errors.

    Attributes:
        cart_id: the cart that was checked out.
        order_errors: list of ``{"orderGroupId", "code", "description"}`` dicts.
        orders: orders that did succeed (partial success is possible).
    """

    def __init__(
        self, message: str, *, cart_id: str, order_errors: list[dict[str, Any]], orders: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.cart_id = cart_id
        self.order_errors = order_errors
        self.orders = orders or []


class PolicyError(CspkitError):
    """Refused before calling Partner Center because a rule would be broken.

    Attributes:
        reason: a short machine-readable reason (``"quantity_out_of_bounds"``, ``"cancellation_window_closed"``,
            ``"seat_decrease_window_closed"``, ``"not_purchasable"``).
        deadline: the UTC deadline that passed, when the rule has one.
    The CLI's ``--force`` bypasses the guard; Partner Center may still refuse.
    """

    exit_code = EXIT_FAILED

    def __init__(
        self, message: str, *, reason: str, deadline: datetime | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint or "Use --force to send the request anyway; Partner Center may refuse it.")
        self.reason = reason
        self.deadline = deadline


class InputFileError(CspkitError):
    """A file we read is malformed.

    Attributes:
        path: the file (str).
        row: 1-based data row number (the header is row 0), or None for whole-file problems.
        column: the column name, or None.
        expected: what was expected there (e.g. ``"a decimal number"``).
        value: the offending value (shortened), or None.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        path: str,
        *,
        expected: str,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
        hint: str | None = None,
    ) -> None:
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        got = ""
        if value is not None:
            text = str(value)
            got = f", got {text[:60]!r}" + ("…" if len(text) > 60 else "")
        super().__init__(f"{where}: expected {expected}{got}", hint=hint)
        self.path = str(path)
        self.row = row
        self.column = column
        self.expected = expected
        self.value = value


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    417: PreconditionFailedError,
    429: RateLimitError,
}


def error_for_status(
    status_code: int,
    body: Any,
    *,
    retry_after: float | None = None,
    request_id: str | None = None,
    correlation_id: str | None = None,
    method: str | None = None,
    url: str | None = None,
) -> APIStatusError:
    """Build the exception for an error response.

    Args:
        status_code: HTTP status of the response.
        body: the parsed JSON body (dict) or raw text; both Partner Center shapes are understood:
            ``{code, description, data, source}`` and the 429 ``{statusCode, message}``.
        retry_after: seconds from the Retry-After header, if any.
    Returns:
        An :class:`APIStatusError` subclass instance (not raised).
    """
    code = description = source = None
    data: list[Any] = []
    if isinstance(body, dict):
        raw_code = body.get("code", body.get("errorCode"))
        code = None if raw_code is None else str(raw_code)
        description = body.get("description") or body.get("message") or body.get("errorDescription")
        if isinstance(body.get("error"), dict):  # {"error": {"code", "message"}} (SaaS / Graph shape)
            code = code or (str(body["error"].get("code")) if body["error"].get("code") is not None else None)
            description = description or body["error"].get("message")
        raw_data = body.get("data")
        data = raw_data if isinstance(raw_data, list) else ([] if raw_data is None else [raw_data])
        source = body.get("source")
    elif isinstance(body, str) and body.strip():
        description = body.strip()[:500]
    cls = _STATUS_CLASSES.get(status_code) or (ServerError if status_code >= 500 else APIStatusError)
    message = f"Partner Center returned {status_code}"
    if code:
        message += f" (code {code})"
    if description:
        message += f": {description}"
    kwargs: dict[str, Any] = dict(
        status_code=status_code,
        code=code,
        description=description,
        data=data,
        source=source,
        body=body,
        request_id=request_id,
        correlation_id=correlation_id,
        method=method,
        url=url,
    )
    if cls is RateLimitError:
        hint = "Wait and retry, or lower the concurrency."
        return RateLimitError(message, retry_after=retry_after, hint=hint, **kwargs)
    return cls(message, **kwargs)
