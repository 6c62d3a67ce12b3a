"""The emulator's virtual clock: frozen until told otherwise, firing due events in order when advanced.

Every delay in the emulator (purchase-token expiry, cancellation windows closing, the 10-second ACK auto-accept,
term ends, monthly cycle charges, month-end invoicing, auto-cancel of never-activated SaaS subscriptions) is an
:class:`Event` in one queue ordered by due time. :meth:`Clock.advance` pops the due events one by one, moves
``now`` to each event's due time and hands it to the backend, then lands on the target time. Nothing here reads the
wall clock.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cspkit.emulator._util import add_duration, parse_dt

__all__ = ["Clock", "Event"]


@dataclass(order=True)
class Event:
    """Something the backend must do at ``due``: ``kind`` names the handler, ``data`` its arguments."""

    due: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(default_factory=dict, compare=False)


class Clock:
    """Virtual time: ``now()``, ``advance(...)``, ``set(dt)``; events fire in due order."""

    def __init__(self, now: datetime, *, lock: threading.RLock | None = None) -> None:
        self._now = parse_dt(now)
        self._queue: list[Event] = []
        self._seq = 0
        self._lock = lock or threading.RLock()
        self._dispatch: Callable[[Event], None] | None = None
        self._after: Callable[[], None] | None = None

    # -- wiring (the backend registers itself) --------------------------------------------------------------
    def bind(self, dispatch: Callable[[Event], None], after: Callable[[], None] | None = None) -> None:
        """Route due events to ``dispatch``; call ``after`` once the lock is released (webhook delivery)."""
        self._dispatch, self._after = dispatch, after

    # -- reading --------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._now

    @property
    def pending(self) -> list[Event]:
        """The queued events, soonest first (a copy)."""
        with self._lock:
            return sorted(self._queue)

    # -- scheduling -----------------------------------------------------------------------------------------
    def schedule(self, due: datetime, kind: str, **data: Any) -> Event:
        with self._lock:
            self._seq += 1
            event = Event(due, self._seq, kind, data)
            heapq.heappush(self._queue, event)
            return event

    def cancel(self, predicate: Callable[[Event], bool]) -> int:
        """Drop queued events matching ``predicate``; returns how many."""
        with self._lock:
            keep = [e for e in self._queue if not predicate(e)]
            dropped = len(self._queue) - len(keep)
            if dropped:
                self._queue = keep
                heapq.heapify(self._queue)
            return dropped

    # -- moving ---------------------------------------------------------------------------------------------
    def advance(
        self,
        by: str | timedelta | None = None,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        weeks: float = 0,
    ) -> datetime:
        """Move forward by an ISO 8601 duration (``"P1M"``), a timedelta, or keyword parts; returns the new now."""
        with self._lock:
            target = self._now
            if isinstance(by, str):
                target = add_duration(target, by)
            elif isinstance(by, timedelta):
                target = target + by
            elif by is not None:
                raise TypeError("advance() takes an ISO 8601 duration string or a timedelta")
            target += timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds, weeks=weeks)
        return self.set(target)

    def set(self, when: datetime | str) -> datetime:
        """Jump to ``when`` (never backwards), firing every event due up to and including it, in order."""
        target = parse_dt(when)
        try:
            with self._lock:
                if target < self._now:
                    raise ValueError(f"the emulator clock cannot go back ({target} < {self._now})")
                while self._queue and self._queue[0].due <= target:
                    event = heapq.heappop(self._queue)
                    self._now = max(self._now, event.due)
                    if self._dispatch is not None:
                        self._dispatch(event)
                self._now = target
                return self._now
        finally:
            if self._after is not None:
                self._after()

    # -- persistence ----------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        with self._lock:
            return {"now": self._now, "seq": self._seq, "events": sorted(self._queue)}

    def load_state(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._now = parse_dt(state["now"])
            self._seq = int(state["seq"])
            self._queue = list(state["events"])
            heapq.heapify(self._queue)

    def reset(self, now: datetime) -> None:
        with self._lock:
            self._now = parse_dt(now).astimezone(UTC)
            self._queue = []
            self._seq = 0
