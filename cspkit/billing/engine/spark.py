"""The Spark side of the relational engine: a SparkSession set up for exact decimal reconciliation, local
(``local[2]``) or on a cluster (``spark://host:7077``, ``yarn``, ``k8s://...``), and the Ibis PySpark backend on it.
The checks (:mod:`cspkit.billing.engine.checks`, :mod:`~cspkit.billing.engine.prices`,
:mod:`~cspkit.billing.engine.totals`) run on it unchanged.

Exact decimals on Spark (Spark SQL reference, "ANSI compliance" and "Decimal arithmetic",
https://spark.apache.org/docs/latest/sql-ref-ansi-compliance.html): the lines' money is ``decimal(38, 15)``.

- ``spark.sql.decimalOperations.allowPrecisionLoss=false``: by default Spark gives an addition or product whose
  exact type would need more than 38 digits a *smaller scale* (at least 6), rounding the value — ``Subtotal +
  TaxTotal`` (decimal(39, 15) exactly) would come back as decimal(38, 14), ``Subtotal × 1,000,000`` (the totals'
  micro-units) rounded to 7 places before truncation. Without precision loss the scale is kept (15) and only the
  integer digits are bounded (23 for decimal(38, 15): far beyond any invoice), so sums and comparisons are exact.
- ``spark.sql.ansi.enabled=true`` (Spark 4's default, set for 3.5 too): a value that would still overflow raises
  an error instead of silently becoming NULL (and a check missing a line).
- ``spark.sql.session.timeZone=UTC``: the lines' dates are UTC timestamps; their day (``.date()``) is the UTC day,
  as on DuckDB.

Needs the ``spark`` extra (``pip install -e '.[spark]'``: pyspark and Ibis' PySpark backend) and a Java runtime
(17 or later for pyspark 4) for local mode; :func:`require_spark` says which is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

from cspkit.errors import ConfigurationError

__all__ = ["DEFAULT_MASTER", "SETTINGS", "LOCAL_SETTINGS", "require_spark", "spark_session", "spark_backend"]

#: the master when none is given: Spark in this process's JVM, 2 worker threads
DEFAULT_MASTER = "local[2]"
#: session settings for exact decimal arithmetic and UTC days (see the module docstring), quiet and small for a
#: single reconciliation
SETTINGS = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
#: added in local mode: the driver on 127.0.0.1 only, a few shuffle partitions for a few cores (Spark's 200 are for
#: a cluster), and memory for a month of a million lines cached in the one JVM
LOCAL_SETTINGS = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "3g",
}
_INSTALL = "pip install -e '.[spark]'"


def require_spark(master: str | None = None) -> None:
    """Raise :class:`~cspkit.errors.ConfigurationError` (CLI exit 2) when the ``spark`` extra (pyspark, Ibis'
    PySpark backend) is not installed, or when a local master (``local``, ``local[N]``, the default) has no Java
    runtime (``java`` on PATH or ``$JAVA_HOME/bin/java``)."""
    try:
        import pyspark  # noqa: F401
        from ibis.backends import pyspark as _backend  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"--engine spark needs pyspark and Ibis' PySpark backend, which are not installed ({exc.name or exc})",
            hint=f"install the spark extra: {_INSTALL}",
        ) from None
    local = (master or DEFAULT_MASTER).startswith("local")
    java_home = os.environ.get("JAVA_HOME")
    has_java = shutil.which("java") is not None or bool(java_home and os.path.exists(os.path.join(java_home, "bin",
                                                                                                  "java")))  # fmt: skip
    if local and not has_java:
        raise ConfigurationError(
            "--engine spark in local mode needs a Java runtime (17 or later): no `java` on PATH and no JAVA_HOME",
            hint="install one (e.g. apt-get install openjdk-17-jre-headless) or give --spark-master URL of a cluster",
        )


@contextlib.contextmanager
def spark_session(master: str | None = None, *, app_name: str = "cspkit-reconcile") -> Iterator[Any]:
    """A SparkSession with :data:`SETTINGS` on ``master`` (default :data:`DEFAULT_MASTER`; a local master gets
    :data:`LOCAL_SETTINGS` too, a cluster keeps its own addresses, partitions and memory), stopped on exit.

    A session already active in this process (a notebook's, a test module's) is used as it is when no master is
    given, and left running; its decimal settings are set for the session (they are runtime SQL settings), and the
    engine's cached tables (temporary views named ``cspkit_*``) are dropped on exit.
    Raises :class:`~cspkit.errors.ConfigurationError` as :func:`require_spark`."""
    require_spark(master)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        for key in ("spark.sql.ansi.enabled", "spark.sql.decimalOperations.allowPrecisionLoss",
                    "spark.sql.session.timeZone"):  # fmt: skip
            active.conf.set(key, SETTINGS[key])
        try:
            yield active
        finally:
            for table in active.catalog.listTables():
                if table.isTemporary and table.name.startswith("cspkit_"):
                    active.catalog.dropTempView(table.name)  # uncached with it
        return
    master = master or DEFAULT_MASTER
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in (SETTINGS | LOCAL_SETTINGS if master.startswith("local") else SETTINGS).items():
        builder = builder.config(key, value)
    if master.startswith("local"):  # the driver's own start-up warnings (host name, native Hadoop) too
        builder = builder.config("spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile={_quiet_log4j()}")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def _quiet_log4j() -> str:
    """A log4j2 configuration logging errors only, to stderr (a file in the temporary folder, written once)."""
    path = os.path.join(tempfile.gettempdir(), "cspkit-spark-log4j2.properties")
    if not os.path.exists(path):
        with open(path + f".{os.getpid()}", "w", encoding="utf-8") as out:
            out.write("rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
                      "appender.console.type = Console\nappender.console.name = console\n"
                      "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
                      "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n\n")  # fmt: skip
        os.replace(path + f".{os.getpid()}", path)
    return path


def spark_backend(session: Any) -> Any:
    """The Ibis PySpark backend on ``session`` (the relational checks' connection, as
    :func:`cspkit.billing.engine.variances.connect` gives it), with the three things the engine needs that Ibis'
    PySpark backend does not do (Ibis 12): ``create_table(..., temp=True)`` (the facts stored once) as a cached
    temporary view; in-memory tables handed to Spark as Arrow (pyspark ≥ 4; the stock path builds one Decimal
    object per money cell); results read back as Arrow (``DataFrame.toArrow``) rather than through pandas."""
    return _backend_class()(session)


_BACKEND: Any = None


def _backend_class() -> type:
    """:class:`ibis.backends.pyspark.Backend` with the engine's temporary tables and Arrow in and out (made on first
    use: pyspark is an optional extra)."""
    global _BACKEND
    if _BACKEND is not None:
        return _BACKEND
    import ibis
    import ibis.expr.types as ir
    import pyarrow as pa
    import pyspark
    from ibis.backends.pyspark import Backend
    from ibis.backends.pyspark.datatypes import PySparkSchema
    from ibis.formats.pyarrow import PyArrowData

    arrow_io = int(pyspark.__version__.split(".")[0]) >= 4

    class EngineSparkBackend(Backend):
        """Ibis' PySpark backend, for the relational engine (see :func:`spark_backend`)."""

        def __init__(self, session: Any) -> None:
            super().__init__()
            self.do_connect(session)

        def create_table(self, name: str, /, obj: Any = None, *, temp: bool | None = None, **kwargs: Any) -> Any:
            if not temp:
                return super().create_table(name, obj, **kwargs)
            table = obj if isinstance(obj, ir.Expr) else ibis.memtable(obj)
            self.create_view(name, table, overwrite=True)
            self._session.catalog.cacheTable(name)  # computed once, on first use, then read from memory
            return self.table(name)

        def read_parquet(self, path: Any, /, *, table_name: str | None = None, **kwargs: Any) -> Any:
            """Parquet files read by Spark (a list of files too: Ibis passes one path, which Spark globs)."""
            paths = [str(p) for p in path] if isinstance(path, (list, tuple)) else [str(path)]
            name = table_name or f"cspkit_parquet_{uuid.uuid4().hex}"
            self._session.read.options(**kwargs).parquet(*paths).createOrReplaceTempView(name)
            return self.table(name)

        def _register_in_memory_table(self, op: Any) -> None:
            if not arrow_io:
                return super()._register_in_memory_table(op)
            data = op.data.to_pyarrow(op.schema)
            schema = PySparkSchema.from_ibis(op.schema)
            self._session.createDataFrame(data, schema=schema).createOrReplaceTempView(op.name)

        def to_pyarrow(self, expr: Any, /, *, params: Any = None, limit: Any = None, **kwargs: Any) -> pa.Table:
            if not arrow_io:
                return super().to_pyarrow(expr, params=params, limit=limit, **kwargs)
            table_expr = expr.as_table()
            self._run_pre_execute_hooks(table_expr)
            sql = self.compile(table_expr, params=params, limit=limit, **kwargs)
            with self._safe_raw_sql(sql) as query:
                table = query.toArrow()
            return expr.__pyarrow_result__(PyArrowData.convert_table(table, table_expr.schema()))

    EngineSparkBackend.register_options()  # ibis.options.pyspark, as ibis.pyspark does on first use
    _BACKEND = EngineSparkBackend
    return _BACKEND
