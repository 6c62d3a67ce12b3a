"""Invoice resources: Invoice, OneTimeInvoiceLineItem (new-commerce reconciliation line), EstimateLink.

Wire shapes: partner-center-api.md §6.3 (Invoice), §6.4 (OneTimeInvoiceLineItem), §6.7 (estimate links);
billing-formats.md §1.1 and §1.6 for the line's columns and their spelling variants. What the service really sends
is accepted: numbers as strings or numbers (``"unitPrice": "16"``), ``mpnId``/``resellerMpnId`` as numbers,
``totalForCustomer`` (v1) or ``total`` (v2) for the line total, ``productQualifiers`` as an array (``"Add-on"`` read as
``"AddOn"``), charge types in any case (emitted camelCase: ``new``, ``cycleCharge``...), ``documentType`` as
``Invoice``/``invoice``/``Credit Note``, dates with 7 fractional digits or no zone.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from cspkit.models.base import Link, Money, PCModel, UtcDateTime
from cspkit.models.common import ResourceAttributes
from cspkit.wire import normalize_charge_type

__all__ = ["EstimateLink", "Invoice", "InvoiceDetail", "OneTimeInvoiceLineItem", "TaxReceipt"]


def _text(value: Any) -> Any:
    """Ids sent as numbers (``"mpnId": 6034453``) → strings; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _charge(value: Any) -> Any:
    return normalize_charge_type(value) if isinstance(value, str) else value


def _qualifiers(value: Any) -> Any:
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        except ValueError:
            value = [value]
    if isinstance(value, list):
        return ["AddOn" if isinstance(v, str) and v.lower() == "add-on" else v for v in value]
    return value


IdText = Annotated[str, BeforeValidator(_text)]
LowerText = Annotated[str, BeforeValidator(_lower)]
ChargeType = Annotated[str, BeforeValidator(_charge)]
Qualifiers = Annotated[list[str], BeforeValidator(_qualifiers)]


class TaxReceipt(PCModel):
    """``{id, taxReceiptPdfDownloadLink}``."""

    id: str | None = None
    tax_receipt_pdf_download_link: str | None = None


class InvoiceDetail(PCModel):
    """One kind of line items on an invoice: ``billing_line_items``/``usage_line_items`` × billing provider."""

    invoice_line_item_type: LowerText | None = None
    billing_provider: LowerText | None = None
    links: dict[str, Link] = {}


class Invoice(PCModel):
    """An invoice (``GET /invoices``, ``GET /invoices/{id}``; partner-center-api.md §6.3).

    Attributes:
        id: ``G`` + 9 digits for new commerce (``G000024135``).
        total_charges: Decimal in ``currency_code`` (tax included).
        document_type: lower-cased (``invoice``, ``credit note``, ``void_note``, ``adjustment_note``).
        invoice_type: as sent (``OneTime`` for new commerce, ``Recurring`` for legacy).
        pdf_download_link: only on get-by-id (expires after 30 minutes).
    """

    id: str
    invoice_date: UtcDateTime | None = None
    billing_period_start_date: UtcDateTime | None = None
    billing_period_end_date: UtcDateTime | None = None
    total_charges: Money | None = None
    paid_amount: Money | None = None
    currency_code: str | None = None
    currency_symbol: str | None = None
    pdf_download_link: str | None = None
    tax_receipts: list[TaxReceipt] = []
    invoice_details: list[InvoiceDetail] = []
    amendments: list[Invoice] = []
    document_type: LowerText | None = None
    amends_of: str | None = None
    invoice_type: str | None = None
    links: dict[str, Link] = {}
    attributes: ResourceAttributes | None = None


class OneTimeInvoiceLineItem(PCModel):
    """A new-commerce invoice reconciliation line (``provider=onetime``, billing line items; §6.4).

    Money, prices, quantities and rates are Decimal; dates aware UTC. ``total_for_customer`` also reads the v2
    export's ``total``. Turn many of them into a typed DataFrame with
    :func:`cspkit.billing.recon_readers.recon_lines_to_frame` (which also accepts the raw dicts, faster).
    """

    partner_id: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_domain_name: str | None = None
    customer_country: str | None = None
    invoice_number: str | None = None
    mpn_id: IdText | None = None
    reseller_mpn_id: IdText | None = None
    order_id: IdText | None = None
    order_date: UtcDateTime | None = None
    product_id: str | None = None
    sku_id: IdText | None = None
    availability_id: str | None = None
    product_name: str | None = None
    sku_name: str | None = None
    product_qualifiers: Qualifiers = []
    charge_type: ChargeType | None = None
    unit_price: Money | None = None
    effective_unit_price: Money | None = None
    unit_type: str | None = None
    quantity: Money | None = None
    billable_quantity: Money | None = None
    subtotal: Money | None = None
    tax_total: Money | None = None
    total_for_customer: Money | None = None
    currency: str | None = None
    publisher_name: str | None = None
    publisher_id: IdText | None = None
    subscription_description: str | None = None
    subscription_id: str | None = None
    subscription_start_date: UtcDateTime | None = None
    subscription_end_date: UtcDateTime | None = None
    charge_start_date: UtcDateTime | None = None
    charge_end_date: UtcDateTime | None = None
    term_and_billing_cycle: str | None = None
    alternate_id: IdText | None = None
    reference_id: str | None = None
    price_adjustment_description: Any = None
    pricing_currency: str | None = None
    pc_to_bc_exchange_rate: Money | None = Field(default=None, alias="pcToBCExchangeRate")
    pc_to_bc_exchange_rate_date: UtcDateTime | None = Field(default=None, alias="pcToBCExchangeRateDate")
    meter_description: str | None = None
    billing_frequency: str | None = None
    reservation_order_id: str | None = None
    credit_reason_code: str | None = None
    promotion_id: str | None = None
    product_category: str | None = None
    invoice_line_item_type: LowerText | None = None
    billing_provider: LowerText | None = None
    attributes: ResourceAttributes | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "totalForCustomer" not in data and "total_for_customer" not in data:
                for key in ("total", "Total", "TotalForCustomer"):
                    if key in data:
                        data["totalForCustomer"] = data.pop(key)
                        break
            for key in ("PCToBCExchangeRate", "PCToBCExchangeRateDate", "pcToBcExchangeRate", "pcToBcExchangeRateDate"):
                if key in data:
                    canonical = "pcToBCExchangeRate" + ("Date" if key.endswith("Date") else "")
                    data.setdefault(canonical, data.pop(key))
            if "resellerMpnId" not in data and "tier2MpnId" in data:
                data["resellerMpnId"] = data.pop("tier2MpnId")
        return data


class EstimateLink(PCModel):
    """A ready-made link to unbilled line items (``GET /invoices/estimates/links``; §6.7)."""

    type: str | None = None
    title: str | None = None
    description: str | None = None
    period: str | None = None
    link: Link | None = None
