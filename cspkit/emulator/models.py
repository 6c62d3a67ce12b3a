"""The emulator's state: plain dataclasses in snake_case (serializers alone know the wire's camelCase)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "Cart",
    "CartLine",
    "Charge",
    "Customer",
    "EmulatorError",
    "Invoice",
    "Operation",
    "Order",
    "OrderLine",
    "PurchaseToken",
    "SaasSubscription",
    "SeatWindow",
    "Subscription",
    "WebhookDelivery",
]


class EmulatorError(Exception):
    """A refusal the API renders as an error body: HTTP status, service code (string) and description."""

    def __init__(self, status: int, code: str | int, description: str, *, data: list[Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = str(code)
        self.description = description
        self.data = data or []


@dataclass
class Customer:
    id: str
    commerce_id: str
    company_name: str
    domain: str
    country: str
    profile: dict[str, Any] = field(default_factory=dict)  # billing profile: names, email, address, culture
    created: datetime | None = None
    relationship: str = "reseller"
    # Microsoft Customer Agreement acceptances (wire-shaped dicts). None: a state saved before they were tracked
    # (such customers, like the seeded ones, count as having accepted).
    agreements: list[dict[str, Any]] | None = None
    # the day the partner lost admin access to the customer's Azure subscriptions (no PEC from that day on)
    azure_admin_access_removed: date | None = None


@dataclass
class CartLine:
    id: int
    catalog_item_id: str
    quantity: int
    billing_cycle: str | None = None
    term_duration: str | None = None
    friendly_name: str | None = None
    currency_code: str | None = None
    order_group: str | None = None
    provisioning_context: dict[str, str] = field(default_factory=dict)
    participants: list[dict[str, str]] = field(default_factory=list)
    promotion_id: str | None = None
    renews_to: dict[str, Any] | None = None
    attestation_accepted: bool | None = None
    addon_items: list[CartLine] = field(default_factory=list)
    error: dict[str, Any] | None = None
    custom_term_end_date: datetime | None = None  # co-terming: the term's last day (customTermEndDate)


@dataclass
class Cart:
    id: str
    customer_id: str
    created: datetime
    modified: datetime
    expires: datetime
    lines: list[CartLine]
    status: str = "Active"
    last_modified_user: str = ""
    partner_on_record_attestation_accepted: bool | None = None
    order_ids: list[str] = field(default_factory=list)
    order_errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OrderLine:
    line_item_number: int
    offer_id: str
    quantity: int
    term_duration: str
    billing_cycle: str
    subscription_id: str | None = None
    parent_subscription_id: str | None = None
    friendly_name: str | None = None
    transaction_type: str = "new"
    provisioning_context: dict[str, str] = field(default_factory=dict)
    is_saas: bool = False
    unit_price: Decimal = Decimal(0)  # one seat, one billing period: catalog term price ÷ billing periods
    list_price: Decimal = Decimal(0)  # the same for the ERP price


@dataclass
class Order:
    id: str
    customer_id: str
    billing_cycle: str
    currency: str
    currency_symbol: str
    lines: list[OrderLine]
    created: datetime
    visible_after: datetime
    cart_id: str | None = None
    status: str = "completed"
    transaction_type: str = "UserPurchase"


@dataclass
class SeatWindow:
    """Seats added at ``start``: refundable in full until ``full_until``, prorated until ``until``."""

    quantity: int
    start: datetime
    full_until: datetime
    until: datetime


@dataclass
class Subscription:
    id: str
    customer_id: str
    order_id: str
    product_id: str
    sku_id: str
    availability_id: str
    offer_name: str
    friendly_name: str
    quantity: int
    status: str  # pending | active | suspended | expired | deleted
    auto_renew: bool
    billing_cycle: str
    term_duration: str
    currency: str
    unit_price: Decimal  # per billing period (catalog term price ÷ billing periods, to the cent), locked for the term
    list_price: Decimal  # ERP per billing period
    creation_date: datetime
    product_type: dict[str, Any]
    publisher_name: str
    publisher_id: str = ""
    is_trial: bool = False
    is_addon: bool = False
    is_saas: bool = False
    saas_id: str | None = None
    parent_subscription_id: str | None = None
    effective_start: datetime | None = None  # start of the current term
    commitment_end: datetime | None = None  # end of the current term (exclusive instant)
    cycle_start: datetime | None = None  # start of the current billing cycle
    cycle_end: datetime | None = None  # end of the current billing cycle (exclusive instant)
    seat_windows: list[SeatWindow] = field(default_factory=list)
    term_window: SeatWindow | None = None  # the cancellation window of the current term
    etag_counter: int = 1
    pending_quantity: int | None = None
    suspension_reasons: list[str] = field(default_factory=list)
    promotion_id: str | None = None
    cancelled_at: datetime | None = None
    usage_spikes: dict[str, str] = field(default_factory=dict)  # Azure plan: ISO day → compute scale factor
    # scheduledNextTermInstructions, snake_case: product_id, sku_id, availability_id, billing_cycle, term_duration,
    # quantity (applied at the renewal, then cleared; backend_transitions.py)
    next_term: dict[str, Any] | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)  # upgrades from this subscription (history)
    promotion_discount: Decimal = Decimal(0)  # PercentDiscount of the promotion, for the term it was bought with


@dataclass
class SaasSubscription:
    id: str
    pc_subscription_id: str
    customer_id: str
    publisher_id: str
    offer_id: str
    plan_id: str
    name: str
    quantity: int | None
    status: str  # PendingFulfillmentStart | Subscribed | Suspended | Unsubscribed
    term_unit: str
    beneficiary: dict[str, Any]
    purchaser: dict[str, Any]
    created: datetime
    last_modified: datetime
    auto_renew: bool = True
    is_test: bool = False
    is_free_trial: bool = False
    allowed_customer_operations: list[str] = field(default_factory=lambda: ["Read"])
    session_mode: str = "None"
    sandbox_type: str = "None"
    term_start: datetime | None = None
    term_end: datetime | None = None
    billing_cycle: str = ""  # monthly | annual: told on the wire as term.chargeDuration


@dataclass
class PurchaseToken:
    token: str
    saas_id: str
    created: datetime
    expires: datetime


@dataclass
class Operation:
    id: str
    activity_id: str
    subscription_id: str
    offer_id: str
    publisher_id: str
    plan_id: str
    quantity: int | None
    action: str  # ChangePlan | ChangeQuantity | Renew | Suspend | Unsubscribe | Reinstate
    time_stamp: datetime
    status: str  # NotStarted | InProgress | Succeeded | Failed | Conflict
    source: str = "Azure"  # operationRequestSource: Azure (Microsoft side) | Partner (ISV through the API)
    error_status_code: str = ""
    error_message: str = ""
    needs_ack: bool = False


@dataclass
class Charge:
    """One billing event: the facts a reconciliation line is computed from (see :mod:`cspkit.emulator.billing`)."""

    id: str
    charge_type: str  # new | cycleCharge | renew | addQuantity | removeQuantity | cancelImmediate | convert
    at: datetime  # when it happened (OrderDate)
    sign: int  # +1 charge, -1 refund
    quantity: int
    unit_price: Decimal  # price per billing period = term price ÷ billing periods (pricing currency)
    currency: str
    charge_start: date
    charge_end: date  # inclusive
    cycle_days: int  # chargeCycleDays (28..31, 365/366)
    billing_days: int  # days covered by this line, inclusive
    full_refund: bool  # a full refund ignores proration
    reference_id: str
    subscription_id: str
    subscription_start: date
    subscription_end: date
    order_id: str
    customer_id: str
    customer_name: str
    customer_domain: str
    customer_country: str
    product_id: str
    sku_id: str
    availability_id: str
    product_name: str
    sku_name: str
    publisher_name: str
    publisher_id: str
    subscription_description: str
    term_and_billing_cycle: str
    billing_frequency: str
    product_qualifiers: list[str] = field(default_factory=list)
    promotion_id: str = ""
    product_category: str = ""
    tax_rate: Decimal = Decimal(0)  # the customer's country's rate when charged (Policy.tax_rates)
    discount: Decimal = Decimal(0)  # a promotion's PercentDiscount (0.20 = 20% off UnitPrice)
    price_adjustment: str = ""  # PriceAdjustmentDescription (a JSON array in a string)


@dataclass
class Invoice:
    id: str
    currency: str
    period_start: date
    period_end: date  # inclusive
    invoice_date: datetime
    synthetic_lines: int = 0  # benchmark hook: generated lines instead of recorded charges
    document_type: str = "invoice"


@dataclass
class WebhookDelivery:
    id: str
    operation_id: str
    action: str
    url: str
    attempt: int
    at: datetime
    outcome: str  # delivered | failed | rejected
    status_code: int | None = None
    detail: str = ""
