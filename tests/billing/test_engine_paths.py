"""The engine's faster paths give the same results as the general ones: text columns the ingest found already
trimmed are read as they are, and a month of at most ``DUCKDB_IN_MEMORY_ROWS`` lines runs in an in-memory DuckDB
database instead of a database file (issue 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import cspkit.billing.engine.variances as variances
import cspkit.billing.reconcile as reconcile_module
from cspkit.billing.ingest import _trimmed, ingest_frames, ingest_recon
from cspkit.billing.recon_readers import read_recon
from cspkit.billing.reconcile import reconcile
from tests.billing.test_reconcile_engine import DATA, _digest, _same_frames, _sample_inputs


def test_trimmed_looks_at_the_first_and_last_byte_of_every_value() -> None:
    assert _trimmed(pa.array(["a b", "Contoso Ltd", None, "x"]))
    assert _trimmed(pa.array([None, None], pa.string()))
    assert _trimmed(pa.chunked_array([pa.array(["a"]), pa.array(["b c"])]))
    for bad in ([" a"], ["a "], ["a\t"], ["\na"], [""], ["ok", "   "]):
        assert not _trimmed(pa.array(bad)), bad
    assert not _trimmed(pa.array(["x", " padded", "y"]).slice(1, 1))  # the slice's own offsets
    assert _trimmed(pa.array([" padded", "ok"]).slice(1, 1))


def test_padded_and_blank_free_text_is_trimmed_by_the_engine_as_from_the_frame(tmp_path: Path) -> None:
    frame = read_recon(DATA / "recon_sample.csv").frame
    # free text keeps what the file says (the readers trim typed values only): the engine trims it
    frame["CustomerName"] = frame["CustomerName"].astype(object)
    frame.loc[0, "CustomerName"] = "  Contoso Dental Group "
    frame["PromotionId"] = frame["PromotionId"].astype(object)
    frame.loc[3, "PromotionId"] = "   "  # blank: no promotion, so the unit price mismatch stays an error
    frame["CustomerName"] = frame["CustomerName"].astype("string[pyarrow]")
    frame["PromotionId"] = frame["PromotionId"].astype("string[pyarrow]")
    dataset = ingest_frames([frame], tmp_path / "work")
    assert dataset.trimmed is not None
    assert "CustomerName" not in dataset.trimmed and "PromotionId" not in dataset.trimmed
    assert {"CustomerId", "SubscriptionId", "ChargeType", "InvoiceNumber"} <= dataset.trimmed
    inputs = _sample_inputs()
    from_frame, from_parquet = reconcile(frame, **inputs), reconcile(dataset, **inputs)
    _same_frames(from_frame, from_parquet)
    assert "Contoso Dental Group" in set(from_parquet.customers["CustomerName"])
    assert _digest(from_parquet)[0]["unit_price_mismatch"] == 1


def test_every_text_column_is_trimmed_when_the_dataset_does_not_say(tmp_path: Path) -> None:
    frame = read_recon(DATA / "recon_sample.csv").frame
    frame["CustomerName"] = (" " + frame["CustomerName"].astype(object) + " ").astype("string[pyarrow]")
    dataset = ingest_frames([frame], tmp_path / "work")
    dataset.trimmed = None  # e.g. a dataset object made by hand over existing files
    result = reconcile(dataset, **_sample_inputs())
    assert not any(n.startswith(" ") for n in result.customers["CustomerName"].dropna())


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options of every DuckDB connection the engine opens."""
    seen: list[dict[str, Any]] = []
    real = variances.connect

    def spy(engine: str = "duckdb", **options: Any) -> Any:
        seen.append(dict(options))
        return real(engine, **options)

    monkeypatch.setattr(variances, "connect", spy)
    return seen


def test_a_small_month_runs_in_memory_and_a_large_one_on_a_database_file_with_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connections: list[dict[str, Any]]
) -> None:
    inputs = _sample_inputs()
    dataset = ingest_recon([DATA / "recon_sample.csv"], tmp_path / "work")
    in_memory = reconcile(dataset, **inputs)
    assert connections[-1]["database"] == ":memory:"
    assert connections[-1]["memory_limit"] == reconcile_module.DUCKDB_MEMORY_IN_MEMORY
    assert connections[-1]["temp_directory"] == str(dataset.folder / "duckdb-tmp")
    monkeypatch.setattr(reconcile_module, "DUCKDB_IN_MEMORY_ROWS", dataset.rows - 1)
    on_file = reconcile(dataset, **inputs)
    assert connections[-1]["database"].endswith(".duckdb")
    assert connections[-1]["memory_limit"] == reconcile_module.DUCKDB_MEMORY_LIMIT
    assert not list(dataset.folder.glob("engine-*")) and not (dataset.folder / "duckdb-tmp").exists()
    _same_frames(in_memory, on_file)
    pd.testing.assert_frame_equal(on_file.lines, in_memory.lines, check_exact=True)


def test_duckdb_micro_units_truncate_toward_zero_as_the_portable_expression_does() -> None:
    import ibis

    from cspkit.billing.engine.totals import micro_units

    values = ["1422.90", "-5.0322580645161", "0.0000009", "-0.0000009", "2.9999999", "-2.9999999", "0",
              "12345678901234.123456789", None]  # fmt: skip
    from decimal import Decimal

    column = pa.array([None if v is None else Decimal(v) for v in values], pa.decimal128(38, 15))
    t = ibis.memtable(pa.table({"v": column}))
    con = ibis.duckdb.connect()
    fast = con.to_pyarrow(t.select(m=micro_units(t.v, "duckdb"))).column("m").to_pylist()
    portable = con.to_pyarrow(t.select(m=micro_units(t.v))).column("m").to_pylist()
    expected = [1422900000, -5032258, 0, 0, 2999999, -2999999, 0, 12345678901234123456, 0]
    assert [int(v) for v in fast] == expected
    assert [int(v) for v in portable] == expected


def test_a_known_number_of_billing_periods_divides_the_term_price_as_period_price_does() -> None:
    from decimal import Decimal

    from cspkit.billing.pricing import billing_periods, divided_term_price, period_price

    for price, term, plan in (("60.48", "P1Y", "Monthly"), ("100", "P3Y", "Monthly"), ("57.60", "P1Y", "Annual")):
        k = billing_periods(term, plan)
        assert divided_term_price(Decimal(price), k) == period_price(Decimal(price), term, plan)
    assert divided_term_price(Decimal("100"), 36) == Decimal("2.777777777777777777777777778")
