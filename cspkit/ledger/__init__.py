"""The ledger: every write to Partner Center journaled as an intent before the call and completed after it.

Tables in :mod:`cspkit.ledger.models`; the service in :mod:`cspkit.ledger.service`.
"""

from cspkit.ledger.models import ENTRY_STATUSES, UNRESOLVED, LedgerEntry, LedgerEvent
from cspkit.ledger.service import Ledger, default_actor, entry_json, run_id, scrub

__all__ = [
    "ENTRY_STATUSES",
    "UNRESOLVED",
    "Ledger",
    "LedgerEntry",
    "LedgerEvent",
    "default_actor",
    "entry_json",
    "run_id",
    "scrub",
]
