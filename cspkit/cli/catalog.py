"""``cspkit catalog``: products → SKUs → availabilities (``cspkit customers`` is in :mod:`cspkit.cli.customers`)."""

from __future__ import annotations

from typing import Any

import click

from cspkit.cli.context import ordering_context
from cspkit.cli.output import emit, note

COUNTRY_HELP = "ISO 3166 two-letter country of the catalog, e.g. US."

__all__ = ["catalog_group"]


# =====================================================================================================================
# catalog
# =====================================================================================================================
@click.group("catalog")
def catalog_group() -> None:
    """Products → SKUs → availabilities of one country."""


@catalog_group.command("products")
@click.option("--country", required=True, help=COUNTRY_HELP)
@click.option("--target-view", default="OnlineServices", show_default=True,
              help="Catalog view of Partner Center's product listing (targetView), e.g. --target-view Azure "
                   "for marketplace and Azure products.")
@click.option("--segment", "target_segment", type=click.Choice(["commercial", "education", "government",
                                                                "nonprofit"], case_sensitive=False),
              help="Only products for this customer segment (targetSegment), e.g. --segment education.")
@click.option("--saas", is_flag=True, help="Only marketplace SaaS products (productType Azure / subType SaaS).")
@click.pass_obj
def catalog_products(state: Any, country: str, target_view: str, target_segment: str | None, saas: bool) -> None:
    """List products."""
    products = ordering_context(state).pc.catalog.products(country=country.upper(), target_view=target_view,
                                               target_segment=target_segment)
    if saas:
        products = [p for p in products if p.is_saas]
    rows = [{"id": p.id, "title": p.title, "product_type": p.product_type_id,
             "sub_type": p.product_type.sub_type.id if p.product_type and p.product_type.sub_type else None,
             "saas": p.is_saas, "publisher": p.publisher_name} for p in products]
    emit(rows, columns=["id", "title", "product_type", "sub_type", "saas", "publisher"], fmt=state.output,
         wire=products, title=f"Products ({country.upper()}, {target_view})")


@catalog_group.command("skus")
@click.argument("product_id")
@click.option("--country", required=True, help=COUNTRY_HELP)
@click.pass_obj
def catalog_skus(state: Any, product_id: str, country: str) -> None:
    """List the SKUs of a product."""
    skus = ordering_context(state).pc.catalog.skus(product_id, country=country.upper())
    rows = [{"id": s.id, "product_id": s.product_id or product_id, "title": s.title,
             "minimum_quantity": s.minimum_quantity, "maximum_quantity": s.maximum_quantity, "trial": s.is_trial,
             "addon": s.is_addon, "billing_cycles": " ".join(s.supported_billing_cycles or [])} for s in skus]
    emit(rows, columns=["id", "product_id", "title", "minimum_quantity", "maximum_quantity", "trial", "addon",
                        "billing_cycles"], fmt=state.output, wire=skus, title=f"SKUs of {product_id}")


@catalog_group.command("availabilities")
@click.argument("product_id")
@click.argument("sku_id")
@click.option("--country", required=True, help=COUNTRY_HELP)
@click.pass_obj
def catalog_availabilities(state: Any, product_id: str, sku_id: str, country: str) -> None:
    """List the availabilities of a SKU, one row per term: duration, billing cycle, the price of one seat (for the
    whole term and per billing period, from the market's price sheet) and the cancellation policy."""
    from cspkit.workflows.ordering.plan import describe_policy
    from cspkit.workflows.ordering.prices import PriceSheetSource, term_prices

    ctx = ordering_context(state)
    market = country.upper()
    availabilities = ctx.pc.catalog.availabilities(product_id, sku_id, country=market)
    clock = ctx.clock()
    source = PriceSheetSource(ctx.pc.pricesheets, clock=clock)
    price_list = source(market) if availabilities else None
    on = clock() if clock else None
    rows = []
    for a in availabilities:
        prices = term_prices(price_list, a, on=on)
        currency = a.default_currency.code if a.default_currency else None
        for t in a.terms or [None]:
            price = prices.get((t.duration, t.billing_cycle), {}) if t else {}
            money = price.get("currency") or currency
            rows.append({
                "id": a.id, "catalog_item_id": a.resolved_catalog_item_id,
                "term_duration": t.duration if t else None, "billing_cycle": t.billing_cycle if t else None,
                "term_price": _money(price.get("term_price"), money),
                "period_price": _money(price.get("period_price"), money),
                "billing_periods": price.get("billing_periods"), "currency": currency,
                "cancellation": (describe_policy(t) or "no refund window") if t else None,
                "purchasable": a.is_purchasable, "segment": a.segment,
            })
    emit(rows, columns=["id", "catalog_item_id", "term_duration", "billing_cycle", "term_price", "period_price",
                        "billing_periods", "currency", "cancellation", "purchasable", "segment"], fmt=state.output,
         wire=availabilities, title=f"Availabilities of {product_id}:{sku_id} ({market})")
    if availabilities and source.problems.get(market):
        note(f"Prices unknown: {source.problems[market]}")


@catalog_group.command("promotions")
@click.option("--country", required=True, help=COUNTRY_HELP)
@click.option("--segment", "segment_name", type=click.Choice(["commercial"], case_sensitive=False),
              default="commercial", show_default=True,
              help="Customer segment of the promotions (Partner Center supports commercial only), "
                   "e.g. --segment commercial.")
@click.pass_obj
def catalog_promotions(state: Any, country: str, segment_name: str) -> None:
    """List the new-commerce promotions in force for a market: one row per product, SKU and term, with the
    discount (buy with `cspkit order place --promotion ID`)."""
    market = country.upper()
    promotions = ordering_context(state).pc.promotions.list(country=market, segment_name=segment_name)
    rows = []
    for p in promotions:
        for req in p.required_products or [None]:
            policy = req.pricing_policies[0] if req and req.pricing_policies else None
            off = policy.percent_off if policy else None
            rows.append({
                "id": p.id, "name": p.name, "product_id": req.product_id if req else None,
                "sku_id": req.sku_id if req else None,
                "term_duration": req.term.duration if req and req.term else None,
                "billing_cycle": str(req.term.billing_cycle) if req and req.term and req.term.billing_cycle else None,
                "discount": f"{format((off * 100).normalize(), 'f')}% off" if off is not None else
                (f"{policy.policy_type} {policy.value}" if policy else None),
                "start": p.start_date.date().isoformat() if p.start_date else None,
                "end": p.end_date.date().isoformat() if p.end_date else None,
                "auto_applied": p.properties.is_auto_applicable if p.properties else None,
            })
    emit(rows, columns=["id", "name", "product_id", "sku_id", "term_duration", "billing_cycle", "discount", "start",
                        "end", "auto_applied"], fmt=state.output, wire=promotions,
         title=f"Promotions ({market}, {segment_name.lower()})")
    if not promotions:
        note(f"No promotion is in force for {market} ({segment_name.lower()}) now.")


def _money(value: Any, currency: str | None) -> str | None:
    """``Decimal("72.00"), "USD"`` → ``"72.00 USD"``; None → None (no price in force, or no price sheet)."""
    if value is None:
        return None
    return f"{value:.2f} {currency}" if currency else f"{value:.2f}"
