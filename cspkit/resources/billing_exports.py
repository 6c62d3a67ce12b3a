"""Billing data through Microsoft Graph's asynchronous exports (``pc.billing_exports``).

The replacement for Partner Center's v1 reconciliation line-item APIs (partner-center-api.md §6.2,
billing-formats.md §3.2). Four exports, one flow:

1. ``POST https://graph.microsoft.com/v1.0/reports/partners/billing/{reconciliation|usage}/{billed|unbilled}/export``
   (unbilled reconciliation is ``/beta``) → ``202 Accepted`` + ``Location: …/operations/{id}``;
2. poll ``GET …/operations/{id}`` honouring ``Retry-After`` until ``succeeded`` or ``failed`` (a failure with code
   ``5000`` "No data available" is an answer: nothing to export);
3. ``GET …/manifests/{id}`` → root directory, SAS token and blob names;
4. download every blob (``rootDirectory/name?sasToken``) in parallel and resumably
   (:mod:`cspkit.resources.blob_download`, under the transport's :class:`~cspkit.retry.RetryPolicy`); the gzip JSON
   Lines are read by :mod:`cspkit.billing.graph_export` (pure parsing: no HTTP).

Auth: a Graph token (scope ``https://graph.microsoft.com/.default``) with the application or delegated permission
``PartnerBilling.Read.All``. Blobs are fetched with their SAS token only — the bearer token never goes to blob
storage — and the SAS token never appears in logs, errors, output or files (URLs are printed with
:func:`~cspkit.models.billing_export.redact_url`).

Like every resource it works over a :class:`~cspkit.transport.Transport` — the Graph one
(``PartnerCenter.transport_for(graph_endpoint, scopes=[GRAPH_SCOPE], api_prefix="v1.0")``), built on first use.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cspkit.models.billing_export import (
    ATTRIBUTE_SETS,
    EXPORT_KINDS,
    ExportManifest,
    ExportOperation,
)
from cspkit.resources.blob_download import BillingExportError, BlobDownloader, BlobProgress, DownloadedBlob
from cspkit.retry import retry_after

if TYPE_CHECKING:
    import pandas as pd

    from cspkit.billing.recon_readers import ReconFile
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
        """Read every blob into one typed frame (:func:`cspkit.billing.graph_export.read_export`, block reader)."""
        from cspkit.billing.graph_export import read_export

        return read_export(self.paths, kind=self.recon_kind)

    def iter_frames(self, *, chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
        """Typed DataFrame chunks of at most ``chunk_rows`` rows, streamed (constant memory)."""
        from cspkit.billing.graph_export import iter_export_frames

        return iter_export_frames(self.paths, kind=self.recon_kind, chunk_rows=chunk_rows)


class BillingExports:
    """Microsoft Graph partner billing exports: billed/unbilled reconciliation and daily rated usage.

    Reached as ``pc.billing_exports``, over the Graph transport (token audience
    ``https://graph.microsoft.com/.default``, permission ``PartnerBilling.Read.All``) that the client builds from
    ``settings.graph_endpoint`` (the emulator's URL when it is the target).

    Args:
        transport: a :class:`~cspkit.transport.Transport` for Graph with ``api_prefix="v1.0"``, or a zero-argument
            callable returning one (built on first use, so no Graph token is asked for until then; closed by
            :meth:`close`). Its :class:`~cspkit.retry.RetryPolicy` and sleep also govern the blob downloads.
        workers: parallel blob downloads (a small pool; default 4).
        max_blob_attempts: HTTP attempts per blob before giving up (a dropped connection counts as one); None: the
            policy's ``max_attempts``.
        poll_interval: seconds between polls when the service sends no ``Retry-After``.
        max_wait: seconds of polling allowed before :class:`BillingExportError` (the service keeps the operation).
    Doc: https://learn.microsoft.com/graph/api/resources/partners-billing-api-overview (billing-formats.md §3.2).
    """

    def __init__(
        self,
        transport: Transport | Callable[[], Transport],
        *,
        workers: int = 4,
        max_blob_attempts: int | None = None,
        poll_interval: float = 5.0,
        max_wait: float = 3600.0,
    ) -> None:
        self._factory: Callable[[], Transport] | None = None
        self._transport: Transport | None = None
        if callable(transport) and not hasattr(transport, "request"):
            self._factory = transport
        else:
            self._transport = transport  # type: ignore[assignment]
        self._lock = threading.Lock()
        self.workers = max(1, workers)
        self.max_blob_attempts = max(1, max_blob_attempts) if max_blob_attempts is not None else None
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self._blobs: BlobDownloader | None = None

    # -- plumbing ----------------------------------------------------------------------------------------------
    @property
    def transport(self) -> Transport:
        """The Graph transport (``{graph_endpoint}/v1.0``), built on first use."""
        with self._lock:
            if self._transport is None:
                assert self._factory is not None
                self._transport = self._factory()
            return self._transport

    def _sleep(self, seconds: float) -> None:
        self.transport.sleep(seconds)

    def _downloader(self) -> BlobDownloader:
        """The blob downloader, under the transport's retry policy (``max_blob_attempts`` overriding its attempts)."""
        policy = self.transport.retry
        if self.max_blob_attempts is not None:
            policy = replace(policy, max_attempts=self.max_blob_attempts)
        with self._lock:
            if self._blobs is None:
                self._blobs = BlobDownloader(retry=policy, sleep=self._sleep)
            self._blobs.retry, self._blobs.sleep = policy, self._sleep
            return self._blobs

    def close(self) -> None:
        """Close the blob download sessions, and the Graph transport when it was built here."""
        with self._lock:
            blobs, self._blobs = self._blobs, None
            transport = self._transport if self._factory is not None else None
            if transport is not None:
                self._transport = None
        if blobs is not None:
            blobs.close()
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
        operation.retry_after = retry_after(response.headers)
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
        result.retry_after = retry_after(response.headers)
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
        return self._downloader().download(manifest, out_dir, progress=progress, workers=workers or self.workers)

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
