"""Ordering workflow: plans, journaled checkouts and subscription changes, batches, fan-out, where writes go.

Modules: :mod:`~cspkit.workflows.ordering.plan` (what will be bought, outcomes), :mod:`~.service` (the
:class:`Ordering` service, the one guarded path for every write), :mod:`~.batch` (batch files and runs),
:mod:`~.fanout` (threads sharing one client), :mod:`~.target` (which Partner Center or emulator the writes go to,
and its clock), :mod:`~.listing` (the order-listing delay, explained from the ledger).
"""

from cspkit.workflows.ordering.batch import (
    RESULT_COLUMNS,
    BatchRow,
    RowResult,
    count_statuses,
    read_batch_file,
    run_batch,
    run_batch_row,
    write_results_atomically,
)
from cspkit.workflows.ordering.fanout import cancellable_subscriptions, fan_out
from cspkit.workflows.ordering.listing import UnlistedOrder, listing_delay_note, unlisted_orders
from cspkit.workflows.ordering.plan import ChangeOutcome, OrderOutcome, OrderPlan
from cspkit.workflows.ordering.service import Ordering

__all__ = [
    "RESULT_COLUMNS",
    "BatchRow",
    "ChangeOutcome",
    "OrderOutcome",
    "OrderPlan",
    "Ordering",
    "RowResult",
    "UnlistedOrder",
    "cancellable_subscriptions",
    "count_statuses",
    "fan_out",
    "listing_delay_note",
    "read_batch_file",
    "run_batch",
    "run_batch_row",
    "unlisted_orders",
    "write_results_atomically",
]
