"""Azure plan daily rated usage through the v1 API: ``invoicelineitemtype=usagelineitems``, billed per invoice and
unbilled per currency and period, seek-paged like the reconciliation lines (rows from :mod:`cspkit.emulator.usage`).

Routes (billing-formats.md §3.1; Microsoft Learn "Get invoice billed commercial consumption line items" and "Get
invoice unbilled commercial consumption line items")::

    GET /v1/invoices/{invoiceId}/lineitems?provider=onetime&invoicelineitemtype=usagelineitems&currencycode=USD
        [&hasPartnerEarnedCredit=true|false][&size=2000]
    GET /v1/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype=usagelineitems&currencycode=USD
        &period=current|previous
    ... then &seekOperation=Next with the MS-ContinuationToken header of links.next
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator.http import MAX_PAGE, backend_of, emulator_of, respond, seek_collection, seek_page
from cspkit.emulator.models import EmulatorError
from cspkit.emulator.usage import v1_item


def usage_line_items(request: Request, invoice_id: str) -> Response:
    """One seek page of daily rated usage line items (``DailyRatedUsageLineItem``) of an invoice or open period."""
    params = {k.lower(): v for k, v in request.query_params.items()}
    currency = (params.get("currencycode") or "").upper()
    period = (params.get("period") or "current").lower()
    pec_text = (params.get("haspartnerearnedcredit") or "").lower()
    if pec_text not in ("", "true", "false"):
        raise EmulatorError(400, "800002", f"hasPartnerEarnedCredit must be true or false, not {pec_text!r}.")
    pec = None if not pec_text else pec_text == "true"
    b = backend_of(request)
    if invoice_id.lower() == "unbilled":
        if not currency:
            raise EmulatorError(400, "800002", "currencycode is required for unbilled line items.")
        if period not in ("current", "previous"):
            raise EmulatorError(400, "800002", f"period {period!r} is not valid: current or previous.")
        key = {"inv": "unbilled", "c": currency, "p": period}
    else:
        key = {"inv": b.get_invoice(invoice_id).id}
    tokens = emulator_of(request).continuation
    kind = f"usage:{key['inv']}"
    offset, size = seek_page(request, tokens, kind, MAX_PAGE)
    if params.get("seekoperation", "").lower() == "next":
        state = tokens.decode(request.headers.get("MS-ContinuationToken"), kind)
        key = {**key, **{k: v for k, v in state.items() if k in ("c", "p")}}
        pec = state.get("pec", pec)
    rows, total = b.usage_lines(key, offset, size, pec=pec)
    query = "provider=onetime&invoicelineitemtype=usagelineitems"
    if key["inv"] == "unbilled":
        query += f"&currencycode={key['c']}&period={key['p']}"
    if pec is not None:
        query += f"&hasPartnerEarnedCredit={str(pec).lower()}"
    extra = {k: key[k] for k in ("c", "p") if k in key} | ({"pec": pec} if pec is not None else {})
    body = seek_collection([v1_item(r) for r in rows], tokens=tokens, kind=kind, offset=offset, size=size,
                           total=total, base_uri=f"/invoices/{key['inv']}/lineitems?{query}", extra=extra)
    return respond(body)
