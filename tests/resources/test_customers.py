"""Customers resource: seek paging over every page, get by id (exact HTTP exchanges)."""

from __future__ import annotations

import pytest
import responses

from cspkit.errors import NotFoundError

BASE = "https://pc.test/v1"


@responses.activate
def test_list_walks_pages_with_the_continuation_header(pc):
    responses.get(f"{BASE}/customers", match=[responses.matchers.query_param_matcher({"size": "2"})], json={
        "totalCount": 2,
        "items": [{"id": "c1", "companyProfile": {"companyName": "A"}}, {"id": "c2"}],
        "links": {"next": {"uri": "/customers?size=2&seekOperation=Next",
                           "headers": [{"key": "MS-ContinuationToken", "value": "tok/1=="}]}},
    })
    responses.get(f"{BASE}/customers",
                  match=[responses.matchers.query_param_matcher({"size": "2", "seekOperation": "Next"}),
                         responses.matchers.header_matcher({"MS-ContinuationToken": "tok/1=="})],
                  json={"totalCount": 1, "items": [{"id": "c3"}]})
    customers = list(pc.customers.list(page_size=2))
    assert [c.id for c in customers] == ["c1", "c2", "c3"]
    assert customers[0].company_name == "A"


@responses.activate
def test_get_reads_the_country_and_a_missing_customer_raises_not_found(pc):
    responses.get(f"{BASE}/customers/c1", json={
        "id": "c1", "companyProfile": {"domain": "a.onmicrosoft.com"},
        "billingProfile": {"defaultAddress": {"country": "DE"}}})
    responses.get(f"{BASE}/customers/nope", status=404, json={"code": "60003", "description": "Tenant not found"})
    customer = pc.customers.get("c1")
    assert (customer.country, customer.domain) == ("DE", "a.onmicrosoft.com")
    with pytest.raises(NotFoundError) as info:
        pc.customers.get("nope")
    assert info.value.code == "60003"


def test_against_the_emulator_every_page_and_get(emulator):
    from cspkit.client import PartnerCenter

    with PartnerCenter(endpoint=emulator.url, access_token=emulator.token, sleep=lambda s: None,
                       jitter=lambda upper: 0.0) as pc:
        pages = list(pc.customers.list(page_size=2).pages())
        assert [len(p.items) for p in pages] == [2, 2, 1]
        assert [c.id for p in pages for c in p.items] == list(emulator.backend.customers)
        wingtip = pc.customers.get("d1b2c3e4-7f8a-4b9c-9d0e-f1a2b3c4d5e6")
        assert (wingtip.company_name, wingtip.country) == ("Wingtip Toys GmbH", "DE")
        with pytest.raises(NotFoundError):
            pc.customers.get("00000000-0000-0000-0000-000000000000")


# -- create, domain, address: the documented exchanges (learn.microsoft.com/partner-center/developer/...) ----------
@responses.activate
def test_create_sends_the_documented_profiles_and_drops_the_admin_password(pc):
    documented = {  # "Create a customer" response example (201), trimmed
        "id": "dfd8cc0a-c592-468c-8461-869a38d24738", "commerceId": "0a4ce58a-6f96-4273-8035-d9c7d31b9ba4",
        "companyProfile": {"tenantId": "dfd8cc0a-c592-468c-8461-869a38d24738", "domain": "xyz.ccsctp.net"},
        "billingProfile": {"email": "test@outlook.com", "companyName": "test company",
                           "defaultAddress": {"country": "US", "city": "Redmond", "state": "WA",
                                              "addressLine1": "One Microsoft Way", "postalCode": "98052"}},
        "relationshipToPartner": "none", "userCredentials": {"userName": "admin", "password": "=;;n.=s9Z"},
        "attributes": {"objectType": "Customer"}}
    company = {"domain": "xyz.ccsctp.net"}
    billing = {"culture": "EN-US", "email": "test@outlook.com", "language": "en", "companyName": "test company",
               "defaultAddress": {"firstName": "Test", "lastName": "Test", "addressLine1": "One Microsoft Way",
                                  "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}}
    responses.post(f"{BASE}/customers", status=201, json=documented, match=[
        responses.matchers.json_params_matcher({"companyProfile": company, "billingProfile": billing}),
        responses.matchers.header_matcher({"MS-RequestId": "94e4e214-6b06-4fb7-96d1-94d559f9b47f"})])
    customer = pc.customers.create(company_profile=company, billing_profile=billing,
                                   request_id="94e4e214-6b06-4fb7-96d1-94d559f9b47f")
    assert (customer.id, customer.country, customer.domain) == (documented["id"], "US", "xyz.ccsctp.net")
    assert "=;;n.=s9Z" not in str(customer.to_wire()) and "userCredentials" not in customer.to_wire()


@responses.activate
def test_domain_availability_is_head_200_taken_404_free(pc):
    responses.head(f"{BASE}/domains/contoso.onmicrosoft.com", status=200)
    responses.head(f"{BASE}/domains/free.onmicrosoft.com", status=404)
    assert pc.customers.domain_available("contoso.onmicrosoft.com") is False
    assert pc.customers.domain_available("free.onmicrosoft.com") is True
    assert [c.request.method for c in responses.calls] == ["HEAD", "HEAD"]


@responses.activate
def test_validate_address_posts_the_documented_body_and_reads_the_status(pc):
    sent = {"addressLine1": "Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}
    responses.post(f"{BASE}/validations/address", match=[responses.matchers.json_params_matcher(sent)], json={
        "originalAddress": {"country": "US", "city": "Redmond", "state": "WA", "addressLine1": "Microsoft Way",
                            "postalCode": "98052"},
        "suggestedAddresses": [{"country": "US", "city": "Redmond", "state": "WA", "addressLine1": "1 Microsoft Way",
                                "postalCode": "98052-6399"}],
        "status": "StreetPartial",
        "validationMessage": "Address field invalid for property: 'Region', 'PostalCode', 'City'"})
    result = pc.customers.validate_address({**sent, "addressLine2": None})
    assert result.status == "StreetPartial" and not result.is_valid
    assert result.suggested_addresses[0].postal_code == "98052-6399"
    assert "PostalCode" in (result.validation_message or "")


# -- agreements: the documented exchanges --------------------------------------------------------------------------
@responses.activate
def test_agreement_metadata_asks_for_the_mca_and_reads_the_template(pc):
    responses.get(f"{BASE}/agreements",
                  match=[responses.matchers.query_param_matcher({"agreementType": "MicrosoftCustomerAgreement"})],
                  json={"totalCount": 1, "items": [{"templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
                                                    "agreementType": "MicrosoftCustomerAgreement",
                                                    "agreementLink": "https://aka.ms/customeragreement",
                                                    "versionRank": 0}],
                        "attributes": {"objectType": "Collection"}})
    template = pc.agreements.current_template()
    assert template.template_id == "117a77b0-9360-443b-8795-c6dedc750cf9"
    assert template.agreement_type == "MicrosoftCustomerAgreement"


@responses.activate
def test_accept_posts_the_documented_agreement_and_list_reads_it_back(pc):
    from datetime import UTC, datetime

    from cspkit.models.agreement import Contact

    customer = "14876998-c0dc-46e6-9d0c-65a57a6c32ec"
    body = {"primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "someone@example.com",
                               "phoneNumber": "1234567890"},
            "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9", "dateAgreed": "2018-06-14T00:00:00.000Z",
            "type": "MicrosoftCustomerAgreement"}
    answer = {"userId": "3d6f2c09-eb40-48ca-a4b3-d24c9c007531", **body}
    responses.post(f"{BASE}/customers/{customer}/agreements", status=201, json=answer,
                   match=[responses.matchers.json_params_matcher(body)])
    responses.get(f"{BASE}/customers/{customer}/agreements",
                  match=[responses.matchers.query_param_matcher({"agreementType": "MicrosoftCustomerAgreement"})],
                  json={"totalCount": 1, "items": [answer]})
    agreement = pc.agreements.accept(customer, template_id=body["templateId"], date_agreed=datetime(2018, 6, 14,
                                     tzinfo=UTC), contact=Contact(first_name="Tania", last_name="Carr",
                                                                  email="someone@example.com",
                                                                  phone_number="1234567890"))
    assert agreement.user_id == answer["userId"] and agreement.date_agreed == datetime(2018, 6, 14, tzinfo=UTC)
    assert [a.template_id for a in pc.agreements.list(customer)] == [body["templateId"]]
    with pytest.raises(ValueError, match="email"):
        pc.agreements.accept(customer, template_id="t", date_agreed=datetime(2018, 6, 14, tzinfo=UTC),
                             contact=Contact(first_name="A", last_name="B"))
