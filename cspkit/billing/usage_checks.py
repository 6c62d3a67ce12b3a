"""Spend, anomalies and the tie to the invoice over the ``usage`` view: one function per check, one query each.

Sources: billing-formats.md §1.2 (one row per customer × subscription × meter × resource × day; #21 UsageDate, #37–40
the pre-tax totals), §1.1 (the invoice reconciliation file) and §4 (matching keys: the invoice reconciliation's
SubscriptionId is the daily file's SubscriptionId; EntitlementId is the Azure subscription). The anomaly thresholds
are ours (issue 16), tunable through :class:`AnomalyRule`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from cspkit.billing.usage_load import MONEY_SQL, SUMS_SQL, USAGE_VIEW_COLUMNS, query_frame
from cspkit.errors import InputFileError

__all__ = [
    "ANOMALY_COLUMNS",
    "AnomalyRule",
    "billed_after_cancellation",
    "invoice_tie",
    "new_meters",
    "spend_by",
    "spend_spikes",
    "totals",
]

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


def totals(con: Any) -> pd.DataFrame:
    """Rows and Σ BillingPreTaxTotal / PricingPreTaxTotal per BillingCurrency × PricingCurrency (exact).

    Source: billing-formats.md §1.2 #37–40 (pre-tax totals after PEC, in billing and pricing currency).
    """
    sql = f'SELECT "BillingCurrency", "PricingCurrency", {SUMS_SQL} FROM usage GROUP BY ALL ORDER BY 1, 2'
    return query_frame(con, sql)


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
    return query_frame(
        con,
        f'SELECT {k}{lab}, "BillingCurrency", "PricingCurrency", {SUMS_SQL}{extra} FROM usage '
        f'GROUP BY {k}, "BillingCurrency", "PricingCurrency" ORDER BY "BillingPreTaxTotal" DESC, {order}',
    )


ANOMALY_COLUMNS = ["Kind", "CustomerId", "CustomerName", "SubscriptionId", "EntitlementId", "UsageDate", "Meter",
                    "ResourceURI", "BillingCurrency", "Amount", "Baseline", "Detail"]  # fmt: skip


def spend_spikes(con: Any, rule: AnomalyRule = AnomalyRule()) -> pd.DataFrame:
    """Days on which an Azure subscription spent far more than its own recent days (see :class:`AnomalyRule`).

    Amount = the day's Σ BillingPreTaxTotal; Baseline = the median of the subscription's daily spend over the
    ``window_days`` days before (days with spend, at least ``min_history_days`` of them). A spike: Amount >
    spike_factor × Baseline and Amount ≥ spike_floor. Columns: :data:`ANOMALY_COLUMNS`.
    Source: the rule is ours (issue 16), tunable; the data is billing-formats.md §1.2 (#21 UsageDate, #37).
    """
    # the trailing median without median() or an interval window frame (so Spark runs the same query): each day
    # joined to the subscription's days with spend in the window before it, ranked by amount; the median is the
    # middle one (odd count) or half the sum of the middle two (even count): 2 × rank in [n, n + 2]. Exact: ×0.5
    # adds one decimal, kept within MONEY_SQL's 18 for sums of up to 17 decimals (the readers give at most 15).
    keys = '"CustomerId", "SubscriptionId", "EntitlementId", "BillingCurrency"'
    sql = f"""
    WITH d AS (
      SELECT "CustomerId", min("CustomerName") AS "CustomerName", "SubscriptionId", "EntitlementId",
             "BillingCurrency", "UsageDate", sum("BillingPreTaxTotal") AS "Amount"
      FROM usage GROUP BY {keys}, "UsageDate"),
    h AS (
      SELECT d."CustomerId", d."SubscriptionId", d."EntitlementId", d."BillingCurrency", d."UsageDate",
             p."Amount" AS "Past",
             row_number() OVER (PARTITION BY d."CustomerId", d."SubscriptionId", d."EntitlementId",
                                d."BillingCurrency", d."UsageDate" ORDER BY p."Amount") AS "Rank",
             count(*) OVER (PARTITION BY d."CustomerId", d."SubscriptionId", d."EntitlementId", d."BillingCurrency",
                            d."UsageDate") AS "HistoryDays"
      FROM d JOIN d AS p
        ON p."CustomerId" = d."CustomerId" AND p."SubscriptionId" = d."SubscriptionId"
       AND p."EntitlementId" = d."EntitlementId" AND p."BillingCurrency" = d."BillingCurrency"
       AND p."UsageDate" >= d."UsageDate" - {int(rule.window_days)} AND p."UsageDate" < d."UsageDate"),
    b AS (
      SELECT {keys}, "UsageDate", "HistoryDays",
             CAST(sum(CASE WHEN 2 * "Rank" BETWEEN "HistoryDays" AND "HistoryDays" + 2 THEN "Past" END)
                  * CASE WHEN "HistoryDays" % 2 = 0 THEN 0.5 ELSE 1 END AS {MONEY_SQL}) AS "Baseline"
      FROM h GROUP BY {keys}, "UsageDate", "HistoryDays"),
    w AS (SELECT d.*, b."Baseline", b."HistoryDays" FROM d JOIN b USING ({keys}, "UsageDate"))
    SELECT 'spend spike' AS "Kind", "CustomerId", "CustomerName", "SubscriptionId", "EntitlementId", "UsageDate",
           CAST(NULL AS VARCHAR) AS "Meter", CAST(NULL AS VARCHAR) AS "ResourceURI", "BillingCurrency", "Amount",
           "Baseline",
           'spent ' || CAST("Amount" AS DECIMAL(38, 2)) || ' ' || "BillingCurrency" || ', more than '
             || $factor || ' x the median ' || CAST("Baseline" AS DECIMAL(38, 2)) || ' of the '
             || "HistoryDays" || ' day(s) with spend in the {int(rule.window_days)} days before' AS "Detail"
    FROM w
    WHERE "HistoryDays" >= $history AND "Amount" > $factor * "Baseline" AND "Amount" >= $floor
    ORDER BY "Amount" DESC, {keys}, "UsageDate"
    """
    params = {"factor": rule.spike_factor, "history": rule.min_history_days, "floor": rule.spike_floor}
    return query_frame(con, sql, params)


def new_meters(con: Any, rule: AnomalyRule = AnomalyRule()) -> pd.DataFrame:
    """Meters an Azure subscription starts billing after the period's first ``rule.new_meter_after_days`` days.

    Only Azure subscriptions that had usage in those first days count (a subscription that starts later is new
    altogether, not a new meter on a known one). Amount = Σ BillingPreTaxTotal of the meter from its first day.
    Columns: :data:`ANOMALY_COLUMNS` (UsageDate = the meter's first day). Source: billing-formats.md §1.2 #21–26.
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
    ORDER BY "Amount" DESC, m."CustomerId", m."SubscriptionId", m."EntitlementId", "MeterId", "BillingCurrency"
    """
    return query_frame(con, sql)


def billed_after_cancellation(con: Any, subscriptions: Any) -> pd.DataFrame:
    """Resources billed after their subscription's cancellation.

    Args:
        con: a connection with ``usage``.
        subscriptions: subscriptions as a frame or records (the shapes
            :func:`cspkit.billing.reconcile.normalize_subscriptions` takes: ``id``/``subscription_id``,
            ``cancellationDate``/``cancelled_at``/``deletedDate``...); the id may be the Azure plan's Partner Center
            SubscriptionId or the Azure subscription (EntitlementId).
    Returns:
        :data:`ANOMALY_COLUMNS`, one row per resource billed on a day after the cancellation day (UsageDate = the
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
    ORDER BY "Amount" DESC, u."CustomerId", u."SubscriptionId", u."EntitlementId", u."ResourceURI", c."Id"
    """
    return query_frame(con, sql)


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
              "SubscriptionDescription", "MeterDescription", "UnitType"]:  # fmt: skip
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
               coalesce("MeterDescription", '') <> '' OR coalesce("UnitType", '') <> '' AS "Metered",
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
    lines (SubscriptionDescription ``Azure plan``, or an Azure ProductId ``DZH318Z0…`` on a metered line — one with
    a MeterDescription or UnitType, which §1.1 gives usage lines only: marketplace SaaS seats share the prefix) of
    subscriptions absent from them; restricted to the daily rows' InvoiceNumbers when they carry any.
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
                 OR lower("SubscriptionDescription") = 'azure plan' OR ("ProductId" LIKE 'DZH318Z0%' AND "Metered"))
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
    ORDER BY ("Status" = 'ties'), abs("Difference") DESC, {k}, "Currency"
    """
    return query_frame(con, sql)

