"""``cspkit invoices export``: billing data through Microsoft Graph's asynchronous exports.

* ``cspkit invoices export --invoice G000000001 [--usage] [--attribute-set full|basic] [--out DIR]``: the billed
  invoice reconciliation (or, with ``--usage``, billed daily rated usage) export;
* ``cspkit invoices export --unbilled --currency USD --period current|previous [--usage] ...``: the unbilled ones
  (``last``, Graph's word for ``previous``, is accepted).

It requests the export, polls it (honouring Retry-After), reads the manifest and downloads every blob (in parallel,
resumably: run it again after an interruption and finished blobs are skipped) into ``--out`` (default
``reports/exports/<kind>-<invoice|currency-period>-<attribute set>``), with a progress bar per blob on stderr. The
table lists the blobs (file, bytes, lines, sha256, downloaded/resumed/skipped). "No data available" is an answer:
exit 0 with a note. SAS tokens never appear in output.

:func:`cspkit.workflows.reconciliation.fetch_invoice_lines` is the data fetch of ``cspkit reconcile --invoice ID
[--api graph|v1]``; :data:`api_option` is its click option.

Exit codes: 0 done (or no data), 1 the export or a download failed, 2 bad usage.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from pathlib import Path
from typing import Any

import click

from cspkit.cli.output import emit, note
from cspkit.cli.params import PERIOD
from cspkit.errors import InputFileError

__all__ = ["api_option", "export_command"]

COLUMNS = ["Blob", "Bytes", "Lines", "Sha256", "Download", "Path"]

api_option = click.option(
    "--api", type=click.Choice(["graph", "v1"], case_sensitive=False), default="graph", show_default=True,
    help="Where reconciliation lines come from: Microsoft Graph's asynchronous export, or the v1 line-item API "
    "(retired for recent billing periods). Example: --api v1",
)


def _count_lines(path: Path) -> int:
    """Non-empty lines of a gzip JSON Lines blob, streamed."""
    count = 0
    last = b"\n"
    try:
        with gzip.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                count += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError, zlib.error) as exc:
        raise InputFileError(str(path), expected="a complete gzip stream", value=str(exc)) from None
    return count + (0 if last == b"\n" else 1)


class _BlobBars:
    """A rich progress bar per blob on stderr (thread-safe: rich locks internally)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> _BlobBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Any) -> None:
        with self.lock:
            task = self.tasks.get(event.name)
            if task is None:
                label = event.name if len(event.name) <= 40 else event.name[:18] + "…" + event.name[-21:]
                task = self.tasks[event.name] = self.progress.add_task(label, total=event.total)
        description = None
        if event.status == "skipped":
            description = f"{self.progress.tasks[task].description} [dim](already downloaded)[/dim]"
        elif event.status == "retry":
            description = f"{self.progress.tasks[task].description.split(' [')[0]} [yellow](retrying)[/yellow]"
        self.progress.update(task, completed=event.done, total=event.total,
                             **({"description": description} if description else {}))


@click.command("export")
@click.option("--invoice", "invoice_id", help="Invoice id for the billed exports, e.g. G000000001.")
@click.option("--unbilled", is_flag=True, help="Export unbilled data (needs --currency and --period).")
@click.option("--currency", help="ISO 4217 currency code of the unbilled data, e.g. USD.")
@click.option("--period", type=PERIOD, default="current", show_default=True,
              help="Unbilled billing period: the open one or the previous one (`last` is accepted for previous). "
                   "Example: --period previous")
@click.option("--usage", is_flag=True, help="Daily rated usage instead of the invoice reconciliation.")
@click.option("--attribute-set", type=click.Choice(["full", "basic"], case_sensitive=False), default="full",
              show_default=True, help="Every column, or the basic subset, e.g. --attribute-set basic.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the blobs (default reports/exports/<kind>-<id>-<attribute set>), "
                   "e.g. --out exports/nov.")
@click.pass_obj
def export_command(state: Any, invoice_id: str | None, unbilled: bool, currency: str | None, period: str,
                   usage: bool, attribute_set: str, out_dir: Path | None) -> None:
    """Export billing data through Microsoft Graph (request → poll → manifest → blobs), resumably."""
    if bool(invoice_id) == unbilled:
        raise click.UsageError("give either --invoice ID or --unbilled --currency CODE [--period current|previous]")
    if unbilled and not currency:
        raise click.UsageError("--unbilled needs --currency (e.g. --currency USD)")
    if invoice_id and currency:
        raise click.UsageError("--currency goes with --unbilled; a billed export takes its currency from the invoice")
    kind = f"{'unbilled' if unbilled else 'billed'}-{'usage' if usage else 'reconciliation'}"
    what = f"{currency.upper()}-{period.lower()}" if unbilled and currency else str(invoice_id)
    folder = out_dir or Path("reports") / "exports" / f"{kind}-{what}-{attribute_set.lower()}"
    pc = state.client()
    seen: list[str] = []

    def on_status(operation: Any) -> None:
        if not seen or seen[-1] != operation.status:
            note(f"export {kind} ({what}): operation {operation.id} {operation.status}")
        seen.append(operation.status)

    with _BlobBars() as bars:
        try:
            result = pc.billing_exports.export(
                kind, out_dir=folder, invoice_id=invoice_id, currency_code=currency,
                billing_period=period.lower(), attribute_set=attribute_set.lower(), on_status=on_status,
                progress=bars,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    if result.no_data:
        note(f"No data available for the {kind.replace('-', ' ')} export of {what}: nothing was downloaded.")
        emit([], columns=COLUMNS, fmt=state.output)
        return
    rows = []
    for blob in result.blobs:
        rows.append({
            "Blob": blob.name,
            "Bytes": blob.size,
            "Lines": _count_lines(blob.path),
            "Sha256": blob.sha256,
            "Download": "skipped (verified)" if blob.skipped else ("resumed" if blob.resumed else "downloaded"),
            "Path": str(blob.path),
        })
    emit(rows, columns=COLUMNS, fmt=state.output, title=f"{kind} {what} ({attribute_set.lower()})")
    note(f"{len(rows)} blob(s), {sum(r['Lines'] for r in rows):,} lines in {folder} "
         f"(manifest.json alongside, SAS token redacted).")

