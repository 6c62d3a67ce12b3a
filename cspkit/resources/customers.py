"""Customers: list, get, create; domain availability; address validation.

Operations (partner-center-api.md §8 and learn.microsoft.com/partner-center/developer/):

* "Get a list of customers", "Get a customer by ID": ``GET /customers?size=N``, ``GET /customers/{id}``.
* "Create a customer" (``create-a-customer``): ``POST /v1/customers`` with ``{"companyProfile": {"domain":
  "xyz.onmicrosoft.com"}, "billingProfile": {"culture": "EN-US", "email", "language": "en", "companyName",
  "defaultAddress": {"firstName", "lastName", "addressLine1", "city", "state", "postalCode", "country",
  "phoneNumber"?}}}`` → ``201 Created`` and the Customer: ``id`` (the new tenant id), ``commerceId``,
  ``companyProfile.tenantId``, ``billingProfile``, ``relationshipToPartner``, and ``userCredentials {userName,
  password}`` — the new tenant's first admin password, which this client drops and never stores or prints. The
  doc calls the API idempotent; the MS-RequestId is the key (a journaled retry reuses it).
* "Verify domain availability" (``verify-domain-availability``): ``HEAD /v1/domains/{domain}`` → ``200 OK`` when the
  domain exists (taken), ``404 Not Found`` when it is available; no body either way.
* "Validate an address" (``validate-an-address``): ``POST /v1/validations/address`` (singular, as documented; the
  issue said ``/validations/addresses``) with ``{"addressLine1", "addressLine2"?, "city", "state", "postalCode",
  "country"}`` → ``200`` and ``{"originalAddress", "suggestedAddresses": [...], "status": "VerifiedShippable" |
  "Verified" | "InteractionRequired" | "StreetPartial" | "PremisesPartial" | "Multiple" | "None" |
  "NotValidated", "validationMessage"?}`` (the May 2021 shape; the 2017 page answered 400 code 2007 instead).
"""

from __future__ import annotations

from typing import Any

from cspkit.errors import NotFoundError
from cspkit.models.customer import Address, AddressValidationResult, Customer
from cspkit.pagination import Paginator
from cspkit.resources.base import Resource, segment

__all__ = ["DEFAULT_PAGE_SIZE", "Customers"]

DEFAULT_PAGE_SIZE = 100
"""Customers per page when none is asked for ("Get a list of customers": ``GET /customers?size={size}``)."""


class Customers(Resource):
    """``pc.customers``: the partner's customers."""

    def list(self, *, page_size: int | None = None) -> Paginator[Customer]:
        """Get a list of customers (``GET /customers?size=N``), walking every page (seek paging with
        ``MS-ContinuationToken``). ``size`` is always sent, as "Get a list of customers" documents the request.

        Args:
            page_size: ``size`` per page (None: :data:`DEFAULT_PAGE_SIZE`; at least 1).
        Returns:
            A lazy iterable of :class:`~cspkit.models.customer.Customer` (list items carry ``id``,
            ``companyProfile`` and ``relationshipToPartner`` only).
        Raises:
            APIStatusError: the service refused.
        """
        page_size = DEFAULT_PAGE_SIZE if page_size is None else page_size
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        return self.transport.paginate("customers", parse=Customer.from_wire, page_size=page_size)

    def get(self, customer_id: str) -> Customer:
        """Get a customer by ID (``GET /customers/{customerTenantId}``).

        Returns:
            :class:`~cspkit.models.customer.Customer` with its billing profile (and so its country).
        Raises:
            NotFoundError: no such customer for this partner.
        """
        return Customer.from_wire(self.transport.get_json(f"customers/{segment(customer_id)}"))

    def create(self, *, company_profile: dict[str, Any], billing_profile: dict[str, Any],
               request_id: str | None = None) -> Customer:
        """Create a customer (``POST /customers``; 201 and the new Customer).

        Args:
            company_profile: wire ``companyProfile`` (``domain`` required, e.g. ``contoso.onmicrosoft.com``).
            billing_profile: wire ``billingProfile`` (``email``, ``culture``, ``language``, ``companyName``,
                ``defaultAddress``).
            request_id: MS-RequestId to reuse (Partner Center's idempotency key for this create).
        Returns:
            The :class:`~cspkit.models.customer.Customer`; ``id`` is the new customer tenant id. The
            ``userCredentials`` of the answer (the admin password) are dropped here.
        Raises:
            BadRequestError: invalid profile or address; ConflictError: the domain is taken.
        """
        body = {"companyProfile": company_profile, "billingProfile": billing_profile}
        response = self.transport.request("POST", "customers", json=body, request_id=request_id)
        answer = dict(response.json or {})
        answer.pop("userCredentials", None)
        answer.pop("UserCredentials", None)
        return Customer.from_wire(answer)

    def domain_available(self, domain: str) -> bool:
        """Verify domain availability (``HEAD /domains/{domain}``): True when 404 (free), False when 200 (taken).

        Raises:
            APIStatusError: any other refusal.
        """
        try:
            self.transport.request("HEAD", f"domains/{segment(domain)}", expect_json=False)
        except NotFoundError:
            return True
        return False

    def validate_address(self, address: Address | dict[str, Any]) -> AddressValidationResult:
        """Validate an address (``POST /validations/address``; 200 and an AddressValidationResponse).

        Args:
            address: ``addressLine1``, ``city``, ``state``, ``postalCode``, ``country`` (ISO alpha-2) required.
        Returns:
            :class:`~cspkit.models.customer.AddressValidationResult` (``is_valid`` for VerifiedShippable/Verified).
        Raises:
            BadRequestError: the service refused the request itself.
        """
        wire = address.to_wire() if isinstance(address, Address) else dict(address)
        wire = {k: v for k, v in wire.items() if k in _ADDRESS_FIELDS and v not in (None, "")}
        response = self.transport.request("POST", "validations/address", json=wire)
        return AddressValidationResult.from_wire(response.json or {"status": "NotValidated"})


_ADDRESS_FIELDS = ("addressLine1", "addressLine2", "addressLine3", "city", "state", "postalCode", "country")
