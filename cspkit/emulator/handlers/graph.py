"""Microsoft Graph billing exports (``/v1.0|/beta/reports/partners/billing``) and the blob store (``/_blobs``)
over :class:`cspkit.emulator.graph.GraphExports`; faults come from the one fault engine."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from cspkit.emulator.http import backend_of, emulator_of
from cspkit.emulator.models import EmulatorError

_BILLING = "/reports/partners/billing"


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body).encode(), media_type="application/json", headers=headers)


def _denied(request: Request) -> Response | None:
    """Graph's 401 when the bearer token is missing or not one of the emulator's, else None."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if token in emulator_of(request).tokens:
        return None
    body = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty or not valid."}}
    return Response(json.dumps(body).encode(), status_code=401, media_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="cspkit-emulator-graph"'})


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads((await request.body()) or b"{}")
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


async def _request_export(request: Request, kind: str) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    body = await _body(request)
    export = backend_of(request).graph.request(kind, body, faults=emulator_of(request).faults)
    location = f"{str(request.base_url).rstrip('/')}/v1.0{_BILLING}/operations/{export.id}"
    return Response(status_code=202, headers={"Location": location, "Retry-After": "1"})


async def graph_export_reconciliation_billed(request: Request) -> Response:
    return await _request_export(request, "reconciliation/billed")


async def graph_export_reconciliation_unbilled(request: Request) -> Response:
    return await _request_export(request, "reconciliation/unbilled")


async def graph_export_usage_billed(request: Request) -> Response:
    return await _request_export(request, "usage/billed")


async def graph_export_usage_unbilled(request: Request) -> Response:
    return await _request_export(request, "usage/unbilled")


def graph_get_operation(request: Request, operation_id: str) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    status, body = backend_of(request).graph.poll(operation_id)
    if status in ("notStarted", "running"):
        return _json(body, headers={"Retry-After": "1"})
    if status == "succeeded":
        manifest = f"{str(request.base_url).rstrip('/')}/v1.0{_BILLING}/manifests/{operation_id}"
        body["resourceLocation@odata.navigationLink"] = manifest
    return _json(body)


def graph_get_manifest(request: Request, manifest_id: str) -> Response:
    if (denied := _denied(request)) is not None:
        return denied
    return _json(backend_of(request).graph.manifest(manifest_id, str(request.base_url).rstrip("/")))


# -- blob storage -----------------------------------------------------------------------------------------------


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


def _range(request: Request, size: int, etag: str) -> tuple[int, int, int] | Response:
    """(start, end, status) of the bytes asked for (Range or x-ms-range, honoured when If-Range still matches)."""
    wanted = request.headers.get("range") or request.headers.get("x-ms-range")
    if_range = request.headers.get("if-range")
    if not wanted or (if_range is not None and if_range != etag):
        return 0, size - 1, 200
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
    if match is None:
        return _storage_error(400, "InvalidRange", "The range specified is invalid.")
    start = int(match.group(1))
    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
    if start >= size or end < start:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    return start, end, 206


def _stream(path: str, start: int, end: int, drop_after: int | None) -> Iterator[bytes]:
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


def graph_get_blob(request: Request, blob_path: str) -> Response:
    params = request.query_params
    try:
        path, etag = backend_of(request).graph.blob(blob_path, expiry=params.get("se", ""),
                                                    signature=params.get("sig", ""))
    except EmulatorError as exc:
        return _storage_error(exc.status, exc.code, exc.description)
    size = os.path.getsize(path)
    span = _range(request, size, etag)
    if isinstance(span, Response):
        return span
    start, end, status = span
    headers = {"Content-Length": str(end - start + 1), "ETag": etag, "Accept-Ranges": "bytes",
               "x-ms-blob-type": "BlockBlob"}
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    faults = emulator_of(request).faults
    rule = faults.take("drop_blob")
    drop_after = rule.after_bytes if rule is not None else None
    if rule is not None:
        faults.record(rule.id, rule.action, fault="drop", blob=blob_path.rsplit("/", 1)[-1], afterBytes=drop_after,
                      rangeStart=start)
    return StreamingResponse(_stream(path, start, end, drop_after), status_code=status,
                             media_type="application/octet-stream", headers=headers)
