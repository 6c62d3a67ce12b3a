"""Reconcile an invoice end to end: invoice → reconciliation line items → subscriptions → reconcile → result.

The one path used by ``cspkit reconcile --invoice`` and by ``cspkit demo``: the line items come from Microsoft
Graph's asynchronous billed-reconciliation export (partner-center-api.md §6.2; blobs kept under
``reports/exports/`` so a re-run downloads nothing twice) or from the v1 line-item API (§6.1, seek paging; each
page parsed by Arrow into one table, no Python object per line); with a work folder either is streamed into a
Parquet dataset. The subscriptions, when not given, are read from Partner Center for every customer on the
invoice; the engine is :func:`cspkit.billing.reconcile.reconcile` (called, never reimplemented here).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cspkit.billing.pricelist import read_price_list
from cspkit.billing.recon_readers import empty_recon_frame
from cspkit.billing.reconcile import reconcile
from cspkit.resources.invoices import MAX_LINE_ITEM_PAGE

__all__ = ["APIS", "InvoiceReconciliation", "fetch_invoice_lines", "read_price_lists", "reconcile_invoice"]

APIS = ("graph", "v1")
"""Where an invoice's reconciliation line items come from: the Graph export (default) or the v1 line-item API."""


@dataclass
class InvoiceReconciliation:
    """What :func:`reconcile_invoice` produced.

    Attributes:
        invoice: the :class:`cspkit.models.invoice.Invoice` reconciled.
        lines: its reconciliation line items (the frame of :mod:`cspkit.billing.recon_readers`, or the
            :class:`~cspkit.billing.ingest.LineDataset` when a ``workdir`` was given).
        result: the engine's :class:`cspkit.billing.reconcile.ReconciliationResult`.
        sources: one sentence per source read (for the report and stderr).
        warnings: what the readers noticed.
    """

    invoice: Any
    lines: Any
    result: Any
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_price_lists(price_lists: Sequence[str | os.PathLike[str]] | pd.DataFrame | None) -> pd.DataFrame | None:
    """One price-list frame from files (:func:`cspkit.billing.pricelist.read_price_list` each, concatenated);
    a frame is returned as is; None or no files → None."""
    if price_lists is None or isinstance(price_lists, pd.DataFrame):
        return price_lists
    frames = [read_price_list(path) for path in price_lists]
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def fetch_invoice_lines(
    pc: Any, invoice_id: str, *, api: str = "graph", out_dir: str | os.PathLike[str] | None = None,
    paged: Callable[[Iterable[Any]], Iterable[Any]] | None = None, on_note: Callable[[str], None] | None = None,
    workdir: str | os.PathLike[str] | None = None, page_size: int = MAX_LINE_ITEM_PAGE,
) -> tuple[Any, list[str]]:
    """An invoice's reconciliation line items as a typed frame (or Parquet dataset), and the sentence naming where
    they came from.

    With ``api="v1"`` the pages of ``GET /invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=
    billinglineitems&currencycode=`` (partner-center-api.md §6.1, §6.4: seek paging) are read columnar
    (:meth:`cspkit.resources.invoices.Invoices.reconciliation_line_item_batches`: each page one Arrow table, or a
    list of the item dicts for a page Arrow cannot type) and become the frame of
    :func:`cspkit.billing.exports.v1_batches_to_frame`, or, with ``workdir``, are streamed in typed chunks
    (:func:`~cspkit.billing.exports.iter_v1_frames`) into a Parquet dataset (:func:`cspkit.billing.ingest.
    ingest_frames`): the same lines, columns, dtypes and values as the item dicts through
    :func:`~cspkit.billing.exports.v1_lines_to_frame`, ``SourceFile`` the invoice id and ``SourceRow`` the item's
    1-based position over all pages.

    Args:
        api: ``graph`` (asynchronous export: request, poll, manifest, blobs) or ``v1`` (retired by Microsoft for
            recent billing periods).
        out_dir: where Graph blobs go (default ``reports/exports/billed-reconciliation-{id}-full``).
        paged: wraps the v1 page iterator, e.g. a progress display: each page is a ``pyarrow.Table`` or a list of
            item dicts, ``len(page)`` its number of lines (empty pages included); it must yield the pages it is
            given, in order. on_note: told before a long wait.
        workdir: stream the lines (Graph blobs through :func:`cspkit.billing.ingest.ingest_export`, v1 pages as
            above) into a Parquet dataset there and return that :class:`~cspkit.billing.ingest.LineDataset` instead
            of a frame.
        page_size: v1 items per page (``size``, at most 2000, Partner Center's maximum).
    Returns:
        ``(frame or LineDataset, [source sentence])``; the frame is empty when Graph answers "No data available".
    Raises:
        ValueError: unknown ``api``; NotFoundError: no such invoice; CspkitError subclasses from the calls and the
        readers (InputFileError naming the item position and column of a value that cannot be read).
    """
    api = api.lower()
    if api == "v1":
        from cspkit.billing.exports import iter_v1_frames, v1_batches_to_frame

        batches: Iterable[Any] = pc.invoices.reconciliation_line_item_batches(invoice_id, page_size=page_size)
        if paged is not None:
            batches = paged(batches)
        if workdir is not None:
            from cspkit.billing.ingest import ingest_frames

            lines: Any = ingest_frames(iter_v1_frames(batches, source=invoice_id), workdir, source=invoice_id)
        else:
            lines = v1_batches_to_frame(batches, source=invoice_id)
        return lines, [f"invoice {invoice_id}: {len(lines):,} lines from the v1 line-item API"]
    if api != "graph":
        raise ValueError(f"api must be one of {', '.join(APIS)}, not {api!r}")
    if on_note is not None:
        on_note(f"requesting the Graph billed-reconciliation export of {invoice_id}…")
    folder = Path(out_dir) if out_dir is not None else (
        Path("reports") / "exports" / f"billed-reconciliation-{invoice_id}-full")
    export = pc.billing_exports.export("billed-reconciliation", out_dir=folder, invoice_id=invoice_id,
                                       attribute_set="full")
    if workdir is not None and not export.no_data:
        from cspkit.billing.ingest import ingest_export

        frame: Any = ingest_export(export.paths, workdir)
    else:
        frame = empty_recon_frame("invoice") if export.no_data else export.read().frame
    return frame, [f"invoice {invoice_id}: {len(frame):,} lines from the Microsoft Graph export"]


def invoice_subscriptions(pc: Any, lines: Any) -> list[dict[str, Any]]:
    """Every subscription of every customer on the invoice lines (a frame or a LineDataset), as wire dicts with
    ``customerId`` added."""
    if not isinstance(lines, pd.DataFrame):
        lines = lines.read(["CustomerId"]).to_pandas()
    customers = sorted({c for c in lines["CustomerId"].dropna().unique()}) if "CustomerId" in lines else []
    return [s.to_wire() | {"customerId": c} for c in customers for s in pc.subscriptions.list(c)]


def reconcile_invoice(
    pc: Any, invoice_id: str, *, api: str = "graph",
    price_lists: Sequence[str | os.PathLike[str]] | pd.DataFrame | None = None,
    subscriptions: Any = None, period: str | None = None, out_dir: str | os.PathLike[str] | None = None,
    paged: Callable[[Iterable[Any]], Iterable[Any]] | None = None, on_note: Callable[[str], None] | None = None,
    engine: str = "duckdb", spark_master: str | None = None, workdir: str | os.PathLike[str] | None = None,
    page_size: int = MAX_LINE_ITEM_PAGE,
) -> InvoiceReconciliation:
    """Reconcile one invoice: read it, fetch its line items, read the subscriptions (unless given), reconcile.

    Args:
        pc: the client (``invoices``, ``billing_exports``, ``subscriptions``).
        invoice_id: the invoice (``G000000001``).
        api: ``graph`` or ``v1`` (see :func:`fetch_invoice_lines`).
        price_lists: price-list files or a price-list frame to check unit prices against, or None.
        subscriptions: subscriptions (wire dicts or a frame) to check seats, cancellations and missing charges
            against; None → read from Partner Center for every customer on the invoice.
        period: billing period ``YYYY-MM`` (default: the engine's choice).
        engine: ``duckdb`` or ``spark`` (on ``spark_master``; see
            :func:`cspkit.billing.reconcile.reconcile`; same results).
        workdir: where the lines (Graph export or v1 pages) are ingested as Parquet (``lines`` is then that
            :class:`~cspkit.billing.ingest.LineDataset`; keep the folder while using the result's lines).
        paged, on_note, page_size: as :func:`fetch_invoice_lines` (``paged`` wraps the v1 page iterator).
    Returns:
        :class:`InvoiceReconciliation`.
    Raises:
        NotFoundError: unknown invoice; CspkitError subclasses from the calls, readers and engine.
    """
    invoice = pc.invoices.get(invoice_id)
    lines, sources = fetch_invoice_lines(pc, invoice.id, api=api, out_dir=out_dir, paged=paged, on_note=on_note,
                                         workdir=workdir, page_size=page_size)
    if subscriptions is None:
        subscriptions = invoice_subscriptions(pc, lines)
    result = reconcile(lines, subscriptions=subscriptions, price_list=read_price_lists(price_lists),
                       invoices=[invoice], period=period or None, engine=engine,
                       spark_master=spark_master)
    return InvoiceReconciliation(invoice=invoice, lines=lines, result=result, sources=sources)
