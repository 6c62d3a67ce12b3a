"""``cspkit customers``: list, create (address and domain checked first) and the Microsoft Customer Agreement.

Creating a customer and confirming its agreement are journaled writes (:mod:`cspkit.workflows.customers`):
``--key K`` makes a rerun never write twice. Exit codes: 0 done (or already done under ``--key``), 1 refused
(bad address, taken domain, not confirmed, Partner Center said no), 2 bad input.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from cspkit.cli.context import confirm_or_stop, exit_with, fmt_time, ordering_context
from cspkit.cli.output import emit, note
from cspkit.cli.params import CUSTOMER_HELP, CUSTOMER_ID
from cspkit.errors import EXIT_FAILED

__all__ = ["customers_group"]


@click.group("customers")
def customers_group() -> None:
    """The partner's customers: list, create, and their Microsoft Customer Agreement."""


@customers_group.command("list")
@click.option("--page-size", type=click.IntRange(1, 500), default=None,
              help="Customers per request page, e.g. --page-size 100.")
@click.pass_obj
def customers_list(state: Any, page_size: int | None) -> None:
    """List every customer (walks all pages)."""
    customers = list(ordering_context(state).pc.customers.list(page_size=page_size))
    rows = [{"id": c.id, "company_name": c.company_name, "domain": c.domain,
             "relationship": c.relationship_to_partner} for c in customers]
    emit(rows, columns=["id", "company_name", "domain", "relationship"], fmt=state.output, wire=customers,
         title="Customers")


def _onboarding(state: Any) -> Any:
    from cspkit.workflows.customers import CustomerOnboarding

    ctx = ordering_context(state)
    return CustomerOnboarding(ctx.pc, ctx.ledger)


@customers_group.command("create")
@click.option("--domain", required=True, help="Initial domain, e.g. contoso.onmicrosoft.com (or just contoso).")
@click.option("--company", required=True,
              help="Registered company name (billingProfile.companyName), e.g. 'Contoso Ltd'.")
@click.option("--address-line1", required=True, help="Street address of the company, e.g. '1 Microsoft Way'.")
@click.option("--address-line2", help="Second address line, e.g. 'Suite 100'.")
@click.option("--city", required=True, help="City, e.g. Redmond.")
@click.option("--state", "region_state", help="State or province (required and checked for the US), e.g. WA.")
@click.option("--postal-code", required=True, help="Postal code (US: 12345 or 12345-6789), e.g. 98052.")
@click.option("--country", required=True, help="ISO 3166 alpha-2 country, e.g. US (decides market and currency).")
@click.option("--email", required=True, help="Billing contact email, e.g. billing@contoso.com.")
@click.option("--first-name", required=True, help="Billing contact first name, e.g. Ana.")
@click.option("--last-name", required=True, help="Billing contact last name, e.g. Silva.")
@click.option("--phone", help="Billing contact phone number, e.g. 4255550100.")
@click.option("--culture", default="en-US", show_default=True,
              help="Culture for communication and currency, e.g. en-GB.")
@click.option("--language", default="en", show_default=True, help="Two-letter language code, e.g. fr.")
@click.option("--key", "idempotency_key",
              help="Idempotency key: running again with it never creates twice, e.g. --key onboard-contoso.")
@click.option("--dry-run", is_flag=True, help="Validate the address and the domain and show the request; create "
              "nothing.")
@click.pass_obj
def customers_create(state: Any, domain: str, company: str, address_line1: str, address_line2: str | None, city: str,
                     region_state: str | None, postal_code: str, country: str, email: str, first_name: str,
                     last_name: str, phone: str | None, culture: str, language: str, idempotency_key: str | None,
                     dry_run: bool) -> None:
    """Create a customer (new tenant): validates the address and the domain, shows what it will create, asks."""
    from cspkit.workflows.customers import NewCustomer

    if len(country.strip()) != 2 or not country.strip().isalpha():
        raise click.BadParameter(f"expected an ISO 3166 alpha-2 code such as US, got {country!r}",
                                 param_hint="--country")
    new = NewCustomer(domain=domain, company_name=company, email=email, first_name=first_name,
                      last_name=last_name, address_line1=address_line1, address_line2=address_line2, city=city,
                      state=region_state, postal_code=postal_code, country=country.upper(), phone_number=phone,
                      culture=culture, language=language)
    service = _onboarding(state)
    if idempotency_key:
        done = service.ledger.by_key(idempotency_key)
        if done is not None and done.status == "done" and service.ledger.is_current(done):
            outcome = service.create(new, key=idempotency_key)
            note(f"Already created under key {idempotency_key} (ledger entry {outcome.entry_id}): nothing was "
                 "created now.")
            _show_customer(state, outcome.customer)
            return
    check = service.check(new)
    address = check.address
    note(f"Address: {address.status}" + (f" — {address.validation_message}" if address.validation_message else ""))
    note(f"Domain {check.domain}: {'available' if check.domain_available else 'TAKEN'}")
    note(f"Will create: {company} ({check.domain}), {address_line1}, {city} {region_state or ''} {postal_code} "
         f"{country.upper()}; billing contact {first_name} {last_name} <{email}>.")
    if check.problems:
        note("Not created: " + "; ".join(check.problems) + ".")
        exit_with(EXIT_FAILED)
    if dry_run:
        note("Dry run: nothing was created.")
        return
    confirm_or_stop(state, f"Create customer {company} ({check.domain})?")
    outcome = service.create(new, key=idempotency_key, check=check)
    note(f"Customer created (ledger entry {outcome.entry_id}). Before its first order, confirm its acceptance of the "
         f"Microsoft Customer Agreement: cspkit customers agreement accept --customer {outcome.customer.id} ...")
    _show_customer(state, outcome.customer)


def _show_customer(state: Any, customer: Any) -> None:
    if customer is None:
        return
    rows = [{"id": customer.id, "company_name": customer.company_name, "domain": customer.domain,
             "country": customer.country}]
    emit(rows, columns=["id", "company_name", "domain", "country"], fmt=state.output, wire=[customer],
         title="Customer")


@customers_group.group("agreement")
def agreement_group() -> None:
    """The customer's Microsoft Customer Agreement acceptance (required before its first order)."""


@agreement_group.command("show")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def agreement_show(state: Any, customer_id: str) -> None:
    """Show the customer's confirmed acceptances of the Microsoft Customer Agreement (exit 1 when none)."""
    agreements, template = _onboarding(state).agreement(customer_id)
    rows = [{"type": a.type, "template_id": a.template_id, "date_agreed": fmt_time(a.date_agreed),
             "contact": " ".join(x for x in ((a.primary_contact.first_name or "", a.primary_contact.last_name or "",
                                               f"<{a.primary_contact.email}>") if a.primary_contact else ()) if x),
             "current_template": "yes" if a.template_id == template.template_id else "no"} for a in agreements]
    emit(rows, columns=["type", "template_id", "date_agreed", "contact", "current_template"], fmt=state.output,
         wire=agreements, title=f"Microsoft Customer Agreement of {customer_id}")
    if not agreements:
        note(f"Customer {customer_id} has not accepted the Microsoft Customer Agreement ({template.agreement_link}): "
             "Partner Center refuses its orders until it is confirmed (cspkit customers agreement accept).")
        exit_with(EXIT_FAILED)


@agreement_group.command("accept")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--first-name", required=True, help="First name of the customer's user who accepted, e.g. Ana.")
@click.option("--last-name", required=True, help="Last name of the customer's user who accepted, e.g. Silva.")
@click.option("--email", required=True, help="Email of the customer's user who accepted, e.g. ana@contoso.com.")
@click.option("--phone", help="Phone number of that user, e.g. 4255550100.")
@click.option("--date", "date_agreed", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Date the customer accepted (default: today, UTC), e.g. 2026-11-30.")
@click.option("--key", "idempotency_key",
              help="Idempotency key: running again with it never records twice, e.g. --key mca-contoso.")
@click.pass_obj
def agreement_accept(state: Any, customer_id: str, first_name: str, last_name: str, email: str, phone: str | None,
                     date_agreed: Any, idempotency_key: str | None) -> None:
    """Confirm that the customer accepted the Microsoft Customer Agreement (asks unless --yes)."""
    from cspkit.models.agreement import Contact

    when: date | None = date_agreed.date() if date_agreed else None
    contact = Contact(first_name=first_name, last_name=last_name, email=email, phone_number=phone)
    confirm_or_stop(state, f"Confirm that {first_name} {last_name} <{email}> accepted the Microsoft Customer "
                    f"Agreement for customer {customer_id}" + (f" on {when}" if when else "") + "?")
    outcome = _onboarding(state).accept(customer_id, contact=contact, date_agreed=when, key=idempotency_key)
    if outcome.replayed:
        note(f"Already confirmed under key {idempotency_key} (ledger entry {outcome.entry_id}): nothing was sent now.")
    else:
        note(f"Acceptance recorded (ledger entry {outcome.entry_id}).")
    a = outcome.agreement
    rows = [{"customer": customer_id, "type": a.type if a else None, "template_id": a.template_id if a else None,
             "date_agreed": fmt_time(a.date_agreed) if a else None}]
    emit(rows, columns=["customer", "type", "template_id", "date_agreed"], fmt=state.output,
         wire=[a] if a else [], title="Agreement")
