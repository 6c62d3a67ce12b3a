"""The reconciliation's totals as exact DECIMAL group-bys of the lines' facts
(:func:`cspkit.billing.engine.checks.facts`): tie-out per invoice and billing currency (billing-formats.md §4.1),
per currency and charge type, per customer and per subscription, in the frames of
:class:`cspkit.billing.reconcile.ReconciliationResult`.

Amounts are summed in exact micro-units: each value truncated toward zero to 6 places (blank as 0), a blank Total
taken as Subtotal + TaxTotal (§2.4); a sum column is ``decimal128(38, 2)`` when every value is whole cents, else
``decimal128(38, 6)``. Groups are ordered by their keys' text (code point order, blanks last).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["amounts", "micro_units", "group_totals", "money_column", "result_totals"]

_DEC0 = "decimal(38, 0)"


def micro_units(value: ir.DecimalValue) -> ir.DecimalValue:
    """A money value in whole micro-units, truncated toward zero (blank as 0), exact ``decimal(38, 0)``."""
    scaled = value * 1_000_000
    whole = ibis.ifelse(scaled >= 0, scaled.floor(), scaled.ceil()).cast(_DEC0)
    return whole.coalesce(ibis.literal(0).cast(_DEC0))


def amounts(f: ir.Table) -> ir.Table:
    """The lines with their micro-unit amounts: sub_m, tax_m, total_m (Total, else Subtotal + TaxTotal), charges_m
    (positive Subtotals) and refunds_m (negative Subtotals). :func:`cspkit.billing.engine.variances.prepare` stores
    them with the facts, so the group-bys only sum."""
    sub_m, tax_m = micro_units(f.Subtotal), micro_units(f.TaxTotal)
    zero = ibis.literal(0).cast(_DEC0)
    return f.mutate(
        sub_m=sub_m,
        tax_m=tax_m,
        total_m=ibis.ifelse(f.Total.isnull(), sub_m + tax_m, micro_units(f.Total)),
        charges_m=ibis.ifelse(sub_m > 0, sub_m, zero),
        refunds_m=ibis.ifelse(sub_m < 0, sub_m, zero),
    )


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
    of line positions ``pos``, one row per finding), ``Variances``. Ordered by ``sort`` (default ``keys``), text
    order with blanks last. Columns as the in-memory engine gives them (object text, int64 counts, Arrow decimals)."""
    a = f if "sub_m" in f.columns else amounts(f)
    metrics: dict[str, Any] = {"Lines": a.count(), "_first": a.pos.min(), "_last": a.pos.max()}
    metrics |= {name: a[column].sum() for column, name in sums.items()}
    metrics |= {name: a[column].nunique() for name, column in (nunique or {}).items()}
    g = a.group_by(keys).aggregate(**metrics)
    for which, columns in (("_first", first or []), ("_last", last or [])):
        if columns:  # the first/last line's values, joined by its position (no per-group state of texts)
            at = a.select(**{f"{which}_pos": a.pos}, **{f"{which}{c}": a[c] for c in columns})
            g = g.join(at, g[which] == at[f"{which}_pos"]).drop(f"{which}_pos")
    if variances is not None:
        hits = variances.join(f.select("pos", *keys), "pos")
        per = hits.group_by(keys).aggregate(Variances=hits.count())
        same = [(g[k] == per[k]) | (g[k].isnull() & per[k].isnull()) for k in keys]
        g = g.left_join(per, same).drop(*(f"{k}_right" for k in keys))
        g = g.mutate(Variances=g.Variances.coalesce(0))
    if seats is not None:
        s = seats.select(_sid="SubscriptionId", _seats="seats")
        g = g.left_join(s, g.SubscriptionId == s._sid).drop("_sid")
    order = [ibis.asc(g[c], nulls_first=False) for c in (sort or keys)]
    table = con.to_pyarrow(g.order_by(order))
    out = pd.DataFrame({k: _objects(table.column(k)) for k in keys})
    out["Lines"] = table.column("Lines").to_numpy().astype(np.int64)
    for name in sums.values():
        out[name] = money_column(table.column(name))
    for which, columns in (("_first", first or []), ("_last", last or [])):
        for c in columns:
            out[c] = _objects(table.column(f"{which}{c}"))
    for name in nunique or {}:
        out[name] = table.column(name).to_numpy().astype(np.int64)
    if variances is not None:
        out["Variances"] = table.column("Variances").to_numpy().astype(np.int64)
    out["_first"] = table.column("_first").to_numpy()
    if seats is not None:
        out["_seats"] = pd.arrays.ArrowExtensionArray(table.column("_seats").combine_chunks())
    return out


def _objects(column: pa.ChunkedArray) -> pd.Series:
    """An Arrow column → object Series (None for null) holding one Python object per distinct value, shared by its
    rows: a customer's name or a currency repeated on 600,000 subscription rows is one str, not 600,000."""
    encoded = column.combine_chunks().dictionary_encode()
    distinct = np.empty(len(encoded.dictionary) + 1, dtype=object)
    distinct[:-1] = encoded.dictionary.to_numpy(zero_copy_only=False)
    distinct[-1] = None
    indices = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return pd.Series(distinct[indices], dtype=object)


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
    from ``subs``). ``variances``: the variance rows with ``_pos`` (the line, -1 when none); ``seats``: the
    billed seats already stored (:func:`cspkit.billing.engine.variances.stored_seats`), computed when None; they are
    joined to the subscriptions by the engine (no per-subscription index in pandas)."""
    from cspkit.billing.engine.checks import billed_seats
    from cspkit.billing.engine.relations import plain as _plain

    placed = variances["_pos"].to_numpy(dtype=np.int64)
    var = ibis.memtable(pa.table({"pos": pa.array(placed[placed >= 0], pa.int64())}))
    sums = {"sub_m": "Subtotal", "tax_m": "TaxTotal", "total_m": "Total"}
    tieout = group_totals(con, f, ["InvoiceNumber", "Currency"], sums)
    charge_types = group_totals(con, f, ["Currency", "ChargeType"], {"sub_m": "Subtotal", "total_m": "Total"})
    customers = group_totals(
        con, f, ["CustomerId", "Currency"], {"charges_m": "Charges", "refunds_m": "Refunds", **sums},
        first=["CustomerName"], nunique={"Subscriptions": "SubscriptionId"}, variances=var,
    )  # fmt: skip
    unplaced = variances[variances["_pos"] < 0]["CustomerId"].dropna().value_counts()
    extra = customers["CustomerId"].map(unplaced).fillna(0).to_numpy(dtype=np.int64)
    customers["Variances"] = customers["Variances"].to_numpy() + extra
    subscriptions = group_totals(
        con, f, ["SubscriptionId", "Currency"], {"sub_m": "Subtotal", "total_m": "Total"},
        first=["CustomerId", "CustomerName", "sub_row"], last=["ProductId", "SkuId", "SkuName"], variances=var,
        sort=["_firstCustomerName", "_firstCustomerId", "SubscriptionId", "Currency"],
        seats=billed_seats(f) if seats is None else seats,
    )  # fmt: skip
    seat_counts = pa.array(subscriptions.pop("_seats").array)
    seat_counts = seat_counts.combine_chunks() if isinstance(seat_counts, pa.ChunkedArray) else seat_counts
    encoded = seat_counts.dictionary_encode()  # one Decimal per distinct seat count
    shown = np.array([_plain(v) for v in encoded.dictionary.to_pylist()] + [None], dtype=object)
    indices = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    subscriptions["BilledSeats"] = pd.Series(shown[indices], dtype=object)
    rows = pd.to_numeric(subscriptions.pop("sub_row")).fillna(-1).to_numpy(dtype=np.int64)
    for name, column in (("SubscriptionQuantity", "quantity"), ("SubscriptionStatus", "status")):
        values = subs[column].to_numpy(dtype=object) if subs is not None else np.zeros(0, dtype=object)
        subscriptions[name] = pd.Series(np.append(values, None)[rows], dtype=object)
    return {"tieout": tieout, "charge_types": charge_types, "customers": customers, "subscriptions": subscriptions}
