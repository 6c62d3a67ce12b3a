"""Shared fixtures: ``emulator`` (a fresh in-process emulator per test, from :mod:`cspkit.emulator.testing`) and
``emulator_client`` (clients on it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cspkit.client import PartnerCenter

pytest_plugins = ["cspkit.emulator.testing"]


@pytest.fixture
def emulator_client(emulator: Any) -> Iterator[Callable[..., PartnerCenter]]:
    """A factory of :class:`~cspkit.client.PartnerCenter` clients on this test's emulator, with no back-off waits
    (``sleep`` and ``jitter`` stubbed unless given); every client made is closed after the test.

    ``emulator_client()`` → a client; ``emulator_client(retry=RetryPolicy(max_attempts=1))`` → one with options.
    """
    made: list[PartnerCenter] = []

    def make(**options: Any) -> PartnerCenter:
        options.setdefault("sleep", lambda seconds: None)
        options.setdefault("jitter", lambda upper: 0.0)
        client = PartnerCenter(endpoint=emulator.url, access_token=emulator.token, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
