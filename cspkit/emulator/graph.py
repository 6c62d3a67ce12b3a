"""Emulated Microsoft Graph partner billing exports as backend operations, and the blob storage of their files.

Routes (billing-formats.md §3.2, partner-center-api.md §6.2; handlers in :mod:`cspkit.emulator.handlers.graph`)::

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
* usage exports carry the Azure plan's daily rated usage (:mod:`cspkit.emulator.usage`: the 55 columns as camelCase
  keys, numbers as JSON numbers); no line (a period without charges or usage) → the operation fails with code
  ``5000`` "No data available", as Graph does;
* bearer token required (Graph's error shape ``{"error": {"code", "message"}}``); blobs require the SAS token
  (``sig`` = HMAC of the root directory path and ``se`` expiry, checked against the emulator clock).

State: :class:`GraphExports`, held by the backend (``backend.graph``) and saved in its state file (the blob files
are written again, byte for byte, when a state file is loaded). Faults are rules of the one fault engine
(:mod:`cspkit.emulator.faults`): :func:`fail_next_export` (action ``fail_export``) and :func:`drop_blob` (action
``drop_blob``), or ``POST /_emulator/graph/faults``.
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
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cspkit.emulator.models import EmulatorError
from cspkit.wire import INVOICE_RECON_COLUMNS, json_key

__all__ = ["BASIC_KEYS", "EXPORT_KEYS", "Export", "GraphExports", "drop_blob", "export_line", "fail_next_export"]

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
STATUS_SEQUENCE = ("notStarted", "running")
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


def fmt(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Export:
    """One export request: its operation, its blobs once written."""

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

    _SAVED = ("id", "kind", "key", "attribute_set", "created", "container", "prefix", "fault", "polls", "lines",
              "error")

    def to_state(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self._SAVED}, "blobNames": [n for n, _ in self.blobs]}


class GraphExports:
    """The backend's Graph billing exports: requests, operations, manifests, and the SAS-signed blob store.

    Methods raise :class:`EmulatorError` with Graph's codes (``BadRequest``, ``NotFound``); the store's own
    refusals (``BlobNotFound``, ``AuthenticationFailed``, ``InvalidRange``) too, which the handler answers as
    Azure Storage's XML error.
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.lock = threading.Lock()
        self.folder = tempfile.mkdtemp(prefix="cspkit-emulator-blobs-")
        weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.lines_per_blob = 250_000
        self.member_lines = 50_000
        self.ready_timeout = 15.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.exports: dict[str, Export] = {}
            self.blobs: dict[str, tuple[str, str]] = {}  # "container/path" -> (file, etag)
            self.secret = secrets.token_bytes(32)

    # -- requests -------------------------------------------------------------------------------------------
    def _where(self, kind: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """(line key of :func:`~cspkit.emulator.synthetic.recon_page`, the export's folder below the tenant)."""
        b = self.backend
        if kind.endswith("/billed"):
            invoice_id = str(body.get("invoiceId") or "").strip()
            if not invoice_id:
                raise EmulatorError(400, "BadRequest", "invoiceId is required.")
            invoice = next((i for i in b.list_invoices() if i.id == invoice_id.upper()), None)
            if invoice is None:
                raise EmulatorError(404, "NotFound", f"Invoice {invoice_id} was not found.")
            month = invoice.period_start.strftime("%Y%m")
            return {"inv": invoice.id}, (f"BillingMonth={month}/InvoiceId={invoice.id}/"
                                         f"InvoiceVersion={invoice.invoice_date.strftime('%Y%m')}")
        currency = str(body.get("currencyCode") or "").strip().upper()
        period = str(body.get("billingPeriod") or "current").strip().lower()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise EmulatorError(400, "BadRequest", "currencyCode is required (ISO 4217, e.g. USD).")
        if period not in ("current", "last"):
            raise EmulatorError(400, "BadRequest", f"billingPeriod {period!r} is not valid: current or last.")
        key = {"inv": "unbilled", "c": currency, "p": "previous" if period == "last" else "current"}
        start, _ = b.open_period(key["p"])
        return key, f"BillingMonth={start.strftime('%Y%m')}/Currency={currency}/Period={period}"

    def request(self, kind: str, body: dict[str, Any], *, faults: Any = None) -> Export:
        """Start an export (``kind`` = ``reconciliation/billed``, ``usage/unbilled``...). A valid request takes a
        ``fail_export`` rule from ``faults`` (:class:`~cspkit.emulator.faults.Faults`), if any: its operation then
        fails with the rule's code and description, and the fault log says so."""
        attribute_set = str(body.get("attributeSet") or "full").lower()
        if attribute_set not in ("full", "basic"):
            raise EmulatorError(400, "BadRequest",
                                f"attributeSet {body.get('attributeSet')!r} is not valid: full or basic.")
        key, where = self._where(kind, body)
        what, billed = kind.split("/")
        container = "billedusagefastpath" if billed == "billed" else "unbilledusagefastpath"
        prefix = (f"v1/{what}/PartnerTenantId={self.backend.partner['tenantId']}/{where}/Fragment={attribute_set}"
                  "/PartitionType=default")
        rule = faults.take("fail_export") if faults is not None else None
        fault = (rule.code or "500", rule.description or "Export failed (injected fault)") if rule else None
        with self.lock:
            export = Export(id=str(uuid.uuid4()), kind=kind, key=key, attribute_set=attribute_set,
                            created=self.backend.now(), container=container, prefix=prefix, fault=fault)
            self.exports[export.id] = export
        if rule is not None:
            faults.record(rule.id, rule.action, fault="fail", operationId=export.id, code=fault[0])
        self._start(export)
        return export

    def _start(self, export: Export) -> None:
        if export.fault is not None or export.error is not None:
            export.done.set()  # failing anyway: nothing to write
        else:
            threading.Thread(target=self._generate, args=(export,), name=f"graph-export-{export.id[:8]}",
                             daemon=True).start()

    def _write_blob(self, export: Export, path: str, start: int, stop: int, member: int) -> None:
        from cspkit.emulator.synthetic import recon_page
        from cspkit.emulator.usage import DAILY_BASIC_KEYS, DAILY_KEYS, usage_page
        from cspkit.emulator.usage import export_line as usage_line

        keys = EXPORT_KEYS if export.attribute_set == "full" else BASIC_KEYS
        if export.kind.startswith("usage"):  # Azure plan daily rated usage, the 55 columns
            keys = DAILY_KEYS if export.attribute_set == "full" else DAILY_BASIC_KEYS
            page, line = usage_page, usage_line
        else:
            page, line = recon_page, export_line
        with open(path, "wb") as raw:
            for first in range(start, stop, member):
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
                    for page_start in range(first, min(stop, first + member), _PAGE):
                        size = min(_PAGE, min(stop, first + member) - page_start)
                        items, _ = page(self.backend, export.key, page_start, size)
                        gz.write("".join(line(item, keys) + "\n" for item in items).encode())

    def _generate(self, export: Export) -> None:
        """Write the export's blobs: ≥ 2 blobs, each a multi-member gzip of JSON Lines."""
        from cspkit.emulator.synthetic import recon_page
        from cspkit.emulator.usage import usage_count

        try:
            usage = export.kind.startswith("usage")
            total = usage_count(self.backend, export.key) if usage else recon_page(self.backend, export.key, 0, 0)[1]
            export.lines = total
            if total == 0:
                return
            blob_count = max(2, -(-total // self.lines_per_blob)) if total > 1 else 1
            per_blob = -(-total // blob_count)
            member = max(1, min(self.member_lines, -(-per_blob // 2)))
            tag = str(uuid.UUID(hashlib.sha256(f"{export.container}/{export.prefix}".encode()).hexdigest()[:32]))
            folder = os.path.join(self.folder, export.id)
            os.makedirs(folder, exist_ok=True)
            blobs = []
            for index in range(blob_count):
                name = f"part-{index:05d}-{tag}.c000.json.gz"
                path = os.path.join(folder, name)
                self._write_blob(export, path, index * per_blob, min(total, (index + 1) * per_blob), member)
                blobs.append((name, path))
            with self.lock:
                export.blobs = blobs
                for name, path in blobs:
                    self.blobs[f"{export.container}/{export.prefix}/{name}"] = (path, _etag(path))
        except Exception as exc:  # noqa: BLE001 - reported as a failed operation
            log.exception("graph export %s failed", export.id)
            export.error = f"{type(exc).__name__}: {exc}"
        finally:
            export.done.set()

    # -- operations and manifests ---------------------------------------------------------------------------
    def poll(self, operation_id: str) -> tuple[str, dict[str, Any]]:
        """(status, operation body without its links) of one poll: ``notStarted``, ``running``, ``failed`` or
        ``succeeded``; 404 ``NotFound`` for an unknown operation."""
        export = self.exports.get(operation_id)
        if export is None:
            raise EmulatorError(404, "NotFound", f"Operation {operation_id} was not found.")
        export.polls += 1
        created = fmt(export.created)
        body: dict[str, Any] = {"id": export.id, "createdDateTime": created, "lastActionDateTime": created}
        if export.polls <= len(STATUS_SEQUENCE) or not export.done.wait(self.ready_timeout):
            status = STATUS_SEQUENCE[min(export.polls, len(STATUS_SEQUENCE)) - 1]
            return status, {**body, "@odata.type": "#microsoft.graph.partners.billing.runningOperation",
                            "status": status}
        failure = export.fault
        if failure is None and export.error is not None:
            failure = ("500", "The export could not be generated.")
        if failure is None and export.lines == 0:
            failure = ("5000", "No data available")
        if failure is not None:
            return "failed", {**body, "@odata.type": "#microsoft.graph.partners.billing.failedOperation",
                              "status": "failed", "error": {"code": failure[0], "message": failure[1]}}
        return "succeeded", {**body, "@odata.type": "#microsoft.graph.partners.billing.exportSuccessOperation",
                             "status": "succeeded"}

    def manifest(self, manifest_id: str, base_url: str) -> dict[str, Any]:
        """The manifest of a finished export: root directory on ``base_url``, SAS token valid one virtual day."""
        export = self.exports.get(manifest_id)
        if export is None or not export.done.is_set() or not export.blobs:
            raise EmulatorError(404, "NotFound", f"Manifest {manifest_id} was not found.")
        root_path = f"{export.container}/{export.prefix}"
        expiry = fmt(self.backend.now() + timedelta(days=1))
        sas = f"skoid=emulator&sv=2021-08-06&se={expiry}&sr=d&sp=rl&sdd=7&sig={self._sign(root_path, expiry)}"
        return {
            "id": export.id, "schemaVersion": "2", "dataFormat": "compressedJSONLines",
            "createdDateTime": fmt(export.created), "eTag": hashlib.sha256(export.id.encode()).hexdigest()[:17],
            "partnerTenantId": self.backend.partner["tenantId"], "rootDirectory": f"{base_url}/_blobs/{root_path}",
            "sasToken": sas, "partitionType": "Default", "blobCount": len(export.blobs),
            "blobs": [{"name": name, "partitionValue": "default"} for name, _ in export.blobs],
        }

    # -- blob storage ---------------------------------------------------------------------------------------
    def _sign(self, root_path: str, expiry: str) -> str:
        return hmac.new(self.secret, f"{root_path}\n{expiry}".encode(), hashlib.sha256).hexdigest()

    def blob(self, blob_path: str, *, expiry: str, signature: str) -> tuple[str, str]:
        """(file path, ETag) of a blob whose SAS (``se``, ``sig``) is valid at the emulator's time."""
        entry = self.blobs.get(blob_path)
        if entry is None:
            raise EmulatorError(404, "BlobNotFound", "The specified blob does not exist.")
        root_path = blob_path.rsplit("/", 1)[0]
        if not (expiry and hmac.compare_digest(signature, self._sign(root_path, expiry))):
            raise EmulatorError(403, "AuthenticationFailed", "Server failed to authenticate the request.")
        if expiry < fmt(self.backend.now()):
            raise EmulatorError(403, "AuthenticationFailed", "Signed expiry time has passed.")
        return entry

    # -- persistence ----------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        with self.lock:
            return {"secret": self.secret.hex(), "exports": [e.to_state() for e in self.exports.values()]}

    def load_state(self, doc: dict[str, Any] | None) -> None:
        """Restore saved exports; the blob files of finished ones are written again (same bytes and names)."""
        self.reset()
        if not doc:
            return
        self.secret = bytes.fromhex(doc["secret"])
        for saved in doc.get("exports", []):
            saved = dict(saved)
            names = saved.pop("blobNames", [])
            fault = saved.get("fault")
            export = Export(**{**saved, "fault": tuple(fault) if fault else None})
            self.exports[export.id] = export
            if names:
                self._start(export)
            else:
                export.done.set()


def _etag(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f'"0x{digest.hexdigest()[:16]}"'


def _faults_of(app: Any) -> Any:
    return app.state.emulator.faults


def fail_next_export(app: Any, *, code: str = "500", message: str = "Export failed (injected fault)",
                     count: int = 1) -> None:
    """Make the next ``count`` export operations end ``failed`` with ``{"code", "message"}`` (a ``fail_export``
    fault rule). ``app``: the emulator app (``EmulatorServer.app``). Code ``"5000"`` simulates "no data"."""
    _faults_of(app).add(action="fail_export", code=str(code), description=message, count=count)


def drop_blob(app: Any, *, after_bytes: int, count: int = 1) -> None:
    """Make the next ``count`` blob downloads close the connection after ``after_bytes`` bytes of the body (a
    ``drop_blob`` fault rule)."""
    _faults_of(app).add(action="drop_blob", after_bytes=int(after_bytes), count=count)
