"""Shapes shared by several Partner Center areas: item types, resource attributes, currencies, billing cycles.

Leniency rules (partner-center-api.md §0, §10.5): enum-like strings are accepted in any case and with or without
underscores (``"Monthly"``, ``"one_time"``, ``"OneTime"``) and normalized to the service's snake_case value; unknown
values are kept as sent (lower-cased) rather than refused, because the service adds values without notice.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from cspkit.models.base import Link, PCModel

__all__ = [
    "BILLING_CYCLES",
    "BillingCycle",
    "Currency",
    "ItemType",
    "ResourceAttributes",
    "TermDuration",
    "link_uri",
    "normalize_billing_cycle",
    "normalize_term_duration",
]

BILLING_CYCLES = ("monthly", "annual", "triennial", "biennial", "one_time", "none", "unknown")
_FOLDED = {value.replace("_", ""): value for value in BILLING_CYCLES}
_FOLDED.update({"yearly": "annual", "onetime": "one_time"})


def normalize_billing_cycle(value: Any) -> Any:
    """``"Monthly"``/``"MONTHLY"`` → ``"monthly"``, ``"OneTime"``/``"one_time"`` → ``"one_time"``; others lower-cased.

    None and non-strings pass through unchanged (pydantic then reports a type error where one is due).
    """
    if not isinstance(value, str):
        return value
    folded = value.strip().replace("_", "").replace("-", "").replace(" ", "").lower()
    return _FOLDED.get(folded, value.strip().lower())


def normalize_term_duration(value: Any) -> Any:
    """``"p1y"`` → ``"P1Y"`` (ISO 8601 durations are upper case on the wire)."""
    return value.strip().upper() if isinstance(value, str) else value


BillingCycle = Annotated[str, BeforeValidator(normalize_billing_cycle)]
"""A BillingCycleType value: ``monthly``, ``annual``, ``triennial``, ``biennial``, ``one_time``, ``none``."""

TermDuration = Annotated[str, BeforeValidator(normalize_term_duration)]
"""An ISO 8601 term duration: ``P1M``, ``P1Y``, ``P3Y``."""


class ItemType(PCModel):
    """``{"id": "OnlineServicesNCE", "displayName": "...", "subType": {...}}`` (product type and sub type)."""

    id: str | None = None
    display_name: str | None = None
    sub_type: ItemType | None = None


class ResourceAttributes(PCModel):
    """``{"objectType": "Subscription", "etag": "..."}``; the etag round-trips in PATCH bodies."""

    object_type: str | None = None
    etag: str | None = None


class Currency(PCModel):
    """``{"code": "USD", "symbol": "$"}``.

    ⚠ The availability docs type ``defaultCurrency`` as a string; the JSON and SDK send an object. Both are read:
    a bare string becomes ``Currency(code=<string>)``.
    """

    code: str | None = None
    symbol: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"code": data}
        return data


def link_uri(links: Any, name: str) -> str | None:
    """The ``uri`` of ``links[name]`` whatever the links object looks like (dict of Link / dicts), or None."""
    if not links:
        return None
    value = links.get(name) if isinstance(links, dict) else getattr(links, name, None)
    if isinstance(value, Link):
        return value.uri
    if isinstance(value, dict):
        return value.get("uri")
    return None
