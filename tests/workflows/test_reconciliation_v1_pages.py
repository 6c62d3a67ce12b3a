"""fetch_invoice_lines(api="v1") reads the line-item pages columnar (an Arrow table per page, or the item dicts for
a page Arrow cannot type) and gives the same lines as the item dicts through v1_lines_to_frame did: as a frame, or
streamed into a Parquet dataset with a workdir; the reconciliation of either is the same. On the emulator's invoice
(several pages, purchases, a seat increase, a cancellation refund, Azure plan usage) and on the documented sample
page (mixed text/number values: the dict fallback)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import responses

from cspkit.billing.exports import v1_lines_to_frame
from cspkit.billing.ingest import SCHEMA, LineDataset
from cspkit.billing.reconcile import reconcile
from cspkit.client import PartnerCenter
from cspkit.errors import InputFileError, NotFoundError
from cspkit.workflows.reconciliation import fetch_invoice_lines, reconcile_invoice

US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
US_CUSTOMER_2 = "2f7b9c14-3a8d-4e6f-b1c2-d3e4f5a6b7c8"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
E3 = "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS"
AZURE_PLAN = "DZH318Z0BCZC:0001:DZH318Z0BZ8C"
SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "samples"
BASE = "https://pc.test/v1"


def sample(name: str) -> dict:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"documented samples not found at {SAMPLES} (../shared is absent)")
    return json.loads(path.read_text(encoding="utf-8"))


def buy(pc: PartnerCenter, customer: str, item: str, quantity: int, term: str | None = "P1M",
        cycle: str | None = "monthly") -> str:
    line: dict = {"catalogItemId": item, "quantity": quantity}
    if term:
        line |= {"termDuration": term, "billingCycle": cycle}
    cart = pc.carts.create(customer, line_items=[line])
    return pc.carts.checkout(customer, cart.id).orders[0].line_items[0].subscription_id


@pytest.fixture
def invoiced(emulator, emulator_client):
    """November's activity invoiced on 8 December: ``(client, invoice id)``."""
    pc = emulator_client()
    basic = buy(pc, US_CUSTOMER, BASIC, 10)
    buy(pc, US_CUSTOMER, E3, 5, "P1Y", "annual")
    buy(pc, US_CUSTOMER_2, AZURE_PLAN, 1, None)
    other = buy(pc, US_CUSTOMER_2, BASIC, 3)
    emulator.clock.advance(days=2)
    pc.subscriptions.set_quantity(US_CUSTOMER, basic, quantity=12)
    pc.subscriptions.cancel(US_CUSTOMER_2, other)
    emulator.clock.set("2026-12-08T00:00:00Z")
    (invoice,) = [i for i in pc.invoices.list() if i.currency_code == "USD"]
    return pc, invoice.id


def dict_path(pc: PartnerCenter, invoice_id: str) -> pd.DataFrame:
    """What fetch_invoice_lines(api="v1") gave before: every item dict through v1_lines_to_frame."""
    return v1_lines_to_frame(pc.invoices.reconciliation_line_items(invoice_id), source=invoice_id)


def counting(seen: list[tuple[type, int]]):
    def paged(pages):
        for page in pages:
            seen.append((type(page), len(page)))
            yield page
    return paged


def test_v1_pages_give_the_dict_paths_frame_and_dataset(invoiced, tmp_path):
    pc, invoice_id = invoiced
    expected = dict_path(pc, invoice_id)
    assert len(expected) > 7 and {"new", "addQuantity", "usage"} <= set(expected["ChargeType"])
    assert (expected["SubscriptionDescription"] == "Azure plan").any()  # consumption lines: other keys, same pages
    for page_size in (2000, 7):
        seen: list[tuple[type, int]] = []
        frame, sources = fetch_invoice_lines(pc, invoice_id, api="v1", page_size=page_size, paged=counting(seen))
        pd.testing.assert_frame_equal(frame, expected)
        assert sum(n for _, n in seen) == len(expected) and all(t is pa.Table for t, _ in seen)
        assert len(seen) == -(-len(expected) // page_size)  # one call per page of `page_size` lines
        assert sources == [f"invoice {invoice_id}: {len(expected):,} lines from the v1 line-item API"]

        dataset, sources = fetch_invoice_lines(pc, invoice_id, api="v1", page_size=page_size,
                                               workdir=tmp_path / f"work-{page_size}")
        assert isinstance(dataset, LineDataset) and dataset.files and all(p.is_file() for p in dataset.files)
        pd.testing.assert_frame_equal(dataset.to_frame(), expected)  # SourceFile the invoice, SourceRow 1..n
        assert sources == [f"invoice {invoice_id}: {len(expected):,} lines from the v1 line-item API"]
    assert list(expected["SourceRow"]) == list(range(1, len(expected) + 1))
    assert set(expected["SourceFile"]) == {invoice_id}


def test_the_reconciliation_of_the_pages_is_the_dict_paths(invoiced, tmp_path):
    pc, invoice_id = invoiced
    invoice = pc.invoices.get(invoice_id)
    subscriptions = [s.to_wire() | {"customerId": US_CUSTOMER} for s in pc.subscriptions.list(US_CUSTOMER)]
    before = reconcile(dict_path(pc, invoice_id), subscriptions=subscriptions, invoices=[invoice])
    as_frame = reconcile_invoice(pc, invoice_id, api="v1", subscriptions=subscriptions)
    as_dataset = reconcile_invoice(pc, invoice_id, api="v1", subscriptions=subscriptions, workdir=tmp_path / "w",
                                   page_size=5)
    assert isinstance(as_frame.lines, pd.DataFrame) and isinstance(as_dataset.lines, LineDataset)
    for done in (as_frame, as_dataset):
        for name in ("tieout", "variances", "variance_counts", "customers", "subscriptions", "charge_types"):
            pd.testing.assert_frame_equal(getattr(done.result, name), getattr(before, name), obj=name)
        assert list(done.result.lines["Variances"]) == list(before.lines["Variances"])
    # the second customer's lines match no subscription given: variances to compare
    assert "unknown_subscription" in set(before.variances["Category"])
    assert as_dataset.result.tieout.iloc[0]["Status"] == "ties"


@pytest.fixture
def pc():
    """A client of a Partner Center served by ``responses`` (no back-off waits)."""
    with responses.RequestsMock() as served:
        client = PartnerCenter(endpoint="https://pc.test", access_token="t0k3n", sleep=lambda s: None,
                               jitter=lambda upper: 0.0)
        client.served = served
        yield client
        client.close()


@pytest.fixture
def documented(pc):
    """The documented invoice and its first line-item page (mixed "4649221"/0 resellerMpnId: Arrow cannot type it)
    then a last page of the same items as one Arrow table, served by ``responses``: ``(client, id, items)``."""
    invoice = sample("invoice_get.json")["response"]["body"]
    body = sample("invoice_lineitems_onetime.json")["response"]["body"]
    invoice_id = invoice["id"]
    token = body["links"]["next"]["headers"][0]["value"]
    first = dict(body, links={"next": {"uri": f"/invoices/{invoice_id}/lineitems?seekOperation=Next",
                                       "method": "GET", "headers": body["links"]["next"]["headers"]}})
    last = {"totalCount": 2, "items": body["items"][:2], "links": {}}
    served = pc.served
    served.get(f"{BASE}/invoices/{invoice_id}", json=invoice)
    served.get(f"{BASE}/invoices/{invoice_id}/lineitems", body=json.dumps(first, indent=2),
                  match=[responses.matchers.query_param_matcher(
                      {"provider": "onetime", "invoicelineitemtype": "billinglineitems",
                       "currencycode": invoice["currencyCode"], "size": "2000"})])
    served.get(f"{BASE}/invoices/{invoice_id}/lineitems", body=json.dumps(last),
                  match=[responses.matchers.header_matcher({"MS-ContinuationToken": token})])
    return pc, invoice_id, body["items"] + body["items"][:2]


def test_the_documented_page_takes_the_dict_fallback_and_gives_the_same_lines(documented, tmp_path):
    pc, invoice_id, items = documented
    expected = v1_lines_to_frame(items, source=invoice_id)
    seen: list[tuple[type, int]] = []
    frame, _ = fetch_invoice_lines(pc, invoice_id, api="v1", paged=counting(seen))
    assert seen == [(list, len(items) - 2), (pa.Table, 2)]  # the mixed page as dicts, the typed one as a table
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame["Tier2MpnId"]) == ["4649221", "0", "0", "0", "4649221", "0"]  # resellerMpnId: text and 0
    dataset, _ = fetch_invoice_lines(pc, invoice_id, api="v1", workdir=tmp_path / "work")
    # the dataset keeps the documented columns (cspkit.billing.ingest.SCHEMA), as for files and Graph exports: the
    # sample's stray "attributes/objectType" key (second item) stays in the frame only
    assert "attributes/objectType" in frame.columns
    documented_columns = [c for c in expected.columns if c in SCHEMA.names]
    assert len(documented_columns) == 49
    pd.testing.assert_frame_equal(dataset.to_frame(), expected[documented_columns])
    assert dataset.read(["SourceRow"]).column(0).to_pylist() == list(range(1, len(items) + 1))


def test_a_bad_value_is_named_by_item_and_column_and_an_unknown_invoice_is_not_found(pc, tmp_path):
    invoice = sample("invoice_get.json")["response"]["body"]
    body = sample("invoice_lineitems_onetime.json")["response"]["body"]
    bad = [body["items"][0], dict(body["items"][1], unitPrice="sixteen")]
    served = pc.served
    served.get(f"{BASE}/invoices/{invoice['id']}", json=invoice)
    served.get(f"{BASE}/invoices/{invoice['id']}/lineitems", json={"totalCount": 2, "items": bad, "links": {}})
    served.get(f"{BASE}/invoices/G999999999", status=404, json={"code": 404, "description": "not found"})
    for workdir in (None, tmp_path / "work"):
        with pytest.raises(InputFileError) as info:
            fetch_invoice_lines(pc, invoice["id"], api="v1", workdir=workdir)
        assert (info.value.row, info.value.column, info.value.value) == (2, "UnitPrice", "sixteen")
        assert invoice["id"] in str(info.value)
    with pytest.raises(NotFoundError):
        fetch_invoice_lines(pc, "G999999999", api="v1")


@pytest.mark.parametrize("screen", ["hash", "every line one hash"])
def test_documented_line_items_sent_twice_are_the_only_duplicates(screen, monkeypatch):
    # Microsoft's documented OneTime line items (get-invoiceline-items.md, example 4: four distinct charges), the
    # first two sent again: billing-formats.md §4.5 makes exactly those two repeats duplicate_charge, each naming the
    # row it repeats, whether the hash screen sets few lines or every line aside for the exact comparison
    import ibis

    from cspkit.billing.engine import checks

    if screen != "hash":
        monkeypatch.setattr(checks, "_hash_of", lambda arity: lambda *keys: ibis.literal(7, "int64"))
    items = sample("invoice_lineitems_onetime.json")["response"]["body"]["items"]
    result = reconcile(v1_lines_to_frame(items + items[:2], source="G000000001"))
    duplicates = result.variances[result.variances["Category"] == "duplicate_charge"]
    assert [(int(r.SourceRow), r.Evidence.split(" (")[0]) for r in duplicates.itertuples()] == [
        (5, "same charge as row 1"), (6, "same charge as row 2")]
