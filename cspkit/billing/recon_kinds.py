"""Kinds of Partner Center reconciliation files: which documented columns each kind has, how ``kind="auto"`` tells
them apart, and how a file of another kind (daily rated usage, legacy license- or usage-based) is named for what it
is instead of failing on a missing column.

Sources: billing-formats.md §1.1 (invoice reconciliation, 47 columns), §1.2 (daily rated usage, 55 columns), §1.3
(legacy license-based), §1.4 (legacy usage-based).
"""

from __future__ import annotations

import pandas as pd

from cspkit.billing.recon_columns import (
    CHARGE_TYPES,
    CREDIT_TYPES,
    DAILY_USAGE_COLUMNS,
    INVOICE_RECON_COLUMNS,
    normalize_header,
)
from cspkit.errors import InputFileError

__all__ = ["KNOWN_BY_KIND", "detect_kind", "refuse_foreign", "unknown_values"]

KNOWN_BY_KIND = {"invoice": INVOICE_RECON_COLUMNS, "daily": DAILY_USAGE_COLUMNS}
_DAILY_MARKERS = {"UsageDate", "MeterId", "MeterCategory", "BillingPreTaxTotal", "ResourceURI", "EntitlementId"}
# Headers (folded by normalize_header) that only older reconciliation files carry (billing-formats.md §1.3, §1.4).
_LEGACY_LICENSE_MARKERS = {"syndicationpartnersubscriptionnumber", "durableofferid"}
_LEGACY_USAGE_MARKERS = {"partnerbillableaccountid", "pretaxcharges", "detaillineitemid", "overagequantity"}
#: What each kind of file is, and what to do with it when it is not the kind asked for.
_FOREIGN_FILES = {
    "daily": (
        "a daily rated usage file (Azure plan consumption, one row per meter and day: UsageDate, MeterId, "
        "BillingPreTaxTotal)",
        "Daily usage is not reconciled by `cspkit reconcile` yet: give it the invoice reconciliation file of the same "
        "invoice (Partner Center > Billing > the invoice > reconciliation file, or `cspkit reconcile --invoice ID`); "
        "read daily usage with cspkit.billing.recon_readers.read_recon(path, kind='daily').",
    ),
    "legacy-license": (
        "a legacy license-based reconciliation file (pre-new-commerce seat offers: "
        "SyndicationPartnerSubscriptionNumber, DurableOfferId)",
        "cspkit reconciles new-commerce invoice reconciliation files: download the reconciliation file of the "
        "new-commerce invoice instead; legacy seat charges (legacy invoices, numbers starting with D) are not "
        "reconciled by cspkit.",
    ),
    "legacy-usage": (
        "a legacy usage-based reconciliation file (pre-Azure-plan Microsoft Azure offer: PartnerBillableAccountId, "
        "PretaxCharges)",
        "cspkit reconciles new-commerce invoice reconciliation files: download the reconciliation file of the "
        "new-commerce invoice instead; legacy Azure charges are not reconciled by cspkit.",
    ),
}


def detect_kind(columns: list[str]) -> str:
    """``"daily"`` when some documented column is one only daily rated usage files carry (UsageDate, MeterId, ...;
    billing-formats.md §1.2), else ``"invoice"`` (§1.1). ``columns``: the canonical column names of a file."""
    return "daily" if _DAILY_MARKERS & set(columns) else "invoice"


def refuse_foreign(path: str, kind: str, names: list[str], known: list[str]) -> None:
    """Name the file for what it is when it is another kind of Partner Center file than the one asked for
    (billing-formats.md §1.2 daily rated usage, §1.3 legacy license-based, §1.4 legacy usage-based).

    Args:
        path: the file, for the error. kind: the kind asked for (``"invoice"`` or ``"daily"``).
        names: the file's column names (as written or canonical). known: those that are documented columns.
    Returns:
        None when the file is not recognisably of another kind (the caller reports the missing column).
    Raises:
        InputFileError: row 0, what the file is, and a hint saying what to read instead.
    """
    folded = {normalize_header(n) for n in names}
    if folded & _LEGACY_LICENSE_MARKERS:
        what = "legacy-license"
    elif folded & _LEGACY_USAGE_MARKERS:
        what = "legacy-usage"
    elif kind == "invoice" and len(_DAILY_MARKERS & set(known)) >= 2:
        what = "daily"
    else:
        return
    description, hint = _FOREIGN_FILES[what]
    wanted = "an invoice reconciliation file" if kind == "invoice" else "a daily rated usage file"
    raise InputFileError(path, row=0, expected=f"{wanted}, but this is {description}", hint=hint)


#: Daily rated usage columns whose values cspkit knows (recon_columns: CHARGE_TYPES, CREDIT_TYPES).
_KNOWN_DAILY_VALUES = {"ChargeType": frozenset(CHARGE_TYPES), "CreditType": frozenset(CREDIT_TYPES)}


def unknown_values(frame: pd.DataFrame) -> list[str]:
    """Warnings for values of :data:`_KNOWN_DAILY_VALUES` columns that cspkit does not know (at most 5 named;
    billing-formats.md §1.2 ChargeType and CreditType values)."""
    warnings = []
    for column, known in _KNOWN_DAILY_VALUES.items():
        if column not in frame.columns or not len(frame):
            continue
        values = frame[column].dropna().unique()
        unknown = sorted({str(v) for v in values} - known)
        if unknown:
            warnings.append(f"{column}: value(s) cspkit does not know: {', '.join(map(repr, unknown[:5]))} "
                            f"(known: {', '.join(sorted(known))})")  # fmt: skip
    return warnings
