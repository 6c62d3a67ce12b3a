"""Every command the README shows is executed: the month step by step, the credential examples, the emulator server
with its control API, and the Python snippets. (The Quickstart's commands are run by CI and tests/test_demo.py; the
notebooks command is this suite's own tests/notebooks.)"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BIN = str(Path(sys.executable).parent)


def blocks(language: str) -> dict[str, list[str]]:
    """Fenced blocks of one language, by the ## section they are in."""
    found: dict[str, list[str]] = {}
    section = ""
    for match in re.finditer(r"^## ([^\n]+)$|^```(\w*)\n(.*?)^```", README.read_text(), re.M | re.S):
        if match.group(1):
            section = match.group(1).strip()
        elif match.group(2) == language:
            found.setdefault(section, []).append(match.group(3))
    return found


def run_shell(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "CSPKIT_HOME": str(tmp_path / "home"),
        "CSPKIT_CONFIG": os.devnull, "LANG": "C.UTF-8", **env,
    }
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_the_readme_has_the_sections_this_test_runs():
    sh = blocks("sh")
    assert set(sh) == {"Quickstart", "A month, command by command", "Configuration and credentials",
                       "The emulator", "Notebooks"}
    quickstart = sh["Quickstart"][0].strip().splitlines()
    assert len(quickstart) == 2 and quickstart[0].endswith("cspkit demo") and "pytest" in quickstart[1]
    assert sh["Notebooks"] == [".venv/bin/python -m pytest -q tests/notebooks\n"]
    assert (Path(__file__).parent / "notebooks").is_dir()


def quickstart_venv(tmp_path: Path) -> None:
    """``tmp_path/.venv``: the Quickstart's virtual environment (this test run's own, linked)."""
    venv = Path(sys.prefix)
    if sys.prefix == sys.base_prefix or not (venv / "bin" / "activate").is_file():
        pytest.skip("the README's month activates the Quickstart's .venv: run the tests from a virtual environment")
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)


def test_the_month_command_by_command(tmp_path):
    script = "\n".join(blocks("sh")["A month, command by command"])
    assert script.startswith(". .venv/bin/activate\n")  # the Quickstart does not activate: the month does
    quickstart_venv(tmp_path)
    done = run_shell(script, tmp_path, PATH="/usr/bin:/bin")  # a fresh shell: cspkit is not on PATH before
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "Contoso Dental Group" in out
    assert "Your subscription is active" in out
    assert "refused: the window has closed" in out
    assert "seat(s) now on subscription" in done.stderr  # the upgrade moved 2 seats
    assert "aligned with subscription" in done.stderr and "first_charge" in done.stderr  # the co-termed plan
    assert "the cancellation window of subscription" in done.stderr
    assert re.search(r"G100000001 .* ties", out)
    assert re.search(r"\b0 variances; tie-out: 1 of 1 invoice/currency totals tie", done.stderr)  # issue 18
    assert (tmp_path / "reports" / "reconciliation-G100000001.xlsx").is_file()
    assert "local Partner Center emulator" in done.stderr  # always labelled


def test_the_credential_examples_print_no_secret(tmp_path):
    app_only, app_user = blocks("sh")["Configuration and credentials"]
    done = run_shell(app_only, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "msal app-only (client secret)" in done.stdout and "set (hidden)" in done.stdout
    assert "the-secret-from-your-vault" not in done.stdout + done.stderr
    done = run_shell(app_user, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "app+user" in done.stdout and "https://api.partnercenter.microsoft.com" in done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_emulator_server_and_its_control_api(tmp_path):
    (script,) = blocks("sh")["The emulator"]
    port = str(free_port())
    done = run_shell(script.replace("8765", port), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "serve.log").read_text()
    out = done.stdout
    assert '"statusCode":429' in out.replace(" ", "")  # the injected fault, in the documented throttling body
    assert '"now":"2026-11-03T09:00:00Z"' in out.replace(" ", "")  # the clock advanced by P1D
    compact = out.replace(" ", "")
    assert '"action":"latency"' in compact and '"action":"drop"' in compact  # the real fault actions, accepted
    assert '"rules":[]' in compact and "800002" not in out  # listed, then deleted; no rule refused
    assert "Contoso Dental Group" in out
    assert (tmp_path / "emulator-state.json").is_file()  # state kept across restarts


def test_the_python_snippets(tmp_path):
    snippets = blocks("python")
    first, = snippets["Configuration and credentials"]
    second, = snippets["The emulator"]
    done = subprocess.run([sys.executable, "-c", second], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CSPKIT_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "Contoso Dental Group" in done.stdout
    # the first snippet reads the environment: point it at an emulator as a real profile would point at Partner Center
    from cspkit.emulator import EmulatorServer

    with EmulatorServer() as emu:
        env = {**os.environ, "CSPKIT_ENDPOINT": emu.url, "CSPKIT_ACCESS_TOKEN": emu.token,
               "CSPKIT_CONFIG": os.devnull, "CSPKIT_HOME": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80 Contoso Dental Group" in done.stdout


@pytest.mark.parametrize("language", ["toml"])
def test_the_profile_example_is_a_valid_profile(tmp_path, language):
    (text,) = blocks(language)["Configuration and credentials"]
    config = tmp_path / "config.toml"
    config.write_text(text)
    key = tmp_path / "cspkit.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n")
    from cspkit.config import load_settings

    settings = load_settings(env={}, config_file=config, certificate_path=str(key))
    assert settings.profile == "contoso" and settings.auth == "app"
    assert settings.certificate_thumbprint == "A1B2C3..."
