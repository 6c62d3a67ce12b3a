"""Streaming export blobs into typed frames: the columnar chunk path agrees with the readers' public path."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pandas as pd
import pytest

from cspkit.billing import graph_export
from cspkit.billing.graph_export import iter_export_frames, iter_export_records, read_export
from cspkit.billing.recon_readers import recon_lines_to_frame
from cspkit.errors import InputFileError

RECORDS = [
    {"partnerId": "P1", "customerId": "{A0A0A0A0-0000-4000-8000-000000000001}", "skuId": "1", "chargeType": "New",
     "unitPrice": "10.08", "subtotal": "100.80", "total": "100.80", "currency": "usd", "subscriptionId": "S1",
     "productId": "CFQ7TTC0LH18", "chargeStartDate": "2026-10-05T00:00:00Z", "chargeEndDate": "10/4/2026",
     "effectiveUnitPrice": "10.08", "billableQuantity": "10", "productQualifiers": ["Add-on", "Trial"],
     "orderDate": "2026-10-05T09:00:00.1234567Z", "mpnId": "6034453.0"},
    {"partnerId": "P1", "customerId": "c2", "skuId": "0002", "chargeType": "cancelImmediate", "unitPrice": "7",
     "subtotal": "-9.4", "totalForCustomer": "-9.4", "currency": "USD", "subscriptionId": "S2",
     "productId": "CFQ7TTC0LH18", "chargeStartDate": "2026-10-05T00:00:00Z", "chargeEndDate": "2026-11-04T00:00:00Z",
     "effectiveUnitPrice": "-0.940000", "billableQuantity": "10", "newColumn": 5, "flag": True},
]


def write_blob(path, lines: list[str]) -> None:
    with open(path, "wb") as raw:
        for member in (lines[:1], lines[1:]):
            raw.write(gzip.compress("".join(member).encode(), mtime=0))


def blob_lines() -> list[str]:
    # JSON numbers for the money of the first line (as the Graph export sends them), strings elsewhere
    first = json.dumps(RECORDS[0]).replace('"unitPrice": "10.08"', '"unitPrice": 10.08').replace(
        '"subtotal": "100.80"', '"subtotal": 100.80')
    return [first + "\n", "\n", json.dumps(RECORDS[1]) + "\n"]


def texts(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


def test_columnar_chunks_equal_the_public_record_path(tmp_path):
    blob = tmp_path / "part-00000.json.gz"
    write_blob(blob, blob_lines())

    fast = pd.concat(list(iter_export_frames([blob], chunk_rows=10)), ignore_index=True)
    records = [r for _, _, r in iter_export_records([blob])]
    public = recon_lines_to_frame(records, source=blob.name).frame
    public["SourceRow"] = [1, 3]

    pd.testing.assert_frame_equal(fast, public)
    assert list(fast["SourceRow"]) == [1, 3]  # line numbers in the blob (line 2 is blank)
    assert list(fast["Subtotal"]) == [Decimal("100.80"), Decimal("-9.4")]
    # a JSON number is parsed exactly, never through a float (MONEY columns hold 15 decimal places)
    assert str(fast["Subtotal"][0]) == "100.800000000000000"
    assert list(fast["Total"]) == [Decimal("100.80"), Decimal("-9.4")]  # totalForCustomer is Total's alias
    assert texts(fast["ProductQualifiers"]) == ['["AddOn","Trial"]', None]
    assert texts(fast["CustomerId"]) == ["a0a0a0a0-0000-4000-8000-000000000001", "c2"]
    assert texts(fast["MpnId"]) == ["6034453", None] and texts(fast["SkuId"]) == ["0001", "0002"]
    assert texts(fast["newColumn"]) == [None, "5"] and texts(fast["flag"]) == [None, "true"]

    whole = read_export([blob]).frame  # the readers' gzip JSON Lines path over the same blob
    pd.testing.assert_frame_equal(whole.drop(columns="SourceFile"), fast.drop(columns="SourceFile"))


def test_the_public_path_is_used_when_the_fast_one_is_off(tmp_path, monkeypatch):
    blob = tmp_path / "b.json.gz"
    write_blob(blob, blob_lines())
    fast = pd.concat(list(iter_export_frames([blob])), ignore_index=True)
    monkeypatch.setattr(graph_export, "_FAST", False)
    slow = pd.concat(list(iter_export_frames([blob])), ignore_index=True)
    pd.testing.assert_frame_equal(fast, slow)


def test_bad_lines_are_named_by_file_and_line(tmp_path):
    blob = tmp_path / "bad.json.gz"
    write_blob(blob, [json.dumps(RECORDS[0]) + "\n", "\n", '{"partnerId": \n'])
    with pytest.raises(InputFileError) as info:
        list(iter_export_records([blob]))
    assert (info.value.row, info.value.expected) == (3, "one JSON object per line")

    bad_money = dict(RECORDS[1], subtotal="ten")
    write_blob(blob, [json.dumps(RECORDS[0]) + "\n", json.dumps(bad_money) + "\n"])
    with pytest.raises(InputFileError) as info:
        list(iter_export_frames([blob]))
    assert (info.value.row, info.value.column, info.value.value) == (2, "Subtotal", "ten")

    truncated = tmp_path / "cut.json.gz"
    truncated.write_bytes(gzip.compress((json.dumps(RECORDS[0]) + "\n").encode() * 50)[:-20])
    with pytest.raises(InputFileError, match="a complete gzip stream"):
        list(iter_export_records([truncated]))


def test_empty_blobs_and_no_blobs_give_empty_typed_frames(tmp_path):
    empty = tmp_path / "empty.json.gz"
    empty.write_bytes(gzip.compress(b"", mtime=0))
    assert list(iter_export_frames([empty])) == []
    report = read_export([empty])
    assert len(report.frame) == 0 and "Subtotal" in report.frame.columns and report.rows_read == 0
    assert len(read_export([]).frame) == 0


def test_flat_blobs_go_through_arrow_and_keep_every_digit(tmp_path, monkeypatch):
    flat = [{k: v for k, v in r.items() if not isinstance(v, (list, bool))} for r in RECORDS]
    text = json.dumps(flat[0]).replace('"unitPrice": "10.08"', '"unitPrice": 10.080').replace(
        '"subtotal": "100.80"', '"subtotal":100.80') + "\n" + json.dumps(dict(flat[1], note='say \\": 5, "x')) + "\n"
    blob = tmp_path / "flat.json.gz"
    write_blob(blob, text.splitlines(keepends=True))
    public = recon_lines_to_frame([r for _, _, r in iter_export_records([blob])], source=blob.name).frame

    def refuse(*args, **kwargs):
        raise AssertionError("the record path was used")

    monkeypatch.setattr(graph_export, "_columnar_chunk", refuse)
    monkeypatch.setattr(graph_export, "recon_lines_to_frame", refuse)
    fast = pd.concat(list(iter_export_frames([blob])), ignore_index=True)

    pd.testing.assert_frame_equal(fast, public)
    assert [str(v) for v in fast["UnitPrice"]] == ["10.080000000000000", "7.000000000000000"]
    assert [str(v) for v in fast["Subtotal"]] == ["100.800000000000000", "-9.400000000000000"]
    assert texts(fast["note"]) == [None, 'say \\": 5, "x']


def flat_record(i: int) -> dict:
    return dict({k: v for k, v in RECORDS[i % 2].items() if isinstance(v, str)}, referenceId=f"R{i}")


def test_blocks_cut_mid_line_keep_line_numbers_and_every_row(tmp_path, monkeypatch):
    # many small Arrow blocks: lines are cut between reads, the BOM is dropped, multi-member gzip is read whole
    lines = [json.dumps(flat_record(i)).replace('"unitPrice": "10.08"', '"unitPrice": 10.08') + "\n"
             for i in range(40)]
    blob = tmp_path / "many.json.gz"
    with open(blob, "wb") as raw:
        raw.write(gzip.compress(("\ufeff" + "".join(lines[:13])).encode(), mtime=0))
        raw.write(gzip.compress("".join(lines[13:]).encode(), mtime=0))
    public = recon_lines_to_frame([r for _, _, r in iter_export_records([blob])], source=blob.name).frame
    monkeypatch.setattr(graph_export, "BLOCK_BYTES", 700)  # a line is ~650 bytes: most blocks hold one or two
    monkeypatch.setattr(graph_export, "_arrow_chunk", lambda *a: (_ for _ in ()).throw(AssertionError("slow")))
    frames = list(iter_export_frames([blob], chunk_rows=3))
    assert max(len(f) for f in frames) <= 3
    fast = pd.concat(frames, ignore_index=True)
    assert list(fast["SourceRow"]) == list(range(1, 41))
    assert list(fast["ReferenceId"]) == [f"r{i}" for i in range(40)]  # a GUID column: lower-cased
    pd.testing.assert_frame_equal(fast.drop(columns="SourceRow"), public.drop(columns="SourceRow"))


def test_blocks_arrow_cannot_type_fall_back_to_the_same_frame(tmp_path):
    # a number where line 1 had text (mpnId), "" in a number column, blank lines: each block still reads exactly
    first = json.dumps(flat_record(0))
    cases = {
        "number-in-text": [first, json.dumps(dict(flat_record(1), mpnId=6034453.0))],
        "empty-number": [first, json.dumps(dict(flat_record(1), taxTotal=""))],
        "blank-lines": [first, "   ", json.dumps(flat_record(1)), ""],
        "late-key-number": [first, json.dumps(dict(flat_record(1), lateKey=0)).replace('"lateKey": 0',
                                                                              '"lateKey": 0.1234567890123456789')],
    }
    for name, lines in cases.items():
        blob = tmp_path / f"{name}.json.gz"
        blob.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        numbers = [n for _, n, _ in iter_export_records([blob])]
        public = recon_lines_to_frame([r for _, _, r in iter_export_records([blob])], source=blob.name).frame
        public["SourceRow"] = numbers
        pd.testing.assert_frame_equal(pd.concat(list(iter_export_frames([blob])), ignore_index=True), public)
    assert texts(public["lateKey"]) == [None, "0.1234567890123456789"]  # never through a float


def test_a_truncated_blob_is_named_not_a_traceback(tmp_path):
    truncated = tmp_path / "cut.json.gz"
    truncated.write_bytes(gzip.compress((json.dumps(flat_record(0)) + "\n").encode() * 500)[:-20])
    with pytest.raises(InputFileError, match="a complete gzip stream") as info:
        list(iter_export_frames([truncated]))
    assert info.value.path.endswith("cut.json.gz")


def test_booleans_and_exponents_stay_on_the_arrow_path(tmp_path, monkeypatch):
    # usage exports carry hasPartnerEarnedCredit (a JSON boolean) and tiny amounts in exponent form
    lines = [json.dumps(dict(flat_record(i), flag=i == 0)).replace('"unitPrice": "10.08"', '"unitPrice": 7.10833e-05')
             + "\n" for i in range(2)]
    blob = tmp_path / "bool.json.gz"
    blob.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))
    public = recon_lines_to_frame([r for _, _, r in iter_export_records([blob])], source=blob.name).frame
    public["SourceRow"] = [1, 2]
    monkeypatch.setattr(graph_export, "_lines_frames", refuse_slow)
    fast = pd.concat(list(iter_export_frames([blob])), ignore_index=True)
    pd.testing.assert_frame_equal(fast, public)
    assert texts(fast["flag"]) == ["true", "false"]
    assert str(fast["UnitPrice"][0]) == "0.000071083300000"


def refuse_slow(*args, **kwargs):
    raise AssertionError("a slower path was used")


def test_a_blob_cut_off_late_yields_its_complete_blocks_first(tmp_path, monkeypatch):
    text = "".join(json.dumps(flat_record(i)) + "\n" for i in range(300)).encode()
    data = gzip.compress(text, mtime=0)
    blob = tmp_path / "late-cut.json.gz"
    blob.write_bytes(data[: len(data) * 3 // 4])
    monkeypatch.setattr(graph_export, "BLOCK_BYTES", 4096)  # many blocks, parsed ahead in the background
    got = []
    with pytest.raises(InputFileError, match="a complete gzip stream") as info:
        for frame in iter_export_frames([blob], chunk_rows=7):
            got.append(frame)
    rows = list(pd.concat(got, ignore_index=True)["SourceRow"])
    assert rows == list(range(1, len(rows) + 1)) and len(rows) > 7  # every whole block before the cut, in order
    assert info.value.row > rows[-1]


def _readers_path(paths: list, kind: str = "invoice"):
    """What read_export returned before it went through the block reader: the readers' gzip JSON Lines path."""
    from cspkit.billing.recon_readers import concat_recon_frames, read_recon

    reports = [read_recon(p, kind=kind) for p in paths]
    return reports, concat_recon_frames([r.frame for r in reports], kind)


def test_read_export_goes_through_the_block_reader_and_agrees_with_the_readers(tmp_path, monkeypatch):
    one, two = tmp_path / "part-1.json.gz", tmp_path / "part-2.json.gz"
    write_blob(one, blob_lines())  # a blank line, an array, a boolean: the slower paths
    flat = [{k: v for k, v in r.items() if not isinstance(v, (list, bool))} for r in RECORDS]
    write_blob(two, [json.dumps(flat[i % 2]) + "\n" for i in range(7)])  # flat: Arrow's typed blocks
    calls = []
    monkeypatch.setattr(graph_export, "_parsed_blocks",
                        lambda p, real=graph_export._parsed_blocks: calls.append(p.name) or real(p))

    report = read_export([one, two])

    assert calls == ["part-1.json.gz", "part-2.json.gz"]
    reports, expected = _readers_path([one, two])
    pd.testing.assert_frame_equal(report.frame.drop(columns="SourceFile"), expected.drop(columns="SourceFile"))
    assert list(report.frame["SourceFile"].astype(str)) == ["part-1.json.gz"] * 2 + ["part-2.json.gz"] * 7
    assert report.rows_read == 9 == sum(r.rows_read for r in reports)
    assert report.rows_skipped == 1 == sum(r.rows_skipped for r in reports)  # the blank line of part-1
    assert report.missing_columns == sorted(set.intersection(*(set(r.missing_columns) for r in reports)))
    assert report.extra_columns == sorted({c for r in reports for c in r.extra_columns}) == ["flag", "newColumn"]


def test_read_export_of_the_documented_line_items_agrees_with_the_readers(tmp_path):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "samples" / \
        "invoice_lineitems_onetime.json"
    if not path.is_file():
        pytest.skip(f"documented sample {path} is absent (../shared/reference/samples)")
    items = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]["items"]
    from cspkit.billing.exports import V1_ENVELOPE_KEYS

    lines = [json.dumps({k: v for k, v in item.items() if k not in V1_ENVELOPE_KEYS}) + "\n" for item in items]
    blob = tmp_path / "part-00000.json.gz"
    blob.write_bytes(gzip.compress("".join(lines * 3).encode(), mtime=0))

    report = read_export([blob])
    reports, expected = _readers_path([blob])
    pd.testing.assert_frame_equal(report.frame, expected)
    assert (report.rows_read, report.rows_skipped) == (3 * len(items), 0)
    assert report.missing_columns == reports[0].missing_columns
    assert report.extra_columns == reports[0].extra_columns


def test_chunks_span_small_blocks_and_a_slow_block_keeps_the_order(tmp_path, monkeypatch):
    # blocks of ~3 lines, chunks of 7: typed blocks are joined into whole chunks; a block Arrow cannot type (a blank
    # line) first hands over the typed rows before it, so rows stay in line order and none is lost or doubled
    lines = [json.dumps(dict(flat_record(0), referenceId=f"R{i}")) + "\n" for i in range(40)]  # one schema
    blob = tmp_path / "span.json.gz"
    blob.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))
    monkeypatch.setattr(graph_export, "BLOCK_BYTES", 3 * len(lines[0]))
    monkeypatch.setattr(graph_export, "_lines_frames", refuse_slow)
    frames = list(iter_export_frames([blob], chunk_rows=7))
    assert [len(f) for f in frames] == [7, 7, 7, 7, 7, 5]
    whole = pd.concat(frames, ignore_index=True)
    assert list(whole["SourceRow"]) == list(range(1, 41))
    public = recon_lines_to_frame([r for _, _, r in iter_export_records([blob])], source=blob.name).frame
    pd.testing.assert_frame_equal(whole.drop(columns="SourceRow"), public.drop(columns="SourceRow"))

    monkeypatch.undo()
    monkeypatch.setattr(graph_export, "BLOCK_BYTES", 3 * len(lines[0]))
    blanks = lines[:20] + ["\n"] + lines[20:]
    blob.write_bytes(gzip.compress("".join(blanks).encode(), mtime=0))
    frames = list(iter_export_frames([blob], chunk_rows=7))
    assert max(len(f) for f in frames) <= 7
    rows = list(pd.concat(frames, ignore_index=True)["SourceRow"])
    assert rows == list(range(1, 21)) + list(range(22, 42))  # line 21 is blank
    assert list(pd.concat(frames, ignore_index=True)["ReferenceId"]) == [f"r{i}" for i in range(40)]


def test_a_caller_stopping_early_leaves_no_reader_thread(tmp_path, monkeypatch):
    import threading

    text = "".join(json.dumps(flat_record(0)) + "\n" for _ in range(400)).encode()
    blob = tmp_path / "long.json.gz"
    blob.write_bytes(gzip.compress(text, mtime=0))
    monkeypatch.setattr(graph_export, "BLOCK_BYTES", 2048)  # ~3 lines a block: the reader is far ahead
    monkeypatch.setattr(graph_export, "AHEAD_BYTES", 8 * 2048)  # ... until its queue of 8 blocks is full
    frames = iter_export_frames([blob], chunk_rows=5)
    assert len(next(frames)) == 5
    frames.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("cspkit-export")]
    assert sum(len(f) for f in iter_export_frames([blob], chunk_rows=7)) == 400  # and a new walk reads it all


def test_two_objects_on_a_line_are_named_even_beside_a_blank_line(tmp_path):
    # a blank line (one row fewer) and a line of two objects (one row more) must not pass for one object a line
    first = json.dumps(flat_record(0))
    blob = tmp_path / "two.json.gz"
    blob.write_bytes(gzip.compress((first + "\n\n" + first + first + "\n" + first + "\n").encode(), mtime=0))
    with pytest.raises(InputFileError) as info:
        list(iter_export_frames([blob]))
    assert (info.value.row, info.value.expected) == (3, "one JSON object per line")


def test_fractions_and_mixed_aliases_on_the_arrow_path_match_the_record_path(tmp_path, monkeypatch):
    # rateOfPartnerEarnedCredit is a fraction (billing-formats.md §1.6): 0.15 → PartnerEarnedCreditPercentage 15,
    # though Arrow parsed it as a decimal; total (a number) and totalForCustomer (text) are one column
    lines = [json.dumps(dict(flat_record(0), rateOfPartnerEarnedCredit=0.15, total=5.5, totalForCustomer=" 5.5 ")),
             json.dumps(dict(flat_record(0), rateOfPartnerEarnedCredit=0, total=None, totalForCustomer=" 7 "))]
    blob = tmp_path / "pec.json.gz"
    blob.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    public = recon_lines_to_frame([r for _, _, r in iter_export_records([blob])], source=blob.name).frame
    public["SourceRow"] = [1, 2]
    monkeypatch.setattr(graph_export, "_lines_frames", refuse_slow)
    fast = pd.concat(list(iter_export_frames([blob])), ignore_index=True)
    pd.testing.assert_frame_equal(fast, public)
    assert list(fast["PartnerEarnedCreditPercentage"]) == [Decimal(15), Decimal(0)]
    assert list(fast["Total"]) == [Decimal("5.5"), Decimal(7)]
