"""``cspkit order place|batch`` (buy, journaled) and ``cspkit orders list|show|activation-links``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cspkit.cli.context import confirm_or_stop, exit_with, fmt_time, ordering_context
from cspkit.cli.output import emit, note
from cspkit.cli.params import CUSTOMER_HELP, CUSTOMER_ID, RATE_LIMIT_HELP, SUBSCRIPTION_ID, TERM, WORKERS_HELP
from cspkit.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

__all__ = ["order_group", "orders_group"]


class IsoDate(click.ParamType):
    """A day written ``YYYY-MM-DD`` → :class:`datetime.date` (bad input: exit 2 naming the option)."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from datetime import date

        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a day written YYYY-MM-DD (e.g. 2026-11-30)", param, ctx)


@click.group("order")
def order_group() -> None:
    """Buy: one item (place) or a CSV file of items (batch)."""


def _print_plan(plan: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Order plan", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in plan.describe().items():
        table.add_row(key, "" if value is None else ("yes" if value is True else "no" if value is False else
                                                     str(value)))
    if getattr(plan, "parent_subscription_id", None):
        table.add_row("parent_subscription_id", plan.parent_subscription_id)
    Console(stderr=True, soft_wrap=False).print(table)


@order_group.command("place")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--item", required=True, help="Catalog item id PRODUCT:SKU:AVAILABILITY, or PRODUCT:SKU, "
                                           "e.g. CFQ7TTC0LH18:0001.")
@click.option("--quantity", type=int, required=True, help="Seats (within the SKU's minimum and maximum), "
                                                             "e.g. --quantity 10.")
@click.option("--term", "term_duration", type=TERM, required=True,
              help="Term duration as Partner Center writes it (any case accepted), e.g. --term P1Y.")
@click.option("--billing", "billing_cycle", type=click.Choice(["monthly", "annual", "triennial", "none"],
                                                               case_sensitive=False), required=True,
              help="Billing cycle; the availability's term must offer it, e.g. --billing monthly.")
@click.option("--friendly-name", help="Nickname; becomes the subscription's friendly name, "
                                         "e.g. --friendly-name \"Reception desk\".")
@click.option("--price-list", type=click.Path(exists=True, dir_okay=False), help="Price-list file for the price "
              "(default: fetched through the price-sheet API), e.g. --price-list pricelist.csv.")
@click.option("--key", "idempotency_key", help="Idempotency key: running again with it never orders twice on the same "
                                              "target (each emulator instance and each Partner Center tenant has "
                                              "its own keys), e.g. --key ticket-4711.")
@click.option("--parent-subscription", "parent_subscription_id", metavar="SUBSCRIPTION_ID",
              help="For an add-on: the customer's subscription it is bought onto (cart line "
                   "provisioningContext.parentSubscriptionId), e.g. --parent-subscription "
                   "711f43ca-3ac5-4352-965d-7c6567a3a72e.")
@click.option("--promotion", "promotion_id", metavar="PROMOTION_ID",
              help="Buy with this new-commerce promotion (cart line promotionId); eligibility is checked first and "
                   "the plan shows the promotional price, e.g. --promotion 39NFJQT1Q5KP:0001:39NFJQT1Q5KQ "
                   "(`cspkit catalog promotions` lists them).")
@click.option("--coterm-with", "coterm_with", type=SUBSCRIPTION_ID, metavar="SUBSCRIPTION_ID",
              help="Align the new term's end with this subscription of the customer (co-terming: cart line "
                   "customTermEndDate from Partner Center's allowed dates; the first charge is prorated), e.g. "
                   "--coterm-with 711f43ca-3ac5-4352-965d-7c6567a3a72e.")
@click.option("--term-end", "term_end", type=IsoDate(), metavar="YYYY-MM-DD",
              help="End the new term on this day, one of the allowed custom term end dates (the end of a calendar "
                   "month, or another subscription's end), e.g. --term-end 2026-11-30.")
@click.option("--dry-run", is_flag=True, help="Build and validate the cart; never check out.")
@click.option("--force", is_flag=True, help="Skip the catalog guards (Partner Center may still refuse).")
@click.pass_obj
def order_place(state: Any, customer_id: str, item: str, quantity: int, term_duration: str, billing_cycle: str,
                friendly_name: str | None, price_list: str | None, idempotency_key: str | None,
                parent_subscription_id: str | None, promotion_id: str | None, coterm_with: str | None,
                term_end: Any, dry_run: bool, force: bool) -> None:
    """Order one item for one customer: shows the plan, asks, then checks out (journaled)."""
    if coterm_with and term_end:
        raise click.UsageError("give --coterm-with or --term-end, not both")
    ctx = ordering_context(state, price_list=price_list)
    service = ctx.service
    try:
        plan = service.plan(customer_id, item=item, quantity=quantity, term_duration=term_duration,
                            billing_cycle=billing_cycle, friendly_name=friendly_name, force=force,
                            parent_subscription_id=parent_subscription_id, promotion_id=promotion_id,
                            coterm_with=coterm_with, term_end=term_end)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    _print_plan(plan)
    if dry_run:
        cart = service.validate_cart(plan)
        errors = cart.line_errors
        rows = [{"cart_id": cart.id, "line": line.id, "catalog_item_id": line.catalog_item_id,
                 "quantity": line.quantity, "valid": line.error is None,
                 "error": line.error.error_description if line.error else None} for line in cart.line_items]
        emit(rows, columns=["cart_id", "line", "catalog_item_id", "quantity", "valid", "error"], fmt=state.output,
             wire=[cart], title="Dry run: cart built, not checked out")
        note("Dry run: the cart was validated and NOT checked out (it expires by itself).")
        exit_with(EXIT_FAILED if errors else EXIT_OK)
    confirm_or_stop(state, f"Buy {quantity} x {plan.sku_title or plan.catalog_item_id} for {customer_id}?")
    outcome = service.place_order(plan, key=idempotency_key)
    if outcome.replayed:
        note(f"Already ordered under key {outcome.key} (ledger entry {outcome.entry_id}): nothing was ordered now.")
    rows = []
    for order in outcome.orders:
        for line in order.line_items:
            deadline = None
            if line.subscription_id:
                try:
                    sub = ctx.pc.subscriptions.get(customer_id, line.subscription_id)
                    deadline = sub.cancellation_allowed_until
                except Exception:  # noqa: BLE001 - the order stands; the deadline is a courtesy
                    deadline = None
            rows.append({"order_id": order.id, "line_item_number": line.line_item_number,
                         "offer_id": line.offer_id, "quantity": line.quantity,
                         "subscription_id": line.subscription_id, "status": order.status,
                         "cancellation_allowed_until": fmt_time(deadline), "ledger_entry": outcome.entry_id})
    emit(rows, columns=["order_id", "line_item_number", "offer_id", "quantity", "subscription_id", "status",
                        "cancellation_allowed_until", "ledger_entry"], fmt=state.output, wire=outcome.orders,
         title="Ordered")
    for error in outcome.order_errors:
        note(f"Order error for group {error.order_group_id}: {error.code} {error.description}")
    if plan.is_saas:
        note(f"Marketplace SaaS: open the activation link (`cspkit orders activation-links --customer {customer_id} "
             f"{outcome.order_ids[0] if outcome.order_ids else 'ORDER_ID'}`); billing starts at activation.")


@order_group.command("batch")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate every row (catalog and cart); order nothing.")
@click.option("--results", "results_path", type=click.Path(dir_okay=False),
              help="Per-row result CSV (default FILE.results.csv next to FILE), e.g. --results done.csv.")
@click.option("--batch-id", help="Key prefix of the rows (default: the file name). Change it to order the same "
                                 "lines again on purpose, e.g. --batch-id 2026-11-renewals.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help=WORKERS_HELP)
@click.option("--rate-limit", type=click.FloatRange(1, None), help=RATE_LIMIT_HELP)
@click.option("--price-list", type=click.Path(exists=True, dir_okay=False),
              help="Price-list file for the rows' prices (default: fetched through the price-sheet API), "
                   "e.g. --price-list pricelist.csv.")
@click.option("--force", is_flag=True, help="Skip the catalog guards.")
@click.option("--allow-duplicates", is_flag=True,
              help="Order identical rows (same customer, item, quantity, term, billing, friendly name) once each "
                   "instead of refusing the file.")
@click.pass_obj
def order_batch(state: Any, file: str, dry_run: bool, results_path: str | None, batch_id: str | None,
                workers: int, rate_limit: float | None, price_list: str | None, force: bool,
                allow_duplicates: bool) -> None:
    """Order every line of a CSV file (columns customer_id, item, quantity, term_duration, billing_cycle
    [, friendly_name, parent_subscription_id, promotion_id, key]; comma- or semicolon-separated).

    Re-running the same file after a crash completes what is missing and orders nothing twice on the same target:
    each row has a stable key in the ledger, kept per target (another emulator instance, or Partner Center, orders
    every row afresh). Identical rows without distinct keys are refused before anything is ordered unless
    --allow-duplicates. Add-on rows name their base in parent_subscription_id; promotion_id buys a row with a
    promotion (its eligibility checked first). Results go to a per-row CSV,
    rewritten atomically after every row.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cspkit.workflows.ordering import count_statuses, read_batch_file, run_batch

    batch_id, rows = read_batch_file(file, batch_id=batch_id, allow_duplicates=allow_duplicates)
    results_file = Path(results_path) if results_path else Path(file).with_suffix(".results.csv")
    ctx = ordering_context(state, rate_limit=rate_limit, price_list=price_list)
    service = ctx.service
    if not dry_run:
        confirm_or_stop(state, f"Order {len(rows)} row(s) of {file} (batch {batch_id})?")
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=Console(stderr=True),
                        transient=False, disable=state.debug)
    with progress:
        task = progress.add_task("dry run" if dry_run else "ordering", total=len(rows), status="")
        results = run_batch(service, rows, batch_id=batch_id, results_file=results_file, dry_run=dry_run,
                            force=force, workers=workers, on_result=lambda _r, counts: progress.update(
                                task, advance=1, status=" ".join(f"{k}={v}" for k, v in sorted(counts.items()))))
    stats = ctx.pc.transport.stats
    counts = count_statuses(results)
    emit([r.to_row() for r in results], columns=["row", "customer_id", "item", "quantity", "status", "order_ids",
                                                 "ledger_entry", "error"],
         fmt=state.output, title=f"Batch {batch_id}")
    note(f"Results: {results_file}. " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) +
         f". Requests {stats['attempts']}, retries {stats['retries']}, throttled {stats['throttled']}.")
    ok = {"ordered", "already_ordered", "valid"}
    bad = [r for r in results if r.status not in ok]
    if bad:
        if any(r.status == "unknown" for r in bad):
            note("Some rows are in an unknown state: run the same command again (or `cspkit ledger resume`); "
                 "journaled carts are checked out again, never re-ordered.")
        exit_with(EXIT_FAILED if len(bad) == len(results) else EXIT_PARTIAL)




@click.group("orders")
def orders_group() -> None:
    """A customer's orders."""


@orders_group.command("list")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--billing-type", help="Only orders of this billing type, e.g. monthly or onetime.")
@click.pass_obj
def orders_list(state: Any, customer_id: str, billing_type: str | None) -> None:
    """List a customer's orders (new orders can take up to 15 minutes to appear)."""
    ctx = ordering_context(state)
    orders = ctx.pc.orders.list(customer_id, billing_type=billing_type)
    rows = [{"id": o.id, "creation_date": o.creation_date, "status": o.status, "billing_cycle": o.billing_cycle,
             "currency": o.currency_code, "line_items": len(o.line_items)} for o in orders]
    emit(rows, columns=["id", "creation_date", "status", "billing_cycle", "currency", "line_items"],
         fmt=state.output, wire=orders, title=f"Orders of {customer_id}")
    if billing_type is None:  # filtered, a missing order may just be of another billing type
        from cspkit.workflows.ordering import listing_delay_note, unlisted_orders

        missing = unlisted_orders(ctx.ledger, customer_id, [o.id for o in orders if o.id])
        if missing:
            note(listing_delay_note(customer_id, missing))


@orders_group.command("show")
@click.argument("order_id")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.pass_obj
def orders_show(state: Any, order_id: str, customer_id: str) -> None:
    """Show one order and its line items."""
    order = ordering_context(state).pc.orders.get(customer_id, order_id)
    rows = [{"order_id": order.id, "status": order.status, "line_item_number": li.line_item_number,
             "offer_id": li.offer_id, "quantity": li.quantity, "term_duration": li.term_duration,
             "subscription_id": li.subscription_id, "friendly_name": li.friendly_name} for li in order.line_items]
    emit(rows, columns=["order_id", "status", "line_item_number", "offer_id", "quantity", "term_duration",
                        "subscription_id", "friendly_name"], fmt=state.output, wire=[order],
         title=f"Order {order.id} ({order.status})")


@orders_group.command("activation-links")
@click.argument("order_id")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help=CUSTOMER_HELP)
@click.option("--line", "line_item_number", type=int, help="Only this line item, e.g. --line 0.")
@click.pass_obj
def orders_activation_links(state: Any, order_id: str, customer_id: str, line_item_number: int | None) -> None:
    """Activation links of an order's marketplace SaaS lines (open them to start the SaaS subscription)."""
    pc = ordering_context(state).pc
    if line_item_number is None:
        links = pc.orders.all_activation_links(customer_id, order_id)
    else:
        links = pc.orders.activation_links(customer_id, order_id, line_item_number)
    rows = [{"order_id": order_id, "line_item_number": link.line_item_number, "uri": link.uri} for link in links]
    emit(rows, columns=["order_id", "line_item_number", "uri"], fmt=state.output, wire=links,
         title="Activation links")
    if rows and state.settings.is_emulator:
        note("These links point into the embedded emulator, which runs only during a command: follow one with "
             "`cspkit emulator follow-link URI` (or open it in a browser while `cspkit emulator serve` runs).")


