"""Customer onboarding workflow: intent before the call, refusal before any write, one MS-RequestId per key."""

from __future__ import annotations

import pytest

from cspkit.errors import APIConnectionError, PolicyError
from cspkit.ledger import Ledger
from cspkit.workflows.customers import CustomerOnboarding, NewCustomer

NEW = NewCustomer(domain="newco", company_name="NewCo", email="ada@newco.example", first_name="Ada",
                  last_name="Byron", address_line1="1 Microsoft Way", city="Redmond", state="WA",
                  postal_code="98052", country="US")


@pytest.fixture
def service(emulator_client, tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="emulator")
    yield CustomerOnboarding(emulator_client(), led)
    led.close()


def test_refused_before_any_write_when_the_address_is_bad(service, emulator):
    before = len(emulator.backend.customers)
    with pytest.raises(PolicyError, match="address not valid"):
        service.create(NewCustomer(**{**NEW.__dict__, "postal_code": "1"}), key="k1")
    assert len(emulator.backend.customers) == before
    assert service.ledger.by_key("k1").status == "refused"


def test_lost_answer_is_retried_with_the_same_request_id(service, emulator, monkeypatch):
    real = service.pc.customers.create
    sent: list[str] = []

    def lose_answer(**kwargs):
        sent.append(kwargs["request_id"])
        real(**kwargs)  # the customer is created, the answer is lost
        raise APIConnectionError("connection reset")

    monkeypatch.setattr(service.pc.customers, "create", lose_answer)
    with pytest.raises(APIConnectionError):
        service.create(NEW, key="k2")
    assert service.ledger.by_key("k2").status == "unknown"
    monkeypatch.setattr(service.pc.customers, "create", lambda **kw: (sent.append(kw["request_id"]), real(**kw))[1])
    outcome = service.create(NEW, key="k2")  # the domain is now taken by our own create: no re-check, same id
    assert outcome.status == "done" and sent[0] == sent[1]
    assert [c.id for c in emulator.backend.customers.values() if c.domain == "newco.onmicrosoft.com"] == \
        [outcome.customer.id]


def test_accept_then_the_customer_can_be_listed_as_accepted(service):
    from cspkit.models.agreement import Contact

    customer = service.create(NEW).customer
    assert service.agreement(customer.id)[0] == []
    outcome = service.accept(customer.id, contact=Contact(first_name="Ada", last_name="Byron",
                                                          email="ada@newco.example"), key="mca")
    assert outcome.status == "done" and not outcome.replayed
    assert service.accept(customer.id, contact=Contact(first_name="X", last_name="Y", email="x@y.example"),
                          key="mca").replayed
    assert len(service.agreement(customer.id)[0]) == 1
