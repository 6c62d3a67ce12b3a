"""What every handler shares: JSON answers, body parsing, seek paging and the app state a request runs against.

Handlers are plain module-level functions (:mod:`cspkit.emulator.handlers`); they reach the emulator they serve
through ``request.app.state`` (:func:`backend_of`, :func:`emulator_of`), never through a module-global.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator._util import parse_dt
from cspkit.emulator.models import CartLine, EmulatorError

if TYPE_CHECKING:  # pragma: no cover
    from cspkit.emulator.app import AppState
    from cspkit.emulator.backend import Backend

__all__ = ["MAX_PAGE", "SAAS_API_VERSION", "Tokens", "backend_of", "body_json", "cart_lines", "emulator_of",
           "error_response", "lower_keys", "plane_of", "respond", "seek_collection", "seek_page"]

MAX_PAGE = 2000
SAAS_API_VERSION = "2018-08-31"


def backend_of(request: Request) -> Backend:
    """The backend of the emulator serving ``request`` (``app.state.backend``)."""
    return request.app.state.backend


def emulator_of(request: Request) -> AppState:
    """The app state (tokens, faults, rate limiter, continuation tokens) of the emulator serving ``request``."""
    return request.app.state.emulator


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(wire.dumps(body), status_code=status, media_type="application/json", headers=headers)


def lower_keys(value: Any) -> Any:
    """Accept PascalCase property names on input (Partner Center does): ``LineItems`` → ``lineItems``."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:] if isinstance(k, str) else k): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


async def body_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400 ``800002`` when it is not a JSON object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise EmulatorError(400, "800002", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise EmulatorError(400, "800002", "The request body must be a JSON object.")
    return lower_keys(data)


def _cart_line(d: dict[str, Any]) -> CartLine:
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
        custom_term_end_date=_term_end(d.get("customTermEndDate")),
        renews_to=d.get("renewsTo"),
        attestation_accepted=d.get("attestationAccepted"),
        addon_items=[_cart_line(a) for a in d.get("addonItems") or []],
    )


def _term_end(value: Any) -> Any:
    """A cart line's ``customTermEndDate`` (date-time), 400 when it is not one."""
    if value in (None, ""):
        return None
    try:
        return parse_dt(value)
    except (TypeError, ValueError):
        raise EmulatorError(400, "800002", f"customTermEndDate {value!r} is not a date-time.") from None


def cart_lines(body: dict[str, Any]) -> list[CartLine]:
    """The ``lineItems`` of a cart body as :class:`CartLine` objects; 400 when missing or not numeric."""
    items = body.get("lineItems")
    if not isinstance(items, list):
        raise EmulatorError(400, "800002", "lineItems is required.")
    return [_cart_line(d) for d in items]


class Tokens:
    """Opaque, tamper-evident continuation tokens: base64 JSON plus an HMAC (they contain , + / =)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, raw: str) -> str:
        return base64.b64encode(hmac.new(self._secret, raw.encode(), hashlib.sha256).digest()[:18]).decode()

    def encode(self, payload: dict[str, Any]) -> str:
        raw = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
        return f"{raw},{self._sign(raw)}"

    def decode(self, token: str | None, kind: str) -> dict[str, Any]:
        try:
            raw, sig = (token or "").rsplit(",", 1)
            payload = json.loads(base64.b64decode(raw)) if hmac.compare_digest(sig, self._sign(raw)) else None
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
    """A Partner Center collection page with a ``next`` link carrying the continuation token when more remain."""
    end = offset + len(items)
    sep = "&" if "?" in base_uri else "?"
    self_uri = f"{base_uri}{sep}size={size}"
    if end < total:
        token = tokens.encode({"k": kind, "o": end, "s": size, **(extra or {})})
        nxt = wire.link(f"{self_uri}&seekOperation=Next", headers=[{"key": "MS-ContinuationToken", "value": token}])
        return wire.collection(items, self_uri=self_uri, next_link=nxt, continuation_token=token)
    return wire.collection(items, self_uri=self_uri)


def plane_of(path: str) -> str:
    """Which error shape a path answers in: ``saas``, ``graph`` or ``pc``."""
    if path.startswith("/api/saas"):
        return "saas"
    if path.startswith(("/v1.0/", "/beta/")) and not path.startswith("/v1.0/sales/"):
        return "graph"
    return "pc"


def error_response(path: str, exc: EmulatorError, headers: dict[str, str] | None = None) -> Response:
    """An error in the shape of the plane it answers for: Partner Center ``{code, description, data, source}``
    (error-codes.md), the SaaS fulfillment API's ``{"error": {code, message, target, details}}``, or Graph's
    ``{"error": {code, message}}``."""
    plane = plane_of(path)
    if plane == "saas":
        body: Any = wire.saas_error(exc)
    elif plane == "graph":
        body = {"error": {"code": exc.code, "message": exc.description}}
    else:
        body = wire.pc_error(exc)
    return respond(body, exc.status, headers=headers)
