"""The Azure plan: its subscriptions (ordered like any offer, quantity 1, no term), admin access and usage spikes
(a part of :class:`~cspkit.emulator.backend.Backend`; the usage rows themselves are :mod:`cspkit.emulator.usage`).

Source: Microsoft Learn, "Create an Azure plan" (product ``DZH318Z0BCZC``, found with targetView MicrosoftAzure,
ordered through a cart like any catalog item; one Azure plan per customer; a Partner Center subscription whose
Azure subscriptions are its entitlements).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator.catalog import CatalogItem
from cspkit.emulator.models import CartLine, Customer, EmulatorError, Order, OrderLine, Subscription
from cspkit.emulator.usage import (
    entitlement_id,
    invoice_usage_lines,
    is_azure_plan,
    usage_currencies,
    usage_page,
)

__all__ = ["UsageOps"]


class UsageOps:
    """Operations of :class:`~cspkit.emulator.backend.Backend` for the Azure plan and its consumption."""

    # -- ordering -------------------------------------------------------------------------------------------
    def _azure_plan_line_error(self, customer: Customer, line: CartLine, item: CatalogItem) -> str | None:
        """Why an Azure plan cart line cannot be ordered (None when it can): quantity 1, one plan per customer."""
        if line.quantity != 1:
            return f"The Azure plan is ordered with quantity 1, not {line.quantity}."
        for sub in self.subscriptions.values():
            if sub.customer_id == customer.id and is_azure_plan(sub.product_id) and sub.status in ("active",
                                                                                                    "suspended"):
                return f"Customer {customer.id} already has an Azure plan ({sub.id})."
        return None

    def _provision_azure_plan(self, customer: Customer, order: Order, line: CartLine,
                              item: CatalogItem) -> Subscription:
        """The Azure plan's Partner Center subscription: active at once, quantity 1, no term, nothing charged up
        front (consumption is billed on the month's invoice, :func:`cspkit.emulator.usage.invoice_usage_lines`)."""
        now = self.now()
        sub = Subscription(
            id=self.ids.guid(), customer_id=customer.id, order_id=order.id, product_id=item.product_id,
            sku_id=item.sku_id, availability_id=item.availability_id, offer_name=item.sku["title"],
            friendly_name=line.friendly_name or item.sku["title"], quantity=1, status="active", auto_renew=False,
            billing_cycle="monthly", term_duration="", currency=self._currency(customer), unit_price=Decimal(0),
            list_price=Decimal(0), creation_date=now, product_type=item.product["productType"],
            publisher_name=item.product.get("publisherName", ""), publisher_id=item.product.get("publisherId", ""),
            effective_start=now,
        )
        self.subscriptions[sub.id] = sub
        order.lines.append(OrderLine(
            line_item_number=len(order.lines), offer_id=item.catalog_item_id, quantity=1, term_duration="",
            billing_cycle="monthly", subscription_id=sub.id, friendly_name=sub.friendly_name,
            provisioning_context=dict(line.provisioning_context or {}),
        ))
        self._log("azure_plan_created", subscriptionId=sub.id, entitlementId=entitlement_id(sub.id))
        return sub

    # -- control --------------------------------------------------------------------------------------------
    @operation
    def set_admin_access(self, customer_id: str, *, removed_on: date | None) -> Customer:
        """Remove the partner's admin access to a customer's Azure subscriptions from ``removed_on`` (usage of that
        day on has no partner earned credit), or restore it (``None``)."""
        customer = self.get_customer(customer_id)
        customer.azure_admin_access_removed = removed_on
        self._log("admin_access", customerId=customer.id, removedOn=removed_on.isoformat() if removed_on else None)
        return customer

    @operation
    def set_usage_spike(self, subscription_id: str, *, day: date, factor: Decimal) -> Subscription:
        """Scale an Azure plan subscription's compute usage on ``day`` by ``factor`` (a scale-out; 1 removes it)."""
        sub = self.subscriptions.get((subscription_id or "").lower()) or self.subscriptions.get(subscription_id)
        if sub is None or not is_azure_plan(sub.product_id):
            raise EmulatorError(404, "20003", f"Azure plan subscription {subscription_id} was not found.")
        if factor == 1:
            sub.usage_spikes.pop(day.isoformat(), None)
        else:
            sub.usage_spikes[day.isoformat()] = str(factor)
        self._log("usage_spike", subscriptionId=sub.id, day=day.isoformat(), factor=str(factor))
        return sub

    # -- reading --------------------------------------------------------------------------------------------
    def usage_lines(self, key: dict[str, Any], offset: int, size: int, *,
                    pec: bool | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of daily rated usage rows (:func:`cspkit.emulator.usage.usage_page`)."""
        if key["inv"] != "unbilled":
            self.get_invoice(key["inv"])
        return usage_page(self, key, offset, size, pec=pec)

    def invoice_usage_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        """The invoice's Azure plan usage reconciliation lines (:func:`cspkit.emulator.usage.invoice_usage_lines`)."""
        return invoice_usage_lines(self, invoice_id)

    def _usage_currencies(self, start: datetime, end: datetime) -> set[str]:
        """Billing currencies with Azure plan usage in [start, end) (each gets the month's invoice)."""
        return usage_currencies(self, start.date(), end.date() - timedelta(days=1))
