"""Graph billing exports end to end against the emulator: export → poll → manifest → blobs, faults, and the
v1 line-item path and the Graph path giving identical reconciliation frames for the same invoice."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from decimal import Decimal

import pandas as pd
import pytest
import requests

from cspkit.billing.graph_export import fetch_recon_lines, iter_export_records
from cspkit.billing.reconcile import reconcile
from cspkit.client import PartnerCenter
from cspkit.emulator import graph
from cspkit.resources.billing_exports import BillingExportError

from .conftest import BASIC, E3, US_CUSTOMER, US_CUSTOMER_2


def gzip_members(data: bytes) -> int:
    count = 0
    while data:
        d = zlib.decompressobj(wbits=31)
        d.decompress(data)
        data = d.unused_data
        count += 1
    return count


@pytest.fixture
def emu(emulator):
    """The emulator (it serves the Graph export routes and their blobs)."""
    return emulator


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(emu, sleeps):
    pc = PartnerCenter(endpoint=emu.url, access_token=emu.token, sleep=sleeps.append, jitter=lambda upper: 0.0)
    pc.settings = pc.settings.with_overrides(graph_endpoint=emu.url)
    yield pc
    pc.close()


@pytest.fixture
def invoice_id(emu, pc) -> str:
    """November 2026 activity (purchases, a seat increase, a cancellation refund) closed into a USD invoice."""
    basic = pc.buy_one(US_CUSTOMER, BASIC, 10)
    pc.buy_one(US_CUSTOMER, E3, 5, "P1Y", "annual")
    other = pc.buy_one(US_CUSTOMER_2, BASIC, 3)
    emu.clock.advance(days=2)
    assert pc.patch_subscription(US_CUSTOMER, basic, quantity=12).status_code == 200
    other = pc.subscription(US_CUSTOMER_2, other["id"])
    assert pc.patch_subscription(US_CUSTOMER_2, other, status="deleted").status_code == 200
    emu.clock.advance("P1M")
    invoices = pc.get("/invoices").json()["items"]
    usd = [i for i in invoices if i["currencyCode"] == "USD"]
    assert len(usd) == 1
    return usd[0]["id"]


def test_export_poll_manifest_blobs(emu, client, sleeps, invoice_id, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    statuses = []

    result = client.billing_exports.export_billed_reconciliation(
        invoice_id, out_dir=tmp_path, on_status=lambda op: statuses.append(op.status))

    assert statuses == ["notStarted", "notStarted", "running", "succeeded"]
    assert sleeps == [1.0, 1.0, 1.0]  # Retry-After: 1 on the 202 and on each unfinished poll
    manifest = result.manifest
    assert manifest.blob_count == 2 and len(result.blobs) == 2
    assert manifest.data_format == "compressedJSONLines" and manifest.partition_type == "Default"
    assert {b.partition_value for b in manifest.blobs} == {"default"}
    assert "sig=" in manifest.sas_token and "sig=" not in (tmp_path / "manifest.json").read_text()
    blob_logs = [r.getMessage() for r in caplog.records if "/_blobs/" in r.getMessage()]
    assert len(blob_logs) == 2 and all("?<redacted>" in m and "sig=" not in m for m in blob_logs)
    for blob in result.blobs:
        data = blob.path.read_bytes()
        assert gzip_members(data) == 2
        assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.attempts == 1 and not blob.skipped

    v1_items = requests.get(
        f"{emu.url}/v1/invoices/{invoice_id}/lineitems",
        params={"provider": "onetime", "invoicelineitemtype": "billinglineitems", "currencycode": "USD"},
        headers={"Authorization": f"Bearer {emu.token}"}, timeout=10,
    ).json()["items"]
    records = [r for _, _, r in iter_export_records(result.paths)]
    assert len(records) == len(v1_items) == 6
    assert list(records[0]) == list(graph.EXPORT_KEYS)
    by_ref = {(r["referenceId"], r["chargeType"], r["billableQuantity"]): r for r in records}
    assert len(by_ref) == 6
    for item in v1_items:
        record = by_ref[(item["referenceId"], item["chargeType"], item["billableQuantity"])]
        assert record["total"] == item["totalForCustomer"] and record["tier2MpnId"] == item["resellerMpnId"]
    frame = result.read().frame
    assert sorted(frame["ChargeType"]) == ["addQuantity", "addQuantity", "cancelImmediate", "new", "new", "new"]
    assert frame["Total"].sum() == Decimal("1466.88") == sum(Decimal(i["totalForCustomer"]) for i in v1_items)


def test_basic_attribute_set_has_the_b_columns_only(emu, client, invoice_id, tmp_path):
    result = client.billing_exports.export_billed_reconciliation(invoice_id, out_dir=tmp_path, attribute_set="basic")

    records = [r for _, _, r in iter_export_records(result.paths)]
    assert list(records[0]) == list(graph.BASIC_KEYS) and len(graph.BASIC_KEYS) == 35
    report = result.read()
    assert report.missing_columns == sorted([
        "AlternateId", "BillingFrequency", "CustomerCountry", "CustomerDomainName", "MeterDescription", "MpnId",
        "PCToBCExchangeRateDate", "ProductQualifiers", "PublisherId", "Quantity", "SubscriptionDescription",
        "UnitType",
    ])
    assert report.frame["Quantity"].isna().all() and len(report.frame) == 6


def test_a_blob_dropped_mid_download_is_resumed_with_a_range_request(emu, client, invoice_id, tmp_path):
    graph.drop_blob(emu.app, after_bytes=100)

    result = client.billing_exports.export_billed_reconciliation(invoice_id, out_dir=tmp_path, attribute_set="full")

    drops = [entry for entry in emu.faults.log if entry.get("fault") == "drop"]
    assert len(drops) == 1 and drops[0]["afterBytes"] == 100
    dropped = next(b for b in result.blobs if b.name == drops[0]["blob"])
    assert dropped.attempts == 2 and dropped.resumed is True
    served = next(path for key, (path, _) in emu.backend.graph.blobs.items() if key.endswith(dropped.name))
    with open(served, "rb") as fh:
        assert dropped.path.read_bytes() == fh.read()
    assert len(result.read().frame) == 6

    again = client.billing_exports.export_billed_reconciliation(invoice_id, out_dir=tmp_path)
    assert [b.skipped for b in again.blobs] == [True, True]


def test_a_blob_that_keeps_dropping_fails_clearly_and_a_rerun_completes(emu, client, invoice_id, tmp_path):
    graph.drop_blob(emu.app, after_bytes=50, count=2)
    exports = client.billing_exports
    exports.max_blob_attempts, exports.workers = 2, 1

    with pytest.raises(BillingExportError) as info:
        exports.export_billed_reconciliation(invoice_id, out_dir=tmp_path)

    # attempt 1 got 50 bytes, attempt 2 (Range: bytes=50-) 50 more, then the attempts ran out
    assert "failed after 2 attempts: connection dropped after 100 bytes" in str(info.value)
    assert "sig=" not in str(info.value) and info.value.hint.startswith("Run the same command again")
    assert [e["rangeStart"] for e in emu.faults.log if e["action"] == "drop_blob"] == [0, 50]
    assert not list(tmp_path.glob("*.ok"))

    again = exports.export_billed_reconciliation(invoice_id, out_dir=tmp_path)
    assert [(b.skipped, b.attempts) for b in again.blobs] == [(False, 1), (False, 1)]
    assert not list(tmp_path.glob("*.part")) and len(again.read().frame) == 6


def test_injected_failure_and_no_data(emu, client, invoice_id, tmp_path):
    graph.fail_next_export(emu.app, code="500", message="Export failed (injected fault)")
    with pytest.raises(BillingExportError) as info:
        client.billing_exports.export_billed_reconciliation(invoice_id, out_dir=tmp_path)
    assert str(info.value).endswith("failed (code 500): Export failed (injected fault)")

    usage = client.billing_exports.export_billed_usage(invoice_id, out_dir=tmp_path / "usage")
    assert usage.no_data is True and usage.operation.error.message == "No data available"
    unbilled = client.billing_exports.export_unbilled_reconciliation("USD", out_dir=tmp_path / "u",
                                                                     billing_period="last")
    assert unbilled.no_data is True  # November is invoiced: nothing unbilled for the last period


def test_unbilled_reconciliation_of_the_current_period(emu, client, pc, tmp_path):
    pc.buy_one(US_CUSTOMER, BASIC, 4)
    result = client.billing_exports.export_unbilled_reconciliation("USD", out_dir=tmp_path)
    frame = result.read().frame
    assert len(frame) == 1 and frame["BillableQuantity"].tolist() == [Decimal("4")]
    assert frame["InvoiceNumber"].isna().all()


def test_blobs_need_the_sas_token_and_graph_needs_the_bearer_token(emu, client, invoice_id, tmp_path):
    result = client.billing_exports.export_billed_reconciliation(invoice_id, out_dir=tmp_path)
    url = result.manifest.blob_source(result.manifest.blobs[0])
    assert requests.get(url, timeout=10).status_code == 403
    assert requests.get(url + "?se=2099-01-01T00:00:00Z&sig=forged", timeout=10).status_code == 403
    ranged = requests.get(result.manifest.blob_url(result.manifest.blobs[0]), headers={"Range": "bytes=10-19"},
                          timeout=10)
    assert ranged.status_code == 206 and ranged.content == result.blobs[0].path.read_bytes()[10:20]
    post = requests.post(f"{emu.url}/v1.0/reports/partners/billing/reconciliation/billed/export",
                         json={"invoiceId": invoice_id}, timeout=10)
    assert post.status_code == 401 and post.json()["error"]["code"] == "InvalidAuthenticationToken"


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["SubscriptionId", "ReferenceId", "ChargeType", "OrderDate", "BillableQuantity"]
    out = frame.assign(_k=frame[keys].astype(str).agg("|".join, axis=1)).sort_values("_k").drop(columns="_k")
    return out.reset_index(drop=True)


def _without_source(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in ("SourceFile", "SourceRow") if c in frame.columns])


def test_v1_and_graph_paths_give_identical_reconciliation_frames(emu, client, invoice_id, tmp_path):
    via_v1 = _sorted(fetch_recon_lines(client, invoice_id, api="v1"))
    via_graph = _sorted(fetch_recon_lines(client, invoice_id, api="graph", out_dir=tmp_path))

    assert len(via_v1) == len(via_graph) == 6 and len(via_v1.columns) == 49  # 47 columns + SourceFile/SourceRow
    pd.testing.assert_frame_equal(_without_source(via_v1), _without_source(via_graph))
    assert set(via_v1["SourceFile"]) == {"API"} and set(via_graph["SourceFile"]) == {b.name for b in tmp_path.glob(
        "*.json.gz")}

    invoice = requests.get(f"{emu.url}/v1/invoices/{invoice_id}", headers={"Authorization": f"Bearer {emu.token}"},
                           timeout=10).json()
    totals = {"USD": Decimal(str(invoice["totalCharges"]))}
    first = reconcile(via_v1, invoices=totals).frames()
    second = reconcile(via_graph, invoices=totals).frames()
    assert first["tieout"]["Status"].tolist() == ["ties"]
    assert first["tieout"]["Total"].tolist() == [Decimal("1466.88")]
    for name, frame in first.items():
        pd.testing.assert_frame_equal(_without_source(frame), _without_source(second[name]), obj=name)


# -- the CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(emu, tmp_path):
    from cspkit.cli import exports
    from cspkit.cli.main import cli

    invoices = cli.commands.get("invoices")
    if invoices is None or "export" not in getattr(invoices, "commands", {}):
        exports.register(cli)
    env = {"CSPKIT_HOME": str(tmp_path / "home"), "CSPKIT_CONFIG": os.devnull,
           "CSPKIT_ENDPOINT": emu.url, "CSPKIT_ACCESS_TOKEN": emu.token, "CSPKIT_GRAPH_ENDPOINT": emu.url}
    return cli, env


def test_cli_invoices_export_downloads_then_skips_on_a_rerun(cli_env, invoice_id, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import cspkit.resources.billing_exports as module

    monkeypatch.setattr(module.BillingExports, "_sleep", lambda self, seconds: None)
    cli, env = cli_env
    out = tmp_path / "out"
    args = ["--output", "json", "invoices", "export", "--invoice", invoice_id, "--out", str(out)]

    first = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    second = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)

    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout)
    assert [r["Download"] for r in rows] == ["downloaded", "downloaded"]
    assert sum(r["Lines"] for r in rows) == 6
    assert [r["Download"] for r in json.loads(second.stdout)] == ["skipped (verified)"] * 2
    assert "operation" in first.stderr and "succeeded" in first.stderr
    assert "sig=" not in first.output + first.stderr + second.output + second.stderr


def test_cli_export_usage_without_data_and_bad_usage(cli_env, invoice_id, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import cspkit.resources.billing_exports as module

    monkeypatch.setattr(module.BillingExports, "_sleep", lambda self, seconds: None)
    cli, env = cli_env
    runner = CliRunner()

    usage = runner.invoke(cli, ["invoices", "export", "--invoice", invoice_id, "--usage", "--out",
                                str(tmp_path / "u")], env=env)
    both = runner.invoke(cli, ["invoices", "export", "--invoice", invoice_id, "--unbilled"], env=env)
    no_currency = runner.invoke(cli, ["invoices", "export", "--unbilled"], env=env)

    assert usage.exit_code == 0 and "No data available for the billed usage export" in usage.stderr
    assert both.exit_code == 2 and "either --invoice ID or --unbilled" in both.output
    assert no_currency.exit_code == 2 and "--unbilled needs --currency" in no_currency.output
