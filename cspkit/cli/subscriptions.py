"""``cspkit subscriptions``: list, show, and the journaled, guarded changes (seats, auto-renew, cancel...)."""

from __future__ import annotations

from typing import Any

import click

from cspkit.cli.context import confirm_or_stop, exit_with, fmt_time, ordering_context
from cspkit.cli.output import emit, note
from cspkit.cli.params import CUSTOMER_HELP, CUSTOMER_ID, RATE_LIMIT_HELP, SUBSCRIPTION_ID, WORKERS_HELP
from cspkit.errors import EXIT_FAILED, EXIT_PARTIAL

__all__ = ["SUB_COLUMNS", "subscriptions_group"]


@click.group("subscriptions")
def subscriptions_group() -> None:
    """A customer's subscriptions: list, show, seats, auto-renew, cancel, cancellation windows."""


SUB_COLUMNS = ["customer_id", "id", "friendly_name", "offer_id", "quantity", "status", "auto_renew", "term_duration",
               "billing_cycle", "cancellation_allowed_until", "refundable_quantity"]


def _sub_row(customer_id: str, s: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "id": s.id, "friendly_name": s.friendly_name, "offer_id": s.offer_id,
            "quantity": s.quantity, "status": s.status, "auto_renew": s.auto_renew_enabled,
            "term_duration": s.term_duration, "billing_cycle": s.billing_cycle,
            "cancellation_allowed_until": fmt_time(s.cancellation_allowed_until),
            "refundable_quantity": s.refundable_quantity.total_quantity if s.refundable_quantity else None}


@subscriptions_group.command("list")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--order", "order_id", help="Only the subscriptions of this order, e.g. --order 7ac4b2d1e9f0.")
@click.pass_obj
def subscriptions_list(state: Any, customer_id: str, order_id: str | None) -> None:
    """List a customer's subscriptions."""
    subs = ordering_context(state).pc.subscriptions.list(customer_id, order_id=order_id)
    emit([_sub_row(customer_id, s) for s in subs], columns=SUB_COLUMNS, fmt=state.output, wire=subs,
         title=f"Subscriptions of {customer_id}")


@subscriptions_group.command("show")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def subscriptions_show(state: Any, subscription_id: str, customer_id: str) -> None:
    """Show one subscription (with its cancellation deadline and refundable seats)."""
    sub = ordering_context(state).pc.subscriptions.get(customer_id, subscription_id)
    emit([_sub_row(customer_id, sub)], columns=SUB_COLUMNS, fmt=state.output, wire=[sub], title="Subscription")


def _change_result(state: Any, outcome: Any, customer_id: str) -> None:
    if outcome.replayed:
        note(f"Already done (ledger entry {outcome.entry_id}).")
    if outcome.note:
        note(outcome.note)
    after = outcome.after
    if after is not None:
        emit([_sub_row(customer_id, after)], columns=SUB_COLUMNS, fmt=state.output, wire=[after],
             title=f"Subscription after the change (ledger entry {outcome.entry_id})")


@subscriptions_group.command("set-quantity")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.argument("quantity", type=click.IntRange(0, None))
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--force", is_flag=True, help="Skip the SKU-bounds and seat-reduction-window guards.")
@click.pass_obj
def subscriptions_set_quantity(state: Any, subscription_id: str, quantity: int, customer_id: str,
                               force: bool) -> None:
    """Set the number of seats (a decrease only inside the refund window of the removed seats)."""
    ctx = ordering_context(state)
    confirm_or_stop(state, f"Set subscription {subscription_id} to {quantity} seat(s)?")
    _change_result(state, ctx.service.set_quantity(customer_id, subscription_id, quantity=quantity, force=force),
                   customer_id)


@subscriptions_group.command("auto-renew")
@click.argument("setting", type=click.Choice(["on", "off"]))
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def subscriptions_auto_renew(state: Any, setting: str, subscription_id: str, customer_id: str) -> None:
    """Turn auto-renew on or off (off: the subscription ends at the end of its term)."""
    ctx = ordering_context(state)
    confirm_or_stop(state, f"Turn auto-renew {setting} for subscription {subscription_id}?")
    _change_result(state, ctx.service.set_auto_renew(customer_id, subscription_id, enabled=setting == "on"),
                   customer_id)


@subscriptions_group.command("cancel")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--force", is_flag=True, help="Skip the cancellation-window guard (Partner Center may refuse).")
@click.pass_obj
def subscriptions_cancel(state: Any, subscription_id: str, customer_id: str, force: bool) -> None:
    """Cancel a subscription inside its cancellation window."""
    ctx = ordering_context(state)
    confirm_or_stop(state, f"Cancel subscription {subscription_id}? This cannot be undone.")
    _change_result(state, ctx.service.cancel(customer_id, subscription_id, force=force), customer_id)


@subscriptions_group.command("suspend")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def subscriptions_suspend(state: Any, subscription_id: str, customer_id: str) -> None:
    """Suspend a subscription (NCE billing continues while suspended)."""
    ctx = ordering_context(state)
    confirm_or_stop(state, f"Suspend subscription {subscription_id}?")
    _change_result(state, ctx.service.suspend(customer_id, subscription_id), customer_id)


@subscriptions_group.command("reactivate")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def subscriptions_reactivate(state: Any, subscription_id: str, customer_id: str) -> None:
    """Reactivate a suspended subscription."""
    ctx = ordering_context(state)
    confirm_or_stop(state, f"Reactivate subscription {subscription_id}?")
    _change_result(state, ctx.service.reactivate(customer_id, subscription_id), customer_id)


@subscriptions_group.command("activate")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def subscriptions_activate(state: Any, subscription_id: str, customer_id: str) -> None:
    """Sandbox-activate a marketplace SaaS subscription (integration sandbox / emulator only)."""
    ctx = ordering_context(state)
    confirm_or_stop(state, f"Activate subscription {subscription_id}?")
    _change_result(state, ctx.service.activate(customer_id, subscription_id), customer_id)


@subscriptions_group.command("cancellable")
@click.option("--customer", "customer_id", type=CUSTOMER_ID,
              help="One customer (default: every customer, concurrently), "
                   "e.g. --customer 9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help=WORKERS_HELP)
@click.option("--rate-limit", type=click.FloatRange(1, None), help=RATE_LIMIT_HELP)
@click.pass_obj
def subscriptions_cancellable(state: Any, customer_id: str | None, workers: int, rate_limit: float | None) -> None:
    """Every subscription still inside its cancellation window, with its deadline (soonest first)."""
    from cspkit.workflows.ordering import cancellable_subscriptions

    ctx = ordering_context(state, rate_limit=rate_limit)
    customer_ids = [customer_id] if customer_id else [c.id for c in ctx.pc.customers.list()]
    found, failures = cancellable_subscriptions(ctx.pc, customer_ids, workers=workers, clock=ctx.clock())
    rows = [_sub_row(c, s) for c, s in found]
    emit(rows, columns=SUB_COLUMNS, fmt=state.output, wire=[s for _, s in found],
         title="Subscriptions inside their cancellation window")
    for cid, error in failures:
        note(f"{cid}: {error}")
    if failures:
        exit_with(EXIT_FAILED if len(failures) == len(customer_ids) else EXIT_PARTIAL)


