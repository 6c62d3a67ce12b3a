"""Subscriptions and invoice totals as the reconciliation engine reads them: ledger/API records or frames in any
name style → :data:`SUBSCRIPTION_COLUMNS`; invoice totals → InvoiceNumber × Currency × InvoiceTotal.

Split from :mod:`cspkit.billing.reconcile` (which re-exports :func:`normalize_subscriptions` and
:func:`normalize_invoices`); field names follow partner-center-api.md §4 (subscriptions) and §6.1 (invoices).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from cspkit.billing.recon_columns import normalize_header
from cspkit.billing.recon_readers import _lower, _upper
from cspkit.billing.recon_shared import arrow_text as _arrow_text
from cspkit.billing.recon_shared import distinct as _distinct
from cspkit.billing.recon_shared import to_utc as _to_utc

__all__ = ["SUBSCRIPTION_COLUMNS", "normalize_invoices", "normalize_subscriptions"]


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
