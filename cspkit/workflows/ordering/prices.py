"""Prices for order plans and catalog listings, fetched through the price-sheet API and cached for the month.

Partner Center publishes one price list per market and month ("Get a price sheet", billing-formats.md §1.5;
Microsoft Learn ``get-a-price-sheet``): the new-commerce licence-based view (``updatedlicensebased``) and the
marketplace view (SaaS). :class:`PriceSheetSource` fetches both for a customer's market through
:class:`cspkit.resources.pricesheets.PriceSheets` — on real Partner Center as on the emulator — so a plan is priced
without ``--price-list``. Files are cached under ``$CSPKIT_HOME/pricesheets`` (:func:`~cspkit.resources.pricesheets.
default_cache_dir`), readable by the owner only (mode 0600), one file per market, view and month: a new month
downloads the new list (the monthly refresh), the same month reuses the file.

A sheet that cannot be fetched (no permission for the price-sheet API, network down, a market without a list)
leaves prices unknown — the plan still works — and :attr:`PriceSheetSource.problems` says why, once per market.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cspkit.errors import CspkitError

__all__ = ["PRICE_VIEWS", "PriceSheetSource", "owner_only", "term_prices"]

#: The views a plan may need: new commerce (licence-based, software) and marketplace (SaaS).
PRICE_VIEWS = ("updatedlicensebased", "marketplace")


def owner_only(path: Path) -> Path:
    """Make ``path`` readable and writable by its owner only (0600); returns it."""
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)
    return path


class PriceSheetSource:
    """Price lists per market through the price-sheet API, cached on disk for the month and in memory per run.

    Args:
        pricesheets: a :class:`~cspkit.resources.pricesheets.PriceSheets` (``pc.pricesheets``).
        clock: the service's time (an emulator's virtual clock); its UTC month picks the list. Default this
            machine's UTC time.
        views: which views to fetch (default :data:`PRICE_VIEWS`).

    Calling the source with a market (``source("US")``) returns one price-list frame
    (:func:`cspkit.billing.pricelist.read_price_list` columns) holding every view that could be fetched, or None.
    Thread-safe: a batch's workers share one source and each market is fetched once.
    """

    def __init__(self, pricesheets: Any, *, clock: Callable[[], datetime] | None = None,
                 views: tuple[str, ...] = PRICE_VIEWS) -> None:
        self.pricesheets = pricesheets
        self.clock = clock or (lambda: datetime.now(UTC))
        self.views = views
        #: market → why its prices are unknown (or partly unknown), e.g. ``"US updatedlicensebased: HTTP 403 ..."``
        self.problems: dict[str, str] = {}
        #: market → the cached files the prices came from
        self.files: dict[str, list[Path]] = {}
        self._frames: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def month(self) -> str:
        """The list's month ``YYYYMM`` (the service's current UTC month)."""
        return self.clock().astimezone(UTC).strftime("%Y%m")

    def __call__(self, market: str) -> Any:
        from cspkit.workflows.reconciliation import read_price_lists

        market = (market or "").strip().upper()
        month = self.month()
        with self._lock:
            if (market, month) in self._frames:
                return self._frames[(market, month)]
            files, problems = [], []
            for view in self.views:
                try:
                    files.append(owner_only(self.pricesheets.get(market, view, "current", month)))
                except (CspkitError, ValueError, OSError) as exc:
                    problems.append(f"{view}: {exc}")
            frame = None
            if files:
                try:
                    frame = read_price_lists(files)
                except (CspkitError, ValueError) as exc:
                    problems.append(f"reading {', '.join(map(str, files))}: {exc}")
            if problems:
                self.problems[market] = f"price sheet {market} {month}: " + "; ".join(problems)
            self.files[market] = files
            self._frames[(market, month)] = frame
            return frame


def term_prices(price_list: Any, availability: Any, *, currency: str | None = None,
                on: datetime | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """One seat's price for each term of ``availability`` (:class:`cspkit.models.catalog.Availability`), under
    Microsoft's term-price rule (:func:`cspkit.billing.pricelist_margins.preview_cart_cost`; Microsoft Learn "New
    commerce license-based pricing and offers").

    Returns:
        ``(term duration, billing cycle)`` → ``{"term_price", "billing_periods", "period_price", "currency"}``
        (Decimal money in ``currency``) for the terms with a price in force on ``on`` (default now); terms
        without a price are left out, as is everything when ``price_list`` is None.
    """
    if price_list is None or not availability.terms:
        return {}
    from cspkit.billing.pricelist_analysis import preview_cart_cost

    item = availability.resolved_catalog_item_id
    if not item:
        return {}
    currency = currency or (availability.default_currency.code if availability.default_currency else None) or "USD"
    keys = [(t.duration, t.billing_cycle) for t in availability.terms if t.duration and t.billing_cycle]
    try:
        frame = preview_cart_cost(price_list, [{"catalog_item_id": item, "quantity": 1, "term_duration": d,
                                                "billing_cycle": b, "currency": currency} for d, b in keys], on=on)
    except (ValueError, KeyError):
        return {}
    prices = {}
    for key, row in zip(keys, frame.to_dict("records"), strict=True):
        if bool(row["PriceFound"]):
            prices[key] = {"term_price": row["TermPrice"], "billing_periods": int(row["BillingPeriods"]),
                           "period_price": row["PeriodPrice"], "currency": row["Currency"] or currency}
    return prices
