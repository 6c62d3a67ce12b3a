"""`cspkit reconcile` for month-end scripts: exit 0 when everything ties, 1 when a total differs or a variance of
the --fail-on severity is found (report written all the same, stderr says why), and the report format taken from
--out's extension (never Excel bytes under a .csv name)."""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.client import PartnerCenter

DATA = Path(__file__).resolve().parents[2] / "sample_data"
US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"


@pytest.fixture
def month(emulator, tmp_path):
    """An emulator month that ties: 5 seats bought, the invoice issued; (env, invoice id, wire subscriptions)."""
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    cart = pc.carts.create(US_CUSTOMER, line_items=[{"catalogItemId": BASIC, "quantity": 5, "termDuration": "P1M",
                                                     "billingCycle": "monthly"}])  # fmt: skip
    pc.carts.checkout(US_CUSTOMER, cart.id)
    subscriptions = [s.to_wire() | {"customerId": US_CUSTOMER} for s in pc.subscriptions.list(US_CUSTOMER)]
    emulator.clock.set("2026-12-08T00:00:00Z")  # November is invoiced on 8 December (after December's renewal)
    invoice = next(iter(pc.invoices.list()))
    env = {"CSPKIT_HOME": str(tmp_path / "home"), "CSPKIT_CONFIG": os.devnull,
           "CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token}  # fmt: skip
    return env, invoice.id, subscriptions


def reconcile(env, invoice_id, out, *extra):
    return CliRunner().invoke(cli, ["--output", "json", "reconcile", "--invoice", invoice_id, "--api", "v1",
                                    "--out", str(out), *extra], env=env)  # fmt: skip


def write_subscriptions(path: Path, subscriptions: list[dict]) -> Path:
    path.write_text(json.dumps(subscriptions))
    return path


def test_a_month_that_ties_exits_0_under_every_fail_on(month, tmp_path):
    env, invoice_id, _ = month
    for fail_on in ("never", "error", "warning"):
        result = reconcile(env, invoice_id, tmp_path / f"{fail_on}.xlsx", "--fail-on", fail_on)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [t["Status"] for t in data["tieout"]] == ["ties"] and data["failures"] == []
        assert "reconcile: exit 1" not in result.stderr


def test_an_error_variance_exits_1_with_the_report_written(month, tmp_path):
    env, invoice_id, subscriptions = month
    planted = [dict(subscriptions[0], quantity=7)]  # billed 5 seats, the subscription says 7: seat_mismatch
    subs = write_subscriptions(tmp_path / "subs.json", planted)
    out = tmp_path / "report.xlsx"
    result = reconcile(env, invoice_id, out, "--subscriptions", str(subs))
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["failures"] == ["1 error-severity variance(s): seat_mismatch 1"]
    assert "reconcile: 1 error-severity variance(s): seat_mismatch 1" in result.stderr
    assert zipfile.is_zipfile(out)  # the report is still written, whole
    never = reconcile(env, invoice_id, tmp_path / "never.xlsx", "--subscriptions", str(subs), "--fail-on", "never")
    assert never.exit_code == 0, never.output
    assert json.loads(never.stdout)["failures"] == [] and "reconcile: exit 1" not in never.stderr


def test_fail_on_warning_also_fails_on_warnings(month, tmp_path):
    env, invoice_id, subscriptions = month
    extra = dict(subscriptions[0], id=str(uuid.UUID(int=42)))  # active, never charged: missing_charge (warning)
    subs = write_subscriptions(tmp_path / "subs.json", [*subscriptions, extra])
    default = reconcile(env, invoice_id, tmp_path / "a.xlsx", "--subscriptions", str(subs))
    assert default.exit_code == 0, default.output
    assert {v["Category"]: v["Severity"] for v in json.loads(default.stdout)["variances"]} == {
        "missing_charge": "warning"}
    strict = reconcile(env, invoice_id, tmp_path / "b.xlsx", "--subscriptions", str(subs), "--fail-on", "warning")
    assert strict.exit_code == 1, strict.output
    assert "reconcile: 1 warning-severity variance(s): missing_charge 1" in strict.stderr
    assert "reconcile: exit 1 (--fail-on warning" in strict.stderr


def test_a_differing_total_exits_1_naming_the_invoice(tmp_path):
    env = {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull}
    args = ["reconcile", "--file", str(DATA / "recon_sample.csv"), "--invoice-total", "USD=856.97",
            "--invoice-total", "EUR=107.17", "--out", str(tmp_path / "r.xlsx"), "--fail-on", "never"]  # fmt: skip
    assert CliRunner().invoke(cli, args, env=env).exit_code == 0
    result = CliRunner().invoke(cli, args[:-2] + ["--fail-on", "error"], env=env)
    assert result.exit_code == 1, result.output
    assert ("reconcile: 1 of 2 invoice/currency totals differ: G000000301 USD: lines 856.87, invoice 856.97, "
            "difference -0.10") in result.stderr


def test_out_csv_writes_csv_and_the_extension_sets_the_format(month, tmp_path):
    env, invoice_id, _ = month
    result = reconcile(env, invoice_id, tmp_path / "x.csv")  # no --format: the extension decides
    assert result.exit_code == 0, result.output
    files = [Path(f) for f in json.loads(result.stdout)["files"]]
    assert [f.name for f in files] == [
        "x.tieout.csv", "x.charge_types.csv", "x.variance_counts.csv", "x.csv", "x.customers.csv",
        "x.subscriptions.csv", "x.lines.csv"]  # fmt: skip
    named = pd.read_csv(tmp_path / "x.csv", dtype=str)  # the file the user named holds the variances, as text
    assert {"Category", "Severity", "Evidence"} <= set(named.columns)
    for f in files:
        assert not zipfile.is_zipfile(f) and f.read_bytes()[:2] != b"PK"
    tieout = pd.read_csv(files[0], dtype=str)
    assert tieout[["InvoiceNumber", "Total", "Status"]].values.tolist() == [[invoice_id, "36.00", "ties"]]
    parquet = reconcile(env, invoice_id, tmp_path / "y.parquet")
    assert parquet.exit_code == 0, parquet.output
    assert pd.read_parquet(tmp_path / "y.tieout.parquet")["Status"].tolist() == ["ties"]
    agreeing = reconcile(env, invoice_id, tmp_path / "z.csv", "--format", "csv")
    assert agreeing.exit_code == 0 and (tmp_path / "z.tieout.csv").is_file()


def test_a_format_that_contradicts_the_extension_is_refused(tmp_path):
    env = {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull}
    base = ["reconcile", "--file", str(DATA / "recon_sample.csv")]
    refused = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "x.csv"), "--format", "xlsx"], env=env)
    assert refused.exit_code == 2
    assert "--format xlsx contradicts --out" in refused.stderr and "x.csv (a csv name)" in refused.stderr
    unknown = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "x.txt")], env=env)
    assert unknown.exit_code == 2 and "cannot tell the report format from '.txt'" in unknown.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was read or written
