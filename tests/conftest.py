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


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a socket that accepts connections and never answers (a hung Partner Center)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # keep it open, say nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
