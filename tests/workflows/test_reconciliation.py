"""reconcile_invoice: invoice → line items (Graph export or v1) → subscriptions → reconcile, on the emulator."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from cspkit.errors import NotFoundError
from cspkit.workflows.reconciliation import fetch_invoice_lines, read_price_lists, reconcile_invoice

US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"


@pytest.fixture
def invoiced(emulator, emulator_client):
    """One 7-seat P1M order, invoiced on the 8th of the next month: ``(client, invoice id, subscription id)``."""
    pc = emulator_client()
    cart = pc.carts.create(US_CUSTOMER, line_items=[{"catalogItemId": BASIC, "quantity": 7, "termDuration": "P1M",
                                                     "billingCycle": "monthly"}])
    result = pc.carts.checkout(US_CUSTOMER, cart.id)
    emulator.clock.set("2026-12-08T00:00:00Z")  # November is invoiced on the 8th of December
    invoice = next(iter(pc.invoices.list()))
    return pc, invoice.id, result.orders[0].line_items[0].subscription_id


def test_graph_and_v1_give_the_same_tieout_and_subscriptions_are_read_from_partner_center(invoiced, tmp_path,
                                                                                         monkeypatch):
    pc, invoice_id, subscription_id = invoiced
    monkeypatch.chdir(tmp_path)  # the Graph blobs land under reports/exports/
    graph = reconcile_invoice(pc, invoice_id)
    v1 = reconcile_invoice(pc, invoice_id, api="v1")
    for done in (graph, v1):
        (row,) = done.result.tieout.to_dict("records")
        assert (row["InvoiceNumber"], row["Lines"], row["Status"]) == (invoice_id, 1, "ties")
        assert Decimal(str(row["Total"])) == Decimal("50.40")  # 7 seats × 7.20 (P1M, 20 % over the annual price)
        assert done.invoice.id == invoice_id and len(done.lines) == 1
        assert set(done.lines["SubscriptionId"]) == {subscription_id}
        assert done.result.variances.empty  # the subscription was read from Partner Center and matches
    assert "Microsoft Graph export" in graph.sources[0] and invoice_id in v1.sources[0]
    assert sorted((tmp_path / "reports" / "exports").rglob("*.json.gz"))


def test_given_subscriptions_are_used_instead_of_reading_them(invoiced, emulator):
    pc, invoice_id, _ = invoiced
    done = reconcile_invoice(pc, invoice_id, api="v1", subscriptions=[])
    # no subscription known: the billed line matches none (Partner Center was not asked), the tie-out still ties
    assert done.result.tieout.iloc[0]["Status"] == "ties"
    assert done.result.variances["Category"].tolist() == ["unknown_subscription"]


def test_unknown_invoice_and_unknown_api_are_refused(invoiced):
    pc, invoice_id, _ = invoiced
    with pytest.raises(NotFoundError):
        reconcile_invoice(pc, "G999999999", api="v1")
    with pytest.raises(ValueError, match="graph, v1"):
        fetch_invoice_lines(pc, invoice_id, api="v2")


def test_read_price_lists_concatenates_files_and_passes_frames_through():
    assert read_price_lists(None) is None and read_price_lists([]) is None
    frame = pd.DataFrame({"ProductId": ["P1"]})
    assert read_price_lists(frame) is frame
