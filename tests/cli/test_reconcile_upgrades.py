"""The invoice of a month with an upgrade (a partial and a full one) and a change applied at the renewal
reconciles with 0 variances: the ``convert`` lines (the source credited, the target charged, prorated from the
transition date) and the renewal of the new SKU, seats and price tie with the subscriptions and the price list."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.client import PartnerCenter
from cspkit.models.transition import ProductTerm, ScheduledNextTermInstructions

US_CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
STANDARD = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5"
PREMIUM = "CFQ7TTC0LDPB:0001:CFQ7TTC0LLL4"


def _buy(pc, item, quantity, term):
    cart = pc.carts.create(US_CUSTOMER, line_items=[{"catalogItemId": item, "quantity": quantity,
                                                     "termDuration": term, "billingCycle": "monthly"}])
    return pc.carts.checkout(US_CUSTOMER, cart.id).orders[0].line_items[0].subscription_id


def test_a_month_with_upgrades_and_a_renewal_change_ties_with_0_variances(emulator, tmp_path):
    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    annual = _buy(pc, BASIC, 5, "P1Y")  # 2026-11-02
    monthly = _buy(pc, BASIC, 3, "P1M")  # renews 2026-12-02
    full = _buy(pc, BASIC, 2, "P1Y")
    pc.subscriptions.set_next_term(US_CUSTOMER, monthly, instructions=ScheduledNextTermInstructions(
        product=ProductTerm(product_id="CFQ7TTC0LCHC", sku_id="0002", availability_id="CFQ7TTC0KDN5",
                            billing_cycle="monthly", term_duration="P1M"), quantity=4))
    emulator.clock.set("2026-12-10T09:00:00Z")  # after the renewal: now the upgrades, in the same month
    partial = pc.subscriptions.transitions.create(US_CUSTOMER, annual, to_catalog_item_id=STANDARD, quantity=2)
    whole = pc.subscriptions.transitions.create(US_CUSTOMER, full, to_catalog_item_id=PREMIUM, quantity=2)
    assert partial.completed and whole.completed
    emulator.clock.set("2027-01-08T00:00:00Z")  # December is invoiced on 8 January
    december = next(i for i in pc.invoices.list() if i.billing_period_start_date.month == 12)
    subscriptions = [s.to_wire() | {"customerId": US_CUSTOMER} for s in pc.subscriptions.list(US_CUSTOMER)]
    subs_file = tmp_path / "subs.json"
    subs_file.write_text(json.dumps(subscriptions))
    env = {"CSPKIT_HOME": str(tmp_path / "home"), "CSPKIT_CONFIG": os.devnull,
           "CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token}
    result = CliRunner().invoke(cli, ["--output", "json", "reconcile", "--invoice", december.id, "--api", "v1",
                                      "--subscriptions", str(subs_file), "--out", str(tmp_path / "dec.xlsx"),
                                      "--fail-on", "warning"], env=env)
    data = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    lines = list(pc.invoices.reconciliation_line_items(december.id))
    kinds = sorted((ln["chargeType"], ln["productId"], int(ln["quantity"])) for ln in lines
                   if ln["chargeType"] in ("convert", "renew"))
    assert kinds == [  # the invoice does hold the upgrades and the changed renewal
        ("convert", "CFQ7TTC0LCHC", 2), ("convert", "CFQ7TTC0LDPB", 2),  # the targets charged
        ("convert", "CFQ7TTC0LH18", 2),  # the full upgrade's source credited
        ("convert", "CFQ7TTC0LH18", 3), ("convert", "CFQ7TTC0LH18", 5),  # the partial one's pair: 5 → 3
        ("renew", "CFQ7TTC0LCHC", 4),  # renewed as Business Standard x4 (was Business Basic x3)
    ]
    assert [t["Status"] for t in data["tieout"]] == ["ties"]
    assert data["variances"] == [] and data["failures"] == []
