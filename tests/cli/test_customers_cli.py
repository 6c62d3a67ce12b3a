"""``cspkit customers create`` and ``customers agreement show|accept`` against the emulator: exit codes, --dry-run,
--key idempotency, and the ledger journal."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
CREATE = ["customers", "create", "--domain", "newco", "--company", "NewCo", "--address-line1", "1 Microsoft Way",
          "--city", "Redmond", "--state", "WA", "--postal-code", "98052", "--country", "US", "--email",
          "ada@newco.example", "--first-name", "Ada", "--last-name", "Byron"]


pytestmark = pytest.mark.usefixtures("no_backoff")


@pytest.fixture
def run(emulator_env):
    env = emulator_env

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), env=env, input=input)

    return invoke


def newco(emulator):
    return [c for c in emulator.backend.customers.values() if c.domain == "newco.onmicrosoft.com"]


def test_dry_run_checks_and_creates_nothing(run, emulator):
    result = run(*CREATE, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "VerifiedShippable" in result.stderr and "available" in result.stderr and "Dry run" in result.stderr
    assert newco(emulator) == []


def test_create_with_key_is_journaled_and_never_doubled(run, emulator):
    first = run("--yes", "-o", "json", *CREATE, "--key", "onboard-newco")
    assert first.exit_code == 0, first.output
    [created] = json.loads(first.stdout)
    assert "userCredentials" not in first.stdout and "password" not in first.output
    assert [c.id for c in newco(emulator)] == [created["id"]]
    again = run("--yes", "-o", "json", *CREATE, "--key", "onboard-newco")
    assert again.exit_code == 0, again.output
    assert "Already created" in again.stderr and json.loads(again.stdout)[0]["id"] == created["id"]
    assert len(newco(emulator)) == 1
    ledger = run("-o", "json", "ledger", "list")
    assert ledger.exit_code == 0, ledger.output
    assert any(e.get("kind") == "customer_create" and e.get("status") == "done" for e in json.loads(ledger.stdout))


def test_taken_domain_and_bad_address_are_refused_with_exit_1(run, emulator):
    taken = run("--yes", *[a if a != "newco" else "contosodental" for a in CREATE])
    assert taken.exit_code == 1 and "TAKEN" in taken.stderr
    bad = run("--yes", *[a if a != "98052" else "980" for a in CREATE])
    assert bad.exit_code == 1 and "PostalCode" in bad.stderr
    assert newco(emulator) == []


def test_bad_country_is_usage_error(run):
    result = run("--yes", *[a if a != "US" else "USA" for a in CREATE])
    assert result.exit_code == 2 and "alpha-2" in result.output


def test_not_confirmed_creates_nothing(run, emulator):
    result = run(*CREATE, input="n\n")
    assert result.exit_code == 1 and newco(emulator) == []


def test_agreement_show_accept_and_key(run, emulator):
    created = json.loads(run("--yes", "-o", "json", *CREATE).stdout)[0]["id"]
    shown = run("customers", "agreement", "show", "--customer", created)
    assert shown.exit_code == 1 and "has not accepted" in shown.stderr
    accept = ["--yes", "customers", "agreement", "accept", "--customer", created, "--first-name", "Ada",
              "--last-name", "Byron", "--email", "ada@newco.example", "--date", "2026-11-02", "--key", "mca-newco"]
    assert run(*accept).exit_code == 0
    again = run(*accept)
    assert again.exit_code == 0 and "Already confirmed" in again.stderr
    assert len(emulator.backend.customers[created].agreements) == 1
    shown = run("-o", "json", "customers", "agreement", "show", "--customer", created)
    assert shown.exit_code == 0, shown.output
    [agreement] = json.loads(shown.stdout)
    assert agreement["dateAgreed"].startswith("2026-11-02") and agreement["type"] == "MicrosoftCustomerAgreement"


def test_agreement_accept_bad_date_is_usage_error(run):
    result = run("--yes", "customers", "agreement", "accept", "--customer", CONTOSO, "--first-name", "A",
                 "--last-name", "B", "--email", "a@b.example", "--date", "02/11/2026")
    assert result.exit_code == 2
