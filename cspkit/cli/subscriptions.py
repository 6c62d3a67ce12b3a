"""``cspkit subscriptions``: list, show, and the journaled, guarded changes (seats, auto-renew, cancel...)."""

from __future__ import annotations

import re
from typing import Any

import click

from cspkit.cli.context import confirm_or_stop, exit_with, fmt_time, ordering_context
from cspkit.cli.output import emit, note
from cspkit.cli.params import CUSTOMER_HELP, CUSTOMER_ID, RATE_LIMIT_HELP, SUBSCRIPTION_ID, TERM, WORKERS_HELP
from cspkit.errors import EXIT_FAILED, EXIT_PARTIAL

__all__ = ["SUB_COLUMNS", "promotion_note", "renewal_change", "subscriptions_group"]


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
    rows = [{**_sub_row(c, s), "renewal_change": renewal_change(s), "promotion": promotion_note(s)} for c, s in found]
    emit(rows, columns=[*SUB_COLUMNS, "renewal_change", "promotion"], fmt=state.output, wire=[s for _, s in found],
         title="Subscriptions inside their cancellation window")
    for cid, error in failures:
        note(f"{cid}: {error}")
    if failures:
        exit_with(EXIT_FAILED if len(failures) == len(customer_ids) else EXIT_PARTIAL)




# ======================================================================================================================
# upgrades (transitions) and changes at renewal (scheduledNextTermInstructions): cspkit.workflows.transitions
# ======================================================================================================================
_ITEM = re.compile(r"^[A-Za-z0-9]+:[A-Za-z0-9]+(:[A-Za-z0-9]+)?$")
_TO_HELP = ("The target SKU: productId:skuId:availabilityId or productId:skuId (one of `subscriptions upgrades`), "
            "e.g. CFQ7TTC0LCHC:0002.")
_WHEN_HELP = "immediate: now (seats move, prorated); renewal: scheduled for the next term, e.g. --when renewal."


def promotion_note(sub: Any) -> str:
    """The promotion a subscription was bought with, or "" when none: its price holds for the term it was bought
    for and is not carried into the renewal (Microsoft Learn, "New commerce promotions": a promotion applies to the
    term purchased; a renewal is priced at the price in force unless a promotion is chosen again)."""
    promotion_id = getattr(sub, "promotion_id", None)
    return f"{promotion_id} (this term only)" if promotion_id else ""


def renewal_change(sub: Any) -> str:
    """One line naming the change scheduled for a subscription's renewal, or "" when none is."""
    n = getattr(sub, "scheduled_next_term_instructions", None)
    if n is None:
        return ""
    p = n.product
    return (f"at renewal: {p.catalog_item_id} x{n.quantity} {p.term_duration or ''} {p.billing_cycle or ''}"
            .rstrip())


def _catalog_item(value: str | None, option: str) -> str | None:
    if value is not None and not _ITEM.match(value.strip()):
        raise click.BadParameter(f"expected productId:skuId[:availabilityId] such as CFQ7TTC0LCHC:0002, got "
                                 f"{value!r}", param_hint=option)
    return value.strip() if value else None


def _upgrades(state: Any) -> Any:
    from cspkit.workflows.transitions import Upgrades

    ctx = ordering_context(state)
    return Upgrades(ctx.pc, ctx.ledger)


@subscriptions_group.command("upgrades")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--when", type=click.Choice(["immediate", "renewal"]), default="immediate", show_default=True,
              help=_WHEN_HELP)
@click.pass_obj
def subscriptions_upgrades(state: Any, subscription_id: str, customer_id: str, when: str) -> None:
    """The SKUs a subscription may be upgraded to (transition eligibilities), with why not when not."""
    targets = _upgrades(state).targets(customer_id, subscription_id, when=when)
    rows = [{"catalog_item_id": t.catalog_item_id, "title": t.title, "quantity": t.quantity,
             "eligible": "yes" if t.is_eligible else "no", "transition_types": ", ".join(t.eligible_types()),
             "terms": ", ".join(f"{x.term_duration} {x.billing_cycle}" for x in t.terms),
             "why_not": "; ".join(t.problems()) if not t.is_eligible else ""} for t in targets]
    emit(rows, columns=["catalog_item_id", "title", "quantity", "eligible", "transition_types", "terms", "why_not"],
         fmt=state.output, wire=targets, title=f"Upgrades of {subscription_id} ({when})")
    if not targets:
        note(f"Subscription {subscription_id} has no upgrade path {'now' if when == 'immediate' else 'at renewal'}.")


@subscriptions_group.command("upgrade")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--to", "to_item", required=True, help=_TO_HELP)
@click.option("--quantity", type=click.IntRange(1, None), help="Seats to move (default: all of them), e.g. 2.")
@click.option("--when", type=click.Choice(["immediate", "renewal"]), default="immediate", show_default=True,
              help=_WHEN_HELP)
@click.option("--transition-type", type=click.Choice(["transition_only", "transition_with_license_transfer"]),
              default="transition_only", show_default=True,
              help="Move the seats only, or with the users' license assignments, e.g. "
                   "--transition-type transition_with_license_transfer.")
@click.option("--key", "idempotency_key",
              help="Idempotency key: running again with it never upgrades twice, e.g. --key upgrade-contoso-nov.")
@click.option("--dry-run", is_flag=True, help="Check eligibility and show what would happen; change nothing.")
@click.pass_obj
def subscriptions_upgrade(state: Any, subscription_id: str, customer_id: str, to_item: str, quantity: int | None,
                          when: str, transition_type: str, idempotency_key: str | None, dry_run: bool) -> None:
    """Upgrade a subscription's seats (all or --quantity N) to a higher SKU, now or at the renewal."""
    to_item = _catalog_item(to_item, "--to") or ""
    service = _upgrades(state)
    if idempotency_key:
        done = service.ledger.by_key(idempotency_key)
        if done is not None and done.status == "done" and service.ledger.is_current(done):
            note(f"Already done under key {idempotency_key} (ledger entry {done.id}): nothing was sent now.")
            return
    plan = service.plan(customer_id, subscription_id, to=to_item, quantity=quantity, when=when,
                        transition_type=transition_type)
    note(plan.describe())
    if dry_run:
        note("Dry run: nothing was changed.")
        return
    confirm_or_stop(state, plan.describe().rstrip(".") + "?")
    outcome = service.upgrade(plan, key=idempotency_key)
    if outcome.renewal is not None:
        note(f"Scheduled for the renewal (ledger entry {outcome.entry_id}).")
        _renewal_result(state, customer_id, outcome.renewal.after)
        return
    t = outcome.transition
    note(f"Upgraded (ledger entry {outcome.entry_id}): {t.quantity} seat(s) now on subscription "
         f"{t.to_subscription_id}.")
    _transition_rows(state, [t], "Transition")


def _transition_rows(state: Any, transitions: list[Any], title: str) -> None:
    rows = [{"operation_id": t.operation_id, "from_subscription": t.from_subscription_id,
             "to_subscription": t.to_subscription_id, "to_catalog_item_id": t.to_catalog_item_id,
             "quantity": t.quantity, "transition_type": t.transition_type, "status": t.status,
             "at": fmt_time(t.events[-1].timestamp) if t.events else ""} for t in transitions]
    emit(rows, columns=["operation_id", "from_subscription", "to_subscription", "to_catalog_item_id", "quantity",
                        "transition_type", "status", "at"], fmt=state.output, wire=transitions, title=title)


@subscriptions_group.command("transitions")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def subscriptions_transitions(state: Any, subscription_id: str, customer_id: str) -> None:
    """A subscription's upgrades: their status and the resulting subscriptions."""
    _transition_rows(state, _upgrades(state).history(customer_id, subscription_id),
                     f"Transitions of {subscription_id}")


@subscriptions_group.group("renewal")
def renewal_group() -> None:
    """Changes at renewal (scheduledNextTermInstructions): SKU, seats, term and billing of the next term."""


_RENEWAL_COLUMNS = ["subscription", "current", "renews_on", "next_item", "next_quantity", "next_term",
                    "next_billing"]


def _renewal_result(state: Any, customer_id: str, sub: Any) -> None:
    if sub is None:
        return
    n = sub.scheduled_next_term_instructions
    row = {"subscription": sub.id, "current": f"{sub.offer_id} x{sub.quantity} {sub.term_duration} "
                                              f"{sub.billing_cycle}",
           "renews_on": fmt_time(sub.commitment_end_date), "next_item": n.product.catalog_item_id if n else "",
           "next_quantity": n.quantity if n else None, "next_term": n.product.term_duration if n else "",
           "next_billing": n.product.billing_cycle if n else ""}
    emit([row], columns=_RENEWAL_COLUMNS, fmt=state.output, wire=[sub], title="Changes at renewal")


@renewal_group.command("show")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def renewal_show(state: Any, subscription_id: str, customer_id: str) -> None:
    """Show what the subscription becomes at its renewal (nothing scheduled: it renews as it is)."""
    sub = ordering_context(state).pc.subscriptions.get(customer_id, subscription_id)
    _renewal_result(state, customer_id, sub)
    if sub.scheduled_next_term_instructions is None:
        note(f"Nothing scheduled: {subscription_id} renews as it is"
             + ("" if sub.auto_renew_enabled else " — except that auto-renew is off, so it ends with its term")
             + ".")


@renewal_group.command("set")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--quantity", type=click.IntRange(1, None), help="Seats at the renewal, e.g. 8.")
@click.option("--term", type=TERM, help="Term of the next term, e.g. P1Y.")
@click.option("--billing", type=click.Choice(["monthly", "annual", "triennial"]),
              help="Billing cycle of the next term, e.g. annual.")
@click.option("--item", "item", help="The SKU at renewal (itself or an upgrade): productId:skuId[:availabilityId], "
              "e.g. CFQ7TTC0LCHC:0002.")
@click.option("--key", "idempotency_key", help="Idempotency key: running again with it never writes twice, "
              "e.g. --key renewal-contoso.")
@click.option("--dry-run", is_flag=True, help="Show the instructions that would be set; change nothing.")
@click.pass_obj
def renewal_set(state: Any, subscription_id: str, customer_id: str, quantity: int | None, term: str | None,
                billing: str | None, item: str | None, idempotency_key: str | None, dry_run: bool) -> None:
    """Schedule changes for the renewal (options not given keep what is scheduled, else the current values)."""
    item = _catalog_item(item, "--item")
    if quantity is None and term is None and billing is None and item is None:
        raise click.UsageError("give at least one of --quantity, --term, --billing, --item")
    service = _upgrades(state)
    if dry_run:
        sub = service.pc.subscriptions.get(customer_id, subscription_id)
        wanted = service.next_term_instructions(customer_id, sub, item, quantity, term, billing)
        note(f"Would schedule for the renewal of {subscription_id}: {wanted.product.catalog_item_id} "
             f"x{wanted.quantity} {wanted.product.term_duration} {wanted.product.billing_cycle}.")
        note("Dry run: nothing was changed.")
        return
    confirm_or_stop(state, f"Schedule changes for the renewal of subscription {subscription_id}?")
    outcome = service.set_next_term(customer_id, subscription_id, item=item, quantity=quantity, term_duration=term,
                                    billing_cycle=billing, key=idempotency_key)
    note(("Already done" if outcome.replayed else "Scheduled") + f" (ledger entry {outcome.entry_id})."
         + (f" {outcome.note}." if outcome.note else ""))
    _renewal_result(state, customer_id, outcome.after)


@renewal_group.command("clear")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--key", "idempotency_key", help="Idempotency key, e.g. --key renewal-clear-contoso.")
@click.pass_obj
def renewal_clear(state: Any, subscription_id: str, customer_id: str, idempotency_key: str | None) -> None:
    """Delete the changes scheduled for the renewal (it then renews as it is)."""
    confirm_or_stop(state, f"Delete the changes scheduled for the renewal of subscription {subscription_id}?")
    outcome = _upgrades(state).clear_next_term(customer_id, subscription_id, key=idempotency_key)
    note(("Already done" if outcome.replayed else "Cleared") + f" (ledger entry {outcome.entry_id}).")
    _renewal_result(state, customer_id, outcome.after)
