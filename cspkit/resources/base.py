"""Base class of every resource group hanging off :class:`~cspkit.client.PartnerCenter`."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from cspkit.transport import Transport

__all__ = ["Resource", "segment"]


def segment(value: str) -> str:
    """Quote one path segment (an id) so it cannot change the path (``a/b`` → ``a%2Fb``)."""
    if not value or not str(value).strip():
        raise ValueError("an id must not be empty")
    return quote(str(value), safe="")


class Resource:
    """A group of Partner Center operations sharing the client's transport. Resources never print."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
