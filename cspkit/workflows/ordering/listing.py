"""Partner Center's order-listing delay, explained with the ledger.

"After submit, an order can take **up to 15 minutes** to appear in ``GET /customers/{id}/orders``; get-by-id with
the id returned from checkout is the reliable path" (partner-center-api.md §4 "15-minute delay"; Microsoft Learn
``get-all-of-a-customer-s-orders``, ``create-an-order``). So a listing run right after ``cspkit order place`` can
miss the order just bought. The ledger knows which orders cspkit placed: :func:`unlisted_orders` finds the recent
ones a listing lacks, so the CLI can say why instead of printing "(no rows)" alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cspkit.ledger import Ledger, entry_json

__all__ = ["LISTING_DELAY", "RECENT", "UnlistedOrder", "listing_delay_note", "unlisted_orders"]

#: How long Partner Center may take to list a new order (partner-center-api.md §4).
LISTING_DELAY = timedelta(minutes=15)
#: Orders placed within this time (by the ledger's clock) count as "just placed".
RECENT = timedelta(hours=1)


@dataclass(frozen=True)
class UnlistedOrder:
    """An order the ledger says cspkit placed (``order_id``, ``placed_at`` aware UTC, ``entry_id``) that a listing
    of the customer's orders did not contain."""

    order_id: str
    placed_at: datetime
    entry_id: int


def unlisted_orders(
    ledger: Ledger, customer_id: str, listed_ids: Iterable[str], *, now: datetime | None = None,
    recent: timedelta = RECENT,
) -> list[UnlistedOrder]:
    """Orders placed through cspkit on this ledger's target for ``customer_id`` within ``recent`` of ``now`` (the
    ledger's clock, default this machine's UTC time) whose ids are not in ``listed_ids``; oldest first.

    Only finished order entries (``done``) of the current target count: an entry of another emulator instance or
    tenant is not expected in this listing.
    """
    now = now or datetime.now(UTC)
    listed = {i.lower() for i in listed_ids if i}
    found: list[UnlistedOrder] = []
    for entry in ledger.list(kind="order", status="done", customer_id=customer_id, target="current",
                             since=now - recent):
        placed = entry.updated_at if entry.updated_at.tzinfo else entry.updated_at.replace(tzinfo=UTC)
        for order_id in entry_json(entry, "order_ids_json") or []:
            if order_id and order_id.lower() not in listed:
                found.append(UnlistedOrder(order_id=order_id, placed_at=placed, entry_id=entry.id or 0))
    return sorted(found, key=lambda o: (o.placed_at, o.order_id))


def listing_delay_note(customer_id: str, missing: list[UnlistedOrder], *, now: datetime | None = None) -> str:
    """One paragraph for the user: which orders are not listed yet, why, and how to read them now."""
    now = now or datetime.now(UTC)
    bits = []
    for order in missing:
        minutes = max(0, int((now - order.placed_at).total_seconds() // 60))
        bits.append(f"{order.order_id} (placed {minutes} min ago, ledger entry {order.entry_id})")
    first = missing[0].order_id
    return (f"Not listed yet: {', '.join(bits)}. Partner Center can take up to "
            f"{int(LISTING_DELAY.total_seconds() // 60)} minutes to list a new order; read it now with "
            f"`cspkit orders show --customer {customer_id} {first}`.")
