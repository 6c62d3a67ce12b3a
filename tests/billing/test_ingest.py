"""Ingest: every reader quirk survives the trip into the typed Parquet dataset, chunk by chunk; the dataset reads
back as the readers' frame; the work folder is private and removed; the workbook streams line items from it."""

from __future__ import annotations

import gzip
import json
import stat
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cspkit.billing.ingest import SCHEMA, ingest_export, ingest_frames, ingest_recon, to_reader_frame, work_folder
from cspkit.billing.recon_readers import read_recon
from cspkit.billing.reconcile import reconcile
from cspkit.errors import InputFileError
from tests.billing.test_recon_readers import INVOICE_RECON_COLUMNS, api_item, base_row, write_csv

DATA = Path(__file__).resolve().parents[2] / "sample_data"


def _quirky_files(tmp_path: Path) -> list[Path]:
    """An Excel re-save (';', cp1252, decimal comma, D.M.YYYY, SkuId 1), a BOM file with blank rows and a
    multi-member gzip JSON Lines blob."""
    resaved = write_csv(tmp_path / "resaved.csv", [
        base_row(SkuId="1", CustomerName="Müller Büro GmbH", UnitPrice="10,08", EffectiveUnitPrice="9,408",
                 Subtotal="1.234,56", Total="1.234,56", OrderDate="20.06.2021", ChargeType="AddQuantity"),
        base_row(SkuId="006G", Subtotal="112,89", Total="112,89"),
        base_row(SkuId="2", Subtotal="1,00", Total="1,00"),
    ], delimiter=";", encoding="cp1252", bom=False)  # fmt: skip
    bom = write_csv(tmp_path / "bom.csv", [base_row(), {c: "" for c in INVOICE_RECON_COLUMNS},
                                           base_row(Subtotal="1.00", Total="1.00")],
                    delimiter=";", bom=True, blank_lines=(3,))  # fmt: skip
    blob = tmp_path / "part-00001.json.gz"
    items = [json.dumps(api_item(subtotal=f"{i}.10", total=f"{i}.10")) for i in range(3)]
    blob.write_bytes(gzip.compress(("\n".join(items[:2]) + "\n").encode()) + gzip.compress(items[2].encode()))
    return [resaved, bom, blob]


def test_every_reader_quirk_reads_back_from_parquet_as_the_readers_frame(tmp_path: Path) -> None:
    files = _quirky_files(tmp_path)
    dataset = ingest_recon(files, tmp_path / "work", chunk_rows=2)
    assert dataset.rows == 3 + 2 + 3 and [r.rows_skipped for r in dataset.reports] == [0, 2, 0]
    assert all(len(r.frame) == 0 for r in dataset.reports)  # the readers kept no chunk
    table = dataset.read()
    assert table.schema == SCHEMA
    assert table.schema.field("Subtotal").type == pa.decimal128(38, 15)
    assert table.schema.field("OrderDate").type == pa.timestamp("ns", tz="UTC")
    assert table.column("pos").to_pylist() == list(range(8))
    assert pq.ParquetFile(dataset.files[2]).num_row_groups == 2  # the JSON blob: chunk by chunk (2 rows, then 1)
    frame = dataset.to_frame()
    for path in files:
        expected = read_recon(path).frame
        expected = expected[[c for c in expected.columns if c in frame.columns]]
        got = frame[frame["SourceFile"] == path.name].reset_index(drop=True)
        got["SourceFile"] = got["SourceFile"].astype(object).astype("category")
        pd.testing.assert_frame_equal(got, expected, check_exact=True, check_categorical=False)
    resaved = frame[frame["SourceFile"] == "resaved.csv"]
    assert resaved["SkuId"].tolist() == ["0001", "006G", "0002"]
    assert resaved["Subtotal"].iloc[0] == Decimal("1234.56")
    assert resaved["OrderDate"].iloc[0] == pd.Timestamp("2021-06-20", tz="UTC")
    assert frame[frame["SourceFile"] == "bom.csv"]["SourceRow"].tolist() == [1, 4]


def test_a_graph_export_ingests_through_its_chunk_iterator(tmp_path: Path) -> None:
    blob = _quirky_files(tmp_path)[2]
    dataset = ingest_export([blob], tmp_path / "work")
    frame = to_reader_frame(dataset.read())
    assert frame["Subtotal"].tolist() == [Decimal("0.10"), Decimal("1.10"), Decimal("2.10")]
    assert frame["SourceRow"].tolist() == [1, 2, 3]
    assert frame["ChargeType"].tolist() == read_recon(blob).frame["ChargeType"].tolist()


def test_a_bad_value_names_file_row_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [base_row(), base_row(), base_row(Subtotal="12x")])
    with pytest.raises(InputFileError) as caught:
        ingest_recon([path], tmp_path / "work", chunk_rows=2)
    assert (caught.value.row, caught.value.column) == (3, "Subtotal") and "bad.csv" in str(caught.value)


def test_the_work_folder_is_private_and_removed_unless_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSPKIT_HOME", str(tmp_path / "home"))
    with work_folder() as folder:
        assert folder.parent == tmp_path / "home" and folder.name.startswith("reconcile-")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        ingest_recon([DATA / "recon_sample.csv"], folder)
    assert not folder.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with work_folder(mine, keep=True) as kept:
        pass
    with work_folder(mine) as removed:
        pass
    assert kept.exists() and not removed.exists() and (mine / "notes.txt").read_text() == "keep me"


def test_the_workbook_streams_line_items_from_the_dataset_across_sheets(tmp_path: Path) -> None:
    import openpyxl

    from cspkit.reports.reconciliation import write_reconciliation_workbook

    result = reconcile(ingest_recon([DATA / "recon_sample.csv"], tmp_path / "work"), period="2026-03")
    path = write_reconciliation_workbook(result, tmp_path / "r.xlsx", max_rows_per_sheet=5)
    assert "_lines" in result.__dict__ and not isinstance(result.__dict__["_lines"], pd.DataFrame)  # not loaded
    book = openpyxl.load_workbook(path, read_only=True)
    sheets = [n for n in book.sheetnames if n.startswith("Line items")]
    assert sheets == ["Line items", "Line items (2)", "Line items (3)", "Line items (4)"]
    rows = [row for name in sheets for row in list(book[name].iter_rows(values_only=True))[1:]]
    header = next(book["Line items (4)"].iter_rows(values_only=True))
    assert header[-1] == "Variances"
    assert [r[header.index("SourceRow")] for r in rows] == list(range(1, 17))
    labels = result.lines["Variances"].tolist()
    assert [r[-1] for r in rows] == [None if pd.isna(v) else v for v in labels]


def test_the_dataset_knows_which_text_columns_need_no_trimming_across_chunks_and_files(tmp_path: Path) -> None:
    guid = " 196E2273-1B5A-4B8A-9C7D-0E1F2A3B4C5D "  # an id the readers trim and lower-case
    clean = write_csv(tmp_path / "clean.csv", [base_row(), base_row(), base_row(CustomerId=guid)])
    padded = write_csv(tmp_path / "padded.csv", [base_row(), base_row(SkuName="Microsoft 365 E3 ")])
    dataset = ingest_recon([clean], tmp_path / "work", chunk_rows=2)
    assert dataset.trimmed is not None and {"CustomerId", "SkuName", "CustomerName"} <= dataset.trimmed  # typed ids
    assert "PromotionId" in dataset.trimmed  # a column of nulls needs nothing
    ingest_recon([padded], tmp_path / "work", chunk_rows=1, dataset=dataset)  # the padded value is in its 2nd chunk
    assert "SkuName" not in dataset.trimmed and {"CustomerId", "CustomerName"} <= dataset.trimmed
    assert dataset.to_frame()["SkuName"].iloc[-1] == "Microsoft 365 E3 "  # the lines keep the file's text


def test_row_groups_are_written_in_order_beside_the_conversion_and_a_failed_write_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = read_recon(DATA / "recon_sample.csv").frame
    pieces = [frame.iloc[i : i + 4] for i in range(0, len(frame), 4)]
    dataset = ingest_frames(pieces, tmp_path / "small")
    assert pq.ParquetFile(dataset.files[0]).num_row_groups == len(pieces)  # one row group per chunk, in order
    back = dataset.to_frame()
    pd.testing.assert_frame_equal(back.drop(columns="SourceFile"), frame.drop(columns="SourceFile"), check_dtype=False)
    assert dataset.read(["pos"]).column("pos").to_pylist() == list(range(len(frame)))

    calls = []
    real = pq.ParquetWriter.write_table

    def failing(self, table, *args, **kwargs):
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(OSError, match="No space left"):
        ingest_frames(pieces, tmp_path / "full")
    assert len(calls) == 2  # the failure stops the ingest at the next chunk: no write after the failed one
