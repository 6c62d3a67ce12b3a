"""The reconciliation's totals as exact DECIMAL group-bys of the lines' facts
(:func:`cspkit.billing.engine.checks.facts`): tie-out per invoice and billing currency (billing-formats.md §4.1),
per currency and charge type, per customer and per subscription, in the frames of
:class:`cspkit.billing.reconcile.ReconciliationResult`.

Amounts are summed in exact micro-units: each value truncated toward zero to 6 places (blank as 0), a blank Total
taken as Subtotal + TaxTotal (§2.4); a sum column is ``decimal128(38, 2)`` when every value is whole cents, else
``decimal128(38, 6)``. Groups are ordered by their keys' text (code point order, blanks last), in Arrow
(:func:`ordered`).

Memory: the engine streams each group-by's rows as Arrow record batches, each column copied out of its batch
(:func:`_own`); text columns are kept as one code per row and one string per distinct value, so the 6.2 million
subscription groups of a 10-million-line month take ≈ 0.9 GB in pandas instead of ≈ 1.5 GB of Python strings, and
are never held twice.

The 10M month's totals on its kept tables (DuckDB file, 1 GB limit, 2 shared cores): 29.6 s, 44.2 s of CPU, peak
RSS +2.5 GB before (first/last values by two position joins, DuckDB's ORDER BY on texts, batches kept whole);
≈ 20 s, 30 s of CPU, +1.8 GB after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.recon_values import STRING

__all__ = ["amounts", "group_totals", "micro_units", "money_column", "ordered", "result_totals", "text_column"]

_DEC0 = "decimal(38, 0)"
#: rows per record batch streamed from the engine
BATCH_ROWS = 262_144
#: text columns holding one distinct value per row (kept as Arrow strings, not categoricals)
UNIQUE_TEXT = frozenset({"SubscriptionId"})


@ibis.udf.scalar.builtin(name="trunc")
def _trunc(value: dt.Decimal(38, 15)) -> dt.Decimal(38, 0):  # type: ignore[empty-body]
    """DuckDB's ``trunc``: a decimal's whole part, toward zero, as ``DECIMAL(38, 0)``."""


def micro_units(value: ir.DecimalValue, engine: str = "") -> ir.DecimalValue:
    """A money value in whole micro-units, truncated toward zero (blank as 0), exact ``decimal(38, 0)``. On DuckDB
    (``engine`` ``"duckdb"``) one ``trunc`` of the scaled value: the same numbers as the portable floor/ceil CASE
    written for other engines (Spark has no numeric ``trunc``) for ≈ 1/3 of its CPU (each 1,000,000 values: ≈ 0.75 s
    → 0.28 s on 2 cores)."""
    scaled = value * 1_000_000
    if engine == "duckdb":
        whole = _trunc(scaled)
    else:
        whole = ibis.ifelse(scaled >= 0, scaled.floor(), scaled.ceil()).cast(_DEC0)
    return whole.coalesce(ibis.literal(0).cast(_DEC0))


def amounts(f: ir.Table, engine: str = "") -> ir.Table:
    """The lines with their micro-unit amounts: sub_m, tax_m and total_m (Total, else Subtotal + TaxTotal; §2.4).
    :func:`cspkit.billing.engine.variances.prepare` stores them with the facts, so the group-bys only sum; the
    charges and refunds (positive and negative sub_m, :data:`DERIVED`) are derived from the stored sub_m when grouping
    (each derived column here wrote the whole micro-unit expression into the facts' SQL again). ``engine``: the
    backend's name (:func:`micro_units`)."""
    sub_m, tax_m = micro_units(f.Subtotal, engine), micro_units(f.TaxTotal, engine)
    return f.mutate(sub_m=sub_m, tax_m=tax_m, total_m=ibis.ifelse(f.Total.isnull(), sub_m + tax_m,
                                                                  micro_units(f.Total, engine)))  # fmt: skip


#: micro-unit sums derived from the stored amounts when grouping: charges_m (positive sub_m, else 0) and refunds_m
#: (negative sub_m, else 0), billing-formats.md §2.4 (a refund is a negative Subtotal)
DERIVED = {
    "charges_m": lambda a: ibis.greatest(a.sub_m, ibis.literal(0).cast(_DEC0)),
    "refunds_m": lambda a: ibis.least(a.sub_m, ibis.literal(0).cast(_DEC0)),
}


def grouped(f: ir.Table, keys: list[str], sums: dict[str, str], *, first: list[str] | None = None,
            last: list[str] | None = None, nunique: dict[str, str] | None = None,
            variances: ir.Table | None = None, seats: ir.Table | None = None,
            engine: str = "") -> ir.Table:  # fmt: skip
    """The expression of :func:`group_totals` (same arguments, unordered: :func:`group_totals` orders the rows):
    the group-by with the first/last line's values (:func:`_at_line`) and the billed seats by SubscriptionId.
    Findings are counted per line before grouping (a join on the line position with the few lines that have
    findings), not by joining groups on nullable keys."""
    a = f if "sub_m" in f.columns else amounts(f)
    a = a.select(*dict.fromkeys([*keys, "pos", *(nunique or {}).values(), *(first or []), *(last or [])]),
                 **{c: DERIVED[c](a) if c in DERIVED else a[c] for c in sums})  # fmt: skip
    if variances is not None:
        per = variances.group_by("pos").aggregate(_n=variances.count()).rename(_vpos="pos")
        a = a.left_join(per, a.pos == per._vpos).drop("_vpos")
    metrics: dict[str, Any] = {"Lines": a.count(), "_first": a.pos.min(), "_last": a.pos.max()}
    if variances is not None:
        metrics["Variances"] = a._n.sum().coalesce(0).cast("int64")
    metrics |= {name: a[column].sum() for column, name in sums.items()}
    metrics |= {name: a[column].nunique() for name, column in (nunique or {}).items()}
    for which, columns in (("_first", first or []), ("_last", last or [])):
        metrics |= {f"{which}{c}": _at_line(a, c, which, engine) for c in columns if not _looked_up(a, c, engine)}
    g = a.group_by(keys).aggregate(**metrics)
    if seats is not None:
        s = seats.select(_sid="SubscriptionId", _seats="seats")
        g = g.left_join(s, g.SubscriptionId == s._sid).drop("_sid")
    return g


def _looked_up(f: ir.Table, column: str, engine: str) -> bool:
    """Whether the first/last line's value of ``column`` is looked up by position after grouping
    (:func:`_line_texts`): a text column on DuckDB."""
    return engine == "duckdb" and f[column].type().is_string()


def _at_line(a: ir.Table, column: str, which: str, engine: str) -> ir.Value:
    """The value of ``column`` at the group's first (``which`` ``"_first"``) or last line, a blank one staying
    blank: ``argmin``/``argmax`` of the line position (Spark's ``min_by``/``max_by``). ``sub_row`` is one per
    SubscriptionId (the facts join the subscriptions on their unique id: :func:`cspkit.billing.engine.checks.facts`),
    so its ``min`` is the first line's. On DuckDB the text columns are looked up by position instead
    (:func:`_line_texts`): ``argmin`` compiles to ``FIRST(x ORDER BY pos)``, and DuckDB's ``arg_min_null`` keeps a
    copy of a string per group and value taken — the 10M month's 6.2M subscription groups with their five texts:
    ≈ 30 s of CPU that way, ≈ 14 s grouped on the positions then one scan of the lines (the two joins of the
    groups back into the facts by position this replaces: ≈ 10 s each, close to DuckDB's memory limit)."""
    if column == "sub_row":
        return a.sub_row.min()
    return a[column].argmin(a.pos) if which == "_first" else a[column].argmax(a.pos)


def _line_texts(con: Any, f: ir.Table, table: dict[str, pa.ChunkedArray], wanted: dict[str, str]) -> None:
    """Put the first/last line's text values ``wanted`` (output name ``_first<column>``/``_last<column>`` → column)
    into the collected groups ``table``, by line position (``table['_first']``/``['_last']``): one scan of the lines'
    ``pos`` and those columns, each text kept as one int32 code per line (:class:`_Codes`), gathered in Arrow. The
    positions are the lines' rows, 0..n-1 (:func:`cspkit.billing.engine.relations.line_table`)."""
    columns = list(dict.fromkeys(wanted.values()))
    codes = {c: _Codes() for c in columns}
    parts: list[pa.Array] = []
    for batch in _batches(con, f.select("pos", *columns)):
        parts.append(_own(batch.column("pos")))
        for c in columns:
            codes[c].add(batch.column(c))
    pos = _ints(_chunked(parts, pa.int64()))
    row = np.zeros(int(pos.max()) + 1 if len(pos) else 0, dtype=np.int64)
    row[pos] = np.arange(len(pos), dtype=np.int64)  # line position → row of the scan
    at = {which: row[_ints(table[which])] for which in ("_first", "_last")}
    for name, c in wanted.items():
        table[name] = codes[c].take(at["_last" if name.startswith("_last") else "_first"])


class _Codes:
    """A text column streamed in batches as one int32 code per row into one dictionary (its distinct values in the
    order first seen), instead of a dictionary per batch (``dictionary_encode``) holding each batch's distinct
    customer names and ids again (38 batches for the lines of the 10M month)."""

    def __init__(self) -> None:
        self.values: pa.Array | None = None
        self.codes: list[np.ndarray] = []

    def add(self, column: pa.Array) -> None:
        encoded = column.dictionary_encode()
        seen = encoded.dictionary[:0] if self.values is None else self.values
        mapping = pc.index_in(encoded.dictionary, value_set=seen).fill_null(-1).to_numpy().astype(np.int32)
        new = mapping < 0
        mapping[new] = len(seen) + np.arange(int(new.sum()), dtype=np.int32)
        self.values = pa.concat_arrays([seen, encoded.dictionary.filter(pa.array(new))]) if new.any() else seen
        indices = encoded.indices.fill_null(len(mapping)).to_numpy(zero_copy_only=False)
        self.codes.append(np.append(mapping, np.int32(-1))[indices])

    def take(self, rows: np.ndarray) -> pa.ChunkedArray:
        """The texts at ``rows`` (of the rows added) as one Arrow dictionary chunk (null: blank) of the texts taken
        only (a frame's categories are the values it shows)."""
        picked = (np.concatenate(self.codes) if self.codes else np.zeros(0, dtype=np.int32))[rows]
        values = pa.array([], pa.string()) if self.values is None else self.values
        used = np.zeros(len(values), dtype=bool)
        used[picked[picked >= 0]] = True
        renumbered = np.append(np.cumsum(used, dtype=np.int32) - 1, np.int32(-1))[picked]  # -1 (blank) stays -1
        indices = pa.array(renumbered, mask=renumbered < 0)
        return pa.chunked_array([pa.DictionaryArray.from_arrays(indices, values.filter(pa.array(used)))])


def group_totals(
    con: Any,
    f: ir.Table,
    keys: list[str],
    sums: dict[str, str],
    *,
    first: list[str] | None = None,
    last: list[str] | None = None,
    nunique: dict[str, str] | None = None,
    variances: ir.Table | None = None,
    sort: list[str] | None = None,
    seats: ir.Table | None = None,
) -> pd.DataFrame:
    """One row per distinct ``keys`` of the lines: the keys, ``Lines``, the exact sums ``sums`` (micro-unit column →
    output name: sub_m, tax_m, total_m, charges_m, refunds_m), the ``first``/``last`` line's value of columns (file
    order), distinct counts (``nunique``: output name → column; blanks not counted) and, with ``variances`` (a table
    of line positions ``pos``, one row per finding), ``Variances``. Ordered by ``sort`` (default ``keys``; a first or
    last line's column named ``_first<column>``/``_last<column>``), text order with blanks last (:func:`ordered`).
    Texts as :func:`text_column` makes them, counts int64, sums :func:`money_column`, ``_first`` (the group's first
    line) int64 and, with ``seats``, ``_seats`` (Arrow decimals). Streamed from the engine in record batches of
    :data:`BATCH_ROWS` rows."""
    engine = getattr(con, "name", "")
    expr = grouped(f, keys, sums, first=first, last=last, nunique=nunique, variances=variances, seats=seats,
                   engine=engine)  # fmt: skip
    schema = expr.schema()
    texts = {name for name, kind in schema.items() if kind.is_string()}
    chunks: dict[str, list[pa.Array]] = {name: [] for name in expr.columns}
    for batch in _batches(con, expr):
        for name in expr.columns:
            column = batch.column(name)
            chunks[name].append(column.dictionary_encode() if name in texts - UNIQUE_TEXT else _own(column))
    table = {name: _chunked(chunks.pop(name), schema[name].to_pyarrow()) for name in expr.columns}
    wanted = {f"{which}{c}": c for which, columns in (("_first", first or []), ("_last", last or []))
              for c in columns if _looked_up(f, c, engine)}  # fmt: skip
    if wanted:
        _line_texts(con, f, table, wanted)
    _evict_cached_blocks(con)
    del table["_last"]
    out: dict[str, Any] = {k: text_column(table.pop(k), k) for k in keys}
    out["Lines"] = _ints(table.pop("Lines"))
    for name in sums.values():
        out[name] = money_column(table.pop(name))
    shown = {f"{which}{c}": c for which, columns in (("_first", first or []), ("_last", last or [])) for c in columns}
    for name, c in shown.items():
        column = table.pop(name)
        out[c] = _ints(column) if pa.types.is_integer(column.type) else text_column(column, c)
    for name in nunique or {}:
        out[name] = _ints(table.pop(name))
    if variances is not None:
        out["Variances"] = _ints(table.pop("Variances"))
    out["_first"] = _ints(table.pop("_first"))
    if seats is not None:
        out["_seats"] = pd.arrays.ArrowExtensionArray(table.pop("_seats"))
    pa.default_memory_pool().release_unused()  # the groups' Arrow buffers, before the order's (10M: ≈ 0.4 GB peak)
    order = ordered(*(out[shown.get(k, k)] for k in sort or keys))
    for name in out:  # one column at a time: the frame is never held twice
        out[name] = _taken(out[name], order)
    return pd.DataFrame(out)


def _evict_cached_blocks(con: Any) -> None:
    """DuckDB on a database file with reconcile's totals limit (``cspkit_totals_memory_limit``, set by
    :func:`cspkit.billing.reconcile._duckdb_on_disk` with the default limits): drop the table blocks its buffer pool
    keeps cached before the groups are turned into pandas, by lowering the limit to 64 MB and setting it back. The
    blocks are stored in the file, so evicting them writes nothing; a later query reads them again (from the OS page
    cache). On the 10-million-line month the subscription totals' peak RSS: 3,976 → 3,758 MiB. Nothing is done
    otherwise: an in-memory database's blocks would be written to the spill folder (on the 1M month that was ≈ 1.5 s
    of the totals), and a caller's own limit is left alone."""
    from cspkit.billing.engine.relations import database_file

    limit = getattr(con, "cspkit_totals_memory_limit", None)
    if limit is None or not database_file(con):
        return
    try:
        con.raw_sql("SET memory_limit = '64MB'")
    except Exception:  # noqa: BLE001 (DuckDB could not evict enough: keep going with the blocks cached)
        pass
    finally:
        con.raw_sql(f"SET memory_limit = '{limit}'")


def ordered(*columns: Any) -> np.ndarray:
    """The row order (int64 positions) sorting by ``columns`` (:func:`text_column`'s categoricals or Arrow strings,
    the first column first): text in code point order, blanks (NaN/NA) last. A categorical is sorted by its codes
    (its categories are in code point order, so ordering the codes orders the text) instead of comparing strings:
    the 6.2 million subscription groups of a 10-million-line month sorted by DuckDB on three text columns took ≈ 14
    s; here the string comparisons are only those of the ties left by the codes."""
    keys: dict[str, pa.Array] = {}
    for i, column in enumerate(columns):
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy()
            keys[str(i)] = pa.array(codes, mask=codes < 0)
        else:
            arr = pa.array(column.array)
            keys[str(i)] = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if not keys:
        return np.arange(0, dtype=np.int64)
    order = pc.sort_indices(pa.table(keys), sort_keys=[(k, "ascending", "at_end") for k in keys])
    return order.to_numpy().astype(np.int64, copy=False)


def _taken(column: Any, order: np.ndarray) -> Any:
    """``column`` (a Series, NumPy or pandas array) in the rows ``order``."""
    if isinstance(column, pd.Series):
        return pd.Series(column.array.take(order))
    return column.take(order)


def _batches(con: Any, expr: ir.Table) -> Iterator[pa.RecordBatch]:
    """The rows of ``expr`` as Arrow record batches: streamed by DuckDB, collected then split on other backends."""
    if getattr(con, "name", "") == "duckdb":  # DuckDB's own streaming reader (the query has no in-memory tables)
        yield from con.con.sql(str(con.compile(expr))).to_arrow_reader(BATCH_ROWS)
        return
    yield from con.to_pyarrow(expr).to_batches(BATCH_ROWS)


def _own(column: pa.Array) -> pa.Array:
    """A copy of ``column`` in Arrow's memory pool. An array of a record batch DuckDB streamed keeps the whole batch
    alive (one release callback per batch, Arrow C data interface): the totals kept every batch's texts too, ≈ 1.4
    GB for the 6.2M subscription groups of the 10M month and as much for a scan of its lines."""
    return pa.concat_arrays([column])


def _chunked(parts: list[pa.Array], kind: pa.DataType) -> pa.ChunkedArray:
    if not parts:
        return pa.chunked_array([], kind)
    column = pa.chunked_array(parts)
    return column.unify_dictionaries() if pa.types.is_dictionary(column.type) else column


def _ints(column: pa.ChunkedArray) -> np.ndarray:
    """An integer column → int64 NumPy array (-1 for null: ``sub_row`` of a line without a known subscription)."""
    return column.combine_chunks().cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)


def text_column(column: pa.ChunkedArray, name: str = "") -> pd.Series:
    """A text column of a totals frame (Arrow strings, or dictionary chunks of them) → pandas: a categorical (one
    int code per row, categories the distinct values in code point order, as ``string[pyarrow]``; NaN for null), or
    for the columns of :data:`UNIQUE_TEXT` (one value per row) ``string[pyarrow]`` (NA for null)."""
    if name in UNIQUE_TEXT:
        if pa.types.is_dictionary(column.type):
            column = pa.chunked_array([c.dictionary_decode() for c in column.chunks], column.type.value_type)
        column = column.cast(pa.large_string())  # one chunk: ordered() sorts it without another copy
        return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([column.combine_chunks()], pa.large_string())))
    if pa.types.is_dictionary(column.type):
        column = column.unify_dictionaries() if column.num_chunks > 1 else column
        encoded = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    else:
        encoded = column.combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary.cast(pa.large_string())
    order = pc.sort_indices(dictionary)  # categories in code point order
    rank = np.empty(len(order), dtype=np.int32)
    rank[order.to_numpy()] = np.arange(len(order), dtype=np.int32)
    codes = np.append(rank, -1)[encoded.indices.fill_null(len(order)).to_numpy(zero_copy_only=False)]
    categories = pd.Index(pc.take(dictionary, order).to_pandas(types_mapper={pa.large_string(): STRING}.get),
                          dtype=STRING)  # fmt: skip
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories)))


def money_column(column: pa.ChunkedArray) -> pd.arrays.ArrowExtensionArray:
    """Summed micro-units (``decimal(38, 0)``) → an exact Arrow decimal column: ``decimal128(38, 2)`` when every value
    is whole cents, else ``decimal128(38, 6)`` (the micro-units read at scale 6, no arithmetic)."""
    arr = column.combine_chunks().cast(pa.decimal128(38, 0))
    micros = pa.Array.from_buffers(pa.decimal128(38, 6), len(arr), arr.buffers(), offset=arr.offset)
    try:
        return pd.arrays.ArrowExtensionArray(micros.cast(pa.decimal128(38, 2)))  # safe: fails when cents are lost
    except pa.ArrowInvalid:
        return pd.arrays.ArrowExtensionArray(micros)


def result_totals(con: Any, f: ir.Table, subs: pd.DataFrame | None, variances: pd.DataFrame,
                  seats: ir.Table | None = None) -> dict[str, pd.DataFrame]:  # fmt: skip
    """The totals frames of :class:`~cspkit.billing.reconcile.ReconciliationResult` (``tieout`` without the invoice
    columns: see :func:`cspkit.billing.reconcile._tieout`): per invoice × currency, currency × charge type,
    customer × currency (with the variances not on a line counted for every currency of their customer) and
    subscription × currency (billed seats by :func:`cspkit.billing.engine.checks.billed_seats`, quantity and status
    from ``subs`` by the first line's ``sub_row``). ``variances``: the variance rows with ``_pos`` (the line, -1 when
    none); ``seats``: the billed seats already stored (:func:`cspkit.billing.engine.variances.stored_seats`),
    computed when None; they are joined to the subscriptions by the engine (no per-subscription index in pandas)."""
    from cspkit.billing.engine.checks import billed_seats

    placed = variances["_pos"].to_numpy(dtype=np.int64)
    positions = pa.table({"pos": pa.array(placed[placed >= 0], pa.int64())})
    var = con.create_table(f"cspkit_variance_lines_{uuid.uuid4().hex}", ibis.memtable(positions), temp=True)
    sums = {"sub_m": "Subtotal", "tax_m": "TaxTotal", "total_m": "Total"}
    tieout = group_totals(con, f, ["InvoiceNumber", "Currency"], sums)
    charge_types = group_totals(con, f, ["Currency", "ChargeType"], {"sub_m": "Subtotal", "total_m": "Total"})
    customers = group_totals(
        con, f, ["CustomerId", "Currency"], {"charges_m": "Charges", "refunds_m": "Refunds", **sums},
        first=["CustomerName"], nunique={"Subscriptions": "SubscriptionId"}, variances=var,
    )  # fmt: skip
    unplaced = variances[variances["_pos"] < 0]["CustomerId"].dropna().value_counts()
    extra = customers["CustomerId"].astype(object).map(unplaced).fillna(0).to_numpy(dtype=np.int64)
    customers["Variances"] = customers["Variances"].to_numpy() + extra
    subscriptions = group_totals(
        con, f, ["SubscriptionId", "Currency"], {"sub_m": "Subtotal", "total_m": "Total"},
        first=["CustomerId", "CustomerName", "sub_row"], last=["ProductId", "SkuId", "SkuName"], variances=var,
        sort=["_firstCustomerName", "_firstCustomerId", "SubscriptionId", "Currency"],
        seats=billed_seats(f) if seats is None else seats,
    )  # fmt: skip
    subscriptions["BilledSeats"] = _seat_counts(subscriptions.pop("_seats").array)
    rows = subscriptions.pop("sub_row").to_numpy()
    at = pa.array(rows, mask=rows < 0)  # null: no subscription given for the line
    quantity = subs["quantity"].to_numpy(dtype=object) if subs is not None else np.zeros(0, dtype=object)
    subscriptions["SubscriptionQuantity"] = pd.Series(np.append(quantity, None)[rows], dtype=object)
    status = _arrow_text(subs["status"]) if subs is not None else pa.nulls(0, pa.large_string())
    subscriptions["SubscriptionStatus"] = text_column(pa.chunked_array([status.take(at)]), "SubscriptionStatus")
    return {"tieout": tieout, "charge_types": charge_types, "customers": customers, "subscriptions": subscriptions}


def _seat_counts(seats: pd.arrays.ArrowExtensionArray) -> pd.Series:
    """Billed seats (Arrow decimals) → object Series of Decimals without padding zeros, one per distinct count."""
    from cspkit.billing.engine.relations import plain

    counts = pa.array(seats)
    counts = counts.combine_chunks() if isinstance(counts, pa.ChunkedArray) else counts
    encoded = counts.dictionary_encode()
    shown = np.array([plain(v) for v in encoded.dictionary.to_pylist()] + [None], dtype=object)
    return pd.Series(shown[encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)],
                     dtype=object)  # fmt: skip


def _arrow_text(series: pd.Series) -> pa.Array:
    """A text column of the normalised subscriptions as Arrow strings (None/NA as null)."""
    if isinstance(series.dtype, (pd.StringDtype, pd.ArrowDtype)):
        arr = pa.array(series.array)
    else:
        arr = pa.array(series.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    return (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).cast(pa.large_string())
