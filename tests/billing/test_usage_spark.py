"""The usage reconciliation on Spark (local mode) gives the same frames as on DuckDB: the real subset, synthetic
months with a PEC loss, spikes, new meters, billing after a cancellation and the invoice tie, a Parquet source, and
the CLI's --engine spark. One SparkSession for the module; the Spark tests are skipped, saying why, without pyspark
(pip install -e '.[spark]') or Java. The SQL translation and the trailing-median rule are tested everywhere."""

from __future__ import annotations

import builtins
import random
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cspkit.billing.engine import spark
from cspkit.billing.usage import NOT_APPLIED, AnomalyRule, reconcile_usage
from cspkit.billing.usage_spark import to_spark_sql
from cspkit.errors import InputFileError
from tests.billing.spark_support import needs_spark as needs_spark_for
from tests.billing.test_usage import REAL, _frame, _row

needs_spark = needs_spark_for("Spark usage tests")


@pytest.fixture(scope="module")
def session():
    with spark.spark_session() as s:  # local[2], stopped after the module; reconcile_usage(engine="spark") reuses it
        s.conf.set("spark.sql.shuffle.partitions", "1")  # small frames: one partition, no code generation
        s.conf.set("spark.sql.codegen.wholeStage", "false")
        yield s


def _same(duck, on_spark) -> None:
    """Every result frame equal, exactly: values, dtypes (exact Arrow decimals, dates), column and row order."""
    theirs = on_spark.frames()
    for name, frame in duck.frames().items():
        try:
            pd.testing.assert_frame_equal(frame, theirs[name], check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"{name} differs between DuckDB and Spark: {exc}") from None
    assert duck.rows_read == on_spark.rows_read


def _ids(name: str) -> tuple[str, str]:
    n = sum(map(ord, name)) % 10**12
    return f"aaaaaaaa-0000-0000-0000-{n:012d}", f"eeeeeeee-0000-0000-0000-{n:012d}"


def _month() -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    """One month with each finding (distinct customers and subscriptions), subscriptions and invoice lines."""
    pec_s, pec_e = _ids("pec")
    rows = [_row(pec_s, pec_e, d, "1.5", customer="pec") for d in range(1, 11)]
    rows += [_row(pec_s, pec_e, d, "2.25", credit=NOT_APPLIED, customer="pec") for d in range(11, 21)]
    rows += [_row(pec_s, pec_e, 15, "100", credit=NOT_APPLIED, publisher="Bitnami", publisher_id="123",
                  customer="pec")]  # fmt: skip
    spk_s, spk_e = _ids("spike")
    rows += [_row(spk_s, spk_e, d, str(10 + d % 2)) for d in range(1, 10)]  # 10 and 11 by turns
    rows += [_row(spk_s, spk_e, 10, "40"), _row(spk_s, spk_e, 11, "29")]
    new_s, new_e = _ids("new")
    rows += [_row(new_s, new_e, d, "1", customer="new") for d in range(1, 21)]
    rows += [_row(new_s, new_e, d, "2", meter="m-new", customer="new") for d in range(15, 21)]
    cxl_s, cxl_e = _ids("cancel")
    rows += [_row(cxl_s, cxl_e, d, "0.333333333333333", customer="cxl") for d in range(1, 21)]
    subscriptions = [{"id": cxl_e.upper(), "status": "deleted", "cancellationDate": "2025-11-17T08:00:00Z"}]
    invoice = pd.DataFrame({
        "InvoiceNumber": ["G000000001"] * 3, "SubscriptionId": [cxl_s.upper(), new_s, "ffffffff-0000"],
        "ProductId": ["DZH318Z0BQ3Q"] * 3, "SkuId": ["0003"] * 3, "AvailabilityId": ["DZH318Z09SQD"] * 3,
        "SubscriptionDescription": ["Azure plan"] * 3,
        "Subtotal": [D("6.67"), D("31.00"), D("4.00")], "Currency": ["EUR"] * 3,
    })  # fmt: skip
    return _frame(rows), subscriptions, invoice


# ---------------------------------------------------------------------------------------------------------------
# everywhere: the SQL translation, the trailing median


def test_parameters_become_literals_and_the_duckdb_sql_becomes_spark_sql() -> None:
    sql = to_spark_sql(
        """SELECT "A" || $factor AS "B", strftime("D", '%Y-%m-%d') FROM usage WHERE "X" > $floor AND "N" >= $n
           GROUP BY ALL ORDER BY "B" """,
        {"factor": D("2.5"), "floor": D("1E+1"), "n": 3},
    )
    assert "`A` || 2.5 AS `B`" in sql and "`X` > 10" in sql and "`N` >= 3" in sql
    assert "DATE_FORMAT(`D`, 'yyyy-MM-dd')" in sql and "NULLS LAST" in sql
    with pytest.raises(ValueError, match=r"\$floor"):
        to_spark_sql("SELECT $floor", {"factor": 1})


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="duckdb, spark"):
        reconcile_usage(_month()[0], engine="polars")


def test_trailing_median_matches_a_plain_median_for_odd_and_even_windows() -> None:
    """The spike rule's median (written without median() so Spark runs it) is the median of the days with spend in
    the window before: checked against Python's on random months with gaps (odd and even window counts)."""
    rnd = random.Random(16)
    sub, ent = _ids("median")
    days = sorted(rnd.sample(range(1, 31), 22))
    amounts = {d: D(rnd.randint(1, 10**6)) / 1000 for d in days}
    rule = AnomalyRule(spike_factor=D("0.000001"), spike_floor=D(0), min_history_days=1, window_days=5)
    result = reconcile_usage(_frame([_row(sub, ent, d, str(amounts[d])) for d in days]), rule=rule)
    spikes = result.anomalies[result.anomalies["Kind"] == "spend spike"].set_index("UsageDate")
    checked = {len([p for p in days if d - 5 <= p < d]) for d in days}
    assert {1, 2, 3, 4} <= checked  # both parities seen
    for d in days:
        window = sorted(amounts[p] for p in days if d - 5 <= p < d)
        if not window:
            continue
        mid = len(window) // 2
        median = window[mid] if len(window) % 2 else (window[mid - 1] + window[mid]) / 2
        assert spikes.loc[pd.Timestamp(2025, 11, d), "Baseline"] == median


# ---------------------------------------------------------------------------------------------------------------
# on Spark


@needs_spark
def test_real_subset_same_frames_on_spark(session) -> None:
    if not REAL.exists():
        pytest.skip(f"real daily rated usage subset not found at {REAL} (../shared is absent)")
    duck, on_spark = reconcile_usage(REAL), reconcile_usage(REAL, engine="spark")
    _same(duck, on_spark)
    s = on_spark.summary.iloc[0]
    assert s["BillingPreTaxTotal"] == D("3011.918783289273") and on_spark.rows_read == 3367
    assert s["CreditNotAppliedRows"] == 338 and s["AtStake"] > 0
    assert on_spark.customers["BillingPreTaxTotal"].sum() == s["BillingPreTaxTotal"]


@needs_spark
def test_synthetic_month_same_findings_on_spark(session) -> None:
    frame, subscriptions, invoice = _month()
    kwargs = dict(subscriptions=subscriptions, invoice=invoice)
    duck, on_spark = reconcile_usage(frame, **kwargs), reconcile_usage(frame, engine="spark", **kwargs)
    _same(duck, on_spark)
    kinds = on_spark.anomalies["Kind"].value_counts().to_dict()
    assert kinds == {"spend spike": 2, "new meter": 1, "billed after cancellation": 1}
    spikes = on_spark.anomalies[on_spark.anomalies["Kind"] == "spend spike"].set_index("EntitlementId")
    assert spikes.loc[_ids("pec")[1], "Amount"] == D("102.25")  # the marketplace row's day
    spike = spikes.loc[_ids("spike")[1]]
    assert spike["Amount"] == 40 and spike["Baseline"] == 11  # the 7 days before the 10th: 11,10,11,10,11,10,11
    assert "x the median 11.00 of the 7 day(s)" in spike["Detail"]
    assert list(on_spark.pec.loc[on_spark.pec["Status"] == "lost", "StoppedOn"]) == [pd.Timestamp(2025, 11, 11)]
    tie = on_spark.invoice_tie.set_index("SubscriptionId")
    assert tie.loc[_ids("cancel")[0], "Status"] == "ties"  # 20 × 0.333333333333333 against 6.67
    assert tie.loc[_ids("new")[0], "Status"] == "differs" and tie.loc["ffffffff-0000", "Status"] == "only on invoice"
    assert on_spark.has_differences
    lower = AnomalyRule(spike_floor=D(1), min_history_days=1)
    _same(reconcile_usage(frame, rule=lower), reconcile_usage(frame, rule=lower, engine="spark"))


@needs_spark
def test_parquet_source_and_float_money_on_spark(session, tmp_path: Path) -> None:
    frame, _, _ = _month()
    folder = tmp_path / "usage"
    folder.mkdir()
    frame.iloc[:30].to_parquet(folder / "part-0.parquet")
    frame.iloc[30:].to_parquet(folder / "part-1.parquet")
    _same(reconcile_usage(folder), reconcile_usage(folder, engine="spark"))
    floats = frame.astype({"BillingPreTaxTotal": float})
    with pytest.raises(InputFileError, match="BillingPreTaxTotal"):
        reconcile_usage(floats, engine="spark")


@needs_spark
def test_cli_engine_spark_gives_the_same_report(session, tmp_path: Path) -> None:
    import json

    from cspkit.cli.main import cli
    from tests.cli.test_usage_cli import write_daily

    daily = write_daily(tmp_path / "daily.csv", ["1.25", "2.5E-3", "3"])
    env = {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": "/dev/null"}
    out = {}
    for engine in ("duckdb", "spark"):
        res = CliRunner().invoke(cli, ["-o", "json", "usage", "reconcile", "--file", str(daily), "--engine", engine,
                                       "--out", str(tmp_path / f"{engine}.xlsx")], env=env)  # fmt: skip
        assert res.exit_code == 0, res.output
        out[engine] = json.loads(res.stdout)
        out[engine].pop("files")
    assert out["spark"] == out["duckdb"]
    assert out["spark"]["summary"][0]["BillingPreTaxTotal"] in ("4.2525", "4.252500000000000000")
    assert (tmp_path / "spark.xlsx").exists()


# ---------------------------------------------------------------------------------------------------------------
# the CLI without Spark


def test_cli_without_pyspark_exits_2_with_the_install_hint(monkeypatch, tmp_path: Path) -> None:
    from cspkit.cli.main import cli

    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    out = tmp_path / "usage.xlsx"
    res = CliRunner().invoke(cli, ["usage", "reconcile", "--file", str(tmp_path / "daily.csv"), "--engine", "spark",
                                   "--out", str(out)], env={"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": "/dev/null"})
    assert res.exit_code == 2 and "pip install -e '.[spark]'" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_cli_spark_master_goes_with_the_spark_engine_and_help_shows_both(tmp_path: Path) -> None:
    from cspkit.cli.main import cli

    env = {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": "/dev/null"}
    res = CliRunner().invoke(cli, ["usage", "reconcile", "--file", "x.csv", "--spark-master", "local[2]", "--out",
                                   str(tmp_path / "u.xlsx")], env=env)  # fmt: skip
    assert res.exit_code == 2 and "--spark-master goes with --engine spark" in res.output
    help_text = CliRunner().invoke(cli, ["usage", "reconcile", "--help"]).output
    assert "--engine [duckdb|spark]" in help_text and "--spark-master URL" in help_text
