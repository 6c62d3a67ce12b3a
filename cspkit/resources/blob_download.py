"""Downloading the blobs of a Graph billing export: in parallel, resumably, under the one retry policy.

Step 4 of the export flow (billing-formats.md §3.2; Graph ``partners-billing-blob``): every blob is fetched from
``rootDirectory/name?sasToken`` with the SAS token only — the bearer token never goes to blob storage — and the SAS
token never appears in logs, errors, output or files (URLs are shown with
:func:`~cspkit.models.billing_export.redact_url`).

Resumable: each blob goes to ``<name>.part`` and is renamed when complete; a sidecar ``<name>.ok`` (JSON: source URL
without SAS, size, sha256) is written after the rename. A later run skips a blob whose file still matches its
sidecar. A connection dropped mid-blob is retried, continuing from the bytes already written with a ``Range``
request (``If-Range`` the first answer's ETag) when the server honours it, else from the start.

Retries follow :class:`cspkit.retry.RetryPolicy` — the transport's own policy: the same retryable statuses
(408, 429, 5xx), dropped connections, the same jittered capped back-off raised to the server's ``Retry-After``
(Azure Storage sends it on 503 "Server Busy"), and the same total wait budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import requests

from cspkit._version import __version__
from cspkit.errors import CspkitError
from cspkit.models.billing_export import ExportBlob, ExportManifest, redact_url
from cspkit.retry import RetryPolicy, retry_after

__all__ = ["BillingExportError", "BlobDownloader", "BlobProgress", "DownloadedBlob"]

log = logging.getLogger("cspkit.billing_exports")

_CHUNK = 1 << 20
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


class _Dropped(Exception):
    """A blob response ended early (connection dropped, short body); ``written`` = bytes now in the .part file."""

    def __init__(self, message: str, written: int) -> None:
        super().__init__(message)
        self.written = written


@dataclass
class _Progress:
    """How far one blob's download got: bytes in the .part file, their digest, what the server said of it."""

    name: str
    part: Path
    report: Callable[[BlobProgress], None]
    written: int = 0
    total: int | None = None
    etag: str | None = None
    resumed: bool = False
    digest: Any = field(default_factory=hashlib.sha256)

    def restart(self) -> None:
        self.written, self.digest = 0, hashlib.sha256()


def safe_relative(name: str) -> Path:
    """A blob name as a relative path that cannot leave the output folder.

    Raises:
        BillingExportError: the name is empty, absolute-only or climbs out (``..``).
    """
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


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` through a temporary file and a rename (never half a file)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class BlobDownloader:
    """Downloads the blobs of an export manifest (no bearer token: blob storage gets the SAS token only).

    Args:
        retry: the :class:`~cspkit.retry.RetryPolicy` (the Graph transport's); ``max_attempts`` HTTP requests per
            blob (a dropped connection counts as one), back-off and Retry-After waits within ``max_total_wait``.
        sleep: ``callable(seconds)`` (the transport's, stubbed in tests).
        timeout: (connect, read) seconds per request.
    """

    def __init__(
        self, *, retry: RetryPolicy, sleep: Callable[[float], None], timeout: tuple[float, float] = (10.0, 120.0)
    ) -> None:
        self.retry = retry
        self.sleep = sleep
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        """A plain session per download thread."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"User-Agent": f"cspkit/{__version__}"})
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close the download sessions."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def download(
        self,
        manifest: ExportManifest,
        out_dir: str | os.PathLike[str],
        *,
        progress: Callable[[BlobProgress], None] | None = None,
        workers: int = 4,
    ) -> list[DownloadedBlob]:
        """Download every blob of ``manifest`` into ``out_dir`` (see
        :meth:`cspkit.resources.billing_exports.BillingExports.download`)."""
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "manifest.json", manifest.to_wire_redacted())
        if not manifest.blobs:
            return []
        pool_size = max(1, min(workers, len(manifest.blobs)))
        if pool_size == 1:
            return [self.download_blob(manifest, blob, folder, progress) for blob in manifest.blobs]
        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="cspkit-blob") as pool:
            futures = [pool.submit(self.download_blob, manifest, blob, folder, progress) for blob in manifest.blobs]
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

    def download_blob(
        self,
        manifest: ExportManifest,
        blob: ExportBlob,
        folder: Path,
        progress: Callable[[BlobProgress], None] | None = None,
    ) -> DownloadedBlob:
        """Download one blob into ``folder`` (skipped when already there and verified).

        Raises:
            BillingExportError: a status that is not retried (401/403: the SAS token expired), or the policy's
                attempts or wait budget ran out (the message says what went wrong last; no SAS token in it).
        """
        target = folder / safe_relative(blob.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        sidecar = target.with_name(target.name + ".ok")
        source = manifest.blob_source(blob)
        shown = redact_url(source)
        report = progress or (lambda event: None)

        verified = _verified(target, sidecar, source)
        if verified is not None:
            report(BlobProgress(blob.name, verified.size, verified.size, "skipped"))
            log.info("blob %s already downloaded and verified: skipped", shown)
            verified.name = blob.name
            return verified

        url = manifest.blob_url(blob)
        state = _Progress(blob.name, target.with_name(target.name + ".part"), report)
        state.part.unlink(missing_ok=True)  # a .part from an earlier run has no provenance: start afresh
        report(BlobProgress(blob.name, 0, None, "start"))
        policy = self.retry
        attempts = 0
        waited = 0.0
        while True:
            attempts += 1
            done, problem, asked = self._attempt(url, state, shown)
            if done:
                break
            give_up = f"downloading blob {shown} failed after {attempts} attempts: {problem}"
            if attempts >= policy.max_attempts:
                raise BillingExportError(give_up, blob=blob.name,
                                         hint="Run the same command again: blobs already downloaded are kept and "
                                         "skipped.")
            wait = policy.wait_for(attempts, asked)
            if not policy.within_budget(waited, wait):
                raise BillingExportError(give_up + f" (the next wait, {wait:g} s, would pass the "
                                         f"{policy.max_total_wait:g} s budget)", blob=blob.name,
                                         hint="Run the same command again: blobs already downloaded are kept and "
                                         "skipped.")
            log.info("blob %s: %s; retrying in %.2fs (attempt %d)", shown, problem, wait, attempts + 1)
            report(BlobProgress(blob.name, state.written, state.total, "retry"))
            waited += wait
            self.sleep(wait)

        sha = state.digest.hexdigest()
        os.replace(state.part, target)
        write_json_atomic(sidecar, {
            "name": blob.name,
            "source": source,
            "size": state.written,
            "sha256": sha,
            "etag": state.etag,
            "downloadedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        })
        report(BlobProgress(blob.name, state.written, state.written, "done"))
        return DownloadedBlob(blob.name, target, state.written, sha, attempts=attempts, resumed=state.resumed)

    def _attempt(self, url: str, state: _Progress, shown: str) -> tuple[bool, str, float | None]:
        """One GET of the blob (a ``Range`` one when bytes are already on disk).

        Returns:
            ``(complete, problem, retry_after)``: complete True when the whole blob is in the .part file; else why
            not (``"HTTP 503"``, ``"connection dropped after N bytes (...)"``) and the seconds the server asked for.
        Raises:
            BillingExportError: a status the policy does not retry.
        """
        headers = {"x-ms-version": "2021-08-06"}
        if state.written:
            headers["Range"] = f"bytes={state.written}-"
            if state.etag:
                headers["If-Range"] = state.etag
        try:
            response = self._session().get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.exceptions.RequestException as exc:
            return False, f"connection failed ({type(exc).__name__})", None
        with response:
            status = response.status_code
            if status in (200, 206):
                return self._receive(response, state)
            if status == 416 and state.total is not None and state.written == state.total:
                return True, "", None
            if self.retry.retryable_status(status):
                return False, f"HTTP {status}", retry_after(response.headers)
            hint = ("The SAS token may have expired: request the export again."
                    if status in (401, 403) else "Request the export again.")
            raise BillingExportError(f"downloading blob {shown} failed: HTTP {status}", hint=hint, blob=state.name)

    @staticmethod
    def _receive(response: requests.Response, state: _Progress) -> tuple[bool, str, float | None]:
        """A 200/206 answer: append (or restart) the .part file; complete when every expected byte is there."""
        start = 0
        if response.status_code == 206:
            match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != state.written:
                start = -1
            else:
                if match.group(3) != "*":
                    state.total = int(match.group(3))
                state.resumed = True
                start = state.written
        if start != state.written:  # a full body (200), or a range we did not ask for
            state.restart()
            length = response.headers.get("Content-Length")
            if response.status_code == 200 and length and length.isdigit():
                state.total = int(length)
        state.etag = response.headers.get("ETag") or state.etag
        try:
            state.written = _append(response, state)
        except _Dropped as exc:
            state.written = exc.written
            return False, str(exc), None
        if state.total is None or state.written == state.total:
            return True, "", None
        return False, f"got {state.written} of {state.total} bytes", None


def _append(response: requests.Response, state: _Progress) -> int:
    """Write the body to the .part file from ``state.written``; returns the bytes on disk. Raises _Dropped when cut
    short (the bytes received before the drop are kept for the Range resume)."""
    written = state.written
    part = state.part
    mode = "r+b" if written and part.exists() else "wb"
    with open(part, mode) as fh:
        fh.seek(written)
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
                state.digest.update(chunk)
                written += len(chunk)
                state.report(BlobProgress(state.name, written, state.total, "bytes"))
        except Exception as exc:  # urllib3 ProtocolError/IncompleteRead, ReadTimeout, reset...
            fh.flush()
            raise _Dropped(f"connection dropped after {written} bytes ({type(exc).__name__})", written) from None
    return written


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
