"""What the CLI tests share: an environment that points the CLI at the test's emulator, and no back-off waits."""

from __future__ import annotations

import os
from typing import Any

import pytest


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's retry policy (cspkit.retry) waits ``random.uniform(0, backoff)`` between retries: make it 0."""
    monkeypatch.setattr("cspkit.retry.random.uniform", lambda low, high: 0.0)


@pytest.fixture
def emulator_env(emulator: Any, tmp_path: Any) -> dict[str, str]:
    """``CSPKIT_*`` settings for a CLI run against the test's emulator, with a private home and no config file."""
    return {"CSPKIT_ENDPOINT": emulator.url, "CSPKIT_ACCESS_TOKEN": emulator.token, "CSPKIT_HOME": str(tmp_path),
            "CSPKIT_CONFIG": os.devnull, "CSPKIT_DATABASE_URL": ""}
