"""Customers and the catalog: the backend's partner-side reads and customer creation (a part of
:class:`~cspkit.emulator.backend.Backend`)."""

from __future__ import annotations

import re
from typing import Any

from cspkit.emulator._ops import operation
from cspkit.emulator.catalog import CatalogItem
from cspkit.emulator.models import (
    Customer,
    EmulatorError,
)

__all__ = ["AGREEMENT_TEMPLATES", "MCA_TEMPLATE_ID", "CatalogOps"]

MCA_TYPE = "MicrosoftCustomerAgreement"
MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"  # the template id of the documented samples
MCA_LINK = "https://aka.ms/customeragreement"
#: The fixed agreement templates (shape of "Get agreement metadata for the Microsoft Customer Agreement").
AGREEMENT_TEMPLATES: list[dict[str, Any]] = [
    {"templateId": MCA_TEMPLATE_ID, "agreementType": MCA_TYPE, "agreementLink": MCA_LINK, "versionRank": 0},
    {"templateId": "998b88de-aa99-4388-a42c-1b3517d49490", "agreementType": "MicrosoftCloudAgreement",
     "agreementLink": "https://go.microsoft.com/fwlink/?linkid=2123232", "versionRank": 0},
]
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split()
)
_US_ZIP = re.compile(r"\d{5}(-\d{4})?")


def _us_address_problems(address: dict[str, Any]) -> list[str]:
    """The emulator's address rule: for the US, a USPS state code and a ``NNNNN[-NNNN]`` postal code.

    Returns the wire names of the invalid fields (``State``, ``PostalCode``); empty when valid or not in the US."""
    if str(address.get("country") or "").upper() != "US":
        return []
    bad = []
    if str(address.get("state") or "").upper() not in US_STATES:
        bad.append("State")
    if not _US_ZIP.fullmatch(str(address.get("postalCode") or "").strip()):
        bad.append("PostalCode")
    return bad


class CatalogOps:
    """Operations of :class:`~cspkit.emulator.backend.Backend` on its state (its lock, clock and tables)."""

    # ======================================================================================================
    # customers
    # ======================================================================================================
    @operation
    def list_customers(self, *, name_prefix: str | None = None, domain_prefix: str | None = None) -> list[Customer]:
        out = list(self.customers.values())
        if name_prefix:
            out = [c for c in out if c.company_name.lower().startswith(name_prefix.lower())]
        if domain_prefix:
            out = [c for c in out if c.domain.lower().startswith(domain_prefix.lower())]
        return out

    @operation
    def get_customer(self, customer_id: str) -> Customer:
        customer = self.customers.get(customer_id) or self.customers.get((customer_id or "").lower())
        if customer is None:
            raise EmulatorError(404, "60003", f"Tenant {customer_id} not found.")
        return customer

    @operation
    def create_customer(
        self,
        *,
        company_name: str,
        domain: str,
        country: str,
        profile: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Customer:
        """Create a customer; idempotent on ``request_id`` (MS-RequestId)."""
        if request_id and request_id in self.request_results:
            return self.customers[self.request_results[request_id]]
        if not company_name or not domain or not country:
            raise EmulatorError(400, "800002", "companyName, domain and defaultAddress.country are required.")
        if not domain.lower().endswith(".onmicrosoft.com"):
            domain = f"{domain}.onmicrosoft.com"
        if any(c.domain.lower() == domain.lower() for c in self.customers.values()):
            raise EmulatorError(409, "600067", f"Domain {domain} is already in use.")
        bad = _us_address_problems({**(profile or {}), "country": country})
        if bad:  # the 2017 "Validate an address" failure code; the create names the fields
            raise EmulatorError(400, "2007", "Invalid address: field invalid for property: " + ", ".join(bad))
        customer = self._add_customer(
            {"companyName": company_name, "domain": domain, "country": country, **(profile or {})}, accepted=False
        )
        if request_id:
            self.request_results[request_id] = customer.id
        self._log("customer_created", customerId=customer.id)
        return customer

    @operation
    def domain_exists(self, domain: str) -> bool:
        """Verify domain availability: True (HTTP 200) when a customer holds ``domain``; False (404) when free."""
        wanted = (domain or "").strip().lower()
        return any(c.domain.lower() == wanted for c in self.customers.values())

    @operation
    def validate_address(self, address: dict[str, Any]) -> dict[str, Any]:
        """Validate an address: the documented AddressValidationResponse (``validate-an-address``).

        The emulator's rule: ``addressLine1``, ``city``, ``postalCode`` and ``country`` are required (400 800002);
        for the US the state must be a USPS code and the postal code ``NNNNN`` or ``NNNNN-NNNN``, else the status
        is ``None`` with a ``validationMessage`` naming the fields; otherwise ``VerifiedShippable``.
        """
        a = {k[:1].lower() + k[1:]: v for k, v in address.items() if isinstance(k, str)}
        missing = [f for f in ("addressLine1", "city", "postalCode", "country") if not str(a.get(f) or "").strip()]
        if missing:
            raise EmulatorError(400, "800002", f"Address is missing {', '.join(missing)}.")
        original = {k: a[k] for k in ("country", "region", "city", "state", "addressLine1", "addressLine2",
                                      "addressLine3", "postalCode") if a.get(k)}
        bad = _us_address_problems(a)
        if bad:
            return {"originalAddress": original, "suggestedAddresses": [], "status": "None",
                    "validationMessage": "Address field invalid for property: "
                                         + ", ".join(f"'{b}'" for b in bad)}
        return {"originalAddress": original, "suggestedAddresses": [dict(original)], "status": "VerifiedShippable"}

    # ======================================================================================================
    # agreements (Microsoft Customer Agreement)
    # ======================================================================================================
    def _seed_agreement(self, customer: Customer) -> dict[str, Any]:
        p = customer.profile
        return {
            "userId": self.partner.get("tenantId", ""),
            "primaryContact": {k: v for k, v in {"firstName": p.get("firstName"), "lastName": p.get("lastName"),
                                                 "email": p.get("email")}.items() if v},
            "templateId": MCA_TEMPLATE_ID,
            "dateAgreed": (customer.created or self.now()).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "type": MCA_TYPE,
            "agreementLink": MCA_LINK,
        }

    @operation
    def list_agreement_metadata(self, agreement_type: str | None = None) -> list[dict[str, Any]]:
        """Agreement metadata; without a type the service defaults to MicrosoftCloudAgreement (doc page)."""
        wanted = (agreement_type or "MicrosoftCloudAgreement").lower()
        return [m for m in AGREEMENT_TEMPLATES if wanted in ("*", m["agreementType"].lower())]

    @operation
    def create_agreement(self, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Confirm customer acceptance: the documented body is checked; the record gets the partner's ``userId``."""
        customer = self.get_customer(customer_id)
        contact = body.get("primaryContact") or {}
        missing = [f"primaryContact.{f}" for f in ("firstName", "lastName", "email") if not contact.get(f)]
        missing += [f for f in ("templateId", "dateAgreed", "type") if not body.get(f)]
        if missing:
            raise EmulatorError(400, "800002", f"Agreement is missing {', '.join(missing)}.")
        template = next((m for m in AGREEMENT_TEMPLATES if m["templateId"] == body["templateId"]), None)
        if template is None or template["agreementType"].lower() != str(body["type"]).lower():
            raise EmulatorError(400, "800002", f"templateId {body['templateId']} is not a {body['type']} template.")
        record = {"userId": self.partner.get("tenantId", ""), "primaryContact": dict(contact),
                  "templateId": body["templateId"], "dateAgreed": body["dateAgreed"], "type": template["agreementType"]}
        if body.get("agreementLink"):
            record["agreementLink"] = body["agreementLink"]
        if customer.agreements is None:
            customer.agreements = []
        customer.agreements.append(record)
        self._log("agreement_created", customerId=customer.id, templateId=record["templateId"])
        return record

    @operation
    def list_customer_agreements(self, customer_id: str, agreement_type: str | None = None) -> list[dict[str, Any]]:
        customer = self.get_customer(customer_id)
        if customer.agreements is None:  # a state from before agreements were tracked: show the implied one
            customer.agreements = [self._seed_agreement(customer)]
        wanted = (agreement_type or "MicrosoftCloudAgreement").lower()
        return [a for a in customer.agreements if wanted in ("*", str(a.get("type", "")).lower())]

    def require_customer_agreement(self, customer: Customer) -> None:
        """Refuse an order for a customer without a confirmed Microsoft Customer Agreement: 403, code 13605
        (partner-center-api.md §7.4 "MCA acceptance required", from "Partner Center REST error codes")."""
        if customer.agreements is None:
            return
        if not any(str(a.get("type", "")).lower() == MCA_TYPE.lower() for a in customer.agreements):
            raise EmulatorError(403, "13605", f"Customer {customer.id} has not accepted the Microsoft Customer "
                                "Agreement: confirm the acceptance (POST /customers/{id}/agreements) first.")

    # ======================================================================================================
    # catalog
    # ======================================================================================================
    def _check_catalog_query(self, country: str | None, target_view: str | None, target_segment: str | None) -> bool:
        """Validate catalog query parameters; False when the (valid) view/segment simply has nothing."""
        if not country:
            raise EmulatorError(400, "400056", "The country parameter is required.")
        if target_segment and target_segment.lower() not in ("commercial", "education", "government", "nonprofit"):
            raise EmulatorError(403, "400030", f"Access to the targetSegment {target_segment} is not allowed.")
        views = {
            "azure", "azurereservations", "azurereservationsvm", "azurereservationssql", "azurereservationscosmosdb",
            "microsoftazure", "onlineservices", "software", "softwaresuselinux", "softwareperpetual",
            "softwaresubscriptions",
        }
        if target_view is not None and target_view.lower() not in views:
            raise EmulatorError(403, "400036", f"Access to the targetView {target_view} is not allowed.")
        if target_segment and target_segment.lower() != self.catalog.segment:
            return False
        if self.catalog.market(country) is None:
            return False
        return target_view is None or target_view.lower() in ("onlineservices", "microsoftazure")

    @operation
    def list_products(
        self, *, country: str | None, target_view: str | None, target_segment: str | None = None
    ) -> list[dict[str, Any]]:
        if not target_view:
            raise EmulatorError(400, "400056", "The targetView parameter is required.")
        if not self._check_catalog_query(country, target_view, target_segment):
            return []
        azure = target_view.lower() == "microsoftazure"  # the Azure plan is listed there, and only there
        return [p for p in self.catalog.products() if (p["id"].upper() == "DZH318Z0BCZC") == azure]

    @operation
    def get_product(self, product_id: str, *, country: str | None) -> dict[str, Any]:
        self._check_catalog_query(country, None, None)
        product = self.catalog.product(product_id)
        if product is None or self.catalog.market(country) is None:
            raise EmulatorError(404, "400013", f"Product {product_id} was not found.")
        return product

    @operation
    def list_skus(
        self, product_id: str, *, country: str | None, target_segment: str | None = None
    ) -> list[CatalogItem]:
        ok = self._check_catalog_query(country, None, target_segment)
        product = self.get_product(product_id, country=country)
        return [self.catalog.item(product["id"], s["id"]) for s in product["skus"]] if ok else []

    @operation
    def get_sku(self, product_id: str, sku_id: str, *, country: str | None) -> CatalogItem:
        product = self.get_product(product_id, country=country)
        item = self.catalog.item(product["id"], sku_id)
        if item is None:
            raise EmulatorError(404, "400018", f"SKU {sku_id} of product {product_id} was not found.")
        return item

    @operation
    def list_availabilities(
        self, product_id: str, sku_id: str, *, country: str | None, target_segment: str | None = None
    ) -> list[CatalogItem]:
        ok = self._check_catalog_query(country, None, target_segment)
        item = self.get_sku(product_id, sku_id, country=country)
        return [item] if ok else []

    @operation
    def get_availability(
        self, product_id: str, sku_id: str, availability_id: str, *, country: str | None
    ) -> CatalogItem:
        item = self.get_sku(product_id, sku_id, country=country)
        if item.availability_id.upper() != (availability_id or "").upper():
            raise EmulatorError(404, "400019", f"Availability {availability_id} was not found.")
        return item

    @operation
    def check_inventory(self, *, country: str | None, target_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._check_catalog_query(country, None, None)
        out = []
        for target in target_items:
            product = self.catalog.product(target.get("productId", ""))
            if product is None:
                continue  # items not in the catalog are omitted
            skus = [target["skuId"]] if target.get("skuId") else [s["id"] for s in product["skus"]]
            for sku_id in skus:
                if self.catalog.sku(product["id"], sku_id) is not None:
                    out.append({"productId": product["id"], "skuId": sku_id, "isRestricted": False, "restrictions": []})
        return out
