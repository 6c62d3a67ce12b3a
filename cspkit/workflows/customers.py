"""Onboarding customers: create a customer and confirm its Microsoft Customer Agreement, journaled in the ledger.

Both are writes, so each follows the ordering journal's rule (:mod:`cspkit.workflows.ordering.service`): the intent
is recorded (``pending``) before the call, ``submitted`` with the MS-RequestId just before it, then ``done`` or
``failed`` (``unknown`` when the answer was lost: a retry with the same ``key`` resends the same MS-RequestId, which
"Create a customer" documents as idempotent). A ``key`` whose entry is ``done`` is never written again.

Before creating, :meth:`CustomerOnboarding.check` validates the address (``POST /validations/address``) and the
domain (``HEAD /domains/{domain}``); a bad address or a taken domain refuses the create (``PolicyError``) without
calling it. The create's ``userCredentials`` (the new tenant's admin password) are never stored nor shown.
Sources: learn.microsoft.com/partner-center/developer/create-a-customer, verify-domain-availability,
validate-an-address, get-customer-agreement-metadata, confirm-customer-consent-customer-agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cspkit.errors import APIStatusError, PolicyError
from cspkit.models.agreement import MICROSOFT_CUSTOMER_AGREEMENT as MCA
from cspkit.models.agreement import Agreement, Contact
from cspkit.models.customer import AddressValidationResult, Customer
from cspkit.workflows.ordering.plan import AMBIGUOUS

__all__ = ["AcceptOutcome", "CreateOutcome", "CustomerOnboarding", "NewCustomer", "OnboardingCheck"]


@dataclass(frozen=True)
class NewCustomer:
    """What ``cspkit customers create`` asks for: the documented minimum of companyProfile + billingProfile."""

    domain: str
    company_name: str
    email: str
    first_name: str
    last_name: str
    address_line1: str
    city: str
    postal_code: str
    country: str
    state: str | None = None
    address_line2: str | None = None
    phone_number: str | None = None
    culture: str = "en-US"
    language: str = "en"

    @property
    def full_domain(self) -> str:
        """``contoso`` → ``contoso.onmicrosoft.com`` (the domain Partner Center creates)."""
        d = self.domain.strip().lower()
        return d if "." in d else f"{d}.onmicrosoft.com"

    def address(self) -> dict[str, Any]:
        """The wire ``defaultAddress`` (``Address`` utility resource)."""
        return {k: v for k, v in {
            "firstName": self.first_name, "lastName": self.last_name, "addressLine1": self.address_line1,
            "addressLine2": self.address_line2, "city": self.city, "state": self.state,
            "postalCode": self.postal_code, "country": self.country.upper(), "phoneNumber": self.phone_number,
        }.items() if v}

    def company_profile(self) -> dict[str, Any]:
        return {"domain": self.full_domain}

    def billing_profile(self) -> dict[str, Any]:
        return {"culture": self.culture, "email": self.email, "language": self.language,
                "companyName": self.company_name, "defaultAddress": self.address()}


@dataclass
class OnboardingCheck:
    """The pre-create checks: the address validation answer and whether the domain is free."""

    address: AddressValidationResult
    domain: str
    domain_available: bool

    @property
    def problems(self) -> list[str]:
        out = []
        if not self.address.is_valid:
            out.append(f"address not valid ({self.address.status}): {self.address.validation_message or 'no detail'}")
        if not self.domain_available:
            out.append(f"domain {self.domain} is already taken")
        return out


@dataclass
class CreateOutcome:
    entry_id: int
    status: str
    customer: Customer | None
    replayed: bool = False
    check: OnboardingCheck | None = None


@dataclass
class AcceptOutcome:
    entry_id: int
    status: str
    agreement: Agreement | None
    replayed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class CustomerOnboarding:
    """Customer creation and agreement acceptance over a client (``pc``) and a :class:`~cspkit.ledger.Ledger`."""

    def __init__(self, pc: Any, ledger: Any) -> None:
        self.pc = pc
        self.ledger = ledger

    def check(self, new: NewCustomer) -> OnboardingCheck:
        """Validate the address and the domain (reads only)."""
        address = self.pc.customers.validate_address(new.address())
        return OnboardingCheck(address, new.full_domain, self.pc.customers.domain_available(new.full_domain))

    def create(self, new: NewCustomer, *, key: str | None = None,
               check: OnboardingCheck | None = None) -> CreateOutcome:
        """Create the customer, journaled (kind ``customer_create``); idempotent on ``key``.

        Raises:
            PolicyError: the address is not valid or the domain is taken (nothing was sent; entry ``refused``).
            APIStatusError: Partner Center refused (entry ``failed``); connection errors leave it ``unknown``.
        """
        request = {"companyProfile": new.company_profile(), "billingProfile": new.billing_profile()}
        entry, created = self.ledger.begin(kind="customer_create", key=key, request=request,
                                           correlation_id=self.pc.transport.correlation_id)
        if not created and entry.status == "done":
            customer = Customer.from_wire(_loads(entry.after_json)) if entry.after_json else None
            return CreateOutcome(entry.id or 0, "done", customer, replayed=True)
        if entry.status != "unknown":  # an unknown create is resent with its MS-RequestId, unchecked
            check = check or self.check(new)
            if check.problems:
                error = PolicyError("customer not created: " + "; ".join(check.problems),
                                    reason="address_or_domain_invalid",
                                    hint="Correct the address (or pick another domain) and run again.")
                self.ledger.fail(entry.id, error, status="refused")
                raise error
        self.ledger.submitted(entry.id, request_id=entry.request_id or "")
        try:
            customer = self.pc.customers.create(company_profile=request["companyProfile"],
                                                billing_profile=request["billingProfile"],
                                                request_id=entry.request_id)
        except AMBIGUOUS as exc:
            self.ledger.fail(entry.id, exc, status="unknown")
            raise
        except APIStatusError as exc:
            self.ledger.fail(entry.id, exc)
            raise
        self.ledger.complete(entry.id, after=customer.to_wire(), detail=f"customer {customer.id} created")
        return CreateOutcome(entry.id or 0, "done", customer, check=check)

    def agreement(self, customer_id: str) -> tuple[list[Agreement], Any]:
        """The customer's confirmed MCA acceptances and the current template (reads only)."""
        return self.pc.agreements.list(customer_id), self.pc.agreements.current_template()

    def accept(self, customer_id: str, *, contact: Contact, date_agreed: date | datetime | None = None,
               key: str | None = None) -> AcceptOutcome:
        """Confirm the customer's acceptance of the Microsoft Customer Agreement, journaled (kind
        ``agreement_accept``); idempotent on ``key``. ``date_agreed`` defaults to today (UTC).

        Raises:
            APIStatusError: refused by Partner Center (entry ``failed``).
        """
        when = date_agreed or datetime.now(UTC)
        if not isinstance(when, datetime):
            when = datetime(when.year, when.month, when.day, tzinfo=UTC)
        template = self.pc.agreements.current_template()
        request = {"primaryContact": contact.to_wire(), "templateId": template.template_id,
                   "dateAgreed": when.isoformat(), "type": template.agreement_type}
        entry, created = self.ledger.begin(kind="agreement_accept", key=key, customer_id=customer_id,
                                           request=request, correlation_id=self.pc.transport.correlation_id)
        if not created and entry.status == "done":
            agreement = Agreement.from_wire(_loads(entry.after_json)) if entry.after_json else None
            return AcceptOutcome(entry.id or 0, "done", agreement, replayed=True)
        self.ledger.submitted(entry.id, request_id=entry.request_id or "")
        try:
            agreement = self.pc.agreements.accept(customer_id, template_id=template.template_id, contact=contact,
                                                  date_agreed=when, request_id=entry.request_id,
                                                  agreement_type=template.agreement_type or MCA)
        except AMBIGUOUS as exc:
            self.ledger.fail(entry.id, exc, status="unknown")
            raise
        except APIStatusError as exc:
            self.ledger.fail(entry.id, exc)
            raise
        self.ledger.complete(entry.id, after=agreement.to_wire(), detail="Microsoft Customer Agreement confirmed")
        return AcceptOutcome(entry.id or 0, "done", agreement)


def _loads(text: str) -> Any:
    import json

    return json.loads(text)
