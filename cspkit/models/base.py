"""Base for every Partner Center model: parse leniently, emit strictly.

What the service really sends (partner-center-api.md §0, §6.4, §10.5):

* property names in camelCase (PascalCase accepted on input too, at every depth);
* numbers as JSON numbers **or strings** (``"unitPrice": "16"``) → :class:`~decimal.Decimal` via :data:`Money`;
* enum values in any case (``"Monthly"``, ``"monthly"``, ``"MONTHLY"``) → :class:`CaseInsensitiveEnum`;
* ISO 8601 times with up to 7 fractional digits, with ``Z``, an offset, or nothing (taken as UTC) → aware UTC
  :class:`~datetime.datetime` via :data:`UtcDateTime`;
* fields we do not model → kept (``extra="allow"``) and sent back unchanged (PATCH needs the full resource).

``model.to_wire()`` serializes back to camelCase JSON-ready dicts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "CaseInsensitiveEnum",
    "Link",
    "Money",
    "PCModel",
    "UtcDateTime",
    "parse_decimal",
    "parse_utc_datetime",
]

_FRACTION = re.compile(r"(\.\d{1,6})\d*")  # Python parses ≤ 6 fractional digits; the service sends 7


def parse_utc_datetime(value: Any) -> datetime | None:
    """Parse an ISO 8601 timestamp the way Partner Center sends it into an aware UTC datetime.

    Accepts ``2021-05-20T18:30:06.6045692Z`` (7 fractional digits), ``2021-05-01T00:00:00`` (no zone → UTC),
    ``+hh:mm`` offsets, plain dates, datetimes (naive → UTC). Empty strings → None.

    Raises:
        ValueError: the text is not an ISO 8601 date or time.
    """
    if value is None or isinstance(value, datetime):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date-time, got {value!r}")
    text = value.strip()
    if not text:
        return None
    text = _FRACTION.sub(lambda m: m.group(1), text, count=1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"expected an ISO 8601 date-time, got {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_decimal(value: Any) -> Decimal | None:
    """Parse a number sent as a JSON number or a string into an exact Decimal (``""``/None → None).

    Floats go through ``repr`` so ``0.1`` becomes ``Decimal("0.1")``, not its binary expansion.

    Raises:
        ValueError: not a number.
    """
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"expected a number, got {value!r}") from exc
    raise ValueError(f"expected a number, got {value!r}")


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDateTime = Annotated[
    datetime, BeforeValidator(parse_utc_datetime), PlainSerializer(_iso_z, return_type=str, when_used="json")
]
"""An aware UTC datetime parsed from any ISO 8601 variant the service sends; serialized with ``Z``."""

Money = Annotated[Decimal, BeforeValidator(parse_decimal), PlainSerializer(str, return_type=str, when_used="json")]
"""An exact decimal amount parsed from a number or a string; serialized as a string (no float rounding)."""


class CaseInsensitiveEnum(StrEnum):
    """A string enum matched case-insensitively (``"Monthly"`` == ``"monthly"``); unknown values raise."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            folded = value.replace("_", "").replace("-", "").lower()
            for member in cls:
                if member.value.replace("_", "").replace("-", "").lower() == folded:
                    return member
        return None


class PCModel(BaseModel):
    """Base model: camelCase aliases, populate by field name too, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        str_strip_whitespace=False,
        use_enum_values=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _pascal_case_keys(cls, data: Any) -> Any:
        """PascalCase keys read at every depth: a before-validator runs for nested models too (the documented
        examples carry ``Attributes.Etag``, ``ProvisioningContext``, ``LineItems[].CatalogItemId``)."""
        return _camel_keys(data, cls) if isinstance(data, dict) else data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Any:
        """Parse a Partner Center JSON object (camelCase or PascalCase keys)."""
        return cls.model_validate(data)

    def to_wire(self) -> dict[str, Any]:
        """Serialize to the Partner Center wire shape: camelCase keys, JSON-ready values, None fields dropped."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _camel_keys(data: dict[str, Any], cls: type[BaseModel]) -> dict[str, Any]:
    """Lower-case the first letter of PascalCase keys that match one of the model's aliases."""
    aliases = {f.alias or name for name, f in cls.model_fields.items()}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in aliases and key[:1].isupper():
            candidate = key[:1].lower() + key[1:]
            if candidate in aliases and candidate not in data:
                key = candidate
        out[key] = value
    return out


class Link(PCModel):
    """A Partner Center link: ``{"uri", "method", "headers": [{"key", "value"}]}``."""

    uri: str
    method: str = "GET"
    headers: list[dict[str, Any]] = []

    def header_dict(self) -> dict[str, str]:
        """The link's headers as a dict (``[{"key","value"}]`` → ``{key: value}``)."""
        out: dict[str, str] = {}
        for item in self.headers or []:
            if isinstance(item, dict) and "key" in item:
                out[str(item["key"])] = str(item.get("value", ""))
        return out
