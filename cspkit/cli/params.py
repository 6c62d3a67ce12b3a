"""Click parameter types checked before anything is sent: a malformed id is bad usage (exit 2), not a 400 or 404.

One vocabulary across commands: billing periods are ``current|previous`` (``last``, Microsoft Graph's word, is
accepted as an alias), months are ``YYYY-MM`` (``YYYYMM``, the price-sheet API's form, accepted too), term
durations are ISO 8601 as Partner Center writes them (``P1M P1Y P3Y``, any case accepted).

Partner Center identifies customers by their Microsoft Entra tenant id and subscriptions by a GUID, both in the
8-4-4-4-12 hexadecimal form (partner-center-api.md: "Get a customer by ID" — ``customer-tenant-id``, a GUID;
"Get a subscription by ID" — ``id-for-subscription``, a GUID). Order ids and catalog ids are not GUIDs and keep a
plain string type.
"""

from __future__ import annotations

import re
from typing import Any

import click

__all__ = ["CUSTOMER_HELP", "CUSTOMER_ID", "GUID", "MONTH", "PERIOD", "RATE_LIMIT_HELP", "SUBSCRIPTION_ID", "TERM",
           "WORKERS_HELP",
           "Choice", "Guid", "Month", "Period"]

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


class Choice(click.ParamType):
    """One of ``choices``, matched in any case and returned (and shown in ``--help``) as written in ``choices``.

    click's own case-insensitive Choice lists its choices in lower case, which misspells Partner Center's values
    (``P1Y``, not ``p1y``).
    """

    name = "choice"

    def __init__(self, choices: list[str]) -> None:
        self.choices = list(choices)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "]"

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in self.choices if c.casefold().startswith(incomplete.casefold())]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        for choice in self.choices:
            if choice.casefold() == text.casefold():
                return choice
        self.fail(f"{text!r} is not one of {', '.join(self.choices)}", param, ctx)


#: A term duration as Partner Center writes it (catalog availability ``terms[].duration``; ISO 8601).
TERM = Choice(["P1M", "P1Y", "P3Y"])


class Period(Choice):
    """A billing period: ``current`` (the open one) or ``previous`` (the last closed one, before its invoice).

    Partner Center's unbilled line items call them ``period=current|previous`` (partner-center-api.md: "Get
    invoice unbilled reconciliation line items"); Microsoft Graph's billing exports say ``billingPeriod``
    ``current|last``: ``last`` is accepted here as an alias of ``previous``. Returns ``current`` or ``previous``.
    """

    name = "period"

    def __init__(self) -> None:
        super().__init__(["current", "previous"])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if str(value).strip().casefold() == "last":
            return "previous"
        return super().convert(value, param, ctx)


PERIOD = Period()

_MONTH = re.compile(r"(\d{4})-?(\d{2})")


class Month(click.ParamType):
    """A calendar month written ``YYYY-MM`` (``2026-11``) or ``YYYYMM`` (``202611``, the price-sheet API's
    ``month`` form), returned as ``YYYY-MM``.

    Raises:
        click.BadParameter (exit 2) naming the option and the expected form.
    """

    name = "YYYY-MM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        match = _MONTH.fullmatch(text)
        if match and 1 <= int(match.group(2)) <= 12 and int(match.group(1)) >= 1900:
            return f"{match.group(1)}-{match.group(2)}"
        self.fail(f"{text!r} is not a month: expected YYYY-MM like 2026-11 (or YYYYMM like 202611)", param, ctx)


MONTH = Month()

#: The help of every ``--customer`` option.
CUSTOMER_HELP = "The customer's tenant id, e.g. 9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80."
#: The help of every ``--workers`` option.
WORKERS_HELP = "Calls to Partner Center in parallel (the rate limit still applies), e.g. --workers 4."
#: The help of every ``--rate-limit`` option.
RATE_LIMIT_HELP = "Requests per minute at most (default CSPKIT_RATE_LIMIT, else 475), e.g. --rate-limit 300."
