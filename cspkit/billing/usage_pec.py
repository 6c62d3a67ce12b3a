"""Partner earned credit (PEC) over the ``usage`` view: per credit type, per Azure subscription, and marketplace rows.

Sources: billing-formats.md §1.2 #50–52 (PartnerEarnedCreditPercentage, CreditPercentage, CreditType values of the
real November 2025 file), §4.6 (marketplace rows), Microsoft Learn "How partner earned credit is calculated and
paid" (https://learn.microsoft.com/en-us/partner-center/partner-earned-credit-explanation) and the PEC FAQ
(https://learn.microsoft.com/en-us/partner-center/billing/partner-earned-credit-faq). Each check is one SQL query
over ``usage`` (:func:`cspkit.billing.usage_load.load_usage`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from cspkit.billing.usage_load import SUMS_SQL, query_frame

__all__ = [
    "NOT_APPLIED",
    "PEC_APPLIED",
    "PEC_BY_SUBSCRIPTION_SQL",
    "PEC_RATE",
    "PEC_SUMMARY_SQL",
    "marketplace_spend",
    "pec_by_subscription",
    "pec_summary",
]

PEC_APPLIED = "Partner Earned Credit Applied"
NOT_APPLIED = "Credit Not Applied"
"""CreditType values of the real file (billing-formats.md §1.2 #52)."""

PEC_RATE = Decimal("0.15")
"""Partner earned credit rate: 15 % (the real file's PartnerEarnedCreditPercentage/CreditPercentage ``15`` on every
PEC-applied row, billing-formats.md §1.2 #50–51; Microsoft Learn, "How partner earned credit is calculated and
paid"). Money at stake on a row without PEC = PEC_RATE × its PricingPreTaxTotal."""


PEC_SUMMARY_SQL = f"""
SELECT "CreditType", "Marketplace", "BillingCurrency", "PricingCurrency", {SUMS_SQL},
       coalesce(sum("PricingPreTaxTotal") FILTER (WHERE "CreditType" = '{NOT_APPLIED}' AND NOT "Marketplace"), 0)
           * {PEC_RATE} AS "AtStake"
FROM usage GROUP BY ALL ORDER BY "Marketplace", "CreditType", "BillingCurrency", "PricingCurrency"
"""


def pec_summary(con: Any) -> pd.DataFrame:
    """Rows and totals per CreditType × Marketplace, with the money at stake.

    AtStake = 15 % × Σ PricingPreTaxTotal of first-party ``Credit Not Applied`` rows (:data:`PEC_RATE`); marketplace
    rows are never PEC-eligible ("Products in the marketplace (non-Microsoft) price list" are excluded: Microsoft
    Learn, partner earned credit FAQ), so their AtStake is 0. Source: billing-formats.md §1.2 #50–52.
    """
    return query_frame(con, PEC_SUMMARY_SQL)


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
FROM s LEFT JOIN lost  -- ON, not USING: Spark would put USING's keys first in s.*
  ON lost."CustomerId" = s."CustomerId" AND lost."SubscriptionId" = s."SubscriptionId"
 AND lost."EntitlementId" = s."EntitlementId" AND lost."PricingCurrency" = s."PricingCurrency"
ORDER BY (s."NotAppliedRows" = 0), "AtStake" DESC, s."CustomerId", s."EntitlementId", s."SubscriptionId",
         s."PricingCurrency"
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
    return query_frame(con, PEC_BY_SUBSCRIPTION_SQL)


def marketplace_spend(con: Any) -> pd.DataFrame:
    """Marketplace (third-party) rows per customer × subscription × publisher: never PEC-eligible, kept apart.

    Columns: CustomerId, SubscriptionId, EntitlementId, PublisherName, PublisherId, CustomerName, currencies, Rows,
    BillingPreTaxTotal, PricingPreTaxTotal, NotAppliedRows.
    Source: billing-formats.md §4.6 (PublisherName not Microsoft / PublisherId set → third party); PEC FAQ.
    """
    return query_frame(
        con,
        f"""SELECT "CustomerId", "SubscriptionId", "EntitlementId", "PublisherName", "PublisherId",
                   min("CustomerName") AS "CustomerName", "BillingCurrency", "PricingCurrency", {SUMS_SQL},
                   count(*) FILTER (WHERE "CreditType" = '{NOT_APPLIED}') AS "NotAppliedRows"
            FROM usage WHERE "Marketplace" GROUP BY ALL
            ORDER BY "BillingPreTaxTotal" DESC, "CustomerId", "SubscriptionId", "EntitlementId", "PublisherName",
                     "PublisherId", "BillingCurrency", "PricingCurrency" """,
    )

