"""Where writes go and what time it is there: the ledger's target, the service's clock, the default price lists.

Partner Center is never on a loopback address, so an endpoint on loopback is a local emulator: it is asked for its
instance id (every answer carries ``X-Cspkit-Emulator-Instance``, :data:`cspkit.ledger.INSTANCE_HEADER`) and its
virtual time (``GET /_emulator/clock``, the emulator's control API) — never assumed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cspkit.ledger import INSTANCE_HEADER, Target
from cspkit.models.base import parse_utc_datetime

__all__ = ["default_price_list_paths", "emulator_clock", "emulator_instance", "is_loopback", "resolve_target"]

CLOCK_PATH = "/_emulator/clock"
SAMPLE_DATA = Path(__file__).resolve().parents[3] / "sample_data"


def is_loopback(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clock_url(pc: Any) -> str:
    return pc.endpoint.rstrip("/") + CLOCK_PATH


def emulator_instance(pc: Any) -> str | None:
    """The instance id an emulator at ``pc.endpoint`` sends with every answer, or None (not an emulator, or no
    answer). Only asked of loopback endpoints: Partner Center is never on loopback."""
    try:
        response = pc.transport.session.get(_clock_url(pc), timeout=10)
    except Exception:  # noqa: BLE001 - no answer: not known as an emulator
        return None
    return response.headers.get(INSTANCE_HEADER) or None


def emulator_clock(pc: Any) -> Callable[[], datetime]:
    """A clock reading the virtual time of the emulator at ``pc.endpoint`` (``GET /_emulator/clock`` → ``now``);
    this machine's clock (aware UTC) when it does not answer like an emulator."""
    session, url = pc.transport.session, _clock_url(pc)

    def now() -> datetime:
        try:
            response = session.get(url, timeout=10)
            response.raise_for_status()
            return parse_utc_datetime(response.json()["now"]) or datetime.now(UTC)
        except Exception:  # noqa: BLE001 - not an emulator after all: this machine's clock
            return datetime.now(UTC)

    return now


def resolve_target(settings: Any, pc: Callable[[], Any], emulator: Callable[[], Any]) -> Target:
    """Where writes go (:class:`cspkit.ledger.Target`): the embedded emulator's instance; an emulator at a
    loopback endpoint (asked for its instance id); else Partner Center at the endpoint for the partner tenant (a
    static token's ``tid`` claim, else the configured tenant).

    Args:
        settings: the run's :class:`cspkit.config.Settings`.
        pc: returns the client (called only when the target is not the embedded emulator).
        emulator: returns the embedded :class:`cspkit.emulator.EmulatorServer` (called only when it is).
    """
    if settings.is_emulator:
        emu = emulator()
        return Target.emulator(emu.url, instance_id=emu.backend.instance_id,
                               tenant_id=emu.backend.partner.get("tenantId"))
    client = pc()
    endpoint = client.endpoint
    instance = emulator_instance(client) if is_loopback(endpoint) else None
    if instance:
        return Target.emulator(endpoint, instance_id=instance, tenant_id=settings.tenant_id)
    return Target.partner_center(endpoint, token=settings.access_token, tenant_id=settings.tenant_id)


def default_price_list_paths(path: str | None, *, is_emulator: bool) -> list[Path]:
    """The price-list files to price plans with: ``path`` alone when given; against the embedded emulator, the
    sample new-commerce list and its marketplace sibling (``_nce_`` → ``_marketplace_``) when present; else none."""
    if path is not None:
        return [Path(path)]
    if not is_emulator:
        return []
    default = SAMPLE_DATA / "pricelist_nce_US_202611.csv"
    if not default.exists():
        return []
    marketplace = default.with_name(default.name.replace("_nce_", "_marketplace_"))
    return [default, marketplace] if marketplace.exists() else [default]
