"""Invoice reconciliation engine: recon lines × subscriptions × price list → tie-out, totals and variances.

Pure functions over DataFrames (no I/O, no printing), usable from notebooks. The input lines are a frame from
:mod:`cspkit.billing.recon_readers` (new-commerce invoice reconciliation columns, billing-formats.md §1.1).
Subscriptions and the price list are optional plain frames/records, so the engine depends on neither the ledger
nor the API.

Rules followed (billing-formats.md):

* tie-out: Σ ``Total`` per invoice and billing currency against the invoice's total (§4.1);
* unit price: ``UnitPrice`` against the price list in force on ``OrderDate`` for ProductId + SkuId + TermDuration +
  BillingPlan + PricingCurrency, the latest start winning on overlap (§4.3);
* proration: ``|EffectiveUnitPrice| = UnitPrice / chargeCycleDays × billingDays`` (§2.4): chargeCycleDays = the days
  of the charge cycle that ends on ``ChargeEndDate`` (the days of the month it started in for monthly billing,
  365/366 for annual, the whole term when prepaid), billingDays = ``ChargeEndDate − ChargeStartDate + 1``;
* amounts: ``Subtotal`` within ``0.01 × BillableQuantity`` (at least 0.01) of ``EffectiveUnitPrice ×
  PCToBCExchangeRate × BillableQuantity`` — both documented rounding rules fall inside that tolerance (§2.4 ⚠);
  ``Total = Subtotal + TaxTotal`` to the cent;
* seats: the last positive line of a subscription (ordered by OrderDate) gives the billed seat count, a trailing
  ``cancelImmediate`` refund makes it 0 (§4.4); ``customerCredit`` lines are left out;
* refunds (negative ``EffectiveUnitPrice``/``Subtotal`` with positive ``BillableQuantity``, §2.4) must match a
  positive charge of the same subscription whose charge period covers the refunded days, in ``lines`` or
  ``history``.

Amounts are summed exactly (int64 micro-units) and returned as :class:`~decimal.Decimal`. Comparisons are screened
in float64 with a safety margin and every candidate is confirmed with exact Decimal arithmetic, so a variance is
reported only when the Decimal check fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.recon_columns import normalize_header
from cspkit.billing.recon_readers import STRING

__all__ = [
    "CATEGORIES",
    "ReconciliationResult",
    "Tolerance",
    "normalize_invoices",
    "normalize_subscriptions",
    "reconcile",
]

#: Variance categories, their severity and what they mean (the Summary sheet lists them in this order).
CATEGORIES: dict[str, tuple[str, str]] = {
    "unit_price_mismatch": ("error", "UnitPrice differs from the price list in force on OrderDate"),
    "price_not_found": ("warning", "no price-list row in force on OrderDate for this product/SKU/term/plan/currency"),
    "proration_mismatch": ("error", "EffectiveUnitPrice does not follow UnitPrice / cycle days × billed days"),
    "amount_mismatch": ("error", "Subtotal/Total do not follow the documented formula within tolerance"),
    "seat_mismatch": ("error", "billed seats differ from the subscription's quantity"),
    "charge_after_cancellation": ("error", "a cancelled subscription was charged after its cancellation"),
    "missing_charge": ("warning", "an active subscription has no charge in the period"),
    "duplicate_charge": ("error", "the same charge appears more than once"),
    "refund_without_charge": ("warning", "a refund has no matching charge in the lines given"),
    "currency_mismatch": ("error", "currency or exchange-rate inconsistency"),
    "unknown_subscription": ("warning", "recon lines for a subscription that is not in the subscriptions given"),
}

_SEAT_CHARGES = {
    "new", "renew", "cycleCharge", "addQuantity", "removeQuantity", "cancelImmediate", "convert", "moveQuantity",
    "changeBillingPlan",
}  # fmt: skip
_RECURRING = {"new", "renew", "cycleCharge"}
_CANCELLED = {"deleted", "cancelled", "canceled", "expired", "disabled"}
_SCALE = 1_000_000  # micro-units for exact int64 sums
_CENT = Decimal("0.01")
_MARGIN = 1e-7  # float screening margin (candidates are confirmed in Decimal)

VARIANCE_COLUMNS = [
    "Category", "Severity", "CustomerId", "CustomerName", "SubscriptionId", "InvoiceNumber", "ChargeType",
    "ProductId", "SkuId", "OrderDate", "Currency", "Expected", "Actual", "Difference", "Amount", "Evidence",
    "SourceFile", "SourceRow",
]  # fmt: skip


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
        lines: the input lines plus ``Variances`` (the categories found on each line, comma-separated).
    """

    period_start: pd.Timestamp | None
    period_end: pd.Timestamp | None
    tieout: pd.DataFrame
    customers: pd.DataFrame
    subscriptions: pd.DataFrame
    charge_types: pd.DataFrame
    variances: pd.DataFrame
    variance_counts: pd.DataFrame
    lines: pd.DataFrame
    notes: list[str] = field(default_factory=list)

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


# --------------------------------------------------------------------------------------------------------------
# small vector helpers


def _floats(values: Any) -> np.ndarray:
    """Decimal/None object array → float64 (NaN for None), converting each distinct value once."""
    series = pd.Series(values, copy=False) if not isinstance(values, pd.Series) else values
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    table = np.array([float(u) for u in uniques] + [np.nan], dtype=float)
    return table[codes]


def _micros(values: Any) -> np.ndarray:
    """Decimal/None object array → exact int64 micro-units (0 for None)."""
    series = pd.Series(values, copy=False) if not isinstance(values, pd.Series) else values
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    table = np.array(
        [int((Decimal(u) * _SCALE).to_integral_value(ROUND_HALF_EVEN)) for u in uniques] + [0], dtype=np.int64
    )
    return table[codes]


def _from_micros(value: int | np.integer) -> Decimal:
    v = int(value)
    if v % 10_000 == 0:
        return Decimal(v // 10_000).scaleb(-2)
    return (Decimal(v) / _SCALE).normalize()


def _dec_column(values: Iterable[Any]) -> np.ndarray:
    out = np.empty(len(values) if hasattr(values, "__len__") else 0, dtype=object)  # type: ignore[arg-type]
    out[:] = list(values)
    return out


def _text(series: pd.Series) -> np.ndarray:
    """String column → object array with '' for NA (for keys and comparisons)."""
    return series.astype(object).where(series.notna(), "").to_numpy(dtype=object)


def _month_bounds(value: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    start = ts.normalize().replace(day=1)
    end = start + pd.offsets.MonthEnd(0)
    return start, end


# --------------------------------------------------------------------------------------------------------------
# inputs


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


def _to_utc(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return pd.to_datetime(series, utc=True, errors="coerce", format="mixed").astype("datetime64[ns, UTC]")


def normalize_subscriptions(data: Any) -> pd.DataFrame:
    """Subscriptions from the ledger or the API (frame or records) → the engine's columns.

    Accepts snake_case, camelCase or PascalCase names: customer_id/customerId, subscription_id/id, offer_id
    (``productId:skuId:availabilityId`` catalog item id) or product_id + sku_id, quantity, status, term_duration,
    billing_cycle, created/creationDate, effective_start/effectiveStartDate, cancelled_at/cancellation_date/
    deleted_date, is_trial.
    Returns:
        Frame with :data:`SUBSCRIPTION_COLUMNS` (ids lower-cased GUIDs, quantity Decimal, dates UTC).
    """
    raw = _records(data)
    frame = pd.DataFrame(index=range(len(raw)))
    for column in raw.columns:
        target = _SUB_ALIASES.get(normalize_header(column))
        if target and target not in frame.columns:
            frame[target] = raw[column].to_numpy()
    if "offer_id" in frame.columns:
        parts = frame["offer_id"].astype(object).fillna("").astype(str).str.split(":", expand=True)
        if "product_id" not in frame.columns and parts.shape[1] >= 1:
            frame["product_id"] = parts[0].replace("", None)
        if "sku_id" not in frame.columns and parts.shape[1] >= 2:
            frame["sku_id"] = parts[1]
    for column in SUBSCRIPTION_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    out = frame[SUBSCRIPTION_COLUMNS].copy()
    for column in ("customer_id", "subscription_id"):
        out[column] = out[column].astype(object).map(lambda v: None if v is None or v != v else str(v).strip().lower())
    out["sku_id"] = (
        out["sku_id"]
        .astype(object)
        .map(lambda v: None if v is None or v != v else (str(v).zfill(4) if str(v).isdigit() else str(v)))
    )
    out["product_id"] = out["product_id"].astype(object).map(lambda v: None if v is None or v != v else str(v))
    out["status"] = out["status"].astype(object).map(lambda v: None if v is None or v != v else str(v).lower())
    out["term_duration"] = (
        out["term_duration"].astype(object).map(lambda v: None if v is None or v != v else str(v).upper())
    )
    out["billing_cycle"] = out["billing_cycle"].astype(object).map(_plan)
    out["quantity"] = (
        out["quantity"]
        .astype(object)
        .map(lambda v: None if v is None or v != v else Decimal(str(int(v)) if isinstance(v, float) else str(v)))
    )
    out["currency"] = out["currency"].astype(object).map(lambda v: None if v is None or v != v else str(v).upper())
    out["is_trial"] = out["is_trial"].astype(object).map(lambda v: bool(v) if v is not None and v == v else False)
    for column in ("created", "effective_start", "cancelled_at"):
        out[column] = _to_utc(out[column])
    out = out[out["subscription_id"].notna()].drop_duplicates("subscription_id", keep="last")
    return out.reset_index(drop=True)


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

    def pick(*keys: str) -> Any:
        for key in keys:
            if key in names:
                return raw[names[key]]
        return pd.Series([None] * len(raw))

    frame = pd.DataFrame(
        {
            "InvoiceNumber": pick("invoicenumber", "id", "invoiceid").astype(object),
            "Currency": pick("currency", "currencycode")
            .astype(object)
            .map(lambda v: None if v is None else str(v).upper()),
            "InvoiceTotal": pick("invoicetotal", "totalcharges", "total")
            .astype(object)
            .map(lambda v: None if v is None or v != v else Decimal(str(v))),
        }
    )
    return frame


# --------------------------------------------------------------------------------------------------------------
# the engine


class _Findings:
    def __init__(self, lines: pd.DataFrame) -> None:
        self.lines = lines
        self.parts: list[pd.DataFrame] = []

    def add_lines(
        self,
        category: str,
        positions: np.ndarray,
        *,
        expected: Any = None,
        actual: Any = None,
        difference: Any = None,
        evidence: Any = "",
        severity: Any = None,
    ) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return
        sub = self.lines.iloc[positions]
        n = len(positions)

        def col(value: Any) -> Any:
            if value is None or isinstance(value, (str, Decimal)):
                arr = np.empty(n, dtype=object)
                arr[:] = [value] * n
                return arr
            return np.asarray(value, dtype=object)

        part = pd.DataFrame(
            {
                "Category": category,
                "Severity": col(severity or CATEGORIES[category][0]),
                "CustomerId": sub["CustomerId"].to_numpy(dtype=object),
                "CustomerName": sub["CustomerName"].to_numpy(dtype=object),
                "SubscriptionId": sub["SubscriptionId"].to_numpy(dtype=object),
                "InvoiceNumber": sub["InvoiceNumber"].to_numpy(dtype=object),
                "ChargeType": sub["ChargeType"].to_numpy(dtype=object),
                "ProductId": sub["ProductId"].to_numpy(dtype=object),
                "SkuId": sub["SkuId"].to_numpy(dtype=object),
                "OrderDate": sub["OrderDate"].to_numpy(),
                "Currency": sub["Currency"].to_numpy(dtype=object),
                "Expected": col(expected),
                "Actual": col(actual),
                "Difference": col(difference),
                "Amount": sub["Subtotal"].to_numpy(dtype=object),
                "Evidence": col(evidence),
                "SourceFile": sub["SourceFile"].astype(object).to_numpy(),
                "SourceRow": sub["SourceRow"].to_numpy(),
                "_pos": positions,
            }
        )
        self.parts.append(part)

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            frame = pd.DataFrame(rows)
            frame["_pos"] = -1
            self.parts.append(frame)

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in VARIANCE_COLUMNS})
            empty["_pos"] = pd.Series(dtype=np.int64)
            return empty
        frame = pd.concat(self.parts, ignore_index=True)
        for column in VARIANCE_COLUMNS:
            if column not in frame.columns:
                frame[column] = None
        order = {c: i for i, c in enumerate(CATEGORIES)}
        frame["_order"] = frame["Category"].map(order)
        frame = frame.sort_values(["_order", "SourceFile", "SourceRow"], kind="stable", na_position="last")
        frame = frame.drop(columns="_order").reset_index(drop=True)
        frame["OrderDate"] = _to_utc(frame["OrderDate"])
        frame["SourceRow"] = frame["SourceRow"].astype("Int64")
        for column in ("Expected", "Actual", "Difference", "Amount"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        return frame[[*VARIANCE_COLUMNS, "_pos"]]


def _derive_terms(lines: pd.DataFrame, subs: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """TermDuration (P1M/P1Y/P3Y) and BillingPlan (Monthly/Annual/Triennial) per line (§4.7, §2.2)."""
    n = len(lines)
    term = np.full(n, None, dtype=object)
    plan = np.full(n, None, dtype=object)
    if subs is not None and len(subs):
        joined = pd.DataFrame({"subscription_id": _text(lines["SubscriptionId"])}).merge(
            subs[["subscription_id", "term_duration", "billing_cycle"]], on="subscription_id", how="left", sort=False
        )
        term = joined["term_duration"].to_numpy(dtype=object).copy()
        plan = joined["billing_cycle"].to_numpy(dtype=object).copy()
        plan[plan == "None"] = None
    # term from the subscription's start/end span
    span = ((lines["SubscriptionEndDate"] - lines["SubscriptionStartDate"]).dt.days + 1).to_numpy(dtype=float)
    from_span = np.select(
        [(span >= 27) & (span <= 32), (span >= 360) & (span <= 367), (span >= 1090) & (span <= 1100)],
        ["P1M", "P1Y", "P3Y"],
        default="",
    ).astype(object)
    text = lines["TermAndBillingCycle"].astype(object).fillna("").astype(str).str.lower().to_numpy(dtype=object)
    from_text = np.where(
        pd.Series(text).str.contains("one-month|1 month|monthly commitment", regex=True),
        "P1M",
        np.where(
            pd.Series(text).str.contains("one-year|1 year", regex=True),
            "P1Y",
            np.where(pd.Series(text).str.contains("three-year|3 year", regex=True), "P3Y", ""),
        ),
    ).astype(object)
    missing = pd.isna(term) | (term == "")
    term = np.where(missing, np.where(from_span != "", from_span, from_text), term)
    frequency = lines["BillingFrequency"].astype(object).to_numpy(dtype=object)
    has_frequency = ~pd.isna(frequency)
    plan = np.where(has_frequency, frequency, plan)
    missing = pd.isna(plan) | (plan == "")
    default_plan = np.select([term == "P1M", term == "P1Y", term == "P3Y"], ["Monthly", "Annual", "Triennial"], "")
    plan = np.where(missing, default_plan, plan)
    term = np.where(term == "", None, term)
    plan = np.where(plan == "", None, plan)
    return term.astype(object), plan.astype(object)


def reconcile(
    lines: pd.DataFrame,
    *,
    subscriptions: Any = None,
    price_list: pd.DataFrame | None = None,
    invoices: Any = None,
    period: Any = None,
    history: pd.DataFrame | None = None,
    tolerance: Tolerance | None = None,
) -> ReconciliationResult:
    """Reconcile new-commerce invoice reconciliation lines for one billing period.

    Args:
        lines: frame from :func:`~cspkit.billing.recon_readers.read_recon` (kind ``invoice``) or
            :func:`~cspkit.billing.recon_readers.recon_lines_to_frame`.
        subscriptions: optional frame/records of subscriptions (see :func:`normalize_subscriptions`); enables the
            seat, cancellation, missing-charge and unknown-subscription checks and improves term/plan detection.
        price_list: optional frame in the :func:`cspkit.billing.pricelist.read_price_list` shape; enables the
            unit-price check.
        invoices: optional invoice totals (``{currency: total}``, Invoice models/records or a frame) for the
            tie-out; without them the tie-out shows the line sums only.
        period: the billing period: any date in the month (``"2026-03"``, a Timestamp); default: the month holding
            most OrderDates.
        history: optional earlier lines (same shape), used only to find the charges that refunds refer to.
        tolerance: :class:`Tolerance` (defaults: 0.01 × BillableQuantity per line, exact unit prices, 0.01 tie-out).
    Returns:
        :class:`ReconciliationResult`.
    Raises:
        ValueError: ``lines`` lacks the documented columns (use the readers).
    """
    tol = tolerance or Tolerance()
    required = ["CustomerId", "SubscriptionId", "ChargeType", "Subtotal", "Currency", "EffectiveUnitPrice"]
    missing = [c for c in required if c not in lines.columns]
    if missing:
        raise ValueError(
            f"lines lack the reconciliation columns {missing}: read them with cspkit.billing.recon_readers"
        )
    lines = lines.reset_index(drop=True)
    n = len(lines)
    subs = normalize_subscriptions(subscriptions) if subscriptions is not None else None
    notes: list[str] = []

    if period is not None:
        period_start, period_end = _month_bounds(period)
    elif n and lines["OrderDate"].notna().any():
        months = lines["OrderDate"].dt.tz_convert(None).dt.to_period("M").value_counts()
        period_start, period_end = _month_bounds(months.index[0].start_time)
    else:
        period_start = period_end = None

    charge = _text(lines["ChargeType"])
    eup = lines["EffectiveUnitPrice"].to_numpy(dtype=object)
    eup_f = _floats(lines["EffectiveUnitPrice"])
    up_f = _floats(lines["UnitPrice"])
    bq_f = _floats(lines["BillableQuantity"])
    sub_f = _floats(lines["Subtotal"])
    fx_f = _floats(lines["PCToBCExchangeRate"])
    sub_id = _text(lines["SubscriptionId"])
    is_credit = charge == "customerCredit"
    qualifiers = lines["ProductQualifiers"].astype(object).fillna("").astype(str)
    is_trial = qualifiers.str.contains("trial", case=False).to_numpy()
    is_usage = (lines["MeterDescription"].notna() | lines["UnitType"].notna()).to_numpy()
    negative = np.where(np.isnan(eup_f), sub_f < 0, eup_f < 0) | (sub_f < 0)
    positive = ~negative & ~is_credit
    findings = _Findings(lines)
    term, plan = _derive_terms(lines, subs)

    # --- unit price vs price list in force on OrderDate -------------------------------------------------------
    if price_list is not None and n:
        from cspkit.billing.pricelist import lookup_prices

        check = (
            ~is_credit & ~is_trial & ~is_usage & ~np.isnan(up_f) & lines["OrderDate"].notna().to_numpy()
            & ~pd.isna(term) & ~pd.isna(plan)
        )  # fmt: skip
        idx = np.flatnonzero(check)
        currency = lines["PricingCurrency"].astype(object).where(lines["PricingCurrency"].notna(), lines["Currency"])
        queries = pd.DataFrame(
            {
                "ProductId": _text(lines["ProductId"])[idx],
                "SkuId": _text(lines["SkuId"])[idx],
                "TermDuration": term[idx],
                "BillingPlan": plan[idx],
                "Currency": currency.to_numpy(dtype=object)[idx],
                "On": lines["OrderDate"].to_numpy()[idx],
            }
        )
        queries["On"] = pd.to_datetime(queries["On"], utc=True).astype("datetime64[ns, UTC]")
        expected = lookup_prices(price_list, queries).to_numpy(dtype=object)
        found = np.array([e is not None for e in expected], dtype=bool)
        findings.add_lines(
            "price_not_found",
            idx[~found],
            actual=lines["UnitPrice"].to_numpy(dtype=object)[idx[~found]],
            evidence=[
                f"no price-list row for {p}:{s} {t}/{b} {c} on {d:%Y-%m-%d}"
                for p, s, t, b, c, d in zip(
                    queries["ProductId"][~found],
                    queries["SkuId"][~found],
                    queries["TermDuration"][~found],
                    queries["BillingPlan"][~found],
                    queries["Currency"][~found],
                    queries["On"][~found],
                    strict=True,
                )
            ],  # fmt: skip
        )
        hit = idx[found]
        exp = expected[found]
        act = lines["UnitPrice"].to_numpy(dtype=object)[hit]
        diff = np.array([a - e for a, e in zip(act, exp, strict=True)], dtype=object)
        bad = np.array([abs(d) > tol.unit_price for d in diff], dtype=bool)
        promo = _text(lines["PromotionId"])[hit[bad]]
        findings.add_lines(
            "unit_price_mismatch",
            hit[bad],
            expected=exp[bad],
            actual=act[bad],
            difference=diff[bad],
            severity=np.where(promo != "", "info", "error"),
            evidence=[
                f"price list {t}/{b} {c} on {d:%Y-%m-%d}: {e}; line: {a}" + (f"; promotion {p}" if p else "")
                for t, b, c, d, e, a, p in zip(
                    term[hit[bad]],
                    plan[hit[bad]],
                    currency.to_numpy(dtype=object)[hit[bad]],
                    lines["OrderDate"].iloc[hit[bad]],
                    exp[bad],
                    act[bad],
                    promo,
                    strict=True,
                )
            ],  # fmt: skip
        )

    # --- proration (§2.4) ----------------------------------------------------------------------------------------
    adjustment = lines["PriceAdjustmentDescription"].astype(object).fillna("").astype(str)
    discounted = adjustment.str.contains(r"%|discount|credit", case=False, regex=True).to_numpy()
    seat_line = np.isin(charge, list(_SEAT_CHARGES)) & ~is_trial & ~is_usage
    prorate = (
        seat_line & ~discounted & (_text(lines["PromotionId"]) == "") & ~np.isnan(up_f) & ~np.isnan(eup_f)
        & lines["ChargeStartDate"].notna().to_numpy() & lines["ChargeEndDate"].notna().to_numpy()
    )  # fmt: skip
    if prorate.any():
        idx = np.flatnonzero(prorate)
        sub = lines.iloc[idx]
        end_excl = sub["ChargeEndDate"].dt.normalize() + pd.Timedelta(days=1)
        billed_days = (end_excl - sub["ChargeStartDate"].dt.normalize()).dt.days.to_numpy()
        freq = plan[idx]
        cycle_start = pd.Series(pd.NaT, index=sub.index, dtype="datetime64[ns, UTC]")
        for value, months in (("Monthly", 1), ("Annual", 12), ("Triennial", 36)):
            mask = freq == value
            if mask.any():
                cycle_start[mask] = end_excl[mask] - pd.DateOffset(months=months)
        prepaid = (sub["BillingFrequency"].isna() & sub["SubscriptionStartDate"].notna()).to_numpy()
        cycle_start[prepaid] = sub["SubscriptionStartDate"][prepaid].dt.normalize()
        cycle_days = (end_excl - cycle_start).dt.days.to_numpy(dtype=float)
        ok = ~np.isnan(cycle_days) & (cycle_days > 0) & (billed_days > 0)
        idx, cycle_days, billed_days = idx[ok], cycle_days[ok].astype(np.int64), billed_days[ok]
        exp_f = up_f[idx] / cycle_days * billed_days
        candidates = np.abs(np.abs(eup_f[idx]) - exp_f) > float(tol.per_unit) - _MARGIN
        cand = idx[candidates]
        if len(cand):
            up = lines["UnitPrice"].to_numpy(dtype=object)
            cd, bd = cycle_days[candidates], billed_days[candidates]
            expected = [up[i] / int(c) * int(b) for i, c, b in zip(cand, cd, bd, strict=True)]
            actual = [abs(eup[i]) for i in cand]
            diffs = [a - e for a, e in zip(actual, expected, strict=True)]
            bad = np.array([abs(d) > tol.per_unit for d in diffs], dtype=bool)
            q = Decimal("0.000001")
            findings.add_lines(
                "proration_mismatch",
                cand[bad],
                expected=[e.quantize(q) for e, b in zip(expected, bad, strict=True) if b],
                actual=[a for a, b in zip(actual, bad, strict=True) if b],
                difference=[d.quantize(q) for d, b in zip(diffs, bad, strict=True) if b],
                evidence=[
                    f"{up[i]} / {c} cycle days × {d} billed days = {e.quantize(q)}; |EffectiveUnitPrice| = {a}"
                    for i, c, d, e, a, b in zip(cand, cd, bd, expected, actual, bad, strict=True)
                    if b
                ],
            )

    # --- amounts: Subtotal formula and Total = Subtotal + TaxTotal ---------------------------------------------
    amount_check = ~np.isnan(eup_f) & ~np.isnan(bq_f) & ~np.isnan(sub_f)
    fx_use = np.where(np.isnan(fx_f), 1.0, fx_f)
    tol_line = np.maximum(float(tol.per_unit) * np.abs(bq_f), float(tol.line_minimum))
    screen = amount_check & (np.abs(sub_f - eup_f * fx_use * bq_f) > tol_line - _MARGIN)
    cand = np.flatnonzero(screen)
    if len(cand):
        subtotal = lines["Subtotal"].to_numpy(dtype=object)
        bq = lines["BillableQuantity"].to_numpy(dtype=object)
        fx = lines["PCToBCExchangeRate"].to_numpy(dtype=object)
        rows_bad, exp_list, act_list, diff_list, ev = [], [], [], [], []
        for i in cand:
            rate = fx[i] if fx[i] is not None else Decimal(1)
            exact = eup[i] * rate * bq[i]
            allowed = max(tol.per_unit * abs(bq[i]), tol.line_minimum)
            diff = subtotal[i] - exact
            if abs(diff) > allowed:
                rows_bad.append(i)
                exp_list.append(exact.quantize(_CENT))
                act_list.append(subtotal[i])
                diff_list.append(diff.quantize(_CENT))
                ev.append(
                    f"{eup[i]} × rate {rate} × {bq[i]} units = {exact}; Subtotal {subtotal[i]}; allowed ±{allowed}"
                )
        findings.add_lines(
            "amount_mismatch", np.array(rows_bad, dtype=np.int64), expected=exp_list, actual=act_list,
            difference=diff_list, evidence=ev,
        )  # fmt: skip
    tax_f = _floats(lines["TaxTotal"])
    total_f = _floats(lines["Total"])
    total_check = ~np.isnan(total_f) & ~np.isnan(sub_f)
    screen = total_check & (np.abs(total_f - sub_f - np.nan_to_num(tax_f)) > 0.005 - _MARGIN)
    cand = np.flatnonzero(screen)
    if len(cand):
        subtotal = lines["Subtotal"].to_numpy(dtype=object)
        tax = lines["TaxTotal"].to_numpy(dtype=object)
        total = lines["Total"].to_numpy(dtype=object)
        bad_rows = [i for i in cand if total[i] != subtotal[i] + (tax[i] or Decimal(0))]
        findings.add_lines(
            "amount_mismatch",
            np.array(bad_rows, dtype=np.int64),
            expected=[subtotal[i] + (tax[i] or Decimal(0)) for i in bad_rows],
            actual=[total[i] for i in bad_rows],
            difference=[total[i] - subtotal[i] - (tax[i] or Decimal(0)) for i in bad_rows],
            evidence=[f"Total {total[i]} ≠ Subtotal {subtotal[i]} + TaxTotal {tax[i] or 0}" for i in bad_rows],
        )

    # --- duplicates -----------------------------------------------------------------------------------------------
    order_cols = pd.DataFrame(
        {
            "sub": sub_id,
            "charge": charge,
            "ref": _text(lines["ReferenceId"]),
            "start": lines["ChargeStartDate"].to_numpy(),
            "end": lines["ChargeEndDate"].to_numpy(),
            "bq": lines["BillableQuantity"].to_numpy(dtype=object),
            "eup": eup,
            "subtotal": lines["Subtotal"].to_numpy(dtype=object),
            "order": _text(lines["OrderId"]),
            "date": lines["OrderDate"].to_numpy(),
        }
    )
    dup_exact = order_cols.duplicated(keep="first").to_numpy()
    recurring = np.isin(charge, list(_RECURRING)) & positive & ~is_trial & (sub_id != "")
    dup_cycle = np.zeros(n, dtype=bool)
    if recurring.any():
        rec = order_cols[recurring]
        dup_cycle[np.flatnonzero(recurring)] = rec.duplicated(["sub", "start", "end"], keep="first").to_numpy()
    dup = np.flatnonzero(dup_exact | dup_cycle)
    if len(dup):
        key = order_cols.iloc[dup]
        first_rows = {}
        # the first occurrence's SourceRow as evidence
        for kind_mask, cols in ((dup_exact, list(order_cols.columns)), (dup_cycle, ["sub", "start", "end"])):
            if not kind_mask.any():
                continue
            frame = order_cols[cols].copy()
            frame["_row"] = lines["SourceRow"].to_numpy()
            if cols != list(order_cols.columns):
                frame = frame[recurring]
            firsts = frame.drop_duplicates(cols, keep="first").set_index(cols)["_row"]
            sel = np.flatnonzero(kind_mask)
            looked = frame.loc[frame.index.isin(sel)].join(firsts.rename("_first"), on=cols)
            for pos, first in zip(looked.index, looked["_first"], strict=True):
                first_rows.setdefault(int(pos), int(first))
        findings.add_lines(
            "duplicate_charge",
            dup,
            actual=lines["Subtotal"].to_numpy(dtype=object)[dup],
            evidence=[
                f"same {'charge' if dup_exact[p] else 'charge period'} as row {first_rows.get(int(p), '?')} "
                f"({key.loc[p, 'charge']} {pd.Timestamp(key.loc[p, 'start']):%Y-%m-%d}–"
                f"{pd.Timestamp(key.loc[p, 'end']):%Y-%m-%d})"
                if pd.notna(key.loc[p, "start"]) and pd.notna(key.loc[p, "end"])
                else f"same charge as row {first_rows.get(int(p), '?')}"
                for p in dup
            ],
        )

    # --- refunds without a matching charge -------------------------------------------------------------------
    refund = negative & ~is_credit & (sub_id != "")
    if refund.any():
        pool = [lines]
        if history is not None and len(history):
            pool.append(history)
        charges = []
        for frame in pool:
            f_eup = _floats(frame["EffectiveUnitPrice"])
            f_sub = _floats(frame["Subtotal"])
            f_pos = ~(np.where(np.isnan(f_eup), f_sub < 0, f_eup < 0) | (f_sub < 0))
            f_pos &= _text(frame["ChargeType"]) != "customerCredit"
            charges.append(
                pd.DataFrame(
                    {
                        "sub": _text(frame["SubscriptionId"])[f_pos],
                        "c_start": frame["ChargeStartDate"].to_numpy()[f_pos],
                        "c_end": frame["ChargeEndDate"].to_numpy()[f_pos],
                        "c_bq": _floats(frame["BillableQuantity"])[f_pos],
                    }
                )
            )
        charge_frame = pd.concat(charges, ignore_index=True)
        ridx = np.flatnonzero(refund)
        refunds = pd.DataFrame(
            {
                "pos": ridx,
                "sub": sub_id[ridx],
                "r_start": lines["ChargeStartDate"].to_numpy()[ridx],
                "r_end": lines["ChargeEndDate"].to_numpy()[ridx],
                "r_bq": bq_f[ridx],
            }
        )
        pairs = refunds.merge(charge_frame, on="sub", how="inner", sort=False)
        covered = (
            (pairs["c_start"] <= pairs["r_start"])
            & (pairs["c_end"] >= pairs["r_end"])
            & (pairs["c_bq"] >= pairs["r_bq"])
        ) | pairs["r_start"].isna()
        matched = set(pairs.loc[covered, "pos"].tolist())
        unmatched = np.array([p for p in ridx if p not in matched], dtype=np.int64)
        findings.add_lines(
            "refund_without_charge",
            unmatched,
            actual=lines["Subtotal"].to_numpy(dtype=object)[unmatched],
            evidence=[
                f"no charge of ≥ {bq_f[p]:g} units covering "
                f"{_fmt_day(lines['ChargeStartDate'].iloc[p])}–{_fmt_day(lines['ChargeEndDate'].iloc[p])} "
                "for this subscription in the lines (or history) given"
                for p in unmatched
            ],
        )

    # --- currency and exchange rates ----------------------------------------------------------------------------
    billing_ccy = _text(lines["Currency"])
    pricing_ccy = _text(lines["PricingCurrency"])
    fx_obj = lines["PCToBCExchangeRate"].to_numpy(dtype=object)
    same_ccy_bad = (pricing_ccy != "") & (pricing_ccy == billing_ccy) & ~np.isnan(fx_f) & (np.abs(fx_f - 1) > 1e-12)
    missing_fx = (pricing_ccy != "") & (np.isnan(fx_f) | (fx_f <= 0)) & ~is_credit
    ev = []
    bad_idx = np.flatnonzero(same_ccy_bad | missing_fx)
    for i in bad_idx:
        if missing_fx[i]:
            ev.append(f"PCToBCExchangeRate is {fx_obj[i]!s} for {pricing_ccy[i]}→{billing_ccy[i]}")
        else:
            ev.append(f"PricingCurrency and Currency are both {billing_ccy[i]} but PCToBCExchangeRate is {fx_obj[i]}")
    findings.add_lines(
        "currency_mismatch", bad_idx, expected=[Decimal(1) if same_ccy_bad[i] else None for i in bad_idx],
        actual=fx_obj[bad_idx], evidence=ev,
    )  # fmt: skip
    # one rate per currency pair and rate date (the most common one is taken as right)
    rate_ok = ~np.isnan(fx_f) & (pricing_ccy != "") & (pricing_ccy != billing_ccy)
    if rate_ok.any():
        rate_date = lines["PCToBCExchangeRateDate"].dt.normalize()
        rate_date = rate_date.where(
            rate_date.notna(),
            lines["OrderDate"].dt.tz_convert(None).dt.to_period("M").dt.start_time.dt.tz_localize("UTC"),
        )
        rates = pd.DataFrame(
            {"pair": pricing_ccy + ">" + billing_ccy, "date": rate_date.to_numpy(), "fx": fx_f, "pos": np.arange(n)}
        )[rate_ok]
        mode = rates.groupby(["pair", "date"], dropna=False)["fx"].agg(lambda s: s.value_counts().index[0])
        rates = rates.join(mode.rename("mode"), on=["pair", "date"])
        off = rates[np.abs(rates["fx"] - rates["mode"]) > float(tol.exchange_rate)]
        pos = off["pos"].to_numpy(dtype=np.int64)
        findings.add_lines(
            "currency_mismatch",
            pos,
            expected=[Decimal(repr(m)) for m in off["mode"]],
            actual=fx_obj[pos],
            evidence=[
                f"{p} rate {fx_obj[i]} differs from {Decimal(repr(m))} on the other lines with rate date {_fmt_day(d)}"
                for p, d, m, i in zip(off["pair"], off["date"], off["mode"], pos, strict=True)
            ],
        )
    # a customer billed in several currencies on one invoice
    per_customer = pd.DataFrame(
        {"inv": _text(lines["InvoiceNumber"]), "cust": _text(lines["CustomerId"]), "ccy": billing_ccy}
    ).drop_duplicates()
    multi = per_customer.groupby(["inv", "cust"])["ccy"].agg(lambda s: sorted(s))
    multi = multi[multi.map(len) > 1]
    rows = []
    for (inv, cust), ccys in multi.items():
        first = np.flatnonzero((_text(lines["CustomerId"]) == cust) & (_text(lines["InvoiceNumber"]) == inv))[0]
        rows.append(
            {
                "Category": "currency_mismatch", "Severity": "error", "CustomerId": cust,
                "CustomerName": lines["CustomerName"].iloc[first], "InvoiceNumber": inv or None,
                "Currency": ", ".join(ccys), "Evidence": f"customer billed in {', '.join(ccys)} on one invoice",
                "SourceFile": str(lines["SourceFile"].iloc[first]), "SourceRow": lines["SourceRow"].iloc[first],
            }
        )  # fmt: skip
    findings.add_rows(rows)

    # --- subscriptions: seats, cancelled, missing, unknown ------------------------------------------------------
    seats_frame = _billed_seats(lines, charge, positive, is_credit, is_usage, sub_id)
    if subs is not None:
        known = set(subs["subscription_id"])
        with_lines = pd.Series(np.arange(n)).groupby(sub_id).first()
        unknown = [int(p) for s, p in with_lines.items() if s and s not in known]
        counts = pd.Series(sub_id).value_counts()
        findings.add_lines(
            "unknown_subscription",
            np.array(unknown, dtype=np.int64),
            evidence=[
                f"{counts[sub_id[p]]} line(s) for subscription {sub_id[p]}, which is not among the subscriptions given"
                for p in unknown
            ],  # fmt: skip
        )
        merged = seats_frame.merge(subs, left_on="sub", right_on="subscription_id", how="inner")
        # seats: active (not cancelled) subscriptions whose billed seats differ from their quantity
        live = merged[~merged["status"].isin(_CANCELLED) & merged["quantity"].notna() & merged["seats"].notna()]
        differs = live[np.array([s != q for s, q in zip(live["seats"], live["quantity"], strict=True)], dtype=bool)]
        findings.add_lines(
            "seat_mismatch",
            differs["last_pos"].to_numpy(dtype=np.int64),
            expected=differs["quantity"].to_numpy(dtype=object),
            actual=differs["seats"].to_numpy(dtype=object),
            difference=[s - q for s, q in zip(differs["seats"], differs["quantity"], strict=True)],
            evidence=[
                f"billed {s} seat(s) (row {r}); subscription quantity {q}"
                for s, r, q in zip(differs["seats"], differs["last_row"], differs["quantity"], strict=True)
            ],  # fmt: skip
        )
        # charges after cancellation
        cancelled = subs[subs["status"].isin(_CANCELLED) & subs["cancelled_at"].notna()]
        if len(cancelled):
            cmap = cancelled.set_index("subscription_id")["cancelled_at"]
            when = pd.Series(sub_id).map(cmap)
            when = pd.to_datetime(when, utc=True)
            day = when.dt.normalize().to_numpy()
            after = (
                positive & ~is_trial & when.notna().to_numpy()
                & ((lines["OrderDate"].dt.normalize().to_numpy() > day)
                   | (lines["ChargeStartDate"].dt.normalize().to_numpy() > day))
            )  # fmt: skip
            pos = np.flatnonzero(after)
            findings.add_lines(
                "charge_after_cancellation",
                pos,
                actual=lines["Subtotal"].to_numpy(dtype=object)[pos],
                evidence=[
                    f"subscription cancelled on {_fmt_day(when.iloc[p])}; {charge[p]} line ordered "
                    f"{_fmt_day(lines['OrderDate'].iloc[p])} for {_fmt_day(lines['ChargeStartDate'].iloc[p])}–"
                    f"{_fmt_day(lines['ChargeEndDate'].iloc[p])}"
                    for p in pos
                ],
            )
        # active subscriptions with no charge in the period
        if period_start is not None:
            findings.add_rows(_missing_charges(subs, set(sub_id), period_start, period_end, price_list))
    variances = findings.frame()

    # --- totals -------------------------------------------------------------------------------------------------
    total_m = np.where(
        lines["Total"].isna().to_numpy(),
        _micros(lines["Subtotal"]) + _micros(lines["TaxTotal"]),
        _micros(lines["Total"]),
    )
    sub_m = _micros(lines["Subtotal"])
    tax_m = _micros(lines["TaxTotal"])
    base = pd.DataFrame(
        {
            "InvoiceNumber": _text(lines["InvoiceNumber"]),
            "CustomerId": _text(lines["CustomerId"]),
            "CustomerName": _text(lines["CustomerName"]),
            "SubscriptionId": sub_id,
            "Currency": billing_ccy,
            "ChargeType": charge,
            "sub_m": sub_m,
            "tax_m": tax_m,
            "total_m": total_m,
            "charges_m": np.where(sub_m > 0, sub_m, 0),
            "refunds_m": np.where(sub_m < 0, sub_m, 0),
        }
    )
    var_by_line = variances[variances["_pos"] >= 0]
    tieout = _tieout(base, normalize_invoices(invoices), tol)
    charge_types = _sums(base, ["Currency", "ChargeType"], {"sub_m": "Subtotal", "total_m": "Total"})
    customers = _sums(
        base,
        ["CustomerId", "Currency"],
        {"charges_m": "Charges", "refunds_m": "Refunds", "sub_m": "Subtotal", "tax_m": "TaxTotal", "total_m": "Total"},
        extra={"CustomerName": ("CustomerName", "first"), "Subscriptions": ("SubscriptionId", "nunique")},
    )
    var_counts_c = variances.groupby(variances["CustomerId"].astype(object).fillna(""))["Category"].size()
    customers["Variances"] = customers["CustomerId"].map(var_counts_c).fillna(0).astype(np.int64)
    customers = customers[
        ["CustomerId", "CustomerName", "Currency", "Subscriptions", "Lines", "Charges", "Refunds", "Subtotal",
         "TaxTotal", "Total", "Variances"]
    ]  # fmt: skip
    subscriptions_out = _sums(
        base,
        ["SubscriptionId", "Currency"],
        {"sub_m": "Subtotal", "total_m": "Total"},
        extra={"CustomerId": ("CustomerId", "first"), "CustomerName": ("CustomerName", "first")},
    )
    info = pd.DataFrame(
        {"SubscriptionId": sub_id, "ProductId": _text(lines["ProductId"]), "SkuId": _text(lines["SkuId"]),
         "SkuName": _text(lines["SkuName"])}
    ).drop_duplicates("SubscriptionId", keep="last")  # fmt: skip
    subscriptions_out = subscriptions_out.merge(info, on="SubscriptionId", how="left")
    subscriptions_out = subscriptions_out.merge(
        seats_frame[["sub", "seats"]].rename(columns={"sub": "SubscriptionId", "seats": "BilledSeats"}),
        on="SubscriptionId",
        how="left",
    )
    if subs is not None:
        subscriptions_out = subscriptions_out.merge(
            subs[["subscription_id", "quantity", "status"]].rename(
                columns={
                    "subscription_id": "SubscriptionId",
                    "quantity": "SubscriptionQuantity",
                    "status": "SubscriptionStatus",
                }  # fmt: skip
            ),
            on="SubscriptionId",
            how="left",
        )
    else:
        subscriptions_out["SubscriptionQuantity"] = None
        subscriptions_out["SubscriptionStatus"] = None
    var_counts_s = variances.groupby(variances["SubscriptionId"].astype(object).fillna(""))["Category"].size()
    subscriptions_out["Variances"] = subscriptions_out["SubscriptionId"].map(var_counts_s).fillna(0).astype(np.int64)
    subscriptions_out = subscriptions_out[
        ["CustomerId", "CustomerName", "SubscriptionId", "ProductId", "SkuId", "SkuName", "Currency", "Lines",
         "BilledSeats", "SubscriptionQuantity", "SubscriptionStatus", "Subtotal", "Total", "Variances"]
    ]  # fmt: skip
    for frame in (customers, subscriptions_out):
        for column in ("CustomerId", "CustomerName", "SubscriptionId", "ProductId", "SkuId", "SkuName", "Currency"):
            if column in frame.columns:
                frame[column] = frame[column].replace("", None)
    counts = variances.groupby("Category").size()
    variance_counts = pd.DataFrame(
        {
            "Category": list(CATEGORIES),
            "Severity": [CATEGORIES[c][0] for c in CATEGORIES],
            "Count": [int(counts.get(c, 0)) for c in CATEGORIES],
            "Meaning": [CATEGORIES[c][1] for c in CATEGORIES],
        }
    )
    annotated = lines
    if len(var_by_line):
        per_line = var_by_line.groupby("_pos")["Category"].agg(lambda s: ", ".join(dict.fromkeys(s)))
        column = np.full(n, None, dtype=object)
        column[per_line.index.to_numpy(dtype=np.int64)] = per_line.to_numpy(dtype=object)
        annotated = lines.assign(Variances=pd.array(column, dtype=STRING))
    else:
        annotated = lines.assign(Variances=pd.array([None] * n, dtype=STRING))
    if price_list is None:
        notes.append("no price list given: unit prices were not checked")
    if subscriptions is None:
        notes.append("no subscriptions given: seats, cancellations and missing charges were not checked")
    return ReconciliationResult(
        period_start=period_start,
        period_end=period_end,
        tieout=tieout,
        customers=customers.reset_index(drop=True),
        subscriptions=subscriptions_out.reset_index(drop=True),
        charge_types=charge_types.reset_index(drop=True),
        variances=variances.drop(columns="_pos"),
        variance_counts=variance_counts,
        lines=annotated,
        notes=notes,
    )


def _fmt_day(value: Any) -> str:
    return "?" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _billed_seats(
    lines: pd.DataFrame,
    charge: np.ndarray,
    positive: np.ndarray,
    is_credit: np.ndarray,
    is_usage: np.ndarray,
    sub_id: np.ndarray,
) -> pd.DataFrame:
    """Billed seats per subscription: the last positive seat line's BillableQuantity, 0 after a final cancel."""
    use = np.isin(charge, list(_SEAT_CHARGES)) & ~is_credit & ~is_usage & (sub_id != "")
    if not use.any():
        return pd.DataFrame(columns=["sub", "seats", "last_pos", "last_row"])
    frame = pd.DataFrame(
        {
            "sub": sub_id[use],
            "date": lines["OrderDate"].to_numpy()[use],
            "start": lines["ChargeStartDate"].to_numpy()[use],
            "row": lines["SourceRow"].to_numpy()[use],
            "pos": np.flatnonzero(use),
            "positive": positive[use],
            "cancel": (charge[use] == "cancelImmediate") & ~positive[use],
            "bq": lines["BillableQuantity"].to_numpy(dtype=object)[use],
        }
    ).sort_values(["sub", "date", "start", "pos"], kind="stable")
    last_positive = frame[frame["positive"]].groupby("sub", sort=False)[["bq", "date"]].last()
    last_any = frame.groupby("sub", sort=False)[["pos", "row", "cancel", "date"]].last()
    joined = last_any.join(last_positive.rename(columns={"bq": "pos_bq", "date": "pos_date"}), how="left")
    out = pd.DataFrame({"sub": joined.index.to_numpy(dtype=object)})
    out["last_pos"] = joined["pos"].to_numpy()
    out["last_row"] = joined["row"].to_numpy()
    seats = joined["pos_bq"].to_numpy(dtype=object)
    cancel_last = joined["cancel"].to_numpy(dtype=bool) & (
        joined["pos_date"].isna().to_numpy() | (joined["date"] >= joined["pos_date"]).to_numpy(dtype=bool)
    )
    seats = np.where(cancel_last, Decimal(0), seats)
    seats = np.array([Decimal(0) if s is None or s != s else s for s in seats], dtype=object)
    out["seats"] = seats
    return out


def _missing_charges(
    subs: pd.DataFrame,
    charged: set[str],
    period_start: pd.Timestamp,
    period_end: pd.Timestamp,
    price_list: pd.DataFrame | None,
) -> list[dict[str, Any]]:
    rows = []
    start = subs["effective_start"].where(subs["effective_start"].notna(), subs["created"])
    for sub, begin in zip(subs.itertuples(index=False), start, strict=True):
        if sub.status != "active" or sub.subscription_id in charged or sub.is_trial:
            continue
        if begin is not None and not pd.isna(begin) and begin > period_end + pd.Timedelta(days=1):
            continue
        began_in_period = (
            begin is not None and not pd.isna(begin) and period_start <= begin <= period_end + pd.Timedelta(days=1)
        )
        plan = sub.billing_cycle or "Monthly"
        due = plan == "Monthly" or began_in_period
        if plan == "Annual" and begin is not None and not pd.isna(begin):
            due = due or begin.month == period_start.month
        if not due:
            continue
        expected = None
        evidence = f"{plan.lower()} billing, status active, quantity {sub.quantity}, no recon line in the period"
        if price_list is not None and sub.product_id and sub.sku_id and sub.term_duration:
            try:
                from cspkit.billing.pricelist import price_in_force

                price = price_in_force(
                    price_list, product_id=sub.product_id, sku_id=sub.sku_id, term_duration=sub.term_duration,
                    billing_plan=plan, currency=getattr(sub, "currency", None) or "USD", on=period_start,
                )  # fmt: skip
            except (ImportError, KeyError, ValueError):
                price = None
            if price is not None and sub.quantity is not None:
                expected = price * sub.quantity
                evidence += f"; expected about {price} × {sub.quantity} = {expected}"
        rows.append(
            {
                "Category": "missing_charge", "Severity": CATEGORIES["missing_charge"][0],
                "CustomerId": sub.customer_id, "SubscriptionId": sub.subscription_id, "ProductId": sub.product_id,
                "SkuId": sub.sku_id, "Expected": expected, "Evidence": evidence,
            }
        )  # fmt: skip
    return rows


def _sums(
    base: pd.DataFrame, keys: list[str], sums: dict[str, str], extra: dict[str, tuple[str, str]] | None = None
) -> pd.DataFrame:
    grouped = base.groupby(keys, sort=True, dropna=False)
    agg: dict[str, Any] = {"Lines": ("sub_m", "size")}
    for column in sums:
        agg[column] = (column, "sum")
    for name, spec in (extra or {}).items():
        agg[name] = spec
    out = grouped.agg(**agg).reset_index()
    for column, name in sums.items():
        out[name] = np.array([_from_micros(v) for v in out[column]], dtype=object)
        out = out.drop(columns=column)
    out["Lines"] = out["Lines"].astype(np.int64)
    return out


def _tieout(base: pd.DataFrame, invoices: pd.DataFrame, tol: Tolerance) -> pd.DataFrame:
    sums = _sums(base, ["InvoiceNumber", "Currency"], {"sub_m": "Subtotal", "tax_m": "TaxTotal", "total_m": "Total"})
    sums["InvoiceTotal"] = None
    if len(invoices):
        by_id = invoices[invoices["InvoiceNumber"].notna()]
        generic = invoices[invoices["InvoiceNumber"].isna()]
        for i, row in sums.iterrows():
            match = by_id[
                (by_id["InvoiceNumber"] == row["InvoiceNumber"]) & (by_id["Currency"].isin([row["Currency"], None]))
            ]
            if not len(match):
                match = generic[generic["Currency"] == row["Currency"]]
            if len(match):
                sums.at[i, "InvoiceTotal"] = match["InvoiceTotal"].iloc[0]
    diff = [None if t is None else s - t for s, t in zip(sums["Total"], sums["InvoiceTotal"], strict=True)]
    sums["Difference"] = np.array(diff, dtype=object)
    sums["Status"] = [
        "no invoice total" if d is None else ("ties" if abs(d) <= tol.tieout else "differs") for d in diff
    ]
    sums["InvoiceNumber"] = sums["InvoiceNumber"].replace("", None)
    return sums[["InvoiceNumber", "Currency", "Lines", "Subtotal", "TaxTotal", "Total", "InvoiceTotal", "Difference",
                 "Status"]]  # fmt: skip


_ = re  # re kept for callers extending the evidence patterns
