"""Billing: invoices (offset-paged), estimate links, the statement PDF, and reconciliation line items (seek-paged,
billed by invoice or unbilled by currency and period)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator.documents import statement_pdf
from cspkit.emulator.http import MAX_PAGE, backend_of, emulator_of, respond, seek_collection, seek_page
from cspkit.emulator.models import EmulatorError
from cspkit.emulator.synthetic import invoice_total, recon_page_json


def _symbol(request: Request, currency: str) -> str:
    markets = backend_of(request).catalog.get("markets", [])
    return next((m.get("currencySymbol", "") for m in markets if m["currency"] == currency), "")


def _invoice(request: Request, invoice: Any) -> dict[str, Any]:
    return wire.invoice(invoice, invoice_total(backend_of(request), invoice), _symbol(request, invoice.currency),
                        with_pdf_link=True)


def list_invoices(request: Request, size: int = 100, offset: int = 0) -> Response:
    invoices = backend_of(request).list_invoices()
    size = max(1, min(size, 1000))
    page = invoices[offset: offset + size]
    body = wire.collection([_invoice(request, i) for i in page], self_uri=f"/invoices?size={size}&offset={offset}")
    if offset + size < len(invoices):
        body["links"]["next"] = wire.link(f"/invoices?size={size}&offset={offset + size}")
    return respond(body)


def get_estimate_links(request: Request, currencycode: str = "USD") -> Response:
    return respond(wire.collection(wire.estimate_links(currencycode.upper()),
                                   self_uri=f"/invoices/estimates/links?currencycode={currencycode}"))


def get_invoice(request: Request, invoice_id: str) -> Response:
    return respond(_invoice(request, backend_of(request).get_invoice(invoice_id)))


def get_invoice_statement(request: Request, invoice_id: str) -> Response:
    """Get an invoice statement: the invoice's PDF (``application/pdf``), the invoice's ``pdfDownloadLink``."""
    b = backend_of(request)
    invoice = b.get_invoice(invoice_id)
    pdf = statement_pdf(b, invoice, invoice_total(b, invoice))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{invoice.id}.pdf"'})


def _line_key(request: Request, invoice_id: str) -> dict[str, Any]:
    params = request.query_params
    currency = (params.get("currencycode") or params.get("currencyCode") or "").upper()
    period = (params.get("period") or "current").lower()
    if invoice_id.lower() == "unbilled":
        if not currency:
            raise EmulatorError(400, "800002", "currencycode is required for unbilled line items.")
        return {"inv": "unbilled", "c": currency, "p": period}
    return {"inv": backend_of(request).get_invoice(invoice_id).id}


def line_items(request: Request, invoice_id: str, provider: str | None, item_type: str | None) -> Response:
    """One seek page of an invoice's (or the unbilled period's) reconciliation lines, spliced in as JSON."""
    provider = (provider or "").lower().replace("_", "")
    item_type = (item_type or "").lower().replace("_", "")
    if provider not in ("onetime", "all"):
        raise EmulatorError(400, "800002", f"provider {provider!r} is not supported by the emulator (use onetime).")
    if item_type != "billinglineitems":
        if item_type == "usagelineitems":  # Azure plan daily rated usage (cspkit.emulator.usage)
            from cspkit.emulator.handlers.usage import usage_line_items

            return usage_line_items(request, invoice_id)
        raise EmulatorError(400, "800002", f"invoicelineitemtype {item_type!r} is not valid.")
    tokens = emulator_of(request).continuation
    key = _line_key(request, invoice_id)
    kind = f"recon:{key['inv']}"
    offset, size = seek_page(request, tokens, kind, MAX_PAGE)
    if (request.query_params.get("seekOperation") or "").lower() == "next":
        state = tokens.decode(request.headers.get("MS-ContinuationToken"), kind)
        key = {**key, **{k: v for k, v in state.items() if k in ("c", "p")}}
    lines, count, total = recon_page_json(backend_of(request), key, offset, size)  # the items' JSON, joined
    query = "provider=onetime&invoicelineitemtype=billinglineitems"
    if key["inv"] == "unbilled":
        query += f"&currencycode={key['c']}&period={key['p']}"
    body = seek_collection([None] * count, tokens=tokens, kind=kind, offset=offset, size=size, total=total,
                           base_uri=f"/invoices/{key['inv']}/lineitems?{query}",
                           extra={k: key[k] for k in ("c", "p") if k in key})
    body["items"] = "\x00items"  # the lines are JSON already: splice them in
    head, tail = wire.dumps(body).split(wire.dumps("\x00items"), 1)
    return Response(b"".join((head, b"[", lines, b"]", tail)), media_type="application/json")


def get_invoice_line_items(request: Request, invoice_id: str, provider: str | None = None,
                           invoicelineitemtype: str | None = None) -> Response:
    params = {k.lower(): v for k, v in request.query_params.items()}
    return line_items(request, invoice_id, provider or params.get("provider"),
                      invoicelineitemtype or params.get("invoicelineitemtype"))


def get_invoice_line_items_by_path(request: Request, invoice_id: str, provider: str, item_type: str) -> Response:
    return line_items(request, invoice_id, provider, item_type)
