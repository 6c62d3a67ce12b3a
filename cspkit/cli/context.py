"""The CLI's per-run ordering context and small output helpers shared by the reseller command groups.

:class:`OrderingContext` builds, lazily and once per CLI run, the rate-limited client, the ledger for the current
target and the ordering service (:class:`cspkit.workflows.ordering.Ordering`); what the target is and what time it
is there are workflow questions (:mod:`cspkit.workflows.ordering.target`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from cspkit.cli.output import note
from cspkit.errors import EXIT_FAILED

__all__ = ["OrderingContext", "confirm_or_stop", "exit_with", "fmt_time", "ordering_context"]


class OrderingContext:
    """Per-run ordering context built lazily from the CLI state: rate-limited client, ledger, service."""

    def __init__(self, state: Any, *, rate_limit: float | None = None, price_list: str | None = None) -> None:
        self.state = state
        self._rate_limit = rate_limit
        self._price_list_path = price_list
        self._ledger: Any = None
        self._service: Any = None
        self._target: Any = None

    @property
    def pc(self) -> Any:
        """The run's client, its requests spending at most ``--rate-limit`` (else ``CSPKIT_RATE_LIMIT``, else
        475) a minute (:func:`cspkit.workflows.ratelimit.rate_limited_session`)."""
        return self.state.client(rate_limit=self._rate_limit or True)

    @property
    def target(self) -> Any:
        """Where writes go (:func:`cspkit.workflows.ordering.target.resolve_target`)."""
        if self._target is None:
            from cspkit.workflows.ordering.target import resolve_target

            self._target = resolve_target(self.state.settings, lambda: self.pc, self.state.emulator_server)
        return self._target

    @property
    def ledger(self) -> Any:
        if self._ledger is None:
            from cspkit.ledger import Ledger, default_actor

            settings = self.state.settings
            self._ledger = Ledger(settings.resolved_database_url(), actor=default_actor(settings),
                                  target=self.target)
            self.state._closers.append(self._ledger.close)
        return self._ledger

    def clock(self) -> Callable[[], datetime] | None:
        """The service's clock when the target is an emulator (its virtual time), else None (use the answers'
        Date header)."""
        from cspkit.workflows.ordering.target import emulator_clock, is_loopback

        if self.state.settings.is_emulator:
            return self.state.emulator_server().clock.now
        if is_loopback(self.pc.endpoint):  # Partner Center is never on loopback: a local emulator, ask its clock
            return emulator_clock(self.pc)
        return None

    def price_list(self) -> Any:
        from cspkit.workflows.ordering.target import default_price_list_paths
        from cspkit.workflows.reconciliation import read_price_lists

        paths = default_price_list_paths(self._price_list_path, is_emulator=self.state.settings.is_emulator)
        return read_price_lists(paths)

    @property
    def service(self) -> Any:
        if self._service is None:
            from cspkit.workflows.ordering import Ordering
            from cspkit.workflows.ordering.prices import PriceSheetSource

            price_list, clock = self.price_list(), self.clock()  # no file: the price-sheet API, cached monthly
            source = None if price_list is not None else PriceSheetSource(self.pc.pricesheets, clock=clock)
            self._service = Ordering(self.pc, self.ledger, price_list=price_list, clock=clock, price_source=source)
        return self._service


def ordering_context(state: Any, **kwargs: Any) -> OrderingContext:
    """An :class:`OrderingContext` for this command (``rate_limit``, ``price_list``)."""
    return OrderingContext(state, **kwargs)


def fmt_time(value: datetime | None) -> str:
    """``2026-11-09T09:00:00Z`` (UTC), or ``""`` for None."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def exit_with(code: int) -> None:
    """Leave the command with ``code`` (one of :mod:`cspkit.errors`' ``EXIT_*``)."""
    click.get_current_context().exit(code)


def confirm_or_stop(state: Any, question: str) -> None:
    """Ask (unless ``--yes``); not confirmed → say so and exit 1 with nothing changed."""
    if not state.confirm(question):
        note("Not confirmed: nothing was changed.")
        exit_with(EXIT_FAILED)
