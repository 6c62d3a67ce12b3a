"""pc.invoices against the emulator (business meaning) and `responses` (exact wire quirks)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
import responses

from cspkit.billing.recon_readers import recon_lines_to_frame
from cspkit.billing.reconcile import reconcile
from cspkit.client import PartnerCenter
from cspkit.errors import NotFoundError
from cspkit.models.invoice import Invoice, OneTimeInvoiceLineItem

BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
PREMIUM = "CFQ7TTC0LDPB:0001:CFQ7TTC0LLL4"
E3 = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS"
US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
US_CUSTOMER_2 = "2f7b9c14-3a8d-4e6f-b1c2-d3e4f5a6b7c8"


def buy(pc: PartnerCenter, customer: str, item: str, quantity: int, term: str = "P1M", cycle: str = "monthly") -> str:
    line = {"catalogItemId": item, "quantity": quantity, "termDuration": term, "billingCycle": cycle}
    cart = pc.carts.create(customer, line_items=[line])
    result = pc.carts.checkout(customer, cart.id)
    return result.orders[0].line_items[0].subscription_id


@pytest.fixture
def month(emulator):
    """A November 2026 of the emulator: three purchases and one seat increase, invoiced on Dec 1."""
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    basic = buy(pc, US_CUSTOMER, BASIC, 5)  # 7.20/month
    premium = buy(pc, US_CUSTOMER_2, PREMIUM, 3, "P1Y", "monthly")  # 277.20 a year, billed 23.10 a month
    e3 = buy(pc, US_CUSTOMER, E3, 2, "P1Y", "annual")  # 276.00/year
    emulator.clock.set("2026-11-12T09:00:00Z")
    pc.subscriptions.update(US_CUSTOMER, basic, changes={"quantity": 8})
    emulator.clock.set("2026-12-08T00:00:00Z")  # November is invoiced on 8 December
    return pc, {"basic": basic, "premium": premium, "e3": e3}


def test_invoice_lines_reconcile_to_the_subscriptions(month) -> None:
    pc, subs = month
    invoices = list(pc.invoices.list())
    assert len(invoices) == 1 and isinstance(invoices[0], Invoice)
    invoice = pc.invoices.get(invoices[0].id)
    assert invoice.currency_code == "USD" and invoice.document_type == "invoice"
    assert invoice.invoice_details[0].billing_provider == "one_time"
    items = list(pc.invoices.line_items(invoice.id, currency="USD", page_size=2))  # seek paging, 2 per page
    assert all(isinstance(i, OneTimeInvoiceLineItem) for i in items)
    assert {i.charge_type for i in items} == {"new", "addQuantity"}
    frame = recon_lines_to_frame(pc.invoices.line_items(invoice.id, raw=True)).frame
    assert len(frame) == len(items)
    current = [s for customer in (US_CUSTOMER, US_CUSTOMER_2) for s in pc.subscriptions.list(customer)]
    result = reconcile(
        frame,
        subscriptions=[s.to_wire() for s in current],
        invoices=[invoice],
        period="2026-11",
    )
    tie = result.tieout.iloc[0]
    assert (tie["InvoiceNumber"], tie["Status"], tie["Difference"]) == (invoice.id, "ties", D("0.00"))
    assert tie["Total"] == invoice.total_charges
    by_sub = result.subscriptions.set_index("SubscriptionId")
    assert by_sub.loc[subs["basic"], ["BilledSeats", "SubscriptionQuantity"]].tolist() == [D("8"), D("8")]
    assert by_sub.loc[subs["premium"], "Total"] == D("69.30")  # 277.20 ÷ 12 = 23.10 × 3
    assert by_sub.loc[subs["e3"], "Total"] == D("552.00")  # 276.00 × 2
    # the emulator prices every charge from the catalog: no variance of any kind
    assert result.variances[["Category", "Evidence"]].values.tolist() == []


def test_unbilled_lines_and_estimate_links(emulator) -> None:
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    sub = buy(pc, US_CUSTOMER, BASIC, 4)
    lines = list(pc.invoices.unbilled_line_items(currency="USD"))
    assert [(ln.subscription_id, ln.billable_quantity, ln.invoice_number) for ln in lines] == [(sub, D("4"), "")]
    assert list(pc.invoices.unbilled_line_items(currency="USD", period="previous")) == []
    links = pc.invoices.estimate_links(currency="USD")
    assert [link.period for link in links] == ["Current", "Previous"]
    assert "period=current" in links[0].link.uri
    with pytest.raises(ValueError):
        pc.invoices.unbilled_line_items(currency="USD", period="last")
    with pytest.raises(NotFoundError):
        pc.invoices.get("G999999999")


@responses.activate
def test_wire_quirks_numbers_as_strings_seek_token_and_offset_paging() -> None:
    base = "https://api.partnercenter.microsoft.com/v1"
    item = {
        "customerId": "c", "subscriptionId": "s", "chargeType": "New", "unitPrice": "16", "quantity": 50,
        "subtotal": 800, "totalForCustomer": "800.00", "mpnId": 6034453, "resellerMpnId": 0,
        "pcToBCExchangeRate": 1, "pcToBCExchangeRateDate": "2021-05-01T00:00:00", "productQualifiers": ["Add-on"],
        "orderDate": "2021-05-20T18:30:06.6045692Z",
    }  # fmt: skip
    second_item = {k: v for k, v in item.items() if k != "totalForCustomer"} | {"chargeType": "cycle_charge",
                                                                               "total": "1.00"}  # fmt: skip
    responses.get(
        f"{base}/invoices/G1/lineitems",
        json={"totalCount": 1, "items": [item], "links": {"next": {"uri": "/invoices/G1/lineitems?provider=onetime"
              "&invoicelineitemtype=billinglineitems&size=1?seekOperation=Next", "method": "GET",
              "headers": [{"key": "MS-ContinuationToken", "value": "tok,/=+"}]}}},  # fmt: skip
        match=[responses.matchers.query_param_matcher(
            {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": "1"})],  # fmt: skip
    )
    responses.get(
        f"{base}/invoices/G1/lineitems",
        json={"totalCount": 1, "items": [second_item], "links": {}},
        match=[responses.matchers.header_matcher({"MS-ContinuationToken": "tok,/=+"})],
    )
    responses.get(
        f"{base}/invoices",
        json={"totalCount": 1, "items": [{"id": "G1", "totalCharges": 12.5, "currencyCode": "EUR",
                                          "documentType": "Invoice"}]},  # fmt: skip
    )
    pc = PartnerCenter(endpoint="https://api.partnercenter.microsoft.com", access_token="t")
    lines = list(pc.invoices.line_items("G1", page_size=1))
    first, second = lines
    assert (first.charge_type, first.unit_price, first.quantity, first.subtotal) == ("new", D("16"), D("50"), D("800"))
    assert (first.mpn_id, first.reseller_mpn_id, first.product_qualifiers) == ("6034453", "0", ["AddOn"])
    assert first.total_for_customer == D("800.00") and first.pc_to_bc_exchange_rate == D("1")
    assert first.order_date.isoformat() == "2021-05-20T18:30:06.604569+00:00"
    assert first.to_wire()["pcToBCExchangeRate"] == "1"
    assert (second.charge_type, second.total_for_customer) == ("cycleCharge", D("1.00"))
    invoices = list(pc.invoices.list(page_size=50))
    assert [(i.id, i.total_charges, i.document_type) for i in invoices] == [("G1", D("12.5"), "invoice")]
    assert responses.calls[-1].request.params == {"size": "50", "offset": "0"}
