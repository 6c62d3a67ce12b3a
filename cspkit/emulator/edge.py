"""The edge: an ASGI middleware doing what every request shares, in small steps — path normalising, request and
correlation ids echoed on every answer (with the emulator's virtual time and instance id), the control API's
caller check, bearer-token checks, the fault engine and the per-tenant rate limiter.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import re
import uuid
from typing import Any

from cspkit.emulator import serializers as wire
from cspkit.emulator._util import fmt_dt
from cspkit.emulator.faults import FaultRule
from cspkit.emulator.models import EmulatorError
from cspkit.wire import EMULATOR_INSTANCE_HEADER

__all__ = ["CONTROL_TOKEN_HEADER", "Edge", "control_refusal"]

CONTROL_TOKEN_HEADER = "x-cspkit-control-token"
# Partner Center codes for injected statuses: 500 "unexpected error", otherwise "something went wrong, retry later"
_PC_FAULT_CODES = {500: "800003", 409: "800060", 412: "2055"}


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
        offered = [headers.get(CONTROL_TOKEN_HEADER, "").strip(), _bearer(headers)]
        if any(o and hmac.compare_digest(o.encode(), control_token.encode()) for o in offered):
            return None
        return EmulatorError(401, "800001", "The emulator's control API needs its control token: send it as "
                                            "X-Cspkit-Control-Token or Authorization: Bearer.")
    host = client[0] if client else None
    if _is_loopback(host):
        return None
    return EmulatorError(403, "800001", f"The emulator's control API answers loopback callers only (this one is "
                                        f"{host or 'unknown'}); start it with --control-token to allow others.")


def _bearer(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def plane(path: str) -> str:
    """The plane a path belongs to: ``pc`` (/v1), ``saas``, ``isv`` (/publisher), ``control`` or ``other``."""
    if path.startswith("/v1/") or path == "/v1":
        return "pc"
    if path.startswith("/api/saas"):
        return "saas"
    if path.startswith("/publisher"):
        return "isv"
    if path.startswith("/_emulator"):
        return "control"
    return "other"


def normalize_path(scope: dict[str, Any]) -> dict[str, Any]:
    """Both slash forms of every route (the documented @nextLink is '/api/saas/subscriptions/?...'), and doubled
    slashes as a documented request prints them ('/v1//invoices/unbilled/lineitems')."""
    path = scope["path"]
    if len(path) > 1 and (path.endswith("/") or "//" in path):
        trimmed = re.sub(r"/{2,}", "/", path).rstrip("/") or "/"
        return {**scope, "path": trimmed, "raw_path": trimmed.encode()}
    return scope


class Exchange:
    """One request at the edge: its plane, ids, and how to answer it (ids, virtual time, instance on every answer)."""

    def __init__(self, state: Any, scope: dict[str, Any], send: Any) -> None:
        self.state, self.scope, self._send = state, scope, send
        self.headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.path, self.method = scope["path"], scope["method"]
        self.plane = plane(self.path)
        prefix = "x-ms-" if self.plane == "saas" else "ms-"
        self.request_id = self.headers.get(prefix + "requestid") or str(uuid.uuid4())
        self.correlation_id = self.headers.get(prefix + "correlationid") or str(uuid.uuid4())
        echo, rid, cid = [], self.request_id.encode(), self.correlation_id.encode()
        if self.plane == "saas":
            echo = [(b"x-ms-requestid", rid), (b"x-ms-correlationid", cid)]
        elif self.plane == "pc":  # Partner Center echoes the locale of returned strings (partner-center-api.md §7.1)
            echo = [(b"x-locale", (self.headers.get("x-locale") or "en-US").encode())]
        self.echo = echo + [(b"ms-requestid", rid), (b"ms-correlationid", cid)]
        scope.setdefault("state", {})
        scope["state"]["request_id"] = self.request_id

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            # the virtual time of the answer, so clients judge windows by the emulator's clock, not the wall's
            backend = self.state.backend
            now = backend.clock.now().isoformat().replace("+00:00", "Z")
            extra = self.echo + [(b"x-emulator-now", now.encode()),
                                 (EMULATOR_INSTANCE_HEADER.lower().encode(), str(backend.instance_id).encode())]
            message = {**message, "headers": list(message.get("headers", [])) + extra}
        await self._send(message)

    async def reply(self, status: int, body: Any, extra: dict[str, str] | None = None) -> None:
        data = wire.dumps(body)
        hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        hdrs += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        await self.send({"type": "http.response.start", "status": status, "headers": hdrs})
        await self.send({"type": "http.response.body", "body": data})

    async def error(self, exc: EmulatorError, extra: dict[str, str] | None = None) -> None:
        body = wire.saas_error(exc) if self.plane == "saas" else wire.pc_error(exc)
        await self.reply(exc.status, body, extra)

    async def drop(self) -> None:
        """Close the connection with nothing written: an invalid header makes h11 refuse the response line after
        uvicorn marked it started, and uvicorn then closes the transport."""
        await self._send({"type": "http.response.start", "status": 200, "headers": [(b"x-drop", b"\r\n")]})

    def record(self, rule_id: str, action: str, status: int | None) -> None:
        self.state.faults.record(rule_id, action, status=status, method=self.method, path=self.path,
                                 requestId=self.request_id, correlationId=self.correlation_id,
                                 at=fmt_dt(self.state.backend.now()))


class Edge:
    """The ASGI middleware in front of the FastAPI app (``state``: the app state of :mod:`cspkit.emulator.app`)."""

    def __init__(self, app: Any, *, state: Any) -> None:
        self.app = app
        self.state = state

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
        scope = normalize_path(scope)
        ex = Exchange(self.state, scope, send)
        if await self._refused(ex):
            return
        rule = self._fault(ex)
        if rule is not None and await self._fire(ex, rule):
            return
        if await self._throttled(ex):
            return
        if rule is not None and rule.action in ("drop", "malformed"):
            await self._run_then_break(ex, rule, receive)
            return
        try:
            await self.app(scope, receive, ex.send)
        except EmulatorError as exc:  # raised outside a route (body parsing in dependencies)
            await ex.error(exc)

    async def _refused(self, ex: Exchange) -> bool:
        """Answer the control API's refusal or an authentication failure; True when answered."""
        if ex.plane == "control":
            refusal = control_refusal(self.state.control_token, ex.scope.get("client"), ex.headers)
            if refusal is not None:
                await ex.reply(refusal.status, wire.pc_error(refusal))
                return True
        if ex.plane not in ("pc", "saas"):
            return False
        token = _bearer(ex.headers)
        publisher_id = self.state.publishers.get(token) if ex.plane == "saas" else None
        if ex.plane == "saas":  # which publisher calls: None for the emulator's unscoped tokens
            ex.scope["state"]["publisher_id"] = publisher_id
        if token in self.state.tokens or publisher_id is not None:
            return False
        if ex.plane == "pc":
            exc = EmulatorError(401, "800001", "Authentication failed: a valid bearer token is required.")
            await ex.error(exc, {"WWW-Authenticate": 'Bearer realm="cspkit-emulator"'})
        else:
            await ex.error(EmulatorError(403, "Forbidden", "The bearer token is missing or not valid for this API."))
        return True

    def _fault(self, ex: Exchange) -> FaultRule | None:
        """The fault rule that fires for this request (recorded in the fault log), or None."""
        faults = self.state.faults
        if ex.plane not in ("pc", "saas", "isv") or not faults.rules:
            return None
        operation = self._operation(ex.scope) if faults.needs_operation() else None
        m = re.match(r"^/v1/customers/([^/]+)", ex.path)
        rule = faults.match(plane=ex.plane, method=ex.method, path=ex.path, operation=operation,
                            customer_id=m.group(1) if m else None)
        if rule is not None:
            ex.record(rule.id, rule.action, rule.status)
        return rule

    async def _fire(self, ex: Exchange, rule: FaultRule) -> bool:
        """Do a fault's action before the handler; True when the request is answered (or dropped) by it."""
        if rule.action == "status":
            if rule.status == 429:
                await ex.reply(429, wire.throttled(rule.retry_after), {"Retry-After": str(rule.retry_after)})
            else:
                default_code = str(rule.status) if ex.plane == "saas" else _PC_FAULT_CODES.get(rule.status, "900192")
                exc = EmulatorError(rule.status, rule.code or default_code,
                                    rule.description or f"Injected fault: HTTP {rule.status}.")
                await ex.error(exc, {"Retry-After": str(rule.retry_after)} if rule.status == 503 else None)
            return True
        if rule.action in ("latency", "timeout"):
            await asyncio.sleep(rule.delay)
        elif rule.action == "reset":
            await ex.drop()
            return True
        return False

    async def _throttled(self, ex: Exchange) -> bool:
        """The rate limit (per partner tenant, wall clock): True when answered 429."""
        if ex.plane != "pc":
            return False
        wait = self.state.rate_limiter.check(self.state.backend.partner["tenantId"], ex.path)
        if wait is None:
            return False
        ex.record("rate-limit", "429", 429)
        await ex.reply(429, wire.throttled(wait), {"Retry-After": str(wait)})
        return True

    async def _run_then_break(self, ex: Exchange, rule: FaultRule, receive: Any) -> None:
        """``drop`` / ``malformed``: the handler runs (its change is committed), then the answer is lost or cut."""
        captured: list[dict[str, Any]] = []

        async def capture(message: dict[str, Any]) -> None:
            captured.append(message)

        await self.app(ex.scope, receive, capture)
        if rule.action == "drop":
            await ex.drop()
            return
        start = next(m for m in captured if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        cut = body[: max(1, len(body) // 2)]
        hdrs = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        hdrs.append((b"content-length", str(len(cut)).encode()))
        await ex.send({"type": "http.response.start", "status": start["status"], "headers": hdrs})
        await ex.send({"type": "http.response.body", "body": cut})
