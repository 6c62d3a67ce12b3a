"""The order plan and ``order place --dry-run`` price a line under Microsoft's rule, on the emulator.

The emulator's catalog figures are not asserted (its price sheet may change); what must hold is the rule
(cspkit.billing.pricing): period price = term price ÷ billing periods, term total = term price × seats = period
price × billing periods × seats, in the plan's currency."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner

from cspkit.billing.pricelist import read_price_list
from cspkit.cli.main import cli
from cspkit.ledger import Ledger
from cspkit.workflows.ordering import Ordering

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001"
CENT = Decimal("0.01")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr("cspkit.retry.random.uniform", lambda low, high: 0.0)


@pytest.fixture
def run(emulator, tmp_path):
    env = {"CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token, "CSPKIT_HOME": str(tmp_path),
           "CSPKIT_CONFIG": os.devnull, "CSPKIT_DATABASE_URL": "",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


@pytest.fixture
def price_list_file(run) -> str:
    """The emulator's current new-commerce price sheet, fetched as a reseller would."""
    result = run("-o", "json", "pricelist", "fetch", "--market", "US")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]["File"]


def money(text: str) -> tuple[Decimal, str]:
    amount, currency = text.split()
    return Decimal(amount), currency


def test_plan_prices_a_p1y_monthly_line_per_billing_period(emulator, emulator_client, price_list_file,
                                                           tmp_path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="emulator")
    with emulator_client() as pc:
        service = Ordering(pc, ledger, price_list=read_price_list(price_list_file), clock=emulator.clock.now)
        plan = service.plan(CONTOSO, item=BASIC, quantity=10, term_duration="P1Y", billing_cycle="monthly")
    ledger.close()
    assert plan.term_price is not None and plan.term_price > 0
    assert plan.billing_periods == 12
    assert plan.period_price == (plan.term_price / 12).quantize(CENT)
    assert plan.unit_price == plan.period_price  # what each invoice line will say per seat
    assert (plan.period_total, plan.term_total) == (plan.period_price * 10, plan.term_price * 10)
    assert plan.currency == "USD"
    described = plan.describe()
    assert money(described["term_total"]) == (plan.term_total.quantize(CENT), "USD")
    assert described["billing"] == (f"{plan.period_total.quantize(CENT)} USD per billing period × 12 = "
                                    f"{plan.term_total.quantize(CENT)} USD for the term")  # fmt: skip
    assert plan.to_request()["unitPrice"] == str(plan.period_price)
    annual = service.plan(CONTOSO, item=BASIC, quantity=10, term_duration="P1Y", billing_cycle="annual")
    # billed once for the term: the period price is the term price
    assert (annual.billing_periods, annual.period_price, annual.term_total) == (1, annual.term_price,
                                                                                annual.term_price * 10)


def test_dry_run_shows_period_price_and_term_total_with_currency(run, emulator, price_list_file) -> None:
    result = run("-o", "json", "order", "place", "--dry-run", "--customer", CONTOSO, "--item", BASIC, "--quantity",
                 "10", "--term", "P1Y", "--billing", "monthly", "--price-list", price_list_file)
    assert result.exit_code == 0, result.output
    table = dict(re.findall(r"│ (\w+)\s+│ (.+?)\s+│", result.stderr))
    period_price, currency = money(table["period_price"])
    term_price, term_currency = money(table["term_price"])
    term_total, total_currency = money(table["term_total"])
    period_total, _ = money(table["period_total"])
    assert currency == term_currency == total_currency == "USD"
    assert table["billing_periods"] == "12"
    assert period_price == (term_price / 12).quantize(CENT) and period_total == period_price * 10
    assert term_total == term_price * 10
    assert term_total == period_price * 12 * 10  # the emulator's P1Y term prices divide by 12 to the cent
    assert list(emulator.backend.orders.values()) == []  # a dry run never checks out
