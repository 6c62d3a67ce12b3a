"""The emulator's HTTP surface: thin FastAPI handlers over :class:`~cspkit.emulator.backend.Backend`.

Planes: Partner Center at ``/v1``, SaaS fulfillment at ``/api/saas``, the emulated publisher at ``/publisher``,
the control API at ``/_emulator``. :class:`Edge` (an ASGI middleware) does what every request shares: request and
correlation ids echoed on every answer, bearer-token checks, the rate limiter, and fault injection.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import html
import ipaddress
import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from cspkit.emulator import serializers as wire
from cspkit.emulator import validation as check
from cspkit.emulator._util import fmt_dt, parse_duration
from cspkit.emulator.backend import Backend
from cspkit.emulator.documents import statement_pdf
from cspkit.emulator.faults import Faults, RateLimiter
from cspkit.emulator.models import CartLine, EmulatorError
from cspkit.emulator.policy import policy_from
from cspkit.emulator.state import to_jsonable
from cspkit.emulator.synthetic import invoice_total, recon_page_json
from cspkit.wire import EMULATOR_INSTANCE_HEADER

__all__ = ["MAX_PAGE", "create_app"]

MAX_PAGE = 2000
SAAS_API_VERSION = "2018-08-31"
log = logging.getLogger("cspkit.emulator")


# Partner Center codes for injected statuses: 500 "unexpected error", otherwise "something went wrong, retry later"
_PC_FAULT_CODES = {500: "800003", 409: "800060", 412: "2055"}


# ------------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------------


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(wire.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _lower_keys(value: Any) -> Any:
    """Accept PascalCase property names on input (Partner Center does): ``LineItems`` → ``lineItems``."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:] if isinstance(k, str) else k): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


async def body_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise EmulatorError(400, "800002", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise EmulatorError(400, "800002", "The request body must be a JSON object.")
    return _lower_keys(data)


def _cart_lines(body: dict[str, Any]) -> list[CartLine]:
    def line(d: dict[str, Any]) -> CartLine:
        try:
            quantity = int(d.get("quantity", 1))
        except (TypeError, ValueError):
            raise EmulatorError(400, "800002", f"quantity {d.get('quantity')!r} is not a number.") from None
        return CartLine(
            id=d.get("id"),
            catalog_item_id=str(d.get("catalogItemId") or d.get("catalogId") or ""),
            quantity=quantity,
            billing_cycle=(d.get("billingCycle") or None) and str(d["billingCycle"]).lower(),
            term_duration=(d.get("termDuration") or None) and str(d["termDuration"]).upper(),
            friendly_name=d.get("friendlyName"),
            provisioning_context=dict(d.get("provisioningContext") or {}),
            participants=list(d.get("participants") or []),
            promotion_id=d.get("promotionId"),
            renews_to=d.get("renewsTo"),
            attestation_accepted=d.get("attestationAccepted"),
            addon_items=[line(a) for a in d.get("addonItems") or []],
        )

    items = body.get("lineItems")
    if not isinstance(items, list):
        raise EmulatorError(400, "800002", "lineItems is required.")
    return [line(d) for d in items]


class Tokens:
    """Opaque, tamper-evident continuation tokens: base64 JSON plus an HMAC (they contain , + / =)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, payload: dict[str, Any]) -> str:
        raw = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
        sig = base64.b64encode(hmac.new(self._secret, raw.encode(), hashlib.sha256).digest()[:18]).decode()
        return f"{raw},{sig}"

    def decode(self, token: str | None, kind: str) -> dict[str, Any]:
        try:
            raw, sig = (token or "").rsplit(",", 1)
            good = base64.b64encode(hmac.new(self._secret, raw.encode(), hashlib.sha256).digest()[:18]).decode()
            payload = json.loads(base64.b64decode(raw)) if hmac.compare_digest(sig, good) else None
        except (ValueError, TypeError):
            payload = None
        if not payload or payload.get("k") != kind:
            raise EmulatorError(400, "800002", "The MS-ContinuationToken header is missing or invalid.")
        return payload


def seek_page(request: Request, tokens: Tokens, kind: str, default_size: int) -> tuple[int, int]:
    """(offset, size) of a seek-paged request: first page from ``size``, next pages from the token header."""
    params = request.query_params
    if (params.get("seekOperation") or params.get("seekoperation") or "").lower() == "next":
        state = tokens.decode(request.headers.get("MS-ContinuationToken"), kind)
        return int(state["o"]), int(state["s"])
    try:
        size = int(params.get("size") or 0)
    except ValueError:
        raise EmulatorError(400, "800002", "size must be a number.") from None
    if size <= 0:
        size = default_size
    return 0, min(size, MAX_PAGE)


def seek_collection(items: list[Any], *, tokens: Tokens, kind: str, offset: int, size: int, total: int,
                    base_uri: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    end = offset + len(items)
    sep = "&" if "?" in base_uri else "?"
    self_uri = f"{base_uri}{sep}size={size}"
    if end < total:
        token = tokens.encode({"k": kind, "o": end, "s": size, **(extra or {})})
        nxt = wire.link(f"{self_uri}&seekOperation=Next", headers=[{"key": "MS-ContinuationToken", "value": token}])
        return wire.collection(items, self_uri=self_uri, next_link=nxt, continuation_token=token)
    return wire.collection(items, self_uri=self_uri)


# ------------------------------------------------------------------------------------------------------------
# the edge middleware: ids, auth, rate limit, faults
# ------------------------------------------------------------------------------------------------------------


class Edge:
    def __init__(self, app: Any, *, state: Any) -> None:
        self.app = app
        self.state = state

    @staticmethod
    def _plane(path: str) -> str:
        if path.startswith("/v1/") or path == "/v1":
            return "pc"
        if path.startswith("/api/saas"):
            return "saas"
        if path.startswith("/publisher"):
            return "isv"
        if path.startswith("/_emulator"):
            return "control"
        return "other"

    def _operation(self, scope: dict[str, Any]) -> str | None:
        """The handler name a request goes to (fault rules can match on it)."""
        for methods, regex, name in self.state.operations:
            if scope["method"] in methods and regex.match(scope["path"]):
                return name
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["path"]) > 1 and (scope["path"].endswith("/") or "//" in scope["path"]):
            # both slash forms of every route (the documented @nextLink is '/api/saas/subscriptions/?...'), and
            # doubled slashes as a documented request prints them ('/v1//invoices/unbilled/lineitems')
            trimmed = re.sub(r"/{2,}", "/", scope["path"]).rstrip("/") or "/"
            scope = {**scope, "path": trimmed, "raw_path": trimmed.encode()}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        plane = self._plane(path)
        if plane == "saas":
            request_id = headers.get("x-ms-requestid") or str(uuid.uuid4())
            correlation_id = headers.get("x-ms-correlationid") or str(uuid.uuid4())
            echo = [(b"x-ms-requestid", request_id.encode()), (b"x-ms-correlationid", correlation_id.encode())]
        else:
            request_id = headers.get("ms-requestid") or str(uuid.uuid4())
            correlation_id = headers.get("ms-correlationid") or str(uuid.uuid4())
            # Partner Center echoes the locale of returned strings (partner-center-api.md §7.1; en-US default)
            echo = [(b"x-locale", (headers.get("x-locale") or "en-US").encode())] if plane == "pc" else []
        echo += [(b"ms-requestid", request_id.encode()), (b"ms-correlationid", correlation_id.encode())]
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        _current.set(self.state)

        async def send_with_ids(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                # the virtual time of the answer, so clients judge windows by the emulator's clock, not the wall's
                now = self.state.backend.clock.now().isoformat().replace("+00:00", "Z")
                instance = str(self.state.backend.instance_id).encode()
                extra = echo + [(b"x-emulator-now", now.encode()),
                                (EMULATOR_INSTANCE_HEADER.lower().encode(), instance)]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        async def reply(status: int, body: Any, extra: dict[str, str] | None = None) -> None:
            data = wire.dumps(body)
            hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
            hdrs += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
            await send_with_ids({"type": "http.response.start", "status": status, "headers": hdrs})
            await send_with_ids({"type": "http.response.body", "body": data})

        def error_body(exc: EmulatorError) -> Any:
            return wire.saas_error(exc) if plane == "saas" else wire.pc_error(exc)

        # -- the control API: loopback only, or the control token when one is configured ---------------------
        if plane == "control":
            refusal = control_refusal(self.state.control_token, scope.get("client"), headers)
            if refusal is not None:
                await reply(refusal.status, wire.pc_error(refusal))
                return

        # -- authentication ----------------------------------------------------------------------------------
        if plane in ("pc", "saas"):
            auth = headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            publisher_id = self.state.publishers.get(token) if plane == "saas" else None
            if plane == "saas":  # which publisher calls: None for the emulator's unscoped tokens
                scope["state"]["publisher_id"] = publisher_id
            if token not in self.state.tokens and publisher_id is None:
                if plane == "pc":
                    exc = EmulatorError(401, "800001", "Authentication failed: a valid bearer token is required.")
                    await reply(401, error_body(exc), {"WWW-Authenticate": 'Bearer realm="cspkit-emulator"'})
                else:
                    exc = EmulatorError(403, "Forbidden", "The bearer token is missing or not valid for this API.")
                    await reply(403, error_body(exc))
                return

        # -- faults --------------------------------------------------------------------------------------------
        faults: Faults = self.state.faults
        rule = None
        if plane in ("pc", "saas", "isv") and faults.rules:
            operation = self._operation(scope) if faults.needs_operation() else None
            m = re.match(r"^/v1/customers/([^/]+)", path)
            rule = faults.match(plane=plane, method=method, path=path, operation=operation,
                                customer_id=m.group(1) if m else None)
        if rule is not None:
            faults.record(rule.id, rule.action, status=rule.status, method=method, path=path, requestId=request_id,
                          correlationId=correlation_id, at=fmt_dt(self.state.backend.now()))
            if rule.action == "status":
                if rule.status == 429:
                    await reply(429, wire.throttled(rule.retry_after), {"Retry-After": str(rule.retry_after)})
                else:
                    default_code = str(rule.status) if plane == "saas" else _PC_FAULT_CODES.get(rule.status, "900192")
                    exc = EmulatorError(rule.status, rule.code or default_code,
                                        rule.description or f"Injected fault: HTTP {rule.status}.")
                    extra = {"Retry-After": str(rule.retry_after)} if rule.status == 503 else None
                    await reply(rule.status, error_body(exc), extra)
                return
            if rule.action in ("latency", "timeout"):
                await asyncio.sleep(rule.delay)
            elif rule.action == "reset":
                await self._drop(send)
                return

        # -- rate limit (per partner tenant, wall clock) ------------------------------------------------------
        if plane == "pc":
            wait = self.state.rate_limiter.check(self.state.backend.partner["tenantId"], path)
            if wait is not None:
                faults.record("rate-limit", "429", status=429, method=method, path=path, requestId=request_id,
                              correlationId=correlation_id, at=fmt_dt(self.state.backend.now()))
                await reply(429, wire.throttled(wait), {"Retry-After": str(wait)})
                return

        if rule is not None and rule.action in ("drop", "malformed"):
            captured: list[dict[str, Any]] = []

            async def capture(message: dict[str, Any]) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)  # the handler runs: its change is committed
            if rule.action == "drop":
                await self._drop(send)
                return
            start = next(m for m in captured if m["type"] == "http.response.start")
            body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
            cut = body[: max(1, len(body) // 2)]
            hdrs = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            hdrs.append((b"content-length", str(len(cut)).encode()))
            await send_with_ids({"type": "http.response.start", "status": start["status"], "headers": hdrs})
            await send_with_ids({"type": "http.response.body", "body": cut})
            return

        try:
            await self.app(scope, receive, send_with_ids)
        except EmulatorError as exc:  # raised outside a route (body parsing in dependencies)
            await reply(exc.status, error_body(exc))

    @staticmethod
    async def _drop(send: Any) -> None:
        """Close the connection with nothing written: an invalid header makes h11 refuse the response line after
        uvicorn marked it started, and uvicorn then closes the transport."""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-drop", b"\r\n")]})


CONTROL_TOKEN_HEADER = "x-cspkit-control-token"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or address).is_loopback


def control_refusal(control_token: str | None, client: Any, headers: dict[str, str]) -> EmulatorError | None:
    """Why a control call (``/_emulator/*``) is refused, or None when it may run.

    Without a control token configured only loopback clients (127.0.0.0/8, ::1) may call it: anyone who reaches a
    ``--host 0.0.0.0`` emulator must not reset it, move its clock or read its webhook signing key. With one
    (``cspkit emulator serve --control-token`` / ``CSPKIT_EMULATOR_CONTROL_TOKEN``) every caller, loopback too,
    must send it as ``X-Cspkit-Control-Token: TOKEN`` or ``Authorization: Bearer TOKEN`` (compared in constant
    time); 401 when it is missing or wrong, 403 for a non-loopback caller when no token is configured.
    """
    if control_token:
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        offered = [headers.get(CONTROL_TOKEN_HEADER, "").strip(), bearer]
        if any(o and hmac.compare_digest(o.encode(), control_token.encode()) for o in offered):
            return None
        return EmulatorError(401, "800001", "The emulator's control API needs its control token: send it as "
                                            "X-Cspkit-Control-Token or Authorization: Bearer.")
    host = client[0] if client else None
    if _is_loopback(host):
        return None
    return EmulatorError(403, "800001", f"The emulator's control API answers loopback callers only (this one is "
                                        f"{host or 'unknown'}); start it with --control-token to allow others.")


_SAAS_HTTP_CODES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                    405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType"}


def _plane_of(path: str) -> str:
    if path.startswith("/api/saas"):
        return "saas"
    if path.startswith(("/v1.0/", "/beta/")) and not path.startswith("/v1.0/sales/"):
        return "graph"
    return "pc"


def error_response(path: str, exc: EmulatorError, headers: dict[str, str] | None = None) -> Response:
    """An error in the shape of the plane it answers for: Partner Center ``{code, description, data, source}``
    (error-codes.md), the SaaS fulfillment API's ``{"error": {code, message, target, details}}``, or Graph's
    ``{"error": {code, message}}``."""
    plane = _plane_of(path)
    if plane == "saas":
        body: Any = wire.saas_error(exc)
    elif plane == "graph":
        body = {"error": {"code": exc.code, "message": exc.description}}
    else:
        body = wire.pc_error(exc)
    return respond(body, exc.status, headers=headers)


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and "Illegal header value" in str(exc)) and "x-drop" not in record.getMessage()


# ------------------------------------------------------------------------------------------------------------
# the app
# ------------------------------------------------------------------------------------------------------------


_current: ContextVar[AppState] = ContextVar("cspkit_emulator")


class _Current:
    """Attribute access on the emulator serving the current request.

    The routers are built once per process (building FastAPI routes is the slow part of starting an emulator);
    :class:`Edge` sets the request's emulator in a context variable, which FastAPI carries into the threads that
    run synchronous handlers.
    """

    def __init__(self, attribute: str | None = None) -> None:
        self._attribute = attribute

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_attribute":
            raise AttributeError("set attributes on the emulator objects themselves, not on the proxy")
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        target = _current.get()
        if self._attribute:
            target = getattr(target, self._attribute)
        return getattr(target, name)


CURRENT: Any = _Current()
CURRENT_BACKEND: Any = _Current("backend")


class AppState:
    """What the handlers and the edge share: backend, tokens, faults, rate limiter."""

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


def create_app(backend: Backend, *, tokens: set[str], faults: Faults | None = None,
               rate_limiter: RateLimiter | None = None, control_token: str | None = None) -> Any:
    """The ASGI app: FastAPI routes wrapped in :class:`Edge`. ``app.state.backend`` is the backend.

    ``control_token``: when set, every ``/_emulator`` call must carry it (see :func:`control_refusal`); when not,
    only loopback callers may use the control API.
    """
    state = AppState(backend, tokens, faults or Faults(), rate_limiter or RateLimiter(), control_token)
    api = FastAPI(title="cspkit Partner Center emulator", docs_url="/_emulator/docs",
                  openapi_url="/_emulator/openapi.json", redoc_url=None, redirect_slashes=False)
    api.state.backend = backend
    api.state.emulator = state

    @api.exception_handler(EmulatorError)
    async def _emulator_error(request: Request, exc: EmulatorError) -> Response:
        return error_response(request.url.path, exc)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """The framework's own refusals (no such route 404, wrong method 405, unreadable body 400) in the
        plane's error shape, never ``{"detail": ...}``."""
        path, status = request.url.path, exc.status_code
        if status == 404:
            description = f"No resource at {request.method} {path}."
        elif status == 405:
            allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
            description = f"Method {request.method} is not allowed on {path}" + (
                f" (allowed: {allowed})." if allowed else ".")
        else:
            description = str(exc.detail)
        code = _SAAS_HTTP_CODES.get(status, "BadRequest") if _plane_of(path) in ("saas", "graph") else str(status)
        return error_response(path, EmulatorError(status, code, description), exc.headers)

    @api.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422 → Partner Center's 400 (800002 invalid request input), naming each bad field."""
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
                    for e in exc.errors()]
        description = "The request is not valid: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        saas = _plane_of(request.url.path) in ("saas", "graph")
        return error_response(request.url.path, EmulatorError(400, "BadRequest" if saas else "800002",
                                                              description, data=problems))

    for prefix, router in (("/v1", _pc_router()), ("/api/saas", _saas_router()),
                           ("/publisher", _publisher_router()), ("/_emulator", _control_router())):
        api.include_router(router, prefix=prefix)
        for route in router.routes:
            regex = compile_path(prefix + route.path)[0]
            state.operations.append((route.methods or set(), regex, route.name))
    try:  # the price-sheet endpoint, when its module exists
        from cspkit.emulator.pricesheets import router as pricesheet_router
    except ImportError:
        pricesheet_router = None
    if pricesheet_router is not None:
        api.include_router(pricesheet_router)
    from cspkit.emulator.graph import router as graph_router  # Microsoft Graph billing exports and their blobs

    api.include_router(graph_router)

    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    return _Outer(Edge(api, state=state), api)


class _Outer:
    """The ASGI callable: the edge, exposing the FastAPI app's ``state`` (so ``app.state.backend`` works)."""

    def __init__(self, edge: Edge, api: FastAPI) -> None:
        self.edge, self.api = edge, api
        self.state = api.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.edge(scope, receive, send)


# ------------------------------------------------------------------------------------------------------------
# Partner Center: /v1
# ------------------------------------------------------------------------------------------------------------


@functools.cache
def _pc_router() -> APIRouter:
    r = APIRouter()
    state, b = CURRENT, CURRENT_BACKEND

    def country_of(customer_id: str) -> str:
        return b.get_customer(customer_id).country

    # -- customers -------------------------------------------------------------------------------------------
    @r.get("/customers", name="list_customers")
    def list_customers(request: Request, size: int = 0, filter: str | None = None) -> Response:
        name_prefix = domain_prefix = None
        if filter:
            try:
                spec = _lower_keys(json.loads(filter))
            except ValueError:
                raise EmulatorError(400, "800002", "filter must be URL-encoded JSON.") from None
            field = str(spec.get("field", "")).lower()
            if str(spec.get("operator", "starts_with")).lower() != "starts_with":
                raise EmulatorError(400, "800002", "Only the starts_with operator is supported.")
            if field == "companyname":
                name_prefix = str(spec.get("value", ""))
            elif field == "domain":
                domain_prefix = str(spec.get("value", ""))
            else:
                raise EmulatorError(400, "800002", f"Unsupported filter field {spec.get('field')!r}.")
        customers = b.list_customers(name_prefix=name_prefix, domain_prefix=domain_prefix)
        offset, size = seek_page(request, state.continuation, "customers", 100)
        page = customers[offset: offset + size]
        base = "/customers" + (f"?filter={filter}" if filter else "")
        return respond(seek_collection([wire.customer(c, full=False) for c in page], tokens=state.continuation,
                                       kind="customers", offset=offset, size=size, total=len(customers),
                                       base_uri=base))

    @r.post("/customers", name="create_customer", status_code=201)
    async def create_customer(request: Request) -> Response:
        body = await body_json(request)
        company = body.get("companyProfile") or {}
        billing = body.get("billingProfile") or {}
        address = billing.get("defaultAddress") or {}
        profile = {k: v for k, v in {**address, **{x: billing.get(x) for x in
                   ("firstName", "lastName", "email", "culture", "language")}}.items() if v}
        profile.pop("country", None)
        customer = b.create_customer(
            company_name=company.get("companyName") or billing.get("companyName") or "",
            domain=company.get("domain") or "",
            country=str(address.get("country") or "").upper(),
            profile=profile,
            request_id=request.scope["state"].get("request_id"),
        )
        return respond(wire.customer(customer), 201)

    @r.get("/customers/{customer_id}", name="get_customer")
    def get_customer(customer_id: str) -> Response:
        return respond(wire.customer(b.get_customer(customer_id)))

    @r.get("/customers/{customer_id}/profiles/company", name="get_customer_company_profile")
    def get_customer_company_profile(customer_id: str) -> Response:
        """Get a customer's company profile (CustomerCompanyProfile)."""
        return respond(wire.company_profile(b.get_customer(customer_id)))

    @r.get("/customers/{customer_id}/profiles/billing", name="get_customer_billing_profile")
    def get_customer_billing_profile(customer_id: str) -> Response:
        """Get a customer's billing profile (CustomerBillingProfile)."""
        return respond(wire.billing_profile(b.get_customer(customer_id)))

    # -- catalog ---------------------------------------------------------------------------------------------
    def products_body(country: str, target_view: str | None, target_segment: str | None, prefix: str) -> Response:
        items = b.list_products(country=country, target_view=target_view, target_segment=target_segment)
        return respond(wire.collection([wire.product(p, country=country, prefix=prefix) for p in items],
                                       self_uri=f"{prefix}/products?country={country}&targetView={target_view}"))

    def availability_body(item: Any, country: str, prefix: str) -> dict[str, Any]:
        return wire.availability(item, market=b.catalog.market(country), segment=b.catalog.segment,
                                 policy=b.policy, prefix=prefix)

    @r.get("/products", name="list_products")
    def list_products(country: str | None = None, targetView: str | None = None,
                      targetSegment: str | None = None) -> Response:
        return products_body(country, targetView, targetSegment, "")

    @r.get("/products/{product_id}", name="get_product")
    def get_product(product_id: str, country: str | None = None) -> Response:
        return respond(wire.product(b.get_product(product_id, country=country), country=country))

    @r.get("/products/{product_id}/skus", name="list_skus")
    def list_skus(product_id: str, country: str | None = None, targetSegment: str | None = None) -> Response:
        items = b.list_skus(product_id, country=country, target_segment=targetSegment)
        return respond(wire.collection([wire.sku(i, country=country) for i in items],
                                       self_uri=f"/products/{product_id}/skus?country={country}"))

    @r.get("/products/{product_id}/skus/{sku_id}", name="get_sku")
    def get_sku(product_id: str, sku_id: str, country: str | None = None) -> Response:
        return respond(wire.sku(b.get_sku(product_id, sku_id, country=country), country=country))

    @r.get("/products/{product_id}/skus/{sku_id}/availabilities", name="list_availabilities")
    def list_availabilities(product_id: str, sku_id: str, country: str | None = None,
                            targetSegment: str | None = None) -> Response:
        items = b.list_availabilities(product_id, sku_id, country=country, target_segment=targetSegment)
        return respond(wire.collection([availability_body(i, country, "") for i in items],
                                       self_uri=f"/products/{product_id}/skus/{sku_id}/availabilities?country={country}"))

    @r.get("/products/{product_id}/skus/{sku_id}/availabilities/{availability_id}", name="get_availability")
    def get_availability(product_id: str, sku_id: str, availability_id: str, country: str | None = None) -> Response:
        item = b.get_availability(product_id, sku_id, availability_id, country=country)
        return respond(availability_body(item, country, ""))

    @r.post("/extensions/product/checkinventory", name="check_inventory")
    async def check_inventory(request: Request, country: str | None = None) -> Response:
        body = await body_json(request)
        context = body.get("inventoryContext") or {}
        if context.get("customerId"):
            b.get_customer(context["customerId"])
        return respond(b.check_inventory(country=country, target_items=body.get("targetItems") or []))

    @r.get("/customers/{customer_id}/products", name="list_customer_products")
    def list_customer_products(customer_id: str, targetView: str | None = None,
                               targetSegment: str | None = None) -> Response:
        return products_body(country_of(customer_id), targetView, targetSegment, f"/customers/{customer_id}")

    @r.get("/customers/{customer_id}/products/{product_id}", name="get_customer_product")
    def get_customer_product(customer_id: str, product_id: str) -> Response:
        country = country_of(customer_id)
        return respond(wire.product(b.get_product(product_id, country=country), country=country,
                                    prefix=f"/customers/{customer_id}"))

    @r.get("/customers/{customer_id}/products/{product_id}/skus", name="list_customer_skus")
    def list_customer_skus(customer_id: str, product_id: str, targetSegment: str | None = None) -> Response:
        country = country_of(customer_id)
        items = b.list_skus(product_id, country=country, target_segment=targetSegment)
        prefix = f"/customers/{customer_id}"
        return respond(wire.collection([wire.sku(i, country=country, prefix=prefix) for i in items],
                                       self_uri=f"{prefix}/products/{product_id}/skus"))

    @r.get("/customers/{customer_id}/products/{product_id}/skus/{sku_id}", name="get_customer_sku")
    def get_customer_sku(customer_id: str, product_id: str, sku_id: str) -> Response:
        country = country_of(customer_id)
        return respond(wire.sku(b.get_sku(product_id, sku_id, country=country), country=country,
                                prefix=f"/customers/{customer_id}"))

    @r.get("/customers/{customer_id}/products/{product_id}/skus/{sku_id}/availabilities",
           name="list_customer_availabilities")
    def list_customer_availabilities(customer_id: str, product_id: str, sku_id: str,
                                     targetSegment: str | None = None) -> Response:
        country = country_of(customer_id)
        prefix = f"/customers/{customer_id}"
        items = b.list_availabilities(product_id, sku_id, country=country, target_segment=targetSegment)
        return respond(wire.collection([availability_body(i, country, prefix) for i in items],
                                       self_uri=f"{prefix}/products/{product_id}/skus/{sku_id}/availabilities"))

    @r.get("/customers/{customer_id}/products/{product_id}/skus/{sku_id}/availabilities/{availability_id}",
           name="get_customer_availability")
    def get_customer_availability(customer_id: str, product_id: str, sku_id: str, availability_id: str) -> Response:
        country = country_of(customer_id)
        item = b.get_availability(product_id, sku_id, availability_id, country=country)
        return respond(availability_body(item, country, f"/customers/{customer_id}"))

    # -- carts ------------------------------------------------------------------------------------------------
    @r.post("/customers/{customer_id}/carts", name="create_cart", status_code=201)
    async def create_cart(customer_id: str, request: Request) -> Response:
        body = await body_json(request)
        cart = b.create_cart(customer_id, lines=_cart_lines(body),
                             attestation=body.get("partnerOnRecordAttestationAccepted"))
        return respond(wire.cart(cart), 201)

    @r.get("/customers/{customer_id}/carts/{cart_id}", name="get_cart")
    def get_cart(customer_id: str, cart_id: str) -> Response:
        return respond(wire.cart(b.get_cart(customer_id, cart_id)))

    @r.put("/customers/{customer_id}/carts/{cart_id}", name="update_cart")
    async def update_cart(customer_id: str, cart_id: str, request: Request) -> Response:
        body = await body_json(request)
        return respond(wire.cart(b.update_cart(customer_id, cart_id, lines=_cart_lines(body))), 201)

    @r.post("/customers/{customer_id}/carts/{cart_id}/checkout", name="checkout_cart")
    def checkout_cart(customer_id: str, cart_id: str) -> Response:
        orders, errors = b.checkout_cart(customer_id, cart_id)
        return respond(wire.checkout_result(orders, errors, country=country_of(customer_id)), 201)

    # -- orders -----------------------------------------------------------------------------------------------
    @r.get("/customers/{customer_id}/orders", name="list_orders")
    def list_orders(customer_id: str, billingType: str | None = None, include_price: bool = False) -> Response:
        orders = b.list_orders(customer_id, billing_type=billingType)
        country = country_of(customer_id)
        return respond(wire.collection([wire.order(o, country=country, include_price=include_price) for o in orders],
                                       self_uri=f"/customers/{customer_id}/orders"))

    @r.get("/customers/{customer_id}/orders/{order_id}", name="get_order")
    def get_order(customer_id: str, order_id: str, include_price: bool = False) -> Response:
        return respond(wire.order(b.get_order(customer_id, order_id), country=country_of(customer_id),
                                  include_price=include_price))

    @r.post("/customers/{customer_id}/orders", name="create_order", status_code=201)
    async def create_order(customer_id: str, request: Request) -> Response:
        """Create an order for a customer ("Create an order for a customer"): ``{billingCycle, lineItems:
        [{lineItemNumber, offerId, quantity, termDuration, friendlyName?, provisioningContext?}]}`` → 201 + the
        order; the checkout's validation and billing; idempotent on MS-RequestId."""
        body = await body_json(request)
        items = body.get("lineItems")
        if not isinstance(items, list) or not items:
            raise EmulatorError(400, "800002", "lineItems is required: at least one order line item.")
        cycle = body.get("billingCycle")
        lines = []
        for i, d in enumerate(items):
            if not isinstance(d, dict):
                raise EmulatorError(400, "800002", f"lineItems[{i}] must be an object.")
            d = {**d, "catalogItemId": d.get("offerId") or d.get("catalogItemId"),
                 "billingCycle": d.get("billingCycle") or cycle,
                 "id": d.get("lineItemNumber", i)}
            lines.append(d)
        order = await asyncio.to_thread(b.create_order, customer_id, lines=_cart_lines({"lineItems": lines}),
                                        request_id=request.scope["state"].get("request_id"))
        return respond(wire.order(order, country=country_of(customer_id)), 201)

    @r.get("/customers/{customer_id}/orders/{order_id}/provisioningstatus", name="get_order_provisioning_status")
    def get_order_provisioning_status(customer_id: str, order_id: str) -> Response:
        order = b.get_order(customer_id, order_id)
        return respond(wire.collection(wire.provisioning_status(order, b.subscriptions),
                                       self_uri=f"/customers/{customer_id}/orders/{order_id}/provisioningstatus"))

    def links_body(request: Request, customer_id: str, order_id: str, line: int | None, self_uri: str) -> Response:
        base = str(request.base_url).rstrip("/")
        items = []
        for number, publisher_id, token in b.order_activation_links(customer_id, order_id, line):
            sub_line = b.get_order(customer_id, order_id).lines[number]
            product = b.catalog.product(sub_line.offer_id.split(":")[0]) or {}
            items.append((number, wire.landing_uri(base, publisher_id, token, product.get("landingPageUrl"))))
        return respond(wire.activation_links(items, self_uri=self_uri))

    @r.get("/customers/{customer_id}/orders/{order_id}/lineitems/{line_item_number}/activationlinks",
           name="get_line_item_activation_links")
    def get_line_item_activation_links(request: Request, customer_id: str, order_id: str,
                                       line_item_number: int) -> Response:
        return links_body(request, customer_id, order_id, line_item_number,
                          f"/customers/{customer_id}/orders/{order_id}/lineitems/{line_item_number}/activationlinks")

    @r.get("/customers/{customer_id}/orders/{order_id}/activationlinks", name="get_order_activation_links")
    def get_order_activation_links(request: Request, customer_id: str, order_id: str) -> Response:
        return links_body(request, customer_id, order_id, None,
                          f"/customers/{customer_id}/orders/{order_id}/activationlinks")

    # -- subscriptions ------------------------------------------------------------------------------------------
    def sub_body(sub: Any) -> dict[str, Any]:
        with b.lock:
            return wire.subscription(sub, now=b.now(), etag=b.etag(sub), open_windows=b.open_windows(sub),
                                     country=b.customers[sub.customer_id].country)

    @r.get("/customers/{customer_id}/subscriptions", name="list_subscriptions")
    def list_subscriptions(customer_id: str, order_id: str | None = None) -> Response:
        subs = b.list_subscriptions(customer_id, order_id=order_id)
        return respond(wire.collection([sub_body(s) for s in subs], self_uri=f"/customers/{customer_id}/subscriptions"))

    @r.get("/customers/{customer_id}/subscriptions/{subscription_id}", name="get_subscription")
    def get_subscription(customer_id: str, subscription_id: str) -> Response:
        return respond(sub_body(b.get_subscription(customer_id, subscription_id)))

    @r.patch("/customers/{customer_id}/subscriptions/{subscription_id}", name="update_subscription")
    async def update_subscription(customer_id: str, subscription_id: str, request: Request) -> Response:
        body = await body_json(request)
        etag = request.headers.get("If-Match") or (body.get("attributes") or {}).get("etag")
        quantity = body.get("quantity")
        try:
            quantity = int(quantity) if quantity is not None else None
        except (TypeError, ValueError):
            raise EmulatorError(400, "800002", f"quantity {quantity!r} is not a number.") from None

        def run() -> Any:
            return b.update_subscription(
                customer_id, subscription_id, quantity=quantity, auto_renew=body.get("autoRenewEnabled"),
                status=body.get("status"), friendly_name=body.get("friendlyName"), etag=etag,
            )

        sub = await asyncio.to_thread(run)  # may deliver webhooks that call back into this server
        return respond(sub_body(sub))

    @r.get("/customers/{customer_id}/subscriptions/{subscription_id}/addons", name="list_addons")
    def list_addons(customer_id: str, subscription_id: str) -> Response:
        subs = b.list_addons(customer_id, subscription_id)
        return respond(wire.collection([sub_body(s) for s in subs],
                                       self_uri=f"/customers/{customer_id}/subscriptions/{subscription_id}/addons"))

    @r.get("/customers/{customer_id}/subscriptions/{subscription_id}/activationlinks",
           name="get_subscription_activation_links")
    def get_subscription_activation_links(request: Request, customer_id: str, subscription_id: str) -> Response:
        sub = b.get_subscription(customer_id, subscription_id)
        order = b.get_order(customer_id, sub.order_id)
        line = next(ln.line_item_number for ln in order.lines if ln.subscription_id == sub.id)
        return links_body(request, customer_id, order.id, line,
                          f"/customers/{customer_id}/subscriptions/{subscription_id}/activationlinks")

    @r.get("/customers/{customer_id}/subscriptions/{subscription_id}/provisioningstatus",
           name="get_subscription_provisioning_status")
    def get_subscription_provisioning_status(customer_id: str, subscription_id: str) -> Response:
        sub = b.get_subscription(customer_id, subscription_id)
        status = {"active": "success", "pending": "pending"}.get(sub.status, "failed")
        return respond({"skuId": sub.sku_id, "status": status, "quantity": sub.quantity,
                        "endDate": fmt_dt(sub.commitment_end),
                        "attributes": {"objectType": "SubscriptionProvisioningStatus"}})

    @r.post("/customers/{customer_id}/subscriptions/{subscription_id}/activate", name="activate_sandbox_subscription")
    def activate_sandbox_subscription(customer_id: str, subscription_id: str) -> Response:
        sub = b.sandbox_activate(customer_id, subscription_id)
        return respond({"subscriptionId": sub.id, "status": "Success"})

    # -- invoices -----------------------------------------------------------------------------------------------
    def symbol(currency: str) -> str:
        markets = b.catalog.get("markets", [])
        return next((m.get("currencySymbol", "") for m in markets if m["currency"] == currency), "")

    @r.get("/invoices", name="list_invoices")
    def list_invoices(size: int = 100, offset: int = 0) -> Response:
        invoices = b.list_invoices()
        size = max(1, min(size, 1000))
        page = invoices[offset: offset + size]
        body = wire.collection([wire.invoice(i, state_total(i), symbol(i.currency), with_pdf_link=True) for i in page],
                               self_uri=f"/invoices?size={size}&offset={offset}")
        if offset + size < len(invoices):
            body["links"]["next"] = wire.link(f"/invoices?size={size}&offset={offset + size}")
        return respond(body)

    def state_total(invoice: Any) -> Any:
        return invoice_total(b, invoice)

    @r.get("/invoices/estimates/links", name="get_estimate_links")
    def get_estimate_links(currencycode: str = "USD") -> Response:
        return respond(wire.collection(wire.estimate_links(currencycode.upper()),
                                       self_uri=f"/invoices/estimates/links?currencycode={currencycode}"))

    @r.get("/invoices/{invoice_id}", name="get_invoice")
    def get_invoice(invoice_id: str) -> Response:
        invoice = b.get_invoice(invoice_id)
        return respond(wire.invoice(invoice, state_total(invoice), symbol(invoice.currency), with_pdf_link=True))

    @r.get("/invoices/{invoice_id}/documents/statement", name="get_invoice_statement")
    def get_invoice_statement(invoice_id: str) -> Response:
        """Get an invoice statement: the invoice's PDF (``application/pdf``), the invoice's ``pdfDownloadLink``."""
        invoice = b.get_invoice(invoice_id)
        pdf = statement_pdf(b, invoice, state_total(invoice))
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{invoice.id}.pdf"'})

    def line_items(request: Request, invoice_id: str, provider: str | None, item_type: str | None) -> Response:
        provider = (provider or "").lower().replace("_", "")
        item_type = (item_type or "").lower().replace("_", "")
        if provider not in ("onetime", "all"):
            raise EmulatorError(400, "800002", f"provider {provider!r} is not supported by the emulator (use onetime).")
        if item_type != "billinglineitems":
            if item_type == "usagelineitems":  # no Azure consumption in the emulator: an empty collection
                return respond(wire.collection([], self_uri=request.url.path))
            raise EmulatorError(400, "800002", f"invoicelineitemtype {item_type!r} is not valid.")
        params = request.query_params
        currency = (params.get("currencycode") or params.get("currencyCode") or "").upper()
        period = (params.get("period") or "current").lower()
        if invoice_id.lower() == "unbilled":
            if not currency:
                raise EmulatorError(400, "800002", "currencycode is required for unbilled line items.")
            key = {"inv": "unbilled", "c": currency, "p": period}
        else:
            invoice = b.get_invoice(invoice_id)
            key = {"inv": invoice.id}
        kind = f"recon:{key['inv']}"
        offset, size = seek_page(request, state.continuation, kind, MAX_PAGE)
        if (params.get("seekOperation") or "").lower() == "next":
            key = {**key, **{k: v for k, v in state.continuation.decode(
                request.headers.get("MS-ContinuationToken"), kind).items() if k in ("c", "p")}}
        lines, total = recon_page_json(b, key, offset, size)
        query = "provider=onetime&invoicelineitemtype=billinglineitems"
        if key["inv"] == "unbilled":
            query += f"&currencycode={key['c']}&period={key['p']}"
        body = seek_collection(lines, tokens=state.continuation, kind=kind, offset=offset, size=size,
                               total=total, base_uri=f"/invoices/{key['inv']}/lineitems?{query}",
                               extra={k: key[k] for k in ("c", "p") if k in key})
        body["items"] = "\x00items"  # the lines are JSON already: splice them in
        head, tail = wire.dumps(body).split(wire.dumps("\x00items"), 1)
        return Response(head + b"[" + ",".join(lines).encode() + b"]" + tail, media_type="application/json")

    @r.get("/invoices/{invoice_id}/lineitems", name="get_invoice_line_items")
    def get_invoice_line_items(request: Request, invoice_id: str, provider: str | None = None,
                               invoicelineitemtype: str | None = None) -> Response:
        params = {k.lower(): v for k, v in request.query_params.items()}
        return line_items(request, invoice_id, provider or params.get("provider"),
                          invoicelineitemtype or params.get("invoicelineitemtype"))

    @r.get("/invoices/{invoice_id}/lineitems/{provider}/{item_type}", name="get_invoice_line_items_by_path")
    def get_invoice_line_items_by_path(request: Request, invoice_id: str, provider: str, item_type: str) -> Response:
        return line_items(request, invoice_id, provider, item_type)

    return r


# ------------------------------------------------------------------------------------------------------------
# SaaS fulfillment: /api/saas
# ------------------------------------------------------------------------------------------------------------


@functools.cache
def _saas_router() -> APIRouter:
    r = APIRouter()
    state, b = CURRENT, CURRENT_BACKEND

    def version(request: Request) -> None:
        got = request.query_params.get("api-version")
        if got != SAAS_API_VERSION:
            raise EmulatorError(400, "BadRequest", f"api-version must be {SAAS_API_VERSION} (got {got!r}).")

    def caller(request: Request) -> str | None:
        """The publisher the bearer token belongs to (None: the emulator's unscoped token, any publisher)."""
        return request.scope.get("state", {}).get("publisher_id")

    def owned(request: Request, saas_id: str) -> Any:
        saas = b.get_saas_subscription(saas_id)
        b.check_publisher(saas, caller(request))
        return saas

    def op_location(request: Request, op: Any) -> dict[str, str]:
        base = str(request.base_url).rstrip("/")
        return {"Operation-Location": f"{base}/api/saas/subscriptions/{op.subscription_id}/operations/{op.id}"
                                      f"?api-version={SAAS_API_VERSION}"}

    @r.post("/subscriptions/resolve", name="saas_resolve")
    def resolve(request: Request) -> Response:
        version(request)
        token = request.headers.get("x-ms-marketplace-token")
        return respond(wire.resolved(b.resolve_purchase_token(token, publisher_id=caller(request))))

    @r.get("/subscriptions", name="saas_list_subscriptions")
    def list_subscriptions(request: Request, continuationToken: str | None = None) -> Response:
        version(request)
        publisher_id = caller(request)
        subs = [s for s in b.list_saas_subscriptions()
                if publisher_id is None or s.publisher_id.lower() == publisher_id.lower()]
        offset = 0
        if continuationToken:
            offset = int(state.continuation.decode(continuationToken, "saas")["o"])
        page = subs[offset: offset + 100]
        body: dict[str, Any] = {"subscriptions": [wire.saas_subscription(s) for s in page]}
        if offset + 100 < len(subs):
            token = state.continuation.encode({"k": "saas", "o": offset + 100, "s": 100})
            body["@nextLink"] = (f"{str(request.base_url).rstrip('/')}/api/saas/subscriptions?"
                                 f"continuationToken={quote(token, safe='')}&api-version={SAAS_API_VERSION}")
        return respond(body)

    @r.get("/subscriptions/{saas_id}", name="saas_get_subscription")
    def get_subscription(request: Request, saas_id: str) -> Response:
        version(request)
        return respond(wire.saas_subscription(owned(request, saas_id)))

    @r.get("/subscriptions/{saas_id}/listAvailablePlans", name="saas_list_plans")
    def list_plans(request: Request, saas_id: str, planId: str | None = None) -> Response:
        version(request)
        market = b.get_customer(owned(request, saas_id).customer_id).country
        plans = b.list_saas_plans(saas_id, plan_id=planId)
        return respond({"plans": [wire.saas_plan(i, market=market) for i in plans]})

    @r.post("/subscriptions/{saas_id}/activate", name="saas_activate")
    async def activate(request: Request, saas_id: str) -> Response:
        version(request)
        body = await body_json(request)
        quantity = body.get("quantity")
        if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, (int, str))
                                     or not str(quantity).strip().isdigit()):
            raise EmulatorError(400, "BadRequest", f"quantity must be a whole number, got {quantity!r}.")
        b.activate_saas(saas_id, plan_id=body.get("planId"), quantity=int(quantity) if quantity is not None else None,
                        publisher_id=caller(request))
        return Response(status_code=200)

    @r.patch("/subscriptions/{saas_id}", name="saas_update_subscription")
    async def update(request: Request, saas_id: str) -> Response:
        version(request)
        owned(request, saas_id)
        body = await body_json(request)
        if "planId" in body and "quantity" in body:
            raise EmulatorError(400, "BadRequest", "Plan and quantity cannot be changed in the same call.")
        if "planId" in body:
            op = b.change_saas_plan(saas_id, plan_id=str(body["planId"]))
        elif "quantity" in body:
            op = b.change_saas_quantity(saas_id, quantity=body["quantity"])
        else:
            raise EmulatorError(400, "BadRequest", "The body needs planId or quantity.")
        return Response(status_code=202, headers=op_location(request, op))

    @r.delete("/subscriptions/{saas_id}", name="saas_delete_subscription")
    def delete(request: Request, saas_id: str) -> Response:
        version(request)
        owned(request, saas_id)
        op = b.delete_saas_subscription(saas_id)
        return Response(status_code=202, headers=op_location(request, op))

    @r.get("/subscriptions/{saas_id}/operations", name="saas_list_operations")
    def list_operations(request: Request, saas_id: str) -> Response:
        version(request)
        owned(request, saas_id)
        return respond({"operations": [wire.saas_operation(o) for o in b.list_saas_operations(saas_id)]})

    @r.get("/subscriptions/{saas_id}/operations/{operation_id}", name="saas_get_operation")
    def get_operation(request: Request, saas_id: str, operation_id: str) -> Response:
        version(request)
        owned(request, saas_id)
        return respond(wire.saas_operation(b.get_saas_operation(saas_id, operation_id)))

    @r.patch("/subscriptions/{saas_id}/operations/{operation_id}", name="saas_update_operation")
    async def update_operation(request: Request, saas_id: str, operation_id: str) -> Response:
        version(request)
        owned(request, saas_id)
        body = await body_json(request)
        await asyncio.to_thread(b.update_saas_operation, saas_id, operation_id, status=str(body.get("status")))
        return Response(status_code=200)

    return r


# ------------------------------------------------------------------------------------------------------------
# the emulated publisher: /publisher
# ------------------------------------------------------------------------------------------------------------

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto">
<p style="color:#a33">cspkit emulator &middot; emulated publisher {publisher}</p><h1>{title}</h1>{body}</body></html>"""


@functools.cache
def _publisher_router() -> APIRouter:
    r = APIRouter()
    b = CURRENT_BACKEND

    def page(publisher_id: str, title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(_PAGE.format(title=html.escape(title), publisher=html.escape(publisher_id), body=body),
                            status_code=status)

    def details(saas: Any) -> str:
        rows = {"Subscription": saas.id, "Offer": saas.offer_id, "Plan": saas.plan_id, "Quantity": saas.quantity,
                "Status": saas.status, "Beneficiary tenant": saas.beneficiary.get("tenantId"),
                "Purchaser tenant": saas.purchaser.get("tenantId")}
        return "<dl>" + "".join(f"<dt>{k}</dt><dd id='{k.lower().replace(' ', '-')}'>{html.escape(str(v))}</dd>"
                                for k, v in rows.items()) + "</dl>"

    @r.get("/{publisher_id}/landing", name="publisher_landing")
    def landing(publisher_id: str, token: str | None = None) -> HTMLResponse:
        try:
            result = b.publisher_landing(token, publisher_id)  # this publisher's site: its own purchases only
        except EmulatorError as exc:
            return page(publisher_id, "Cannot set up your subscription", f"<p>{html.escape(exc.description)}</p>",
                        exc.status)
        saas = result["subscription"]
        if result["activated"]:
            return page(publisher_id, "Your subscription is active", details(saas))
        form = (f"<form method='post' action='/publisher/{html.escape(publisher_id)}/activate'>"
                f"<input type='hidden' name='token' value='{html.escape(token or '')}'>"
                "<button type='submit'>Activate</button></form>")
        return page(publisher_id, "Finish setting up your subscription", details(saas) + form)

    @r.post("/{publisher_id}/activate", name="publisher_activate")
    async def activate(publisher_id: str, request: Request) -> HTMLResponse:
        form = await request.body()
        token = (parse_qs(form.decode()).get("token") or [None])[0]
        try:
            saas = b.resolve_purchase_token(token, publisher_id=publisher_id)
            if saas.status == "PendingFulfillmentStart":
                saas = b.activate_saas(saas.id, plan_id=saas.plan_id, quantity=saas.quantity,
                                       publisher_id=publisher_id)
        except EmulatorError as exc:
            return page(publisher_id, "Activation failed", f"<p>{html.escape(exc.description)}</p>", exc.status)
        return page(publisher_id, "Your subscription is active", details(saas))

    @r.post("/webhook", name="publisher_webhook")
    async def webhook(request: Request) -> Response:
        """A webhook receiver for ``webhook_url = <emulator>/publisher/webhook``: checks the JWT, confirms the
        operation through Get operation, ACKs by the built-in publisher's configuration."""
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        try:
            head, claims, sig = token.split(".")
            good = base64.urlsafe_b64encode(hmac.new(b.webhook_secret.encode(), f"{head}.{claims}".encode(),
                                                     hashlib.sha256).digest()).rstrip(b"=").decode()
            valid = hmac.compare_digest(good, sig)
        except ValueError:
            valid = False
        if not valid:
            return respond({"error": "invalid token"}, 401)
        payload = json.loads(await request.body())
        status = await asyncio.to_thread(b._builtin_publisher_webhook, payload)
        return Response(status_code=status)

    return r


# ------------------------------------------------------------------------------------------------------------
# control API: /_emulator
# ------------------------------------------------------------------------------------------------------------


@functools.cache
def _control_router() -> APIRouter:
    r = APIRouter()
    state, b = CURRENT, CURRENT_BACKEND

    def clock_body() -> dict[str, Any]:
        return {"now": fmt_dt(b.now()), "instance": b.instance_id,
                "pending": [{"due": fmt_dt(e.due), "kind": e.kind} for e in b.clock.pending[:20]]}

    @r.post("/reset", name="control_reset")
    async def reset(request: Request) -> Response:
        body = await body_json(request)
        now = check.datetime_field(body, "now")
        seed = body.get("seed")
        if seed is not None and not isinstance(seed, (str, dict)):
            raise check.bad_field("seed", "a seed name or a seed object", seed)
        clear_faults = check.boolean(body, "clearFaults", default=True)
        await asyncio.to_thread(b.reset, now=now, seed=seed)
        if clear_faults:
            state.faults.clear()
        return respond({"reset": True, **clock_body()})

    @r.post("/seed", name="control_seed")
    async def seed(request: Request) -> Response:
        body = await body_json(request)
        catalog = check.obj(body, "catalog")
        customers = body.get("customers")
        if isinstance(customers, dict):
            customers = customers.get("customers")
        if customers is not None and not (isinstance(customers, list)
                                          and all(isinstance(c, dict) for c in customers)):
            raise check.bad_field("customers", "a list of customer objects", customers)
        for i, customer in enumerate(customers or []):
            if not isinstance(customer.get("companyName"), str):
                raise check.bad_field(f"customers[{i}].companyName", "a string (required)",
                                      customer.get("companyName"))
        try:
            b.seed(catalog=catalog, customers=customers)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise check.bad_field("catalog", f"a catalog seed as in sample_data/catalog.json ({exc!r} in it)") from None
        return respond({"customers": len(b.customers), "products": len(b.catalog.products())})

    @r.get("/clock", name="control_get_clock")
    def get_clock() -> Response:
        return respond(clock_body())

    @r.post("/clock", name="control_set_clock")
    async def set_clock(request: Request) -> Response:
        body = await body_json(request)
        now = check.datetime_field(body, "now", required=True)
        try:
            await asyncio.to_thread(b.clock.set, now)
        except ValueError as exc:  # backwards
            raise EmulatorError(400, "800002", f"Field 'now': {exc}.") from None
        return respond(clock_body())

    @r.post("/clock/advance", name="control_advance_clock")
    async def advance(request: Request) -> Response:
        body = await body_json(request)
        parts = {k: check.number(body, k, minimum=0) for k in ("days", "hours", "minutes", "seconds", "weeks")
                 if body.get(k) is not None}
        by = check.text(body, "by")
        if not by and not parts:
            raise EmulatorError(400, "800002", 'Body must be {"by": "P1M"} or {"days": 3, "hours": 1, ...}.')
        if by:
            try:
                parse_duration(by)
            except (ValueError, TypeError):
                raise check.bad_field("by", "an ISO 8601 duration such as 'P1M', 'P7D' or 'PT36H'", by) from None
        try:
            await asyncio.to_thread(b.clock.advance, by or None, **parts)
        except (ValueError, OverflowError) as exc:
            raise EmulatorError(400, "800002", str(exc)) from None
        return respond(clock_body())

    @r.get("/faults", name="control_list_faults")
    def list_faults() -> Response:
        return respond({"rules": [f.to_wire() for f in state.faults.rules], "rateLimit": state.rate_limiter.describe()})

    @r.post("/faults", name="control_add_fault", status_code=201)
    async def add_fault(request: Request) -> Response:
        body = await body_json(request)
        try:
            rule = state.faults.add(body)
        except (ValueError, TypeError) as exc:
            raise EmulatorError(400, "800002", str(exc)) from None
        return respond(rule.to_wire(), 201)

    @r.delete("/faults", name="control_clear_faults")
    def clear_faults() -> Response:
        state.faults.clear()
        return respond({"rules": []})

    @r.delete("/faults/{rule_id}", name="control_remove_fault")
    def remove_fault(rule_id: str) -> Response:
        if not state.faults.remove(rule_id):
            raise EmulatorError(404, "800002", f"No fault rule {rule_id}.")
        return respond({"removed": rule_id})

    @r.get("/faults/log", name="control_fault_log")
    def fault_log() -> Response:
        return respond({"items": state.faults.log})

    @r.get("/config", name="control_get_config")
    def get_config() -> Response:
        return respond(config_body())

    def config_body() -> dict[str, Any]:
        return {"policy": b.policy.describe(), "rateLimit": state.rate_limiter.describe(),
                "publisher": b.publisher_config, "webhookUrl": b.webhook_url,
                "partnerTenantId": b.partner["tenantId"]}

    @r.post("/config", name="control_set_config")
    async def set_config(request: Request) -> Response:
        body = await body_json(request)
        backend = state.backend  # the real object: attributes are set on it below
        policy = body.get("policy")
        if policy is not None and not isinstance(policy, str):
            raise check.bad_field("policy", "a policy preset name", policy)
        overrides = check.obj(body, "policyOverrides", default={})
        for key in overrides:
            where = f"policyOverrides.{key}"
            if key in ("cart_expiry", "order_list_delay", "purchase_token_ttl", "ack_auto_accept"):
                check.number(overrides, key, required=True, minimum=0)
            elif key == "saas_activation_days":
                check.integer(overrides, key, required=True, minimum=0)
            elif key == "webhook_retry_delays":
                delays = overrides[key]
                if not isinstance(delays, list) or not all(
                    isinstance(d, (int, float)) and not isinstance(d, bool) and d >= 0 for d in delays
                ):
                    raise check.bad_field(where, "a list of seconds", delays)
            else:
                raise check.bad_field(where, "one of cart_expiry, order_list_delay, purchase_token_ttl, "
                                             "ack_auto_accept (seconds), saas_activation_days, webhook_retry_delays")
        rate = check.obj(body, "rateLimit", default={})
        limit = check.integer(rate, "limit", minimum=0) if rate.get("limit") is not None else None
        window = check.number(rate, "windowSeconds", minimum=0) if "windowSeconds" in rate else None
        pattern = check.text(rate, "pathPattern") if "pathPattern" in rate else None
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise check.bad_field("rateLimit.pathPattern", f"a regular expression ({exc})", pattern) from None
        publisher = check.obj(body, "publisher", default={})
        check.text(publisher, "ack", choices=("Success", "Failure", "none"))
        check.integer(publisher, "webhook_status", minimum=100, maximum=599)
        check.boolean(publisher, "auto_activate")
        webhook_url = check.text(body, "webhookUrl")
        with backend.lock:
            if "policy" in body or "policyOverrides" in body:
                try:
                    backend.policy = policy_from(policy or backend.policy, **overrides)
                except (ValueError, TypeError) as exc:
                    raise EmulatorError(400, "800002", f"Field 'policyOverrides': {exc}.") from None
            if "rateLimit" in body:
                state.rate_limiter.configure(limit=limit, window_seconds=window, pattern=pattern)
            if "publisher" in body:
                b.publisher_config.update(publisher)
            if "webhookUrl" in body:
                backend.webhook_url = webhook_url
        return respond(config_body())

    @r.get("/state", name="control_state")
    def get_state() -> Response:
        return respond(to_jsonable(b.state_summary()))

    @r.post("/state/save", name="control_save")
    def save() -> Response:
        if state.save_hook is None:
            raise EmulatorError(400, "800002", "The emulator runs without a state file.")
        path = state.save_hook()
        return respond({"saved": str(path)})

    @r.post("/recon/synthetic", name="control_synthetic_recon", status_code=201)
    async def synthetic(request: Request) -> Response:
        body = await body_json(request)
        lines = check.integer(body, "lines", default=1000, minimum=1)
        currency = check.text(body, "currency", default="USD")
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise check.bad_field("currency", "a 3-letter ISO 4217 code", currency)
        invoice = b.add_synthetic_invoice(lines=lines, currency=currency)
        return respond({"invoiceId": invoice.id, "lines": invoice.synthetic_lines, "currency": invoice.currency}, 201)

    @r.post("/tokens/inspect", name="control_inspect_token")
    async def inspect_token(request: Request) -> Response:
        body = await body_json(request)
        return respond(to_jsonable(b.inspect_token(check.text(body, "token", required=True))))

    @r.get("/webhooks", name="control_webhooks")
    def webhooks() -> Response:
        return respond({"items": to_jsonable(b.webhook_log), "signingKey": b.webhook_secret})

    @r.get("/events", name="control_events")
    def events() -> Response:
        return respond({"items": to_jsonable(b.event_log)})

    @r.post("/tokens", name="control_issue_token", status_code=201)
    async def issue_token(request: Request) -> Response:
        """Another bearer token; with ``{"publisherId": ...}`` one for that publisher's SaaS fulfillment calls only
        (like the publisher's own Entra app token: it sees and activates that publisher's purchases only)."""
        body = await body_json(request)
        publisher_id = check.text(body, "publisherId")
        token = "emu_" + uuid.uuid4().hex
        if publisher_id:
            state.publishers[token] = publisher_id
            return respond({"accessToken": token, "tokenType": "Bearer", "publisherId": publisher_id,
                            "expiresIn": int(timedelta(hours=1).total_seconds())}, 201)
        state.tokens.add(token)
        return respond({"accessToken": token, "tokenType": "Bearer",
                        "expiresIn": int(timedelta(hours=1).total_seconds())}, 201)

    return r
