"""Ledger tables (sqlmodel): one row per write (``ledger_entry``) and its transitions (``ledger_event``).

Portable across SQLite and PostgreSQL: JSON is stored as text, times as ``TIMESTAMP WITH TIME ZONE`` (SQLite keeps
the ISO text; values are normalized to aware UTC when read back).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

__all__ = ["ENTRY_STATUSES", "LedgerEntry", "LedgerEvent", "UNRESOLVED", "utcnow"]

ENTRY_STATUSES = ("pending", "submitted", "unknown", "done", "failed", "refused")
"""``pending``: intent recorded, the write not sent yet (a checkout may already hold its cart id);
``submitted``: the write was sent, its answer not recorded yet (a crash leaves it here);
``unknown``: the answer never came (timeout, dropped connection, 5xx after retries) — resolve with ``resume``;
``done``: completed, after-state recorded; ``failed``: Partner Center refused, nothing changed;
``refused``: a guard refused before calling."""

UNRESOLVED = ("pending", "submitted", "unknown")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(*, nullable: bool) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class LedgerEntry(SQLModel, table=True):
    """One write to Partner Center: an order (cart + checkout) or a subscription change.

    Attributes:
        key: idempotency key, unique **per target** (a batch-row key, or a fresh GUID for a one-off command).
        kind: ``order``, ``set_quantity``, ``auto_renew``, ``cancel``, ``suspend``, ``reactivate``, ``activate``.
        status: one of :data:`ENTRY_STATUSES`.
        request_id: the MS-RequestId of the write (reused when replaying it); correlation_id: the workflow's.
        actor: who (OS user@host and the Partner Center identity: profile, app id — never a secret).
        target: where the write went, for people (:attr:`cspkit.ledger.target.Target.label`);
        target_kind / target_endpoint / target_tenant / target_instance: its parts (kind ``partner-center`` |
            ``emulator``, the endpoint, the partner tenant id, the emulator instance id);
        target_key: the identity keys are unique under (:attr:`~cspkit.ledger.target.Target.key`; ``unknown`` for
            entries written before targets were recorded — never matched).
        request_json / before_json / after_json: the intended change, the resource before, the resource after.
        cart_id, order_ids_json: the journaled checkout (cart id stored before checkout).
        claimed_by / claimed_at: which process is working on the entry (host:pid:run), so two runs never race.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (Index("ux_ledger_entry_target_key", "target_key", "key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, max_length=200)
    kind: str = Field(index=True, max_length=40)
    status: str = Field(index=True, max_length=20)
    customer_id: str | None = Field(default=None, index=True, max_length=100)
    subscription_id: str | None = Field(default=None, index=True, max_length=100)
    cart_id: str | None = Field(default=None, max_length=100)
    order_ids_json: str | None = Field(default=None, sa_column=Column(Text))
    batch_id: str | None = Field(default=None, index=True, max_length=200)
    row_number: int | None = None
    request_id: str | None = Field(default=None, max_length=100)
    correlation_id: str | None = Field(default=None, max_length=100)
    actor: str | None = Field(default=None, max_length=300)
    target: str | None = Field(default=None, max_length=300)
    target_kind: str | None = Field(default=None, max_length=40)
    target_endpoint: str | None = Field(default=None, max_length=300)
    target_tenant: str | None = Field(default=None, max_length=100)
    target_instance: str | None = Field(default=None, max_length=100)
    target_key: str = Field(default="unknown", index=True, max_length=400)
    request_json: str | None = Field(default=None, sa_column=Column(Text))
    before_json: str | None = Field(default=None, sa_column=Column(Text))
    after_json: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
    error_code: str | None = Field(default=None, max_length=100)
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class LedgerEvent(SQLModel, table=True):
    """One transition of an entry (the audit trail): when, which status, what (no secrets)."""

    __tablename__ = "ledger_event"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(index=True, foreign_key="ledger_entry.id")
    at: datetime = _ts(nullable=False)
    status: str = Field(max_length=20)
    detail: str | None = Field(default=None, sa_column=Column(Text))
    request_id: str | None = Field(default=None, max_length=100)
    correlation_id: str | None = Field(default=None, max_length=100)
    actor: str | None = Field(default=None, max_length=300)
