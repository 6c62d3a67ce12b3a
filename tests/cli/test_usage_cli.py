"""cspkit usage reconcile: exit codes, stdout data vs stderr notes, report files, help."""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
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
    for text in ("Credit Not Applied", "--invoice-file", "Exit codes", "Examples", "--spike-floor"):
        assert text in res.output
