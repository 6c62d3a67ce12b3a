"""`cspkit catalog promotions`, `order place --promotion / --coterm-with / --term-end` and batch promotion_id
against the emulator, and the reconciliation of a month with a promoted and a co-termed order."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001"
PREMIUM = "CFQ7TTC0LDPB:0001"
PROMO = "39NFJQT1Q5KP:0001:39NFJQT1Q5KQ"

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def run(emulator_env):
    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), env={**emulator_env, "COLUMNS": "400"}, input=input)

    return invoke


def place(run, *extra: str, item=BASIC, quantity="10", term="P1Y", billing="monthly"):
    return run("--yes", "-o", "json", "order", "place", "--customer", CONTOSO, "--item", item, "--quantity", quantity,
               "--term", term, "--billing", billing, *extra)


def subscription_of(emulator, result):
    assert result.exit_code == 0, result.output
    [order] = json.loads(result.stdout)
    return emulator.backend.subscriptions[order["lineItems"][0]["subscriptionId"]]


def test_catalog_promotions_lists_the_markets_promotions(run):
    result = run("-o", "json", "catalog", "promotions", "--country", "us")
    assert result.exit_code == 0, result.output
    assert [p["id"] for p in json.loads(result.stdout)] == [PROMO]
    table = run("--wide", "catalog", "promotions", "--country", "US")
    assert "20% off" in table.stdout and "CFQ7TTC0LH18" in table.stdout
    assert run("catalog", "promotions", "--country", "US", "--segment", "education").exit_code == 2


def test_order_place_with_a_promotion_shows_the_promotional_price_and_orders_it(run, emulator):
    result = place(run, "--promotion", PROMO)
    sub = subscription_of(emulator, result)
    assert sub.promotion_id == PROMO and sub.promotion_discount == Decimal("0.20")
    # the plan: 75.60 a year billed monthly is 6.30 a period; 20% off is 5.04
    assert ("20% off, 5.04 USD a seat per billing period instead of 6.30 USD (50.40 USD per billing period × 12 = "
            "604.80 USD for the term)") in result.stderr
    cancellable = run("-o", "csv", "subscriptions", "cancellable", "--customer", CONTOSO)
    header, *rows = cancellable.stdout.splitlines()
    assert header.endswith(",promotion")
    assert [r for r in rows if sub.id in r][0].endswith(f"{PROMO} (this term only)")
    assert all(r.endswith(",") for r in rows if sub.id not in r)  # no promotion on the others
    again = place(run, "--promotion", PROMO)  # one redemption per customer
    assert again.exit_code == 1 and "RedemptionLimit" in again.output
    assert len([s for s in emulator.backend.subscriptions.values() if s.promotion_id]) == 1


def test_an_ineligible_promotion_is_refused_before_anything_is_built(run, emulator):
    result = place(run, "--promotion", PROMO, term="P1M")  # the promotion is for P1Y billed monthly
    assert result.exit_code == 1, result.output
    assert "does not apply" in result.output and "Term" in result.output
    assert not emulator.backend.carts and not emulator.backend.orders
    dry = run("--yes", "order", "place", "--customer", CONTOSO, "--item", BASIC, "--quantity", "3", "--term", "P1Y",
              "--billing", "monthly", "--promotion", PROMO, "--dry-run")
    assert dry.exit_code == 0, dry.output
    [cart] = emulator.backend.carts.values()
    assert cart.lines[0].promotion_id == PROMO and not emulator.backend.orders


def test_order_place_coterm_with_shows_the_aligned_end_and_the_prorated_first_charge(run, emulator):
    target = subscription_of(emulator, place(run, term="P1M", quantity="5"))
    emulator.clock.advance("P10D")  # 12 November
    result = place(run, "--coterm-with", target.id, item=PREMIUM, quantity="3", term="P1M")
    sub = subscription_of(emulator, result)
    assert sub.commitment_end == target.commitment_end
    assert "2026-12-01 (aligned with subscription " + target.id in result.stderr
    assert "52.80 USD for 2026-11-12 to 2026-12-01 (20 of 30 days: 17.60 USD a seat × 3, prorated)" in result.stderr
    journaled = [json.dumps(e) for e in json.loads(run("-o", "json", "ledger", "list").stdout)]
    assert [e for e in journaled if "2026-12-01" in e and target.id in e]  # the intent keeps the aligned end


def test_term_end_must_be_an_allowed_date_and_the_options_are_checked(run, emulator):
    refused = place(run, "--term-end", "2026-11-20", term="P1M")
    assert refused.exit_code == 1 and "not an allowed end date" in refused.output and "2026-11-30" in refused.output
    assert place(run, "--term-end", "2026-13-01", term="P1M").exit_code == 2
    assert place(run, "--coterm-with", "not-a-guid", term="P1M").exit_code == 2
    both = place(run, "--term-end", "2026-11-30", "--coterm-with", CONTOSO, term="P1M")
    assert both.exit_code == 2 and "not both" in both.output
    assert not emulator.backend.orders
    ok = place(run, "--term-end", "2026-11-30", term="P1M")
    sub = subscription_of(emulator, ok)
    assert sub.commitment_end.isoformat() == "2026-12-01T00:00:00+00:00"


def test_a_batch_row_with_a_promotion_id(run, emulator, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id;item;quantity;term;billing;promotion_id\n"
                    f"{CONTOSO};{BASIC};4;P1Y;monthly;{PROMO}\n{CONTOSO};{PREMIUM};1;P1M;monthly;\n")
    result = run("--yes", "order", "batch", str(path))
    assert result.exit_code == 0, result.output
    promoted = [s for s in emulator.backend.subscriptions.values() if s.promotion_id == PROMO]
    assert len(promoted) == 1 and promoted[0].quantity == 4
    assert "promotion_id" in (tmp_path / "orders.results.csv").read_text().splitlines()[0]


def test_a_month_with_a_promoted_and_a_co_termed_order_reconciles_with_no_error_variance(run, emulator, tmp_path):
    target = subscription_of(emulator, place(run, term="P1M", quantity="5"))
    subscription_of(emulator, place(run, "--promotion", PROMO))
    emulator.clock.advance("P10D")
    subscription_of(emulator, place(run, "--coterm-with", target.id, item=PREMIUM, quantity="3", term="P1M"))
    emulator.clock.set("2026-12-08T00:00:00Z")
    invoice = json.loads(run("-o", "json", "invoices", "list").stdout)[0]["id"]
    nce = run("-o", "csv", "pricelist", "fetch", "--market", "US").stdout.strip().splitlines()[-1].split(",")[0]
    result = run("-o", "json", "reconcile", "--invoice", invoice, "--price-list", nce, "--api", "v1",
                 "--out", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [t["Status"] for t in data["tieout"]] == ["ties"] and data["failures"] == []
    variances = data.get("variances") or []
    assert not [v for v in variances if str(v.get("Severity")).lower() == "error"], variances
