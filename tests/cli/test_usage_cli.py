"""cspkit usage reconcile: exit codes, stdout data vs stderr notes, report files, help."""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import requests
import responses
from click.testing import CliRunner

from cspkit.cli.main import cli

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "daily-rated-usage-2025-11-subset.csv"
SUB = "aaaaaaaa-0000-0000-0000-000000000001"
ENT = "eeeeeeee-0000-0000-0000-00000000000a"


@pytest.fixture
def env(tmp_path):
    return {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull}


def run(args, env):
    return CliRunner().invoke(cli, args, env=env)


def write_daily(path: Path, amounts: list[str]) -> Path:
    """A daily rated usage CSV in the portal's form (55 columns, MM/DD/YYYY, scientific notation allowed)."""
    from cspkit.billing.recon_columns import DAILY_USAGE_COLUMNS

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(DAILY_USAGE_COLUMNS))
        writer.writeheader()
        for day, amount in enumerate(amounts, start=1):
            writer.writerow({
                "CustomerId": "c0ffee00-0000-0000-0000-000000000001", "CustomerName": "Contoso",
                "InvoiceNumber": "G000000001", "ProductId": "DZH318Z0BQ3Q", "SkuId": "3",
                "AvailabilityId": "DZH318Z09SQD", "PublisherName": "Microsoft", "SubscriptionId": SUB,
                "UsageDate": f"11/{day:02d}/2025", "MeterCategory": "Storage", "MeterId": "m-1", "MeterName": "LRS",
                "ResourceGroup": "rg-1", "ChargeType": "Usage", "Quantity": "1", "BillingPreTaxTotal": amount,
                "BillingCurrency": "USD", "PricingPreTaxTotal": amount, "PricingCurrency": "USD", "EntitlementId": ENT,
                "CreditType": "Partner Earned Credit Applied", "PartnerEarnedCreditPercentage": "15",
                "CreditPercentage": "15", "BenefitType": "Charge",
            })  # fmt: skip
    return path


def write_recon(path: Path, subtotal: str) -> Path:
    from cspkit.billing.recon_columns import INVOICE_RECON_COLUMNS

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(INVOICE_RECON_COLUMNS))
        writer.writeheader()
        writer.writerow({
            "CustomerId": "c0ffee00-0000-0000-0000-000000000001", "InvoiceNumber": "G000000001",
            "ProductId": "DZH318Z0BQ3Q", "SkuId": "0003", "AvailabilityId": "DZH318Z09SQD", "ChargeType": "usage",
            "UnitPrice": "0", "EffectiveUnitPrice": "0", "BillableQuantity": "1", "Subtotal": subtotal,
            "Total": subtotal, "Currency": "USD", "SubscriptionId": SUB, "SubscriptionDescription": "Azure plan",
            "ChargeStartDate": "11/1/2025", "ChargeEndDate": "11/30/2025",
        })  # fmt: skip
    return path


def test_real_subset_json_summary_and_workbook(tmp_path, env) -> None:
    if not REAL.exists():
        pytest.skip(f"real daily rated usage subset not found at {REAL} (../shared is absent)")
    out = tmp_path / "reports" / "usage.xlsx"
    result = run(["-o", "json", "usage", "reconcile", "--file", str(REAL), "--out", str(out)], env)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    summary = payload["summary"][0]
    assert summary["Rows"] == 3367
    assert Decimal(summary["BillingPreTaxTotal"]) == Decimal("3011.918783289273")
    assert summary["CreditNotAppliedRows"] == 338 and summary["NotAppliedRows"] == 177
    assert payload["files"] == [str(out)]
    assert "338 rows 'Credit Not Applied'" in result.stderr
    assert "Summary" in openpyxl.load_workbook(out, read_only=True).sheetnames


def test_invoice_that_ties_exits_0_and_one_that_differs_exits_1(tmp_path, env) -> None:
    daily = write_daily(tmp_path / "daily.csv", ["1.5", "2.5E-01", "3"])  # Σ 4.75
    out = tmp_path / "usage.xlsx"
    ok = run(["usage", "reconcile", "--file", str(daily), "--invoice-file", str(write_recon(tmp_path / "r1.csv",
             "4.75")), "--out", str(out)], env)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "ties" in ok.stdout
    bad = run(["-o", "csv", "usage", "reconcile", "--file", str(daily), "--invoice-file",
               str(write_recon(tmp_path / "r2.csv", "5.75")), "--out", str(out)], env)  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert "do not tie to the invoice" in bad.stderr
    assert bad.stdout.splitlines()[0].startswith("BillingCurrency,PricingCurrency,Rows")
    assert "Invoice tie" in openpyxl.load_workbook(out, read_only=True).sheetnames


def test_csv_and_parquet_formats_write_one_file_per_frame(tmp_path, env) -> None:
    daily = write_daily(tmp_path / "daily.csv", ["1", "2"])
    res = run(["usage", "reconcile", "--file", str(daily), "--out", str(tmp_path / "out" / "usage.csv")], env)
    assert res.exit_code == 0, res.output
    customers = (tmp_path / "out" / "usage.customers.csv").read_text()
    assert "Contoso" in customers and ",3" in customers
    res = run(["usage", "reconcile", "--file", str(daily), "--out", str(tmp_path / "p" / "usage"), "--format",
               "parquet"], env)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p" / "usage.pec.parquet").exists()


def test_bad_inputs_exit_2_without_traceback(tmp_path, env) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("UsageDate,MeterId,BillingPreTaxTotal,CustomerId,SubscriptionId,Quantity,BillingCurrency\n"
                   "11/01/2025,m,twelve,c,s,1,USD\n", encoding="utf-8")  # fmt: skip
    out = tmp_path / "usage.xlsx"
    res = run(["usage", "reconcile", "--file", str(bad), "--out", str(out)], env)
    assert res.exit_code == 2
    assert "broken.csv" in res.stderr and "BillingPreTaxTotal" in res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()
    missing = run(["usage", "reconcile", "--file", str(tmp_path / "nope.csv"), "--out", str(out)], env)
    assert missing.exit_code == 2 and "nope.csv" in missing.stderr
    no_file = run(["usage", "reconcile", "--out", str(out)], env)
    assert no_file.exit_code == 2 and "--file" in no_file.output
    factor = run(["usage", "reconcile", "--file", str(bad), "--out", str(out), "--spike-factor", "x"], env)
    assert factor.exit_code == 2 and "decimal" in factor.output


def test_help_teaches() -> None:
    res = CliRunner().invoke(cli, ["usage", "reconcile", "--help"])
    assert res.exit_code == 0
    for text in ("Credit Not Applied", "--invoice-file", "Exit codes", "Examples", "--spike-floor", "--unbilled",
                 "--source"):
        assert text in res.output


# -- API sources (cspkit.workflows.usage): `responses` in the documented shapes, as in tests/workflows ----------


@pytest.fixture
def api_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the Graph blobs go under ./reports/exports/
    monkeypatch.setattr("cspkit.retry.random.uniform", lambda low, high: 0.0)
    return {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull, "CSPKIT_DATABASE_URL": "",
            "CSPKIT_ENDPOINT": "https://pc.test", "CSPKIT_ACCESS_TOKEN": "t0k3n",
            "CSPKIT_GRAPH_ENDPOINT": "https://graph.test"}


@responses.activate
def test_invoice_usage_through_graph_is_the_default(tmp_path, api_env) -> None:
    from tests.workflows.test_usage_sources import TOTAL, graph_flow

    graph_flow("billed", {"invoiceId": "G000000001", "attributeSet": "full"})
    out = tmp_path / "usage.xlsx"
    res = run(["-o", "json", "usage", "reconcile", "--invoice", "G000000001", "--out", str(out)], api_env)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)["summary"][0]
    assert summary["Rows"] == 3 and Decimal(summary["BillingPreTaxTotal"]) == TOTAL
    assert summary["CreditNotAppliedRows"] == 1
    assert "invoice G000000001: 3 daily usage rows from the Microsoft Graph export" in res.stderr
    assert "operation op1 succeeded" in res.stderr
    assert (tmp_path / "reports" / "exports" / "billed-usage-G000000001" / "manifest.json").exists()
    assert "S3CRET" not in res.output and out.exists()


@responses.activate
def test_unbilled_usage_through_v1(tmp_path, api_env) -> None:
    from tests.workflows.test_usage_sources import TOTAL, seek_pages

    seek_pages("invoices/unbilled/lineitems", {"provider": "onetime", "invoicelineitemtype": "usagelineitems",
                                               "currencycode": "USD", "period": "previous"})
    res = run(["-o", "json", "usage", "reconcile", "--unbilled", "--currency", "usd", "--period", "last",
               "--source", "v1", "--out", str(tmp_path / "u.xlsx")], api_env)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert Decimal(json.loads(res.stdout)["summary"][0]["BillingPreTaxTotal"]) == TOTAL
    assert "unbilled USD previous: 3 daily usage rows from the v1 line-item API" in res.stderr


@responses.activate
def test_an_unknown_invoice_fails_with_exit_1_and_no_report(tmp_path, api_env) -> None:
    responses.get("https://pc.test/v1/invoices/G404", status=404,
                  json={"code": 404, "description": "Invoice not found", "errorCode": "NotFound"})
    out = tmp_path / "u.xlsx"
    res = run(["usage", "reconcile", "--invoice", "G404", "--api", "v1", "--out", str(out)], api_env)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert not out.exists()


@pytest.mark.parametrize("args, says", [
    (["--file", "a.csv", "--invoice", "G1"], "exactly one source"),
    (["--invoice", "G1", "--unbilled", "--currency", "USD"], "exactly one source"),
    (["--unbilled"], "--unbilled needs --currency"),
    (["--invoice", "G1", "--currency", "USD"], "--currency goes with --unbilled"),
    (["--unbilled", "--currency", "dollars"], "3-letter"),
    (["--unbilled", "--currency", "USD", "--period", "next"], "'next' is not one of"),
    (["--invoice", "G1", "--source", "v3"], "'v3' is not one of"),
])  # fmt: skip
def test_sources_are_exclusive_and_checked_with_exit_2(tmp_path, env, args, says) -> None:
    res = run(["usage", "reconcile", *args, "--out", str(tmp_path / "u.xlsx")], env)
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output



@pytest.mark.parametrize("source", ["v1", "graph"])
def test_the_emulators_azure_plan_month_through_each_api(tmp_path, monkeypatch, emulator, emulator_env, source):
    """End to end on the emulator: an Azure plan bought on 2 November, admin access removed on the 16th, a 20x
    spike on the 21st; on 8 December `usage reconcile --invoice` fetches the invoice's daily rated usage through
    the v1 line-item API or Graph's billed usage export, and finds the PEC loss and the spike on either."""
    from datetime import date

    from cspkit.workflows.demo import AZURE_PLAN

    monkeypatch.chdir(tmp_path)  # Graph blobs go under ./reports/exports/
    monkeypatch.setattr("cspkit.retry.random.uniform", lambda low, high: 0.0)
    backend = emulator.backend
    customer = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
    api = requests.Session()  # the Azure plan has no term: bought through a cart as Partner Center documents it
    api.headers["Authorization"] = f"Bearer {emulator.token}"
    cart = api.post(f"{emulator.url}/v1/customers/{customer}/carts", timeout=10,
                    json={"lineItems": [{"id": 0, "catalogItemId": AZURE_PLAN, "quantity": 1}]})
    assert cart.status_code == 201, cart.text
    done = api.post(f"{emulator.url}/v1/customers/{customer}/carts/{cart.json()['id']}/checkout", timeout=10)
    assert done.status_code == 201, done.text
    subscription = done.json()["orders"][0]["lineItems"][0]["subscriptionId"]
    backend.set_admin_access(customer, removed_on=date(2026, 11, 16))
    backend.set_usage_spike(subscription, day=date(2026, 11, 21), factor=Decimal(20))
    emulator.clock.set("2026-12-08T00:00:00Z")
    invoice = next(i.id for i in backend.list_invoices() if i.currency == "USD")
    res = run(["-o", "json", "usage", "reconcile", "--invoice", invoice, "--source", source,
               "--out", str(tmp_path / f"{source}.csv")], emulator_env)  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["summary"][0]["Rows"] > 0 and report["anomalies"] == {"spend spike": 1}
    assert "1 subscription(s) lost it" in res.stderr
    with (tmp_path / f"{source}.pec.csv").open(encoding="utf-8") as fh:
        lost = [r for r in csv.DictReader(fh) if r["Status"] == "lost"]
    assert [r["StoppedOn"][:10] for r in lost] == ["2026-11-16"]
    with (tmp_path / f"{source}.anomalies.csv").open(encoding="utf-8") as fh:
        assert [r["UsageDate"][:10] for r in csv.DictReader(fh)] == ["2026-11-21"]
