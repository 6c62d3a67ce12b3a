"""Wire shapes: the only place that knows Partner Center's and the fulfillment API's camelCase.

Each function turns backend state into the JSON-ready dict the real service sends (partner-center-api.md,
saas-fulfillment.md). Links are relative and omit ``/v1``, as Partner Center's do.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from cspkit.emulator._util import fmt_dec, fmt_dt
from cspkit.emulator.billing import line_money
from cspkit.emulator.catalog import CatalogItem
from cspkit.emulator.models import (
    Cart,
    CartLine,
    Charge,
    Customer,
    EmulatorError,
    Invoice,
    Order,
    Subscription,
)

# ------------------------------------------------------------------------------------------------------------
# common
# ------------------------------------------------------------------------------------------------------------


def link(uri: str, method: str = "GET", headers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"uri": uri, "method": method, "headers": headers or []}


def collection(items: list[Any], *, self_uri: str, next_link: dict[str, Any] | None = None,
               continuation_token: str | None = None) -> dict[str, Any]:
    """Partner Center's ResourceCollection (``totalCount`` counts this page only)."""
    body: dict[str, Any] = {"totalCount": len(items), "items": items}
    if continuation_token:
        body["continuationToken"] = continuation_token
    links: dict[str, Any] = {"self": link(self_uri)}
    if next_link:
        links["next"] = next_link
    body["links"] = links
    body["attributes"] = {"objectType": "Collection"}
    return body


def pc_error(exc: EmulatorError) -> dict[str, Any]:
    return {"code": exc.code, "description": exc.description, "data": exc.data, "source": "PartnerFD"}


def saas_error(exc: EmulatorError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.description, "target": None, "details": []}}


def throttled(retry_after: int) -> dict[str, Any]:
    """The 429 body: not Partner Center's error shape (api-throttling-guidance)."""
    return {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {retry_after} seconds."}


def iso_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"P{seconds // 86400}D"
    if seconds % 3600 == 0:
        return f"PT{seconds // 3600}H"
    return f"PT{seconds}S"


def _date(value: date | None) -> str | None:
    if value is None:
        return None
    return fmt_dt(datetime(value.year, value.month, value.day, tzinfo=UTC))


def _num(value: Decimal) -> float:
    return float(value)


# ------------------------------------------------------------------------------------------------------------
# customers
# ------------------------------------------------------------------------------------------------------------


def company_profile(c: Customer) -> dict[str, Any]:
    """CustomerCompanyProfile ("Get a customer's company profile"): tenantId, domain, companyName, links.self."""
    return {
        "tenantId": c.id,
        "domain": c.domain,
        "companyName": c.company_name,
        "links": {"self": link(f"/customers/{c.id}/profiles/company")},
        "attributes": {"objectType": "CustomerCompanyProfile"},
    }


def billing_profile(c: Customer) -> dict[str, Any]:
    """CustomerBillingProfile ("Get a customer's billing profile"): id, names, email, culture, language,
    companyName, defaultAddress, links.self, attributes (etag, objectType)."""
    p = c.profile
    return {
        "id": c.commerce_id,
        "firstName": p.get("firstName", ""),
        "lastName": p.get("lastName", ""),
        "email": p.get("email", ""),
        "culture": p.get("culture", "en-US"),
        "language": p.get("language", "en"),
        "companyName": c.company_name,
        "defaultAddress": {
            "country": c.country,
            "region": p.get("region", ""),
            "city": p.get("city", ""),
            "state": p.get("state", ""),
            "addressLine1": p.get("addressLine1", ""),
            "postalCode": p.get("postalCode", ""),
            "firstName": p.get("firstName", ""),
            "lastName": p.get("lastName", ""),
            "phoneNumber": p.get("phoneNumber", ""),
        },
        "links": {"self": link(f"/customers/{c.id}/profiles/billing")},
        "attributes": {"etag": _profile_etag(c), "objectType": "CustomerBillingProfile"},
    }


def _profile_etag(c: Customer) -> str:
    return hashlib.sha256(json.dumps([c.company_name, c.country, c.profile], sort_keys=True,
                                     default=str).encode()).hexdigest()[:20]


def customer(c: Customer, *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id,
        "commerceId": c.commerce_id,
        "companyProfile": company_profile(c),
        "relationshipToPartner": c.relationship,
        "links": {"self": link(f"/customers/{c.id}")},
        "attributes": {"objectType": "Customer"},
    }
    if full:
        body["allowDelegatedAccess"] = True
        body["billingProfile"] = billing_profile(c)
    return body


# ------------------------------------------------------------------------------------------------------------
# catalog
# ------------------------------------------------------------------------------------------------------------


def product(p: dict[str, Any], *, country: str, prefix: str = "") -> dict[str, Any]:
    return {
        "id": p["id"],
        "title": p["title"],
        "description": p.get("description", ""),
        "productType": p["productType"],
        "isMicrosoftProduct": bool(p.get("isMicrosoftProduct")),
        "publisherName": p.get("publisherName", ""),
        "links": {
            "skus": link(f"{prefix}/products/{p['id']}/skus?country={country}"),
            "self": link(f"{prefix}/products/{p['id']}?country={country}"),
        },
        "attributes": {"objectType": "Product"},
    }


def sku(item: CatalogItem, *, country: str, prefix: str = "") -> dict[str, Any]:
    s = item.sku
    cycles = sorted({t.billing_cycle for t in item.terms})
    base = f"{prefix}/products/{item.product_id}/skus/{s['id']}"
    return {
        "id": s["id"],
        "productId": item.product_id,
        "title": s["title"],
        "description": s.get("description", ""),
        "minimumQuantity": int(s["minimumQuantity"]),
        "maximumQuantity": int(s["maximumQuantity"]),
        "isTrial": bool(s.get("isTrial")),
        "supportedBillingCycles": cycles,
        "purchasePrerequisites": [] if item.is_saas else ["MicrosoftCloudAgreement"],
        "inventoryVariables": [],
        "provisioningVariables": [],
        "actions": ["Refund"] if not s.get("isTrial") else [],
        "dynamicAttributes": {
            "isMicrosoftProduct": bool(item.product.get("isMicrosoftProduct")),
            "hasConstraints": False,
            "isAddon": bool(s.get("isAddon")),
            "prerequisiteSkus": list(s.get("prerequisiteSkus", [])),
            # the documented SKU's dynamic attributes ("Get a list of SKUs for a product", new commerce example)
            "isSoftwareAssuranceApplicable": False,
            "upgradeTargetOffers": list(s.get("upgradeTargetOffers", [])),
            "provisioningId": s.get("provisioningId", ""),
            "internal": False,
            **({"planId": s["planId"], "isPricePerSeat": bool(s.get("isPricePerSeat"))} if item.is_saas else {}),
        },
        "links": {
            "availabilities": link(f"{base}/availabilities?country={country}"),
            "self": link(f"{base}?country={country}"),
        },
        "attributes": {"objectType": "Sku"},
    }


def availability(item: CatalogItem, *, market: dict[str, Any], segment: str, policy: Any,
                 prefix: str = "") -> dict[str, Any]:
    country = market["country"]
    terms = []
    for t in item.terms:
        rule = policy.refund_rule(saas=item.is_saas, term_duration=t.duration)
        options = [{"sequenceId": 0, "type": "Full", "expiresAfter": iso_duration(rule.full)}]
        if rule.partial:
            options.append({"sequenceId": 1, "type": "Partial", "expiresAfter": iso_duration(rule.partial)})
        terms.append({
            "id": f"{item.availability_id}-{t.duration}-{t.billing_cycle}".lower(),
            "duration": t.duration,
            "description": t.description,
            "billingCycle": t.billing_cycle,
            "renewalOptions": [] if item.is_trial else [{"termDuration": t.duration, "description": t.description}],
            "cancellationPolicies": [] if item.is_trial else [{"refundOptions": options}],
        })
    aid = item.availability_id
    base = f"{prefix}/products/{item.product_id}/skus/{item.sku_id}/availabilities/{aid}"
    return {
        "id": aid,
        "productId": item.product_id,
        "skuId": item.sku_id,
        "catalogItemId": item.catalog_item_id,
        "defaultCurrency": {"code": market["currency"], "symbol": market.get("currencySymbol", "")},
        "segment": segment,
        "country": country,
        "isPurchasable": True,
        "isRenewable": not item.is_trial,
        "renewalInstructions": [] if item.is_trial else [
            {"applicableTermIds": [t["id"]], "renewalOptions": [{"renewToId": f"{item.catalog_item_id}:{t['id']}",
                                                                 "isAutoRenewable": True}]}
            for t in terms
        ],
        "terms": terms,
        "product": product(item.product, country=country, prefix=prefix),
        "sku": sku(item, country=country, prefix=prefix),
        "links": {"self": link(f"{base}?country={country}")},
        "attributes": {"objectType": "Availability"},
    }


# ------------------------------------------------------------------------------------------------------------
# carts and orders
# ------------------------------------------------------------------------------------------------------------


def cart_line(line: CartLine) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": line.id,
        "catalogItemId": line.catalog_item_id,
        "quantity": line.quantity,
        "currencyCode": line.currency_code,
        "billingCycle": line.billing_cycle,
        "termDuration": line.term_duration,
        "provisioningContext": line.provisioning_context,
        "orderGroup": line.order_group,
        "participants": line.participants,
        "addonItems": [cart_line(a) for a in line.addon_items],
    }
    if line.friendly_name is not None:
        body["friendlyName"] = line.friendly_name
    if line.promotion_id:
        body["promotionId"] = line.promotion_id
    if line.custom_term_end_date is not None:
        body["customTermEndDate"] = fmt_dt(line.custom_term_end_date)
    if line.renews_to:
        body["renewsTo"] = line.renews_to
    if line.attestation_accepted is not None:
        body["attestationAccepted"] = line.attestation_accepted
    if line.error:
        body["error"] = line.error
    return body


def promotion(p: dict[str, Any]) -> dict[str, Any]:
    """A promotion as "Get promotions" prints it (the seed's ``emulator`` rules stay inside the emulator)."""
    return {k: v for k, v in p.items() if k != "emulator"}


def cart(c: Cart) -> dict[str, Any]:
    body = {
        "id": c.id,
        "creationTimestamp": fmt_dt(c.created),
        "lastModifiedTimestamp": fmt_dt(c.modified),
        "expirationTimestamp": fmt_dt(c.expires),
        "lastModifiedUser": c.last_modified_user,
        "lineItems": [cart_line(x) for x in c.lines],
        "status": c.status,
        "links": {"self": link(f"/customers/{c.customer_id}/carts/{c.id}")},
        "attributes": {"objectType": "Cart"},
    }
    if c.partner_on_record_attestation_accepted is not None:
        body["partnerOnRecordAttestationAccepted"] = c.partner_on_record_attestation_accepted
    return body


def catalog_links(product_id: str, sku_id: str, availability_id: str, country: str) -> dict[str, Any]:
    """``links.product``/``sku``/``availability`` of a subscription or order line: with ``?country=`` (the
    customer's country), as the documented samples print them ("Get a subscription by ID": ``/products/
    CFQ7TTC0LH18?country=US``) — the catalog routes require a country."""
    q = f"?country={country}"
    return {
        "product": link(f"/products/{product_id}{q}"),
        "sku": link(f"/products/{product_id}/skus/{sku_id}{q}"),
        "availability": link(f"/products/{product_id}/skus/{sku_id}/availabilities/{availability_id}{q}"),
    }


def order(o: Order, *, country: str, include_price: bool = False) -> dict[str, Any]:
    base = f"/customers/{o.customer_id}/orders/{o.id}"
    lines = []
    for ln in o.lines:
        pid, sid, aid = ln.offer_id.split(":")
        links = {**catalog_links(pid, sid, aid, country), "provisioningStatus": link(f"{base}/provisioningstatus")}
        if ln.subscription_id:
            links["subscription"] = link(f"/customers/{o.customer_id}/subscriptions/{ln.subscription_id}")
        if ln.is_saas:
            links["activationLinks"] = link(f"{base}/lineitems/{ln.line_item_number}/activationlinks")
        item: dict[str, Any] = {
            "lineItemNumber": ln.line_item_number,
            "offerId": ln.offer_id,
            "subscriptionId": ln.subscription_id,
            "termDuration": ln.term_duration,
            "transactionType": ln.transaction_type,
            "friendlyName": ln.friendly_name,
            "quantity": ln.quantity,
            "provisioningContext": ln.provisioning_context,
            "links": links,
        }
        if ln.parent_subscription_id:
            item["parentSubscriptionId"] = ln.parent_subscription_id
        if include_price:
            extended = ln.unit_price * ln.quantity
            item["pricing"] = {"listPrice": _num(ln.list_price), "discountedPrice": _num(ln.unit_price),
                               "proratedPrice": _num(ln.unit_price), "price": _num(ln.unit_price),
                               "extendedPrice": _num(extended)}
        lines.append(item)
    body: dict[str, Any] = {
        "id": o.id,
        "alternateId": o.id,
        "referenceCustomerId": o.customer_id,
        "billingCycle": o.billing_cycle,
        "currencyCode": o.currency,
        "currencySymbol": o.currency_symbol,
        "lineItems": lines,
        "creationDate": fmt_dt(o.created),
        "status": o.status,
        "transactionType": o.transaction_type,
        # the documented order links (get-an-order-by-id, get-all-of-a-customer-s-orders); no patchOperation:
        # the emulator does not serve PATCH on orders, and every link it emits must resolve
        "links": {"self": link(base), "provisioningStatus": link(f"{base}/provisioningstatus")},
        "attributes": {"objectType": "Order"},
    }
    if include_price:
        body["totalPrice"] = _num(sum((ln.unit_price * ln.quantity for ln in o.lines), Decimal(0)))
    return body


def checkout_result(orders: list[Order], errors: list[dict[str, Any]], *, country: str) -> dict[str, Any]:
    return {"orders": [order(o, country=country) for o in orders], "orderErrors": errors,
            "attributes": {"objectType": "CartCheckoutResult"}}


def activation_links(items: list[tuple[int, str]], *, self_uri: str) -> dict[str, Any]:
    return collection(
        [{"lineItemNumber": n, "link": link(uri)} for n, uri in items], self_uri=self_uri
    )


def landing_uri(base_url: str, publisher_id: str, token: str, override: str | None = None) -> str:
    target = override or f"{base_url}/publisher/{publisher_id}/landing"
    return f"{target}{'&' if '?' in target else '?'}token={quote(token, safe='')}"


def provisioning_status(o: Order, subscriptions: dict[str, Subscription]) -> list[dict[str, Any]]:
    out = []
    for ln in o.lines:
        sub = subscriptions.get(ln.subscription_id or "")
        status = "fulfilled" if sub and sub.status == "active" else (
            "prefulfillmentPending" if sub and sub.status == "pending" else "unfulfilled")
        out.append({"lineItemNumber": ln.line_item_number, "status": status,
                    "quantityProvisioningInformation": [{"quantity": ln.quantity, "status": status}],
                    "attributes": {"objectType": "OrderLineItemProvisioningStatus"}})
    return out


# ------------------------------------------------------------------------------------------------------------
# subscriptions
# ------------------------------------------------------------------------------------------------------------


def subscription(s: Subscription, *, now: datetime, etag: str, open_windows: list[Any], country: str) -> dict[str, Any]:
    base = f"/customers/{s.customer_id}/subscriptions/{s.id}"
    window = s.term_window
    refund_options = []
    if s.status == "active" and window is not None and not s.is_trial:
        if now <= window.full_until:
            refund_options.append({"type": "Full", "expiresAt": fmt_dt(window.full_until)})
        if window.until != window.full_until and now <= window.until:
            refund_options.append({"type": "Partial", "expiresAt": fmt_dt(window.until)})
    refundable = [w for w in open_windows if s.status == "active"]
    # no links.offer: that link belongs to legacy offers (/offers/{offerId}); new-commerce subscriptions carry
    # product, sku and availability links ("Get a subscription by ID", new commerce example)
    links: dict[str, Any] = {
        "self": link(base),
        **catalog_links(s.product_id, s.sku_id, s.availability_id, country),
    }
    if s.parent_subscription_id:
        links["parentSubscription"] = link(f"/customers/{s.customer_id}/subscriptions/{s.parent_subscription_id}")
    if s.is_saas:
        links["activationLinks"] = link(f"{base}/activationlinks")
    cycle_end = s.cycle_end - timedelta(days=1) if s.cycle_end else None
    actions = []
    if s.status == "active":
        actions = ["edit"] + (["cancel"] if window is not None and now <= window.until else [])
    return {
        "id": s.id,
        "offerId": f"{s.product_id}:{s.sku_id}:{s.availability_id}",
        "offerName": s.offer_name,
        "friendlyName": s.friendly_name,
        "productType": s.product_type,
        "quantity": s.quantity,
        "unitType": "Licenses" if not s.is_saas else "none",
        "hasPurchasableAddons": False,
        "creationDate": fmt_dt(s.creation_date),
        "effectiveStartDate": fmt_dt(s.effective_start),
        "commitmentEndDate": fmt_dt(s.commitment_end),
        "cancellationAllowedUntilDate": fmt_dt(window.until) if window is not None else None,
        "billingCycleEndDate": fmt_dt(cycle_end),
        "status": s.status,
        "autoRenewEnabled": s.auto_renew,
        "isTrial": s.is_trial,
        "billingType": "license",
        "billingCycle": s.billing_cycle,
        "termDuration": s.term_duration,
        "renewalTermDuration": "" if s.is_trial else s.term_duration,
        "isMicrosoftProduct": not s.is_saas,
        "publisherName": s.publisher_name,
        "actions": actions,
        "partnerId": "",
        "suspensionReasons": s.suspension_reasons,
        "contractType": "subscription",
        "orderId": s.order_id,
        **({"parentSubscriptionId": s.parent_subscription_id} if s.parent_subscription_id else {}),
        **({"promotionId": s.promotion_id} if s.promotion_id else {}),
        **({"pendingQuantity": s.pending_quantity} if s.pending_quantity is not None else {}),
        **({"scheduledNextTermInstructions": next_term_instructions(s.next_term)} if s.next_term else {}),
        "refundOptions": refund_options,
        "refundableQuantity": {
            "totalQuantity": sum(w.quantity for w in refundable),
            "details": [{"quantity": w.quantity, "allowedUntilDateTime": fmt_dt(w.until)} for w in refundable],
        },
        "attentionNeeded": s.status == "pending",
        "actionTaken": False,
        "links": links,
        "attributes": {"etag": etag, "objectType": "Subscription"},
    }


# ------------------------------------------------------------------------------------------------------------
# invoices and reconciliation lines
# ------------------------------------------------------------------------------------------------------------


def next_term_instructions(n: dict[str, Any]) -> dict[str, Any]:
    """``scheduledNextTermInstructions`` as "Schedule changes for a new commerce subscription" shows it:
    ``{product: {productId, skuId, availabilityId, billingCycle, termDuration}, quantity}``."""
    return {"product": {"productId": n["product_id"], "skuId": n["sku_id"], "availabilityId": n["availability_id"],
                        "billingCycle": n["billing_cycle"], "termDuration": n["term_duration"]},
            "quantity": n["quantity"]}


def invoice(inv: Invoice, total: Decimal, symbol: str, *, with_pdf_link: bool = False) -> dict[str, Any]:
    detail_uri = (f"/invoices/{inv.id}/lineitems?provider=onetime&invoicelineitemtype=billinglineitems"
                  f"&currencycode={inv.currency}&size=2000")
    body: dict[str, Any] = {
        "id": inv.id,
        "invoiceDate": fmt_dt(inv.invoice_date),
        "billingPeriodStartDate": _date(inv.period_start),
        "billingPeriodEndDate": _date(inv.period_end),
        "totalCharges": _num(total),
        "paidAmount": 0,
        "currencyCode": inv.currency,
        "currencySymbol": symbol,
        "invoiceType": "OneTime",
        "documentType": inv.document_type,
        "taxReceipts": [],
        "amendments": [],
        "invoiceDetails": [{
            "invoiceLineItemType": "billing_line_items",
            "billingProvider": "one_time",
            "links": {"self": link(detail_uri)},
            "attributes": {"objectType": "InvoiceDetail"},
        }],
        "links": {"self": link(f"/invoices/{inv.id}")},
        "attributes": {"objectType": "Invoice"},
    }
    if with_pdf_link:
        body["pdfDownloadLink"] = f"/invoices/{inv.id}/documents/statement"
    return body


def recon_line(c: Charge, *, partner: dict[str, Any], invoice_number: str) -> dict[str, Any]:
    """One OneTimeInvoiceLineItem: the 47 NCE recon columns in the v1 API's camelCase, numbers as strings."""
    money = line_money(c)
    return {
        "partnerId": partner["tenantId"],
        "customerId": c.customer_id,
        "customerName": c.customer_name,
        "customerDomainName": c.customer_domain,
        "customerCountry": c.customer_country,
        "invoiceNumber": invoice_number,
        "mpnId": partner.get("mpnId", ""),
        "resellerMpnId": partner.get("mpnId", ""),
        "orderId": c.order_id,
        "orderDate": fmt_dt(c.at),
        "productId": c.product_id,
        "skuId": c.sku_id,
        "availabilityId": c.availability_id,
        "skuName": c.sku_name,
        "productName": c.product_name,
        "chargeType": c.charge_type,
        "unitPrice": fmt_dec(c.unit_price),
        "quantity": str(c.quantity),
        "subtotal": fmt_dec(money.subtotal),
        "taxTotal": fmt_dec(money.tax_total),
        "totalForCustomer": fmt_dec(money.total),
        "currency": c.currency,
        "priceAdjustmentDescription": c.price_adjustment,
        "publisherName": c.publisher_name,
        "publisherId": c.publisher_id,
        "subscriptionDescription": c.subscription_description,
        "subscriptionId": c.subscription_id,
        "chargeStartDate": _date(c.charge_start),
        "chargeEndDate": _date(c.charge_end),
        "termAndBillingCycle": c.term_and_billing_cycle,
        "effectiveUnitPrice": fmt_dec(money.effective_unit_price),
        "unitType": "",
        "alternateId": c.order_id,
        "billableQuantity": str(c.quantity),
        "billingFrequency": c.billing_frequency,
        "pricingCurrency": c.currency,
        "pcToBCExchangeRate": "1",
        "pcToBCExchangeRateDate": _date(c.at.date().replace(day=1)),
        "meterDescription": "",
        "reservationOrderId": "",
        "creditReasonCode": "",
        "subscriptionStartDate": _date(c.subscription_start),
        "subscriptionEndDate": _date(c.subscription_end),
        "referenceId": c.reference_id,
        "productQualifiers": c.product_qualifiers,
        "promotionId": c.promotion_id,
        "productCategory": c.product_category,
        "discountDetails": "",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "one_time",
        "attributes": {"objectType": "OneTimeInvoiceLineItem"},
    }


def estimate_links(currency: str) -> list[dict[str, Any]]:
    out = []
    for period in ("Current", "Previous"):
        query = urlencode({"provider": "onetime", "invoicelineitemtype": "billinglineitems",
                           "currencycode": currency, "period": period.lower(), "size": 2000})
        out.append({
            "type": "non_consumption",
            "title": f"Unbilled reconciliation line items ({period.lower()} period)",
            "description": "New-commerce license, software and marketplace charges not invoiced yet.",
            "period": period,
            "link": link(f"/invoices/unbilled/lineitems?{query}"),
        })
    return out


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
