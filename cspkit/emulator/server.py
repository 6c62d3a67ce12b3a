"""Run the emulator: in-process on a background thread (tests, notebooks, the demo) or as ``cspkit emulator serve``.

>>> from cspkit.emulator import EmulatorServer
>>> with EmulatorServer() as emu:                                    # doctest: +SKIP
...     requests.get(emu.url + "/v1/customers", headers={"Authorization": f"Bearer {emu.token}"})
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from cspkit.emulator.app import create_app
from cspkit.emulator.backend import DEFAULT_NOW, Backend
from cspkit.emulator.clock import Clock
from cspkit.emulator.faults import Faults, RateLimiter
from cspkit.emulator.state import load_file, save_file

__all__ = ["DEFAULT_TOKEN", "EmulatorServer"]

# The bearer token every emulator accepts (besides any it issues). Not a secret: the emulator only listens on
# loopback unless told otherwise. Override with CSPKIT_EMULATOR_TOKEN.
DEFAULT_TOKEN = "cspkit-emulator-token"


class EmulatorServer:
    """The Partner Center emulator on a real HTTP port (ephemeral by default), with its backend at hand."""

    def __init__(
        self,
        now: datetime = DEFAULT_NOW,
        policy: str = "current",
        seed: str | dict[str, Any] | None = "default",
        state_file: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        *,
        token: str | None = None,
        rate_limit: int | None = 500,
        control_token: str | None = None,
    ) -> None:
        self.backend = Backend(now=now, policy=policy, seed=seed, webhook_url=webhook_url)
        self.state_file = Path(state_file).expanduser() if state_file else None
        self.host, self.port = host, port
        self.token = token or os.environ.get("CSPKIT_EMULATOR_TOKEN") or DEFAULT_TOKEN
        self.faults = Faults()
        self.rate_limiter = RateLimiter(limit=rate_limit)
        self._tokens = {self.token}
        # the control API (/_emulator) answers loopback callers only, unless a control token is set: then every
        # caller must send it (X-Cspkit-Control-Token or Authorization: Bearer)
        self.control_token = control_token or None
        self.app = create_app(self.backend, tokens=self._tokens, faults=self.faults,
                              rate_limiter=self.rate_limiter, control_token=self.control_token)
        self.app.state.emulator.save_hook = self.save if self.state_file else None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- conveniences -------------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self.backend.clock

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """Back to the seeded state and start time; faults cleared."""
        self.backend.reset()
        self.faults.clear()

    def save(self) -> Path:
        if self.state_file is None:
            raise RuntimeError("no state_file was given")
        return save_file(self.state_file, self.backend.export_state())

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        if self.state_file is not None and self.state_file.exists():
            self.backend.import_state(load_file(self.state_file))
        config = uvicorn.Config(self.app, host=self.host, port=self.port, http="h11", ws="none", lifespan="off",
                                log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="cspkit-emulator", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the emulator could not start on {self.host}:{self.port}")
            thread.join(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(10)
        self._server = self._thread = None
        if self.state_file is not None:
            self.save()

    def serve_forever(self, on_ready: Any = None) -> None:
        """Run until SIGINT/SIGTERM (``cspkit emulator serve``); ``on_ready(self)`` once listening; state saved on
        the way out when a state file is set."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            if on_ready is not None:
                on_ready(self)
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
