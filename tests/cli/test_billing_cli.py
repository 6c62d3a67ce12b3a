"""cspkit invoices / cspkit reconcile: exit codes, stdout data vs stderr notes, report files."""

from __future__ import annotations

import io
import json
import os
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.client import PartnerCenter

DATA = Path(__file__).resolve().parents[2] / "sample_data"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"


@pytest.fixture
def env(tmp_path):
    return {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull}


def run(args, env):
    return CliRunner().invoke(cli, args, env=env)


def sample_args(out: Path) -> list[str]:
    return [
        "reconcile", "--file", str(DATA / "recon_sample.csv"), "--price-list", str(DATA / "recon_pricelist.csv"),
        "--subscriptions", str(DATA / "recon_subscriptions.csv"), "--invoice-total", "USD=856.87",
        "--invoice-total", "eur=112.17", "--out", str(out),
    ]  # fmt: skip


def test_reconcile_file_json_to_stdout_and_workbook(tmp_path, env):
    out = tmp_path / "r" / "march.xlsx"
    result = run(["--output", "json", *sample_args(out)], env)
    assert result.exit_code == 1, result.output  # the documented sample plants a difference and error variances
    data = json.loads(result.stdout)
    assert data["tieout"] == [
        {"InvoiceNumber": "G000000301", "Currency": "USD", "Lines": 14, "Subtotal": "856.87", "TaxTotal": "0.00",
         "Total": "856.87", "InvoiceTotal": "856.87", "Difference": "0.00", "Status": "ties"},
        {"InvoiceNumber": "G000000302", "Currency": "EUR", "Lines": 2, "Subtotal": "100.47", "TaxTotal": "6.70",
         "Total": "107.17", "InvoiceTotal": "112.17", "Difference": "-5.00", "Status": "differs"},
    ]  # fmt: skip
    assert {v["Category"]: v["Count"] for v in data["variances"]} == {
        "unit_price_mismatch": 1, "proration_mismatch": 1, "amount_mismatch": 1, "seat_mismatch": 1,
        "charge_after_cancellation": 1, "missing_charge": 1, "duplicate_charge": 1, "refund_without_charge": 1,
        "currency_mismatch": 1,
    }  # fmt: skip
    assert data["files"] == [str(out)]
    assert data["failures"] == [
        "1 of 2 invoice/currency totals differ: G000000302 EUR: lines 107.17, invoice 112.17, difference -5.00",
        "7 error-severity variance(s): unit_price_mismatch 1, proration_mismatch 1, amount_mismatch 1, "
        "seat_mismatch 1, charge_after_cancellation 1, duplicate_charge 1, currency_mismatch 1",
    ]  # the warnings (missing_charge, refund_without_charge) do not fail under the default --fail-on error
    assert "16 rows read, 0 skipped" in result.stderr and "1 of 2 invoice/currency totals tie" in result.stderr
    assert "reconcile: 1 of 2 invoice/currency totals differ: G000000302 EUR" in result.stderr
    assert "reconcile: exit 1 (--fail-on error" in result.stderr and "Traceback" not in result.output
    workbook = openpyxl.load_workbook(out, read_only=True)
    assert workbook.sheetnames == ["Summary", "Charts", "Variances", "Customers", "Subscriptions", "Line items"]
    assert [p.name for p in out.parent.iterdir()] == ["march.xlsx"]  # no temporary file left behind


def test_reconcile_csv_format_writes_every_frame(tmp_path, env):
    out = tmp_path / "march.csv"
    result = run([*sample_args(out), "--format", "csv", "--fail-on", "never"], env)
    assert result.exit_code == 0, result.output  # never: the report was written, differences or not
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["march.csv"] + [f"march.{n}.csv" for n in (
        "tieout", "charge_types", "variance_counts", "customers", "subscriptions", "lines")])  # fmt: skip
    variances = pd.read_csv(tmp_path / "march.csv", dtype=str)  # the named file holds the variances
    assert variances["Category"].tolist()[0] == "unit_price_mismatch" and len(variances) == 9
    assert "Invoice tie-out" in result.stdout  # the table goes to stdout


def test_reconcile_bad_file_exits_2_naming_row_and_column(tmp_path, env):
    text = (DATA / "recon_sample.csv").read_text().splitlines()
    fields = text[3].split(",")
    fields[16] = "27.0x"  # UnitPrice
    text[3] = ",".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    result = run(["reconcile", "--file", str(bad)], env)
    assert result.exit_code == 2
    assert "bad.csv, row 3, column 'UnitPrice': expected a decimal number" in result.stderr
    assert "Traceback" not in result.output


def test_reconcile_reads_the_price_list_beside_the_ingest_and_names_a_bad_one_or_a_bad_file_first(tmp_path, env):
    bad_prices = tmp_path / "prices.csv"
    bad_prices.write_text("not,a,price,list\n1,2,3,4\n")
    args = sample_args(tmp_path / "march.xlsx")
    at = args.index("--price-list") + 1
    result = run([*args[:at], str(bad_prices), *args[at + 1:]], env)
    assert result.exit_code == 2, result.output
    assert "prices.csv" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "march.xlsx").exists()
    # a bad line file and a bad price list: the line file's error (the ingest's) is the one reported
    text = (DATA / "recon_sample.csv").read_text().splitlines()
    fields = text[3].split(",")
    fields[16] = "27.0x"
    text[3] = ",".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    at = args.index("--file") + 1
    both = [*args[:at], str(bad), *args[at + 1:]]
    at = both.index("--price-list") + 1
    result = run([*both[:at], str(bad_prices), *both[at + 1:]], env)
    assert result.exit_code == 2 and "bad.csv, row 3, column 'UnitPrice'" in result.stderr


def test_reconcile_needs_exactly_one_source(env):
    result = run(["reconcile"], env)
    assert result.exit_code == 2 and "give either --invoice ID or --file" in result.output


def test_invoices_list_lines_and_reconcile_against_the_emulator(emulator, tmp_path, env):
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    cart = pc.carts.create(US_CUSTOMER, line_items=[{"catalogItemId": BASIC, "quantity": 5, "termDuration": "P1M",
                                                     "billingCycle": "monthly"}])  # fmt: skip
    pc.carts.checkout(US_CUSTOMER, cart.id)
    emulator.clock.set("2026-12-08T00:00:00Z")  # November is invoiced on 8 December
    env = {**env, "CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token}
    listed = run(["--output", "json", "invoices", "list"], env)
    assert listed.exit_code == 0, listed.output
    invoice = json.loads(listed.stdout)[0]
    assert Decimal(invoice["totalCharges"]) == Decimal("36.00")  # 7.20 × 5 (the emulator sends a JSON number)
    lines = run(["--output", "csv", "invoices", "lines", invoice["id"]], env)
    assert lines.exit_code == 0, lines.output
    frame = pd.read_csv(io.StringIO(lines.stdout), dtype=str)
    assert frame[["ChargeType", "BillableQuantity", "Subtotal"]].values.tolist() == [["new", "5", "36"]]  # as sent
    out = tmp_path / "lines.parquet"
    saved = run(["invoices", "lines", invoice["id"], "--out", str(out)], env)
    assert saved.exit_code == 0 and "1 line(s)" in saved.stderr
    assert pd.read_parquet(out)["SubscriptionId"].notna().all()
    report = tmp_path / "inv.xlsx"
    rec = run(["--output", "json", "reconcile", "--invoice", invoice["id"], "--out", str(report)], env)
    assert rec.exit_code == 0, rec.output
    data = json.loads(rec.stdout)
    assert [(t["Total"], Decimal(t["InvoiceTotal"]), t["Difference"], t["Status"]) for t in data["tieout"]] == [
        ("36.00", Decimal("36"), "0.00", "ties")
    ]
    assert data["variances"] == []
    unbilled = run(["--output", "json", "invoices", "lines", "--unbilled", "--period", "previous"], env)
    assert unbilled.exit_code == 0 and json.loads(unbilled.stdout) == []


def test_reconcile_engine_duckdb_reports_what_the_memory_engine_reports(tmp_path, env):
    memory = run(["--output", "json", *sample_args(tmp_path / "m.xlsx")], env)
    duckdb = run(["--output", "json", *sample_args(tmp_path / "d.xlsx"), "--engine", "duckdb"], env)
    assert memory.exit_code == duckdb.exit_code == 1, duckdb.output
    first, second = json.loads(memory.stdout), json.loads(duckdb.stdout)
    assert first["tieout"] == second["tieout"] and first["variances"] == second["variances"]
    assert first["failures"] == second["failures"]
