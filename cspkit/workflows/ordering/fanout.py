"""Fan-out: run one call per item on a few threads sharing the client (and its rate limiter)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from cspkit.errors import CspkitError
from cspkit.models.subscription import Subscription
from cspkit.workflows.guards import cancellation_deadline

__all__ = ["cancellable_subscriptions", "fan_out"]

T = TypeVar("T")
R = TypeVar("R")


def cancellable_subscriptions(
    pc: Any, customer_ids: Sequence[str], *, workers: int = 8, clock: Callable[[], datetime] | None = None,
) -> tuple[list[tuple[str, Subscription]], list[tuple[str, BaseException]]]:
    """Every active subscription still inside its cancellation window, over many customers concurrently.

    Returns:
        ``([(customer_id, subscription)], [(customer_id, error)])`` — subscriptions soonest deadline first.
    """
    def one(customer_id: str) -> list[Subscription]:
        return pc.subscriptions.list(customer_id)

    now = clock() if clock else datetime.now(UTC)
    found: list[tuple[str, Subscription]] = []
    failures: list[tuple[str, BaseException]] = []
    for customer_id, subs, error in fan_out(one, customer_ids, workers=workers):
        if error is not None:
            failures.append((customer_id, error))
            continue
        for sub in subs or []:
            deadline = cancellation_deadline(sub)
            if sub.status == "active" and deadline is not None and now <= deadline:
                found.append((customer_id, sub))
    found.sort(key=lambda pair: (cancellation_deadline(pair[1]), pair[0], pair[1].id))
    return found, failures


def fan_out(func: Callable[[T], R], items: Iterable[T], *, workers: int = 8,
            on_done: Callable[[T, R | None, BaseException | None], None] | None = None,
            ) -> list[tuple[T, R | None, BaseException | None]]:
    """Run ``func`` over ``items`` on ``workers`` threads (they share the client and its rate limiter).

    Returns:
        ``(item, result, error)`` per item, in the order of ``items``; a :class:`~cspkit.errors.CspkitError`
        becomes that item's ``error``. Other exceptions propagate (bugs must not be swallowed).
    """
    items = list(items)
    results: list[tuple[T, R | None, BaseException | None]] = [(item, None, None) for item in items]

    def run(index: int) -> None:
        item = items[index]
        try:
            value: R | None = func(item)
            error: BaseException | None = None
        except CspkitError as exc:
            value, error = None, exc
        results[index] = (item, value, error)
        if on_done is not None:
            on_done(item, value, error)

    if workers <= 1 or len(items) <= 1:
        for index in range(len(items)):
            run(index)
        return results
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cspkit")
    try:
        for future in [pool.submit(run, index) for index in range(len(items))]:
            future.result()
    except BaseException:
        # Ctrl-C or a bug: start nothing new; the items already running finish (and journal) first
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results
