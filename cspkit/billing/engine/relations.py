"""The relational tables the checks run on: invoice reconciliation lines, subscriptions and the price list as Arrow
tables with typed columns (money ``decimal128(38, 15)``, dates as UTC timestamps, texts trimmed with blanks as
nulls) and each line's position ``pos`` (0-based, the row of ``result.lines``) and provenance (SourceFile,
SourceRow). Column meanings: billing-formats.md §1.1 (lines), §1.5 (price list).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.recon_readers import MONEY_ARROW

__all__ = ["LINE_TEXT", "LINE_MONEY", "LINE_DATES", "database_file", "dataset_table", "line_table",
           "subscription_table"]

#: text columns of the lines the checks read (absent columns become nulls)
LINE_TEXT = [
    "CustomerId", "CustomerName", "SubscriptionId", "InvoiceNumber", "ChargeType", "ProductId", "SkuId", "SkuName",
    "Currency", "PricingCurrency", "BillingFrequency", "TermAndBillingCycle", "ProductQualifiers", "MeterDescription",
    "UnitType", "PriceAdjustmentDescription", "PromotionId", "ReferenceId", "OrderId",
]  # fmt: skip
#: money/quantity columns, exact ``decimal128(38, 15)``
LINE_MONEY = ["UnitPrice", "EffectiveUnitPrice", "BillableQuantity", "Subtotal", "TaxTotal", "Total",
              "PCToBCExchangeRate"]  # fmt: skip
#: date-time columns, UTC timestamps
LINE_DATES = ["OrderDate", "ChargeStartDate", "ChargeEndDate", "SubscriptionStartDate", "SubscriptionEndDate",
              "PCToBCExchangeRateDate"]  # fmt: skip


def _text(series: pd.Series | None, n: int) -> pa.Array:
    """A text column → trimmed Arrow strings, blanks as nulls."""
    if series is None:
        return pa.nulls(n, pa.string())
    if isinstance(series.dtype, pd.StringDtype) and getattr(series.dtype, "storage", "") == "pyarrow":
        arr = pa.array(series.array)
    else:
        values = series.astype(object).where(series.notna(), None).tolist()
        arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    return pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)


def _money(series: pd.Series | None, n: int) -> pa.Array:
    """A money column (the readers' Arrow decimals or Decimal/number objects) → ``decimal128(38, 15)``."""
    if series is None:
        return pa.nulls(n, MONEY_ARROW)
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_decimal(series.dtype.pyarrow_dtype):
        arr = pa.array(series.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return arr if arr.type == MONEY_ARROW else arr.cast(MONEY_ARROW)
    values = [None if v is None or (not isinstance(v, str) and v != v) else Decimal(str(v)) for v in series.tolist()]
    return pa.array(values, type=MONEY_ARROW)


def _timestamps(series: pd.Series | None, n: int) -> pa.Array:
    if series is None:
        return pa.nulls(n, pa.timestamp("ns", tz="UTC"))
    from cspkit.billing.recon_shared import to_utc as _to_utc

    values = _to_utc(series.reset_index(drop=True))
    return pa.array(values.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT")),
                    type=pa.timestamp("ns")).cast(pa.timestamp("ns", tz="UTC"))  # fmt: skip


def line_table(lines: pd.DataFrame) -> pa.Table:
    """Lines (reader frame or user frame, index 0..n-1) → Arrow table: ``pos``, SourceFile, SourceRow (1-based
    file row; the position + 1 when absent), :data:`LINE_TEXT`, :data:`LINE_MONEY`, :data:`LINE_DATES`."""
    n = len(lines)
    get = lines.get
    columns: dict[str, Any] = {"pos": pa.array(np.arange(n, dtype=np.int64))}
    columns["SourceFile"] = _text(get("SourceFile"), n)
    rows = get("SourceRow")
    columns["SourceRow"] = pa.array(np.arange(1, n + 1) if rows is None else pd.to_numeric(rows).to_numpy(),
                                    type=pa.int64())  # fmt: skip
    for name in LINE_TEXT:
        columns[name] = _text(get(name), n)
    for name in LINE_MONEY:
        columns[name] = _money(get(name), n)
    for name in LINE_DATES:
        columns[name] = _timestamps(get(name), n)
    return pa.table(columns)


def dataset_table(con: Any, files: list[Any], trimmed: Any = frozenset()) -> Any:
    """The lines of a Parquet dataset (:data:`cspkit.billing.ingest.SCHEMA`) read by the backend, as an Ibis table
    with :func:`line_table`'s columns and rules (texts trimmed, blanks as nulls; money ``decimal(38, 15)``; dates
    UTC timestamps). ``trimmed``: text columns known to need neither
    (:attr:`cspkit.billing.ingest.LineDataset.trimmed`), read as they are: trimming the 19 text columns was ≈ 0.7 s
    of CPU on the 1,000,000-line benchmark month."""
    import ibis

    t = con.read_parquet([str(p) for p in files])
    columns: dict[str, Any] = {"pos": t.pos, "SourceFile": t.SourceFile, "SourceRow": t.SourceRow}
    for name in LINE_TEXT:
        if name in trimmed:
            columns[name] = t[name]
            continue
        text = t[name].strip()
        columns[name] = ibis.ifelse(text.length() == 0, ibis.null("string"), text)
    for name in LINE_MONEY:
        columns[name] = t[name].cast("decimal(38, 15)")
    for name in LINE_DATES:
        columns[name] = t[name].cast("timestamp('UTC', 9)")
    return t.select(**columns)


def subscription_table(subs: pd.DataFrame) -> pa.Table:
    """Normalised subscriptions (:func:`cspkit.billing.reconcile.normalize_subscriptions`) → Arrow table with
    ``sub_row`` (the row in ``subs``), texts as Arrow strings (a categorical's codes and categories as an Arrow
    dictionary array, zero-copy), quantity ``decimal128(38, 15)`` (converted once per distinct value), dates as UTC
    timestamps."""
    n = len(subs)
    table: dict[str, Any] = {"sub_row": pa.array(np.arange(n, dtype=np.int64))}
    for name in ("customer_id", "subscription_id", "product_id", "sku_id", "status", "term_duration",
                 "billing_cycle", "currency"):  # fmt: skip
        table[name] = _sub_text(subs[name])
    codes, distinct = pd.factorize(subs["quantity"].to_numpy(dtype=object), use_na_sentinel=True)
    quantities = _money(pd.Series(distinct, dtype=object), len(distinct))
    table["quantity"] = quantities.take(pa.array(codes, mask=codes < 0))
    for name in ("created", "effective_start", "cancelled_at"):
        table[name] = _timestamps(subs[name], n)
    table["is_trial"] = pa.array(subs["is_trial"].to_numpy(dtype=bool))
    return pa.table(table)


def _sub_text(series: pd.Series) -> pa.Array:
    """A subscriptions text column → Arrow strings: zero-copy for categoricals (a dictionary array) and Arrow
    strings; None/NaN as null."""
    if isinstance(series.dtype, (pd.CategoricalDtype, pd.StringDtype, pd.ArrowDtype)):
        arr = pa.array(series.array)
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


#: Columns shown with 2 places (amounts and prices), as the in-memory engine shows them.
AMOUNTS = frozenset({"Subtotal", "TaxTotal", "Total", "UnitPrice", "EffectiveUnitPrice"})


def plain(value: Any, column: str = "") -> Any:
    """A decimal(38, 15) cell → Decimal without the padding zeros (``100.00``, ``-5.032258``, ``10``): amounts and
    prices keep 2 places, as the in-memory engine shows them."""
    if value is None:
        return None
    places = 2 if column in AMOUNTS else 0
    value = value.normalize()
    return value.quantize(Decimal(1).scaleb(-places)) if value.as_tuple().exponent > -places else value


def rows(con: Any, expr: Any) -> list[dict[str, Any]]:
    """The rows of ``expr`` run on ``con``, as dicts in line order (``pos``)."""
    table: pa.Table = con.to_pyarrow(expr)
    return sorted(table.to_pylist(), key=lambda r: r.get("pos", 0))


def database_file(con: Any) -> bool:
    """Whether a DuckDB connection's current database is a file (not ``:memory:``)."""
    ((path,),) = con.raw_sql("SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
                             ).fetchall()  # every row fetched: DuckDB refuses the next query while a result is open
    return bool(path)
