"""The columnar v1 line-item path: each page parsed by Arrow's JSON reader into one table, turned into the typed
frame — the same frame as the dict path (orjson pages → v1_lines_to_frame) on the emulator's invoice lines and on
the documented sample page; pages Arrow cannot type go through the dicts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import requests
import responses

from cspkit.billing.exports import iter_v1_frames, parse_v1_page, v1_batches_to_frame, v1_lines_to_frame
from cspkit.billing.ingest import ingest_frames
from cspkit.client import PartnerCenter
from cspkit.errors import InputFileError

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "samples"
BASE = "https://pc.test/v1"


def sample_body() -> dict:
    path = SAMPLES / "invoice_lineitems_onetime.json"
    if not path.is_file():
        pytest.skip(f"documented samples not found at {SAMPLES} (../shared is absent)")
    return json.loads(path.read_text(encoding="utf-8"))["response"]["body"]


def emulator_pages(emulator) -> tuple[dict, list, list]:
    """An emulator invoice of 4,500 generated lines: (its id, its batches, its items through the dict path)."""
    made = requests.post(f"{emulator.url}/_emulator/recon/synthetic", json={"lines": 4500, "currency": "USD"},
                         timeout=30).json()
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    try:
        batches = list(pc.invoices.line_item_batches(made["invoiceId"], currency="USD", page_size=2000))
        items = list(pc.invoices.line_items(made["invoiceId"], currency="USD", page_size=2000, raw=True))
    finally:
        pc.close()
    return made, batches, items


def test_emulator_pages_become_tables_and_the_same_frame_as_the_dict_path(emulator):
    made, batches, items = emulator_pages(emulator)
    assert [type(b) for b in batches] == [pa.Table] * 3  # every page columnar: no dict per line
    assert [b.num_rows for b in batches] == [2000, 2000, 500]  # links.next followed to the last page
    assert batches[0].column("referenceId").to_pylist() == [i["referenceId"] for i in items[:2000]]
    assert pa.types.is_decimal(batches[0].schema.field("unitPrice").type)  # exact, not float
    expected = v1_lines_to_frame(items, source=made["invoiceId"])
    for chunk_rows in (20_000, 3000):  # one chunk, and chunks that join and split pages
        pd.testing.assert_frame_equal(v1_batches_to_frame(batches, source=made["invoiceId"], chunk_rows=chunk_rows),
                                      expected)
    assert expected["Total"].sum() > 0
    chunks = list(iter_v1_frames(batches, source=made["invoiceId"], chunk_rows=3000))  # pages whole: 4000 + 500
    assert [len(c) for c in chunks] == [4000, 500]
    for chunk, rows in zip(chunks, (slice(0, 4000), slice(4000, 4500)), strict=True):
        pd.testing.assert_frame_equal(chunk.reset_index(drop=True), expected.iloc[rows].reset_index(drop=True))


def test_streamed_chunks_ingest_into_parquet(emulator, tmp_path):
    made, batches, _ = emulator_pages(emulator)
    dataset = ingest_frames(iter_v1_frames(iter(batches), source=made["invoiceId"], chunk_rows=2000),
                            tmp_path / "work")
    assert len(dataset) == 4500
    table = dataset.read(["SourceRow", "UnitPrice"])
    assert table.column("SourceRow").to_pylist() == list(range(1, 4501))
    assert pa.types.is_decimal(table.schema.field("UnitPrice").type)


def test_documented_sample_pages_give_the_dict_paths_frame():
    body = sample_body()
    items = body["items"]
    for part, columnar in ((items[:2], True), (items[2:], True), (items, False)):
        # the whole sample mixes "4649221" and 0 in resellerMpnId: Arrow cannot type it, so the page stays dicts
        page = parse_v1_page(b"\xef\xbb\xbf" + json.dumps(dict(body, items=part), indent=2).encode())
        assert isinstance(page["items"], pa.Table) is columnar
        assert page["continuationToken"] == body["continuationToken"]
        assert page["links"]["next"]["headers"] == body["links"]["next"]["headers"]
        pd.testing.assert_frame_equal(v1_batches_to_frame([page["items"]], source="G000773581"),
                                      v1_lines_to_frame(part, source="G000773581"))
    table = parse_v1_page(json.dumps(dict(body, items=items[:2])))["items"]
    assert table.column("productQualifiers").to_pylist() == [["AddOn", "Trial"], []]


@responses.activate
def test_batches_follow_the_documented_next_link_and_its_token(pc):
    body = sample_body()
    token = body["links"]["next"]["headers"][0]["value"]
    first = dict(body, items=body["items"][:2])
    last = {"totalCount": 2, "items": body["items"][2:], "links": {}}
    responses.get(f"{BASE}/invoices/G000773581/lineitems", body=json.dumps(first),
                  match=[responses.matchers.query_param_matcher(
                      {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": "2"})])
    responses.get(f"{BASE}/invoices/G000773581/lineitems", body=json.dumps(last),
                  match=[responses.matchers.header_matcher({"MS-ContinuationToken": token})])
    batches = list(pc.invoices.line_item_batches("G000773581", page_size=2))
    assert [b.num_rows for b in batches] == [2, 2]
    pd.testing.assert_frame_equal(v1_batches_to_frame(batches), v1_lines_to_frame(body["items"]))


def test_untypable_pages_fall_back_to_dicts_and_errors_name_the_row_over_all_pages():
    body = sample_body()
    good = body["items"][:2]
    assert isinstance(parse_v1_page(json.dumps(dict(body, items=[]))).get("items"), list)  # empty page
    nested = [dict(good[0], extra={"a": 1}), good[1]]  # a nested object that is not the envelope
    assert isinstance(parse_v1_page(json.dumps(dict(body, items=nested)))["items"], list)
    bad = [good[0], dict(good[1], unitPrice="sixteen")]
    page = parse_v1_page(json.dumps(dict(body, items=bad)))
    assert isinstance(page["items"], list)  # Arrow cannot read "sixteen" as a decimal: the dicts
    first = parse_v1_page(json.dumps(dict(body, items=good)))["items"]
    with pytest.raises(InputFileError) as info:
        v1_batches_to_frame([first, page["items"]], source="G1")
    assert (info.value.row, info.value.column, info.value.value) == (4, "UnitPrice", "sixteen")
    with pytest.raises(InputFileError, match="a JSON object"):
        v1_batches_to_frame([first, [good[0], None]], source="G1")
    with pytest.raises(ValueError):
        parse_v1_page(b"{not json")


def test_pages_typed_two_ways_join_into_one_frame():
    body = sample_body()
    numbers = [dict(i, unitPrice=16, subtotal=16) for i in body["items"][:2]]  # decimals in one page
    texts = [dict(i, unitPrice="16.5") for i in body["items"][:2]]
    tables = [parse_v1_page(json.dumps(dict(body, items=p)))["items"] for p in (numbers, texts)]
    assert all(isinstance(t, pa.Table) for t in tables)
    joined = v1_batches_to_frame([*tables, body["items"]], source="G1")
    pd.testing.assert_frame_equal(joined, v1_lines_to_frame([*numbers, *texts, *body["items"]], source="G1"))
    assert list(joined["UnitPrice"].astype(str))[:4] == ["16.000000000000000"] * 2 + ["16.500000000000000"] * 2


@responses.activate
def test_the_next_pages_error_comes_after_this_page_though_it_was_read_ahead(pc):
    from cspkit.errors import NotFoundError

    body = sample_body()
    first = dict(body, items=body["items"][:2])
    responses.get(f"{BASE}/invoices/G000773581/lineitems", body=json.dumps(first),
                  match=[responses.matchers.query_param_matcher(
                      {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": "2"})])
    responses.get(f"{BASE}/invoices/G000773581/lineitems", status=404, json={"code": 404, "description": "gone"})
    batches = pc.invoices.line_item_batches("G000773581", page_size=2)
    assert next(batches).num_rows == 2  # the read-ahead's failure is not raised before the page before it
    with pytest.raises(NotFoundError):
        next(batches)
