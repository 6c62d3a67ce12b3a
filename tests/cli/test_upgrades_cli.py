"""``cspkit subscriptions upgrades|upgrade|transitions`` and ``subscriptions renewal set|show|clear`` against the
emulator: exit codes (0 done, 1 refused, 2 bad input), --dry-run, --key idempotency and the ledger journal; and
``subscriptions cancellable`` naming the change scheduled at renewal."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from tests.emulator.conftest import BASIC, PC, US_CUSTOMER

STANDARD = "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5"

pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def run(emulator_env):
    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), env=emulator_env, input=input)

    return invoke


@pytest.fixture
def sub(emulator) -> dict:
    return PC(emulator).buy_one(US_CUSTOMER, BASIC, 5, "P1Y", "monthly")


def _backend_sub(emulator, sub_id):
    return emulator.backend.subscriptions[sub_id]


def test_upgrades_lists_the_eligible_targets(run, sub):
    result = run("-o", "json", "subscriptions", "upgrades", sub["id"], "--customer", US_CUSTOMER)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["catalogItemId"] for r in rows} == {STANDARD, "CFQ7TTC0LDPB:0001:CFQ7TTC0LLL4"}


def test_upgrade_dry_run_changes_nothing(run, emulator, sub):
    result = run("subscriptions", "upgrade", sub["id"], "--customer", US_CUSTOMER, "--to", "CFQ7TTC0LCHC:0002",
                 "--quantity", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Upgrade 2 of 5 seat(s)" in result.stderr and "Dry run" in result.stderr
    assert _backend_sub(emulator, sub["id"]).quantity == 5 and not _backend_sub(emulator, sub["id"]).transitions


def test_upgrade_is_journaled_and_never_doubled_under_a_key(run, emulator, sub):
    args = ["--yes", "-o", "json", "subscriptions", "upgrade", sub["id"], "--customer", US_CUSTOMER,
            "--to", "CFQ7TTC0LCHC:0002", "--quantity", "2", "--key", "upgrade-2"]
    first = run(*args)
    assert first.exit_code == 0, first.output
    [transition] = json.loads(first.stdout)
    assert transition["toCatalogItemId"] == STANDARD and transition["quantity"] == 2
    assert _backend_sub(emulator, sub["id"]).quantity == 3
    again = run(*args)
    assert again.exit_code == 0 and "Already done" in again.stderr
    assert _backend_sub(emulator, sub["id"]).quantity == 3  # not moved twice
    history = run("-o", "json", "subscriptions", "transitions", sub["id"], "--customer", US_CUSTOMER)
    assert [t["toSubscriptionId"] for t in json.loads(history.stdout)] == [transition["toSubscriptionId"]]
    ledger = json.loads(run("-o", "json", "ledger", "list").stdout)
    assert [e["status"] for e in ledger if e.get("kind") == "upgrade"] == ["done"]


def test_upgrade_refusals_and_bad_input(run, emulator, sub):
    not_a_path = run("--yes", "subscriptions", "upgrade", sub["id"], "--customer", US_CUSTOMER,
                     "--to", "CFQ7TTC0LFLZ:0002")  # Office 365 E3 is not an upgrade of Business Basic
    assert not_a_path.exit_code == 1 and "not an upgrade" in not_a_path.stderr
    too_many = run("--yes", "subscriptions", "upgrade", sub["id"], "--customer", US_CUSTOMER,
                   "--to", "CFQ7TTC0LCHC:0002", "--quantity", "9")
    assert too_many.exit_code == 1 and "quantity 9" in too_many.stderr
    bad = run("--yes", "subscriptions", "upgrade", sub["id"], "--customer", US_CUSTOMER, "--to", "standard please")
    assert bad.exit_code == 2 and "--to" in bad.output
    zero = run("--yes", "subscriptions", "upgrade", sub["id"], "--customer", US_CUSTOMER, "--to",
               "CFQ7TTC0LCHC:0002", "--quantity", "0")
    assert zero.exit_code == 2
    assert "Traceback" not in not_a_path.output + too_many.output + bad.output
    assert _backend_sub(emulator, sub["id"]).quantity == 5


def test_upgrade_at_renewal_schedules_the_next_term(run, emulator, sub):
    result = run("--yes", "subscriptions", "upgrade", sub["id"], "--customer", US_CUSTOMER,
                 "--to", "CFQ7TTC0LCHC:0002", "--when", "renewal")
    assert result.exit_code == 0, result.output
    assert _backend_sub(emulator, sub["id"]).next_term["sku_id"] == "0002"
    assert _backend_sub(emulator, sub["id"]).quantity == 5  # nothing moves before the renewal


def test_renewal_set_show_clear(run, emulator, sub):
    show = run("-o", "json", "subscriptions", "renewal", "show", sub["id"], "--customer", US_CUSTOMER)
    assert show.exit_code == 0 and "Nothing scheduled" in show.stderr
    dry = run("subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER, "--quantity", "8",
              "--billing", "annual", "--dry-run")
    assert dry.exit_code == 0 and "x8 P1Y annual" in dry.stderr
    assert _backend_sub(emulator, sub["id"]).next_term is None
    first = run("--yes", "subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER, "--quantity", "8",
                "--billing", "annual", "--key", "renew-8")
    assert first.exit_code == 0, first.output
    assert _backend_sub(emulator, sub["id"]).next_term == {
        "product_id": "CFQ7TTC0LH18", "sku_id": "0001", "availability_id": "CFQ7TTC0K59J",
        "billing_cycle": "annual", "term_duration": "P1Y", "quantity": 8}
    again = run("--yes", "subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER, "--quantity", "8",
                "--billing", "annual", "--key", "renew-8")
    assert again.exit_code == 0 and "Already done" in again.stderr
    more = run("--yes", "subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER, "--item",
               "CFQ7TTC0LCHC:0002")  # keeps the scheduled quantity and billing
    assert more.exit_code == 0, more.output
    assert _backend_sub(emulator, sub["id"]).next_term["sku_id"] == "0002"
    assert _backend_sub(emulator, sub["id"]).next_term["quantity"] == 8
    cancellable = run("-o", "json", "subscriptions", "cancellable", "--customer", US_CUSTOMER)
    rows = {r["id"]: r for r in json.loads(cancellable.stdout)}
    assert rows[sub["id"]]["scheduledNextTermInstructions"]["quantity"] == 8
    table = run("-o", "csv", "subscriptions", "cancellable", "--customer", US_CUSTOMER)
    assert table.stdout.splitlines()[0].endswith(",renewal_change,promotion")
    assert "at renewal: CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5 x8 P1Y annual" in table.stdout
    clear = run("--yes", "subscriptions", "renewal", "clear", sub["id"], "--customer", US_CUSTOMER)
    assert clear.exit_code == 0 and _backend_sub(emulator, sub["id"]).next_term is None
    ledger = json.loads(run("-o", "json", "ledger", "list").stdout)
    kinds = [e["kind"] for e in ledger if e.get("kind", "").startswith("renewal_")]
    assert sorted(kinds) == ["renewal_clear", "renewal_set", "renewal_set"]


def test_renewal_set_refusals_and_bad_input(run, emulator, sub):
    nothing = run("--yes", "subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER)
    assert nothing.exit_code == 2
    bounds = run("--yes", "subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER, "--quantity", "301")
    assert bounds.exit_code == 1 and "301" in bounds.stderr
    term = run("--yes", "subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER, "--term", "P5Y")
    assert term.exit_code == 2
    PC(emulator).patch_subscription(US_CUSTOMER, PC(emulator).subscription(US_CUSTOMER, sub["id"]),
                                    autoRenewEnabled=False)
    off = run("--yes", "subscriptions", "renewal", "set", sub["id"], "--customer", US_CUSTOMER, "--quantity", "3")
    assert off.exit_code == 1 and "auto-renew" in off.stderr
    assert _backend_sub(emulator, sub["id"]).next_term is None
