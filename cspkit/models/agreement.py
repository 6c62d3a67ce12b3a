"""Agreement resources: the Microsoft Customer Agreement template metadata and a customer's acceptance.

Shapes (learn.microsoft.com/partner-center/developer/...):

* ``agreement-metadata-resources`` / ``get-customer-agreement-metadata``: ``GET /v1/agreements?agreementType=
  MicrosoftCustomerAgreement`` → collection of ``{templateId, agreementType, agreementLink, versionRank}`` (the
  resource page names the type ``type``; the REST response sample sends ``agreementType``: both are read).
* ``agreement-resources`` / ``confirm-customer-consent-customer-agreement``: ``POST /v1/customers/{id}/agreements``
  with ``{primaryContact {firstName, lastName, email, phoneNumber?}, templateId, dateAgreed (UTC date-time),
  type: "MicrosoftCustomerAgreement", agreementLink?}`` → 201 and the Agreement (``userId`` added by the service).
* ``get-confirmation-of-customer-agreement``: ``GET /v1/customers/{id}/agreements?agreementType=...`` → collection.
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from cspkit.models.base import PCModel, UtcDateTime

__all__ = ["MICROSOFT_CUSTOMER_AGREEMENT", "Agreement", "AgreementMetadata", "Contact"]

MICROSOFT_CUSTOMER_AGREEMENT = "MicrosoftCustomerAgreement"
"""The ``agreementType`` / ``type`` value of the Microsoft Customer Agreement."""


class Contact(PCModel):
    """``Contact`` (utility resources): the customer's user who accepted the agreement."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone_number: str | None = None


class AgreementMetadata(PCModel):
    """``AgreementMetaData``: one agreement template (``templateId`` is what an acceptance cites)."""

    template_id: str
    agreement_type: str | None = None
    agreement_link: str | None = None
    version_rank: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _type_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "agreementType" not in data and "AgreementType" not in data:
            kind = data.get("type", data.get("Type"))
            if kind is not None:
                data = {**data, "agreementType": kind}
        return data


class Agreement(PCModel):
    """``Agreement``: the partner's confirmation that a customer accepted an agreement."""

    template_id: str | None = None
    type: str | None = None
    date_agreed: UtcDateTime | None = None
    primary_contact: Contact | None = None
    user_id: str | None = None
    agreement_link: str | None = None
