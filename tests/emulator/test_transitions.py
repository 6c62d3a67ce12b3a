"""Upgrades (transitions) on the emulator, over plain HTTP: eligibilities (immediate and scheduled), a full and a
partial upgrade (seats moved, the source credited and the target charged ``convert`` lines, prorated from the
transition date), an upgrade into an existing subscription (``moveQuantity``), the history and the refusals."""

from __future__ import annotations

from decimal import Decimal as D

from tests.emulator.conftest import BASIC, E3, PREMIUM, US_CUSTOMER

STANDARD = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5"


def _path(sub_id: str, tail: str) -> str:
    return f"/customers/{US_CUSTOMER}/subscriptions/{sub_id}/{tail}"


def _lines(pc, emulator) -> list[dict]:
    emulator.clock.set("2026-12-08T00:00:00Z")
    invoice = pc.get("/invoices").json()["items"][0]["id"]
    return pc.all_pages(f"/invoices/{invoice}/lineitems",
                        params={"provider": "onetime", "invoicelineitemtype": "billinglineitems", "size": 2000})


def test_eligibilities_list_the_higher_skus_with_the_documented_shape(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5, "P1Y", "monthly")
    r = pc.get(_path(sub["id"], "transitionEligibilities"), params={"eligibilityType": "immediate"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["attributes"]["objectType"] == "Collection" and body["totalCount"] == 2
    by_id = {i["catalogItemId"]: i for i in body["items"]}
    assert set(by_id) == {STANDARD, PREMIUM}
    item = by_id[STANDARD]
    assert item["title"] == "Microsoft 365 Business Standard" and item["quantity"] == 5
    assert item["attributes"]["objectType"] == "TransitionEligibility"
    assert {(e["transitionType"], e["isEligible"]) for e in item["eligibilities"]} == {
        ("transition_only", True), ("transition_with_license_transfer", True)}
    assert item["terms"] == [{"termDuration": "P1Y", "billingCycle": "monthly"}]  # immediate: same term
    scheduled = pc.get(_path(sub["id"], "transitionEligibilities"), params={"eligibilityType": "scheduled"}).json()
    assert len(scheduled["items"][0]["terms"]) == 3  # at renewal any of the target's terms
    premium = pc.buy_one(US_CUSTOMER, PREMIUM, 1, "P1Y", "monthly")  # the top of the path: nothing higher
    assert pc.get(_path(premium["id"], "transitionEligibilities"),
                  params={"eligibilityType": "immediate"}).json()["items"] == []


def test_eligibility_type_is_required_and_checked(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 1, "P1Y", "monthly")
    assert pc.get(_path(sub["id"], "transitionEligibilities")).status_code == 400
    r = pc.get(_path(sub["id"], "transitionEligibilities"), params={"eligibilityType": "later"})
    assert r.status_code == 400 and r.json()["code"] == "800002"


def test_full_upgrade_moves_every_seat_and_bills_convert_lines_prorated(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5, "P1Y", "monthly")  # 2026-11-02, 6.30 a seat a month
    emulator.clock.set("2026-11-16T09:00:00Z")
    r = pc.post(_path(sub["id"], "transitions"),
                json={"toCatalogItemId": STANDARD, "quantity": 5, "transitionType": "transition_only"})
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["attributes"]["objectType"] == "Transition"
    assert t["fromSubscriptionId"] == sub["id"] and t["fromCatalogItemId"] == BASIC
    assert t["toCatalogItemId"] == STANDARD and t["quantity"] == 5 and t["transitionType"] == "transition_only"
    assert t["termDuration"] == "P1Y" and t["billingCycle"] == "monthly"
    assert [(e["name"], e["status"]) for e in t["events"]] == [("Conversion", "Completed")]
    old = pc.subscription(US_CUSTOMER, sub["id"])
    new = pc.subscription(US_CUSTOMER, t["toSubscriptionId"])
    assert old["status"] == "expired"
    assert new["status"] == "active" and new["quantity"] == 5 and new["offerId"] == STANDARD
    assert new["commitmentEndDate"] == old["commitmentEndDate"]  # the upgrade keeps the term's end
    history = pc.get(_path(sub["id"], "transitions")).json()
    assert [h["operationId"] for h in history["items"]] == [t["operationId"]]
    assert pc.get(_path(new["id"], "transitions")).json()["items"][0]["toSubscriptionId"] == new["id"]
    lines = [ln for ln in _lines(pc, emulator) if ln["chargeType"] == "convert"]
    assert len(lines) == 2 and len({ln["referenceId"] for ln in lines}) == 1
    credit = next(ln for ln in lines if ln["subscriptionId"] == sub["id"])
    charge = next(ln for ln in lines if ln["subscriptionId"] == new["id"])
    # Nov 16 .. Dec 1 (the cycle's last day) = 16 of 30 days
    assert credit["chargeStartDate"].startswith("2026-11-16") and credit["chargeEndDate"].startswith("2026-12-01")
    assert D(str(credit["effectiveUnitPrice"])) == -(D("6.30") / 30 * 16).quantize(D("0.000001"))
    assert int(credit["quantity"]) == 5 and D(str(credit["subtotal"])) < 0
    assert D(str(charge["unitPrice"])) == D("13.13") and int(charge["quantity"]) == 5
    assert D(str(charge["effectiveUnitPrice"])) == (D("13.13") / 30 * 16).quantize(D("0.000001"))


def test_partial_upgrade_keeps_the_rest_of_the_seats_on_the_source(pc, emulator):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 5, "P1Y", "monthly")
    emulator.clock.set("2026-11-20T09:00:00Z")  # outside the 7-day window: still allowed for an upgrade
    t = pc.post(_path(sub["id"], "transitions"), json={"toCatalogItemId": PREMIUM, "quantity": 2}).json()
    old = pc.subscription(US_CUSTOMER, sub["id"])
    new = pc.subscription(US_CUSTOMER, t["toSubscriptionId"])
    assert (old["status"], old["quantity"]) == ("active", 3)
    assert (new["quantity"], new["offerId"]) == (2, PREMIUM)
    lines = [ln for ln in _lines(pc, emulator) if ln["chargeType"] == "convert"]
    source = sorted((int(ln["quantity"]), D(str(ln["subtotal"])) > 0)
                    for ln in lines if ln["subscriptionId"] == sub["id"])
    assert source == [(3, True), (5, False)]  # the seat-change pair: refund 5, charge 3
    assert [int(ln["quantity"]) for ln in lines if ln["subscriptionId"] == new["id"]] == [2]


def test_upgrade_into_an_existing_subscription_moves_quantity(pc, emulator):
    basic = pc.buy_one(US_CUSTOMER, BASIC, 4, "P1Y", "monthly")
    standard = pc.buy_one(US_CUSTOMER, STANDARD, 1, "P1Y", "monthly")
    emulator.clock.set("2026-11-10T09:00:00Z")
    r = pc.post(_path(basic["id"], "transitions"), json={"toSubscriptionId": standard["id"], "quantity": 4})
    assert r.status_code == 200, r.text
    assert r.json()["toSubscriptionId"] == standard["id"]
    assert pc.subscription(US_CUSTOMER, standard["id"])["quantity"] == 5
    lines = _lines(pc, emulator)
    moved = sorted(int(ln["quantity"]) for ln in lines if ln["chargeType"] == "moveQuantity")
    assert moved == [1, 5]


def test_refusals_name_what_is_wrong(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 3, "P1Y", "monthly")
    cases = [
        ({"toCatalogItemId": E3}, "800002"),  # not an upgrade path of Business Basic
        ({"toCatalogItemId": "NOPE:0001:X"}, "800004"),
        ({"toCatalogItemId": STANDARD, "quantity": 4}, "2002"),  # more than the source has
        ({"toCatalogItemId": STANDARD, "termDuration": "P1M"}, "800002"),  # immediate keeps the term
        ({"toCatalogItemId": STANDARD, "transitionType": "sideways"}, "800002"),
        ({}, "800002"),
    ]
    for body, code in cases:
        r = pc.post(_path(sub["id"], "transitions"), json=body)
        assert r.status_code == 400 and r.json()["code"] == code, (body, r.text)
    assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 3  # nothing moved


def test_a_retried_post_with_the_same_request_id_moves_seats_once(pc):
    sub = pc.buy_one(US_CUSTOMER, BASIC, 4, "P1Y", "monthly")
    headers = {"MS-RequestId": "5f8a1c1e-1111-4222-8333-944455556666"}
    first = pc.post(_path(sub["id"], "transitions"), json={"toCatalogItemId": STANDARD, "quantity": 1},
                    headers=headers).json()
    again = pc.post(_path(sub["id"], "transitions"), json={"toCatalogItemId": STANDARD, "quantity": 1},
                    headers=headers).json()
    assert again["operationId"] == first["operationId"]
    assert pc.subscription(US_CUSTOMER, sub["id"])["quantity"] == 3
