"""The v1 line-item fast path: pages read whole and decoded by orjson, items turned into the frame column by
column — the same items and the same frame as the model/record paths, on the documented sample page."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import responses

from cspkit.billing.exports import V1_ENVELOPE_KEYS, v1_lines_to_frame
from cspkit.billing.recon_readers import recon_lines_to_frame
from cspkit.errors import InputFileError
from cspkit.pagination import fast_json

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "samples"
BASE = "https://pc.test/v1"


def sample_items() -> list[dict]:
    path = SAMPLES / "invoice_lineitems_onetime.json"
    if not path.is_file():
        pytest.skip(f"documented samples not found at {SAMPLES} (../shared is absent)")
    return json.loads(path.read_text(encoding="utf-8"))["response"]["body"]["items"]


@responses.activate
def test_raw_pages_are_decoded_whole_and_follow_the_continuation_token(pc):
    items = sample_items()
    first = {"totalCount": 1, "items": items[:1], "links": {"next": {
        "uri": "/invoices/G1/lineitems?provider=onetime&invoicelineitemtype=billinglineitems&size=1"
               "&seekOperation=Next", "method": "GET", "headers": [{"key": "MS-ContinuationToken", "value": "t,1"}]}}}
    responses.get(f"{BASE}/invoices/G1/lineitems", body=b"\xef\xbb\xbf" + json.dumps(first).encode(),
                  content_type="application/json",
                  match=[responses.matchers.query_param_matcher(
                      {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": "1"})])
    responses.get(f"{BASE}/invoices/G1/lineitems", json={"totalCount": 2, "items": items[1:3]},
                  match=[responses.matchers.header_matcher({"MS-ContinuationToken": "t,1"})])
    got = list(pc.invoices.line_items("G1", page_size=1, raw=True))
    assert got == items[:3]  # dicts as sent: numbers stay numbers, strings strings, arrays arrays


def test_fast_json_gives_the_standard_librarys_values():
    text = '{"a": 1, "b": 10.08, "c": "7", "d": [1, "x"], "e": null, "f": true}'
    assert fast_json(text) == json.loads(text) == fast_json(("\ufeff" + text).encode())
    with pytest.raises(ValueError):
        fast_json(b"{not json")


def test_columnar_v1_frame_equals_the_record_path_on_the_documented_page():
    items = sample_items() * 3
    record_path = recon_lines_to_frame(
        ({k: v for k, v in i.items() if k not in V1_ENVELOPE_KEYS} for i in items), source="G000024135").frame
    for chunk_rows in (20_000, 2):  # one chunk, and chunks that split the page
        pd.testing.assert_frame_equal(v1_lines_to_frame(items, source="G000024135", chunk_rows=chunk_rows),
                                      record_path)


def test_bad_v1_values_name_the_item_and_column():
    items = sample_items()
    bad = [items[0], dict(items[1], unitPrice="sixteen")]
    with pytest.raises(InputFileError) as info:
        v1_lines_to_frame(bad, source="G1", chunk_rows=1)
    assert (info.value.row, info.value.column, info.value.value) == (2, "UnitPrice", "sixteen")
    with pytest.raises(InputFileError, match="a JSON object"):
        v1_lines_to_frame([items[0], ["not", "an", "object"]], source="G1")


@responses.activate
def test_a_wrong_read_ahead_is_dropped_and_the_right_page_asked_for(pc):
    # the next link carries no header: the token is the top-level continuationToken, which the read-ahead (from
    # the end of the raw body) does not see; the decoded page decides, so the token still travels
    from cspkit.pagination import Paginator

    first = {"continuationToken": "tok-2", "totalCount": 1, "items": [{"n": 1}],
             "links": {"next": {"uri": "/items?seekOperation=Next", "method": "GET", "headers": []}}}
    responses.get(f"{BASE}/items", json=first, match=[responses.matchers.query_param_matcher({"size": "1"})])
    responses.get(f"{BASE}/items", json={"totalCount": 1, "items": [{"n": 2}], "links": {}},
                  match=[responses.matchers.header_matcher({"MS-ContinuationToken": "tok-2"})])
    pages = Paginator(pc.transport, "items", page_size=1, decode=fast_json)
    assert list(pages) == [{"n": 1}, {"n": 2}]
    assert any(c.request.headers.get("MS-ContinuationToken") == "tok-2" for c in responses.calls)


@responses.activate
def test_read_ahead_stops_at_max_pages_and_a_paging_loop_is_refused(pc):
    from cspkit.errors import PagingError
    from cspkit.pagination import Paginator

    loop = {"totalCount": 1, "items": [{"n": 1}], "links": {"next": {
        "uri": "/items?seekOperation=Next", "headers": [{"key": "MS-ContinuationToken", "value": "same"}]}}}
    responses.get(f"{BASE}/items", json=loop)
    assert list(Paginator(pc.transport, "items", decode=fast_json, max_pages=1)) == [{"n": 1}]
    assert len(responses.calls) == 1  # nothing read ahead past the last page asked for
    with pytest.raises(PagingError, match="paging loop"):
        list(Paginator(pc.transport, "items", decode=fast_json))
