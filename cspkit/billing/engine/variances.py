"""Run the relational checks (:mod:`cspkit.billing.engine.checks`) on an Ibis backend and turn their rows into
variance rows (:data:`cspkit.billing.reconcile.VARIANCE_COLUMNS`) with the engine's evidence texts. Float-screened
candidates are confirmed here with exact :class:`~decimal.Decimal` arithmetic, so a variance is reported only when
the Decimal rule fails (billing-formats.md §2.4)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import ibis
import pandas as pd

from cspkit.billing.engine import checks, findings, prices
from cspkit.billing.engine.relations import database_file, dataset_table, line_table, subscription_table
from cspkit.billing.engine.relations import plain as _plain
from cspkit.billing.engine.relations import rows as _rows
from cspkit.billing.engine.totals import amounts

__all__ = ["DONE", "connect", "prepare", "line_variances", "stored_seats"]

#: the categories this engine decides (all of :data:`cspkit.billing.reconcile.CATEGORIES`)
DONE = ("unit_price_mismatch", "price_not_found", "proration_mismatch", "amount_mismatch", "seat_mismatch",
        "charge_after_cancellation", "missing_charge", "duplicate_charge", "refund_without_charge",
        "currency_mismatch", "unknown_subscription")  # fmt: skip
_CENT = Decimal("0.01")
#: line columns read only to derive the facts' flags and term (is_trial, is_usage, term): not stored with the facts
#: (the 1,000,000-line benchmark month: ≈ 10 % of the facts table's build time and memory)
DERIVED_ONLY = ("TermAndBillingCycle", "ProductQualifiers", "MeterDescription", "UnitType", "SubscriptionEndDate")


def connect(engine: str = "duckdb", **options: Any) -> Any:
    """An Ibis backend: ``duckdb`` (in-process, default) or ``spark`` (``options['session']``: a SparkSession, e.g.
    from :func:`cspkit.billing.engine.spark.spark_session`; the backend is
    :func:`~cspkit.billing.engine.spark.spark_backend`'s).

    DuckDB ``options`` are its settings (e.g. ``memory_limit="1GB"``, ``temp_directory=...``, ``threads=2``): with a
    memory limit DuckDB spills joins, aggregates and sorts to the temporary directory instead of growing."""
    if engine == "duckdb":
        return ibis.duckdb.connect(**options)
    if engine == "spark":
        from cspkit.billing.engine.spark import spark_backend

        return spark_backend(options["session"])
    raise ValueError(f"unknown engine {engine!r}: expected duckdb or spark")


def _day(value: Any) -> str:
    return "" if value is None or value != value else pd.Timestamp(value).strftime("%Y-%m-%d")


def line_variances(con: Any, lines: Any, subs: pd.DataFrame | None, history: pd.DataFrame | None,
                   tol: Any, *, price_list: pd.DataFrame | None = None,
                   period: tuple[Any, Any] | None = None,
                   tables: tuple[Any, Any, Any] | None = None,
                   seats: Any = None) -> list[tuple[str, int, dict[str, Any]]]:  # fmt: skip
    """``(category, pos, fields)`` for every finding of the categories in :data:`DONE` (``pos`` -1: not a line);
    ``fields``: Expected, Actual, Difference, Evidence, Severity and, for rows not on a line, the shown columns
    (with ``at``, the line the row is shown at, when there is one). ``lines``: a frame or a
    :class:`~cspkit.billing.ingest.LineDataset` (unused when ``tables`` is given); ``subs``: normalised
    subscriptions (:func:`cspkit.billing.reconcile.normalize_subscriptions`); ``period``: the month's first and last
    day (UTC), for the missing charges; ``tables``: from :func:`prepare` (made here when not given); ``seats``: the
    billed seats (:func:`stored_seats`), computed when None."""
    t, sub_tab, hist = tables or prepare(con, lines, subs, history)
    f = t
    # the price list is searched in Python while the engine runs the next checks; its rows still come first
    answering = findings.start_price_answers(con, t, price_list) if price_list is not None else None
    rest = findings.prorations(con, t, tol)
    rest += _amounts(con, f, tol)
    rest += _duplicates(con, f)
    rest += _refunds(con, f, hist)
    rest += _currency(con, f, tol)
    if sub_tab is not None:
        rest += _unknown(con, f)
        rest += findings.seats(con, f, sub_tab, subs, seats)
        rest += _cancelled(con, f, sub_tab)
        if period is not None and period[0] is not None:
            rest += findings.missing_charges(con, f, sub_tab, subs, period, price_list)
    out = findings.unit_prices(con, t, price_list, tol, answering) if answering is not None else []
    return out + rest


def prepare(con: Any, lines: Any, subs: pd.DataFrame | None, history: Any) -> tuple[Any, Any, Any]:
    """The tables the checks and totals read, stored once in the backend: ``(facts, subscriptions, history)`` —
    the lines with their flags, term and plan (:func:`cspkit.billing.engine.checks.facts`,
    :func:`cspkit.billing.engine.prices.with_terms`; without :data:`DERIVED_ONLY`) and micro-unit amounts
    (:func:`cspkit.billing.engine.totals.amounts`), the subscriptions (None when not given) and the history's facts
    (None when none). ``lines`` and ``history``: frames (sent to the backend as Arrow tables) or
    :class:`~cspkit.billing.ingest.LineDataset` (the backend reads their Parquet files)."""
    sub_tab = None if subs is None else _stored(con, ibis.memtable(subscription_table(subs)), "subscriptions")
    facts = prices.with_terms(checks.facts(_lines(con, lines), sub_tab)).drop(*DERIVED_ONLY)
    t = _stored(con, amounts(facts, getattr(con, "name", "")), "facts")
    hist = None
    if history is not None and len(history):
        hist = _stored(con, checks.facts(_lines(con, history), None).drop(*DERIVED_ONLY), "history")
    return t, sub_tab, hist


def stored_seats(con: Any, facts: Any) -> Any:
    """The billed seats per subscription (:func:`cspkit.billing.engine.checks.billed_seats`) computed once into a
    temporary table: the seat check and the subscriptions' totals both read them."""
    return _stored(con, checks.billed_seats(facts), "seats")


def _lines(con: Any, lines: Any) -> Any:
    """The line table (:func:`cspkit.billing.engine.relations.line_table`'s columns) of a frame or a dataset."""
    if isinstance(lines, pd.DataFrame):
        return ibis.memtable(line_table(lines.reset_index(drop=True)))
    return dataset_table(con, lines.files, getattr(lines, "trimmed", None) or frozenset())


def _stored(con: Any, expr: Any, name: str) -> Any:
    """``expr`` computed once into a table of the backend (the checks then read it instead of each recomputing the
    joins and flags): a temporary table (view cached by Spark), or a table of the DuckDB database file when the
    connection has one (:func:`cspkit.billing.reconcile.reconcile` with a dataset): DuckDB stores it compressed in
    blocks it can evict to the file — the facts of 1,000,000 lines take ≈ 130 MB there against ≈ 650 MB in a
    temporary (in-memory) table, which is faster to build: :func:`cspkit.billing.reconcile.reconcile` opens the file
    only for months above :data:`cspkit.billing.reconcile.DUCKDB_IN_MEMORY_ROWS` lines."""
    on_file = getattr(con, "name", "") == "duckdb" and database_file(con)
    return con.create_table(f"cspkit_{name}_{uuid.uuid4().hex}", expr, temp=not on_file)



def _amounts(con: Any, f: Any, tol: Any) -> list[tuple[str, int, dict[str, Any]]]:
    """Subtotal formula confirmed in Decimal, then Total = Subtotal + TaxTotal (billing-formats.md §2.4)."""
    out = []
    for r in _rows(con, checks.subtotal_formula(f, tol.per_unit, tol.line_minimum)):
        eup, bq, sub = (_plain(r[k], k) for k in ("EffectiveUnitPrice", "BillableQuantity", "Subtotal"))
        rate = _plain(r["PCToBCExchangeRate"]) if r["PCToBCExchangeRate"] is not None else Decimal(1)
        exact = eup * rate * bq
        allowed = max(tol.per_unit * abs(bq), tol.line_minimum)
        diff = sub - exact
        if abs(diff) > allowed:
            out.append(
                (
                    "amount_mismatch",
                    r["pos"],
                    {
                        "Expected": exact.quantize(_CENT),
                        "Actual": sub,
                        "Difference": diff.quantize(_CENT),
                        "Evidence": f"{eup} × rate {rate} × {bq} units = {exact}; Subtotal {sub}; allowed ±{allowed}",
                    },
                )
            )
    for r in _rows(con, checks.total_formula(f)):
        sub, tax, total = (_plain(r[k], k) for k in ("Subtotal", "TaxTotal", "Total"))
        out.append(
            (
                "amount_mismatch",
                r["pos"],
                {
                    "Expected": sub + (tax or Decimal(0)),
                    "Actual": total,
                    "Difference": total - sub - (tax or Decimal(0)),
                    "Evidence": f"Total {total} ≠ Subtotal {sub} + TaxTotal {tax or 0}",
                },
            )
        )
    return out


def _duplicates(con: Any, f: Any) -> list[tuple[str, int, dict[str, Any]]]:
    return [("duplicate_charge", r["pos"], {
        "Actual": _plain(r["Subtotal"], "Subtotal"),
        "Evidence": f"same {'charge' if r['exact'] else 'charge period'} as row {r['first_row']} "
                    f"({r['ChargeType']} {_day(r['ChargeStartDate'])}–{_day(r['ChargeEndDate'])})"})
        for r in _rows(con, checks.duplicate_charges(f))]  # fmt: skip


def _refunds(con: Any, f: Any, hist: Any) -> list[tuple[str, int, dict[str, Any]]]:
    def units(value: Any) -> str:
        return f"{float(value) if value is not None else float('nan'):g}"

    return [("refund_without_charge", r["pos"], {
        "Actual": _plain(r["Subtotal"], "Subtotal"),
        "Evidence": f"no charge of ≥ {units(r['BillableQuantity'])} units covering {_day(r['ChargeStartDate'])}–"
                    f"{_day(r['ChargeEndDate'])} for this subscription in the lines (or history) given"})
        for r in _rows(con, checks.refunds_without_charge(f, hist))]  # fmt: skip


def _currency(con: Any, f: Any, tol: Any) -> list[tuple[str, int, dict[str, Any]]]:
    """Same-currency rate ≠ 1 and missing rates; one rate per currency pair and rate date
    (:func:`cspkit.billing.engine.findings.rate_outliers`); customers billed in several currencies on one invoice."""
    out = []
    missing = {r["pos"]: r for r in _rows(con, checks.missing_rate(f))}
    same = {r["pos"]: r for r in _rows(con, checks.same_currency_rate(f))}
    for pos in sorted(missing.keys() | same.keys()):
        r = missing.get(pos) or same[pos]
        fx = _plain(r["PCToBCExchangeRate"])
        out.append(
            (
                "currency_mismatch",
                pos,
                {
                    "Expected": Decimal(1) if pos in same else None,
                    "Actual": fx,
                    "Evidence": f"PCToBCExchangeRate is {fx!s} for {r['PricingCurrency']}→{r['Currency']}"
                    if pos in missing
                    else f"PricingCurrency and Currency are both {r['Currency']} but PCToBCExchangeRate is {fx}",
                },
            )
        )
    out += findings.rate_outliers(con, f, tol)
    for r in _rows(con, checks.multi_currency_customers(f).rename(pos="first")):
        ccys = sorted(r["currencies"])
        out.append(
            (
                "currency_mismatch",
                -1,
                {
                    "Severity": "error",
                    "CustomerId": r["CustomerId"] or "",
                    "InvoiceNumber": r["InvoiceNumber"],
                    "Currency": ", ".join(ccys),
                    "Evidence": f"customer billed in {', '.join(ccys)} on one invoice",
                    "at": r["pos"],
                },
            )
        )
    return out


def _unknown(con: Any, f: Any) -> list[tuple[str, int, dict[str, Any]]]:
    return [("unknown_subscription", r["pos"], {
        "Evidence": f"{r['count']} line(s) for subscription {r['SubscriptionId']}, which is not among the "
                    "subscriptions given"}) for r in _rows(con, checks.unknown_subscriptions(f))]  # fmt: skip


def _cancelled(con: Any, f: Any, subs: Any) -> list[tuple[str, int, dict[str, Any]]]:
    return [("charge_after_cancellation", r["pos"], {
        "Actual": _plain(r["Subtotal"], "Subtotal"),
        "Evidence": f"subscription cancelled on {_day(r['cancel_day'])}; {r['ChargeType']} line ordered "
                    f"{_day(r['OrderDate'])} for {_day(r['ChargeStartDate'])}–{_day(r['ChargeEndDate'])}"})
        for r in _rows(con, checks.charges_after_cancellation(f, subs))]  # fmt: skip
