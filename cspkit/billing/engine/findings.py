"""Variance rows of the price, proration, exchange-rate, seat and missing-charge checks
(:mod:`cspkit.billing.engine.prices`, :mod:`cspkit.billing.engine.checks`) with the engine's evidence texts. Every
screened candidate (the proration screen is exact, with a rounding margin) is confirmed here with
:class:`~decimal.Decimal` arithmetic (billing-formats.md §2.4);
the price list is read by :func:`cspkit.billing.pricelist.lookup_price_rows`, once per distinct query."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cspkit.billing.engine import checks, prices
from cspkit.billing.pricing import CENT, billing_periods, divided_term_price
from cspkit.billing.recon_readers import MONEY_ARROW

__all__ = ["start_price_answers", "unit_prices", "prorations", "rate_outliers", "seats", "missing_charges"]

Found = list[tuple[str, int, dict[str, Any]]]
#: one background thread for the price answers (:func:`start_price_answers`)
_PRICING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cspkit-price-answers")
_MICRO = Decimal("0.000001")
_FINEST = Decimal(1).scaleb(-15)
_LARGEST = Decimal(10) ** 22  # decimal(38, 15) holds 23 integer digits


def _rows(con: Any, expr: Any) -> list[dict[str, Any]]:
    from cspkit.billing.engine.relations import rows

    return rows(con, expr)


def _plain(value: Any, column: str = "") -> Any:
    from cspkit.billing.engine.relations import plain

    return plain(value, column)


def _day(value: Any) -> str:
    return "?" if value is None or value != value else pd.Timestamp(value).strftime("%Y-%m-%d")


def _periods(term: str, plan: str) -> int:
    try:
        return billing_periods(term, plan)
    except ValueError:
        return 0


def _answers(queries: pd.DataFrame, price_list: pd.DataFrame) -> tuple[pa.Table, dict[tuple[int, int], Any]]:
    """Each query's price row (-1: none), billing periods and period prices (exact, when it ends within 15 places,
    and half-up to the cent), as an Arrow table to join; and the term price, exact and cent quotient per (row,
    periods). The price list is searched once per distinct key, the periods decided once per distinct term and plan,
    the quotients made once per distinct (row, periods)."""
    from cspkit.billing.pricelist import lookup_price_rows

    keys = ["ProductId", "SkuId", "TermDuration", "BillingPlan", "Currency"]
    key_codes = queries.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if len(queries) else None
    rows = lookup_price_rows(price_list, queries, key_codes=key_codes) if len(queries) else np.zeros(0, np.int64)
    term_prices = np.asarray(price_list["UnitPrice"].to_numpy(dtype=object), dtype=object)
    if len(term_prices):
        rows = np.where((rows >= 0) & pd.notna(term_prices[np.maximum(rows, 0)]), rows, -1)
    plans = queries.groupby(["TermDuration", "BillingPlan"], sort=False, dropna=False)
    pair_code = plans.ngroup().to_numpy()
    firsts = plans.head(1)
    per_pair = np.array([_periods(t, p) for t, p in zip(firsts["TermDuration"], firsts["BillingPlan"], strict=True)]
                        + [0], dtype=np.int64)  # fmt: skip
    periods = per_pair[pair_code] if len(queries) else np.zeros(0, np.int64)
    usable = (rows >= 0) & (periods > 0)
    combined = pd.Series(np.where(usable, rows * (int(pair_code.max(initial=0)) + 1) + pair_code, -1))
    codes, distinct = pd.factorize(combined)
    quotients: dict[tuple[int, int], Any] = {}
    exact_of, cent_of = np.full(len(distinct), None, dtype=object), np.full(len(distinct), None, dtype=object)
    first_of = np.full(len(distinct), -1, dtype=np.int64)
    first_of[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    usable_at, row_at, periods_at = usable.tolist(), rows.tolist(), periods.tolist()  # Python ints: no boxing per use
    for j, i in enumerate(first_of.tolist()):
        if not usable_at[i]:
            continue
        row, k = row_at[i], periods_at[i]
        term_price = term_prices[row]
        exact = divided_term_price(term_price, k)  # k: billing_periods(term, plan), decided once per pair
        cent = exact.quantize(CENT, rounding=ROUND_HALF_UP)
        quotients[(row, k)] = (term_price, exact, cent)
        finest = exact.quantize(_FINEST)
        exact_of[j], cent_of[j] = (finest if exact == finest and abs(exact) < _LARGEST else None), cent
    table = pa.Table.from_pandas(queries, preserve_index=False).append_column("price_row", pa.array(rows, pa.int64()))
    table = table.append_column("periods", pa.array(periods, pa.int64()))
    at = pa.array(codes)  # each query's (row, periods): the distinct values made Arrow decimals once, then taken
    table = table.append_column("exact", pa.array(exact_of, MONEY_ARROW).take(at))
    return table.append_column("cent", pa.array(cent_of, MONEY_ARROW).take(at)), quotients


def start_price_answers(con: Any, t: Any, price_list: pd.DataFrame) -> Future[tuple[pa.Table, dict[Any, Any]]]:
    """The price-list answers of :func:`unit_prices` (:func:`_answers` of the distinct
    :func:`~cspkit.billing.engine.prices.price_queries`), computed in a background thread: the queries are read from
    the engine here, the price list is searched and the period prices divided in Python while the caller runs the
    other checks on the engine (which leaves the interpreter free while it executes). The future raises what
    :func:`_answers` raises."""
    queries = con.to_pyarrow(prices.price_queries(t)).to_pandas()
    return _PRICING.submit(_answers, queries, price_list)


def unit_prices(con: Any, t: Any, price_list: pd.DataFrame, tol: Any,
                answering: Future[tuple[pa.Table, dict[Any, Any]]] | None = None) -> Found:  # fmt: skip
    """price_not_found (no row in force, or a term and plan without billing periods) and unit_price_mismatch
    (UnitPrice equals neither the term price ÷ billing periods nor its half-up cent rounding, give or take
    ``tol.unit_price``; billing-formats.md §1.5, §4.3, :func:`cspkit.billing.pricing.period_price_matches`).
    ``answering``: the answers already started by :func:`start_price_answers` (started here when None)."""
    import ibis

    answers, quotients = (answering or start_price_answers(con, t, price_list)).result()
    out: Found = []
    for r in _rows(con, prices.unit_price_lines(t, ibis.memtable(answers))):
        v, term, plan = _plain(r["UnitPrice"], "UnitPrice"), r["term"], r["plan"]
        if r["price_row"] < 0:
            text = (f"no price-list row for {r['product']}:{r['sku']} {term}/{plan} {r['ccy']} "
                    f"on {_day(r['OrderDate'])}")  # fmt: skip
            out.append(("price_not_found", r["pos"], {"Actual": v, "Evidence": text}))
            continue
        if r["periods"] == 0:
            text = (f"{term} billed {str(plan).lower()} makes no billing period (billing_periods); "
                    "the unit price was not checked")  # fmt: skip
            out.append(("price_not_found", r["pos"], {"Actual": v, "Evidence": text}))
            continue
        term_price, exact, cent = quotients[(r["price_row"], r["periods"])]
        if min(abs(v - exact), abs(v - cent)) <= tol.unit_price:
            continue
        shown = exact if exact == exact.quantize(_MICRO) else cent
        promo = r["PromotionId"]
        from cspkit.billing.recon_shared import division_evidence as _division

        text = (f"price list {term}/{plan} {r['ccy']} on {_day(r['OrderDate'])}: "
                f"{_division(term_price, int(r['periods']), exact, cent)}; line: {v}"
                + (f"; promotion {promo}" if promo else ""))  # fmt: skip
        out.append(
            (
                "unit_price_mismatch",
                r["pos"],
                {
                    "Expected": shown,
                    "Actual": v,
                    "Difference": v - shown,
                    "Severity": "info" if promo else "error",
                    "Evidence": text,
                },
            )
        )
    return out


def prorations(con: Any, t: Any, tol: Any) -> Found:
    """proration_mismatch (§2.4): the candidates of :func:`~cspkit.billing.engine.prices.proration_candidates`
    confirmed in Decimal: ``| |EffectiveUnitPrice| − UnitPrice ÷ cycle days × billed days | > tol.per_unit``."""
    out: Found = []
    for r in _rows(con, prices.proration_candidates(t, tol.per_unit)):
        up, c, d = _plain(r["UnitPrice"], "UnitPrice"), int(r["cycle_days"]), int(r["billed_days"])
        expected = up / c * d
        actual = abs(_plain(r["EffectiveUnitPrice"], "EffectiveUnitPrice"))
        diff = actual - expected
        if abs(diff) > tol.per_unit:
            shown = expected.quantize(_MICRO)
            out.append(
                (
                    "proration_mismatch",
                    r["pos"],
                    {
                        "Expected": shown,
                        "Actual": actual,
                        "Difference": diff.quantize(_MICRO),
                        "Evidence": f"{up} / {c} cycle days × {d} billed days = {shown}; "
                        f"|EffectiveUnitPrice| = {actual}",
                    },
                )
            )
    return out


def rate_outliers(con: Any, f: Any, tol: Any) -> Found:
    """currency_mismatch (§4.6): a rate further than ``tol.exchange_rate`` from the most common rate of its currency
    pair and rate date (:func:`cspkit.billing.engine.checks.rate_outliers`); the expected rate shown is that one."""
    out: Found = []
    for r in _rows(con, checks.rate_outliers(f)):
        fx, mode = _plain(r["PCToBCExchangeRate"]), float(r["mode"])
        if abs(float(r["PCToBCExchangeRate"]) - mode) > float(tol.exchange_rate):
            shown = Decimal(repr(mode))
            out.append(("currency_mismatch", r["pos"], {
                "Expected": shown, "Actual": fx,
                "Evidence": f"{r['pair']} rate {fx} differs from {shown} on the other lines with rate date "
                            f"{_day(r['rate_day'])}"}))  # fmt: skip
    return out


def seats(con: Any, f: Any, sub_tab: Any, subs: pd.DataFrame, billed: Any = None) -> Found:
    """seat_mismatch (§4.4): billed seats (``billed``: :func:`cspkit.billing.engine.checks.billed_seats`, computed
    when None) against the subscription's quantity, on the subscription's last seat line."""
    out: Found = []
    quantity = subs["quantity"].to_numpy(dtype=object)
    for r in _rows(con, checks.seat_mismatches(f, sub_tab, billed)):
        billed, wanted = _plain(r["seats"]), quantity[r["sub_row"]]
        out.append(
            (
                "seat_mismatch",
                r["pos"],
                {
                    "Expected": wanted,
                    "Actual": billed,
                    "Difference": billed - wanted,
                    "Evidence": f"billed {billed} seat(s) (row {r['last_row']}); subscription quantity {wanted}",
                },
            )
        )
    return out


def missing_charges(con: Any, f: Any, sub_tab: Any, subs: pd.DataFrame, period: tuple[Any, Any],
                    price_list: pd.DataFrame | None) -> Found:  # fmt: skip
    """missing_charge (§4): the subscriptions of :func:`cspkit.billing.engine.checks.uncharged_subscriptions`, with
    the expected charge from the price list and the customer's name from the lines."""
    from cspkit.billing.recon_shared import missing_charge_rows as _missing_charge_rows

    todo = con.to_pyarrow(checks.uncharged_subscriptions(f, sub_tab, *period).select("sub_row", "plan"))
    if not todo.num_rows:
        return []
    picked = subs.iloc[todo.column("sub_row").to_numpy()]
    rows = _missing_charge_rows(picked, todo.column("plan").to_numpy(zero_copy_only=False).astype(object), period[0],
                                price_list)  # fmt: skip
    names = dict(con.to_pyarrow(checks.customer_names(f)).to_pandas().itertuples(index=False))
    return [("missing_charge", -1, {**row, "CustomerName": names.get(row["CustomerId"])}) for row in rows]
