"""Reseller CLI against the emulator: every command and guard, with assertions on what changed in the emulator."""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.workflows.ordering import batch as ordering_mod

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
FOURTH = "2f7b9c14-3a8d-4e6f-b1c2-d3e4f5a6b7c8"
WINGTIP = "d1b2c3e4-7f8a-4b9c-9d0e-f1a2b3c4d5e6"
BASIC = "CFQ7TTC0LH18:0001"
BASIC_ITEM = "CFQ7TTC0LH18:0001:CFQ7TTC0K59J"
PRICE_LIST = Path(__file__).resolve().parents[2] / "sample_data" / "pricelist_nce_US_202611.csv"


pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def run(emulator_env):
    env = emulator_env

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), env=env, input=input)

    return invoke


def as_json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def orders_of(emulator, customer_id=CONTOSO):
    return [o for o in emulator.backend.orders.values() if o.customer_id == customer_id]


def place(run, *extra: str, customer=CONTOSO, item=BASIC, quantity="5"):
    return run("--yes", "-o", "json", "order", "place", "--customer", customer, "--item", item, "--quantity",
               quantity, "--term", "P1M", "--billing", "monthly", *extra)


# -- reads -------------------------------------------------------------------------------------------------------
def test_customers_list_in_every_format(run, emulator):
    ids = [c["id"] for c in as_json(run("-o", "json", "customers", "list", "--page-size", "2"))]
    assert ids == list(emulator.backend.customers)
    rows = list(csv.DictReader(run("-o", "csv", "customers", "list").stdout.splitlines()))
    assert rows[0] == {"id": CONTOSO, "company_name": "Contoso Dental Group",
                       "domain": "contosodental.onmicrosoft.com", "relationship": "reseller"}
    assert "Contoso Dental" in run("customers", "list").stdout


def test_catalog_products_skus_availabilities(run):
    saas = as_json(run("-o", "json", "catalog", "products", "--country", "US", "--segment", "commercial", "--saas"))
    assert [p["id"] for p in saas] == ["DZH318Z0SA01", "DZH318Z0SA02", "DZH318Z0SA03"]
    assert saas[0]["productType"] == {"id": "Azure", "displayName": "Azure",
                                      "subType": {"id": "SaaS", "displayName": "SaaS"}}
    skus = list(csv.DictReader(run("-o", "csv", "catalog", "skus", "CFQ7TTC0LDPB", "--country", "US").stdout
                               .splitlines()))
    assert [(s["id"], s["minimum_quantity"], s["maximum_quantity"], s["trial"]) for s in skus] == [
        ("0001", "1", "300", "no"), ("0005", "1", "25", "yes")]
    avail = list(csv.DictReader(run("-o", "csv", "catalog", "availabilities", "CFQ7TTC0LH18", "0001", "--country",
                                    "US").stdout.splitlines()))
    policy = "full refund within 1 day, partial refund within 7 days of purchase"
    assert [(a["catalog_item_id"], a["term_duration"], a["billing_cycle"], a["cancellation"]) for a in avail] == [
        (BASIC_ITEM, "P1M", "monthly", policy), (BASIC_ITEM, "P1Y", "monthly", policy),
        (BASIC_ITEM, "P1Y", "annual", policy)]
    # prices from the market's price sheet, under the term-price rule: one seat, whole term and per billing period
    money = [(a["term_price"], a["period_price"], a["billing_periods"]) for a in avail]
    assert all(t.endswith(" USD") and p.endswith(" USD") for t, p, _ in money)
    assert [n for _, _, n in money] == ["1", "12", "1"]
    p1y_monthly = money[1]
    assert Decimal(p1y_monthly[1].split()[0]) == (Decimal(p1y_monthly[0].split()[0]) / 12).quantize(Decimal("0.01"))


# -- order place -------------------------------------------------------------------------------------------------
def test_order_place_buys_and_reports_the_cancellation_deadline(run, emulator):
    result = place(run, "--price-list", str(PRICE_LIST), "--friendly-name", "Reception")
    orders = as_json(result)
    [order] = orders_of(emulator)
    assert [o["id"] for o in orders] == [order.id]
    assert orders[0]["lineItems"][0]["offerId"] == BASIC_ITEM
    assert (order.lines[0].quantity, order.lines[0].friendly_name) == (5, "Reception")
    assert "7.20 USD" in result.stderr and "36.00 USD" in result.stderr  # the plan priced from the price list
    table = run("--yes", "-o", "csv", "order", "place", "--customer", FOURTH, "--item", BASIC_ITEM, "--quantity",
                "2", "--term", "P1M", "--billing", "monthly")
    [row] = list(csv.DictReader(table.stdout.splitlines()))
    assert row["cancellation_allowed_until"] == "2026-11-09T09:00:00Z"  # purchase + 7 days on the emulator clock
    assert (row["quantity"], row["status"]) == ("2", "completed")


def test_order_place_without_yes_on_a_pipe_orders_nothing(run, emulator):
    result = run("order", "place", "--customer", CONTOSO, "--item", BASIC, "--quantity", "1", "--term", "P1M",
                 "--billing", "monthly")
    assert result.exit_code == 1 and "--yes" in result.stderr
    assert orders_of(emulator) == []


def test_order_place_dry_run_builds_the_cart_but_never_checks_out(run, emulator):
    rows = as_json(run("-o", "json", "order", "place", "--dry-run", "--customer", CONTOSO, "--item", BASIC,
                       "--quantity", "3", "--term", "P1Y", "--billing", "annual"))
    [cart] = emulator.backend.carts.values()
    assert rows[0]["id"] == cart.id and cart.status == "Active"
    assert orders_of(emulator) == []


def test_order_place_guard_refuses_and_force_reports_partner_centers_refusal(run, emulator):
    refused = place(run, quantity="301")
    assert refused.exit_code == 1 and "1..300" in refused.stderr and "--force" in refused.stderr
    assert emulator.backend.carts == {}
    forced = place(run, "--force", quantity="301")
    assert forced.exit_code == 1 and "exceeds the maximum of 300" in forced.stderr
    assert orders_of(emulator) == []


def test_order_place_bad_usage_exits_2(run):
    assert place(run, item="not-an-item").exit_code == 2
    assert run("order", "place", "--customer", CONTOSO).exit_code == 2


def test_order_place_with_a_key_orders_once(run, emulator):
    first = as_json(place(run, "--key", "ticket-42"))
    again = place(run, "--key", "ticket-42")
    assert as_json(again)[0]["id"] == first[0]["id"] and "nothing was ordered now" in again.stderr
    assert len(orders_of(emulator)) == 1


# -- order batch -------------------------------------------------------------------------------------------------
def write_batch(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "item", "quantity", "term", "billing", "friendly_name"])
        writer.writerows(rows)
    return path


def test_batch_partly_failing_then_rerun_orders_nothing_twice(run, emulator, tmp_path):
    batch = write_batch(tmp_path / "orders.csv", [
        [CONTOSO, BASIC, "5", "P1M", "monthly", "a"],
        [FOURTH, "CFQ7TTC0LFLZ:0002", "20", "P1Y", "annual", ""],
        [WINGTIP, BASIC, "2", "P1M", "monthly", ""],          # Germany: EUR market
        [CONTOSO, BASIC, "400", "P1M", "monthly", ""],        # above the SKU maximum: refused
    ])
    first = run("--yes", "order", "batch", str(batch), "--workers", "3")
    assert first.exit_code == 3, first.output
    results = list(csv.DictReader((tmp_path / "orders.results.csv").open()))
    assert [r["status"] for r in results] == ["ordered", "ordered", "ordered", "refused"]
    assert "1..300" in results[3]["error"]
    assert len(emulator.backend.orders) == 3
    assert sorted(o.currency for o in emulator.backend.orders.values()) == ["EUR", "USD", "USD"]

    second = run("--yes", "order", "batch", str(batch))
    assert second.exit_code == 3
    results2 = list(csv.DictReader((tmp_path / "orders.results.csv").open()))
    assert [r["status"] for r in results2] == ["already_ordered"] * 3 + ["refused"]
    assert [r["order_ids"] for r in results2[:3]] == [r["order_ids"] for r in results[:3]]
    assert len(emulator.backend.orders) == 3


def test_batch_killed_midway_is_completed_by_running_it_again(run, emulator, tmp_path, monkeypatch):
    rows = [[c, BASIC, str(n), "P1M", "monthly", ""] for n, c in enumerate([CONTOSO, FOURTH, WINGTIP] * 2, 1)]
    batch = write_batch(tmp_path / "crash.csv", rows)
    real = ordering_mod.run_batch_row
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(ordering_mod, "run_batch_row", crashing)
    crashed = run("--yes", "order", "batch", str(batch), "--workers", "1")
    assert crashed.exit_code == 1 and "power cut" in crashed.stderr
    assert len(emulator.backend.orders) == 3
    monkeypatch.setattr(ordering_mod, "run_batch_row", real)
    emulator.faults.add(action="drop", operation="checkout_cart", probability=0.5)  # and a flaky network now
    again = run("--yes", "order", "batch", str(batch), "--workers", "3")
    assert again.exit_code == 0, again.output
    statuses = [r["status"] for r in csv.DictReader((tmp_path / "crash.results.csv").open())]
    assert statuses == ["already_ordered"] * 3 + ["ordered"] * 3
    quantities = sorted(line.quantity for o in emulator.backend.orders.values() for line in o.lines)
    assert quantities == [1, 2, 3, 4, 5, 6]


def test_batch_dry_run_and_bad_files(run, emulator, tmp_path):
    batch = write_batch(tmp_path / "dry.csv", [[CONTOSO, BASIC, "5", "P1M", "monthly", ""],
                                              [CONTOSO, "CFQ7TTC0LDPB:0005", "5", "P1M", "none", ""]])
    dry = run("--yes", "order", "batch", str(batch), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert [r["status"] for r in csv.DictReader((tmp_path / "dry.results.csv").open())] == ["valid", "valid"]
    assert emulator.backend.orders == {}
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,item,quantity,term,billing\nc1,P:S,three,P1M,monthly\n")
    result = run("--yes", "order", "batch", str(bad))
    assert result.exit_code == 2 and "row 1, column 'quantity'" in result.stderr


# -- orders ------------------------------------------------------------------------------------------------------
def test_orders_list_show_and_activation_links(run, emulator):
    order_id = as_json(place(run, item="DZH318Z0SA01:0001", quantity="3"))[0]["id"]
    emulator.clock.advance(minutes=16)  # a new order shows in the list after up to 15 minutes
    listed = as_json(run("-o", "json", "orders", "list", "--customer", CONTOSO))
    assert [o["id"] for o in listed] == [order_id]
    shown = list(csv.DictReader(run("-o", "csv", "orders", "show", "--customer", CONTOSO, order_id).stdout
                                .splitlines()))
    sub_id = emulator.backend.orders[order_id].lines[0].subscription_id
    assert [(r["line_item_number"], r["quantity"], r["subscription_id"]) for r in shown] == [("0", "3", sub_id)]
    links = as_json(run("-o", "json", "orders", "activation-links", "--customer", CONTOSO, order_id))
    assert links[0]["lineItemNumber"] == 0 and links[0]["link"]["uri"].startswith(emulator.url)
    missing = run("orders", "show", "--customer", CONTOSO, "nope")
    assert missing.exit_code == 1 and "20000" in missing.stderr


# -- subscriptions -----------------------------------------------------------------------------------------------
def subscription_of(emulator, order_json) -> str:
    return emulator.backend.orders[order_json[0]["id"]].lines[0].subscription_id


def test_subscription_lifecycle_commands(run, emulator):
    sub_id = subscription_of(emulator, as_json(place(run, quantity="10")))
    listed = as_json(run("-o", "json", "subscriptions", "list", "--customer", CONTOSO))
    assert [s["id"] for s in listed] == [sub_id] and listed[0]["cancellationAllowedUntilDate"] == \
        "2026-11-09T09:00:00Z"
    shown = as_json(run("-o", "json", "subscriptions", "show", "--customer", CONTOSO, sub_id))
    assert shown[0]["quantity"] == 10

    assert run("--yes", "subscriptions", "set-quantity", "--customer", CONTOSO, sub_id, "7").exit_code == 0
    assert emulator.backend.subscriptions[sub_id].quantity == 7
    assert run("--yes", "subscriptions", "auto-renew", "off", "--customer", CONTOSO, sub_id).exit_code == 0
    assert emulator.backend.subscriptions[sub_id].auto_renew is False
    assert run("--yes", "subscriptions", "suspend", "--customer", CONTOSO, sub_id).exit_code == 0
    assert emulator.backend.subscriptions[sub_id].status == "suspended"
    assert run("--yes", "subscriptions", "reactivate", "--customer", CONTOSO, sub_id).exit_code == 0
    assert emulator.backend.subscriptions[sub_id].status == "active"
    too_many = run("--yes", "subscriptions", "set-quantity", "--customer", CONTOSO, sub_id, "301")
    assert too_many.exit_code == 1 and "1..300" in too_many.stderr
    assert run("subscriptions", "cancel", "--customer", CONTOSO, sub_id).exit_code == 1  # not confirmed
    assert emulator.backend.subscriptions[sub_id].status == "active"
    assert run("--yes", "subscriptions", "cancel", "--customer", CONTOSO, sub_id).exit_code == 0
    assert emulator.backend.subscriptions[sub_id].status == "deleted"


def test_guards_use_the_emulators_clock_and_force_reports_the_refusal(run, emulator):
    sub_id = subscription_of(emulator, as_json(place(run, quantity="10")))
    emulator.clock.advance(days=8)
    decrease = run("--yes", "subscriptions", "set-quantity", "--customer", CONTOSO, sub_id, "9")
    assert decrease.exit_code == 1 and "2026-11-09 09:00 UTC" in decrease.stderr
    cancel = run("--yes", "subscriptions", "cancel", "--customer", CONTOSO, sub_id)
    assert cancel.exit_code == 1 and "closed at 2026-11-09 09:00 UTC" in cancel.stderr
    forced = run("--yes", "subscriptions", "cancel", "--customer", CONTOSO, sub_id, "--force")
    assert forced.exit_code == 1 and "900117" in forced.stderr
    assert emulator.backend.subscriptions[sub_id].status == "active"
    assert emulator.backend.subscriptions[sub_id].quantity == 10
    increase = run("--yes", "subscriptions", "set-quantity", "--customer", CONTOSO, sub_id, "11")
    assert increase.exit_code == 0 and emulator.backend.subscriptions[sub_id].quantity == 11


def test_cancellable_over_every_customer(run, emulator):
    early = subscription_of(emulator, as_json(place(run, customer=CONTOSO)))
    emulator.clock.advance(days=3)
    late = subscription_of(emulator, as_json(place(run, customer=FOURTH)))
    rows = list(csv.DictReader(run("-o", "csv", "subscriptions", "cancellable").stdout.splitlines()))
    assert [(r["customer_id"], r["id"], r["cancellation_allowed_until"]) for r in rows] == [
        (CONTOSO, early, "2026-11-09T09:00:00Z"), (FOURTH, late, "2026-11-12T09:00:00Z")]
    emulator.clock.advance(days=5)
    rows = list(csv.DictReader(run("-o", "csv", "subscriptions", "cancellable").stdout.splitlines()))
    assert [r["id"] for r in rows] == [late]
    one = list(csv.DictReader(run("-o", "csv", "subscriptions", "cancellable", "--customer", CONTOSO).stdout
                              .splitlines()))
    assert one == []


# -- ledger and audit --------------------------------------------------------------------------------------------
def test_ledger_list_show_resume_and_audit(run, emulator):
    sub_id = subscription_of(emulator, as_json(place(run)))
    run("--yes", "subscriptions", "auto-renew", "off", "--customer", CONTOSO, sub_id)
    entries = as_json(run("-o", "json", "ledger", "list"))
    assert [(e["kind"], e["status"]) for e in entries] == [("auto_renew", "done"), ("order", "done")]
    assert entries[0]["before"]["autoRenewEnabled"] is True and entries[0]["after"]["autoRenewEnabled"] is False
    shown = as_json(run("-o", "json", "ledger", "show", str(entries[1]["id"])))
    assert [e["status"] for e in shown["events"]] == ["pending", "pending", "submitted", "done"]
    assert shown["cart_id"] == next(iter(emulator.backend.orders.values())).cart_id
    assert run("ledger", "show", "999").exit_code == 2
    assert "Nothing to resume" in run("--yes", "ledger", "resume").stderr

    audit = list(csv.DictReader(run("-o", "csv", "audit", "--customer", CONTOSO).stdout.splitlines()))
    assert [(r["kind"], r["status"]) for r in audit] == [
        ("order", "pending"), ("order", "pending"), ("order", "submitted"), ("order", "done"),
        ("auto_renew", "pending"), ("auto_renew", "submitted"), ("auto_renew", "done")]
    assert all(r["request_id"] and r["actor"] for r in audit)
    assert emulator.token not in run("-o", "json", "ledger", "list").stdout


def test_ledger_resume_checks_out_the_journaled_cart(run, emulator, tmp_path):
    from cspkit.ledger import Ledger

    emulator.faults.add(action="reset", operation="checkout_cart")  # checkout never gets through
    failed = place(run)
    assert failed.exit_code == 1 and "ledger resume" in failed.stderr
    assert orders_of(emulator) == []
    emulator.faults.clear()
    resumed = run("--yes", "ledger", "resume")
    assert resumed.exit_code == 0, resumed.output
    [order] = orders_of(emulator)
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    [entry] = led.list()
    assert (entry.status, entry.cart_id) == ("done", order.cart_id)
    led.close()


def test_a_late_cancellation_advises_auto_renew_off_only_while_it_is_on(run, emulator):
    sub_id = subscription_of(emulator, as_json(place(run, quantity="3")))
    emulator.clock.advance(days=8)
    cancel = run("--yes", "subscriptions", "cancel", "--customer", CONTOSO, sub_id)
    assert cancel.exit_code == 1 and "turn auto-renew off" in cancel.stderr
    assert run("--yes", "subscriptions", "auto-renew", "off", "--customer", CONTOSO, sub_id).exit_code == 0
    again = run("--yes", "subscriptions", "cancel", "--customer", CONTOSO, sub_id)
    assert again.exit_code == 1 and "closed at 2026-11-09 09:00 UTC" in again.stderr
    assert "auto-renew is already off" in again.stderr and "turn auto-renew off" not in again.stderr
    assert emulator.backend.subscriptions[sub_id].status == "active"


def test_orders_list_explains_the_listing_delay_for_a_just_placed_order(run, emulator):
    order_id = as_json(place(run, quantity="2"))[0]["id"]
    result = run("-o", "json", "orders", "list", "--customer", CONTOSO)
    assert json.loads(result.stdout) == []  # Partner Center (and the emulator) list it after up to 15 minutes
    assert f"Not listed yet: {order_id} (placed 0 min ago, ledger entry 1)" in result.stderr
    assert "up to 15 minutes" in result.stderr and f"orders show --customer {CONTOSO} {order_id}" in result.stderr
    shown = as_json(run("-o", "json", "orders", "show", "--customer", CONTOSO, order_id))
    assert shown[0]["id"] == order_id  # get-by-id, the reliable path, reads it at once
    elsewhere = run("orders", "list", "--customer", FOURTH)  # nothing ordered there: nothing to explain
    assert "Not listed yet" not in elsewhere.stderr
    emulator.clock.advance(minutes=16)
    listed = run("-o", "json", "orders", "list", "--customer", CONTOSO)
    assert [o["id"] for o in json.loads(listed.stdout)] == [order_id] and "Not listed yet" not in listed.stderr


def test_the_plan_is_priced_through_the_price_sheet_api_without_a_price_list_file(run, emulator, tmp_path):
    import re
    import stat

    result = run("order", "place", "--dry-run", "--customer", CONTOSO, "--item", BASIC, "--quantity", "10",
                 "--term", "P1Y", "--billing", "monthly")
    assert result.exit_code == 0, result.output
    table = dict(re.findall(r"│ (\w+)\s+│ (.+?)\s+│", result.stderr))
    assert table["term_price"].endswith(" USD") and table["term_price"] != "unknown"
    assert table["billing_periods"] == "12" and table["term_total"].endswith(" USD")
    cached = sorted((tmp_path / "pricesheets" / "emulator").iterdir())
    assert [f.name.rsplit(".", 1)[0] for f in cached] == ["US_marketplace_current_202611",
                                                         "US_updatedlicensebased_current_202611"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in cached)
    assert list(emulator.backend.orders.values()) == []


def test_catalog_availabilities_without_a_price_sheet_still_lists_and_says_why(emulator, tmp_path):
    env = {"CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token, "CSPKIT_HOME": str(tmp_path),
           "CSPKIT_CONFIG": os.devnull, "CSPKIT_DATABASE_URL": "",
           "CSPKIT_PRICESHEET_ENDPOINT": f"{emulator.url}/no-such-host"}  # answers 404 for every sheet
    result = CliRunner().invoke(cli, ["-o", "csv", "catalog", "availabilities", "CFQ7TTC0LH18", "0001", "--country",
                                      "US"], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [(r["term_duration"], r["term_price"]) for r in rows] == [("P1M", ""), ("P1Y", ""), ("P1Y", "")]
    assert "Prices unknown: price sheet US 202611: updatedlicensebased: " in result.stderr
    assert emulator.token not in result.output
