"""Typed fields of control-API bodies: a wrongly typed value is a 400 naming the field, never a 500.

Every helper reads one field of a JSON object (already parsed, keys camelCase) and raises
:class:`~cspkit.emulator.models.EmulatorError` ``400`` / ``800002`` (Partner Center's "invalid input" code, the one
the emulator uses for bad bodies) with the message ``Field 'name': expected <what>, got <value>.``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from cspkit.emulator._util import parse_dt
from cspkit.emulator.models import EmulatorError

__all__ = ["bad_field", "boolean", "datetime_field", "integer", "number", "obj", "text"]

_MISSING = object()


def bad_field(name: str, expected: str, value: Any = _MISSING) -> EmulatorError:
    """The 400 for field ``name``: what was expected and, when given, the value received (shortened)."""
    got = "" if value is _MISSING else f", got {_short(value)}"
    return EmulatorError(400, "800002", f"Field '{name}': expected {expected}{got}.")


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _get(body: dict[str, Any], name: str, required: bool, expected: str) -> Any:
    if name not in body or body[name] is None:
        if required:
            raise bad_field(name, expected + " (required)")
        return _MISSING
    return body[name]


def text(body: dict[str, Any], name: str, *, required: bool = False, default: Any = None,
         choices: tuple[str, ...] | None = None) -> Any:
    """A string field (optionally one of ``choices``); ``default`` when absent or null."""
    expected = "a string" if choices is None else "one of " + ", ".join(repr(c) for c in choices)
    value = _get(body, name, required, expected)
    if value is _MISSING:
        return default
    if not isinstance(value, str) or (choices is not None and value not in choices):
        raise bad_field(name, expected, value)
    return value


def integer(body: dict[str, Any], name: str, *, required: bool = False, default: Any = None,
            minimum: int | None = None, maximum: int | None = None) -> Any:
    """A whole number (a JSON integer, or a float with no fraction); booleans and strings are refused."""
    bounds = "" if minimum is None else f" >= {minimum}" if maximum is None else f" from {minimum} to {maximum}"
    expected = "an integer" + bounds
    value = _get(body, name, required, expected)
    if value is _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        isinstance(value, float) and not value.is_integer()
    ):
        raise bad_field(name, expected, value)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise bad_field(name, expected, value)
    return value


def number(body: dict[str, Any], name: str, *, required: bool = False, default: Any = None,
           minimum: float | None = None) -> Any:
    """A finite JSON number (integer or decimal); booleans and strings are refused."""
    expected = "a number" + ("" if minimum is None else f" >= {minimum:g}")
    value = _get(body, name, required, expected)
    if value is _MISSING:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_field(name, expected, value)
    if minimum is not None and value < minimum:
        raise bad_field(name, expected, value)
    return float(value)


def boolean(body: dict[str, Any], name: str, *, default: Any = None) -> Any:
    """A JSON ``true``/``false``."""
    value = _get(body, name, False, "true or false")
    if value is _MISSING:
        return default
    if not isinstance(value, bool):
        raise bad_field(name, "true or false", value)
    return value


def datetime_field(body: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    """An ISO 8601 time (``2026-12-01T00:00:00Z``; a date alone is midnight UTC), as an aware UTC datetime."""
    expected = "an ISO 8601 time such as '2026-12-01T00:00:00Z'"
    value = _get(body, name, required, expected)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        raise bad_field(name, expected, value)
    try:
        return parse_dt(value)
    except (ValueError, TypeError, OverflowError):
        raise bad_field(name, expected, value) from None


def obj(body: dict[str, Any], name: str, *, default: Any = None) -> Any:
    """A JSON object field (a dict), ``default`` when absent or null."""
    value = _get(body, name, False, "a JSON object")
    if value is _MISSING:
        return default
    if not isinstance(value, dict):
        raise bad_field(name, "a JSON object", value)
    return value
