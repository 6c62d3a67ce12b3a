"""The totals' own paths (issue 15, the 10-million-line month): the first/last line's values taken by the engine's
``argmin``/``argmax`` of the line position (a blank value of that line stays blank), and the groups ordered in
Arrow by the categoricals' codes instead of by the engine's string sort — text in code point order, blanks last,
whatever order the engine streams the groups in, the same on DuckDB and on Spark."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal as D

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from cspkit.billing.engine import totals
from cspkit.billing.recon_readers import recon_lines_to_frame
from cspkit.billing.reconcile import reconcile
from tests.billing.spark_support import needs_spark
from tests.billing.test_reconcile import item

#: texts whose code point order differs from UTF-16's (U+FFFF < U+1F600) and from a case-folding or accent-aware
#: collation ("Z" < "a" < "z" < "É")
TEXTS = ["z", "a", "", "É", "Z", "\uffff", "\U0001f600", "ab"]


def _facts(rows: list[tuple[int, str | None, str | None, str | None, str]]) -> pa.Table:
    """Lines (pos, SubscriptionId, CustomerName, SkuName, Currency) with a Subtotal of 1.00 each."""
    pos, sub, name, sku, currency = (list(c) for c in zip(*rows, strict=True))
    return pa.table({
        "pos": pa.array(pos, pa.int64()), "SubscriptionId": pa.array(sub, pa.string()),
        "CustomerId": pa.array(["c1"] * len(rows), pa.string()), "CustomerName": pa.array(name, pa.string()),
        "SkuName": pa.array(sku, pa.string()), "Currency": pa.array(currency, pa.string()),
        "Subtotal": pa.array([D("1.00")] * len(rows), pa.decimal128(38, 15)),
        "TaxTotal": pa.array([D("0")] * len(rows), pa.decimal128(38, 15)),
        "Total": pa.array([D("1.00")] * len(rows), pa.decimal128(38, 15)),
    })  # fmt: skip


def _subscription_totals(con: object, facts: pa.Table) -> pd.DataFrame:
    name = f"facts_{uuid.uuid4().hex}"
    stored = con.create_table(name, totals.amounts(ibis.memtable(facts)), temp=True)  # type: ignore[attr-defined]
    return totals.group_totals(con, stored, ["SubscriptionId", "Currency"], {"sub_m": "Subtotal"},
                               first=["CustomerName"], last=["SkuName"],
                               sort=["_firstCustomerName", "SubscriptionId", "Currency"])  # fmt: skip


def _plain(series: pd.Series) -> list[object]:
    return series.astype(object).where(series.notna(), None).tolist()


def test_ordered_sorts_the_codes_as_the_text_in_code_point_order_with_blanks_last() -> None:
    names = [*TEXTS, None] * 3
    ids = [f"s{i % 5}" if i % 7 else None for i in range(len(names))]  # ties of the names broken by the ids
    chunks = [pa.array(names[:10]).dictionary_encode(), pa.array(names[10:]).dictionary_encode()]
    first = totals.text_column(pa.chunked_array(chunks), "CustomerName")
    second = totals.text_column(pa.chunked_array([pa.array(ids, pa.string())]), "SubscriptionId")
    order = totals.ordered(first, second)
    got = [(names[i], ids[i]) for i in order]
    blank_last = lambda v: (v is None, v or "")  # noqa: E731
    assert got == sorted(zip(names, ids, strict=True), key=lambda r: (blank_last(r[0]), blank_last(r[1])))
    assert got[:3] == [("", "s0"), ("", "s1"), ("", "s2")]
    assert [r for r in got if r[0] == "z"] == [("z", "s3"), ("z", "s4"), ("z", None)]
    assert [n for n, _ in got].index("\uffff") < [n for n, _ in got].index("\U0001f600")  # code points, not UTF-16
    assert totals.ordered().tolist() == []


def test_the_first_and_last_lines_values_keep_a_blank_and_follow_the_file_not_the_table() -> None:
    rows = [(3, "s1", "Late name", "Late SKU", "USD"), (1, "s1", None, "Early SKU", "USD"),
            (2, "s1", "Middle", None, "USD"), (5, "s2", "Beta", "B", "EUR"), (4, "s2", "Alpha", "A", "EUR"),
            (0, "s3", "Alpha", "C", "USD"), (6, "s3", "Omega", "D", "EUR")]  # fmt: skip
    got = _subscription_totals(ibis.duckdb.connect(), _facts(rows))
    # s1's first line (pos 1) has no name: blank, sorted last (not its later lines' names); its last line (pos 3)
    assert got[["SubscriptionId", "Currency"]].values.tolist() == [["s2", "EUR"], ["s3", "USD"], ["s3", "EUR"],
                                                                   ["s1", "USD"]]  # fmt: skip
    assert _plain(got["CustomerName"]) == ["Alpha", "Alpha", "Omega", None]
    assert list(got["CustomerName"].cat.categories) == ["Alpha", "Omega"]  # the values shown, not every line's
    assert _plain(got["SkuName"]) == ["B", "C", "D", "Late SKU"]
    assert got["_first"].tolist() == [4, 0, 6, 1]
    assert got["Lines"].tolist() == [2, 1, 1, 3]
    assert [str(v) for v in got["Subtotal"]] == ["2.00", "1.00", "1.00", "3.00"]


def test_the_order_does_not_depend_on_the_order_the_engine_streams_the_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(15)
    rows = [(i, f"s{rng.randrange(40)}", rng.choice([*TEXTS, None]), rng.choice(["x", None]),
             rng.choice(["USD", "EUR", None])) for i in range(400)]  # fmt: skip
    con = ibis.duckdb.connect()
    expected = _subscription_totals(con, _facts(rows))
    names = {p: n for p, _, n, _, _ in rows}
    assert _plain(expected["CustomerName"]) == [names[p] for p in expected["_first"]]
    columns = (_plain(expected["CustomerName"]), expected["SubscriptionId"], _plain(expected["Currency"]))
    keys = [(n is None, n or "", s, c is None, c or "") for n, s, c in zip(*columns, strict=True)]
    assert keys == sorted(keys)
    monkeypatch.setattr(totals, "BATCH_ROWS", 3)
    for _ in range(3):
        rng.shuffle(rows)
        pd.testing.assert_frame_equal(_subscription_totals(con, _facts(rows)), expected, check_exact=True)


@needs_spark("the totals' first/last values and order on Spark")
def test_spark_takes_the_same_first_blank_and_order_as_duckdb() -> None:
    from cspkit.billing.engine import spark

    lines = recon_lines_to_frame([
        item(customerName="", subscriptionId="s1", orderId="o1"),
        item(customerName="Named later", subscriptionId="s1", orderId="o2", skuId="0002"),
        item(customerName="\U0001f600 Cust", customerId="c2", subscriptionId="s2", orderId="o3"),
        item(customerName="\uffff Cust", customerId="c3", subscriptionId="s3", orderId="o4", skuId="0009"),
    ]).frame  # fmt: skip
    duck = reconcile(lines, engine="duckdb")
    with spark.spark_session() as session:
        session.conf.set("spark.sql.shuffle.partitions", "3")  # groups come back in more than one partition
        on_spark = reconcile(lines, engine="spark", spark_master=None)
    for name in ("tieout", "customers", "subscriptions", "charge_types"):
        pd.testing.assert_frame_equal(on_spark.frames()[name], duck.frames()[name], check_exact=True, obj=name)
    subs = duck.subscriptions
    assert subs["SubscriptionId"].tolist() == ["s3", "s2", "s1"]
    assert _plain(subs["CustomerName"]) == ["\uffff Cust", "\U0001f600 Cust", None]
    assert _plain(subs["SkuId"]) == ["0009", "0001", "0002"]


def test_the_texts_looked_up_by_position_equal_the_engines_argmin_and_argmax(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20)
    rows = [(i, f"s{rng.randrange(30)}", rng.choice([*TEXTS, None]), rng.choice([*TEXTS, None]),
             rng.choice(["USD", "EUR"])) for i in range(300)]  # fmt: skip
    rng.shuffle(rows)
    con = ibis.duckdb.connect()
    monkeypatch.setattr(totals, "BATCH_ROWS", 7)  # the scan's codes span batches with different texts
    looked_up = _subscription_totals(con, _facts(rows))
    monkeypatch.setattr(totals, "_looked_up", lambda f, column, engine: False)
    sql = str(con.compile(totals.grouped(ibis.memtable(_facts(rows)), ["SubscriptionId"], {}, first=["CustomerName"],
                                         engine="duckdb")))  # fmt: skip
    assert "ORDER BY" in sql  # Ibis' argmin: FIRST(... ORDER BY pos), DuckDB's arg_min_null
    pd.testing.assert_frame_equal(_subscription_totals(con, _facts(rows)), looked_up, check_exact=True)
    sku = {p: s for p, _, _, s, _ in rows}
    assert sorted(_plain(looked_up["SkuName"]), key=str) == sorted(
        (sku[max(p for p, s, _, _, c in rows if (s, c) == key)] for key in
         zip(looked_up["SubscriptionId"], _plain(looked_up["Currency"]), strict=True)), key=str)  # fmt: skip


def test_a_text_streamed_in_batches_keeps_one_dictionary_and_its_blanks() -> None:
    import numpy as np

    codes = totals._Codes()
    for part in (["b", None, "a", "b"], ["c", "a", None], [], [None]):
        codes.add(pa.array(part, pa.string()))
    taken = codes.take(np.array([7, 0, 4, 1, 2, 3, 5, 6]))
    assert taken.to_pylist() == [None, "b", "c", None, "a", "b", "a", None]
    assert taken.chunk(0).dictionary.to_pylist() == ["b", "a", "c"]  # each distinct text once
    assert codes.take(np.array([4, 7, 2])).chunk(0).dictionary.to_pylist() == ["a", "c"]  # the texts taken only
    assert totals._Codes().take(np.zeros(0, dtype=np.int64)).to_pylist() == []


def test_cached_blocks_of_a_database_file_are_evicted_and_the_limit_set_back(tmp_path) -> None:
    import ibis

    from cspkit.billing.engine.totals import _evict_cached_blocks

    def cached(con, tag: str = "BASE_TABLE") -> int:
        return con.raw_sql(f"SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = '{tag}'").fetchall()[0][0]

    def limit(con) -> str:
        return con.raw_sql("SELECT current_setting('memory_limit')").fetchall()[0][0]

    on_file = ibis.duckdb.connect(str(tmp_path / "engine.duckdb"), memory_limit="512MB")
    on_file.cspkit_totals_memory_limit = "512MB"  # what reconcile sets for the totals of a database file
    on_file.raw_sql("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(8000000)")
    on_file.raw_sql("CHECKPOINT")
    first = on_file.raw_sql("SELECT count(*), max(i), max(s) IS NOT NULL FROM t").fetchall()
    assert first == [(8000000, 7999999, True)]
    before, kept = cached(on_file), limit(on_file)
    assert before > 64 << 20
    _evict_cached_blocks(on_file)
    assert cached(on_file) <= 64 << 20 < before
    assert limit(on_file) == kept
    assert on_file.raw_sql("SELECT count(*), max(i) FROM t").fetchall() == [(8000000, 7999999)]  # read again
    on_file.disconnect()

    in_memory = ibis.duckdb.connect(memory_limit="1GB")
    in_memory.cspkit_totals_memory_limit = "512MB"  # reconcile sets it in memory too
    in_memory.raw_sql("CREATE TABLE t AS SELECT range AS i FROM range(8000000)")
    before = cached(in_memory, "IN_MEMORY_TABLE")
    assert before > 64 << 20
    _evict_cached_blocks(in_memory)  # its blocks would be written to the spill folder: left alone
    assert cached(in_memory, "IN_MEMORY_TABLE") == before
