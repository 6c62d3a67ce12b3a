"""``cspkit pricelist fetch|show|diff`` through click's CliRunner on a fresh group with the real error boundary."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pandas as pd
import pytest
import responses
from click.testing import CliRunner

from cspkit.cli import pricelist
from cspkit.cli.main import CspkitGroup
from cspkit.resources.pricesheets import PriceSheets
from cspkit.transport import Transport

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
OCT = str(SAMPLE / "pricelist_nce_US_202610.csv")
NOV = str(SAMPLE / "pricelist_nce_US_202611.csv")
HOST = "https://ps.example"


class State:
    """What the commands use of CliState: ``output``, ``debug`` and ``client()``."""

    def __init__(self, output: str, client: Any = None) -> None:
        self.output, self.debug, self._client = output, False, client

    def client(self) -> Any:
        return self._client


def make_cli(client: Any = None) -> click.Group:
    @click.group(cls=CspkitGroup)
    @click.option("--output", "-o", default="table")
    @click.pass_context
    def root(ctx: click.Context, output: str) -> None:
        ctx.obj = State(output, client)

    root.add_command(pricelist.pricelist_group)
    return root


def run(args: list[str], client: Any = None) -> Any:
    return CliRunner().invoke(make_cli(client), args, catch_exceptions=False)


def test_show_filters_by_product_and_search_as_csv() -> None:
    result = run(["-o", "csv", "pricelist", "show", OCT, "--product", "cfq7ttc0lflz", "--no-trials"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["ProductId"], r["TermDuration"], r["BillingPlan"], r["BillingPeriods"]) for r in rows] == [
        ("CFQ7TTC0LFLZ", "P1M", "Monthly", "1"), ("CFQ7TTC0LFLZ", "P1Y", "Monthly", "12"),
        ("CFQ7TTC0LFLZ", "P1Y", "Annual", "1"),
    ]  # fmt: skip
    for row in rows:  # term price, price per billing period and monthly equivalent side by side
        term, periods = Decimal(row["TermPrice"]), int(row["BillingPeriods"])
        assert Decimal(row["PeriodPrice"]) == (term / periods).quantize(Decimal("0.01"))
        assert Decimal(row["MonthlyEquivalent"]) == (term / (1 if row["TermDuration"] == "P1M" else 12)).quantize(
            Decimal("0.0001"))  # fmt: skip
    searched = run(["-o", "json", "pricelist", "show", NOV, "--search", "TRIAL"])
    payload = json.loads(searched.stdout)
    assert [(p["ProductId"], p["SkuId"], p["TermPrice"], p["IsFreeTrial"]) for p in payload] == [
        ("CFQ7TTC0LDPB", "0005", "0.00", True)
    ]
    assert payload[0]["EffectiveStartDate"] == "2026-01-01T00:00:00Z" and payload[0]["EffectiveEndDate"] is None


def test_show_limit_notes_the_rest() -> None:
    result = CliRunner().invoke(make_cli(), ["-o", "csv", "pricelist", "show", NOV, "--limit", "2"])
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == 3
    assert "(2 of 16 rows shown)" in result.stderr


def test_malformed_file_is_a_one_paragraph_error_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    text = (SAMPLE / "pricelist_nce_US_202611.csv").read_text().replace('"72.00"', '"seventy-two"', 1)
    bad.write_text(text)
    result = CliRunner().invoke(make_cli(), ["pricelist", "show", str(bad)])
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"Error: {bad}, row 3, column 'UnitPrice': expected a decimal number, got 'seventy-two'"
    )
    assert "Traceback" not in result.output


def test_diff_prints_changes_and_writes_xlsx_atomically(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "changes.xlsx"
    result = CliRunner().invoke(make_cli(), ["-o", "csv", "pricelist", "diff", OCT, NOV, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["Change"], r["ProductId"], r["TermDuration"], r["BillingPlan"], r["ChangeAmount"]) for r in rows] == [
        ("added", "CFQ7TTC0HDK0", "P1M", "Monthly", ""),
        ("removed", "CFQ7TTC0LH1G", "P1M", "Monthly", ""),
        ("removed", "CFQ7TTC0LH1G", "P1Y", "Annual", ""),
        ("removed", "CFQ7TTC0LH1G", "P1Y", "Monthly", ""),
        ("price_up", "CFQ7TTC0LCHC", "P1Y", "Annual", "6.00"),
        ("price_up", "CFQ7TTC0LH18", "P1M", "Monthly", "0.30"),
        ("price_down", "CFQ7TTC0LFLZ", "P1Y", "Annual", "-12.00"),
    ]
    assert "1 added, 3 removed, 2 price up, 1 price down" in result.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["changes.xlsx"]  # the temp file was renamed
    sheet = pd.read_excel(out, engine="calamine")
    assert sheet["Change"].tolist() == [r["Change"] for r in rows]
    assert sheet.loc[6, "ChangePercent"] == pytest.approx(-4.17)


def test_diff_refuses_a_non_xlsx_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(make_cli(), ["pricelist", "diff", OCT, NOV, "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and ".xlsx" in result.output


@responses.activate
def test_fetch_downloads_into_the_cache_and_summarises(tmp_path: Path) -> None:
    url = HOST + "/v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value"
    responses.get(url, body=(SAMPLE / "pricelist_nce_US_202611.csv").read_bytes(), content_type="text/csv")
    transport = Transport(HOST, lambda force: "tok", api_prefix="v1.0")
    sheets = PriceSheets(transport, cache_dir=tmp_path, today=lambda: datetime(2026, 11, 2, tzinfo=UTC))
    client = SimpleNamespace(pricesheets=sheets)
    result = run(["-o", "json", "pricelist", "fetch", "--market", "us", "--month", "202611"], client)
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert summary == {
        "File": str(tmp_path / "ps.example" / "US_updatedlicensebased_current_202611.csv"),
        "Market": "US",
        "View": "updatedlicensebased",
        "Timeline": "current",
        "Rows": 16,
        "Products": 5,
        "FreeTrialRows": 1,
    }
    assert responses.calls[0].request.url.endswith("?timeline=current&month=202611")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--market", "US", "--month", "2026-13"], "YYYY-MM"),
        (["--market", "USA"], "two-letter"),
        (["--market", "US", "--view", "marketplace", "--timeline", "future"], "no future timeline"),
    ],
)
def test_fetch_bad_usage(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(make_cli(), ["pricelist", "fetch", *args])
    assert result.exit_code == 2 and fragment in result.output


def test_price_tables_show_money_with_its_currency(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    shown = run(["pricelist", "show", OCT, "--product", "cfq7ttc0lflz", "--no-trials"])
    assert shown.exit_code == 0, shown.output
    csv_rows = list(csv.DictReader(io.StringIO(run(["-o", "csv", "pricelist", "show", OCT, "--product",
                                                    "cfq7ttc0lflz", "--no-trials"]).stdout)))  # fmt: skip
    for row in csv_rows:  # the table says "<amount> USD"; CSV keeps the bare amount
        assert f"{Decimal(row['TermPrice']):.2f} USD" in shown.stdout and "USD" not in row["TermPrice"]
    plans = run(["pricelist", "plans", OCT, "--product", "cfq7ttc0lflz"])
    assert plans.exit_code == 0, plans.output
    assert " USD" in plans.stdout
