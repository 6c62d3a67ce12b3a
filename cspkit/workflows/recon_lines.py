"""Fetching an invoice's reconciliation lines by either API, as one typed frame (a workflow: resources + billing).

Graph (default): the asynchronous billed-reconciliation export — request, poll, manifest, blobs
(:class:`cspkit.resources.billing_exports.BillingExports`; partner-center-api.md §6.2) — read by
:mod:`cspkit.billing.graph_export`. v1: ``GET /invoices/{id}/lineitems?provider=onetime&...`` pages
(:meth:`cspkit.resources.invoices.Invoices.reconciliation_line_items`; retired for recent billing periods) read by
:func:`cspkit.billing.exports.v1_lines_to_frame`. Both give the same frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cspkit.billing.exports import v1_lines_to_frame
from cspkit.billing.recon_readers import empty_recon_frame

if TYPE_CHECKING:
    import pandas as pd

    from cspkit.client import PartnerCenter

__all__ = ["fetch_recon_lines"]


def fetch_recon_lines(
    pc: PartnerCenter,
    invoice_id: str,
    *,
    api: str = "graph",
    out_dir: str | os.PathLike[str] | None = None,
    attribute_set: str = "full",
    progress: Any = None,
    on_status: Any = None,
) -> pd.DataFrame:
    """The invoice reconciliation lines of ``invoice_id`` as a typed frame, from Graph (default) or the v1 API.

    Args:
        pc: the client.
        invoice_id: the invoice (``G000000001``).
        api: ``"graph"`` (asynchronous export: request, poll, manifest, blobs; partner-center-api.md §6.2) or
            ``"v1"`` (``GET /invoices/{id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems``,
            seek paging; retired for recent billing periods).
        out_dir: where Graph blobs go (default ``reports/exports/billed-reconciliation-{id}-{attribute_set}``);
            a re-run skips blobs already downloaded and verified.
        attribute_set: ``full`` or ``basic`` (Graph only).
        progress, on_status: passed to :meth:`~cspkit.resources.billing_exports.BillingExports.export`.
    Returns:
        the frame of :mod:`cspkit.billing.recon_readers` (47 invoice columns + SourceFile/SourceRow; the v1 envelope
        keys ``attributes``, ``invoiceLineItemType``, ``billingProvider``, ``discountDetails`` are left out);
        empty when Graph answers "No data available".
    Raises:
        ValueError: unknown ``api``. CspkitError subclasses from the calls and the readers.
    """
    api = api.lower()
    if api == "graph":
        folder = Path(out_dir) if out_dir is not None else (
            Path("reports") / "exports" / f"billed-reconciliation-{invoice_id}-{attribute_set}")
        result = pc.billing_exports.export(
            "billed-reconciliation", out_dir=folder, invoice_id=invoice_id, attribute_set=attribute_set,
            progress=progress, on_status=on_status,
        )
        if result.no_data:
            return empty_recon_frame("invoice")
        return result.read().frame
    if api == "v1":
        return v1_lines_to_frame(pc.invoices.reconciliation_line_items(invoice_id))
    raise ValueError(f"api must be 'graph' or 'v1', not {api!r}")
