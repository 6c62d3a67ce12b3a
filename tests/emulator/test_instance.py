"""The emulator's instance id: on every answer and in the control API; kept across restarts with a state file;
new for a fresh emulator and after a reset (the ledger journals writes per instance)."""

from __future__ import annotations

import requests

from cspkit.emulator import EmulatorServer
from cspkit.wire import EMULATOR_INSTANCE_HEADER
from tests.emulator.conftest import US_CUSTOMER


def test_every_answer_carries_the_instance_and_a_reset_mints_a_new_one(emulator):
    instance = emulator.backend.instance_id
    assert len(instance) == 32
    ok = requests.get(f"{emulator.url}/v1/customers/{US_CUSTOMER}",
                      headers={"Authorization": f"Bearer {emulator.token}"}, timeout=10)
    refused = requests.get(f"{emulator.url}/v1/customers", timeout=10)  # no token: 401, still labelled
    clock = requests.get(f"{emulator.url}/_emulator/clock", timeout=10)
    assert (ok.status_code, refused.status_code) == (200, 401)
    assert {r.headers[EMULATOR_INSTANCE_HEADER] for r in (ok, refused, clock)} == {instance}
    assert clock.json()["instance"] == instance
    assert requests.get(f"{emulator.url}/_emulator/state", timeout=10).json()["instance"] == instance

    reset = requests.post(f"{emulator.url}/_emulator/reset", json={}, timeout=10)
    assert reset.json()["instance"] != instance
    assert reset.headers[EMULATOR_INSTANCE_HEADER] == reset.json()["instance"] == emulator.backend.instance_id


def test_the_instance_survives_a_restart_with_the_state_file_and_differs_between_fresh_emulators(tmp_path):
    state = tmp_path / "emu.json"
    with EmulatorServer(state_file=state) as first:
        instance = first.backend.instance_id
    with EmulatorServer(state_file=state) as again:
        assert again.backend.instance_id == instance
    with EmulatorServer() as fresh:
        assert fresh.backend.instance_id != instance
