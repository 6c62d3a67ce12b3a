"""Small helpers of the emulator: time arithmetic, ISO 8601 durations, money, deterministic ids."""

from __future__ import annotations

import calendar
import random
import re
import string
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

__all__ = [
    "IdSource",
    "add_duration",
    "add_months",
    "days_in_month",
    "fmt_dec",
    "fmt_dt",
    "parse_dt",
    "parse_duration",
    "rounddown2",
]

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> dict[str, float]:
    """Split an ISO 8601 duration (``P1M``, ``P1Y``, ``P3D``, ``PT10S``, ``P1DT2H``) into its parts."""
    m = _DURATION.match(text.strip().upper())
    if not m or text.strip().upper() in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    return {k: float(v) for k, v in m.groupdict().items() if v is not None}


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def add_months(when: datetime | date, months: int):
    """Calendar month arithmetic, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    total = when.month - 1 + months
    year, month = when.year + total // 12, total % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, days_in_month(year, month)))


def add_duration(when: datetime, spec: str) -> datetime:
    """``when`` plus an ISO 8601 duration, years and months by the calendar."""
    parts = parse_duration(spec)
    out = add_months(when, int(parts.get("years", 0)) * 12 + int(parts.get("months", 0)))
    return out + timedelta(
        weeks=parts.get("weeks", 0), days=parts.get("days", 0), hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0),
    )


def parse_dt(value: str | datetime) -> datetime:
    """ISO 8601 → aware UTC datetime (naive input is taken as UTC)."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip().replace("Z", "+00:00")
        if "." in text:  # trim 7-digit fractions to what fromisoformat accepts
            head, _, tail = text.partition(".")
            digits = re.match(r"\d*", tail).group(0)
            text = f"{head}.{digits[:6]}{tail[len(digits):]}"
        dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def fmt_dt(value: datetime | None) -> str | None:
    """Partner Center style timestamp: ``2026-11-02T09:00:00Z``."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def fmt_dec(value: Decimal) -> str:
    """Decimal as a plain string without exponent or needless trailing zeros (``9.408``, ``100.8``, ``0``)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def rounddown2(value: Decimal) -> Decimal:
    """Excel ROUNDDOWN(x, 2): truncate toward zero to cents."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


class IdSource:
    """Deterministic ids from a seeded generator, so a seeded emulator mints the same ids every run."""

    def __init__(self, seed: int = 20261102) -> None:
        self._rng = random.Random(seed)

    def guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def hex(self, n: int = 12) -> str:
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(n))

    def token(self, n: int = 64) -> str:
        """An opaque token: random base64-alphabet text (contains ``+``, ``/`` and padding, like the real ones)."""
        alphabet = string.ascii_letters + string.digits + "+/"
        return "".join(self._rng.choice(alphabet) for _ in range(n)) + "=="

    def random(self) -> float:
        return self._rng.random()

    def getstate(self):
        return self._rng.getstate()

    def setstate(self, state) -> None:
        version, internal, gauss = state
        self._rng.setstate((version, tuple(internal), gauss))
