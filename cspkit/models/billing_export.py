"""Microsoft Graph partner billing exports: the operation, the manifest and its blobs.

Wire shapes (billing-formats.md §3.2; partner-center-api.md §6.2; Graph ``partners-billing-operation``,
``partners-billing-manifest``, ``partners-billing-blob``):

* operation: ``{"id", "status": "notStarted"|"running"|"succeeded"|"failed", "createdDateTime",
  "lastActionDateTime", "@odata.type"}``; on success ``"resourceLocation@odata.navigationLink": ".../manifests/{id}"``
  (``#microsoft.graph.partners.billing.exportSuccessOperation``), on failure ``"error": {"code": "5000",
  "message": "No data available"}`` (``failedOperation``);
* manifest: ``{"id", "schemaVersion", "dataFormat": "compressedJSON"|"compressedJSONLines", "createdDateTime",
  "eTag", "partnerTenantId", "rootDirectory", "sasToken", "partitionType", "blobCount",
  "blobs": [{"name", "partitionValue"}]}``.

The SAS token is a credential: it is excluded from ``repr`` and from :meth:`ExportManifest.to_wire_redacted`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from cspkit.models.base import PCModel, UtcDateTime

__all__ = [
    "ATTRIBUTE_SETS",
    "EXPORT_KINDS",
    "NO_DATA_CODE",
    "OPERATION_STATUSES",
    "ExportBlob",
    "ExportError",
    "ExportManifest",
    "ExportOperation",
    "redact_url",
]

#: ``status`` values of a Graph billing operation.
OPERATION_STATUSES = ("notStarted", "running", "succeeded", "failed")
#: Graph ``attributeSet`` values.
ATTRIBUTE_SETS = ("full", "basic")
#: The error code of a failed operation meaning "No data available" — an answer, not a failure.
NO_DATA_CODE = "5000"
#: The four exports: kind → (what, billed?).
EXPORT_KINDS = {
    "billed-reconciliation": ("reconciliation", True),
    "unbilled-reconciliation": ("reconciliation", False),
    "billed-usage": ("usage", True),
    "unbilled-usage": ("usage", False),
}


def redact_url(url: str) -> str:
    """A URL safe to print: the query string (a SAS token) replaced by ``?<redacted>``."""
    head, sep, _ = url.partition("?")
    return head + ("?<redacted>" if sep else "")


class ExportError(PCModel):
    """``error`` of a failed operation: ``code`` (string, ``"5000"`` = no data available) and ``message``."""

    code: Annotated[str | None, BeforeValidator(lambda v: str(v) if v is not None else None)] = None
    message: str | None = None


class ExportOperation(PCModel):
    """A long-running export operation (``GET /reports/partners/billing/operations/{id}``).

    Attributes:
        id: operation id.
        status: ``notStarted``, ``running``, ``succeeded`` or ``failed`` (kept as sent).
        resource_location: the manifest URL once ``succeeded``.
        error: the failure (``code``, ``message``) once ``failed``.
        retry_after: seconds the service asked us to wait before polling again (from the response header).
        location: the operation URL polled (from the POST's ``Location`` header).
    """

    id: str | None = None
    status: str = "notStarted"
    created_date_time: UtcDateTime | None = None
    last_action_date_time: UtcDateTime | None = None
    odata_type: str | None = Field(default=None, alias="@odata.type")
    resource_location: str | None = Field(default=None, alias="resourceLocation@odata.navigationLink")
    error: ExportError | None = None
    retry_after: float | None = Field(default=None, exclude=True)
    location: str | None = Field(default=None, exclude=True)

    @property
    def done(self) -> bool:
        """True once the operation ``succeeded`` or ``failed``."""
        return self.status.lower() in ("succeeded", "failed")

    @property
    def succeeded(self) -> bool:
        return self.status.lower() == "succeeded"

    @property
    def no_data(self) -> bool:
        """True when the operation failed with code 5000 "No data available" (nothing to export)."""
        return self.status.lower() == "failed" and self.error is not None and self.error.code == NO_DATA_CODE


class ExportBlob(PCModel):
    """One blob of a manifest: ``name`` (relative to the root directory) and its ``partitionValue``."""

    name: str
    partition_value: str | None = None


class ExportManifest(PCModel):
    """The manifest of a finished export (``GET /reports/partners/billing/manifests/{id}``).

    Attributes:
        root_directory: blob container folder (``https://….blob.core.windows.net/…/PartitionType=default``).
        sas_token: the shared access signature appended to each blob URL (a secret: never printed).
        blobs: the blobs, in order; several may share one ``partition_value``.
        data_format: ``compressedJSON`` or ``compressedJSONLines`` (the docs disagree, §6.5): gzip JSON Lines.
    """

    id: str | None = None
    schema_version: str | None = None
    data_format: str | None = None
    created_date_time: UtcDateTime | None = None
    e_tag: str | None = None
    partner_tenant_id: str | None = None
    root_directory: str = ""
    sas_token: str | None = Field(default=None, repr=False)
    partition_type: str | None = None
    blob_count: int | None = None
    blobs: list[ExportBlob] = []

    def blob_url(self, blob: ExportBlob) -> str:
        """The download URL of ``blob``: ``rootDirectory/name?sasToken`` (contains the secret SAS token)."""
        url = self.root_directory.rstrip("/") + "/" + blob.name.lstrip("/")
        token = (self.sas_token or "").lstrip("?")
        return f"{url}?{token}" if token else url

    def blob_source(self, blob: ExportBlob) -> str:
        """The blob's URL without the SAS token (safe to print and to store)."""
        return self.root_directory.rstrip("/") + "/" + blob.name.lstrip("/")

    def to_wire_redacted(self) -> dict[str, Any]:
        """The wire shape with ``sasToken`` replaced by ``"<redacted>"`` (for files and output)."""
        wire = self.to_wire()
        if "sasToken" in wire:
            wire["sasToken"] = "<redacted>"
        return wire
