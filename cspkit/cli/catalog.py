"""``cspkit customers`` and ``cspkit catalog``: the partner's customers; products → SKUs → availabilities."""

from __future__ import annotations

from typing import Any

import click

from cspkit.cli.context import ordering_context
from cspkit.cli.output import emit

COUNTRY_HELP = "ISO 3166 two-letter country of the catalog, e.g. US."

__all__ = ["catalog_group", "customers_group"]


@click.group("customers")
def customers_group() -> None:
    """The partner's customers."""


@customers_group.command("list")
@click.option("--page-size", type=click.IntRange(1, 500), default=None,
              help="Customers per request page, e.g. --page-size 100.")
@click.pass_obj
def customers_list(state: Any, page_size: int | None) -> None:
    """List every customer (walks all pages)."""
    customers = list(ordering_context(state).pc.customers.list(page_size=page_size))
    rows = [{"id": c.id, "company_name": c.company_name, "domain": c.domain,
             "relationship": c.relationship_to_partner} for c in customers]
    emit(rows, columns=["id", "company_name", "domain", "relationship"], fmt=state.output, wire=customers,
         title="Customers")


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
    """List the availabilities of a SKU with their terms (term duration / billing cycle)."""
    availabilities = ordering_context(state).pc.catalog.availabilities(product_id, sku_id, country=country.upper())
    rows = [{"id": a.id, "catalog_item_id": a.resolved_catalog_item_id,
             "terms": " ".join(f"{t.duration}/{t.billing_cycle}" for t in a.terms),
             "currency": a.default_currency.code if a.default_currency else None,
             "purchasable": a.is_purchasable, "segment": a.segment} for a in availabilities]
    emit(rows, columns=["id", "catalog_item_id", "terms", "currency", "purchasable", "segment"], fmt=state.output,
         wire=availabilities, title=f"Availabilities of {product_id}:{sku_id}")

