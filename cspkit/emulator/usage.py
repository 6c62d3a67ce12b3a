"""Azure plan consumption in the emulator: deterministic daily rated usage, partner earned credit, billed usage lines.

Pure functions of (backend state, day): nothing is stored per row, rows are generated per (day, subscription) block
when a page asks for them, so memory stays bounded by the page size whatever the months and subscriptions.

What a row looks like follows the real billed daily rated usage file (``../shared/realdata/``, November 2025, and
billing-formats.md §1.2): the 55 columns in the real file's order; ``ChargeType`` ``Usage``; ``BenefitType``
``Charge``; MpnId, Tier2MpnId and SubscriptionDescription blank; ``CreditType`` ``Partner Earned Credit Applied``
with PartnerEarnedCreditPercentage and CreditPercentage ``15`` (EffectiveUnitPrice = UnitPrice × 0.85), or ``Credit
Not Applied`` with both blank (EffectiveUnitPrice = UnitPrice); marketplace rows (PublisherName not Microsoft, a
numeric PublisherId) always ``Credit Not Applied``; ProductId/SkuId/AvailabilityId are the *meter's* product (the
``DZH318Z0…`` consumption products), SubscriptionId the Partner Center Azure plan subscription, EntitlementId the
Azure subscription GUID, ResourceURI ``/subscriptions/{EntitlementId}/resourceGroups/{rg}/providers/...``. The
meters, units, prices and products are those of real rows of that file.

Rules (emulator choices, documented as approximate like the rest of the emulator's billing, emulator-notes.md §2.4):

* an active Azure plan subscription bills every resource of its fixed resource set every day from its creation day
  to the day before the virtual clock's day (unbilled usage is about 24 h late, billing-formats.md §1.2), and not
  after it is suspended or deleted;
* quantities vary ±20 % per resource and day from a SHA-256 of (subscription id, resource, day): same inputs, same
  rows, always; a *spike* set on a subscription and day (``Subscription.usage_spikes``) multiplies that day's
  compute quantity (a scale-out);
* partner earned credit (15 %, Microsoft Learn "How partner earned credit is calculated and paid") applies to the
  first-party rows of a customer until its partner's admin access is removed (``Customer.azure_admin_access_removed``
  , a date): rows of that day on say ``Credit Not Applied`` (PEC FAQ: "What happens if a customer removes a
  partner's RBAC admin access?");
* money: PricingPreTaxTotal = EffectiveUnitPrice × Quantity, BillingPreTaxTotal = that × PCToBCExchangeRate, both
  not rounded to cents (§1.2 #37) but kept to 12 decimals; pricing currency USD, billing currency the customer's
  market's (EUR at :data:`USD_TO`);
* the month's invoice carries the usage as one reconciliation line per subscription × meter × credit type
  (:func:`invoice_usage_lines`): BillableQuantity = Σ Quantity, Subtotal per billing-formats.md §2.4's usage
  formula ``ROUNDDOWN(ROUNDDOWN(EUP × BillableQuantity, 2) × PCToBCExchangeRate, 2)``, SubscriptionDescription
  ``Azure plan`` (§1.1 #26), UnitType and MeterDescription set (usage lines, §1.1 #32, #39).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from cspkit.wire import DAILY_USAGE_COLUMNS, json_key

if TYPE_CHECKING:  # pragma: no cover
    from cspkit.emulator.backend import Backend
    from cspkit.emulator.models import Subscription

__all__ = [
    "AZURE_PLAN_PRODUCT_ID",
    "AZURE_PLAN_SKU_ID",
    "DAILY_BASIC_KEYS",
    "DAILY_COLUMNS",
    "DAILY_KEYS",
    "METERS",
    "NOT_APPLIED",
    "PEC_APPLIED",
    "PEC_PERCENT",
    "Meter",
    "daily_csv",
    "entitlement_id",
    "export_line",
    "invoice_usage_lines",
    "is_azure_plan",
    "resources",
    "subscription_day_rows",
    "usage_count",
    "usage_page",
    "v1_item",
]

#: The Azure plan: product ``DZH318Z0BCZC``, SKU ``0001`` (Microsoft Learn, "Create an Azure plan": get the catalog
#: item with targetView MicrosoftAzure, then order it like any offer).
AZURE_PLAN_PRODUCT_ID = "DZH318Z0BCZC"
AZURE_PLAN_SKU_ID = "0001"

#: The daily rated usage file's 55 columns in the real file's order (billing-formats.md §1.2), as the readers read them.
DAILY_COLUMNS: tuple[str, ...] = DAILY_USAGE_COLUMNS

#: Graph usage export keys (camelCase of the columns, file order) and the ``basic`` subset (columns marked B, §1.2).
DAILY_KEYS: tuple[str, ...] = tuple(json_key(c) for c in DAILY_COLUMNS)
_BASIC = {"PartnerId", "PartnerName", "CustomerId", "CustomerName", "InvoiceNumber", "ProductId", "SkuId", "SkuName",
          "PublisherName", "SubscriptionId", "ChargeStartDate", "ChargeEndDate", "UsageDate", "ResourceURI",
          "ChargeType", "UnitPrice", "Quantity", "UnitType", "BillingPreTaxTotal", "BillingCurrency",
          "PricingPreTaxTotal", "PricingCurrency", "AdditionalInfo", "EffectiveUnitPrice", "PCToBCExchangeRate",
          "EntitlementId", "CreditPercentage", "CreditType", "BenefitOrderId", "BenefitType"}  # fmt: skip
DAILY_BASIC_KEYS: tuple[str, ...] = tuple(json_key(c) for c in DAILY_COLUMNS if c in _BASIC)

PEC_APPLIED = "Partner Earned Credit Applied"
NOT_APPLIED = "Credit Not Applied"
PEC_PERCENT = Decimal(15)
"""Partner earned credit: 15 % (the real file's percentages; Microsoft Learn, "How partner earned credit is
calculated and paid")."""
_PEC_FACTOR = Decimal("0.85")
_PLACES = Decimal("1E-12")
_QTY = Decimal("0.000001")
_CENT = Decimal("0.01")
#: Pricing (USD) → billing currency rates of the emulator (fixed; the real file carries ``1`` for USD billing).
USD_TO = {"USD": Decimal(1), "EUR": Decimal("0.92")}
SPIKE_METER = "vm"
"""The resource a spike scales (the virtual machine: a scale-out is what makes a day's spend jump)."""
_NS = uuid.UUID("5f0c9a4e-6b1d-4f5e-9a77-16c0e5a1d2b3")


@dataclass(frozen=True)
class Meter:
    """One meter as real rows of the November 2025 file carry it (ids, names, units, products and retail price)."""

    key: str
    category: str
    subcategory: str
    name: str
    meter_id: str
    meter_type: str
    region: str
    unit: str
    product_id: str
    sku_id: str
    availability_id: str
    sku_name: str
    product_name: str
    consumed_service: str
    provider: str  # ResourceURI provider path: "Microsoft.Compute/virtualMachines"
    unit_price: Decimal  # retail, USD
    daily_quantity: Decimal  # a typical day
    hourly: bool = False  # quantity is 24 (hours) times the instance count, not varied
    location: str = "southeastasia"
    service_info2: str = ""
    additional_info: str = ""
    publisher_name: str = "Microsoft"
    publisher_id: str = ""

    @property
    def marketplace(self) -> bool:
        return self.publisher_name != "Microsoft"


METERS: tuple[Meter, ...] = (
    Meter("vm", "Virtual Machines", "Virtual Machines Ddsv5 Series", "D4ds v5", "eeabb710-3fe6-5ee2-a88a-9e9ce6b9ca49",
          "1 Compute Hour", "AP Southeast", "1 Hour", "DZH318Z08MC6", "003V", "DZH318XZR5J1", "Standard_D4ds_v5",
          "Ddsv5 Series VM", "Microsoft.Compute", "Microsoft.Compute/virtualMachines", Decimal("0.0522828"),
          Decimal(24), hourly=True, service_info2="Canonical",
          additional_info='{"UsageType":"ComputeHR","ImageType":"Canonical","ServiceType":"Standard_D4ds_v5",'
                          '"VMName":null,"VMProperties":null,"VCPUs":4,"ConsumedQuantity":1.0}'),
    Meter("disk", "Storage", "Premium SSD Managed Disks", "P10 LRS Disk", "0a2718d2-7b6b-4239-bc46-5bebac1af0b7",
          "1 Disk/Month", "AP Southeast", "1/Month", "DZH318Z0BP04", "00HM", "DZH318Z000Q8", "P10",
          "Premium SSD Managed Disks", "Microsoft.Compute", "Microsoft.Compute/disks", Decimal("19.71"),
          Decimal("0.033333")),
    Meter("ip", "Virtual Network", "IP Addresses", "Standard IPv4 Static Public IP",
          "9c150bf9-2bad-430e-a53c-c213804f49ef", "1 Static Public IP Hour", "", "1 Hour", "DZH318Z0BNXN", "0033",
          "DZH318Z0JKX2", "Standard", "IP Address", "microsoft.network", "microsoft.network/publicipaddresses",
          Decimal("0.005"), Decimal(24), hourly=True),
    Meter("egress", "Bandwidth", "Rtn Preference: MGN", "Standard Data Transfer Out",
          "fe167397-a38d-43c3-9bb3-8e2907e56a41", "Data Transfer Out (GB)", "AU East", "1 GB", "DZH318Z0BNVX", "000C",
          "DZH318Z0GLXK", "Standard", "Rtn Pref: MGN", "microsoft.compute",
          "microsoft.compute/virtualmachinescalesets", Decimal("0.12"), Decimal("3.2"),
          additional_info='{"PipelineType":"v2","DataTransferDirection":"DataTrOut"}'),
    Meter("lb", "Load Balancer", "Load Balancer", "Standard Included LB Rules and Outbound Rules",
          "27827eb0-7f60-4928-940b-f5fe15e7a4cb", "1-5 Included LB Rules and Outbound Rules/Hour", "Global", "1 Hour",
          "DZH318Z0BNXH", "0002", "DZH318Z09X3Q", "Standard", "Load Balancer", "microsoft.network",
          "microsoft.network/loadbalancers", Decimal("0.025"), Decimal(24), hourly=True),
    Meter("backup", "Backup", "Backup", "Azure Blob Protected Instances", "d7fcf1ac-b660-56ea-a3de-c7886e34d87e",
          "1 Protected Instance/Month", "AP Southeast", "1/Month", "DZH318Z0BP05", "0116", "DZH318Z0T9HZ",
          "Azure Blob", "Backup", "Microsoft.DataProtection", "Microsoft.DataProtection/BackupVaults", Decimal(13),
          Decimal("0.033333")),
    Meter("defender", "Microsoft Defender for Cloud", "Microsoft Defender for Storage", "Standard Transactions",
          "8a752c6d-6098-4f15-8828-3716ba46d524", "10K Transactions", "", "10K", "DZH318Z0BXB9", "0001",
          "DZH318Z0HGH4", "Standard", "Microsoft Def for Storage", "Microsoft.Storage",
          "Microsoft.Storage/storageAccounts", Decimal("0.02"), Decimal("0.1649")),
    Meter("centos", "Virtual Machine Licenses", "CentOS 9 Stream", "CentOS 9 Stream - CentOS 9 Stream - 8 Core Hours",
          "8core", "1 Compute Hour - 8core", "", "1 hour", "DZH318Z0FHGH", "0001", "084R5MQ9QD7N", "CentOS 9 Stream",
          "CentOS 9 Stream", "Microsoft.Compute", "Microsoft.Compute/virtualMachines", Decimal("0.07"), Decimal(24),
          hourly=True, location="japaneast", publisher_name="BANSIR LLC", publisher_id="75577080",
          additional_info='{"UsageType":"ComputeHR_SW","ImageType":null,"ServiceType":"Standard_L8s_v3",'
                          '"VMName":null,"VMProperties":null,"VCPUs":8,"ConsumedQuantity":1.0}'),
    Meter("elastic", "SaaS", "Elastic Cloud (Elasticsearch managed service)",
          "Elastic Cloud (Elasticsearch managed service) - Elastic Cloud - Pay as you Go (2024) - Elastic Billing "
          "Units for Azure", "elastic_billing_usage", "elastic_billing_usage", "", "per 1000 units", "DZH318Z0DR60",
          "0003", "DZH318Z098TK", "Elastic Cloud - Pay as you Go (2024)",
          "Elastic Cloud (Elasticsearch managed service)", "Microsoft.SaaS", "Microsoft.SaaS/saasresources",
          Decimal("0.1"), Decimal("12.5"), location="global", publisher_name="Elastic", publisher_id="21883950"),
)  # fmt: skip
_BY_KEY = {m.key: m for m in METERS}


@dataclass(frozen=True)
class Resource:
    """One billed resource of an Azure subscription: its meter, resource group, URI and tags."""

    meter: Meter
    resource_group: str
    uri: str
    tags: str


def _digest(*parts: Any) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def entitlement_id(subscription_id: str) -> str:
    """The Azure subscription (``EntitlementId``) of an Azure plan subscription: a UUID5 of its id (stable)."""
    return str(uuid.uuid5(_NS, f"entitlement:{subscription_id.lower()}"))


def is_azure_plan(product_id: str) -> bool:
    return (product_id or "").upper() == AZURE_PLAN_PRODUCT_ID


def resources(subscription_id: str) -> tuple[Resource, ...]:
    """The fixed resource set of an Azure plan subscription (one resource per meter, three resource groups)."""
    ent = entitlement_id(subscription_id)
    h = hashlib.sha256(ent.encode()).hexdigest()
    groups = {"vm": f"rg-app-{h[:6]}", "disk": f"rg-app-{h[:6]}", "ip": f"rg-net-{h[6:12]}",
              "egress": f"rg-app-{h[:6]}", "lb": f"rg-net-{h[6:12]}", "backup": f"rg-data-{h[12:18]}",
              "defender": f"rg-data-{h[12:18]}", "centos": f"RG-LEGACY-{h[18:24].upper()}", "elastic": ""}
    tags = {"vm": {"environment": "production", "costCenter": f"cc-{h[24:28]}"},
            "disk": {"environment": "production"}, "backup": {"environment": "production"}}
    out = []
    for m in METERS:
        rg = groups[m.key]
        name = f"{m.key}-{h[28:34]}"
        if m.key == "elastic":
            uri = f"/subscriptions/{ent}/providers/{m.provider}/{uuid.uuid5(_NS, ent + ':elastic')}"
        else:
            uri = f"/subscriptions/{ent}/resourceGroups/{rg}/providers/{m.provider}/{name}"
        tag = tags.get(m.key)
        out.append(Resource(m, rg, uri, json.dumps(tag, separators=(",", ":")) if tag else ""))
    return tuple(out)


def _quantity(subscription_id: str, resource: Resource, day: date, spike: Decimal | None) -> Decimal:
    m = resource.meter
    factor = Decimal(int.from_bytes(_digest(subscription_id, m.key, day.isoformat())[:4], "big") % 4001) / 10000
    if m.hourly:
        quantity = m.daily_quantity * (2 if m.key == "vm" else 1)  # two VMs, hours of the day
    else:
        quantity = (m.daily_quantity * (Decimal("0.8") + factor)).quantize(_QTY, ROUND_HALF_UP)
    if spike is not None and m.key == SPIKE_METER:
        quantity *= spike
    return quantity


def _us(d: date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"


def _month(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)


def subscription_day_rows(backend: Backend, sub: Subscription, day: date, *, invoice_number: str = "",
                          pec: bool | None = None) -> list[dict[str, Any]]:
    """The daily rated usage rows of one Azure plan subscription and day: dicts keyed by :data:`DAILY_COLUMNS`,
    money and quantities as exact :class:`~decimal.Decimal`, dates as :class:`datetime.date`.

    ``pec``: only rows with (True) or without (False) partner earned credit (the v1 ``hasPartnerEarnedCredit``).
    """
    customer = backend.customers[sub.customer_id]
    currency = backend.catalog.currency_for(customer.country)
    rate = USD_TO.get(currency, Decimal(1))
    removed = customer.azure_admin_access_removed
    access = removed is None or day < removed
    spikes = sub.usage_spikes or {}
    spike = Decimal(str(spikes[day.isoformat()])) if day.isoformat() in spikes else None
    first, last = _month(day)
    ent = entitlement_id(sub.id)
    rows = []
    for res in resources(sub.id):
        m = res.meter
        applied = access and not m.marketplace
        if pec is not None and applied != pec:
            continue
        quantity = _quantity(sub.id, res, day, spike)
        eup = m.unit_price * _PEC_FACTOR if applied else m.unit_price
        pricing = (eup * quantity).quantize(_PLACES, ROUND_HALF_UP)
        billing = (eup * quantity * rate).quantize(_PLACES, ROUND_HALF_UP)
        rows.append({
            "PartnerId": backend.partner["tenantId"], "PartnerName": backend.partner.get("companyName", ""),
            "CustomerId": customer.id, "CustomerName": customer.company_name,
            "CustomerDomainName": customer.domain, "CustomerCountry": customer.country, "MpnId": "",
            "Tier2MpnId": "", "InvoiceNumber": invoice_number, "ProductId": m.product_id, "SkuId": m.sku_id,
            "AvailabilityId": m.availability_id, "SkuName": m.sku_name, "ProductName": m.product_name,
            "PublisherName": m.publisher_name, "PublisherId": m.publisher_id, "SubscriptionDescription": "",
            "SubscriptionId": sub.id, "ChargeStartDate": first, "ChargeEndDate": last, "UsageDate": day,
            "MeterType": m.meter_type, "MeterCategory": m.category, "MeterId": m.meter_id,
            "MeterSubCategory": m.subcategory, "MeterName": m.name, "MeterRegion": m.region, "Unit": m.unit,
            "ResourceLocation": m.location, "ConsumedService": m.consumed_service, "ResourceGroup": res.resource_group,
            "ResourceURI": res.uri, "ChargeType": "Usage", "UnitPrice": m.unit_price, "Quantity": quantity,
            "UnitType": m.unit, "BillingPreTaxTotal": billing, "BillingCurrency": currency,
            "PricingPreTaxTotal": pricing, "PricingCurrency": "USD", "ServiceInfo1": "",
            "ServiceInfo2": m.service_info2, "Tags": res.tags, "AdditionalInfo": m.additional_info,
            "EffectiveUnitPrice": eup, "PCToBCExchangeRate": rate, "PCToBCExchangeRateDate": first,
            "EntitlementId": ent, "EntitlementDescription": "Azure subscription 1",
            "PartnerEarnedCreditPercentage": PEC_PERCENT if applied else None,
            "CreditPercentage": PEC_PERCENT if applied else None,
            "CreditType": PEC_APPLIED if applied else NOT_APPLIED, "BenefitId": "", "BenefitOrderId": "",
            "BenefitType": "Charge",
        })
    return rows


# -- which subscriptions and days a period holds --------------------------------------------------------------


def _usage_days(backend: Backend, sub: Subscription, start: date, end: date) -> Iterator[date]:
    """Days in [start, end] on which ``sub`` consumed: from its creation, before the clock's day, while active."""
    first = max(start, sub.creation_date.date())
    stop = min(end, backend.now().date() - timedelta(days=1))
    if sub.cancelled_at is not None:
        stop = min(stop, sub.cancelled_at.date())
    day = first
    while day <= stop:
        yield day
        day += timedelta(days=1)


def _azure_subs(backend: Backend, currency: str) -> list[Subscription]:
    subs = []
    for sub in backend.subscriptions.values():
        if not is_azure_plan(sub.product_id) or sub.status == "pending":
            continue
        customer = backend.customers.get(sub.customer_id)
        if customer is not None and backend.catalog.currency_for(customer.country) == currency.upper():
            subs.append(sub)
    return sorted(subs, key=lambda s: (s.creation_date, s.id))


def _period(backend: Backend, key: dict[str, Any]) -> tuple[date, date, str, str]:
    """(first day, last day, currency, invoice number) of a line key: {"inv": id} or unbilled {"c", "p"}."""
    if key["inv"] == "unbilled":
        start, end = backend.open_period(key["p"])
        invoiced = {(i.period_start, i.currency) for i in backend.invoices.values() if not i.synthetic_lines}
        if (start.date(), key["c"].upper()) in invoiced:
            return start.date(), start.date() - timedelta(days=1), key["c"].upper(), ""  # empty: billed already
        return start.date(), (end - timedelta(days=1)).date(), key["c"].upper(), ""
    invoice = backend.get_invoice(key["inv"])
    if invoice.synthetic_lines:
        return invoice.period_start, invoice.period_start - timedelta(days=1), invoice.currency, invoice.id
    return invoice.period_start, invoice.period_end, invoice.currency, invoice.id


def _blocks(backend: Backend, key: dict[str, Any]) -> Iterator[tuple[date, Subscription, str]]:
    start, end, currency, number = _period(backend, key)
    subs = _azure_subs(backend, currency)
    days: dict[date, list[Subscription]] = {}
    for sub in subs:
        for day in _usage_days(backend, sub, start, end):
            days.setdefault(day, []).append(sub)
    for day in sorted(days):
        for sub in days[day]:
            yield day, sub, number


def _block_size(backend: Backend, sub: Subscription, day: date, pec: bool | None) -> int:
    if pec is None:
        return len(METERS)
    removed = backend.customers[sub.customer_id].azure_admin_access_removed
    access = removed is None or day < removed
    first_party = sum(1 for m in METERS if not m.marketplace)
    applied = first_party if access else 0
    return applied if pec else len(METERS) - applied


def usage_count(backend: Backend, key: dict[str, Any], *, pec: bool | None = None) -> int:
    """How many daily rows ``key`` holds (without generating them)."""
    with backend.lock:
        return sum(_block_size(backend, sub, day, pec) for day, sub, _ in _blocks(backend, key))


def usage_page(backend: Backend, key: dict[str, Any], offset: int, size: int, *,
               pec: bool | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of daily rated usage rows (:func:`subscription_day_rows` dicts) and the total count.

    ``key``: ``{"inv": invoiceId}`` (billed: the invoice's month and currency) or ``{"inv": "unbilled", "c":
    currency, "p": "current"|"previous"}`` (days not invoiced yet). Rows are ordered by day, subscription, meter;
    only the (day, subscription) blocks the page touches are generated.
    """
    with backend.lock:
        out: list[dict[str, Any]] = []
        total = 0
        for day, sub, number in _blocks(backend, key):
            n = _block_size(backend, sub, day, pec)
            if n and total + n > offset and len(out) < size:
                rows = subscription_day_rows(backend, sub, day, invoice_number=number, pec=pec)
                skip = max(0, offset - total)
                out.extend(rows[skip: skip + size - len(out)])
            total += n
        return out, total


def iter_usage(backend: Backend, key: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every daily row of ``key``, one (day, subscription) block at a time."""
    with backend.lock:
        blocks = list(_blocks(backend, key))
    for day, sub, number in blocks:
        with backend.lock:
            rows = subscription_day_rows(backend, sub, day, invoice_number=number)
        yield from rows


# -- billed usage on the invoice --------------------------------------------------------------------------------


def invoice_usage_lines(backend: Backend, invoice_id: str) -> list[dict[str, Any]]:
    """The invoice reconciliation lines (v1 ``OneTimeInvoiceLineItem`` camelCase) of an invoice's Azure plan usage:
    one per subscription × meter product/SKU/availability/meter × credit type, amounts as strings.

    Subtotal = ROUNDDOWN(ROUNDDOWN(EffectiveUnitPrice × BillableQuantity, 2) × PCToBCExchangeRate, 2) (billing-
    formats.md §2.4, usage lines); TaxTotal = Subtotal × the customer's country's tax rate (half-up, to the cent).
    """
    groups: dict[tuple, dict[str, Any]] = {}
    for row in iter_usage(backend, {"inv": invoice_id}):
        k = (row["SubscriptionId"], row["ProductId"], row["SkuId"], row["AvailabilityId"], row["MeterId"],
             row["CreditType"])
        g = groups.get(k)
        if g is None:
            groups[k] = g = {"row": row, "quantity": Decimal(0)}
        g["quantity"] += row["Quantity"]
    invoice = backend.get_invoice(invoice_id)
    lines = []
    for (sub_id, *_rest), g in groups.items():
        row, quantity = g["row"], g["quantity"]
        sub = backend.subscriptions[sub_id]
        rate, eup = row["PCToBCExchangeRate"], row["EffectiveUnitPrice"]
        subtotal = ((eup * quantity).quantize(_CENT, ROUND_DOWN) * rate).quantize(_CENT, ROUND_DOWN)
        tax = (subtotal * backend.policy.tax_rate(row["CustomerCountry"])).quantize(_CENT, ROUND_HALF_UP)
        pec = row["CreditType"] == PEC_APPLIED
        lines.append({
            "partnerId": row["PartnerId"], "customerId": row["CustomerId"], "customerName": row["CustomerName"],
            "customerDomainName": row["CustomerDomainName"], "customerCountry": row["CustomerCountry"],
            "invoiceNumber": invoice.id, "mpnId": backend.partner.get("mpnId", ""),
            "resellerMpnId": backend.partner.get("mpnId", ""), "orderId": sub.order_id,
            "orderDate": f"{invoice.period_start.isoformat()}T00:00:00Z", "productId": row["ProductId"],
            "skuId": row["SkuId"], "availabilityId": row["AvailabilityId"], "skuName": row["SkuName"],
            "productName": row["ProductName"], "chargeType": "usage", "unitPrice": _text(row["UnitPrice"]),
            "quantity": _text(quantity), "subtotal": _text(subtotal), "taxTotal": _text(tax),
            "totalForCustomer": _text(subtotal + tax), "currency": row["BillingCurrency"],
            "priceAdjustmentDescription": '["15.0% Partner earned credit for services managed"]' if pec else "",
            "publisherName": row["PublisherName"], "publisherId": row["PublisherId"],
            "subscriptionDescription": "Azure plan", "subscriptionId": sub_id,
            "chargeStartDate": f"{invoice.period_start.isoformat()}T00:00:00Z",
            "chargeEndDate": f"{invoice.period_end.isoformat()}T00:00:00Z", "termAndBillingCycle": row["MeterName"],
            "effectiveUnitPrice": _text(eup), "unitType": row["UnitType"], "alternateId": sub.order_id,
            "billableQuantity": _text(quantity), "billingFrequency": "", "pricingCurrency": row["PricingCurrency"],
            "pcToBCExchangeRate": _text(rate),
            "pcToBCExchangeRateDate": f"{invoice.period_start.isoformat()}T00:00:00Z",
            "meterDescription": f"{row['MeterSubCategory']} - {row['MeterName']} ({row['Unit']})",
            "reservationOrderId": "", "creditReasonCode": "",
            "subscriptionStartDate": f"{sub.creation_date.date().isoformat()}T00:00:00Z",
            "subscriptionEndDate": f"{invoice.period_end.isoformat()}T00:00:00Z",
            "referenceId": str(uuid.uuid5(_NS, "|".join(map(str, (invoice.id, *_rest, sub_id))))),
            "productQualifiers": [], "promotionId": "", "productCategory": "Azure", "discountDetails": "",
            "invoiceLineItemType": "billing_line_items", "billingProvider": "one_time",
            "attributes": {"objectType": "OneTimeInvoiceLineItem"},
            "_total": subtotal + tax,
        })
    return lines


def usage_currencies(backend: Backend, start: date, end: date) -> set[str]:
    """Billing currencies with Azure plan usage in [start, end] (an invoice is issued for each)."""
    out = set()
    for sub in backend.subscriptions.values():
        if is_azure_plan(sub.product_id) and sub.status != "pending" and next(
                _usage_days(backend, sub, start, end), None) is not None:
            out.add(backend.catalog.currency_for(backend.customers[sub.customer_id].country))
    return out


# -- wire forms -------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    return str(value)


def _iso(value: date) -> str:
    return f"{value.isoformat()}T00:00:00Z"


_V1_RENAME = {"Unit": "unitOfMeasure", "ResourceURI": "resourceUri", "Tier2MpnId": "resellerMpnId"}


def v1_item(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the v1 API's ``DailyRatedUsageLineItem``: camelCase keys (``unitOfMeasure``, ``resourceUri``,
    ``rateOfPartnerEarnedCredit``/``rateOfCredit`` as fractions, ``hasPartnerEarnedCredit``), numbers as strings,
    dates ISO 8601 (billing-formats.md §1.6, §3.1)."""
    item: dict[str, Any] = {}
    for column in DAILY_COLUMNS:
        value = row[column]
        if column in ("PartnerEarnedCreditPercentage", "CreditPercentage"):
            name = "rateOfPartnerEarnedCredit" if column.startswith("Partner") else "rateOfCredit"
            item[name] = _text(value / 100) if value is not None else "0"
            continue
        key = _V1_RENAME.get(column, json_key(column))
        item[key] = _iso(value) if isinstance(value, date) else _text(value) if isinstance(value, Decimal) else value
    item["hasPartnerEarnedCredit"] = row["CreditType"] == PEC_APPLIED
    item["invoiceLineItemType"] = "usage_line_items"
    item["billingProvider"] = "one_time"
    item["attributes"] = {"objectType": "DailyRatedUsageLineItem"}
    return item


def export_line(row: dict[str, Any], keys: tuple[str, ...] = DAILY_KEYS) -> str:
    """A row as one Graph usage export JSON line (no newline): ``keys`` in file order, numbers as JSON numbers
    (exact decimal text), dates ISO 8601, blanks as ``""``."""
    wanted = set(keys)
    parts = []
    for column in DAILY_COLUMNS:
        key = json_key(column)
        if key not in wanted:
            continue
        value = row[column]
        if value is None:
            text = '""'
        elif isinstance(value, Decimal):
            text = _text(value)
        elif isinstance(value, date):
            text = json.dumps(_iso(value))
        else:
            text = json.dumps(value, ensure_ascii=False)
        parts.append(f'"{key}":{text}')
    return "{" + ",".join(parts) + "}"


def daily_csv(rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> str:
    """Rows as the portal's daily rated usage CSV: the 55 columns, ``MM/DD/YYYY`` dates, exact decimal text."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(DAILY_COLUMNS)
    for row in rows:
        writer.writerow(["" if (v := row[c]) is None else _us(v) if isinstance(v, date) else
                         _text(v) if isinstance(v, Decimal) else v for c in DAILY_COLUMNS])
    return out.getvalue()


def day_start(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
