"""The CLI skeleton: version, auth status without secrets, the one error boundary and its exit codes."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from cspkit.cli.main import cli
from cspkit.errors import InputFileError, NotFoundError


@pytest.fixture
def env(tmp_path):
    return {"CSPKIT_HOME": str(tmp_path), "CSPKIT_CONFIG": os.devnull}


def run(args, env):
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_version(env):
    result = run(["--version"], env)
    assert result.exit_code == 0 and "cspkit, version" in result.output


def test_auth_status_names_identity_and_endpoint_but_no_secret(env):
    env = {**env, "CSPKIT_TENANT_ID": "contoso.onmicrosoft.com", "CSPKIT_CLIENT_ID": "app-id",
           "CSPKIT_CLIENT_SECRET": "very-secret-value", "CSPKIT_ENDPOINT": "https://pc.example/v1"}
    result = run(["--output", "json", "auth", "status"], env)
    assert result.exit_code == 0
    info = json.loads(result.output)[0]
    assert info["auth"] == "app" and info["endpoint"] == "https://pc.example"
    assert info["tenant_id"] == "contoso.onmicrosoft.com" and info["client_secret"] == "set (hidden)"
    assert "very-secret-value" not in result.output


def test_auth_status_with_nothing_configured_says_emulator(env):
    result = run(["auth", "status"], env)
    assert result.exit_code == 0 and "emulator" in result.output


def test_a_secret_in_the_config_file_exits_2_without_traceback(tmp_path, env):
    config = tmp_path / "config.toml"
    config.write_text('default_profile = "p"\n[profiles.p]\nclient_secret = "leak"\n')
    result = CliRunner().invoke(cli, ["auth", "status"], env={**env, "CSPKIT_CONFIG": str(config)})
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "leak" not in result.output
    assert "secrets are never read from the config file" in result.output


@pytest.fixture
def failing_commands():
    @cli.command("_fail-api", hidden=True)
    def fail_api() -> None:
        raise NotFoundError("Partner Center returned 404 (code 20003): Subscription not found", status_code=404,
                            code="20003", request_id="req-1", correlation_id="corr-1")

    @cli.command("_fail-input", hidden=True)
    def fail_input() -> None:
        raise InputFileError("recon.csv", row=4, column="UnitPrice", expected="a decimal number", value="abc")

    @cli.command("_fail-bug", hidden=True)
    def fail_bug() -> None:
        raise ZeroDivisionError("division by zero")

    yield
    for name in ("_fail-api", "_fail-input", "_fail-bug"):
        cli.commands.pop(name)


def test_error_boundary_exit_codes_and_messages(env, failing_commands):
    api = CliRunner().invoke(cli, ["_fail-api"], env=env)
    assert api.exit_code == 1
    assert "Subscription not found" in api.output and "req-1" in api.output and "corr-1" in api.output
    assert "Traceback" not in api.output

    bad_input = CliRunner().invoke(cli, ["_fail-input"], env=env)
    assert bad_input.exit_code == 2
    assert "recon.csv, row 4, column 'UnitPrice': expected a decimal number, got 'abc'" in bad_input.output

    bug = CliRunner().invoke(cli, ["_fail-bug"], env=env)
    assert bug.exit_code == 1 and "--debug" in bug.output and "Traceback" not in bug.output


def test_debug_shows_the_traceback(env, failing_commands):
    result = CliRunner().invoke(cli, ["--debug", "_fail-bug"], env=env)
    assert result.exit_code == 1 and "Traceback" in result.output


def test_usage_errors_exit_2(env):
    result = CliRunner().invoke(cli, ["--output", "xml", "auth", "status"], env=env)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)


def test_a_missing_file_is_named_without_traceback(env):
    @cli.command("_open-missing", hidden=True)
    def open_missing() -> None:
        open("/nonexistent/recon.csv")  # noqa: SIM115 - the error is the point

    try:
        result = CliRunner().invoke(cli, ["_open-missing"], env=env)
    finally:
        cli.commands.pop("_open-missing")
    assert result.exit_code == 2
    assert "Error: cannot use /nonexistent/recon.csv: No such file or directory" in result.output
    assert "Traceback" not in result.output
