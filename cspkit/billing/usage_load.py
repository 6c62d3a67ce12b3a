"""Azure plan daily rated usage in DuckDB: the connection and the one relational view ``usage`` every check reads.

The view (:data:`USAGE_VIEW_COLUMNS`) keeps the file's own PascalCase column names (billing-formats.md §1.2, the 55
columns of the daily rated usage file) so that the reconciliation engine of issue 15 can run the same queries over
its Parquet dataset. Money is ``DECIMAL(38, 18)`` (:data:`MONEY_SQL`): the readers give exact ``decimal128(38, 15)``
values and the widening cast is exact, so every Σ is exact (no float anywhere). Marketplace rows are told apart as
billing-formats.md §4.6 says (PublisherName other than Microsoft, or a PublisherId).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from cspkit.errors import InputFileError

__all__ = ["MONEY_SQL", "SUMS_SQL", "USAGE_VIEW_COLUMNS", "Progress", "connect", "load_usage", "query_frame"]

MONEY_SQL = "DECIMAL(38, 18)"
"""SQL type of BillingPreTaxTotal and PricingPreTaxTotal in ``usage``: 20 integer digits, 18 decimals."""

USAGE_VIEW_COLUMNS = [
    "InvoiceNumber", "CustomerId", "CustomerName", "SubscriptionId", "EntitlementId", "EntitlementDescription",
    "ProductId", "SkuId", "AvailabilityId", "SkuName", "ProductName", "PublisherName", "PublisherId",
    "MeterCategory", "MeterSubCategory", "MeterName", "MeterId", "ResourceGroup", "ResourceURI", "UsageDate",
    "BillingPreTaxTotal", "BillingCurrency", "PricingPreTaxTotal", "PricingCurrency", "CreditType", "Marketplace",
]  # fmt: skip
"""Columns of the ``usage`` view: keys as text ('' for blank), UsageDate a DATE (UTC day), money :data:`MONEY_SQL`,
Marketplace a BOOLEAN (see :func:`load_usage`)."""

_KEYS = ["InvoiceNumber", "CustomerId", "SubscriptionId", "EntitlementId", "ProductId", "SkuId", "AvailabilityId",
         "MeterId", "ResourceGroup", "ResourceURI", "BillingCurrency", "PricingCurrency", "CreditType"]  # fmt: skip
_LABELS = ["CustomerName", "EntitlementDescription", "SkuName", "ProductName", "PublisherName", "PublisherId",
           "MeterCategory", "MeterSubCategory", "MeterName"]  # fmt: skip
_MONEY = ["BillingPreTaxTotal", "PricingPreTaxTotal"]
_REQUIRED = ["CustomerId", "SubscriptionId", "UsageDate", "BillingPreTaxTotal", "BillingCurrency",
             "PricingPreTaxTotal", "PricingCurrency", "CreditType"]  # fmt: skip

Progress = Callable[[str, int, int], None]
"""``progress(step, done, total)``: called as files are read (bytes) and as checks run (checks done of total)."""


SUMS_SQL = ('count(*) AS "Rows", sum("BillingPreTaxTotal") AS "BillingPreTaxTotal", '
         'sum("PricingPreTaxTotal") AS "PricingPreTaxTotal"')  # fmt: skip


def connect(*, memory_limit: str | None = None, threads: int | None = None, temp_directory: str | None = None) -> Any:
    """A DuckDB connection set up for the checks (UTC time zone; optional memory limit, threads and spill folder).

    Args:
        memory_limit: DuckDB's ``memory_limit`` (e.g. ``"3GB"``); DuckDB spills to ``temp_directory`` beyond it.
        threads: worker threads (default: DuckDB's, one per core).
        temp_directory: where DuckDB may spill.
    Returns:
        ``duckdb.DuckDBPyConnection``.
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _arrow_frame(rel: Any) -> pd.DataFrame:
    """A DuckDB relation → pandas with exact decimals (ArrowDtype), text as Arrow strings, dates as datetime64."""
    table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()

    def mapper(t: pa.DataType) -> Any:
        if pa.types.is_decimal(t):
            return pd.ArrowDtype(t)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return pd.StringDtype("pyarrow")
        return None

    return table.to_pandas(types_mapper=mapper, date_as_object=False)


def query_frame(con: Any, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    return _arrow_frame(con.sql(sql, params=params) if params else con.sql(sql))


def _view_sql(source: str, columns: Iterable[str]) -> str:
    have = set(columns)
    parts = []
    for c in USAGE_VIEW_COLUMNS:
        if c == "Marketplace":
            continue
        if c in _MONEY:
            parts.append(f'CAST("{c}" AS {MONEY_SQL}) AS "{c}"')
        elif c == "UsageDate":
            parts.append('CAST("UsageDate" AS DATE) AS "UsageDate"')
        elif c not in have:
            parts.append(f"CAST('' AS VARCHAR) AS \"{c}\"")
        elif c in _KEYS:
            parts.append(f"coalesce(CAST(\"{c}\" AS VARCHAR), '') AS \"{c}\"")
        else:
            parts.append(f'CAST("{c}" AS VARCHAR) AS "{c}"')
    # marketplace = third party: PublisherName other than Microsoft / Microsoft Corporation, or a PublisherId
    # (billing-formats.md §4.6, "Product category workaround" from Microsoft's reconciliation docs)
    pub_id = "nullif(trim(CAST(\"PublisherId\" AS VARCHAR)), '')" if "PublisherId" in have else "NULL"
    pub_name = "lower(trim(CAST(\"PublisherName\" AS VARCHAR)))" if "PublisherName" in have else "NULL"
    parts.append(
        f"({pub_id} IS NOT NULL AND lower({pub_id}) <> 'na') OR "
        f"coalesce({pub_name} NOT IN ('', 'microsoft', 'microsoft corporation'), false) AS \"Marketplace\""
    )
    return f"SELECT {', '.join(parts)} FROM {source}"


def _check_source_columns(name: str, columns: Sequence[str], types: dict[str, str]) -> None:
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise InputFileError(name, column=", ".join(missing), expected="the daily rated usage columns "
                             "(billing-formats.md §1.2)")  # fmt: skip
    for c in _MONEY:
        t = types.get(c, "").upper()
        if not t.startswith("DECIMAL"):
            raise InputFileError(name, column=c, expected="exact decimals (DECIMAL), not " + (t or "?"),
                                 value="floats would make every sum inexact")  # fmt: skip
        scale = int(t.rstrip(")").split(",")[-1]) if "," in t else 0
        if scale > 18:
            raise InputFileError(name, column=c, expected="at most 18 decimals", value=t)


def load_usage(
    con: Any,
    sources: Any,
    *,
    progress: Progress | None = None,
) -> list[str]:
    """Make the ``usage`` view on ``con`` from daily rated usage files, frames or a typed Parquet dataset.

    Args:
        con: a connection from :func:`connect`, or a :class:`cspkit.billing.usage_spark.SparkConnection`.
        sources: one or more of: a path to a daily rated usage file in any form the readers take (portal CSV,
            gzip, Excel re-save with ``;`` and decimal commas, JSON Lines, export ``.json.gz``; read by
            :func:`cspkit.billing.recon_readers.read_recon` with ``kind="daily"``: ``MM/DD/YYYY`` dates, scientific
            notation and mangled SkuIds handled there), a ``.parquet`` file or folder with the daily columns and
            DECIMAL money (read by DuckDB, streamed), a pandas DataFrame or an Arrow table with the daily columns.
        progress: optional ``progress(step, bytes_done, bytes_total)`` while files are read.
    Returns:
        One line per source read (rows read, skipped, format).
    Raises:
        InputFileError: a file is malformed (names file, row, column, expected form), lacks a required column, or
            carries money as floats.
    """
    if isinstance(sources, (str, os.PathLike, pd.DataFrame, pa.Table)):
        sources = [sources]
    tables: list[pa.Table] = []
    parquet: list[str] = []
    lines = [_add_source(source, tables, parquet, progress) for source in sources]
    selects = []
    if tables:
        selects.append(_arrow_select(con, tables, "frame" if len(lines) == 1 else "input frames"))
    if parquet:
        selects.append(_parquet_select(con, parquet))
    if not selects:
        raise InputFileError("(no input)", expected="at least one daily rated usage file or frame")
    con.execute("CREATE OR REPLACE VIEW usage AS " + " UNION ALL ".join(selects))
    return lines


def _add_source(source: Any, tables: list[pa.Table], parquet: list[str], progress: Progress | None) -> str:
    """One source of :func:`load_usage` → an Arrow table appended to ``tables`` (frames, tables, files read by
    :func:`cspkit.billing.recon_readers.read_recon` as daily rated usage) or a path appended to ``parquet``; returns
    its line of the summary. Raises InputFileError for a missing Parquet path or a file that is not daily usage."""
    from cspkit.billing.recon_readers import read_recon

    if isinstance(source, pd.DataFrame):
        tables.append(pa.Table.from_pandas(source, preserve_index=False))
        return f"frame: {len(source):,} rows"
    if isinstance(source, pa.Table):
        tables.append(source)
        return f"Arrow table: {source.num_rows:,} rows"
    path = Path(source)
    if path.is_dir() or path.suffix.lower() == ".parquet":
        if not path.exists():
            raise InputFileError(str(path), expected="an existing Parquet file or folder")
        parquet.append(str(path))
        return f"{path.name}: Parquet dataset"
    step = f"reading {path.name}"
    report = read_recon(
        path,
        kind="daily",
        progress=(lambda done, total, s=step: progress(s, done, total)) if progress else None,
    )
    if report.kind != "daily":
        raise InputFileError(str(path), expected="a daily rated usage file (UsageDate, MeterId, ...)",
                             value=f"an {report.kind} reconciliation file")  # fmt: skip
    keep = [c for c in report.frame.columns if c in USAGE_VIEW_COLUMNS]
    tables.append(pa.Table.from_pandas(report.frame[keep], preserve_index=False))
    return report.summary()


def _arrow_select(con: Any, tables: list[pa.Table], label: str) -> str:
    """Register the in-memory sources as ``usage_arrow`` (the view's columns they have, concatenated) after
    checking their columns and types (``label`` names them in errors); returns the view's SELECT over them."""
    names = [c for c in USAGE_VIEW_COLUMNS if c != "Marketplace"]
    aligned = [pa.table({c: table[c] for c in names if c in table.column_names}) for table in tables]
    merged = pa.concat_tables(aligned, promote_options="permissive") if len(aligned) > 1 else aligned[0]
    con.register("usage_arrow", merged)
    types = {name: str(dtype) for name, dtype in zip(*_describe(con, "usage_arrow"), strict=True)}
    _check_source_columns(label, merged.column_names, types)
    return _view_sql("usage_arrow", merged.column_names)


def _parquet_select(con: Any, parquet: list[str]) -> str:
    """The ``usage_parquet`` view over Parquet files and folders (Spark: its own reader; DuckDB: ``read_parquet``
    by name), its columns checked; returns the view's SELECT over it."""
    if hasattr(con, "register_parquet"):  # Spark (cspkit.billing.usage_spark): its own Parquet reader
        con.register_parquet("usage_parquet", parquet)
    else:
        globs = [str(Path(p) / "**" / "*.parquet") if Path(p).is_dir() else p for p in parquet]
        listing = ", ".join("'" + p.replace("'", "''") + "'" for p in globs)
        source = f"read_parquet([{listing}], union_by_name = true)"
        con.execute(f"CREATE OR REPLACE VIEW usage_parquet AS SELECT * FROM {source}")
    names, dtypes = _describe(con, "usage_parquet")
    _check_source_columns(", ".join(parquet), names, dict(zip(names, dtypes, strict=True)))
    return _view_sql("usage_parquet", names)


def _describe(con: Any, relation: str) -> tuple[list[str], list[str]]:
    rows = con.sql(f"DESCRIBE {relation}").fetchall()
    return [r[0] for r in rows], [str(r[1]) for r in rows]

