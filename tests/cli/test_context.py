"""The CLI's per-run context: the ordering commands' client is built rate-limited (no session swapped later)."""

from __future__ import annotations

import os

from cspkit.cli.context import ordering_context
from cspkit.cli.main import CliState
from cspkit.workflows.ratelimit import RateLimitedSession


def test_the_ordering_client_is_built_with_the_rate_limited_session(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("CSPKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CSPKIT_CONFIG", os.devnull)
    monkeypatch.setenv("CSPKIT_ENDPOINT", emulator.url)
    monkeypatch.setenv("CSPKIT_ACCESS_TOKEN", emulator.token)
    state = CliState(profile=None, endpoint=None, output="table", yes=True, debug=False)
    try:
        ctx = ordering_context(state, rate_limit=30)
        session = ctx.pc.transport.session
        assert isinstance(session, RateLimitedSession) and session.limiter.per_minute == 30
        assert ctx.pc is state.client()  # one client per run
        assert ctx.clock()() == emulator.clock.now()  # a loopback emulator: its virtual clock
        assert ctx.target.instance_id == emulator.backend.instance_id
        assert [c.id for c in ctx.pc.customers.list()]  # and it works
    finally:
        state.close()
