"""``cspkit ledger list|show|resume`` and ``cspkit audit``: the journal of writes and its audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from cspkit.cli.context import confirm_or_stop, exit_with, fmt_time, ordering_context
from cspkit.cli.output import emit, note
from cspkit.cli.params import CUSTOMER_ID
from cspkit.errors import EXIT_FAILED, EXIT_PARTIAL

__all__ = ["audit_cmd", "ledger_group"]


@click.group("ledger")
def ledger_group() -> None:
    """The journal of writes: list, show, resume unfinished ones."""


ENTRY_COLUMNS = ["id", "created_at", "target", "kind", "status", "customer_id", "subscription_id", "cart_id",
                 "order_ids", "batch_id", "error"]


def _entry_row(entry: Any) -> dict[str, Any]:
    return {"id": entry.id, "key": entry.key, "created_at": fmt_time(entry.created_at),
            "updated_at": fmt_time(entry.updated_at), "kind": entry.kind, "status": entry.status,
            "customer_id": entry.customer_id, "subscription_id": entry.subscription_id, "cart_id": entry.cart_id,
            "order_ids": " ".join(json.loads(entry.order_ids_json)) if entry.order_ids_json else "",
            "batch_id": entry.batch_id, "row_number": entry.row_number, "request_id": entry.request_id,
            "correlation_id": entry.correlation_id, "actor": entry.actor, "target": entry.target or "unknown",
            "target_kind": entry.target_kind, "target_endpoint": entry.target_endpoint,
            "target_tenant": entry.target_tenant, "target_instance": entry.target_instance,
            "attempts": entry.attempts, "error": entry.error}


def _entry_wire(entry: Any) -> dict[str, Any]:
    from cspkit.ledger import entry_json

    row = _entry_row(entry)
    row.update({"request": entry_json(entry, "request_json"), "before": entry_json(entry, "before_json"),
                "after": entry_json(entry, "after_json")})
    return row


@ledger_group.command("list")
@click.option("--status", type=click.Choice(["pending", "submitted", "unknown", "done", "failed", "refused",
                                             "unresolved"]),
              help="Only entries in this state (unresolved = pending, submitted or unknown), e.g. --status failed.")
@click.option("--kind", help="Only writes of this kind (order, set_quantity, auto_renew, cancel, suspend, "
                             "reactivate, activate), e.g. --kind order.")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, help="Only writes for this customer, "
              "e.g. --customer 9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80.")
@click.option("--batch", "batch_id", help="Only the rows of this order batch, e.g. --batch orders.csv.")
@click.option("--limit", type=click.IntRange(1, None), default=100, show_default=True,
              help="Newest entries shown at most, e.g. --limit 20.")
@click.option("--target", "target", default="current", show_default=True, metavar="current|all|TEXT",
              help="Whose writes: `current` = the target this command would write to (this emulator instance, or "
                   "Partner Center for this partner tenant); `all` = every target; any other text matches the "
                   "target's kind, endpoint, tenant or instance (`unknown` = entries from before targets were "
                   "recorded). Example: --target all")
@click.pass_obj
def ledger_list(state: Any, status: str | None, kind: str | None, customer_id: str | None, batch_id: str | None,
                limit: int, target: str) -> None:
    """List journaled writes, newest first, with the target each went to."""
    from cspkit.ledger import UNRESOLVED

    ledger = ordering_context(state).ledger
    entries = ledger.list(status=UNRESOLVED if status == "unresolved" else status, kind=kind,
                          customer_id=customer_id, batch_id=batch_id, limit=limit, target=target.strip() or "current")
    emit([_entry_row(e) for e in entries], columns=ENTRY_COLUMNS, fmt=state.output,
         wire=[_entry_wire(e) for e in entries],
         title=f"Ledger ({'current target: ' + ledger.target.label if target == 'current' else 'target: ' + target})")


@ledger_group.command("show")
@click.argument("entry_id", type=int)
@click.pass_obj
def ledger_show(state: Any, entry_id: int) -> None:
    """One journaled write: request, before/after state, and its trail of events."""
    ledger = ordering_context(state).ledger
    entry = ledger.get(entry_id)
    events = ledger.events(entry_id=entry_id)
    if state.output == "json":
        wire = _entry_wire(entry)
        wire["events"] = [{"at": fmt_time(e.at), "status": e.status, "detail": e.detail,
                           "requestId": e.request_id, "correlationId": e.correlation_id} for e in events]
        click.echo(json.dumps(wire, indent=2, default=str))
        return
    row = _entry_row(entry)
    emit([{"field": k, "value": v} for k, v in row.items()], columns=["field", "value"], fmt=state.output,
         title=f"Ledger entry {entry_id}")
    emit([{"at": fmt_time(e.at), "status": e.status, "detail": e.detail, "request_id": e.request_id}
          for e in events], columns=["at", "status", "detail", "request_id"], fmt=state.output, title="Events")


@ledger_group.command("resume")
@click.argument("entry_ids", nargs=-1, type=int)
@click.pass_obj
def ledger_resume(state: Any, entry_ids: tuple[int, ...]) -> None:
    """Resolve unfinished writes of the current target: re-check out journaled carts (never a new order), read
    subscriptions back. Entries written to another target (another emulator instance, Partner Center for another
    tenant, or before targets were recorded) are never touched."""
    ctx = ordering_context(state)
    entries = ctx.service.resumable(list(entry_ids) or None)
    if not entries:
        note("Nothing to resume.")
        return
    for e in entries:
        note(f"to resume: entry {e.id} {e.kind} {e.status} customer {e.customer_id}"
             + (f" cart {e.cart_id}" if e.cart_id else "") + (f" subscription {e.subscription_id}"
                                                              if e.subscription_id else ""))
    confirm_or_stop(state, f"Resume {len(entries)} unfinished write(s)?")
    results = ctx.service.resume_each(entries)
    rows = [{"id": entry.id, "kind": entry.kind, "customer_id": entry.customer_id, "result": text}
            for entry, text, _ in results]
    failed = sum(1 for _, _, ok in results if not ok)
    emit(rows, columns=["id", "kind", "customer_id", "result"], fmt=state.output, title="Resumed")
    if failed:
        exit_with(EXIT_FAILED if failed == len(rows) else EXIT_PARTIAL)


@click.command("audit")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, help="Only writes for this customer, "
              "e.g. --customer 9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), metavar="DATE[THH:MM:SS]",
              help="Only events from this UTC date or time on, e.g. --since 2026-11-02 or --since "
                   "2026-11-02T09:00:00.")
@click.option("--limit", type=click.IntRange(1, None), default=500, show_default=True,
              help="Latest events shown at most, e.g. --limit 50.")
@click.pass_obj
def audit_cmd(state: Any, customer_id: str | None, since: datetime | None, limit: int) -> None:
    """The audit trail of every write: who, when, what, with the request and correlation ids."""
    ledger = ordering_context(state).ledger
    since_utc = since.replace(tzinfo=UTC) if since else None
    events = ledger.events(since=since_utc)
    entries: dict[int, Any] = {}
    rows = []
    for event in events:
        if event.entry_id not in entries:
            entries[event.entry_id] = ledger.get(event.entry_id)
        entry = entries[event.entry_id]
        if customer_id and entry.customer_id != customer_id:
            continue
        rows.append({"at": fmt_time(event.at), "actor": event.actor, "entry": entry.id, "kind": entry.kind,
                     "customer_id": entry.customer_id, "subscription_id": entry.subscription_id,
                     "status": event.status, "detail": event.detail, "request_id": event.request_id,
                     "correlation_id": event.correlation_id, "target": entry.target})
    rows = rows[-limit:]
    emit(rows, columns=["at", "actor", "entry", "kind", "customer_id", "subscription_id", "status", "detail",
                        "request_id", "correlation_id"], fmt=state.output, title="Audit trail")

