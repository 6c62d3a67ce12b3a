"""Emulated Microsoft Graph partner billing exports, and the blob storage that serves their files.

Routes (billing-formats.md §3.2, partner-center-api.md §6.2), on the emulator's own host::

    POST /v1.0/reports/partners/billing/reconciliation/billed/export     {"invoiceId", "attributeSet"}
    POST /beta/reports/partners/billing/reconciliation/unbilled/export   {"currencyCode", "billingPeriod", ...}
         (/v1.0 accepted too)
    POST /v1.0/reports/partners/billing/usage/billed/export              {"invoiceId", "attributeSet"}
    POST /v1.0/reports/partners/billing/usage/unbilled/export            {"currencyCode", "billingPeriod", ...}
    GET  /v1.0/reports/partners/billing/operations/{id}
    GET  /v1.0/reports/partners/billing/manifests/{id}
    GET  /_blobs/{container}/{path}?<sas>                                 (Range, If-Range; SAS checked)
    POST /_emulator/graph/faults                                          {"failNext": {...}, "dropBlobAfter": n}

Behaviour:

* a POST answers ``202`` + ``Location`` + ``Retry-After: 1``; polls answer ``notStarted``, then ``running``, then
  ``succeeded`` (or ``failed``), each non-final one with ``Retry-After: 1``. The files are generated in a background
  thread from the POST on; a poll never reports ``succeeded`` before they are written;
* the lines are the emulator's own reconciliation lines (``cspkit.emulator.synthetic.recon_page``: the same pure
  function of the backend's history the v1 line-item route pages), re-keyed to the export's camelCase (the 47
  columns of §1.1 — ``tier2MpnId``, ``total``; ``basic`` = the B-marked subset), numbers as JSON numbers,
  ``productQualifiers`` as a JSON array in a string (as in the file);
* each export is split into at least two blobs of one ``default`` partition, each blob a multi-member gzip (a new
  member every ``member_lines`` lines), written with ``mtime=0`` so the same request gives the same bytes and names;
* no line (an unbilled period without charges; any usage export: the emulator has no Azure consumption) → the
  operation fails with code ``5000`` "No data available", as Graph does;
* bearer token required (Graph's error shape ``{"error": {"code", "message"}}``); blobs require the SAS token
  (``sig`` = HMAC of the root directory path and ``se`` expiry, checked against the emulator clock).

Faults: :func:`fail_next_export` (the next export's operation fails with a code/message) and :func:`drop_blob`
(the next blob download(s) close the connection after N bytes), or ``POST /_emulator/graph/faults``.

State lives on ``app.state`` (``graph_exports``, ``graph_faults``), created on first use.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from cspkit.wire import INVOICE_RECON_COLUMNS, json_key

__all__ = ["BASIC_KEYS", "EXPORT_KEYS", "drop_blob", "export_line", "fail_next_export", "router"]

router = APIRouter()

#: The 47 invoice reconciliation columns (billing-formats.md §1.1) as the export's camelCase keys, in file order.
EXPORT_KEYS: tuple[str, ...] = tuple(json_key(c) for c in INVOICE_RECON_COLUMNS)
_NOT_BASIC = {
    "customerDomainName", "customerCountry", "mpnId", "quantity", "publisherId", "subscriptionDescription",
    "unitType", "alternateId", "billingFrequency", "pcToBCExchangeRateDate", "meterDescription", "productQualifiers",
}  # fmt: skip
#: ``attributeSet=basic``: the columns marked B in §1.1 (35).
BASIC_KEYS: tuple[str, ...] = tuple(k for k in EXPORT_KEYS if k not in _NOT_BASIC)
assert len(EXPORT_KEYS) == 47 and len(BASIC_KEYS) == 35

#: v1 OneTimeInvoiceLineItem key → export key where they differ (§1.6).
_FROM_V1 = {"tier2MpnId": "resellerMpnId", "total": "totalForCustomer"}
_NUMERIC = ("unitPrice", "quantity", "subtotal", "taxTotal", "total", "effectiveUnitPrice", "billableQuantity",
            "pcToBCExchangeRate")
_NUMBER_FIELD = re.compile(r'"(' + "|".join(_NUMERIC) + r')":"(-?\d+(?:\.\d+)?)"')
_PAGE = 5000
_STATUS_SEQUENCE = ("notStarted", "running")
_BILLING = "/reports/partners/billing"
log = logging.getLogger("cspkit.emulator.graph")


def export_line(v1: dict[str, Any], keys: tuple[str, ...] = EXPORT_KEYS) -> str:
    """One v1 reconciliation line item as an export JSON line (no newline): ``keys`` in order, numbers as numbers."""
    record = {}
    for key in keys:
        value = v1.get(_FROM_V1.get(key, key))
        if key == "productQualifiers" and isinstance(value, list):
            value = json.dumps(value, separators=(",", ":"))
        record[key] = "" if value is None else value
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return _NUMBER_FIELD.sub(r'"\1":\2', text)


# ------------------------------------------------------------------------------------------------------------
# state
# ------------------------------------------------------------------------------------------------------------


@dataclass
class _Export:
    id: str
    kind: str
    key: dict[str, Any]
    attribute_set: str
    created: Any
    container: str
    prefix: str
    fault: tuple[str, str] | None = None
    polls: int = 0
    lines: int = 0
    blobs: list[tuple[str, str]] = field(default_factory=list)  # (name, file path)
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exports: dict[str, _Export] = {}
        self.blobs: dict[str, tuple[str, str]] = {}  # "container/path" -> (file, etag)
        self.secret = secrets.token_bytes(32)
        self.folder = tempfile.mkdtemp(prefix="cspkit-emulator-blobs-")
        weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.lines_per_blob = 250_000
        self.member_lines = 50_000
        self.ready_timeout = 15.0


@dataclass
class _Faults:
    fail_next: list[tuple[str, str]] = field(default_factory=list)
    drop_after: list[int] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)


_INIT = threading.Lock()


def _app_state(app: Any) -> Any:
    return app.state


def _state(app: Any) -> _State:
    st = _app_state(app)
    with _INIT:
        if getattr(st, "graph_exports", None) is None:
            st.graph_exports = _State()
        return st.graph_exports


def _faults(app: Any) -> _Faults:
    st = _app_state(app)
    with _INIT:
        if getattr(st, "graph_faults", None) is None:
            st.graph_faults = _Faults()
        return st.graph_faults


def fail_next_export(app: Any, *, code: str = "500", message: str = "Export failed (injected fault)",
                     count: int = 1) -> None:
    """Make the next ``count`` export operations end ``failed`` with ``{"code", "message"}``.

    ``app``: the emulator app (``EmulatorServer.app``) or its FastAPI app. Code ``"5000"`` simulates "no data".
    """
    _faults(app).fail_next.extend([(str(code), message)] * count)


def drop_blob(app: Any, *, after_bytes: int, count: int = 1) -> None:
    """Make the next ``count`` blob downloads close the connection after ``after_bytes`` bytes of the body."""
    _faults(app).drop_after.extend([int(after_bytes)] * count)


# ------------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------------


def _graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode(), status_code=status, media_type="application/json", headers=headers)


def _authorized(request: Request) -> bool:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    emulator = getattr(request.app.state, "emulator", None)
    tokens = getattr(emulator, "tokens", None)
    if tokens is None:  # a bare FastAPI app without the emulator's edge (tests): any bearer token
        return bool(token)
    return token in tokens


def _unauthorized() -> Response:
    return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty or not valid.",
                        {"WWW-Authenticate": 'Bearer realm="cspkit-emulator-graph"'})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _fmt(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sign(secret: bytes, root_path: str, expiry: str) -> str:
    return hmac.new(secret, f"{root_path}\n{expiry}".encode(), hashlib.sha256).hexdigest()


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads((await request.body()) or b"{}")
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


# ------------------------------------------------------------------------------------------------------------
# export requests
# ------------------------------------------------------------------------------------------------------------


async def _request_export(request: Request, kind: str) -> Response:
    if not _authorized(request):
        return _unauthorized()
    body = await _body(request)
    backend = request.app.state.backend
    attribute_set = str(body.get("attributeSet") or "full").lower()
    if attribute_set not in ("full", "basic"):
        return _graph_error(400, "BadRequest",
                            f"attributeSet {body.get('attributeSet')!r} is not valid: full or basic.")
    billed = kind.endswith("billed") and not kind.endswith("unbilled")
    if billed:
        invoice_id = str(body.get("invoiceId") or "").strip()
        if not invoice_id:
            return _graph_error(400, "BadRequest", "invoiceId is required.")
        invoice = next((i for i in backend.list_invoices() if i.id == invoice_id.upper()), None)
        if invoice is None:
            return _graph_error(404, "NotFound", f"Invoice {invoice_id} was not found.")
        key: dict[str, Any] = {"inv": invoice.id}
        month = invoice.period_start.strftime("%Y%m")
        where = f"BillingMonth={month}/InvoiceId={invoice.id}/InvoiceVersion={invoice.invoice_date.strftime('%Y%m')}"
    else:
        currency = str(body.get("currencyCode") or "").strip().upper()
        period = str(body.get("billingPeriod") or "current").strip().lower()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            return _graph_error(400, "BadRequest", "currencyCode is required (ISO 4217, e.g. USD).")
        if period not in ("current", "last"):
            return _graph_error(400, "BadRequest", f"billingPeriod {period!r} is not valid: current or last.")
        key = {"inv": "unbilled", "c": currency, "p": "previous" if period == "last" else "current"}
        start, _ = backend.open_period(key["p"])
        where = f"BillingMonth={start.strftime('%Y%m')}/Currency={currency}/Period={period}"
    st = _state(request.app)
    faults = _faults(request.app)
    partner = backend.partner["tenantId"]
    container = "billedusagefastpath" if billed else "unbilledusagefastpath"
    what = "reconciliation" if "reconciliation" in kind else "usage"
    prefix = f"v1/{what}/PartnerTenantId={partner}/{where}/Fragment={attribute_set}/PartitionType=default"
    with st.lock:
        export = _Export(
            id=str(uuid.uuid4()), kind=kind, key=key, attribute_set=attribute_set, created=backend.now(),
            container=container, prefix=prefix, fault=faults.fail_next.pop(0) if faults.fail_next else None,
        )
        st.exports[export.id] = export
    if export.fault is not None:
        faults.log.append({"fault": "fail", "operationId": export.id, "code": export.fault[0]})
    if what == "usage" or export.fault is not None:
        export.done.set()  # no consumption data in the emulator / failing anyway: nothing to write
    else:
        threading.Thread(target=_generate, args=(st, backend, export), name=f"graph-export-{export.id[:8]}",
                         daemon=True).start()
    location = f"{_base(request)}/v1.0{_BILLING}/operations/{export.id}"
    return Response(status_code=202, headers={"Location": location, "Retry-After": "1"})


def _generate(st: _State, backend: Any, export: _Export) -> None:
    """Write the export's blobs: ≥ 2 blobs, each a multi-member gzip of JSON Lines."""
    from cspkit.emulator.synthetic import recon_page

    try:
        keys = EXPORT_KEYS if export.attribute_set == "full" else BASIC_KEYS
        _, total = recon_page(backend, export.key, 0, 0)
        export.lines = total
        if total == 0:
            return
        blob_count = max(2, -(-total // st.lines_per_blob)) if total > 1 else 1
        per_blob = -(-total // blob_count)
        member = max(1, min(st.member_lines, -(-per_blob // 2)))
        seed = hashlib.sha256(f"{export.container}/{export.prefix}".encode()).hexdigest()
        tag = str(uuid.UUID(seed[:32]))
        folder = os.path.join(st.folder, export.id)
        os.makedirs(folder, exist_ok=True)
        blobs = []
        for index in range(blob_count):
            start, stop = index * per_blob, min(total, (index + 1) * per_blob)
            name = f"part-{index:05d}-{tag}.c000.json.gz"
            path = os.path.join(folder, name)
            with open(path, "wb") as raw:
                for first in range(start, stop, member):
                    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
                        for page_start in range(first, min(stop, first + member), _PAGE):
                            size = min(_PAGE, min(stop, first + member) - page_start)
                            items, _ = recon_page(backend, export.key, page_start, size)
                            gz.write("".join(export_line(item, keys) + "\n" for item in items).encode())
            blobs.append((name, path))
        with st.lock:
            export.blobs = blobs
            for name, path in blobs:
                digest = hashlib.sha256()
                with open(path, "rb") as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(chunk)
                st.blobs[f"{export.container}/{export.prefix}/{name}"] = (path, f'"0x{digest.hexdigest()[:16]}"')
    except Exception as exc:  # noqa: BLE001 - reported as a failed operation
        log.exception("graph export %s failed", export.id)
        export.error = f"{type(exc).__name__}: {exc}"
    finally:
        export.done.set()


for _path, _kind in (
    ("/v1.0/reports/partners/billing/reconciliation/billed/export", "reconciliation/billed"),
    ("/beta/reports/partners/billing/reconciliation/unbilled/export", "reconciliation/unbilled"),
    ("/v1.0/reports/partners/billing/reconciliation/unbilled/export", "reconciliation/unbilled"),
    ("/v1.0/reports/partners/billing/usage/billed/export", "usage/billed"),
    ("/v1.0/reports/partners/billing/usage/unbilled/export", "usage/unbilled"),
):

    def _make(kind: str) -> Any:
        async def handler(request: Request) -> Response:
            return await _request_export(request, kind)

        return handler

    router.add_api_route(_path, _make(_kind), methods=["POST"], name=f"graph_export_{_kind.replace('/', '_')}",
                         include_in_schema=True)


# ------------------------------------------------------------------------------------------------------------
# operations and manifests
# ------------------------------------------------------------------------------------------------------------


@router.get("/v1.0/reports/partners/billing/operations/{operation_id}", name="graph_get_operation")
@router.get("/beta/reports/partners/billing/operations/{operation_id}", name="graph_get_operation_beta")
def get_operation(request: Request, operation_id: str) -> Response:
    if not _authorized(request):
        return _unauthorized()
    st = _state(request.app)
    export = st.exports.get(operation_id)
    if export is None:
        return _graph_error(404, "NotFound", f"Operation {operation_id} was not found.")
    export.polls += 1
    created = _fmt(export.created)
    body: dict[str, Any] = {"id": export.id, "createdDateTime": created, "lastActionDateTime": created}
    if export.polls <= len(_STATUS_SEQUENCE) or not export.done.wait(st.ready_timeout):
        status = _STATUS_SEQUENCE[min(export.polls, len(_STATUS_SEQUENCE)) - 1]
        body.update({"@odata.type": "#microsoft.graph.partners.billing.runningOperation", "status": status})
        return _json(body, headers={"Retry-After": "1"})
    failure = export.fault
    if failure is None and export.error is not None:
        failure = ("500", "The export could not be generated.")
    if failure is None and (export.kind.startswith("usage") or export.lines == 0):
        failure = ("5000", "No data available")
    if failure is not None:
        body.update({"@odata.type": "#microsoft.graph.partners.billing.failedOperation", "status": "failed",
                     "error": {"code": failure[0], "message": failure[1]}})
        return _json(body)
    body.update({
        "@odata.type": "#microsoft.graph.partners.billing.exportSuccessOperation", "status": "succeeded",
        "resourceLocation@odata.navigationLink": f"{_base(request)}/v1.0{_BILLING}/manifests/{export.id}",
    })
    return _json(body)


@router.get("/v1.0/reports/partners/billing/manifests/{manifest_id}", name="graph_get_manifest")
@router.get("/beta/reports/partners/billing/manifests/{manifest_id}", name="graph_get_manifest_beta")
def get_manifest(request: Request, manifest_id: str) -> Response:
    if not _authorized(request):
        return _unauthorized()
    st = _state(request.app)
    export = st.exports.get(manifest_id)
    if export is None or not export.done.is_set() or not export.blobs:
        return _graph_error(404, "NotFound", f"Manifest {manifest_id} was not found.")
    backend = request.app.state.backend
    root_path = f"{export.container}/{export.prefix}"
    expiry = _fmt(backend.now() + timedelta(days=1))
    sas = f"skoid=emulator&sv=2021-08-06&se={expiry}&sr=d&sp=rl&sdd=7&sig={_sign(st.secret, root_path, expiry)}"
    return _json({
        "id": export.id, "schemaVersion": "2", "dataFormat": "compressedJSONLines",
        "createdDateTime": _fmt(export.created), "eTag": hashlib.sha256(export.id.encode()).hexdigest()[:17],
        "partnerTenantId": backend.partner["tenantId"], "rootDirectory": f"{_base(request)}/_blobs/{root_path}",
        "sasToken": sas, "partitionType": "Default", "blobCount": len(export.blobs),
        "blobs": [{"name": name, "partitionValue": "default"} for name, _ in export.blobs],
    })


# ------------------------------------------------------------------------------------------------------------
# blob storage
# ------------------------------------------------------------------------------------------------------------


def _storage_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body.encode(), status_code=status, media_type="application/xml",
                    headers={"x-ms-error-code": code})


class _BlobDropped(Exception):
    """Raised inside a blob body stream to make the server close the connection mid-download."""


class _QuietBlobDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _BlobDropped)


logging.getLogger("uvicorn.error").addFilter(_QuietBlobDrops())


@router.get("/_blobs/{blob_path:path}", name="graph_get_blob", include_in_schema=False)
def get_blob(request: Request, blob_path: str) -> Response:
    st = _state(request.app)
    entry = st.blobs.get(blob_path)
    if entry is None:
        return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
    root_path = blob_path.rsplit("/", 1)[0]
    params = request.query_params
    expiry, signature = params.get("se", ""), params.get("sig", "")
    backend = request.app.state.backend
    if not (expiry and hmac.compare_digest(signature, _sign(st.secret, root_path, expiry))):
        return _storage_error(403, "AuthenticationFailed", "Server failed to authenticate the request.")
    if expiry < _fmt(backend.now()):
        return _storage_error(403, "AuthenticationFailed", "Signed expiry time has passed.")
    path, etag = entry
    size = os.path.getsize(path)
    start, end, status = 0, size - 1, 200
    wanted = request.headers.get("range") or request.headers.get("x-ms-range")
    if_range = request.headers.get("if-range")
    if wanted and (if_range is None or if_range == etag):
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
        if match is None:
            return _storage_error(400, "InvalidRange", "The range specified is invalid.")
        start = int(match.group(1))
        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if start >= size or end < start:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
    headers = {"Content-Length": str(end - start + 1), "ETag": etag, "Accept-Ranges": "bytes",
               "x-ms-blob-type": "BlockBlob"}
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    faults = _faults(request.app)
    drop_after = faults.drop_after.pop(0) if faults.drop_after else None
    if drop_after is not None:
        faults.log.append({"fault": "drop", "blob": blob_path.rsplit("/", 1)[-1], "afterBytes": drop_after,
                           "rangeStart": start})

    def stream() -> Iterator[bytes]:
        sent = 0
        with open(path, "rb") as fh:
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = fh.read(min(1 << 16, remaining))
                if not chunk:
                    break
                if drop_after is not None and sent + len(chunk) > drop_after:
                    yield chunk[: max(0, drop_after - sent)]
                    raise _BlobDropped(f"dropped after {drop_after} bytes")
                remaining -= len(chunk)
                sent += len(chunk)
                yield chunk

    return StreamingResponse(stream(), status_code=status, media_type="application/octet-stream", headers=headers)


@router.post("/_emulator/graph/faults", name="graph_set_faults")
async def set_faults(request: Request) -> Response:
    """``{"failNext": {"code": "500", "message": "...", "count": 1}, "dropBlobAfter": 1000, "count": 1}``."""
    body = await _body(request)
    fail = body.get("failNext")
    if isinstance(fail, dict):
        fail_next_export(request.app, code=str(fail.get("code", "500")),
                         message=str(fail.get("message", "Export failed (injected fault)")),
                         count=int(fail.get("count", 1)))
    if body.get("dropBlobAfter") is not None:
        drop_blob(request.app, after_bytes=int(body["dropBlobAfter"]), count=int(body.get("count", 1)))
    faults = _faults(request.app)
    return _json({"failNext": len(faults.fail_next), "dropBlobAfter": list(faults.drop_after), "log": faults.log})
