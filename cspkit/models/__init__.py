"""Pydantic models of Partner Center resources, one module per API area; camelCase only at the wire edge."""

from cspkit.models.base import CaseInsensitiveEnum, Link, Money, PCModel, UtcDateTime

__all__ = ["CaseInsensitiveEnum", "Link", "Money", "PCModel", "UtcDateTime"]
