"""Reconciliation pages: recorded charges for real invoices and unbilled periods, generated lines for the
benchmark hook (an invoice with N synthetic lines, made on demand from a small set of template charges, so paging a
million lines needs no million orders)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cspkit.emulator import serializers as wire
from cspkit.emulator.billing import cycle_span, line_money
from cspkit.emulator.models import Charge, Invoice

if TYPE_CHECKING:  # pragma: no cover
    from cspkit.emulator.backend import Backend

__all__ = ["invoice_total", "recon_page", "recon_page_json"]

#: where line ``i``'s 12-digit hex number goes in a template (encoded by JSON as ``\u0000``)
_MARK = "\x00"


def recon_page(backend: Backend, key: dict[str, Any], offset: int, size: int) -> tuple[list[dict[str, Any]], int]:
    """One page of reconciliation lines and the total count, for ``key`` = {"inv": id} or unbilled {c, p}."""
    with backend.lock:
        partner = dict(backend.partner)
        if key["inv"] == "unbilled":
            charges, number = backend.unbilled_charges(currency=key["c"], period=key["p"]), ""
        else:
            invoice = backend.get_invoice(key["inv"])
            if invoice.synthetic_lines:
                templates = _templates(backend, invoice)
                total = invoice.synthetic_lines
                return [_synthetic_line(invoice, templates, i) for i in range(offset, min(offset + size, total))], total
            charges, number = backend.invoice_charges(invoice), invoice.id
            usage = backend.invoice_usage_lines(invoice.id)  # Azure plan consumption (cspkit.emulator.usage)
            if usage:
                page = charges[offset: offset + size]
                lines = [wire.recon_line(c, partner=partner, invoice_number=number) for c in page]
                rest = usage[max(0, offset - len(charges)): max(0, offset + size - len(charges))]
                return lines + [{k: v for k, v in u.items() if k != "_total"} for u in rest], len(charges) + len(usage)
    page = charges[offset: offset + size]
    return [wire.recon_line(c, partner=partner, invoice_number=number) for c in page], len(charges)


def recon_page_json(backend: Backend, key: dict[str, Any], offset: int, size: int) -> tuple[bytes, int, int]:
    """:func:`recon_page` as ``(JSON, count, total)``: the items array's contents (the lines encoded and joined by
    ``,``, no brackets), the number of lines on the page, the total count. The synthetic lines come from pre-rendered
    byte pieces per template (the fixed text between the places where line ``i``'s hex number goes), so a line is
    one ``join`` of bytes and the page another: no dict, no encoding (byte for byte what encoding
    :func:`recon_page`'s dicts gives)."""
    with backend.lock:
        invoice = backend.get_invoice(key["inv"]) if key["inv"] != "unbilled" else None
        if invoice is not None and invoice.synthetic_lines:
            pieces = [t[2] for t in _templates(backend, invoice)]
            count, total = len(pieces), invoice.synthetic_lines
            numbers = range(offset, min(offset + size, total))
            return b",".join([(b"%012x" % i).join(pieces[i % count]) for i in numbers]), len(numbers), total
    items, total = recon_page(backend, key, offset, size)
    return b",".join([wire.dumps(item) for item in items]), len(items), total


def invoice_total(backend: Backend, invoice: Invoice) -> Decimal:
    with backend.lock:
        if invoice.synthetic_lines:
            templates = _templates(backend, invoice)
            full, rest = divmod(invoice.synthetic_lines, len(templates))
            return full * sum(t[1] for t in templates) + sum(t[1] for t in templates[:rest])
        usage = sum((u["_total"] for u in backend.invoice_usage_lines(invoice.id)), Decimal(0))
        return sum((line_money(c).total for c in backend.invoice_charges(invoice)), usage)


def _templates(backend: Backend, invoice: Invoice) -> tuple[tuple[dict[str, Any], Decimal, tuple[bytes, ...]], ...]:
    """``(line dict, line total, pieces)`` per template charge of the invoice: see :func:`_encode_template`."""
    customers = tuple((c.id, c.company_name, c.domain, c.country) for c in backend.customers.values()
                      if backend.catalog.currency_for(c.country) == invoice.currency)
    items = tuple(
        (i.product_id, i.sku_id, i.availability_id, i.product["title"], i.sku["title"],
         i.product.get("publisherName", ""), i.product.get("publisherId", ""), i.is_saas,
         tuple((t.duration, t.billing_cycle, t.description, str(t.unit_price(invoice.currency))) for t in i.terms))
        for i in backend.catalog.items() if not i.is_trial and i.sku["terms"]
        and invoice.currency in i.sku["terms"][0]["prices"]
    )
    return _build_templates(invoice.id, invoice.currency, invoice.period_start.isoformat(),
                            customers or (("00000000-0000-4000-8000-000000000000", "Synthetic", "synthetic", "US"),),
                            items, dict_key(backend.partner))


def dict_key(d: dict[str, Any]) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in d.items()))


@lru_cache(maxsize=8)
def _build_templates(invoice_id: str, currency: str, period_start: str, customers: tuple, items: tuple,
                     partner_key: tuple) -> tuple[tuple[dict[str, Any], Decimal, tuple[bytes, ...]], ...]:
    partner = dict(partner_key)
    start = datetime.fromisoformat(period_start).replace(tzinfo=UTC)
    out = []
    n = 0
    for product_id, sku_id, avail_id, product_name, sku_name, publisher, publisher_id, is_saas, terms in items:
        for _duration, cycle, description, price in terms:
            for quantity in (1, 5, 25):
                cust = customers[n % len(customers)]
                at = start + timedelta(days=n % 28, hours=9)
                end = at + (timedelta(days=365) if cycle == "annual" else timedelta(days=30))
                span = cycle_span(at, end, cycle)
                charge = Charge(
                    id="", charge_type=("new", "cycleCharge", "renew")[n % 3], at=at, sign=1, quantity=quantity,
                    unit_price=Decimal(price), currency=currency, charge_start=span[0], charge_end=span[1],
                    cycle_days=span[2], billing_days=span[3], full_refund=False, reference_id="",
                    subscription_id="", subscription_start=at.date(), subscription_end=span[1], order_id="",
                    customer_id=cust[0], customer_name=cust[1], customer_domain=cust[2], customer_country=cust[3],
                    product_id=product_id, sku_id=sku_id, availability_id=avail_id, product_name=product_name,
                    sku_name=sku_name, publisher_name=publisher, publisher_id=publisher_id,
                    subscription_description=sku_name, term_and_billing_cycle=description,
                    billing_frequency={"monthly": "Monthly", "annual": "Annual"}.get(cycle, ""),
                    product_category="SaaS" if is_saas else "OnlineServices",
                )
                line = wire.recon_line(charge, partner=partner, invoice_number=invoice_id)
                out.append((line, line_money(charge).total, _encode_template(line, _salt(invoice_id))))
                n += 1
    return tuple(out)


def _encode_template(line: dict[str, Any], salt: str) -> tuple[bytes, ...]:
    """The line's JSON cut where line ``i``'s hex number goes (in ``subscriptionId``, ``referenceId``, ``orderId``
    and ``alternateId``, see :func:`_synthetic_line`): ``number.join(pieces)`` is ``wire.dumps`` of line ``i``."""
    text = wire.dumps({**line, "subscriptionId": f"{salt}-1000-8000-{_MARK}",
                       "referenceId": f"{salt}-2000-8000-{_MARK}", "orderId": _MARK, "alternateId": _MARK})
    pieces = tuple(text.split(wire.dumps(_MARK)[1:-1]))
    if len(pieces) != 5:  # pragma: no cover - a template's own text holding U+0000
        raise ValueError("a synthetic line template holds U+0000")
    return pieces


def _synthetic_line(invoice: Invoice, templates: tuple, i: int) -> dict[str, Any]:
    """Line ``i``: a template with its own subscription, reference and order ids (deterministic per invoice)."""
    line = dict(templates[i % len(templates)][0])
    salt = _salt(invoice.id)
    line["subscriptionId"] = f"{salt}-1000-8000-{i:012x}"
    line["referenceId"] = f"{salt}-2000-8000-{i:012x}"
    line["orderId"] = line["alternateId"] = f"{i:012x}"
    return line


@lru_cache(maxsize=64)
def _salt(invoice_id: str) -> str:
    digest = hashlib.sha1(invoice_id.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}"
