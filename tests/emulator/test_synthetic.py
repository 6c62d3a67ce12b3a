"""The benchmark hook's synthetic invoice pages (``POST /_emulator/recon/synthetic``): the served JSON is pinned
byte for byte against the plain dict path (each line a template dict with its own ids, the collection envelope
encoded by ``wire.dumps``), so making the generation cheap cannot change what a client receives."""

from __future__ import annotations

import hashlib
import json

import requests

from cspkit.emulator import serializers as wire
from cspkit.emulator.http import seek_collection
from cspkit.emulator.synthetic import _salt, _templates, invoice_total, recon_page

QUERY = "provider=onetime&invoicelineitemtype=billinglineitems"


def _expected_line(invoice, templates, i: int) -> dict:
    """Line ``i`` as the emulator first defined it: template ``i mod n`` with per-line ids."""
    line = dict(templates[i % len(templates)][0])
    salt = _salt(invoice.id)
    line["subscriptionId"] = f"{salt}-1000-8000-{i:012x}"
    line["referenceId"] = f"{salt}-2000-8000-{i:012x}"
    line["orderId"] = line["alternateId"] = f"{i:012x}"
    return line


def _expected_page(emulator, invoice, offset: int, size: int) -> bytes:
    templates = _templates(emulator.backend, invoice)
    total = invoice.synthetic_lines
    items = [_expected_line(invoice, templates, i) for i in range(offset, min(offset + size, total))]
    body = seek_collection(items, tokens=emulator.app.state.emulator.continuation, kind=f"recon:{invoice.id}",
                           offset=offset, size=size, total=total, base_uri=f"/invoices/{invoice.id}/lineitems?{QUERY}")
    return wire.dumps(body)


def test_served_pages_are_byte_for_byte_the_dict_encoding(emulator):
    invoice = emulator.backend.add_synthetic_invoice(lines=1234, currency="USD")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emulator.token}"
    url = f"{emulator.url}/v1/invoices/{invoice.id}/lineitems?{QUERY}&size=500"
    headers: dict[str, str] = {}
    offset, pages = 0, 0
    while True:
        r = session.get(url, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        assert r.content == _expected_page(emulator, invoice, offset, 500)
        body = r.json()
        offset += len(body["items"])
        pages += 1
        nxt = body["links"].get("next")
        if not nxt:
            break
        url = emulator.url + "/v1" + nxt["uri"]
        headers = {h["key"]: h["value"] for h in nxt["headers"]}
    assert (offset, pages) == (1234, 3)


def test_synthetic_lines_cycle_templates_with_their_own_ids(emulator):
    invoice = emulator.backend.add_synthetic_invoice(lines=300, currency="USD")
    templates = _templates(emulator.backend, invoice)
    items, total = recon_page(emulator.backend, {"inv": invoice.id}, 0, 300)
    assert total == 300 and len(items) == 300
    assert items == [_expected_line(invoice, templates, i) for i in range(300)]
    assert len({i["referenceId"] for i in items}) == 300
    assert items[len(templates)]["productId"] == items[0]["productId"]  # the templates repeat
    # the invoice's total is the sum of its lines' totals (as sent: text)
    from decimal import Decimal

    assert invoice_total(emulator.backend, invoice) == sum(Decimal(i["totalForCustomer"]) for i in items)


def test_pinned_first_page_digest(emulator):
    """The first page's items of a fixed emulator (seed catalog, frozen clock) are pinned by digest: a change to the
    synthetic lines' content shows here (update the digest only for an intended change of the lines)."""
    invoice = emulator.backend.add_synthetic_invoice(lines=50, currency="USD")
    items, _ = recon_page(emulator.backend, {"inv": invoice.id}, 0, 50)
    digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()
    assert digest == PINNED_DIGEST


PINNED_DIGEST = "2b8a01cda45276151ba8ed25f7f9a2d80b8c915c7b09b0a5573655d6b54721d1"
