"""The emulator's customer onboarding: create, domain availability, address validation, the Microsoft Customer
Agreement, and the refusal of a first order without it (403 13605)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cspkit.errors import APIStatusError, BadRequestError, ConflictError, PermissionDeniedError
from cspkit.models.agreement import Contact

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC_ITEM = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
ADDRESS = {"firstName": "Ada", "lastName": "Byron", "addressLine1": "1 Microsoft Way", "city": "Redmond",
           "state": "WA", "postalCode": "98052", "country": "US"}


@pytest.fixture
def pc(emulator_client):
    return emulator_client()


def _create(pc, domain="newco.onmicrosoft.com", **address):
    return pc.customers.create(company_profile={"domain": domain}, billing_profile={
        "email": "ada@newco.example", "culture": "en-US", "language": "en", "companyName": "NewCo",
        "defaultAddress": {**ADDRESS, **address}})


def _order(pc, customer_id):
    cart = pc.carts.create(customer_id, line_items=[{"catalogItemId": BASIC_ITEM, "quantity": 1,
                                                     "termDuration": "P1M", "billingCycle": "monthly"}])
    return pc.carts.checkout(customer_id, cart.id or "")


def test_create_gives_a_new_tenant_whose_domain_is_then_taken(pc, emulator):
    assert pc.customers.domain_available("newco.onmicrosoft.com")
    customer = _create(pc)
    assert customer.id in emulator.backend.customers and customer.country == "US"
    assert not pc.customers.domain_available("NEWCO.onmicrosoft.com")
    with pytest.raises(ConflictError):
        _create(pc)


def test_create_refuses_an_invalid_us_address(pc, emulator):
    with pytest.raises(BadRequestError) as info:
        _create(pc, postalCode="980")
    assert info.value.code == "2007"
    assert not [c for c in emulator.backend.customers.values() if c.domain == "newco.onmicrosoft.com"]
    assert pc.customers.domain_available("newco.onmicrosoft.com")


def test_address_validation_rule(pc):
    good = pc.customers.validate_address(ADDRESS)
    assert good.status == "VerifiedShippable" and good.is_valid
    bad = pc.customers.validate_address({**ADDRESS, "state": "", "postalCode": "98O52"})
    assert bad.status == "None" and not bad.is_valid
    assert "State" in bad.validation_message and "PostalCode" in bad.validation_message
    assert pc.customers.validate_address({**ADDRESS, "country": "DE", "state": "", "postalCode": "10115"}).is_valid
    with pytest.raises(BadRequestError):
        pc.customers.validate_address({"country": "US"})


def test_new_customer_cannot_order_until_the_agreement_is_confirmed(pc, emulator):
    customer = _create(pc)
    assert pc.agreements.list(customer.id) == []
    with pytest.raises(PermissionDeniedError) as info:
        _order(pc, customer.id)
    assert info.value.code == "13605"
    assert not [o for o in emulator.backend.orders.values() if o.customer_id == customer.id]
    template = pc.agreements.current_template()
    pc.agreements.accept(customer.id, template_id=template.template_id, date_agreed=datetime(2026, 11, 2, tzinfo=UTC),
                         contact=Contact(first_name="Ada", last_name="Byron", email="ada@newco.example"))
    [accepted] = pc.agreements.list(customer.id)
    assert accepted.template_id == template.template_id and accepted.primary_contact.email == "ada@newco.example"
    result = _order(pc, customer.id)
    assert result.orders


def test_direct_order_is_refused_too(pc, emulator):
    customer = _create(pc)
    import requests

    answer = requests.post(f"{emulator.url}/v1/customers/{customer.id}/orders", timeout=10,
                           headers={"Authorization": f"Bearer {emulator.token}"},
                           json={"lineItems": [{"lineItemNumber": 0, "offerId": BASIC_ITEM, "quantity": 1,
                                                "termDuration": "P1M"}], "billingCycle": "monthly"})
    assert answer.status_code == 403 and answer.json()["code"] == "13605"


def test_seed_customers_count_as_accepted(pc):
    [agreement] = pc.agreements.list(CONTOSO)
    assert agreement.type == "MicrosoftCustomerAgreement"
    assert pc.agreements.list(CONTOSO, agreement_type="MicrosoftCloudAgreement") == []


def test_accept_checks_the_template(pc):
    with pytest.raises(APIStatusError) as info:
        pc.agreements.accept(CONTOSO, template_id="not-a-template", date_agreed=datetime(2026, 1, 1, tzinfo=UTC),
                             contact=Contact(first_name="A", last_name="B", email="a@b.example"))
    assert info.value.status_code == 400


def test_agreements_survive_a_state_save(emulator, tmp_path):
    from cspkit.emulator import state as state_mod

    emulator.backend.create_agreement(CONTOSO, {"primaryContact": {"firstName": "A", "lastName": "B",
                                                                   "email": "a@b.example"},
                                                "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
                                                "dateAgreed": "2026-11-02T00:00:00.000Z",
                                                "type": "MicrosoftCustomerAgreement"})
    doc = state_mod.decode(state_mod.encode(emulator.backend.export_state()))
    assert len(doc["customers"][CONTOSO].agreements) == 2
