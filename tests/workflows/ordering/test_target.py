"""Where writes go and what time it is there (cspkit.workflows.ordering.target), and the rate-limited client."""

from __future__ import annotations

from datetime import UTC, datetime

from cspkit.config import Settings
from cspkit.ledger import Target
from cspkit.workflows.ordering.target import (
    SAMPLE_DATA,
    default_price_list_paths,
    emulator_clock,
    emulator_instance,
    is_loopback,
    resolve_target,
)
from cspkit.workflows.ratelimit import RateLimitedSession, rate_limited_session


def test_loopback_hosts_are_recognised():
    assert is_loopback("http://127.0.0.1:8765/v1") and is_loopback("http://localhost/") and is_loopback("http://[::1]/")
    assert not is_loopback("https://api.partnercenter.microsoft.com/v1") and not is_loopback("http://10.0.0.1/")


def test_an_emulator_on_loopback_is_asked_for_its_instance_and_its_virtual_clock(emulator, emulator_client):
    pc = emulator_client()
    assert emulator_instance(pc) == emulator.backend.instance_id
    emulator.clock.set("2027-01-15T10:00:00Z")
    assert emulator_clock(pc)() == datetime(2027, 1, 15, 10, 0, tzinfo=UTC)
    settings = Settings(auth="token", endpoint=emulator.url, access_token=emulator.token)
    target = resolve_target(settings, lambda: pc, lambda: None)
    assert target == Target.emulator(emulator.url, instance_id=emulator.backend.instance_id,
                                     tenant_id=settings.tenant_id)


def test_a_service_that_is_not_an_emulator_gives_no_instance_and_this_machines_clock(emulator_client):
    class Down:
        endpoint = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
        transport = emulator_client().transport

    before = datetime.now(UTC)
    assert emulator_instance(Down()) is None
    assert emulator_clock(Down())() >= before


def test_default_price_lists_only_for_the_embedded_emulator_and_a_named_file_alone(tmp_path):
    named = tmp_path / "pricelist_nce_US_202611.csv"
    assert default_price_list_paths(str(named), is_emulator=True) == [named]
    assert default_price_list_paths(None, is_emulator=False) == []
    defaults = default_price_list_paths(None, is_emulator=True)
    assert defaults[0] == SAMPLE_DATA / "pricelist_nce_US_202611.csv"
    assert all(p.exists() for p in defaults) and len(defaults) == 2  # with the marketplace sibling


def test_rate_limited_session_defaults_to_the_environment_then_475(monkeypatch):
    monkeypatch.setenv("CSPKIT_RATE_LIMIT", "120")
    session = rate_limited_session()
    assert isinstance(session, RateLimitedSession) and session.limiter.per_minute == 120
    assert rate_limited_session(60).limiter.per_minute == 60
    monkeypatch.delenv("CSPKIT_RATE_LIMIT")
    assert rate_limited_session().limiter.per_minute == 475
