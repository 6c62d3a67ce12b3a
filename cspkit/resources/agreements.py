"""Agreements: the Microsoft Customer Agreement template and customers' acceptance of it.

Operations (Partner Center REST, learn.microsoft.com/partner-center/developer/):

* "Get agreement metadata for the Microsoft Customer Agreement" (``get-customer-agreement-metadata``):
  ``GET /v1/agreements?agreementType=MicrosoftCustomerAgreement`` → ``{"totalCount": 1, "items": [{"templateId":
  "117a77b0-…", "agreementType": "MicrosoftCustomerAgreement", "agreementLink": "https://aka.ms/customeragreement",
  "versionRank": 0}], "attributes": {"objectType": "Collection"}}``. Without ``agreementType`` the service defaults
  to ``MicrosoftCloudAgreement``, so the type is always sent.
* "Confirm customer acceptance of the Microsoft Customer Agreement" (``confirm-customer-consent-customer-agreement``):
  ``POST /v1/customers/{customer-tenant-id}/agreements`` with ``{"primaryContact": {"firstName", "lastName",
  "email", "phoneNumber"?}, "templateId", "dateAgreed": "2018-06-14T00:00:00.000Z", "type":
  "MicrosoftCustomerAgreement"}`` → ``201 Created`` and the Agreement (with ``userId``).
* "Get confirmation of customer acceptance" (``get-confirmation-of-customer-agreement``):
  ``GET /v1/customers/{customer-tenant-id}/agreements?agreementType=MicrosoftCustomerAgreement`` → collection.

Partner Center refuses the first new-commerce order of a customer without a confirmed acceptance (403, code
13605: partner-center-api.md §7.4 from "Partner Center REST error codes").
"""

from __future__ import annotations

from datetime import UTC, datetime

from cspkit.models.agreement import MICROSOFT_CUSTOMER_AGREEMENT, Agreement, AgreementMetadata, Contact
from cspkit.resources.base import Resource, segment

__all__ = ["Agreements"]


def _items(body: object) -> list[dict]:
    if isinstance(body, dict):
        items = body.get("items", body.get("Items"))
        return list(items) if isinstance(items, list) else []
    return list(body) if isinstance(body, list) else []


def _wire_time(when: datetime) -> str:
    """``dateAgreed`` as the documented sample sends it: UTC, milliseconds, ``Z``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class Agreements(Resource):
    """``pc.agreements``: agreement templates and customers' acceptances."""

    def metadata(self, *, agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT) -> list[AgreementMetadata]:
        """Get agreement metadata (``GET /agreements?agreementType=...``).

        Returns:
            The templates of that type (usually one); ``template_id`` is what :meth:`accept` needs.
        Raises:
            APIStatusError: the service refused (App+User authentication only, per the doc page).
        """
        body = self.transport.get_json("agreements", params={"agreementType": agreement_type})
        return [AgreementMetadata.from_wire(item) for item in _items(body)]

    def current_template(self, *, agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT) -> AgreementMetadata:
        """The template to cite: the highest ``versionRank`` of :meth:`metadata`.

        Raises:
            NotFoundError: the service lists no template of that type.
        """
        from cspkit.errors import NotFoundError

        templates = self.metadata(agreement_type=agreement_type)
        if not templates:
            raise NotFoundError(f"Partner Center lists no {agreement_type} template", status_code=404)
        return max(templates, key=lambda t: t.version_rank or 0)

    def list(self, customer_id: str, *, agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT) -> list[Agreement]:
        """Get confirmations of a customer's acceptance (``GET /customers/{id}/agreements?agreementType=...``).

        Returns:
            Every recorded :class:`~cspkit.models.agreement.Agreement` of that type (empty: never confirmed).
        Raises:
            NotFoundError: no such customer.
        """
        body = self.transport.get_json(f"customers/{segment(customer_id)}/agreements",
                                       params={"agreementType": agreement_type})
        return [Agreement.from_wire(item) for item in _items(body)]

    def accept(
        self,
        customer_id: str,
        *,
        template_id: str,
        contact: Contact,
        date_agreed: datetime,
        agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT,
        agreement_link: str | None = None,
        request_id: str | None = None,
    ) -> Agreement:
        """Confirm customer acceptance (``POST /customers/{id}/agreements``; 201 and the Agreement).

        Args:
            template_id: from :meth:`metadata`.
            contact: the customer's user who accepted (first and last name and email required, phone optional).
            date_agreed: when the customer accepted (sent as UTC ``...T00:00:00.000Z``).
            request_id: MS-RequestId to reuse (a journaled retry sends the same one).
        Raises:
            ValueError: the contact lacks a first name, last name or email.
            BadRequestError / NotFoundError: refused by the service.
        """
        missing = [n for n in ("first_name", "last_name", "email") if not getattr(contact, n)]
        if missing:
            raise ValueError(f"primaryContact needs {', '.join(missing)}")
        body: dict = {
            "primaryContact": contact.to_wire(),
            "templateId": template_id,
            "dateAgreed": _wire_time(date_agreed),
            "type": agreement_type,
        }
        if agreement_link:
            body["agreementLink"] = agreement_link
        response = self.transport.request("POST", f"customers/{segment(customer_id)}/agreements", json=body,
                                          request_id=request_id)
        return Agreement.from_wire(response.json or body)
