"""Azure plan daily rated usage reconciled: spend, the tie to the invoice, partner earned credit and anomalies.

Pure library (files and frames in, frames out; no HTTP, no printing). The checks run in DuckDB, in-process, over one
relational table named ``usage`` (:data:`USAGE_VIEW_COLUMNS`, the file's own PascalCase column names), so the
reconciliation engine of issue 15 can run the same queries over its Parquet dataset: every check is one function
``check(con, ...) -> DataFrame`` built on one SQL query (``*_SQL`` constants) that reads only ``usage`` (and
``invoice_lines`` / ``subscriptions`` where it says so).

Exactness: money columns are ``DECIMAL(38, 18)`` in ``usage`` (:data:`MONEY_SQL`). The readers give exact
``decimal128(38, 15)`` values (a file value with more than 15 decimals is refused by the reader, never rounded; the
real November 2025 file has at most 12, e.g. ``8.23E-10``), the widening cast is exact, and DuckDB's ``SUM`` over a
DECIMAL adds 128-bit integers: every Σ is exact (no float anywhere). Result frames keep the sums as exact Arrow
decimals (cells are :class:`~decimal.Decimal`).

Sources: ``billing-formats.md`` §1.2 (the 55 columns: BillingPreTaxTotal not rounded, scientific notation, CreditType
values, PEC percentages), §4 (matching keys: the invoice reconciliation's SubscriptionId is the daily file's
SubscriptionId; EntitlementId is the Azure subscription; PublisherName/PublisherId tell marketplace rows), and
Microsoft Learn: "How partner earned credit is calculated and paid"
(https://learn.microsoft.com/en-us/partner-center/partner-earned-credit-explanation) and the PEC FAQ
(https://learn.microsoft.com/en-us/partner-center/billing/partner-earned-credit-faq).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from cspkit.billing.usage_checks import (
    ANOMALY_COLUMNS,
    AnomalyRule,
    billed_after_cancellation,
    invoice_tie,
    new_meters,
    spend_by,
    spend_spikes,
    totals,
)
from cspkit.billing.usage_load import (
    MONEY_SQL,
    SUMS_SQL,
    USAGE_VIEW_COLUMNS,
    Progress,
    connect,
    load_usage,
    query_frame,
)
from cspkit.billing.usage_pec import (
    NOT_APPLIED,
    PEC_APPLIED,
    PEC_RATE,
    marketplace_spend,
    pec_by_subscription,
    pec_summary,
)

# The checks live in usage_load (connection, view), usage_pec and usage_checks; all importable from here.
__all__ = [
    "MONEY_SQL",
    "NOT_APPLIED",
    "PEC_APPLIED",
    "PEC_RATE",
    "USAGE_VIEW_COLUMNS",
    "ENGINES",
    "AnomalyRule",
    "UsageResult",
    "billed_after_cancellation",
    "connect",
    "invoice_tie",
    "load_usage",
    "marketplace_spend",
    "new_meters",
    "pec_by_subscription",
    "pec_summary",
    "reconcile_usage",
    "spend_by",
    "spend_spikes",
    "totals",
]


ENGINES = ("duckdb", "spark")
"""Where :func:`reconcile_usage` runs the checks: DuckDB in-process, or Spark (local mode or a cluster)."""


@dataclass
class UsageResult:
    """The frames of one usage reconciliation (money columns are exact Arrow decimals, cells Decimal).

    Attributes:
        summary: per BillingCurrency × PricingCurrency: Rows, BillingPreTaxTotal, PricingPreTaxTotal, PecRows,
            PecBillingPreTaxTotal, NotAppliedRows (first party), NotAppliedPricingPreTaxTotal, AtStake (15 % of it),
            LostAtStake (the part since PEC stopped), MarketplaceRows, MarketplaceBillingPreTaxTotal.
        customers: per customer and currency (:func:`spend_by`): Rows, BillingPreTaxTotal, PricingPreTaxTotal.
        subscriptions: per Azure plan SubscriptionId × Azure subscription (EntitlementId) and currency.
        meter_categories: per MeterCategory and currency.
        meters: per MeterCategory × MeterSubCategory × MeterName × MeterId and currency, with Subscriptions.
        resource_groups: per customer × Azure subscription × ResourceGroup and currency.
        daily: per customer × UsageDate and currency.
        pec: per Azure subscription, first-party rows only (:func:`pec_by_subscription`).
        pec_credit_types: per CreditType × Marketplace (:func:`pec_summary`).
        marketplace: per customer × subscription × publisher (:func:`marketplace_spend`).
        anomalies: one row per finding: Kind (``spend spike``, ``new meter``, ``billed after cancellation``), the
            keys, UsageDate, Amount, Baseline, Detail.
        invoice_tie: per SubscriptionId × currency (:func:`invoice_tie`); empty when no invoice lines were given.
        invoice_tie_products: the same per SubscriptionId × ProductId × SkuId × AvailabilityId.
        rows_read: rows in ``usage``.
        sources: one line per file read.
        notes: what could not be checked.
        timings: seconds per step (for benchmarks).
    """

    summary: pd.DataFrame
    customers: pd.DataFrame
    subscriptions: pd.DataFrame
    meter_categories: pd.DataFrame
    meters: pd.DataFrame
    resource_groups: pd.DataFrame
    daily: pd.DataFrame
    pec: pd.DataFrame
    pec_credit_types: pd.DataFrame
    marketplace: pd.DataFrame
    anomalies: pd.DataFrame
    invoice_tie: pd.DataFrame
    invoice_tie_products: pd.DataFrame
    rows_read: int = 0
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The result frames by report name."""
        return {
            "summary": self.summary,
            "customers": self.customers,
            "subscriptions": self.subscriptions,
            "pec": self.pec,
            "pec_credit_types": self.pec_credit_types,
            "marketplace": self.marketplace,
            "anomalies": self.anomalies,
            "meter_categories": self.meter_categories,
            "meters": self.meters,
            "resource_groups": self.resource_groups,
            "daily": self.daily,
            "invoice_tie": self.invoice_tie,
            "invoice_tie_products": self.invoice_tie_products,
        }

    @property
    def has_differences(self) -> bool:
        """True when an invoice tie row does not tie (the CLI's exit 1)."""
        return bool(len(self.invoice_tie)) and bool((self.invoice_tie["Status"] != "ties").any())



# --------------------------------------------------------------------------------------------------------------
# the whole reconciliation


def _summary(con: Any, pec: pd.DataFrame) -> pd.DataFrame:
    sql = f"""
    SELECT "BillingCurrency", "PricingCurrency", {SUMS_SQL},
           count(*) FILTER (WHERE "CreditType" = '{PEC_APPLIED}') AS "PecRows",
           coalesce(sum("BillingPreTaxTotal") FILTER (WHERE "CreditType" = '{PEC_APPLIED}'), 0)
               AS "PecBillingPreTaxTotal",
           count(*) FILTER (WHERE "CreditType" = '{NOT_APPLIED}') AS "CreditNotAppliedRows",
           count(*) FILTER (WHERE "CreditType" = '{NOT_APPLIED}' AND NOT "Marketplace") AS "NotAppliedRows",
           coalesce(sum("PricingPreTaxTotal") FILTER (WHERE "CreditType" = '{NOT_APPLIED}' AND NOT "Marketplace"),
                    0) AS "NotAppliedPricingPreTaxTotal",
           coalesce(sum("PricingPreTaxTotal") FILTER (WHERE "CreditType" = '{NOT_APPLIED}' AND NOT "Marketplace"),
                    0) * {PEC_RATE} AS "AtStake",
           count(*) FILTER (WHERE "Marketplace") AS "MarketplaceRows",
           coalesce(sum("BillingPreTaxTotal") FILTER (WHERE "Marketplace"), 0) AS "MarketplaceBillingPreTaxTotal"
    FROM usage GROUP BY ALL ORDER BY 1, 2
    """
    summary = query_frame(con, sql)
    lost = pec[pec["Status"] == "lost"]
    per_currency: dict[str, Decimal] = {}
    for currency, amount in zip(lost["PricingCurrency"], lost["LostAtStake"], strict=True):
        per_currency[currency] = per_currency.get(currency, Decimal(0)) + Decimal(amount)
    summary["LostSubscriptions"] = [int((lost["PricingCurrency"] == c).sum()) for c in summary["PricingCurrency"]]
    lost_at_stake = [per_currency.get(c, Decimal(0)) for c in summary["PricingCurrency"]]
    summary["LostAtStake"] = pd.array(lost_at_stake, dtype=pd.ArrowDtype(pa.decimal128(38, 20)))
    return summary


def reconcile_usage(
    sources: Any,
    *,
    invoice: Any = None,
    subscriptions: Any = None,
    rule: AnomalyRule = AnomalyRule(),
    con: Any = None,
    progress: Progress | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> UsageResult:
    """Reconcile Azure plan daily rated usage: spend, PEC, anomalies and (optionally) the tie to the invoice.

    Args:
        sources: daily rated usage files, frames or a Parquet dataset (see :func:`load_usage`).
        invoice: invoice reconciliation lines (path or frame) to tie to (:func:`invoice_tie`), or None.
        subscriptions: subscriptions with cancellation dates (:func:`billed_after_cancellation`), or None.
        rule: the anomaly thresholds (:class:`AnomalyRule`).
        con: a DuckDB connection, or a :class:`~cspkit.billing.usage_spark.SparkConnection` (default: a new one
            for ``engine``; a given one is left open).
        progress: optional ``progress(step, done, total)``.
        engine: ``"duckdb"`` (in-process) or ``"spark"``: the same checks (one SQL definition each, translated by
            :mod:`cspkit.billing.usage_spark`) on a SparkSession with exact decimals, giving identical frames.
        spark_master: the Spark master for ``engine="spark"`` (default ``local[2]``, or the active session),
            e.g. ``spark://host:7077``.
    Returns:
        :class:`UsageResult` (money exact; the per-customer totals add up to :func:`totals`).
    Raises:
        InputFileError: a file or frame is malformed (names file, row, column and what was expected).
        ConfigurationError: ``engine="spark"`` without pyspark or (local master) Java, with the install hint.
        ValueError: an unknown ``engine``.
    Sources: see the module docstring.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if con is None and engine == "spark":
            from cspkit.billing.usage_spark import spark_connection

            con = stack.enter_context(spark_connection(spark_master))
        elif con is None:
            con = connect()
            stack.callback(con.close)
        timings["start"] = time.perf_counter() - t0
        return _reconcile(con, sources, invoice, subscriptions, rule, progress, timings, t0)


def _reconcile(con: Any, sources: Any, invoice: Any, subscriptions: Any, rule: AnomalyRule,
               progress: Progress | None, timings: dict[str, float], t0: float) -> UsageResult:  # fmt: skip
    lines = load_usage(con, sources, progress=progress)
    timings["load"] = time.perf_counter() - t0
    steps: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("customers", lambda: spend_by(con, ["CustomerId"], ["CustomerName"],
                                       extra=', count(DISTINCT "EntitlementId") AS "Subscriptions"')),
        ("subscriptions", lambda: spend_by(con, ["CustomerId", "SubscriptionId", "EntitlementId"],
                                           ["CustomerName", "EntitlementDescription"])),
        ("meter_categories", lambda: spend_by(con, ["MeterCategory"])),
        ("meters", lambda: spend_by(con, ["MeterCategory", "MeterSubCategory", "MeterName", "MeterId"],
                                    extra=', count(DISTINCT "EntitlementId") AS "Subscriptions", '
                                          'min("UsageDate") AS "FirstDay"')),
        ("resource_groups", lambda: spend_by(con, ["CustomerId", "EntitlementId", "ResourceGroup"],
                                             ["CustomerName"])),
        ("daily", lambda: spend_by(con, ["CustomerId", "UsageDate"], ["CustomerName"])),
        ("pec", lambda: pec_by_subscription(con)),
        ("pec_credit_types", lambda: pec_summary(con)),
        ("marketplace", lambda: marketplace_spend(con)),
        ("spikes", lambda: spend_spikes(con, rule)),
        ("new_meters", lambda: new_meters(con, rule)),
    ]  # fmt: skip
    if subscriptions is not None:
        steps.append(("after_cancellation", lambda: billed_after_cancellation(con, subscriptions)))
    if invoice is not None:
        steps.append(("invoice_tie", lambda: invoice_tie(con, invoice)))
        steps.append(("invoice_tie_products", lambda: invoice_tie(con, invoice, by_product=True)))
    out: dict[str, pd.DataFrame] = {}
    for n, (name, run) in enumerate(steps, start=1):
        t = time.perf_counter()
        out[name] = run()
        timings[name] = time.perf_counter() - t
        if progress:
            progress("checks", n, len(steps))
    t = time.perf_counter()
    summary = _summary(con, out["pec"])
    timings["summary"] = time.perf_counter() - t
    anomaly_parts = [out[k] for k in ("spikes", "new_meters", "after_cancellation") if k in out]
    anomalies = _concat_anomalies(anomaly_parts)
    empty_tie = pd.DataFrame(columns=["SubscriptionId", "Currency", "DailyRows", "DailyPreTaxTotal",
                                      "InvoiceLines", "InvoiceSubtotal", "Difference", "Status"])  # fmt: skip
    notes = []
    if invoice is None:
        notes.append("no invoice reconciliation file given: the tie to the invoice was not checked")
    else:
        notes.append("the invoice reconciliation file has no MeterId: tied per subscription and per "
                     "product/SKU/availability, not per meter")  # fmt: skip
    if subscriptions is None:
        notes.append("no subscriptions given: resources billed after a cancellation were not checked")
    rows = int(summary["Rows"].sum()) if len(summary) else 0
    timings["total"] = time.perf_counter() - t0
    return UsageResult(
        summary=summary,
        customers=out["customers"],
        subscriptions=out["subscriptions"],
        meter_categories=out["meter_categories"],
        meters=out["meters"],
        resource_groups=out["resource_groups"],
        daily=out["daily"],
        pec=out["pec"],
        pec_credit_types=out["pec_credit_types"],
        marketplace=out["marketplace"],
        anomalies=anomalies,
        invoice_tie=out.get("invoice_tie", empty_tie),
        invoice_tie_products=out.get("invoice_tie_products", empty_tie.iloc[:0]),
        rows_read=rows,
        sources=lines,
        notes=notes,
        timings=timings,
    )


def _concat_anomalies(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p[ANOMALY_COLUMNS] for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ANOMALY_COLUMNS})
    money = pd.ArrowDtype(pa.decimal128(38, 18))
    fixed = []
    for p in parts:
        p = p.copy()
        for c in ("Amount", "Baseline"):
            p[c] = pd.array([None if v is None or v is pd.NA else Decimal(v) for v in p[c].astype(object)],
                            dtype=money)  # fmt: skip
        p["UsageDate"] = pd.to_datetime(p["UsageDate"])
        fixed.append(p)
    return pd.concat(fixed, ignore_index=True)
