"""Emulated price sheets: the seeded catalog as a new-commerce or marketplace price list.

Route (same path as Partner Center's price-sheet API, served on the emulator's own host)::

    GET /v1.0/sales/pricesheets(Market='{cc}',PricesheetView='{view}')/$value?timeline=current|history|future
        &month=YYYYMM

* views ``updatedlicensebased`` (the catalog's ``OnlineServicesNCE`` products) and ``marketplace`` (its
  ``Azure``/``SaaS`` products); other documented views (``azure_consumption``, ``azure_reservations``,
  ``software``) answer an empty list with the header only; unknown views 400;
* market = a catalog market country (US → USD rows, DE → EUR rows); unknown market 404;
* no ``future`` timeline for marketplace (400, as documented); ``future`` adds the preview file's
  ``EndofSaleDate`` column;
* ``Accept-Encoding: deflate`` answers the CSV zipped (``application/zip``) as the real service does;
  otherwise ``text/csv``.

Body: the quoted header of billing-formats.md §1.5 (18 columns + ``Segment``), one row per SKU term, prices from
the catalog (``UnitPrice`` and ``ERP Price`` are **term prices** for every billing plan, as in Microsoft's price
lists: a P1Y/Monthly row carries the price of the year, billed one-twelfth a month; billing-formats.md §1.5),
dates in the API sample's style
``1/1/2026 12:00:00 AM`` and ``11/30/9999 11:59:59 PM`` for the open end. Errors use Partner Center's error body.

The backend operation :meth:`Backend.price_sheet <cspkit.emulator.backend.Backend.price_sheet>` reads its catalog
as plain data (shape: sample_data/README.md); the route is :mod:`cspkit.emulator.handlers.pricesheets`. This module
shares no code with the client's reader on purpose.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

from cspkit.emulator.models import EmulatorError
from cspkit.wire import PRICE_LIST_HEADER, PRICE_SHEET_VIEWS

__all__ = ["HEADER", "VIEWS", "price_sheet", "render_price_sheet"]

HEADER = list(PRICE_LIST_HEADER)
VIEWS = PRICE_SHEET_VIEWS
_PLAN = {"monthly": "Monthly", "annual": "Annual", "triennial": "Triennial", "none": "None", "one_time": "None"}
_OPEN_END = "11/30/9999 11:59:59 PM"


def _us_date(value: datetime) -> str:
    hour = value.hour % 12 or 12
    half = "AM" if value.hour < 12 else "PM"
    return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d}:{value.second:02d} {half}"


def _parse_start(text: str | None) -> datetime:
    if not text:
        return datetime(2026, 1, 1, tzinfo=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _is_saas(product: dict[str, Any]) -> bool:
    product_type = product.get("productType") or {}
    return product_type.get("id") == "Azure" and (product_type.get("subType") or {}).get("id") == "SaaS"


def render_price_sheet(
    catalog: dict[str, Any],
    *,
    market: str,
    view: str,
    timeline: str = "current",
    date_style: str = "us",
) -> str:
    """The CSV text of a price sheet built from a catalog seed document.

    Args:
        catalog: the seed (``{"markets": [...], "products": [...], "effectiveStartDate", "segment"}``).
        market: ISO 3166 country of one of the catalog's markets.
        view: ``updatedlicensebased`` or ``marketplace`` (other documented views give a header-only file).
        timeline: ``current``/``history`` (same rows) or ``future`` (adds the ``EndofSaleDate`` column).
        date_style: ``"us"`` (``1/1/2026 12:00:00 AM``, the API sample) or ``"iso"``
            (``2026-01-01T00:00:00.0000000Z``, the portal doc text).

    Returns:
        CSV text (every field quoted, CRLF line ends) with the header of billing-formats.md §1.5 plus Segment.

    Raises:
        KeyError: the market is not in the catalog.
    """
    markets = {m["country"].upper(): m for m in catalog.get("markets", [])}
    entry = markets[market.upper()]
    currency = entry["currency"]
    start = _parse_start(catalog.get("effectiveStartDate"))
    if date_style == "iso":
        start_text = start.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        end_text = "9999-11-30T23:59:59.9999999Z"
    else:
        start_text, end_text = _us_date(start), _OPEN_END
    segment = str(catalog.get("segment") or "commercial").capitalize()
    header = list(HEADER)
    preview = timeline.lower() == "future"
    if preview:
        header.insert(header.index("Tags"), "EndofSaleDate")
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(header)
    for product in catalog.get("products", []):
        saas = _is_saas(product)
        if view.lower() == "updatedlicensebased":
            wanted = (product.get("productType") or {}).get("id") == "OnlineServicesNCE"
        elif view.lower() == "marketplace":
            wanted = saas
        else:
            wanted = False
        if not wanted:
            continue
        for sku in product.get("skus", []):
            for term in sku.get("terms", []):
                price = (term.get("prices") or {}).get(currency)
                if price is None:
                    continue
                row = {
                    "ProductTitle": product.get("title", ""),
                    "ProductId": product["id"],
                    "SkuId": sku["id"],
                    "SkuTitle": sku.get("title", ""),
                    "Publisher": product.get("publisherName", ""),
                    "SkuDescription": sku.get("description", ""),
                    "UnitOfMeasure": "",
                    "TermDuration": term["duration"],
                    "BillingPlan": _PLAN.get(str(term.get("billingCycle", "")).lower(), "None"),
                    "Market": entry["country"].upper(),
                    "Currency": currency,
                    "UnitPrice": price["unitPrice"],
                    "PricingTierRangeMin": "",
                    "PricingTierRangeMax": "",
                    "EffectiveStartDate": start_text,
                    "EffectiveEndDate": end_text,
                    "EndofSaleDate": "",
                    "Tags": "; ".join(sku.get("tags") or (["SaaS"] if saas else ["License"])),
                    "ERP Price": price.get("erpPrice", ""),
                    "Segment": segment,
                }
                writer.writerow([row[h] for h in header])
    return out.getvalue()


def price_sheet(catalog: dict[str, Any], *, market: str, view: str, timeline: str = "current",
                month: str | None = None) -> str:
    """The price sheet the API serves for a market, view, timeline and month: :func:`render_price_sheet` after the
    route's checks.

    Raises:
        EmulatorError: 400 for an unknown view, timeline, a ``future`` timeline of the marketplace or software
            view, or a month not ``YYYYMM``; 404 for a market not in the catalog.
    """
    view, timeline = view.lower(), timeline.lower()
    if view not in VIEWS:
        raise EmulatorError(400, "400", f"Unknown PricesheetView '{view}'. Use one of: {', '.join(VIEWS)}.")
    if timeline not in ("current", "history", "future"):
        raise EmulatorError(400, "400", "timeline must be current, history or future.")
    if timeline == "future" and view in ("marketplace", "software"):
        raise EmulatorError(400, "400", f"No future timeline for the {view} view.")
    if month is not None and not re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", month):
        raise EmulatorError(400, "400", "month must be YYYYMM.")
    try:
        return render_price_sheet(catalog, market=market, view=view, timeline=timeline)
    except KeyError:
        raise EmulatorError(404, "404", f"Market '{market}' is not available.") from None
