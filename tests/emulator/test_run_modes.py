"""Run modes: the Python API (context manager, no thread left behind, state file across restarts), the control
API, and the `cspkit emulator` commands (serve with a state file, reset, clock advance)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime

import requests
from click.testing import CliRunner

from cspkit.emulator import Backend, Clock, EmulatorServer
from tests.emulator.conftest import BASIC, PC, US_CUSTOMER


def test_python_api_context_manager_leaves_no_thread(tmp_path):
    before = {t.name for t in threading.enumerate()}
    with EmulatorServer(now=datetime(2027, 3, 1, tzinfo=UTC), policy="legacy-2023") as emu:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)
        assert isinstance(emu.backend, Backend) and isinstance(emu.clock, Clock)
        assert emu.clock.now() == datetime(2027, 3, 1, tzinfo=UTC)
        assert emu.backend.catalog["products"][0]["id"] == "CFQ7TTC0LH18"  # the price-sheet router reads this
        assert emu.app.state.backend is emu.backend
        assert "cspkit-emulator" in {t.name for t in threading.enumerate()}
    assert {t.name for t in threading.enumerate()} <= before


def test_state_file_survives_restarts(tmp_path):
    state = tmp_path / "emu.json"
    with EmulatorServer(state_file=state) as emu:
        sub = PC(emu).buy_one(US_CUSTOMER, BASIC, 4)
        emu.clock.advance(days=3)
    assert state.exists()
    with EmulatorServer(state_file=state) as emu:
        assert emu.clock.now().isoformat() == "2026-11-05T09:00:00+00:00"
        again = PC(emu).subscription(US_CUSTOMER, sub["id"])
        assert again["quantity"] == 4 and again["attributes"]["etag"] == sub["attributes"]["etag"]
        emu.clock.advance(days=33)  # the queued events came back too: a renewal and the invoice of 8 December
        assert PC(emu).get("/invoices").json()["totalCount"] == 1
        emu.reset()
        assert PC(emu).get(f"/customers/{US_CUSTOMER}/subscriptions").json()["items"] == []


def test_control_api_reset_clock_seed_state(emulator, pc):
    base = emulator.url + "/_emulator"
    pc.buy_one(US_CUSTOMER, BASIC, 1)
    assert requests.get(base + "/clock", timeout=5).json()["now"] == "2026-11-02T09:00:00Z"
    r = requests.post(base + "/clock/advance", json={"by": "P1D"}, timeout=5)
    assert r.json()["now"] == "2026-11-03T09:00:00Z"
    assert requests.post(base + "/clock/advance", json={"hours": 1}, timeout=5).json()["now"] == "2026-11-03T10:00:00Z"
    assert requests.post(base + "/clock", json={"now": "2026-11-01T00:00:00Z"}, timeout=5).status_code == 400
    assert requests.post(base + "/clock", json={"now": "2026-11-10T00:00:00Z"}, timeout=5).status_code == 200
    state = requests.get(base + "/state", timeout=5).json()
    assert state["subscriptions"] == {"active": 1} and state["customers"] == 5
    assert any(e["kind"] == "window_closed" for e in state["eventLog"])
    seeded = {"companyName": "Seeded Co", "domain": "seeded.onmicrosoft.com", "country": "US"}
    r = requests.post(base + "/seed", json={"customers": [seeded]}, timeout=5)
    assert r.json()["customers"] == 6
    assert requests.post(base + "/reset", json={}, timeout=5).json()["now"] == "2026-11-02T09:00:00Z"
    assert len(pc.all_pages("/customers")) == 5
    issued = requests.post(base + "/tokens", timeout=5).json()["accessToken"]
    assert requests.get(emulator.url + "/v1/customers", headers={"Authorization": f"Bearer {issued}"},
                        timeout=5).status_code == 200


def test_cli_reset_and_clock_advance_act_on_the_state_file(tmp_path, monkeypatch):
    from cspkit.cli.main import cli

    monkeypatch.setenv("CSPKIT_HOME", str(tmp_path))
    monkeypatch.delenv("CSPKIT_EMULATOR_STATE", raising=False)
    runner = CliRunner()
    r = runner.invoke(cli, ["emulator", "reset", "--now", "2027-01-30T12:00:00Z"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "emulator-state.json").exists()
    r = runner.invoke(cli, ["emulator", "clock", "advance", "P1M"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "2027-02-28T12:00:00Z"
    custom = tmp_path / "other.json"
    monkeypatch.setenv("CSPKIT_EMULATOR_STATE", str(custom))
    assert runner.invoke(cli, ["emulator", "reset"]).exit_code == 0 and custom.exists()
    r = runner.invoke(cli, ["emulator", "clock", "show"])
    assert r.stdout.strip() == "2026-11-02T09:00:00Z"
    assert runner.invoke(cli, ["emulator", "clock", "advance", "soon"]).exit_code == 2


def test_cli_serve_requires_the_token_and_saves_state_on_exit(tmp_path):
    from cspkit.emulator.state import load_file

    state = tmp_path / "served.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "cspkit", "emulator", "serve", "--port", "0", "--state", str(state)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = ""
        while "listening on" not in line:
            line = proc.stderr.readline()
            assert line, "serve exited early"
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line).group(1)
        token = re.search(r"bearer token '([^']+)'", proc.stderr.readline()).group(1)
        assert requests.get(url + "/v1/customers", timeout=5).status_code == 401
        assert requests.get(url + "/v1/customers", headers={"Authorization": f"Bearer {token}"},
                            timeout=5).status_code == 200
        requests.post(url + "/_emulator/clock/advance", json={"by": "P2D"}, timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert load_file(state)["clock"]["now"].isoformat() == "2026-11-04T09:00:00+00:00"
