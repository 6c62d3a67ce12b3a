"""The ledger: every write to Partner Center journaled as an intent before the call and completed after it.

Tables in :mod:`cspkit.ledger.models`; the service in :mod:`cspkit.ledger.service`.
"""

from cspkit.ledger.models import ENTRY_STATUSES, UNRESOLVED, LedgerEntry, LedgerEvent
from cspkit.ledger.service import Ledger, default_actor, entry_json, run_id, scrub
from cspkit.ledger.target import INSTANCE_HEADER, UNKNOWN_TARGET, Target, tenant_from_token

__all__ = [
    "ENTRY_STATUSES",
    "INSTANCE_HEADER",
    "UNKNOWN_TARGET",
    "UNRESOLVED",
    "Ledger",
    "LedgerEntry",
    "LedgerEvent",
    "Target",
    "default_actor",
    "entry_json",
    "run_id",
    "scrub",
    "tenant_from_token",
]
