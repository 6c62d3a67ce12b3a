"""Click parameter types checked before anything is sent: a malformed id is bad usage (exit 2), not a 400 or 404.

Partner Center identifies customers by their Microsoft Entra tenant id and subscriptions by a GUID, both in the
8-4-4-4-12 hexadecimal form (partner-center-api.md: "Get a customer by ID" — ``customer-tenant-id``, a GUID;
"Get a subscription by ID" — ``id-for-subscription``, a GUID). Order ids and catalog ids are not GUIDs and keep a
plain string type.
"""

from __future__ import annotations

import re
from typing import Any

import click

__all__ = ["CUSTOMER_ID", "GUID", "SUBSCRIPTION_ID", "Guid"]

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class Guid(click.ParamType):
    """A GUID in the 8-4-4-4-12 form (``9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80``), returned as given without spaces.

    Args:
        what: what the id is, for the message (``"customer id (tenant id)"``).
    Raises:
        click.BadParameter (exit 2) naming the option and what was expected.
    """

    name = "guid"

    def __init__(self, what: str = "id") -> None:
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if _GUID.fullmatch(text):
            return text
        self.fail(
            f"{text!r} is not a {self.what}: expected a GUID like 9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80",
            param, ctx,
        )


GUID = Guid()
CUSTOMER_ID = Guid("customer id (the customer's tenant id)")
SUBSCRIPTION_ID = Guid("subscription id")
