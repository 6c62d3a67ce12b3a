"""Invoice reconciliation: recon lines × subscriptions × price list → tie-out, totals and variances.

Pure functions over tables (no printing), usable from notebooks. The lines are a frame from
:mod:`cspkit.billing.recon_readers` (new-commerce invoice reconciliation columns, billing-formats.md §1.1) or a
Parquet dataset from :mod:`cspkit.billing.ingest`. Subscriptions and the price list are optional plain
frames/records, so the engine depends on neither the ledger nor the API.

Every check is a relational function of the lines, subscriptions and price list (:mod:`cspkit.billing.engine`:
Ibis expressions run in-process by DuckDB, or by Spark on a cluster); each states its rule and Microsoft source in
its docstring:

* tie-out: Σ ``Total`` per invoice and billing currency against the invoice's total (§4.1);
* unit price against the price list in force on ``OrderDate`` ÷ the billing periods of the line's term and plan
  (§1.5, §4.3; :mod:`cspkit.billing.engine.prices`, :mod:`cspkit.billing.pricing`);
* proration ``|EffectiveUnitPrice| = UnitPrice / chargeCycleDays × billingDays`` (§2.4);
* amounts: ``Subtotal`` within ``0.01 × BillableQuantity`` of ``EffectiveUnitPrice × PCToBCExchangeRate ×
  BillableQuantity``, ``Total = Subtotal + TaxTotal`` (§2.4);
* seats (§4.4), charges after cancellation, missing charges, unknown subscriptions, duplicates (§4.5), refunds
  without a charge (§2.4) and currency checks (§4.6).

Sums and comparisons are exact decimals; float-screened candidates are confirmed with :class:`~decimal.Decimal`
arithmetic, so a variance is reported only when the Decimal rule fails.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cspkit.billing.memory import use_reuse_friendly_pool
from cspkit.billing.recon_inputs import SUBSCRIPTION_COLUMNS, _o, normalize_invoices, normalize_subscriptions  # noqa: F401
from cspkit.billing.recon_readers import STRING
from cspkit.billing.recon_shared import CATEGORIES
from cspkit.billing.recon_shared import to_utc as _to_utc

__all__ = [
    "CATEGORIES",
    "ENGINES",
    "ReconciliationResult",
    "Tolerance",
    "normalize_invoices",
    "normalize_subscriptions",
    "reconcile",
]

#: the engines :func:`reconcile` runs the checks on
ENGINES = ("duckdb", "spark")
#: DuckDB's memory limit for the tables and checks of a month in a database file (beyond it joins, aggregates and
#: sorts spill to disk; its tables are compressed in the file). 600 MB made building the facts of 10M lines fail
#: ("failed to pin block"). On the 10M benchmark month 2 GB against 1 GB: facts 21.8 → 19.5 s, billed seats 5.4 →
#: 4.7 s, duplicates 6.3 → 5.7 s (less spilled), files → result frames ≈ 98 s against ≈ 106 s, with the run's peak RSS
#: unchanged (3.80 GB: the checks' peak, 3.80, stays at the subscription totals', which run with
#: :data:`DUCKDB_TOTALS_MEMORY_LIMIT`). Since the duplicates are screened by one hash of their keys
#: (:func:`cspkit.billing.engine.checks.duplicate_charges`) they no longer spill at this limit (2.7–3.3 s at 10M); the
#: facts and the billed seats still gain from it.
DUCKDB_MEMORY_LIMIT = "2GB"
#: DuckDB's memory limit for the totals (after the checks, whose tables the totals do not read are dropped), in a
#: database file or in memory. The 10M month's totals on its kept tables: peak RSS 2.83 GB with 1 GB, 2.68 GB with
#: 512 MB (the subscriptions' group-by spills a little more: ≈ 1–3 s of CPU, within the shared machine's noise). The
#: 1M month in memory: with :data:`DUCKDB_MEMORY_IN_MEMORY` kept for its totals the run peaked at ≈ 1.52 GB (the
#: subscriptions' group-by over the facts), with this limit at ≈ 1.40 GB.
DUCKDB_TOTALS_MEMORY_LIMIT = "512MB"
#: a dataset of at most this many lines is reconciled in an in-memory DuckDB database (memory limit
#: :data:`DUCKDB_MEMORY_IN_MEMORY`, blocks beyond it evicted to the spill folder) instead of a database file: storing
#: the facts of the 1,000,000-line benchmark month uncompressed (≈ 650 MB) took ≈ 3.3 s of CPU against ≈ 5.4 s to
#: compress them into the file (≈ 130 MB), and the whole reconcile ≈ 16.5 s of CPU against ≈ 20 s. The bound is the
#: largest month measured this way; larger months use the file, which keeps their tables compressed.
DUCKDB_IN_MEMORY_ROWS = 1_000_000
#: DuckDB's memory limit for the tables and checks of an in-memory database (:data:`DUCKDB_IN_MEMORY_ROWS`); its
#: totals run with :data:`DUCKDB_TOTALS_MEMORY_LIMIT`. Beyond the limit DuckDB evicts facts blocks to the spill folder
#: and every check reads them back: the benchmark month's facts take ≈ 650 MB. Over four alternating runs against
#: the same code with 500 MB the checks took a median 3.5 s against 4.2 s (files → result frames 10.3 s against
#: 11.0 s), for a peak RSS of ≈ 1.37–1.43 GB against ≈ 1.23–1.25 GB (MiB, as the benchmark prints them). 700 MB
#: peaked at ≈ 1.30–1.34 GB for ≈ 0.5 s more; 1 GB throughout peaked at ≈ 1.67 GB.
DUCKDB_MEMORY_IN_MEMORY = "800MB"

VARIANCE_COLUMNS = [
    "Category", "Severity", "CustomerId", "CustomerName", "SubscriptionId", "InvoiceNumber", "ChargeType",
    "ProductId", "SkuId", "OrderDate", "Currency", "Expected", "Actual", "Difference", "Amount", "Evidence",
    "SourceFile", "SourceRow",
]  # fmt: skip
#: the columns of a variance row taken from its line
_SHOWN = ["CustomerId", "CustomerName", "SubscriptionId", "InvoiceNumber", "ChargeType", "ProductId", "SkuId",
          "OrderDate", "Currency", "Subtotal", "SourceFile", "SourceRow"]  # fmt: skip


@dataclass(frozen=True)
class Tolerance:
    """Explicit tolerances for money comparisons (billing-formats.md §2.4: up to 0.01 × BillableQuantity per line).

    Attributes:
        per_unit: allowed difference per billed unit on a line's Subtotal and per unit on EffectiveUnitPrice.
        line_minimum: the smallest allowed difference on a line (usage lines can bill 0.005 units).
        unit_price: allowed difference between UnitPrice and the price list (exact by default).
        tieout: allowed difference between Σ Total and the invoice total, per invoice and currency.
        exchange_rate: allowed difference between exchange rates of the same currency pair and rate date.
    """

    per_unit: Decimal = Decimal("0.01")
    line_minimum: Decimal = Decimal("0.01")
    unit_price: Decimal = Decimal("0")
    tieout: Decimal = Decimal("0.01")
    exchange_rate: Decimal = Decimal("0.000001")


class _LazyLines:
    """The lines of a :class:`~cspkit.billing.ingest.LineDataset` with their ``Variances`` labels (an Arrow string
    array, one per line, null when none), loaded only when asked for."""

    def __init__(self, dataset: Any, labels: pa.Array) -> None:
        self.dataset = dataset
        self.labels = labels

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self) -> pd.DataFrame:
        from cspkit.billing.ingest import to_reader_frame

        frame = to_reader_frame(self.dataset.read())
        frame["Variances"] = self.labels.to_pandas(types_mapper={pa.string(): STRING}.get)
        return frame

    def batches(self, rows: int) -> Iterator[pd.DataFrame]:
        from cspkit.billing.ingest import to_reader_frame

        for batch in self.dataset.iter_batches(rows):
            first = batch.column(0)[0].as_py() if batch.num_rows else 0  # pos: consecutive in file order
            frame = to_reader_frame(pa.Table.from_batches([batch]))
            labels = self.labels.slice(first, batch.num_rows)
            frame["Variances"] = labels.to_pandas(types_mapper={pa.string(): STRING}.get)
            yield frame


@dataclass
class ReconciliationResult:
    """The frames of one reconciliation.

    Attributes:
        period_start, period_end: the billing period (UTC calendar month; end inclusive, 00:00 of its last day).
        tieout: one row per InvoiceNumber × Currency: Lines, Subtotal, TaxTotal, Total, InvoiceTotal, Difference,
            Status (``ties`` / ``differs`` / ``no invoice total``).
        customers: per customer and currency: Subscriptions, Lines, Charges, Refunds, Subtotal, TaxTotal, Total,
            Variances.
        subscriptions: per subscription and currency: ProductId, SkuId, SkuName, Lines, BilledSeats,
            SubscriptionQuantity, SubscriptionStatus, Subtotal, Total, Variances.
        charge_types: per currency and charge type: Lines, Subtotal, Total.
        variances: one row per finding (columns :data:`VARIANCE_COLUMNS`); Expected/Actual/Difference are Decimal.
        variance_counts: per category: Severity, Count, Meaning.
        lines: the input lines plus ``Variances`` (the categories found on each line, comma-separated). When the
            lines came from a Parquet dataset (:mod:`cspkit.billing.ingest`) this frame is loaded from it on first
            access; :attr:`line_count` and :meth:`iter_lines` do not load it.
        notes: what could not be checked (no price list, no subscriptions).
        timings: seconds spent per step (for benchmarks).

    Money sums (Subtotal, TaxTotal, Total, Charges, Refunds of tieout, customers, subscriptions and charge_types) are
    exact Arrow decimals: ``decimal128(38, 2)`` when every value of the column is whole cents, else
    ``decimal128(38, 6)``; cells are :class:`~decimal.Decimal`. InvoiceTotal and Difference are Decimal objects.
    Text columns of those four frames are pandas categoricals (one small int code per row; categories the distinct
    values as ``string[pyarrow]``, in code point order; NaN when blank), except the subscriptions' SubscriptionId,
    one per row, which is ``string[pyarrow]`` (NA when blank): a 10-million-line month's 6.2 million subscription
    rows take ≈ 0.9 GB instead of ≈ 1.5 GB of Python strings (:mod:`cspkit.billing.engine.totals`). BilledSeats and
    SubscriptionQuantity are Decimal objects (None when unknown).
    """

    period_start: pd.Timestamp | None
    period_end: pd.Timestamp | None
    tieout: pd.DataFrame
    customers: pd.DataFrame
    subscriptions: pd.DataFrame
    charge_types: pd.DataFrame
    variances: pd.DataFrame
    variance_counts: pd.DataFrame
    lines: pd.DataFrame = field(repr=False)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def line_count(self) -> int:
        """The number of lines, without loading them."""
        return len(self.__dict__["_lines"])

    def iter_lines(self, rows: int = 65_536) -> Iterator[pd.DataFrame]:
        """The lines (with ``Variances``) as frames of at most ``rows`` rows, in order, without loading them all."""
        value = self.__dict__["_lines"]
        if isinstance(value, _LazyLines):
            yield from value.batches(rows)
            return
        for start in range(0, len(value), rows):
            yield value.iloc[start : start + rows]

    def frames(self) -> dict[str, pd.DataFrame]:
        """The result frames by report name (``summary`` is the tie-out)."""
        return {
            "tieout": self.tieout,
            "charge_types": self.charge_types,
            "variance_counts": self.variance_counts,
            "variances": self.variances,
            "customers": self.customers,
            "subscriptions": self.subscriptions,
            "lines": self.lines,
        }


def _get_lines(self: ReconciliationResult) -> pd.DataFrame:
    value = self.__dict__["_lines"]
    if isinstance(value, _LazyLines):
        value = self.__dict__["_lines"] = value.load()
    return value


def _set_lines(self: ReconciliationResult, value: Any) -> None:
    self.__dict__["_lines"] = value


ReconciliationResult.lines = property(_get_lines, _set_lines)  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------------------------
# the engine


def reconcile(
    lines: Any,
    *,
    subscriptions: Any = None,
    price_list: pd.DataFrame | None = None,
    invoices: Any = None,
    period: Any = None,
    history: Any = None,
    tolerance: Tolerance | None = None,
    engine: str = "duckdb",
    engine_options: Mapping[str, Any] | None = None,
    spark_master: str | None = None,
) -> ReconciliationResult:
    """Reconcile new-commerce invoice reconciliation lines for one billing period.

    Args:
        lines: a frame from :func:`~cspkit.billing.recon_readers.read_recon` (kind ``invoice``) or
            :func:`~cspkit.billing.recon_readers.recon_lines_to_frame` (money columns as Arrow decimals or Decimal
            objects; ``result.lines`` keeps their dtypes), or a :class:`~cspkit.billing.ingest.LineDataset` (the
            engine reads its Parquet files; ``result.lines`` is loaded from them on first access).
        subscriptions: optional frame/records of subscriptions (see :func:`normalize_subscriptions`); enables the
            seat, cancellation, missing-charge and unknown-subscription checks and improves term/plan detection.
        price_list: optional frame in the :func:`cspkit.billing.pricelist.read_price_list` shape; enables the
            unit-price check.
        invoices: optional invoice totals (``{currency: total}``, Invoice models/records or a frame) for the
            tie-out; without them the tie-out shows the line sums only.
        period: the billing period: any date in the month (``"2026-03"``, a Timestamp); default: the month holding
            most OrderDates.
        history: optional earlier lines (frame or dataset), used only to find the charges that refunds refer to.
        tolerance: :class:`Tolerance` (defaults: 0.01 × BillableQuantity per line, exact unit prices, 0.01 tie-out).
        engine: ``duckdb`` (in-process, default) or ``spark``: the same relational checks run by Spark
            (:mod:`cspkit.billing.engine.spark`, the ``spark`` extra) on ``spark_master`` (default ``local[2]``; e.g.
            ``spark://host:7077``), the session stopped afterwards; ``engine_options`` go to
            :func:`cspkit.billing.engine.variances.connect`. On DuckDB with a dataset the defaults are
            a ``database`` file, ``memory_limit`` :data:`DUCKDB_MEMORY_LIMIT` and a ``temp_directory`` in the
            dataset's folder (both removed afterwards), so the engine keeps its tables compressed and spills to disk
            instead of growing with the month; a dataset of at most :data:`DUCKDB_IN_MEMORY_ROWS` lines is kept in
            memory instead (limit :data:`DUCKDB_MEMORY_IN_MEMORY`, same spill folder). Either way the totals run
            with :data:`DUCKDB_TOTALS_MEMORY_LIMIT` unless ``engine_options`` set ``memory_limit``.
    Returns:
        :class:`ReconciliationResult`; Expected/Actual/Difference of the variances are Decimals without the padding
        zeros.
    Raises:
        ValueError: ``lines`` lacks the documented columns (use the readers), or an unknown engine.
        ConfigurationError: ``engine="spark"`` without pyspark or (local mode) Java.
    Memory: a frame is sent to the engine as an Arrow table; a dataset is read from its files by the engine, in
    bounded memory. Makes jemalloc Arrow's default pool unless ``ARROW_DEFAULT_MEMORY_POOL`` is set
    (:func:`cspkit.billing.memory.use_reuse_friendly_pool`).
    """
    from cspkit.billing.engine.variances import connect

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected {' or '.join(ENGINES)}")
    if isinstance(lines, pd.DataFrame):
        required = ["CustomerId", "SubscriptionId", "ChargeType", "Subtotal", "Currency", "EffectiveUnitPrice"]
        missing = [c for c in required if c not in lines.columns]
        if missing:
            raise ValueError(f"lines lack the reconciliation columns {missing}: read them with "
                             "cspkit.billing.recon_readers")  # fmt: skip
        lines = lines.reset_index(drop=True)
    use_reuse_friendly_pool()
    tol = tolerance or Tolerance()
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def mark(step: str) -> None:
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + now - clock[0]
        clock[0] = now

    subs = normalize_subscriptions(subscriptions) if subscriptions is not None else None
    options = dict(engine_options or {})
    if engine == "spark":
        from cspkit.billing.engine.spark import spark_session

        with spark_session(spark_master) as session:
            con = connect("spark", session=session, **options)
            return _checked(con, lines, subs, history, (period, price_list, invoices), tol, mark, timings)
    with _duckdb_on_disk(None if isinstance(lines, pd.DataFrame) else lines, options) as con:
        return _checked(con, lines, subs, history, (period, price_list, invoices), tol, mark, timings)


@contextmanager
def _duckdb_on_disk(dataset: Any, options: dict[str, Any]) -> Iterator[Any]:
    """A DuckDB connection (in memory, with ``options``, when ``dataset`` is None: lines given as a frame); for a
    dataset of at most :data:`DUCKDB_IN_MEMORY_ROWS` lines, in memory with :data:`DUCKDB_MEMORY_IN_MEMORY` and a spill
    folder in the dataset's folder; for a larger one a database file there (its tables stored compressed, in
    blocks DuckDB evicts under memory pressure instead of growing: :func:`cspkit.billing.engine.variances._stored`),
    :data:`DUCKDB_MEMORY_LIMIT` and a spill folder beside it unless ``options`` say otherwise; the file and the
    spill folder are removed afterwards (the result reads the lines from the dataset, not from them). DuckDB's
    ``preserve_insertion_order`` is off: every check and total orders its rows explicitly (by ``pos``, keys or
    ``sub_row``), so DuckDB may build tables and results in parallel without keeping rows in scan order (the
    1M-line benchmark month: the reconcile step ≈ 40 % faster). With the default limits, the totals run with
    :data:`DUCKDB_TOTALS_MEMORY_LIMIT`."""
    from cspkit.billing.engine.variances import connect

    if dataset is None:
        yield connect("duckdb", **options)
        return
    folder: Path = dataset.folder
    database = folder / f"engine-{uuid.uuid4().hex}.duckdb"
    spill = folder / "duckdb-tmp"
    small = len(dataset) <= DUCKDB_IN_MEMORY_ROWS
    con = connect("duckdb", **{"database": ":memory:" if small else str(database),
                               "memory_limit": DUCKDB_MEMORY_IN_MEMORY if small else DUCKDB_MEMORY_LIMIT,
                               "temp_directory": str(spill), "preserve_insertion_order": False,
                               **options})  # fmt: skip
    if "memory_limit" not in options:  # read by _run before the totals
        con.cspkit_totals_memory_limit = DUCKDB_TOTALS_MEMORY_LIMIT
    try:
        yield con
    finally:
        con.disconnect()
        for path in (database, database.with_name(database.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(spill, ignore_errors=True)


def _checked(con: Any, lines: Any, subs: pd.DataFrame | None, history: Any, inputs: tuple[Any, Any, Any],
             tol: Tolerance, mark: Any, timings: dict[str, float]) -> ReconciliationResult:  # fmt: skip
    """:func:`reconcile` on one engine connection: the tables, the billing period, the checks and the notes."""
    from cspkit.billing.engine.variances import prepare

    period, price_list, invoices = inputs
    tables = prepare(con, lines, subs, history)
    month = _billing_period(period, con, tables[0])
    mark("prepare tables")
    result = _run(con, tables, lines, subs, price_list, invoices, month, tol, mark)
    result.timings = timings
    if price_list is None:
        result.notes.append("no price list given: unit prices were not checked")
    if subs is None:
        result.notes.append("no subscriptions given: seats, cancellations and missing charges were not checked")
    return result


def _run(con: Any, tables: tuple[Any, Any, Any], lines: Any, subs: pd.DataFrame | None, price_list: Any,
         invoices: Any, month: tuple[Any, Any], tol: Tolerance, mark: Any) -> ReconciliationResult:  # fmt: skip
    """The checks, the variance rows, the totals and the labelled lines of :func:`reconcile`."""
    from cspkit.billing.engine.totals import result_totals
    from cspkit.billing.engine.variances import line_variances, stored_seats

    seats = stored_seats(con, tables[0])
    found = line_variances(con, None, subs, None, tol, price_list=price_list, period=month, tables=tables,
                           seats=seats)  # fmt: skip
    mark("relational checks")
    variances = _variance_frame(con, tables[0], found)
    mark("variances frame")
    if getattr(con, "name", "") == "duckdb":  # free what the checks held: the totals read the facts and seats only
        for done in (t for t in tables[1:] if t is not None):
            con.raw_sql(f'DROP TABLE IF EXISTS "{done.get_name().split(".")[-1]}"')
        if getattr(con, "cspkit_totals_memory_limit", None):
            con.raw_sql(f"SET memory_limit = '{con.cspkit_totals_memory_limit}'")
    pa.default_memory_pool().release_unused()  # the checks' Arrow buffers jemalloc keeps for reuse
    frames = result_totals(con, tables[0], subs, variances, seats)
    if not len(lines):  # no groups: every column is an empty object column
        frames = {name: frame.astype(object) for name, frame in frames.items()}
    tieout = _tieout(frames["tieout"], normalize_invoices(invoices), tol)
    customers = frames["customers"][
        ["CustomerId", "CustomerName", "Currency", "Subscriptions", "Lines", "Charges", "Refunds", "Subtotal",
         "TaxTotal", "Total", "Variances"]
    ]  # fmt: skip
    subscriptions_out = frames["subscriptions"][
        ["CustomerId", "CustomerName", "SubscriptionId", "ProductId", "SkuId", "SkuName", "Currency", "Lines",
         "BilledSeats", "SubscriptionQuantity", "SubscriptionStatus", "Subtotal", "Total", "Variances"]
    ]  # fmt: skip
    counts = variances.groupby("Category").size()
    variance_counts = pd.DataFrame({
        "Category": list(CATEGORIES),
        "Severity": [CATEGORIES[c][0] for c in CATEGORIES],
        "Count": [int(counts.get(c, 0)) for c in CATEGORIES],
        "Meaning": [CATEGORIES[c][1] for c in CATEGORIES],
    })  # fmt: skip
    labels = _labels(variances, len(lines))
    if isinstance(lines, pd.DataFrame):
        labelled: Any = lines.assign(Variances=labels.to_pandas(types_mapper={pa.string(): STRING}.get))
    else:
        labelled = _LazyLines(lines, labels)
    mark("totals")
    return ReconciliationResult(
        period_start=month[0], period_end=month[1], tieout=tieout, customers=customers.reset_index(drop=True),
        subscriptions=subscriptions_out.reset_index(drop=True),
        charge_types=frames["charge_types"].drop(columns="_first").reset_index(drop=True),
        variances=variances.drop(columns="_pos"), variance_counts=variance_counts, lines=labelled,
    )  # fmt: skip


def _labels(variances: pd.DataFrame, n: int) -> pa.Array:
    """Each line's categories (comma-separated, in the variances' order; null when none) as an Arrow string array."""
    column = np.full(n, None, dtype=object)
    on_lines = variances[variances["_pos"] >= 0]
    if len(on_lines):
        per_line = on_lines.groupby("_pos")["Category"].agg(lambda s: ", ".join(dict.fromkeys(s)))
        column[per_line.index.to_numpy(dtype=np.int64)] = per_line.to_numpy(dtype=object)
    return pa.array(column, type=pa.string())


def _shown(con: Any, facts: Any, positions: list[int]) -> pd.DataFrame:
    """The :data:`_SHOWN` columns of the lines at ``positions`` (indexed by ``pos``), Amount as shown (2 places)."""
    import ibis

    from cspkit.billing.engine.relations import plain

    wanted = ibis.memtable(pa.table({"_p": pa.array(sorted(set(positions)), pa.int64())}))
    table = con.to_pyarrow(facts.join(wanted, facts.pos == wanted._p).select("pos", *_SHOWN))
    shown = pd.DataFrame({c: table.column(c).to_pylist() for c in ["pos", *_SHOWN] if c != "OrderDate"})
    dates = pd.to_datetime(table.column("OrderDate").to_pandas())  # Spark answers naive UTC (session time zone)
    shown["OrderDate"] = (dates.dt.tz_localize("UTC") if dates.dt.tz is None else dates).astype("datetime64[ns, UTC]")
    shown["Amount"] = [plain(v, "Subtotal") for v in shown.pop("Subtotal")]
    return shown.set_index("pos")


def _variance_frame(con: Any, facts: Any, found: list[tuple[str, int, dict[str, Any]]]) -> pd.DataFrame:
    """The variance rows (:data:`VARIANCE_COLUMNS` plus ``_pos``, the line or -1) of the checks' findings: a row on a
    line shows the line's columns; a row shown at a line (``at``: a customer billed in several currencies) takes its
    name and provenance; other rows (missing charges) carry their own. Ordered by category, SourceFile, SourceRow."""
    on_line = [(c, p, f) for c, p, f in found if p >= 0]
    order = {c: i for i, c in enumerate(dict.fromkeys(c for c, _, _ in on_line))}
    rows = [{**f, "Category": c, "_pos": p, "_at": p}
            for _, c, p, f in sorted(((order[c], c, p, f) for c, p, f in on_line), key=lambda r: r[0])]
    rows += [{**{k: v for k, v in f.items() if k != "at"}, "Category": c, "_pos": -1, "_at": f.get("at", -1)}
             for c, p, f in found if p < 0]  # fmt: skip
    if not rows:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in VARIANCE_COLUMNS})
        empty["OrderDate"] = pd.Series(dtype="datetime64[ns, UTC]")
        empty["SourceRow"] = pd.Series(dtype="Int64")
        empty["_pos"] = pd.Series(dtype=np.int64)
        return empty
    frame = pd.DataFrame(rows)
    for column in VARIANCE_COLUMNS:
        frame[column] = frame[column].astype(object) if column in frame.columns else None
    frame["Severity"] = [s if isinstance(s, str) and s else CATEGORIES[c][0]
                         for s, c in zip(frame["Severity"], frame["Category"], strict=True)]  # fmt: skip
    at = frame["_at"].to_numpy(dtype=np.int64)
    if (at >= 0).any():
        shown = _shown(con, facts, [int(a) for a in at[at >= 0]])
        mine, theirs = frame["_pos"].to_numpy() >= 0, (frame["_pos"].to_numpy() < 0) & (at >= 0)
        for column in ["CustomerId", "SubscriptionId", "InvoiceNumber", "ChargeType", "ProductId", "SkuId",
                       "OrderDate", "Currency", "Amount"]:  # fmt: skip
            frame.loc[mine, column] = shown[column].reindex(at[mine]).to_numpy()
        for column in ("CustomerName", "SourceFile", "SourceRow"):
            frame.loc[mine | theirs, column] = shown[column].reindex(at[mine | theirs]).to_numpy()
    for column in ("CustomerId", "CustomerName", "SubscriptionId", "InvoiceNumber", "ChargeType", "ProductId",
                   "SkuId", "Currency"):  # fmt: skip
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None).replace("", None)
    frame["_order"] = frame["Category"].map({c: i for i, c in enumerate(CATEGORIES)})
    frame["SourceRow"] = pd.to_numeric(frame["SourceRow"], errors="coerce").astype("Int64")
    frame = frame.sort_values(["_order", "SourceFile", "SourceRow"], kind="stable", na_position="last")
    frame = frame.drop(columns=["_order", "_at"]).reset_index(drop=True)
    frame["OrderDate"] = _to_utc(frame["OrderDate"])
    for column in ("Expected", "Actual", "Difference", "Amount"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    for column in ("Category", "Severity", "Evidence", "SourceFile"):  # pandas infers their dtype (str)
        frame[column] = pd.Series(frame[column].tolist(), index=frame.index)
    return frame[[*VARIANCE_COLUMNS, "_pos"]]


def _billing_period(period: Any, con: Any, facts: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The month given, else the month holding most OrderDates (the earliest-seen on a tie; None, None without
    any)."""
    if period is not None:
        return _month_bounds(period)
    dated = facts.filter(facts.OrderDate.notnull())
    months = dated.group_by(_m=dated.OrderDate.truncate("M")).aggregate(_n=dated.count(), _first=dated.pos.min())
    top = con.to_pyarrow(months.order_by([months._n.desc(), months._first]).limit(1))
    if not top.num_rows:
        return None, None
    return _month_bounds(top.column("_m")[0].as_py())


def _month_bounds(value: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    start = ts.normalize().replace(day=1)
    end = start + pd.offsets.MonthEnd(0)
    return start, end


def _tieout(sums: pd.DataFrame, invoices: pd.DataFrame, tol: Tolerance) -> pd.DataFrame:
    totals: list[Any] = [None] * len(sums)
    if len(invoices):
        by_id = invoices[invoices["InvoiceNumber"].notna()]
        generic = invoices[invoices["InvoiceNumber"].isna()]
        for i, (number, currency) in enumerate(zip(sums["InvoiceNumber"], sums["Currency"], strict=True)):
            match = by_id[
                (by_id["InvoiceNumber"] == number) & (by_id["Currency"].isna() | (by_id["Currency"] == currency))
            ]
            if not len(match):
                match = generic[generic["Currency"] == currency]
            if len(match):
                totals[i] = match["InvoiceTotal"].iloc[0]
    sums = sums.copy()
    sums["InvoiceTotal"] = _o(totals)
    diff = [None if t is None else s - t for s, t in zip(sums["Total"], totals, strict=True)]
    sums["Difference"] = _o(diff)
    sums["Status"] = _o(["no invoice total" if d is None else ("ties" if abs(d) <= tol.tieout else "differs")
                         for d in diff])  # fmt: skip
    return sums[["InvoiceNumber", "Currency", "Lines", "Subtotal", "TaxTotal", "Total", "InvoiceTotal", "Difference",
                 "Status"]]  # fmt: skip
