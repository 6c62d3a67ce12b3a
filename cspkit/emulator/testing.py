"""pytest fixture: ``emulator`` — a fresh in-process emulator per test (clock frozen at 2026-11-02T09:00:00Z,
policy "current"). Loaded by ``pytest_plugins = ["cspkit.emulator.testing"]`` in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cspkit.emulator.backend import DEFAULT_NOW
from cspkit.emulator.server import EmulatorServer

__all__ = ["emulator"]


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(now=DEFAULT_NOW, policy="current") as emu:
        yield emu
