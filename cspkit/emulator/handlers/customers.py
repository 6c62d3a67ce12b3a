"""Customers: list (seek-paged, ``starts_with`` filter), create, get, company and billing profiles; domain
availability (``HEAD /domains/{domain}``: 200 taken, 404 free), address validation (``POST /validations/address``)
and the Microsoft Customer Agreement (template metadata, acceptances)."""

from __future__ import annotations

import json
import uuid

from fastapi import Request
from fastapi.responses import Response

from cspkit.emulator import serializers as wire
from cspkit.emulator.http import backend_of, body_json, emulator_of, lower_keys, respond, seek_collection, seek_page
from cspkit.emulator.models import EmulatorError


def _filter(filter: str | None) -> tuple[str | None, str | None]:
    """(company-name prefix, domain prefix) of a customers ``filter`` (URL-encoded JSON, ``starts_with`` only)."""
    if not filter:
        return None, None
    try:
        spec = lower_keys(json.loads(filter))
    except ValueError:
        raise EmulatorError(400, "800002", "filter must be URL-encoded JSON.") from None
    field = str(spec.get("field", "")).lower()
    if str(spec.get("operator", "starts_with")).lower() != "starts_with":
        raise EmulatorError(400, "800002", "Only the starts_with operator is supported.")
    if field == "companyname":
        return str(spec.get("value", "")), None
    if field == "domain":
        return None, str(spec.get("value", ""))
    raise EmulatorError(400, "800002", f"Unsupported filter field {spec.get('field')!r}.")


def list_customers(request: Request, size: int = 0, filter: str | None = None) -> Response:
    name_prefix, domain_prefix = _filter(filter)
    customers = backend_of(request).list_customers(name_prefix=name_prefix, domain_prefix=domain_prefix)
    tokens = emulator_of(request).continuation
    offset, size = seek_page(request, tokens, "customers", 100)
    page = customers[offset: offset + size]
    base = "/customers" + (f"?filter={filter}" if filter else "")
    return respond(seek_collection([wire.customer(c, full=False) for c in page], tokens=tokens, kind="customers",
                                   offset=offset, size=size, total=len(customers), base_uri=base))


async def create_customer(request: Request) -> Response:
    body = await body_json(request)
    company = body.get("companyProfile") or {}
    billing = body.get("billingProfile") or {}
    address = billing.get("defaultAddress") or {}
    profile = {k: v for k, v in {**address, **{x: billing.get(x) for x in
               ("firstName", "lastName", "email", "culture", "language")}}.items() if v}
    profile.pop("country", None)
    customer = backend_of(request).create_customer(
        company_name=company.get("companyName") or billing.get("companyName") or "",
        domain=company.get("domain") or "",
        country=str(address.get("country") or "").upper(),
        profile=profile,
        request_id=request.scope["state"].get("request_id"),
    )
    body = wire.customer(customer)
    # "Create a customer" answers with the new tenant's first admin credentials (a throwaway password here)
    body["userCredentials"] = {"userName": "admin", "password": uuid.uuid4().hex[:12]}
    return respond(body, 201)


def get_customer(request: Request, customer_id: str) -> Response:
    return respond(wire.customer(backend_of(request).get_customer(customer_id)))


def get_customer_company_profile(request: Request, customer_id: str) -> Response:
    """Get a customer's company profile (CustomerCompanyProfile)."""
    return respond(wire.company_profile(backend_of(request).get_customer(customer_id)))


def get_customer_billing_profile(request: Request, customer_id: str) -> Response:
    """Get a customer's billing profile (CustomerBillingProfile)."""
    return respond(wire.billing_profile(backend_of(request).get_customer(customer_id)))


def check_domain_availability(request: Request, domain: str) -> Response:
    """Verify domain availability: 200 (no body) when the domain exists, 404 when it is available."""
    if backend_of(request).domain_exists(domain):
        return Response(status_code=200)
    raise EmulatorError(404, "600033", f"Domain {domain} was not found.")


async def validate_address(request: Request) -> Response:
    return respond(backend_of(request).validate_address(await body_json(request)))


def list_agreement_metadata(request: Request, agreementType: str | None = None) -> Response:  # noqa: N803
    items = backend_of(request).list_agreement_metadata(agreementType)
    return respond(wire.collection(items, self_uri=f"/agreements?agreementType={agreementType or ''}"))


async def create_customer_agreement(request: Request, customer_id: str) -> Response:
    return respond(backend_of(request).create_agreement(customer_id, await body_json(request)), 201)


def list_customer_agreements(request: Request, customer_id: str, agreementType: str | None = None) -> Response:  # noqa: N803
    items = backend_of(request).list_customer_agreements(customer_id, agreementType)
    return respond(wire.collection(items, self_uri=f"/customers/{customer_id}/agreements"))
