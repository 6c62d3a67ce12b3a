"""The usage checks on Spark: a connection-like adapter that runs their DuckDB SQL on a SparkSession.

Each usage check is defined once, as one DuckDB-dialect SQL query (:mod:`cspkit.billing.usage_checks`,
:mod:`~cspkit.billing.usage_pec`, :mod:`~cspkit.billing.usage_load`); :class:`SparkConnection` gives them the three
things they use of a DuckDB connection — ``execute(sql)``, ``sql(sql, params)`` (a result readable as Arrow) and
``register(name, frame)`` — on Spark: the SQL is translated by ``sqlglot`` (DuckDB → Spark SQL: identifiers, types,
``strftime`` → ``date_format``, DuckDB's NULLS LAST ordering made explicit) after named parameters (``$name``) are
written in as literals, and frames become temporary views. The queries use only constructs both engines run alike
(no ``median``, ``QUALIFY``, list functions or interval window frames), so the result frames are the same:
exact decimals as Arrow decimals, dates as dates.

Exactness on Spark comes from the session settings of :func:`cspkit.billing.engine.spark.spark_session`
(``spark.sql.decimalOperations.allowPrecisionLoss=false``, ANSI, UTC; Spark SQL reference, "Decimal arithmetic" and
"ANSI compliance", https://spark.apache.org/docs/latest/sql-ref-ansi-compliance.html): ``sum`` over
``decimal(38, 18)`` is ``decimal(38, 18)`` exactly, products keep their scale, an overflow raises.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

__all__ = ["SparkConnection", "spark_connection", "to_spark_sql"]

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, Decimal)):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def to_spark_sql(sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> str:
    """DuckDB SQL → Spark SQL: ``$name`` parameters written as literals (ints, Decimals in plain notation,
    quoted text), then ``sqlglot.transpile(read="duckdb", write="spark")``.

    Raises:
        ValueError: a ``$name`` parameter has no value (positional parameters are not supported).
    """
    import sqlglot

    if params:
        if not isinstance(params, Mapping):
            raise ValueError("SparkConnection takes named parameters ($name) only")

        def value(m: re.Match[str]) -> str:
            if m.group(1) not in params:
                raise ValueError(f"no value for the SQL parameter ${m.group(1)}")
            return _literal(params[m.group(1)])

        sql = _PARAM.sub(value, sql)
    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write="spark"))


class _Result:
    """A Spark query's result, read as DuckDB relations are (``to_arrow_table``, ``fetchall``)."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame

    def to_arrow_table(self) -> pa.Table:
        return self._frame.toArrow()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._frame.collect()]


class SparkConnection:
    """The part of a DuckDB connection the usage checks use, on a SparkSession (see the module docstring).

    Args:
        session: a SparkSession with the exact-decimal settings (:func:`spark_connection` makes one).
        cache_usage: cache the ``usage`` view in Spark's memory when it is made (computed once, on first use;
            worth it when it is read from files by a dozen checks, costly in JVM memory for tens of millions of
            rows).
    Temporary views made through it are dropped by :meth:`close`.
    """

    def __init__(self, session: Any, *, cache_usage: bool = False) -> None:
        self.session = session
        self.cache_usage = cache_usage
        self._views: set[str] = set()

    def sql(self, sql: str, params: Mapping[str, Any] | None = None) -> _Result:
        """Run one DuckDB-dialect query on Spark; the result reads as Arrow (``to_arrow_table``)."""
        return _Result(self.session.sql(to_spark_sql(sql, params)))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> SparkConnection:
        """Run a DuckDB-dialect statement (``CREATE OR REPLACE VIEW name AS ...``) on Spark as a temporary view."""
        statement = to_spark_sql(sql, params)
        m = re.match(r"\s*CREATE\s+OR\s+REPLACE\s+VIEW\s+`?(\w+)`?\s+AS\s+(.*)$", statement, re.S | re.I)
        if m:
            name, query = m.group(1), m.group(2)
            self.session.sql(query).createOrReplaceTempView(name)
            self._views.add(name)
            if name == "usage" and self.cache_usage:
                self.session.catalog.cacheTable(name)
        else:
            self.session.sql(statement).collect()
        return self

    def register(self, name: str, obj: Any) -> SparkConnection:
        """A pandas frame or Arrow table as the temporary view ``name`` (handed to Spark as Arrow)."""
        table = obj if isinstance(obj, pa.Table) else pa.Table.from_pandas(obj, preserve_index=False)
        if isinstance(obj, pd.DataFrame):  # pandas' nanosecond timestamps: Spark keeps microseconds
            table = table.cast(pa.schema([
                pa.field(f.name, pa.timestamp("us", f.type.tz)) if pa.types.is_timestamp(f.type) else f
                for f in table.schema]))  # fmt: skip
        self.session.createDataFrame(table).createOrReplaceTempView(name)
        self._views.add(name)
        return self

    def register_parquet(self, name: str, paths: Sequence[str]) -> SparkConnection:
        """Parquet files or folders (read recursively, schemas merged by name) as the temporary view ``name``."""
        reader = self.session.read.option("mergeSchema", "true").option("recursiveFileLookup", "true")
        reader.parquet(*paths).createOrReplaceTempView(name)
        self._views.add(name)
        return self

    def close(self) -> None:
        """Drop the temporary views made through this connection (uncaching them); the session is left running."""
        for name in sorted(self._views):
            self.session.catalog.dropTempView(name)
        self._views.clear()


@contextlib.contextmanager
def spark_connection(master: str | None = None, *, cache_usage: bool = False) -> Iterator[SparkConnection]:
    """A :class:`SparkConnection` on :func:`cspkit.billing.engine.spark.spark_session` (``master`` default
    ``local[2]``; an active session is reused when no master is given), its views dropped and the session it
    started stopped on exit.

    Raises:
        ConfigurationError: pyspark or (for a local master) Java is missing (CLI exit 2, with the install hint).
    """
    from cspkit.billing.engine.spark import spark_session

    with spark_session(master, app_name="cspkit-usage") as session:
        con = SparkConnection(session, cache_usage=cache_usage)
        try:
            yield con
        finally:
            con.close()
