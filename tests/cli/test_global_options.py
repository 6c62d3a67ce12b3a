"""Issue 12 on the command line: no guessed target, visible waiting and the deadline, GUID ids, option positions,
file modes of $CSPKIT_HOME."""

from __future__ import annotations

import json
import os
import stat

import pytest
import responses
from click.testing import CliRunner

from cspkit.cli import main as cli_main
from cspkit.cli.main import cli

CUSTOMER = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
UNKNOWN_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
def env(tmp_path):
    return {"CSPKIT_HOME": str(tmp_path / "home"), "CSPKIT_CONFIG": os.devnull}


def run(args, env):
    return CliRunner().invoke(cli, args, env=env)


# -- no guessed target ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "args", "named"),
    [
        ({"CSPKIT_TENANT_ID": "t", "CSPKIT_CLIENT_SECRET": "hunter2"}, [], "CSPKIT_CLIENT_ID is missing"),
        ({"CSPKIT_CLIENT_ID": "c"}, [], "CSPKIT_TENANT_ID is missing"),
        ({"CSPKIT_ENDPOINT": "https://pc.example"}, [], "CSPKIT_ENDPOINT points at https://pc.example, which is not"),
        ({}, ["--endpoint", "https://pc.example"], "--endpoint points at https://pc.example"),
        ({"CSPKIT_PROFILE": "contoso"}, [], "profile 'contoso' is not defined"),
        ({}, ["--profile", "contoso"], "named by --profile"),
        ({"CSPKIT_CONFIG": "/nonexistent/cspkit.toml"}, [], "CSPKIT_CONFIG names the config file"),
    ],
)
def test_half_a_configuration_exits_2_naming_what_is_missing(env, extra, args, named):
    result = run([*args, "customers", "list"], {**env, **extra})
    assert result.exit_code == 2, result.output
    assert named in result.stderr and "Traceback" not in result.output
    assert "using the local Partner Center emulator" not in result.stderr  # nothing ran on the emulator instead
    assert "hunter2" not in result.output


def test_auth_status_says_which_target_and_why(env):
    nothing = run(["-o", "json", "auth", "status"], env)
    assert nothing.exit_code == 0, nothing.output
    info = json.loads(nothing.stdout)[0]
    assert info["target"] == "emulator"
    assert info["why"].startswith("emulator: nothing configured (no CSPKIT_* credentials")
    app = run(["auth", "status", "-o", "json"], {**env, "CSPKIT_TENANT_ID": "t", "CSPKIT_CLIENT_ID": "c",
                                                 "CSPKIT_CLIENT_SECRET": "hunter2"})
    info = json.loads(app.stdout)[0]
    assert info["target"] == "partner-center"
    assert info["why"] == ("partner-center at https://api.partnercenter.microsoft.com: app-only (client secret) "
                           "from CSPKIT_TENANT_ID + CSPKIT_CLIENT_ID + CSPKIT_CLIENT_SECRET")
    assert "hunter2" not in app.output


# -- visible waiting and the deadline -------------------------------------------------------------------------------
@responses.activate
def test_a_long_wait_before_a_retry_is_announced_on_stderr_without_debug(env, monkeypatch):
    monkeypatch.setattr(cli_main, "WAIT_NOTICE_SECONDS", 0.0)  # the real threshold is 3 s; the test will not wait
    url = "https://pc.test/v1/customers"
    responses.get(url, status=429, headers={"Retry-After": "0"}, json={"statusCode": 429, "message": "busy"})
    responses.get(url, status=200, json={"totalCount": 0, "items": []})
    result = run(["customers", "list", "-o", "json"],
                 {**env, "CSPKIT_ENDPOINT": "https://pc.test", "CSPKIT_ACCESS_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "cspkit: GET /v1/customers got 429 Too Many Requests (attempt 1 of at most 5); next try in " \
        in result.stderr


@responses.activate
def test_a_short_wait_is_not_announced(env):
    url = "https://pc.test/v1/customers"
    responses.get(url, status=503, json={"code": "500", "description": "busy"})
    responses.get(url, status=200, json={"totalCount": 0, "items": []})
    result = run(["customers", "list"], {**env, "CSPKIT_ENDPOINT": "https://pc.test", "CSPKIT_ACCESS_TOKEN": "t"})
    assert result.exit_code == 0 and len(responses.calls) == 2  # retried after well under 3 s of back-off
    assert "next try in" not in result.stderr


def test_a_silent_endpoint_fails_within_the_timeout_option_and_says_how_long(env, silent_endpoint):
    result = run(["customers", "list", "--timeout", "1"], {**env, "CSPKIT_ENDPOINT": silent_endpoint})
    assert result.exit_code == 1, result.output
    assert "no answer after" in result.stderr and "budget 1 s per call" in result.stderr
    assert "Traceback" not in result.output


# -- GUID arguments -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["subscriptions", "list", "--customer", "contoso"], "'contoso' is not a customer id"),
        (["subscriptions", "show", "--customer", CUSTOMER, "abc"], "'abc' is not a subscription id"),
        (["subscriptions", "set-quantity", "--customer", CUSTOMER, "12345", "3"], "'12345' is not a subscription id"),
        (["orders", "list", "--customer", "9a1e3f52-6c0b-4d7e-8f21"], "is not a customer id"),
        (["order", "place", "--customer", "x", "--item", "A:B", "--quantity", "1"], "'x' is not a customer id"),
    ],
)
def test_malformed_ids_exit_2_before_any_call(env, args, named):
    result = run(args, env)
    assert result.exit_code == 2, result.output
    assert named in result.stderr and "expected a GUID like" in result.stderr
    assert "emulator" not in result.stderr  # refused before a target was even chosen


def test_a_well_formed_unknown_id_reaches_partner_center(emulator, env):
    live = {**env, "CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token}
    result = run(["subscriptions", "show", "--customer", CUSTOMER, UNKNOWN_SUBSCRIPTION], live)
    assert result.exit_code == 1, result.output  # a 404 from the service, not a usage error
    assert "not a subscription id" not in result.stderr


# -- option positions -----------------------------------------------------------------------------------------------
def test_global_options_work_before_and_after_the_subcommand(emulator, env):
    live = {**env, "CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token}
    before = run(["-o", "json", "customers", "list"], live)
    after = run(["customers", "list", "-o", "json"], live)
    middle = run(["customers", "--output", "json", "list"], live)
    assert before.exit_code == after.exit_code == middle.exit_code == 0, after.output
    assert json.loads(before.stdout) == json.loads(after.stdout) == json.loads(middle.stdout)
    assert any(c["id"] == CUSTOMER for c in json.loads(after.stdout))
    table = run(["customers", "list"], live)
    assert not table.stdout.lstrip().startswith("[")  # the default really is a table: -o was what changed it


def test_profile_endpoint_and_timeout_after_the_subcommand_are_applied(env):
    profile = run(["auth", "status", "--profile", "nope"], env)
    assert profile.exit_code == 2 and "profile 'nope' is not defined" in profile.stderr
    endpoint = run(["customers", "list", "--endpoint", "https://pc.example"], env)
    assert endpoint.exit_code == 2 and "--endpoint points at https://pc.example" in endpoint.stderr
    timeout = run(["auth", "status", "-o", "json", "--timeout", "7"], env)
    assert json.loads(timeout.stdout)[0]["timeout"] == "7 s per call, retries included"
    bad = run(["auth", "status", "--timeout", "0"], env)
    assert bad.exit_code == 2 and "--timeout" in bad.stderr


def test_yes_and_debug_after_the_subcommand(emulator, env):
    from cspkit.client import PartnerCenter

    pc = PartnerCenter(endpoint=emulator.url, access_token=emulator.token)
    cart = pc.carts.create(CUSTOMER, line_items=[{"catalogItemId": "CFQ7TTC0LH18:0001:CFQ7TTC0K59J", "quantity": 5,
                                                  "termDuration": "P1M", "billingCycle": "monthly"}])
    pc.carts.checkout(CUSTOMER, cart.id)
    live = {**env, "CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token}
    subs = json.loads(run(["-o", "json", "subscriptions", "list", "--customer", CUSTOMER], live).stdout)
    sub = subs[0]["id"]
    refused = run(["subscriptions", "auto-renew", "off", "--customer", CUSTOMER, sub], live)
    assert "pass --yes to confirm" in refused.stderr
    done = run(["subscriptions", "auto-renew", "off", "--customer", CUSTOMER, sub, "--yes", "-o", "json"], live)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)[0]["autoRenewEnabled"] is False
    quiet = run(["subscriptions", "show", "--customer", CUSTOMER, UNKNOWN_SUBSCRIPTION], live)
    debug = run(["subscriptions", "show", "--customer", CUSTOMER, UNKNOWN_SUBSCRIPTION, "--debug"], live)
    assert quiet.exit_code == debug.exit_code == 1
    assert "Traceback" not in quiet.output and "Traceback" in debug.output


# -- file modes -----------------------------------------------------------------------------------------------------
def test_cspkit_home_is_private_and_out_files_follow_the_umask(env, tmp_path):
    home = tmp_path / "home"
    previous = os.umask(0o022)
    try:
        listed = run(["customers", "list"], env)  # the embedded emulator: its state file lands in home
        ledger = run(["ledger", "list"], env)
        out = tmp_path / "report.xlsx"
        data = os.path.join(os.path.dirname(__file__), "..", "..", "sample_data")
        report = run(["reconcile", "--file", os.path.join(data, "recon_sample.csv"), "--out", str(out)], env)
    finally:
        os.umask(previous)
    assert listed.exit_code == 0 and ledger.exit_code == 0, listed.output + ledger.output
    assert report.exit_code in (0, 1) and out.exists(), report.output  # 1 = differences found; written either way
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    kept = sorted(p.name for p in home.iterdir())
    assert "ledger.db" in kept and "emulator-state.json" in kept
    for path in home.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_an_existing_loose_home_is_tightened(env, tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "ledger.db").touch(mode=0o644)
    os.chmod(home, 0o755)
    os.chmod(home / "ledger.db", 0o644)
    assert run(["ledger", "list"], env).exit_code == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "ledger.db").stat().st_mode) == 0o600
