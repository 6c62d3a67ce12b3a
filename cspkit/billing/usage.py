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

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from cspkit.errors import InputFileError

__all__ = [
    "MONEY_SQL",
    "NOT_APPLIED",
    "PEC_APPLIED",
    "PEC_RATE",
    "USAGE_VIEW_COLUMNS",
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

MONEY_SQL = "DECIMAL(38, 18)"
"""SQL type of BillingPreTaxTotal and PricingPreTaxTotal in ``usage``: 20 integer digits, 18 decimals."""

PEC_APPLIED = "Partner Earned Credit Applied"
NOT_APPLIED = "Credit Not Applied"
"""CreditType values of the real file (billing-formats.md §1.2 #52)."""

PEC_RATE = Decimal("0.15")
"""Partner earned credit rate: 15 % (the real file's PartnerEarnedCreditPercentage/CreditPercentage ``15`` on every
PEC-applied row, billing-formats.md §1.2 #50–51; Microsoft Learn, "How partner earned credit is calculated and
paid"). Money at stake on a row without PEC = PEC_RATE × its PricingPreTaxTotal."""

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


@dataclass(frozen=True)
class AnomalyRule:
    """The tunable anomaly rules (defaults are what finance teams of CSP billing tools watch for).

    Attributes:
        spike_factor: a day's spend of an Azure subscription is a spike when it is more than ``spike_factor`` × the
            median of its own daily spend over the ``window_days`` days before (days with no rows have no spend to
            count: a daily rated usage file has no row for a day without usage, billing-formats.md §1.2 #21)...
        window_days: ...the trailing window (7 days: a week of the subscription's own pattern)...
        min_history_days: ...when that window holds at least this many days with spend...
        spike_floor: ...and the day's spend is at least this amount in billing currency (small subscriptions
            tripling from 0.10 to 0.40 are noise, not news).
        new_meter_after_days: a meter is *new* when an Azure subscription that had usage in the period's first
            ``new_meter_after_days`` days bills a MeterId after them that it did not bill before.
    """

    spike_factor: Decimal = Decimal(3)
    window_days: int = 7
    min_history_days: int = 3
    spike_floor: Decimal = Decimal(10)
    new_meter_after_days: int = 3


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
# the engine


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


def _query(con: Any, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
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
        con: a connection from :func:`connect`.
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
    from cspkit.billing.recon_readers import read_recon

    if isinstance(sources, (str, os.PathLike, pd.DataFrame, pa.Table)):
        sources = [sources]
    tables: list[pa.Table] = []
    parquet: list[str] = []
    lines: list[str] = []
    for source in sources:
        if isinstance(source, pd.DataFrame):
            tables.append(pa.Table.from_pandas(source, preserve_index=False))
            lines.append(f"frame: {len(source):,} rows")
        elif isinstance(source, pa.Table):
            tables.append(source)
            lines.append(f"Arrow table: {source.num_rows:,} rows")
        else:
            path = Path(source)
            if path.is_dir() or path.suffix.lower() == ".parquet":
                if not path.exists():
                    raise InputFileError(str(path), expected="an existing Parquet file or folder")
                parquet.append(str(path / "**" / "*.parquet") if path.is_dir() else str(path))
                lines.append(f"{path.name}: Parquet dataset")
                continue
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
            lines.append(report.summary())
    selects = []
    if tables:
        names = [c for c in USAGE_VIEW_COLUMNS if c != "Marketplace"]
        aligned = []
        for table in tables:
            cols = {}
            for c in names:
                if c in table.column_names:
                    cols[c] = table[c]
            aligned.append(pa.table(cols))
        merged = pa.concat_tables(aligned, promote_options="permissive") if len(aligned) > 1 else aligned[0]
        con.register("usage_arrow", merged)
        types = {name: str(dtype) for name, dtype in zip(*_describe(con, "usage_arrow"), strict=True)}
        _check_source_columns("frame" if len(lines) == 1 else "input frames", merged.column_names, types)
        selects.append(_view_sql("usage_arrow", merged.column_names))
    if parquet:
        listing = ", ".join("'" + p.replace("'", "''") + "'" for p in parquet)
        source = f"read_parquet([{listing}], union_by_name = true)"
        con.execute(f"CREATE OR REPLACE VIEW usage_parquet AS SELECT * FROM {source}")
        names, dtypes = _describe(con, "usage_parquet")
        _check_source_columns(", ".join(parquet), names, dict(zip(names, dtypes, strict=True)))
        selects.append(_view_sql("usage_parquet", names))
    if not selects:
        raise InputFileError("(no input)", expected="at least one daily rated usage file or frame")
    con.execute("CREATE OR REPLACE VIEW usage AS " + " UNION ALL ".join(selects))
    return lines


def _describe(con: Any, relation: str) -> tuple[list[str], list[str]]:
    rows = con.sql(f"DESCRIBE {relation}").fetchall()
    return [r[0] for r in rows], [str(r[1]) for r in rows]


# --------------------------------------------------------------------------------------------------------------
# checks: one function per check, one query each over `usage`

_SUMS = ('count(*) AS "Rows", sum("BillingPreTaxTotal") AS "BillingPreTaxTotal", '
         'sum("PricingPreTaxTotal") AS "PricingPreTaxTotal"')  # fmt: skip


def totals(con: Any) -> pd.DataFrame:
    """Rows and Σ BillingPreTaxTotal / PricingPreTaxTotal per BillingCurrency × PricingCurrency (exact).

    Source: billing-formats.md §1.2 #37–40 (pre-tax totals after PEC, in billing and pricing currency).
    """
    return _query(con, f'SELECT "BillingCurrency", "PricingCurrency", {_SUMS} FROM usage GROUP BY ALL ORDER BY 1, 2')


def spend_by(con: Any, keys: Sequence[str], labels: Sequence[str] = (), *, extra: str = "") -> pd.DataFrame:
    """Spend per ``keys`` (plus BillingCurrency, PricingCurrency), largest billing total first.

    Args:
        con: a connection with ``usage``.
        keys: grouping columns of ``usage`` (e.g. ``["CustomerId"]``, ``["UsageDate"]``).
        labels: descriptive columns shown beside the keys (one value per group: the smallest).
        extra: further SQL aggregates (``", count(DISTINCT x) AS y"``).
    Returns:
        keys, labels, BillingCurrency, PricingCurrency, Rows, BillingPreTaxTotal, PricingPreTaxTotal (exact
        decimals: the rows of each group add up to the file's total exactly).
    Source: billing-formats.md §1.2 (one row per customer × subscription × meter × resource × day).
    """
    for c in [*keys, *labels]:
        if c not in USAGE_VIEW_COLUMNS:
            raise ValueError(f"{c!r} is not a column of usage")
    k = ", ".join(f'"{c}"' for c in keys)
    lab = "".join(f', min("{c}") AS "{c}"' for c in labels)
    order = ", ".join(f'"{c}"' for c in keys)
    return _query(
        con,
        f'SELECT {k}{lab}, "BillingCurrency", "PricingCurrency", {_SUMS}{extra} FROM usage '
        f'GROUP BY {k}, "BillingCurrency", "PricingCurrency" ORDER BY "BillingPreTaxTotal" DESC, {order}',
    )


PEC_SUMMARY_SQL = f"""
SELECT "CreditType", "Marketplace", "BillingCurrency", "PricingCurrency", {_SUMS},
       coalesce(sum("PricingPreTaxTotal") FILTER (WHERE "CreditType" = '{NOT_APPLIED}' AND NOT "Marketplace"), 0)
           * {PEC_RATE} AS "AtStake"
FROM usage GROUP BY ALL ORDER BY "Marketplace", "CreditType", "BillingCurrency"
"""


def pec_summary(con: Any) -> pd.DataFrame:
    """Rows and totals per CreditType × Marketplace, with the money at stake.

    AtStake = 15 % × Σ PricingPreTaxTotal of first-party ``Credit Not Applied`` rows (:data:`PEC_RATE`); marketplace
    rows are never PEC-eligible ("Products in the marketplace (non-Microsoft) price list" are excluded: Microsoft
    Learn, partner earned credit FAQ), so their AtStake is 0. Source: billing-formats.md §1.2 #50–52.
    """
    return _query(con, PEC_SUMMARY_SQL)


PEC_BY_SUBSCRIPTION_SQL = f"""
WITH fp AS (SELECT * FROM usage WHERE NOT "Marketplace"),
s AS (
  SELECT "CustomerId", min("CustomerName") AS "CustomerName", "SubscriptionId", "EntitlementId",
         min("EntitlementDescription") AS "EntitlementDescription", "PricingCurrency",
         count(*) AS "Rows",
         count(*) FILTER (WHERE "CreditType" = '{PEC_APPLIED}') AS "PecRows",
         count(*) FILTER (WHERE "CreditType" = '{NOT_APPLIED}') AS "NotAppliedRows",
         min("UsageDate") FILTER (WHERE "CreditType" = '{PEC_APPLIED}') AS "FirstPecDay",
         max("UsageDate") FILTER (WHERE "CreditType" = '{PEC_APPLIED}') AS "LastPecDay",
         min("UsageDate") FILTER (WHERE "CreditType" = '{NOT_APPLIED}') AS "FirstNotAppliedDay",
         max("UsageDate") AS "LastDay",
         coalesce(sum("PricingPreTaxTotal") FILTER (WHERE "CreditType" = '{NOT_APPLIED}'), 0)
             AS "NotAppliedPricingPreTaxTotal"
  FROM fp GROUP BY "CustomerId", "SubscriptionId", "EntitlementId", "PricingCurrency"),
lost AS (
  SELECT fp."CustomerId", fp."SubscriptionId", fp."EntitlementId", fp."PricingCurrency",
         min(fp."UsageDate") AS "StoppedOn", sum(fp."PricingPreTaxTotal") AS "LostPricingPreTaxTotal"
  FROM fp JOIN s USING ("CustomerId", "SubscriptionId", "EntitlementId", "PricingCurrency")
  WHERE fp."CreditType" = '{NOT_APPLIED}' AND s."LastPecDay" IS NOT NULL AND fp."UsageDate" > s."LastPecDay"
  GROUP BY ALL)
SELECT s.*,
       CASE WHEN s."NotAppliedRows" = 0 THEN 'applied'
            WHEN s."PecRows" = 0 THEN 'never applied'
            WHEN lost."StoppedOn" IS NOT NULL THEN 'lost'
            ELSE 'partial' END AS "Status",
       lost."StoppedOn",
       s."NotAppliedPricingPreTaxTotal" * {PEC_RATE} AS "AtStake",
       coalesce(lost."LostPricingPreTaxTotal", 0) * {PEC_RATE} AS "LostAtStake"
FROM s LEFT JOIN lost USING ("CustomerId", "SubscriptionId", "EntitlementId", "PricingCurrency")
ORDER BY (s."NotAppliedRows" = 0), "AtStake" DESC, s."CustomerId", s."EntitlementId"
"""


def pec_by_subscription(con: Any) -> pd.DataFrame:
    """Partner earned credit per Azure subscription (first-party rows only; marketplace rows are reported apart).

    Status: ``applied`` (every row has PEC), ``never applied`` (no row has it), ``lost`` (PEC applied on some day
    and ``Credit Not Applied`` on a later day with no PEC after it: the partner's admin access (AOBO, Lighthouse
    or PAL) was removed; StoppedOn = the first such day), ``partial`` (PEC on some resources, not on others, all
    along). AtStake = 15 % × Σ PricingPreTaxTotal of the not-applied rows; LostAtStake = the same since StoppedOn.

    Columns: CustomerId, CustomerName, SubscriptionId, EntitlementId, EntitlementDescription, PricingCurrency,
    Rows, PecRows, NotAppliedRows, FirstPecDay, LastPecDay, FirstNotAppliedDay, LastDay,
    NotAppliedPricingPreTaxTotal, Status, StoppedOn, AtStake, LostAtStake.
    Source: Microsoft Learn, "How partner earned credit is calculated and paid" (eligibility needs admin access
    on the Azure subscription) and the PEC FAQ ("What happens if a customer removes a partner's RBAC admin
    access?": the partner is no longer eligible for PEC); billing-formats.md §1.2 #50–52.
    """
    return _query(con, PEC_BY_SUBSCRIPTION_SQL)


def marketplace_spend(con: Any) -> pd.DataFrame:
    """Marketplace (third-party) rows per customer × subscription × publisher: never PEC-eligible, kept apart.

    Columns: CustomerId, SubscriptionId, EntitlementId, PublisherName, PublisherId, CustomerName, currencies, Rows,
    BillingPreTaxTotal, PricingPreTaxTotal, NotAppliedRows.
    Source: billing-formats.md §4.6 (PublisherName not Microsoft / PublisherId set → third party); PEC FAQ.
    """
    return _query(
        con,
        f"""SELECT "CustomerId", "SubscriptionId", "EntitlementId", "PublisherName", "PublisherId",
                   min("CustomerName") AS "CustomerName", "BillingCurrency", "PricingCurrency", {_SUMS},
                   count(*) FILTER (WHERE "CreditType" = '{NOT_APPLIED}') AS "NotAppliedRows"
            FROM usage WHERE "Marketplace" GROUP BY ALL ORDER BY "BillingPreTaxTotal" DESC""",
    )


_ANOMALY_COLUMNS = ["Kind", "CustomerId", "CustomerName", "SubscriptionId", "EntitlementId", "UsageDate", "Meter",
                    "ResourceURI", "BillingCurrency", "Amount", "Baseline", "Detail"]  # fmt: skip


def spend_spikes(con: Any, rule: AnomalyRule = AnomalyRule()) -> pd.DataFrame:
    """Days on which an Azure subscription spent far more than its own recent days (see :class:`AnomalyRule`).

    Amount = the day's Σ BillingPreTaxTotal; Baseline = the median of the subscription's daily spend over the
    ``window_days`` days before (days with spend, at least ``min_history_days`` of them). A spike: Amount >
    spike_factor × Baseline and Amount ≥ spike_floor. Columns: :data:`_ANOMALY_COLUMNS`.
    Source: the rule is ours (issue 16), tunable; the data is billing-formats.md §1.2 (#21 UsageDate, #37).
    """
    sql = f"""
    WITH d AS (
      SELECT "CustomerId", min("CustomerName") AS "CustomerName", "SubscriptionId", "EntitlementId",
             "BillingCurrency", "UsageDate", sum("BillingPreTaxTotal") AS "Amount"
      FROM usage GROUP BY "CustomerId", "SubscriptionId", "EntitlementId", "BillingCurrency", "UsageDate"),
    w AS (
      SELECT *, median("Amount") OVER win AS "Baseline", count(*) OVER win AS "HistoryDays"
      FROM d WINDOW win AS (PARTITION BY "CustomerId", "SubscriptionId", "EntitlementId", "BillingCurrency"
                            ORDER BY "UsageDate"
                            RANGE BETWEEN INTERVAL {int(rule.window_days)} DAYS PRECEDING
                                      AND INTERVAL 1 DAYS PRECEDING))
    SELECT 'spend spike' AS "Kind", "CustomerId", "CustomerName", "SubscriptionId", "EntitlementId", "UsageDate",
           CAST(NULL AS VARCHAR) AS "Meter", CAST(NULL AS VARCHAR) AS "ResourceURI", "BillingCurrency", "Amount",
           "Baseline",
           'spent ' || CAST("Amount" AS DECIMAL(38, 2)) || ' ' || "BillingCurrency" || ', more than '
             || $factor || ' x the median ' || CAST("Baseline" AS DECIMAL(38, 2)) || ' of the '
             || "HistoryDays" || ' day(s) with spend in the {int(rule.window_days)} days before' AS "Detail"
    FROM w
    WHERE "HistoryDays" >= $history AND "Amount" > $factor * "Baseline" AND "Amount" >= $floor
    ORDER BY "Amount" DESC
    """
    params = {"factor": rule.spike_factor, "history": rule.min_history_days, "floor": rule.spike_floor}
    return _query(con, sql, params)


def new_meters(con: Any, rule: AnomalyRule = AnomalyRule()) -> pd.DataFrame:
    """Meters an Azure subscription starts billing after the period's first ``rule.new_meter_after_days`` days.

    Only Azure subscriptions that had usage in those first days count (a subscription that starts later is new
    altogether, not a new meter on a known one). Amount = Σ BillingPreTaxTotal of the meter from its first day.
    Columns: :data:`_ANOMALY_COLUMNS` (UsageDate = the meter's first day). Source: billing-formats.md §1.2 #21–26.
    """
    sql = f"""
    WITH start AS (SELECT min("UsageDate") + {int(rule.new_meter_after_days)} AS cutoff FROM usage),
    known AS (SELECT DISTINCT "CustomerId", "SubscriptionId", "EntitlementId" FROM usage, start
              WHERE "UsageDate" < start.cutoff),
    m AS (SELECT "CustomerId", min("CustomerName") AS "CustomerName", "SubscriptionId", "EntitlementId", "MeterId",
                 min("MeterCategory") || ' / ' || min("MeterName") AS "Meter", "BillingCurrency",
                 min("UsageDate") AS "UsageDate", sum("BillingPreTaxTotal") AS "Amount", count(*) AS "Rows"
          FROM usage GROUP BY "CustomerId", "SubscriptionId", "EntitlementId", "MeterId", "BillingCurrency")
    SELECT 'new meter' AS "Kind", m."CustomerId", "CustomerName", m."SubscriptionId", m."EntitlementId",
           "UsageDate", "Meter", CAST(NULL AS VARCHAR) AS "ResourceURI", "BillingCurrency", "Amount",
           CAST(NULL AS {MONEY_SQL}) AS "Baseline",
           'meter ' || "MeterId" || ' first billed ' || strftime("UsageDate", '%Y-%m-%d') || ' (' || "Rows"
             || ' row(s) since)' AS "Detail"
    FROM m JOIN known USING ("CustomerId", "SubscriptionId", "EntitlementId"), start
    WHERE m."UsageDate" >= start.cutoff
    ORDER BY "Amount" DESC
    """
    return _query(con, sql)


def billed_after_cancellation(con: Any, subscriptions: Any) -> pd.DataFrame:
    """Resources billed after their subscription's cancellation.

    Args:
        con: a connection with ``usage``.
        subscriptions: subscriptions as a frame or records (the shapes
            :func:`cspkit.billing.reconcile.normalize_subscriptions` takes: ``id``/``subscription_id``,
            ``cancellationDate``/``cancelled_at``/``deletedDate``...); the id may be the Azure plan's Partner Center
            SubscriptionId or the Azure subscription (EntitlementId).
    Returns:
        :data:`_ANOMALY_COLUMNS`, one row per resource billed on a day after the cancellation day (UsageDate = the
        first such day, Amount = Σ BillingPreTaxTotal after it).
    Source: billing-formats.md §1.2 #18 (SubscriptionId), #48 (EntitlementId), #21 (UsageDate).
    """
    from cspkit.billing.reconcile import normalize_subscriptions

    subs = normalize_subscriptions(subscriptions)
    cancelled = subs[subs["cancelled_at"].notna()][["subscription_id", "cancelled_at"]]
    frame = pd.DataFrame(
        {
            "Id": cancelled["subscription_id"].astype(str).str.lower().to_numpy(),
            "CancelledOn": pd.to_datetime(cancelled["cancelled_at"], utc=True).dt.tz_localize(None).dt.normalize(),
        }
    )
    con.register("cancelled_subscriptions", frame)
    sql = """
    SELECT 'billed after cancellation' AS "Kind", u."CustomerId", min(u."CustomerName") AS "CustomerName",
           u."SubscriptionId", u."EntitlementId", min(u."UsageDate") AS "UsageDate",
           min(u."MeterCategory") AS "Meter", u."ResourceURI", u."BillingCurrency",
           sum(u."BillingPreTaxTotal") AS "Amount", CAST(NULL AS DECIMAL(38, 18)) AS "Baseline",
           'subscription ' || c."Id" || ' cancelled ' || strftime(min(c."CancelledOn"), '%Y-%m-%d') || '; billed on '
             || count(DISTINCT u."UsageDate") || ' day(s) after' AS "Detail"
    FROM usage u JOIN cancelled_subscriptions c
      ON (lower(u."SubscriptionId") = c."Id" OR lower(u."EntitlementId") = c."Id")
     AND u."UsageDate" > CAST(c."CancelledOn" AS DATE)
    GROUP BY u."CustomerId", u."SubscriptionId", u."EntitlementId", u."ResourceURI", u."BillingCurrency", c."Id"
    ORDER BY "Amount" DESC
    """
    return _query(con, sql)


def _load_invoice_lines(con: Any, invoice: Any) -> None:
    if isinstance(invoice, (str, os.PathLike)):
        from cspkit.billing.recon_readers import read_recon

        report = read_recon(invoice, kind="invoice")
        if report.kind != "invoice":
            raise InputFileError(str(invoice), expected="an invoice reconciliation file (the 47-column NCE file)")
        invoice = report.frame
    if not isinstance(invoice, pd.DataFrame):
        invoice = pd.DataFrame(invoice)
    need = ["SubscriptionId", "Subtotal", "Currency"]
    missing = [c for c in need if c not in invoice.columns]
    if missing:
        raise InputFileError("invoice lines", column=", ".join(missing), expected="invoice reconciliation columns "
                             "(billing-formats.md §1.1)")  # fmt: skip
    cols = {}
    for c in ["InvoiceNumber", "SubscriptionId", "ProductId", "SkuId", "AvailabilityId", "Currency",
              "SubscriptionDescription"]:  # fmt: skip
        values = invoice[c] if c in invoice.columns else pd.Series([None] * len(invoice), dtype=object)
        cols[c] = pa.array(values.astype(object).where(values.notna(), None).tolist(), type=pa.string())
    subtotal = invoice["Subtotal"]
    if isinstance(subtotal.dtype, pd.ArrowDtype) and pa.types.is_decimal(subtotal.dtype.pyarrow_dtype):
        cols["Subtotal"] = pa.array(subtotal.array)
    else:
        cols["Subtotal"] = pa.array([None if v is None or v != v else Decimal(str(v)) for v in subtotal],
                                    type=pa.decimal128(38, 15))  # fmt: skip
    con.register("invoice_arrow", pa.table(cols))
    con.execute(
        f"""CREATE OR REPLACE VIEW invoice_lines AS
        SELECT coalesce("InvoiceNumber", '') AS "InvoiceNumber", lower(coalesce("SubscriptionId", '')) AS
               "SubscriptionId", coalesce("ProductId", '') AS "ProductId", coalesce("SkuId", '') AS "SkuId",
               coalesce("AvailabilityId", '') AS "AvailabilityId", upper(coalesce("Currency", '')) AS "Currency",
               coalesce("SubscriptionDescription", '') AS "SubscriptionDescription",
               CAST("Subtotal" AS {MONEY_SQL}) AS "Subtotal"
        FROM invoice_arrow"""
    )


def invoice_tie(con: Any, invoice: Any, *, by_product: bool = False) -> pd.DataFrame:
    """Tie Σ daily BillingPreTaxTotal to the invoice reconciliation's usage charges, per subscription.

    Args:
        con: a connection with ``usage``.
        invoice: the invoice reconciliation lines: a path (read by ``read_recon(kind="invoice")``) or a frame with
            at least SubscriptionId, Subtotal and Currency (InvoiceNumber, ProductId, SkuId, AvailabilityId,
            SubscriptionDescription used when present).
        by_product: tie per SubscriptionId × ProductId × SkuId × AvailabilityId instead (the keys both files carry;
            the invoice file has no MeterId, so no meter-level tie is possible).
    Returns:
        keys, Currency, DailyRows, DailyPreTaxTotal, InvoiceLines, InvoiceSubtotal, Difference (daily − invoice),
        Status (``ties`` when |Difference| ≤ 0.01 × max(1, InvoiceLines): each invoice line is rounded to cents, the
        daily rows are not; ``differs``; ``only in daily``; ``only on invoice``).
    Which invoice lines are usage charges: those of a SubscriptionId present in the daily rows, plus Azure plan
    lines (SubscriptionDescription ``Azure plan`` or an Azure ProductId ``DZH318Z0…``) of subscriptions absent from
    them; restricted to the daily rows' InvoiceNumbers when they carry any.
    Source: billing-formats.md §4 item 2 ("The invoice-recon Azure plan line carries the PC SubscriptionId, which
    can be looked up in the daily file") and item 5; PEC FAQ ("compare the ProductId, SkuId, and AvailabilityId
    fields from these two files for each SubscriptionId").
    """
    _load_invoice_lines(con, invoice)
    keys = ["SubscriptionId", "ProductId", "SkuId", "AvailabilityId"] if by_product else ["SubscriptionId"]
    k = ", ".join(f'"{c}"' for c in keys)
    sql = f"""
    WITH d AS (SELECT lower("SubscriptionId") AS "SubscriptionId", "ProductId", "SkuId", "AvailabilityId",
                      "BillingCurrency" AS "Currency", "BillingPreTaxTotal", "InvoiceNumber" FROM usage),
    invoices AS (SELECT DISTINCT "InvoiceNumber" FROM d WHERE "InvoiceNumber" <> ''),
    subs AS (SELECT DISTINCT "SubscriptionId" FROM d),
    i AS (SELECT * FROM invoice_lines
          WHERE ("SubscriptionId" IN (SELECT "SubscriptionId" FROM subs)
                 OR lower("SubscriptionDescription") = 'azure plan' OR "ProductId" LIKE 'DZH318Z0%')
            AND ((SELECT count(*) FROM invoices) = 0 OR "InvoiceNumber" IN (SELECT "InvoiceNumber" FROM invoices))),
    da AS (SELECT {k}, "Currency", count(*) AS "DailyRows", sum("BillingPreTaxTotal") AS "DailyPreTaxTotal"
           FROM d GROUP BY ALL),
    ia AS (SELECT {k}, "Currency", count(*) AS "InvoiceLines", sum("Subtotal") AS "InvoiceSubtotal"
           FROM i GROUP BY ALL)
    SELECT {k}, "Currency", coalesce("DailyRows", 0) AS "DailyRows", "DailyPreTaxTotal",
           coalesce("InvoiceLines", 0) AS "InvoiceLines", "InvoiceSubtotal",
           coalesce("DailyPreTaxTotal", 0) - coalesce("InvoiceSubtotal", 0) AS "Difference",
           CASE WHEN "InvoiceLines" IS NULL THEN 'only in daily'
                WHEN "DailyRows" IS NULL THEN 'only on invoice'
                WHEN abs(coalesce("DailyPreTaxTotal", 0) - coalesce("InvoiceSubtotal", 0))
                     <= 0.01 * greatest(1, "InvoiceLines") THEN 'ties'
                ELSE 'differs' END AS "Status"
    FROM da FULL OUTER JOIN ia USING ({k}, "Currency")
    ORDER BY ("Status" = 'ties'), abs("Difference") DESC, {k}
    """
    return _query(con, sql)


# --------------------------------------------------------------------------------------------------------------
# the whole reconciliation


def _summary(con: Any, pec: pd.DataFrame) -> pd.DataFrame:
    sql = f"""
    SELECT "BillingCurrency", "PricingCurrency", {_SUMS},
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
    summary = _query(con, sql)
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
) -> UsageResult:
    """Reconcile Azure plan daily rated usage: spend, PEC, anomalies and (optionally) the tie to the invoice.

    Args:
        sources: daily rated usage files, frames or a Parquet dataset (see :func:`load_usage`).
        invoice: invoice reconciliation lines (path or frame) to tie to (:func:`invoice_tie`), or None.
        subscriptions: subscriptions with cancellation dates (:func:`billed_after_cancellation`), or None.
        rule: the anomaly thresholds (:class:`AnomalyRule`).
        con: a DuckDB connection (default: a new one from :func:`connect`).
        progress: optional ``progress(step, done, total)``.
    Returns:
        :class:`UsageResult` (money exact; the per-customer totals add up to :func:`totals`).
    Raises:
        InputFileError: a file or frame is malformed (names file, row, column and what was expected).
    Sources: see the module docstring.
    """
    own = con is None
    con = con or connect()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
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
    finally:
        if own:
            con.close()


def _concat_anomalies(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p[_ANOMALY_COLUMNS] for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in _ANOMALY_COLUMNS})
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
