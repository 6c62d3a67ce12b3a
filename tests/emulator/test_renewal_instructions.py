"""Changes at renewal on the emulator: ``scheduledNextTermInstructions`` set, shown and cleared through PATCH of the
subscription, validated against the catalog, and applied (then cleared) when the clock reaches the renewal, whose
``renew`` charge follows the new SKU, term, billing cycle and seats."""

from __future__ import annotations

from decimal import Decimal as D

from tests.emulator.conftest import BASIC, E3, US_CUSTOMER

STANDARD = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5"


def _instructions(item: str = STANDARD, quantity: int = 7, term: str = "P1M", cycle: str = "monthly") -> dict:
    product_id, sku_id, availability_id = item.split(":")
    return {"product": {"productId": product_id, "skuId": sku_id, "availabilityId": availability_id,
                        "billingCycle": cycle, "termDuration": term}, "quantity": quantity}


def test_set_show_and_clear_through_patch(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5)
    assert "scheduledNextTermInstructions" not in sub  # null until set
    r = pc.patch_subscription(US_CUSTOMER, sub, scheduledNextTermInstructions=_instructions())
    assert r.status_code == 200, r.text
    shown = pc.subscription(US_CUSTOMER, sub["id"])["scheduledNextTermInstructions"]
    assert shown == _instructions()
    assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 5  # nothing changes before the renewal
    again = pc.subscription(US_CUSTOMER, sub["id"])
    r = pc.patch_subscription(US_CUSTOMER, again, scheduledNextTermInstructions=None)
    assert r.status_code == 200 and "scheduledNextTermInstructions" not in r.json()


def test_invalid_instructions_are_refused(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5)
    cases = [
        (_instructions(quantity=301), "2002"),  # Business Standard allows 1-300
        (_instructions(term="P3Y", cycle="triennial"), "800002"),  # not offered
        (_instructions(item=E3), "800002"),  # not an upgrade of Business Basic
        (_instructions(item="CFQ7TTC0LCHC:0002:WRONG"), "800004"),
        ({"product": {}, "quantity": "many"}, "800002"),
    ]
    for body, code in cases:
        r = pc.patch_subscription(US_CUSTOMER, pc.subscription(US_CUSTOMER, sub["id"]),
                                  scheduledNextTermInstructions=body)
        assert r.status_code == 400 and r.json()["code"] == code, (body, r.text)
    off = pc.patch_subscription(US_CUSTOMER, pc.subscription(US_CUSTOMER, sub["id"]), autoRenewEnabled=False)
    assert off.status_code == 200
    r = pc.patch_subscription(US_CUSTOMER, off.json(), scheduledNextTermInstructions=_instructions())
    assert r.status_code == 400 and "auto-renew" in r.json()["description"]


def test_applied_at_the_renewal_and_the_renewal_charge_follows_it(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5)  # P1M monthly from 2026-11-02: renews 2026-12-02
    pc.patch_subscription(US_CUSTOMER, sub, scheduledNextTermInstructions=_instructions(quantity=7))
    emulator.clock.set("2026-12-03T00:00:00Z")
    renewed = pc.subscription(US_CUSTOMER, sub["id"])
    assert renewed["offerId"] == STANDARD and renewed["quantity"] == 7
    assert renewed["termDuration"] == "P1M" and renewed["billingCycle"] == "monthly"
    assert "scheduledNextTermInstructions" not in renewed  # cleared once applied
    assert renewed["commitmentEndDate"].startswith("2027-01-02")
    emulator.clock.set("2027-01-08T00:00:00Z")  # the December invoice
    invoices = pc.get("/invoices").json()["items"]
    december = next(i for i in invoices if i["billingPeriodStartDate"].startswith("2026-12"))
    lines = pc.all_pages(f"/invoices/{december['id']}/lineitems",
                         params={"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": 2000})
    renew = [ln for ln in lines if ln["chargeType"] == "renew" and ln["subscriptionId"] == sub["id"]]
    assert len(renew) == 1
    assert renew[0]["productId"] == "CFQ7TTC0LCHC" and int(renew[0]["quantity"]) == 7
    assert D(str(renew[0]["unitPrice"])) == D("15.00")


def test_a_mid_term_upgrade_deletes_the_scheduled_changes(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5, "P1Y", "monthly")
    pc.patch_subscription(US_CUSTOMER, sub, scheduledNextTermInstructions=_instructions(quantity=3, term="P1Y"))
    r = pc.post(f"/customers/{US_CUSTOMER}/subscriptions/{sub['id']}/transitions",
                json={"toCatalogItemId": STANDARD, "quantity": 1})
    assert r.status_code == 200, r.text
    assert "scheduledNextTermInstructions" not in pc.subscription(US_CUSTOMER, sub["id"])
