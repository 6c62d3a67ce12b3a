"""Billing data through Microsoft Graph's asynchronous exports (``pc.billing_exports``).

The replacement for Partner Center's v1 reconciliation line-item APIs (partner-center-api.md §6.2,
billing-formats.md §3.2). Four exports, one flow:

1. ``POST https://graph.microsoft.com/v1.0/reports/partners/billing/{reconciliation|usage}/{billed|unbilled}/export``
   (unbilled reconciliation is ``/beta``) → ``202 Accepted`` + ``Location: …/operations/{id}``;
2. poll ``GET …/operations/{id}`` honouring ``Retry-After`` until ``succeeded`` or ``failed`` (a failure with code
   ``5000`` "No data available" is an answer: nothing to export);
3. ``GET …/manifests/{id}`` → root directory, SAS token and blob names;
4. download every blob (``rootDirectory/name?sasToken``) in parallel and resumably, then stream the gzip JSON Lines
   into the reconciliation readers (:mod:`cspkit.billing.graph_export`).

Auth: a Graph token (scope ``https://graph.microsoft.com/.default``) with the application or delegated permission
``PartnerBilling.Read.All``. Blobs are fetched with their SAS token only — the bearer token never goes to blob
storage — and the SAS token never appears in logs, errors, output or files (URLs are printed with
:func:`~cspkit.models.billing_export.redact_url`).

Downloads are resumable: each blob goes to ``<name>.part`` and is renamed when complete; a sidecar ``<name>.ok``
(JSON: source URL without SAS, size, sha256) is written after the rename. A later run skips a blob whose file still
matches its sidecar. A connection dropped mid-blob is retried, continuing from the bytes already written with a
``Range`` request (``If-Range`` the first answer's ETag) when the server honours it, else from the start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import requests

from cspkit._version import __version__
from cspkit.errors import CspkitError
from cspkit.models.billing_export import (
    ATTRIBUTE_SETS,
    EXPORT_KINDS,
    ExportBlob,
    ExportManifest,
    ExportOperation,
    redact_url,
)

if TYPE_CHECKING:
    import pandas as pd

    from cspkit.billing.recon_readers import ReconFile
    from cspkit.client import PartnerCenter
    from cspkit.transport import Transport

__all__ = [
    "GRAPH_SCOPE",
    "BillingExportError",
    "BillingExports",
    "BlobProgress",
    "DownloadedBlob",
    "ExportResult",
]

log = logging.getLogger("cspkit.billing_exports")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_BASE = "reports/partners/billing"
_PATHS = {
    "billed-reconciliation": ("v1.0", f"{_BASE}/reconciliation/billed/export"),
    "unbilled-reconciliation": ("beta", f"{_BASE}/reconciliation/unbilled/export"),
    "billed-usage": ("v1.0", f"{_BASE}/usage/billed/export"),
    "unbilled-usage": ("v1.0", f"{_BASE}/usage/unbilled/export"),
}
_BILLING_PERIODS = ("current", "last")
_CHUNK = 1 << 20
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


_SAS_QUERY = re.compile(r"\?[^\s\"']*\bsig=[^\s\"']*")


class _RedactSas(logging.Filter):
    """Removes SAS query strings from log lines (urllib3 logs request lines at DEBUG with ``--debug``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        if "sig=" in message:
            record.msg, record.args = _SAS_QUERY.sub("?<redacted>", message), None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactSas())


class BillingExportError(CspkitError):
    """A Graph billing export could not be completed.

    Attributes:
        operation_id: the export operation, when one was created.
        code, description: the operation's error (``failed`` other than "no data"), when that is the cause.
        blob: the blob name, for a download failure.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        operation_id: str | None = None,
        code: str | None = None,
        description: str | None = None,
        blob: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.operation_id = operation_id
        self.code = code
        self.description = description
        self.blob = blob


@dataclass(frozen=True)
class BlobProgress:
    """A progress report for one blob (called from download threads).

    Attributes:
        name: blob name.
        done: bytes on disk so far.
        total: the blob's size in bytes when known (Content-Length / Content-Range), else None.
        status: ``"start"``, ``"bytes"``, ``"retry"``, ``"done"`` or ``"skipped"`` (already downloaded and verified).
    """

    name: str
    done: int
    total: int | None
    status: str


@dataclass
class DownloadedBlob:
    """One blob on disk.

    Attributes:
        name: blob name (as in the manifest). path: the file. size: bytes. sha256: hex digest of the file.
        skipped: True when an earlier run had already downloaded and verified it.
        attempts: HTTP requests made for it (0 when skipped). resumed: True when a Range request continued it.
    """

    name: str
    path: Path
    size: int
    sha256: str
    skipped: bool = False
    attempts: int = 0
    resumed: bool = False


@dataclass
class ExportResult:
    """What an export run produced.

    Attributes:
        kind: ``billed-reconciliation``, ``unbilled-reconciliation``, ``billed-usage`` or ``unbilled-usage``.
        operation: the final operation.
        manifest: the manifest (None when there was no data).
        blobs: the downloaded blobs, in manifest order.
        out_dir: the folder holding the blobs and ``manifest.json`` (SAS token redacted).
        no_data: True when Graph answered "No data available" (code 5000): an empty result, not an error.
    """

    kind: str
    operation: ExportOperation
    manifest: ExportManifest | None = None
    blobs: list[DownloadedBlob] = field(default_factory=list)
    out_dir: Path | None = None
    no_data: bool = False

    @property
    def paths(self) -> list[Path]:
        """The blob files, in manifest order."""
        return [b.path for b in self.blobs]

    @property
    def recon_kind(self) -> str:
        """``"invoice"`` for the reconciliation exports, ``"daily"`` for the usage exports (reader kinds)."""
        return "invoice" if EXPORT_KINDS[self.kind][0] == "reconciliation" else "daily"

    def read(self) -> ReconFile:
        """Read every blob into one typed frame (:func:`cspkit.billing.graph_export.read_export`)."""
        from cspkit.billing.graph_export import read_export

        return read_export(self.paths, kind=self.recon_kind)

    def iter_frames(self, *, chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
        """Typed DataFrame chunks of at most ``chunk_rows`` rows, streamed (constant memory)."""
        from cspkit.billing.graph_export import iter_export_frames

        return iter_export_frames(self.paths, kind=self.recon_kind, chunk_rows=chunk_rows)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(str(value).strip()))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(str(value)).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _safe_relative(name: str) -> Path:
    """A blob name as a relative path that cannot leave the output folder."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or any(p == ".." for p in parts):
        raise BillingExportError(f"the manifest names a blob {name!r} that is not a plain relative path")
    return Path(*parts)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class _Dropped(Exception):
    """A blob response ended early (connection dropped, short body); ``written`` = bytes now in the .part file."""

    def __init__(self, message: str, written: int) -> None:
        super().__init__(message)
        self.written = written


class BillingExports:
    """Microsoft Graph partner billing exports: billed/unbilled reconciliation and daily rated usage.

    Reached as ``pc.billing_exports``. Uses its own transport for Graph (token audience
    ``https://graph.microsoft.com/.default``, permission ``PartnerBilling.Read.All``) built from
    ``pc.settings.graph_endpoint`` (the emulator's URL when it is the target).

    Args:
        pc: the :class:`~cspkit.client.PartnerCenter` client.
        workers: parallel blob downloads (a small pool; default 4).
        max_blob_attempts: HTTP attempts per blob before giving up (a dropped connection counts as one).
        poll_interval: seconds between polls when the service sends no ``Retry-After``.
        max_wait: seconds of polling allowed before :class:`BillingExportError` (the service keeps the operation).
    Doc: https://learn.microsoft.com/graph/api/resources/partners-billing-api-overview (billing-formats.md §3.2).
    """

    def __init__(
        self,
        pc: PartnerCenter,
        *,
        workers: int = 4,
        max_blob_attempts: int = 5,
        poll_interval: float = 5.0,
        max_wait: float = 3600.0,
    ) -> None:
        self._pc = pc
        self._transport: Transport | None = None
        self._lock = threading.Lock()
        self.workers = max(1, workers)
        self.max_blob_attempts = max(1, max_blob_attempts)
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    # -- plumbing ----------------------------------------------------------------------------------------------
    @property
    def transport(self) -> Transport:
        """The Graph transport (``{graph_endpoint}/v1.0``), built on first use."""
        with self._lock:
            if self._transport is None:
                self._transport = self._pc.transport_for(
                    self._pc.settings.graph_endpoint, scopes=[GRAPH_SCOPE], api_prefix="v1.0"
                )
            return self._transport

    def _sleep(self, seconds: float) -> None:
        sleep = getattr(self.transport, "_sleep", None) or time.sleep
        sleep(seconds)

    def _session(self) -> requests.Session:
        """A plain session per download thread (no bearer token: blob storage gets the SAS token only)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"User-Agent": f"cspkit/{__version__}"})
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close the Graph transport and the blob download sessions."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            transport, self._transport = self._transport, None
        for session in sessions:
            session.close()
        if transport is not None:
            transport.close()

    # -- 1. request --------------------------------------------------------------------------------------------
    def request_export(
        self,
        kind: str,
        *,
        invoice_id: str | None = None,
        currency_code: str | None = None,
        billing_period: str = "current",
        attribute_set: str = "full",
    ) -> ExportOperation:
        """Start one of the four exports (``POST …/export``; answer ``202`` + ``Location``).

        Args:
            kind: ``billed-reconciliation``, ``unbilled-reconciliation``, ``billed-usage`` or ``unbilled-usage``.
            invoice_id: the invoice (``G016907411``) for the billed exports.
            currency_code: ISO 4217 code (``USD``) for the unbilled exports.
            billing_period: ``current`` or ``last`` for the unbilled exports.
            attribute_set: ``full`` (every column) or ``basic`` (the subset marked B in billing-formats.md §1.1).
        Returns:
            :class:`ExportOperation` with ``id``/``location`` (status ``notStarted``).
        Raises:
            ValueError: a missing or unknown argument.
            APIStatusError subclass: Graph refused the request (403 without ``PartnerBilling.Read.All``...).
            BillingExportError: the 202 answer had no ``Location`` header.
        Doc: partners-billing-billedreconciliation-export, -unbilledreconciliation-export (beta),
            -billedusage-export, -unbilledusage-export.
        """
        if kind not in _PATHS:
            raise ValueError(f"unknown export kind {kind!r}: one of {', '.join(_PATHS)}")
        attribute_set = attribute_set.lower()
        if attribute_set not in ATTRIBUTE_SETS:
            raise ValueError(f"attribute_set must be 'full' or 'basic', not {attribute_set!r}")
        billed = EXPORT_KINDS[kind][1]
        body: dict[str, Any]
        if billed:
            if not invoice_id or not str(invoice_id).strip():
                raise ValueError(f"the {kind} export needs an invoice id")
            body = {"invoiceId": str(invoice_id).strip(), "attributeSet": attribute_set}
        else:
            if not currency_code or not re.fullmatch(r"[A-Za-z]{3}", currency_code.strip()):
                raise ValueError(f"the {kind} export needs a 3-letter currency code, not {currency_code!r}")
            period = billing_period.lower()
            if period == "previous":
                period = "last"
            if period not in _BILLING_PERIODS:
                raise ValueError(f"billing_period must be 'current' or 'last', not {billing_period!r}")
            body = {"currencyCode": currency_code.strip().upper(), "billingPeriod": period,
                    "attributeSet": attribute_set}
        version, path = _PATHS[kind]
        transport = self.transport
        target = path if version == "v1.0" else f"{transport.base_url}/{version}/{path}"
        response = transport.request("POST", target, json=body)
        location = response.headers.get("Location") or response.headers.get("Operation-Location")
        payload = response.json if isinstance(response.json, dict) else {}
        if not location:
            raise BillingExportError(
                f"Graph accepted the {kind} export (HTTP {response.status_code}) but sent no Location header",
                hint="Retry later; if it persists, report it with the request id "
                f"{response.request_id}.",
            )
        operation = ExportOperation.model_validate(payload) if payload else ExportOperation()
        operation.location = location
        operation.id = operation.id or location.rstrip("/").rsplit("/", 1)[-1]
        operation.retry_after = _retry_after(response.headers)
        log.info("export %s requested: operation %s", kind, operation.id)
        return operation

    # -- 2. poll -----------------------------------------------------------------------------------------------
    def get_operation(self, operation: str | ExportOperation) -> ExportOperation:
        """Read an export operation (``GET /reports/partners/billing/operations/{id}``).

        Args:
            operation: an :class:`ExportOperation`, its ``Location`` URL or its id.
        Returns:
            :class:`ExportOperation` with ``retry_after`` from the answer's header.
        Raises:
            APIStatusError subclass (NotFoundError for an unknown id).
        Doc: partners-billing-operation-get.
        """
        if isinstance(operation, ExportOperation):
            target = operation.location or f"{_BASE}/operations/{operation.id}"
        elif operation.startswith(("http://", "https://")):
            target = operation
        else:
            target = f"{_BASE}/operations/{operation}"
        response = self.transport.request("GET", target)
        result = ExportOperation.model_validate(response.json if isinstance(response.json, dict) else {})
        result.retry_after = _retry_after(response.headers)
        result.location = target if target.startswith("http") else response.url or target
        result.id = result.id or target.rstrip("/").rsplit("/", 1)[-1]
        return result

    def wait(
        self,
        operation: ExportOperation,
        *,
        on_status: Callable[[ExportOperation], None] | None = None,
        max_wait: float | None = None,
    ) -> ExportOperation:
        """Poll until the operation is ``succeeded`` or ``failed``, sleeping as ``Retry-After`` asks.

        Args:
            operation: from :meth:`request_export`.
            on_status: called with each polled operation (progress display).
            max_wait: seconds of sleeping allowed (default ``self.max_wait``).
        Returns:
            the finished operation: ``succeeded`` (``resource_location`` set) or ``failed`` with code 5000
            (``no_data`` True).
        Raises:
            BillingExportError: the operation failed for another reason, or is still running after ``max_wait``.
        """
        limit = self.max_wait if max_wait is None else max_wait
        waited = 0.0
        current = operation
        while not current.done:
            delay = current.retry_after if current.retry_after is not None else self.poll_interval
            if waited + delay > limit:
                raise BillingExportError(
                    f"export operation {operation.id} is still {current.status} after {waited:g} s of waiting",
                    hint="Graph keeps the operation: try again later with the same command.",
                    operation_id=operation.id,
                )
            if delay > 0:
                self._sleep(delay)
            waited += delay
            current = self.get_operation(operation)
            if on_status is not None:
                on_status(current)
        if current.status.lower() == "failed" and not current.no_data:
            code = current.error.code if current.error else None
            message = current.error.message if current.error else None
            raise BillingExportError(
                f"export operation {current.id} failed"
                + (f" (code {code})" if code else "") + (f": {message}" if message else ""),
                hint="Request the export again; if it keeps failing, report the operation id to Microsoft.",
                operation_id=current.id,
                code=code,
                description=message,
            )
        if current.succeeded and not current.resource_location:
            raise BillingExportError(
                f"export operation {current.id} succeeded without a manifest location",
                operation_id=current.id,
            )
        return current

    # -- 3. manifest -------------------------------------------------------------------------------------------
    def get_manifest(self, manifest: str | ExportOperation) -> ExportManifest:
        """Read an export's manifest (``GET /reports/partners/billing/manifests/{id}``).

        Args:
            manifest: a succeeded :class:`ExportOperation`, the manifest URL or its id.
        Returns:
            :class:`ExportManifest` (root directory, SAS token, blobs).
        Raises:
            APIStatusError subclass; BillingExportError when the manifest lists no blobs but claims some.
        Doc: partners-billing-manifest-get.
        """
        if isinstance(manifest, ExportOperation):
            if not manifest.resource_location:
                raise BillingExportError(f"operation {manifest.id} has no manifest yet (status {manifest.status})")
            target = manifest.resource_location
        elif manifest.startswith(("http://", "https://")):
            target = manifest
        else:
            target = f"{_BASE}/manifests/{manifest}"
        response = self.transport.request("GET", target)
        result = ExportManifest.model_validate(response.json if isinstance(response.json, dict) else {})
        if result.blob_count is not None and result.blob_count != len(result.blobs):
            raise BillingExportError(
                f"manifest {result.id} says blobCount {result.blob_count} but lists {len(result.blobs)} blob(s)",
                hint="Request the export again.",
            )
        if result.blobs and not result.root_directory:
            raise BillingExportError(f"manifest {result.id} lists blobs without a rootDirectory")
        return result

    # -- 4. blobs ----------------------------------------------------------------------------------------------
    def download(
        self,
        manifest: ExportManifest,
        out_dir: str | os.PathLike[str],
        *,
        progress: Callable[[BlobProgress], None] | None = None,
        workers: int | None = None,
    ) -> list[DownloadedBlob]:
        """Download every blob of ``manifest`` into ``out_dir``, in parallel and resumably.

        Each blob is written to ``<name>.part``, renamed to ``<name>`` when complete, then a sidecar
        ``<name>.ok`` (size, sha256, source URL without SAS) is written; blobs whose file matches its sidecar are
        skipped. ``manifest.json`` (SAS token redacted) is written too.

        Args:
            manifest: from :meth:`get_manifest`.
            out_dir: destination folder (created).
            progress: called with :class:`BlobProgress` reports (from worker threads).
            workers: parallel downloads (default ``self.workers``).
        Returns:
            one :class:`DownloadedBlob` per blob, in manifest order.
        Raises:
            BillingExportError: a blob could not be downloaded after ``max_blob_attempts`` (403: the SAS token
                expired — request the export again), or a file could not be written.
        """
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(folder / "manifest.json", manifest.to_wire_redacted())
        if not manifest.blobs:
            return []
        pool_size = max(1, min(workers or self.workers, len(manifest.blobs)))
        if pool_size == 1:
            return [self._download_blob(manifest, blob, folder, progress) for blob in manifest.blobs]
        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="cspkit-blob") as pool:
            futures = [pool.submit(self._download_blob, manifest, blob, folder, progress) for blob in manifest.blobs]
            results = []
            first_error: BaseException | None = None
            for future in futures:
                try:
                    results.append(future.result())
                except BaseException as exc:  # noqa: BLE001 - the others finish; the first error is raised
                    first_error = first_error or exc
            if first_error is not None:
                raise first_error
            return results

    def _download_blob(
        self,
        manifest: ExportManifest,
        blob: ExportBlob,
        folder: Path,
        progress: Callable[[BlobProgress], None] | None,
    ) -> DownloadedBlob:
        relative = _safe_relative(blob.name)
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        sidecar = target.with_name(target.name + ".ok")
        part = target.with_name(target.name + ".part")
        source = manifest.blob_source(blob)
        shown = redact_url(source)
        report = progress or (lambda event: None)

        verified = self._verified(target, sidecar, source)
        if verified is not None:
            report(BlobProgress(blob.name, verified.size, verified.size, "skipped"))
            log.info("blob %s already downloaded and verified: skipped", shown)
            verified.name = blob.name
            return verified

        url = manifest.blob_url(blob)
        digest = hashlib.sha256()
        written = 0
        total: int | None = None
        etag: str | None = None
        resumed = False
        attempts = 0
        part.unlink(missing_ok=True)  # a .part from an earlier run has no provenance: start afresh
        report(BlobProgress(blob.name, 0, None, "start"))
        last_problem = ""
        while True:
            attempts += 1
            headers = {"x-ms-version": "2021-08-06"}
            if written:
                headers["Range"] = f"bytes={written}-"
                if etag:
                    headers["If-Range"] = etag
            try:
                response = self._session().get(url, headers=headers, stream=True, timeout=(10, 120))
            except requests.exceptions.RequestException as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
                response = None
            if response is not None:
                with response:
                    status = response.status_code
                    if status in (200, 206):
                        start = 0
                        if status == 206:
                            match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
                            if match is None or int(match.group(1)) != written:
                                start = -1
                            else:
                                if match.group(3) != "*":
                                    total = int(match.group(3))
                                resumed = True
                                start = written
                        if start != written:  # a full body (200), or a range we did not ask for
                            written, digest = 0, hashlib.sha256()
                            length = response.headers.get("Content-Length")
                            total = int(length) if status == 200 and length and length.isdigit() else total
                        etag = response.headers.get("ETag") or etag
                        try:
                            written = self._append(response, part, written, digest, blob.name, total, report)
                        except _Dropped as exc:
                            written = exc.written
                            last_problem = str(exc)
                        else:
                            if total is None or written == total:
                                break
                            last_problem = f"got {written} of {total} bytes"
                    elif status == 416 and total is not None and written == total:
                        break
                    elif status in _RETRY_STATUSES:
                        last_problem = f"HTTP {status}"
                        wait = _retry_after(response.headers)
                        if wait and attempts < self.max_blob_attempts:
                            self._sleep(min(wait, 60.0))
                    else:
                        hint = ("The SAS token may have expired: request the export again."
                                if status in (401, 403) else "Request the export again.")
                        raise BillingExportError(
                            f"downloading blob {shown} failed: HTTP {status}", hint=hint, blob=blob.name
                        )
            if attempts >= self.max_blob_attempts:
                raise BillingExportError(
                    f"downloading blob {shown} failed after {attempts} attempts: {last_problem}",
                    hint="Run the same command again: blobs already downloaded are kept and skipped.",
                    blob=blob.name,
                )
            log.info("blob %s: %s; retrying (attempt %d)", shown, last_problem, attempts + 1)
            report(BlobProgress(blob.name, written, total, "retry"))
            self._sleep(min(0.5 * 2 ** (attempts - 1), 8.0))

        sha = digest.hexdigest()
        os.replace(part, target)
        _write_json_atomic(sidecar, {
            "name": blob.name,
            "source": source,
            "size": written,
            "sha256": sha,
            "etag": etag,
            "downloadedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        })
        report(BlobProgress(blob.name, written, written, "done"))
        return DownloadedBlob(blob.name, target, written, sha, attempts=attempts, resumed=resumed)

    @staticmethod
    def _append(
        response: requests.Response,
        part: Path,
        offset: int,
        digest: Any,
        name: str,
        total: int | None,
        report: Callable[[BlobProgress], None],
    ) -> int:
        """Write the body to ``part`` from ``offset``; returns the bytes on disk. Raises _Dropped when cut short."""
        written = offset
        mode = "r+b" if offset and part.exists() else "wb"
        with open(part, mode) as fh:
            fh.seek(offset)
            fh.truncate()
            try:
                raw = response.raw
                # read1 hands over whatever arrived, so bytes received before a drop are kept for the Range resume
                read = (lambda: raw.read1(_CHUNK, decode_content=False)) if hasattr(raw, "read1") else (
                    lambda: raw.read(_CHUNK, decode_content=False))
                while True:
                    chunk = read()
                    if not chunk:
                        break
                    fh.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    report(BlobProgress(name, written, total, "bytes"))
            except Exception as exc:  # urllib3 ProtocolError/IncompleteRead, ReadTimeout, reset...
                fh.flush()
                raise _Dropped(f"connection dropped after {written} bytes ({type(exc).__name__})", written) from None
        return written

    @staticmethod
    def _verified(target: Path, sidecar: Path, source: str) -> DownloadedBlob | None:
        """The blob as already on disk when its sidecar matches the file (size and sha256) and the source."""
        if not (target.is_file() and sidecar.is_file()):
            return None
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            size, sha = int(meta["size"]), str(meta["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if meta.get("source") != source or target.stat().st_size != size or _sha256_file(target) != sha:
            return None
        return DownloadedBlob(target.name, target, size, sha, skipped=True)

    # -- the whole flow ----------------------------------------------------------------------------------------
    def export(
        self,
        kind: str,
        *,
        out_dir: str | os.PathLike[str],
        invoice_id: str | None = None,
        currency_code: str | None = None,
        billing_period: str = "current",
        attribute_set: str = "full",
        on_status: Callable[[ExportOperation], None] | None = None,
        progress: Callable[[BlobProgress], None] | None = None,
    ) -> ExportResult:
        """Request an export, wait for it, read the manifest and download every blob into ``out_dir``.

        Args: as :meth:`request_export`, plus ``out_dir`` (the blob folder), ``on_status`` (each poll) and
            ``progress`` (blob reports).
        Returns:
            :class:`ExportResult`; ``no_data`` True (and no blobs) when Graph has no data for the request.
        Raises:
            BillingExportError, APIStatusError subclasses (see the steps).
        """
        operation = self.request_export(
            kind, invoice_id=invoice_id, currency_code=currency_code, billing_period=billing_period,
            attribute_set=attribute_set,
        )
        if on_status is not None:
            on_status(operation)
        final = self.wait(operation, on_status=on_status)
        if final.no_data:
            return ExportResult(kind, final, out_dir=Path(out_dir), no_data=True)
        manifest = self.get_manifest(final)
        blobs = self.download(manifest, out_dir, progress=progress)
        return ExportResult(kind, final, manifest, blobs, Path(out_dir))

    def export_billed_reconciliation(self, invoice_id: str, *, out_dir: str | os.PathLike[str],
                                     attribute_set: str = "full", **kwargs: Any) -> ExportResult:
        """Billed invoice reconciliation export of ``invoice_id`` (see :meth:`export`)."""
        return self.export("billed-reconciliation", out_dir=out_dir, invoice_id=invoice_id,
                           attribute_set=attribute_set, **kwargs)

    def export_unbilled_reconciliation(self, currency_code: str, *, out_dir: str | os.PathLike[str],
                                       billing_period: str = "current", attribute_set: str = "full",
                                       **kwargs: Any) -> ExportResult:
        """Unbilled reconciliation export (Graph beta) of ``currency_code`` for ``current``/``last`` period."""
        return self.export("unbilled-reconciliation", out_dir=out_dir, currency_code=currency_code,
                           billing_period=billing_period, attribute_set=attribute_set, **kwargs)

    def export_billed_usage(self, invoice_id: str, *, out_dir: str | os.PathLike[str],
                            attribute_set: str = "full", **kwargs: Any) -> ExportResult:
        """Billed daily rated usage export of ``invoice_id`` (see :meth:`export`)."""
        return self.export("billed-usage", out_dir=out_dir, invoice_id=invoice_id,
                           attribute_set=attribute_set, **kwargs)

    def export_unbilled_usage(self, currency_code: str, *, out_dir: str | os.PathLike[str],
                              billing_period: str = "current", attribute_set: str = "full",
                              **kwargs: Any) -> ExportResult:
        """Unbilled daily rated usage export of ``currency_code`` for ``current``/``last`` period."""
        return self.export("unbilled-usage", out_dir=out_dir, currency_code=currency_code,
                           billing_period=billing_period, attribute_set=attribute_set, **kwargs)
