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

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cspkit.billing.memory import use_reuse_friendly_pool
from cspkit.billing.recon_columns import normalize_header
from cspkit.billing.recon_readers import STRING, _lower, _upper
from cspkit.billing.recon_shared import CATEGORIES
from cspkit.billing.recon_shared import arrow_text as _arrow_text
from cspkit.billing.recon_shared import distinct as _distinct
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
#: DuckDB's memory limit when it reads a Parquet dataset (beyond it joins, aggregates and sorts spill to disk)
DUCKDB_MEMORY_LIMIT = "1GB"

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
# subscriptions and invoice totals


def _o(values: Any) -> pd.Series:
    """An object-dtype Series (pandas 3 would otherwise convert string arrays to Arrow strings, slowly)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object, copy=False)


_SUB_ALIASES = {
    "customerid": "customer_id", "customertenantid": "customer_id", "customer": "customer_id",
    "subscriptionid": "subscription_id", "id": "subscription_id",
    "offerid": "offer_id", "catalogitemid": "offer_id",
    "productid": "product_id", "skuid": "sku_id", "quantity": "quantity", "status": "status",
    "termduration": "term_duration", "billingcycle": "billing_cycle", "billingplan": "billing_cycle",
    "created": "created", "creationdate": "created", "createdat": "created", "createddate": "created",
    "effectivestart": "effective_start", "effectivestartdate": "effective_start",
    "cancellationdate": "cancelled_at", "cancelledat": "cancelled_at", "canceledat": "cancelled_at",
    "deleteddate": "cancelled_at", "deletedat": "cancelled_at", "cancelled": "cancelled_at",
    "currency": "currency", "istrial": "is_trial",
}  # fmt: skip
SUBSCRIPTION_COLUMNS = [
    "customer_id", "subscription_id", "product_id", "sku_id", "quantity", "status", "term_duration",
    "billing_cycle", "created", "effective_start", "cancelled_at", "is_trial", "currency",
]  # fmt: skip


def _records(data: Any) -> pd.DataFrame:
    if data is None:
        return pd.DataFrame()
    if isinstance(data, pd.DataFrame):
        return data
    rows = []
    for item in data:
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        elif hasattr(item, "_asdict"):
            item = item._asdict()
        elif not isinstance(item, Mapping):
            item = dict(vars(item))
        rows.append(dict(item))
    return pd.DataFrame(rows)


def _per_distinct(series: pd.Series, func: Any = None, transform: Any = None) -> np.ndarray:
    """``func`` applied once per distinct trimmed text value and spread over the rows (None for blank/NA)."""
    codes, uniques = _distinct(series, transform)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[: len(uniques)] = uniques if func is None else [func(u) for u in uniques]
    table[-1] = None
    return table[codes]


def _text_or_none(series: pd.Series, transform: Any = None) -> np.ndarray:
    """Text column → object array of trimmed text, None for blank/NA (one str object per row: for ids)."""
    return _arrow_text(series, transform).to_numpy(zero_copy_only=False)


def normalize_subscriptions(data: Any) -> pd.DataFrame:
    """Subscriptions from the ledger or the API (frame or records) → the engine's columns.

    Accepts snake_case, camelCase or PascalCase names: customer_id/customerId, subscription_id/id, offer_id
    (``productId:skuId:availabilityId`` catalog item id) or product_id + sku_id, quantity, status, term_duration,
    billing_cycle, created/creationDate, effective_start/effectiveStartDate, cancelled_at/cancellation_date/
    deleted_date, is_trial, currency.
    Returns:
        Frame with :data:`SUBSCRIPTION_COLUMNS` (ids lower-cased GUIDs, quantity Decimal, dates UTC).
    """
    raw = _records(data)
    n = len(raw)
    picked: dict[str, pd.Series] = {}
    for column in raw.columns:
        target = _SUB_ALIASES.get(normalize_header(column))
        if target and target not in picked:
            picked[target] = raw[column].reset_index(drop=True)
    nothing = np.full(n, None, dtype=object)

    def per_distinct(name: str, func: Any = None, transform: Any = None) -> np.ndarray:
        return _per_distinct(picked[name], func, transform) if name in picked else nothing

    def get(name: str) -> pd.Series:
        return picked[name]

    out = pd.DataFrame(index=range(n))
    out["customer_id"] = _o(per_distinct("customer_id", transform=_lower))
    out["subscription_id"] = _o(_text_or_none(get("subscription_id"), _lower) if "subscription_id" in picked
                                else nothing)  # fmt: skip
    product = per_distinct("product_id")
    sku = per_distinct("sku_id", _pad_sku)
    if "offer_id" in picked:  # catalog item id productId:skuId:availabilityId, split once per distinct value
        codes, offers = _distinct(get("offer_id"))
        parts = np.full((len(offers) + 1, 2), None, dtype=object)
        for i, offer in enumerate(offers):
            pieces = offer.split(":")
            parts[i, 0] = pieces[0] or None
            parts[i, 1] = _pad_sku(pieces[1]) if len(pieces) > 1 and pieces[1] else None
        if "product_id" not in picked:
            product = parts[codes, 0]
        if "sku_id" not in picked:
            sku = parts[codes, 1]
    out["product_id"] = _o(product)
    out["sku_id"] = _o(sku)
    out["quantity"] = _o(per_distinct("quantity", lambda q: Decimal(q[:-2] if q.endswith(".0") else q)))
    out["status"] = _o(per_distinct("status", transform=_lower))
    out["term_duration"] = _o(per_distinct("term_duration", transform=_upper))
    out["billing_cycle"] = _o(per_distinct("billing_cycle", _plan))
    for column in ("created", "effective_start", "cancelled_at"):
        out[column] = (_to_utc(get(column)) if column in picked
                       else pd.Series(pd.DatetimeIndex(np.full(n, np.datetime64("NaT", "ns"))).tz_localize("UTC")))
    trial = per_distinct("is_trial", lambda t: t in ("true", "1", "yes"), transform=_lower)
    out["is_trial"] = trial == True  # noqa: E712 - elementwise on an object array (None is not a trial)
    out["currency"] = _o(per_distinct("currency", transform=_upper))
    out = out[out["subscription_id"].notna()].drop_duplicates("subscription_id", keep="last")
    return out[SUBSCRIPTION_COLUMNS].reset_index(drop=True)


def _pad_sku(sku: str) -> str:
    """SkuId ``1`` (Excel's number) → ``0001``."""
    return sku.zfill(4) if sku.isdigit() else sku


def _plan(value: Any) -> str | None:
    if value is None or value != value:
        return None
    folded = str(value).replace("_", "").lower()
    return {"monthly": "Monthly", "annual": "Annual", "yearly": "Annual", "triennial": "Triennial",
            "none": "None", "onetime": "None"}.get(folded, str(value))  # fmt: skip


def normalize_invoices(data: Any) -> pd.DataFrame:
    """Invoice totals → frame ``InvoiceNumber, Currency, InvoiceTotal``.

    Accepts a mapping ``{currency: total}`` (one invoice), Invoice models/records (``id``, ``currencyCode``,
    ``totalCharges``) or a frame with those or the output column names.
    """
    if data is None:
        return pd.DataFrame(columns=["InvoiceNumber", "Currency", "InvoiceTotal"])
    if isinstance(data, Mapping):
        rows = [{"InvoiceNumber": None, "Currency": str(k).upper(), "InvoiceTotal": Decimal(str(v))}
                for k, v in data.items()]  # fmt: skip
        return pd.DataFrame(rows, columns=["InvoiceNumber", "Currency", "InvoiceTotal"])
    raw = _records(data)
    names = {normalize_header(c): c for c in raw.columns}

    def pick(*keys: str) -> pd.Series:
        for key in keys:
            if key in names:
                return raw[names[key]].astype(object)
        return pd.Series([None] * len(raw), dtype=object)

    return pd.DataFrame(
        {
            "InvoiceNumber": pick("invoicenumber", "id", "invoiceid"),
            "Currency": pick("currency", "currencycode").map(lambda v: None if v is None else str(v).upper()),
            "InvoiceTotal": pick("invoicetotal", "totalcharges", "total").map(
                lambda v: None if v is None or v != v else Decimal(str(v))
            ),
        }
    )


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
        engine: ``duckdb`` (in-process, default) or ``spark``; ``engine_options`` go to
            :func:`cspkit.billing.engine.variances.connect`. On DuckDB with a dataset the defaults are
            ``memory_limit`` :data:`DUCKDB_MEMORY_LIMIT` and a ``temp_directory`` in the dataset's folder, so the
            engine spills to disk instead of growing with the month.
    Returns:
        :class:`ReconciliationResult`; Expected/Actual/Difference of the variances are Decimals without the padding
        zeros.
    Raises:
        ValueError: ``lines`` lacks the documented columns (use the readers), or an unknown engine.
    Memory: a frame is sent to the engine as an Arrow table; a dataset is read from its files by the engine, in
    bounded memory. Makes jemalloc Arrow's default pool unless ``ARROW_DEFAULT_MEMORY_POOL`` is set
    (:func:`cspkit.billing.memory.use_reuse_friendly_pool`).
    """
    from cspkit.billing.engine.variances import connect, prepare

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected {' or '.join(ENGINES)}")
    if isinstance(lines, pd.DataFrame):
        required = ["CustomerId", "SubscriptionId", "ChargeType", "Subtotal", "Currency", "EffectiveUnitPrice"]
        missing = [c for c in required if c not in lines.columns]
        if missing:
            raise ValueError(
                f"lines lack the reconciliation columns {missing}: read them with cspkit.billing.recon_readers"
            )
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
    if engine == "duckdb" and not isinstance(lines, pd.DataFrame):
        options = {"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": str(lines.folder / "duckdb-tmp"), **options}
    con = connect(engine, **options)
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
    from cspkit.billing.engine.variances import line_variances

    found = line_variances(con, None, subs, None, tol, price_list=price_list, period=month, tables=tables)
    mark("relational checks")
    variances = _variance_frame(con, tables[0], found)
    mark("variances frame")
    frames = result_totals(con, tables[0], subs, variances)
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
    shown["OrderDate"] = pd.Series(table.column("OrderDate").to_pandas(), dtype="datetime64[ns, UTC]")
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
