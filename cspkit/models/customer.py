"""Customer resources (partner-center-api.md §8; Partner Center "Customer resources").

List responses carry only ``id``, ``companyProfile`` and ``relationshipToPartner``; get-by-id adds
``billingProfile`` and the rest. Every field is optional except the id.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cspkit.models.base import PCModel
from cspkit.models.common import ResourceAttributes

__all__ = ["Address", "AddressValidationResult", "BillingProfile", "CompanyProfile", "Customer"]


class Address(PCModel):
    """A postal address; ``country`` is ISO 3166 alpha-2."""

    country: str | None = None
    region: str | None = None
    city: str | None = None
    state: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    postal_code: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None


class CompanyProfile(PCModel):
    """``companyProfile``: tenant id, default domain and company name."""

    tenant_id: str | None = None
    domain: str | None = None
    company_name: str | None = None
    address: Address | None = None
    email: str | None = None


class BillingProfile(PCModel):
    """``billingProfile``: billing contact, culture, language and ``defaultAddress`` (which holds the country)."""

    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    culture: str | None = None
    language: str | None = None
    company_name: str | None = None
    default_address: Address | None = None


class Customer(PCModel):
    """A customer of the partner: ``id`` is the customer's tenant id (the ``customer_id`` of every other call)."""

    id: str
    commerce_id: str | None = None
    company_profile: CompanyProfile | None = None
    billing_profile: BillingProfile | None = None
    relationship_to_partner: str | None = None
    allow_delegated_access: bool | None = None
    custom_domains: list[str] | None = None
    associated_partner_id: str | None = None
    links: dict[str, Any] | None = None
    attributes: ResourceAttributes | None = None

    @property
    def company_name(self) -> str | None:
        """The company name from the company or billing profile."""
        if self.company_profile and self.company_profile.company_name:
            return self.company_profile.company_name
        return self.billing_profile.company_name if self.billing_profile else None

    @property
    def domain(self) -> str | None:
        return self.company_profile.domain if self.company_profile else None

    @property
    def country(self) -> str | None:
        """ISO 3166 alpha-2 country of the billing address (decides market and currency), or None when not sent."""
        if self.billing_profile and self.billing_profile.default_address:
            return self.billing_profile.default_address.country
        if self.company_profile and self.company_profile.address:
            return self.company_profile.address.country
        return None


class AddressValidationResult(PCModel):
    """``AddressValidationResponse`` of "Validate an address" (``POST /v1/validations/address``, 200).

    ``status`` is one of ``VerifiedShippable``, ``Verified``, ``InteractionRequired``, ``StreetPartial``,
    ``PremisesPartial``, ``Multiple``, ``None`` (address incorrect), ``NotValidated``; ``suggestedAddresses``
    holds up to three candidates; ``validationMessage`` says what is wrong.
    Source: learn.microsoft.com/partner-center/developer/validate-an-address (REST response, May 2021 shape).
    """

    original_address: Address | None = None
    suggested_addresses: list[Address] | None = None
    status: str | None = None
    validation_message: str | None = None

    #: Statuses that mean the address can be used as is (the rest need a correction or a confirmation).
    VALID_STATUSES: ClassVar[tuple[str, ...]] = ("verifiedshippable", "verified")

    @property
    def is_valid(self) -> bool:
        """True for ``VerifiedShippable`` / ``Verified`` (any case)."""
        return (self.status or "").lower() in self.VALID_STATUSES
