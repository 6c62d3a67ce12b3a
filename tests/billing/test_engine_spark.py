"""Parity of the relational engine on Spark (local mode) with DuckDB: the same months reconciled on both give the
same result frames — variances with their evidence, counts per category, tie-out to the cent, per-line labels,
customer and subscription totals — compared exactly. One SparkSession for the module (starting one costs seconds);
the Spark tests are skipped, saying why, without pyspark (pip install -e '.[spark]') or Java. The messages for a
missing pyspark or Java are tested everywhere."""

from __future__ import annotations

import builtins
import json
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cspkit.billing.engine import spark
from cspkit.billing.pricelist import read_price_list
from cspkit.billing.recon_readers import read_recon, recon_lines_to_frame
from cspkit.billing.reconcile import reconcile
from cspkit.errors import ConfigurationError
from tests.billing.spark_support import needs_spark as needs_spark_for
from tests.billing.test_reconcile import item
from tests.billing.test_reconcile_engine import _PRICES
from tests.billing.test_reconcile_engine import SCENARIOS as ENGINE_SCENARIOS

DATA = Path(__file__).resolve().parents[2] / "sample_data"
#: months the sample does not reach: the engine tests' own (one definition), run again on Spark
SCENARIOS = {name: ENGINE_SCENARIOS[name] for name in ("currencies", "duplicate by time and decimals",
                                                       "missing charges")}  # fmt: skip


needs_spark = needs_spark_for("Spark parity tests")


@pytest.fixture(scope="module")
def session():
    with spark.spark_session() as s:  # local[2], stopped after the module
        # a few dozen lines: one shuffle partition and no code generation (both cost more than they save here)
        s.conf.set("spark.sql.shuffle.partitions", "1")
        s.conf.set("spark.sql.codegen.wholeStage", "false")
        yield s


def _parity(session, lines: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    """Reconcile on DuckDB and on Spark (the module's session, reused by reconcile) and compare every frame."""
    duck = reconcile(lines, engine="duckdb", **kwargs)
    on_spark = reconcile(lines, engine="spark", **kwargs)
    assert session.sparkContext._jsc is not None  # the module's session was reused, not stopped
    assert not [t.name for t in session.catalog.listTables() if t.name.startswith("cspkit_")]  # nor left cached
    frames = duck.frames()
    assert set(on_spark.frames()) == set(frames)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(on_spark.frames()[name], frame, check_exact=True, obj=name)
    assert on_spark.notes == duck.notes
    return on_spark


@needs_spark
def test_sample_month_is_identical_on_spark_and_duckdb(session) -> None:
    result = _parity(
        session,
        read_recon(DATA / "recon_sample.csv").frame,
        subscriptions=pd.read_csv(DATA / "recon_subscriptions.csv", dtype=str),
        price_list=read_price_list(DATA / "recon_pricelist.csv"),
        invoices=json.loads((DATA / "recon_invoices.json").read_text())["items"],
        period="2026-03",
    )
    counts = result.variance_counts.set_index("Category")["Count"]
    assert counts.sum() == len(result.variances) > 0
    assert (result.tieout["Status"] != "ties").any()  # the documented sample plants a difference: found on Spark


@needs_spark
def test_an_emulator_month_is_identical_on_spark_and_duckdb(session, emulator) -> None:
    # November from the emulator: seats bought twice on one subscription; the invoice's v1 line items, the
    # subscriptions from the API (one with a quantity the lines do not bill) and the invoice total
    from cspkit.client import PartnerCenter

    customer, basic = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80", "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    for quantity in (5, 3):
        cart = pc.carts.create(customer, line_items=[{"catalogItemId": basic, "quantity": quantity,
                                                      "termDuration": "P1M", "billingCycle": "monthly"}])  # fmt: skip
        pc.carts.checkout(customer, cart.id)
    emulator.clock.set("2026-12-08T00:00:00Z")
    invoice = next(iter(pc.invoices.list()))
    lines = recon_lines_to_frame(pc.invoices.line_items(invoice.id, raw=True), source=invoice.id).frame
    subscriptions = [s.to_wire() | {"customerId": customer} for s in pc.subscriptions.list(customer)]
    subscriptions[0]["quantity"] = 7
    result = _parity(session, lines, subscriptions=subscriptions, invoices=[invoice])
    assert "seat_mismatch" in set(result.variances["Category"])


@needs_spark
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_targeted_months_are_identical_on_spark_and_duckdb(session, name: str) -> None:
    # the checks the sample month does not reach: rate outliers and several currencies per customer (mode per
    # pair and day, a window rank), exact duplicates down to the 15th decimal and the time of day, and the
    # subscriptions without a line priced from the price list
    items, kwargs = SCENARIOS[name]
    if kwargs.get("price_list") == "prices":
        kwargs = {**kwargs, "price_list": pd.DataFrame(_PRICES)}
    result = _parity(session, recon_lines_to_frame(items).frame, **kwargs)
    assert len(result.variances)


@needs_spark
def test_decimals_stay_exact_on_spark(session) -> None:
    # 15 decimals on amounts of 10^16: Subtotal + TaxTotal needs decimal(39, 15), which Spark rounds to 14 places
    # unless spark.sql.decimalOperations.allowPrecisionLoss is false; the micro-unit sums likewise. Exact: the
    # total that is off by 10^-15 is found, the one that ties is not, and the tie-out keeps every micro-unit.
    big = "12345678901234567.123456789012345"
    lines = recon_lines_to_frame([
        item(subtotal=big, taxTotal="0.000000000000001", total="12345678901234567.123456789012346",
             effectiveUnitPrice=big, billableQuantity="1"),
        item(orderId="o2", subscriptionId="s2", subtotal=big, taxTotal="0.000000000000001",
             total="12345678901234567.123456789012347", effectiveUnitPrice=big, billableQuantity="1"),
    ]).frame  # fmt: skip
    result = _parity(session, lines)
    totals = result.variances[result.variances["Evidence"].str.startswith("Total ")]
    assert totals["SourceRow"].tolist() == [2]
    assert result.tieout["Subtotal"].iloc[0] == D("24691357802469134.246912")


@needs_spark
def test_cli_reconciles_on_spark(session, tmp_path) -> None:
    from cspkit.cli.main import cli

    def run(engine: str) -> dict:
        args = ["--output", "json", "reconcile", "--file", str(DATA / "recon_sample.csv"), "--price-list",
                str(DATA / "recon_pricelist.csv"), "--subscriptions", str(DATA / "recon_subscriptions.csv"),
                "--invoice-total", "USD=856.87", "--invoice-total", "eur=112.17",
                "--out", str(tmp_path / f"{engine}.xlsx"), "--engine", engine]  # fmt: skip
        res = CliRunner().invoke(cli, args, env={"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": "/dev/null"})
        assert res.exit_code == 1, res.output  # the sample plants a difference and error variances
        return json.loads(res.stdout)

    on_spark, duck = run("spark"), run("duckdb")
    assert on_spark["tieout"] == duck["tieout"] and on_spark["variances"] == duck["variances"]
    assert (tmp_path / "spark.xlsx").exists()


def test_without_pyspark_the_engine_says_how_to_install_it(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(ConfigurationError, match="pyspark") as caught:
        reconcile(recon_lines_to_frame([item()]).frame, engine="spark")
    assert caught.value.hint == "install the spark extra: pip install -e '.[spark]'"
    assert caught.value.exit_code == 2


def test_without_java_local_mode_is_refused_and_a_cluster_is_not(monkeypatch, tmp_path) -> None:
    pytest.importorskip("pyspark", reason="the Java check comes after the pyspark one")
    pytest.importorskip("ibis.backends.pyspark", reason="the Java check comes after the pyspark one")
    from cspkit.cli.main import cli

    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigurationError, match="Java runtime") as caught:
        spark.require_spark("local[4]")
    assert "--spark-master" in (caught.value.hint or "")
    spark.require_spark("spark://spark-head:7077")  # the cluster runs the Java, not this machine
    res = CliRunner().invoke(cli, ["reconcile", "--file", str(DATA / "recon_sample.csv"), "--engine", "spark"],
                             env={"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": "/dev/null"})  # fmt: skip
    assert res.exit_code == 2 and "Java runtime" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "reports").exists()  # refused before anything was read or written


def test_spark_master_goes_with_the_spark_engine(tmp_path) -> None:
    from cspkit.cli.main import cli

    res = CliRunner().invoke(
        cli,
        ["reconcile", "--file", str(DATA / "recon_sample.csv"), "--spark-master", "local[2]"],
        env={"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": "/dev/null"},
    )
    assert res.exit_code == 2 and "--spark-master goes with --engine spark" in res.output
