"""The emulator's HTTP surface: the handlers of :mod:`cspkit.emulator.handlers` over the one URL table of
:mod:`cspkit.emulator.routes`, behind :class:`~cspkit.emulator.edge.Edge`.

Planes: Partner Center at ``/v1``, SaaS fulfillment at ``/api/saas``, the emulated publisher at ``/publisher``,
the control API at ``/_emulator``, price sheets at ``/v1.0/sales``, Graph billing exports at ``/v1.0|/beta`` and
their blobs at ``/_blobs``. Handlers reach the emulator through ``request.app.state`` (``backend``, ``emulator``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from cspkit.emulator.backend import Backend
from cspkit.emulator.edge import CONTROL_TOKEN_HEADER, Edge, control_refusal
from cspkit.emulator.faults import Faults, RateLimiter
from cspkit.emulator.http import MAX_PAGE, Tokens, error_response, plane_of
from cspkit.emulator.models import EmulatorError
from cspkit.emulator.routes import ROUTES

__all__ = ["CONTROL_TOKEN_HEADER", "MAX_PAGE", "AppState", "control_refusal", "create_app"]

log = logging.getLogger("cspkit.emulator")

_SAAS_HTTP_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                    405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType"}


class AppState:
    """What the handlers and the edge share: backend, tokens, faults, rate limiter (``app.state.emulator``)."""

    def __init__(self, backend: Backend, tokens: set[str], faults: Faults, rate_limiter: RateLimiter,
                 control_token: str | None = None) -> None:
        self.backend = backend
        self.control_token = control_token
        # SaaS fulfillment bearer tokens scoped to one publisher (POST /_emulator/tokens {"publisherId": ...}):
        # token → publisherId; they are valid on /api/saas only
        self.publishers: dict[str, str] = {}
        self.tokens = tokens
        self.faults = faults
        self.rate_limiter = rate_limiter
        self.continuation = Tokens(hashlib.sha256(backend.partner["tenantId"].encode()).digest())
        self.operations: list[tuple[set[str], Any, str]] = []  # (methods, path regex, handler name)
        self.save_hook: Any = None


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and "Illegal header value" in str(exc)) and "x-drop" not in record.getMessage()


async def _emulator_error(request: Request, exc: EmulatorError) -> Response:
    return error_response(request.url.path, exc)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """The framework's own refusals (no such route 404, wrong method 405, unreadable body 400) in the plane's
    error shape, never ``{"detail": ...}``."""
    path, status = request.url.path, exc.status_code
    if status == 404:
        description = f"No resource at {request.method} {path}."
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
        description = f"Method {request.method} is not allowed on {path}" + (
            f" (allowed: {allowed})." if allowed else ".")
    else:
        description = str(exc.detail)
    code = _SAAS_HTTP_CODES.get(status, "BadRequest") if plane_of(path) in ("saas", "graph") else str(status)
    return error_response(path, EmulatorError(status, code, description), exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 → Partner Center's 400 (800002 invalid request input), naming each bad field."""
    problems = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
                for e in exc.errors()]
    description = "The request is not valid: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    saas = plane_of(request.url.path) in ("saas", "graph")
    return error_response(request.url.path, EmulatorError(400, "BadRequest" if saas else "800002", description,
                                                          data=problems))


def create_app(backend: Backend, *, tokens: set[str], faults: Faults | None = None,
               rate_limiter: RateLimiter | None = None, control_token: str | None = None) -> Any:
    """The ASGI app: FastAPI routes wrapped in :class:`Edge`. ``app.state.backend`` is the backend,
    ``app.state.emulator`` the :class:`AppState`.

    ``control_token``: when set, every ``/_emulator`` call must carry it (see :func:`control_refusal`); when not,
    only loopback callers may use the control API.
    """
    state = AppState(backend, tokens, faults or Faults(), rate_limiter or RateLimiter(), control_token)
    api = FastAPI(title="cspkit Partner Center emulator", docs_url="/_emulator/docs",
                  openapi_url="/_emulator/openapi.json", redoc_url=None, redirect_slashes=False)
    api.state.backend = backend
    api.state.emulator = state
    api.add_exception_handler(EmulatorError, _emulator_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    for route in ROUTES:
        api.add_api_route(route.path, route.handler, methods=[route.method], name=route.operation)
        state.operations.append(({route.method}, compile_path(route.path)[0], route.operation))
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    return _Outer(Edge(api, state=state), api)


class _Outer:
    """The ASGI callable: the edge, exposing the FastAPI app's ``state`` (so ``app.state.backend`` works)."""

    def __init__(self, edge: Edge, api: FastAPI) -> None:
        self.edge, self.api = edge, api
        self.state = api.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.edge(scope, receive, send)
