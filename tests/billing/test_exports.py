"""billing.exports: v1 line items and downloaded Graph export folders as reconciliation frames (no HTTP)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from cspkit.billing.exports import (
    V1_ENVELOPE_KEYS,
    export_blob_paths,
    read_export_dir,
    recon_kind,
    v1_lines_to_frame,
)
from cspkit.errors import InputFileError
from cspkit.models.billing_export import ExportManifest

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "samples"


def sample(name: str) -> dict:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"documented sample {path} is absent (../shared/reference/samples)")
    return json.loads(path.read_text(encoding="utf-8"))


def test_export_kinds_map_onto_reader_kinds():
    assert [recon_kind(k) for k in ("billed-reconciliation", "unbilled-reconciliation", "billed-usage",
                                    "unbilled-usage")] == ["invoice", "invoice", "daily", "daily"]
    with pytest.raises(ValueError, match="unknown export kind 'invoices'"):
        recon_kind("invoices")


def test_the_documented_v1_line_items_become_the_frame_without_their_envelope():
    items = sample("invoice_lineitems_onetime.json")["response"]["body"]["items"]
    assert any(V1_ENVELOPE_KEYS & set(item) for item in items)  # the sample carries the envelope

    frame = v1_lines_to_frame(items)

    assert len(frame) == len(items)
    assert not V1_ENVELOPE_KEYS & set(frame.columns)
    assert list(frame["InvoiceNumber"]) == [item["invoiceNumber"] for item in items]
    assert list(frame["SourceFile"].astype(str)) == ["API"] * len(items)


def test_a_downloaded_folder_under_the_documented_manifest_reads_back_in_manifest_order(tmp_path):
    manifest = ExportManifest.model_validate(sample("graph_manifest.json")["response"]["body"])
    items = sample("invoice_lineitems_onetime.json")["response"]["body"]["items"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest.to_wire_redacted()))
    lines = [{k: v for k, v in item.items() if k not in V1_ENVELOPE_KEYS} for item in items]
    for number, blob in enumerate(manifest.blobs):
        path = tmp_path / blob.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in lines[number::len(manifest.blobs)])
                                        + "\n").encode()))

    paths = export_blob_paths(tmp_path)
    report = read_export_dir(tmp_path)

    assert [p.name for p in paths] == [Path(b.name).name for b in manifest.blobs]
    assert report.rows_read == len(lines) == len(report.frame)
    assert set(report.frame["SourceFile"].astype(str)) <= {p.name for p in paths}


def test_a_folder_without_its_manifest_or_a_blob_is_named_in_the_error(tmp_path):
    with pytest.raises(InputFileError, match="manifest.json"):
        export_blob_paths(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"blobs": [{"name": "part-1.json.gz"}]}))
    with pytest.raises(InputFileError, match="part-1.json.gz.*blob 1 of the export"):
        export_blob_paths(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"blobs": [{"name": "../escape.gz"}]}))
    with pytest.raises(InputFileError, match="plain relative blob name"):
        export_blob_paths(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputFileError, match="a JSON export manifest"):
        export_blob_paths(tmp_path)
