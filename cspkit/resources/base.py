"""Base class of every resource group hanging off :class:`~cspkit.client.PartnerCenter`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from cspkit.models.base import parse_utc_datetime

if TYPE_CHECKING:
    from cspkit.transport import Transport

__all__ = ["EMULATOR_NOW_HEADER", "Resource", "segment", "service_now"]

EMULATOR_NOW_HEADER = "X-Emulator-Now"
"""The emulator's virtual time on every answer (ISO 8601 UTC), read before ``Date``."""


def segment(value: str) -> str:
    """Quote one path segment (an id) so it cannot change the path (``a/b`` → ``a%2Fb``)."""
    if not value or not str(value).strip():
        raise ValueError("an id must not be empty")
    return quote(str(value), safe="")


class Resource:
    """A group of Partner Center operations sharing the client's transport. Resources never print."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport


def service_now(headers: Mapping[str, str] | None, *, fallback: datetime | None = None) -> datetime:
    """The service's current time from a response: the emulator's ``X-Emulator-Now``, else the HTTP ``Date``
    header, else ``fallback``, else this machine's clock (aware UTC)."""
    if headers:
        for name in (EMULATOR_NOW_HEADER, "Date"):
            value = headers.get(name)
            if not value:
                continue
            value = value.split(",")[-1].strip() if name == EMULATOR_NOW_HEADER else value
            try:
                if name == EMULATOR_NOW_HEADER:
                    parsed = parse_utc_datetime(value)
                else:
                    parsed = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            if parsed is not None:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback or datetime.now(UTC)
