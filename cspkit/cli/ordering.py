"""Reseller commands: customers, catalog, order place/batch, orders, subscriptions, ledger and audit.

Every write is journaled in the ledger (``CSPKIT_DATABASE_URL``, default SQLite in ``CSPKIT_HOME``) and asks for
confirmation unless ``--yes``. Lists honour ``--output table|json|csv`` (JSON is Partner Center's wire shape).
Requests go through a client-side rate limiter shared by worker threads (``CSPKIT_RATE_LIMIT`` requests/minute,
default 475 — under Partner Center's documented 500/minute).

Exit codes: 0 ok, 1 failed (or not confirmed), 2 bad usage or input, 3 a batch partly failed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from cspkit.cli.output import emit, note
from cspkit.cli.params import CUSTOMER_ID, SUBSCRIPTION_ID

__all__ = ["register"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


# =====================================================================================================================
# shared plumbing
# =====================================================================================================================
class Context:
    """Per-run ordering context built lazily from the CLI state: rate-limited client, ledger, service."""

    def __init__(self, state: Any, *, rate_limit: float | None = None, price_list: str | None = None) -> None:
        self.state = state
        self._rate_limit = rate_limit
        self._price_list_path = price_list
        self._pc: Any = None
        self._ledger: Any = None
        self._service: Any = None
        self._target: Any = None

    @property
    def pc(self) -> Any:
        if self._pc is None:
            from cspkit.ratelimit import DEFAULT_PER_MINUTE, RateLimitedSession, TokenBucket

            pc = self.state.client()
            per_minute = self._rate_limit or float(os.environ.get("CSPKIT_RATE_LIMIT") or DEFAULT_PER_MINUTE)
            if not isinstance(pc.transport.session, RateLimitedSession):
                session = RateLimitedSession(TokenBucket(per_minute))
                session.headers.update(pc.transport.session.headers)
                pc.transport.session.close()
                pc.transport.session = session
            self._pc = pc
        return self._pc

    @property
    def target(self) -> Any:
        """Where writes go (:class:`cspkit.ledger.Target`): the embedded emulator's instance; an emulator at a
        loopback endpoint (asked for its instance id: the ``X-Cspkit-Emulator-Instance`` header); else Partner
        Center at the endpoint for the partner tenant (a static token's ``tid`` claim, else the configured tenant)."""
        if self._target is None:
            from cspkit.ledger import Target

            settings = self.state.settings
            if settings.is_emulator:
                emu = self.state.emulator_server()
                self._target = Target.emulator(emu.url, instance_id=emu.backend.instance_id,
                                               tenant_id=emu.backend.partner.get("tenantId"))
            else:
                endpoint = self.pc.endpoint
                instance = _emulator_instance(self.pc) if _is_loopback(endpoint) else None
                if instance:
                    self._target = Target.emulator(endpoint, instance_id=instance, tenant_id=settings.tenant_id)
                else:
                    self._target = Target.partner_center(endpoint, token=settings.access_token,
                                                         tenant_id=settings.tenant_id)
        return self._target

    @property
    def ledger(self) -> Any:
        if self._ledger is None:
            from cspkit.ledger import Ledger, default_actor

            settings = self.state.settings
            self._ledger = Ledger(settings.resolved_database_url(), actor=default_actor(settings),
                                  target=self.target)
            self.state._closers.append(self._ledger.close)
        return self._ledger

    def clock(self) -> Callable[[], datetime] | None:
        """The service's clock when the target is an emulator (its virtual time), else None (use the answers'
        Date header)."""
        settings = self.state.settings
        if settings.is_emulator:
            return self.state.emulator_server().clock.now
        endpoint = self.pc.endpoint
        if _is_loopback(endpoint):  # Partner Center is never on loopback: a local emulator, ask its clock
            session = self.pc.transport.session
            url = endpoint.rstrip("/") + "/_emulator/clock"

            def now() -> datetime:
                from cspkit.models.base import parse_utc_datetime

                try:
                    response = session.get(url, timeout=10)
                    response.raise_for_status()
                    return parse_utc_datetime(response.json()["now"]) or datetime.now(UTC)
                except Exception:  # noqa: BLE001 - not an emulator after all: this machine's clock
                    return datetime.now(UTC)

            return now
        return None

    def price_list(self) -> Any:
        path = self._price_list_path
        if path is None and self.state.settings.is_emulator:
            default = Path(__file__).resolve().parents[2] / "sample_data" / "pricelist_nce_US_202611.csv"
            path = str(default) if default.exists() else None
        if path is None:
            return None
        try:
            from cspkit.billing.pricelist import read_price_list
        except ImportError:
            note("The price-list reader is not available: prices are shown as unknown.")
            return None
        frames = [read_price_list(path)]
        marketplace = Path(path).with_name(Path(path).name.replace("_nce_", "_marketplace_"))
        if self._price_list_path is None and marketplace.exists() and marketplace != Path(path):
            frames.append(read_price_list(marketplace))
        if len(frames) == 1:
            return frames[0]
        import pandas as pd

        return pd.concat(frames, ignore_index=True)

    @property
    def service(self) -> Any:
        if self._service is None:
            from cspkit.ordering import Ordering

            self._service = Ordering(self.pc, self.ledger, price_list=self.price_list(), clock=self.clock())
        return self._service


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _emulator_instance(pc: Any) -> str | None:
    """The instance id an emulator at ``pc.endpoint`` sends with every answer, or None (not an emulator, or no
    answer). Only asked of loopback endpoints: Partner Center is never on loopback."""
    from cspkit.ledger import INSTANCE_HEADER

    try:
        response = pc.transport.session.get(pc.endpoint.rstrip("/") + "/_emulator/clock", timeout=10)
    except Exception:  # noqa: BLE001 - no answer: not known as an emulator
        return None
    return response.headers.get(INSTANCE_HEADER) or None


def _ctx(state: Any, **kwargs: Any) -> Context:
    return Context(state, **kwargs)


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _exit(code: int) -> None:
    click.get_current_context().exit(code)


def _confirm_or_stop(state: Any, question: str) -> None:
    if not state.confirm(question):
        note("Not confirmed: nothing was changed.")
        _exit(EXIT_FAILED)


# =====================================================================================================================
# customers
# =====================================================================================================================
@click.group("customers")
def customers_group() -> None:
    """The partner's customers."""


@customers_group.command("list")
@click.option("--page-size", type=click.IntRange(1, 500), default=None, help="Customers per request page.")
@click.pass_obj
def customers_list(state: Any, page_size: int | None) -> None:
    """List every customer (walks all pages)."""
    customers = list(_ctx(state).pc.customers.list(page_size=page_size))
    rows = [{"id": c.id, "company_name": c.company_name, "domain": c.domain,
             "relationship": c.relationship_to_partner} for c in customers]
    emit(rows, columns=["id", "company_name", "domain", "relationship"], fmt=state.output, wire=customers,
         title="Customers")


# =====================================================================================================================
# catalog
# =====================================================================================================================
@click.group("catalog")
def catalog_group() -> None:
    """Products → SKUs → availabilities of one country."""


@catalog_group.command("products")
@click.option("--country", required=True, help="ISO 3166 alpha-2 country, e.g. US.")
@click.option("--target-view", default="OnlineServices", show_default=True)
@click.option("--segment", "target_segment", type=click.Choice(["commercial", "education", "government",
                                                                "nonprofit"], case_sensitive=False))
@click.option("--saas", is_flag=True, help="Only marketplace SaaS products (productType Azure / subType SaaS).")
@click.pass_obj
def catalog_products(state: Any, country: str, target_view: str, target_segment: str | None, saas: bool) -> None:
    """List products."""
    products = _ctx(state).pc.catalog.products(country=country.upper(), target_view=target_view,
                                               target_segment=target_segment)
    if saas:
        products = [p for p in products if p.is_saas]
    rows = [{"id": p.id, "title": p.title, "product_type": p.product_type_id,
             "sub_type": p.product_type.sub_type.id if p.product_type and p.product_type.sub_type else None,
             "saas": p.is_saas, "publisher": p.publisher_name} for p in products]
    emit(rows, columns=["id", "title", "product_type", "sub_type", "saas", "publisher"], fmt=state.output,
         wire=products, title=f"Products ({country.upper()}, {target_view})")


@catalog_group.command("skus")
@click.argument("product_id")
@click.option("--country", required=True)
@click.pass_obj
def catalog_skus(state: Any, product_id: str, country: str) -> None:
    """List the SKUs of a product."""
    skus = _ctx(state).pc.catalog.skus(product_id, country=country.upper())
    rows = [{"id": s.id, "product_id": s.product_id or product_id, "title": s.title,
             "minimum_quantity": s.minimum_quantity, "maximum_quantity": s.maximum_quantity, "trial": s.is_trial,
             "addon": s.is_addon, "billing_cycles": " ".join(s.supported_billing_cycles or [])} for s in skus]
    emit(rows, columns=["id", "product_id", "title", "minimum_quantity", "maximum_quantity", "trial", "addon",
                        "billing_cycles"], fmt=state.output, wire=skus, title=f"SKUs of {product_id}")


@catalog_group.command("availabilities")
@click.argument("product_id")
@click.argument("sku_id")
@click.option("--country", required=True)
@click.pass_obj
def catalog_availabilities(state: Any, product_id: str, sku_id: str, country: str) -> None:
    """List the availabilities of a SKU with their terms (term duration / billing cycle)."""
    availabilities = _ctx(state).pc.catalog.availabilities(product_id, sku_id, country=country.upper())
    rows = [{"id": a.id, "catalog_item_id": a.resolved_catalog_item_id,
             "terms": " ".join(f"{t.duration}/{t.billing_cycle}" for t in a.terms),
             "currency": a.default_currency.code if a.default_currency else None,
             "purchasable": a.is_purchasable, "segment": a.segment} for a in availabilities]
    emit(rows, columns=["id", "catalog_item_id", "terms", "currency", "purchasable", "segment"], fmt=state.output,
         wire=availabilities, title=f"Availabilities of {product_id}:{sku_id}")


# =====================================================================================================================
# order place / batch
# =====================================================================================================================
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
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True, help="Customer id (tenant id).")
@click.option("--item", required=True, help="Catalog item id PRODUCT:SKU:AVAILABILITY, or PRODUCT:SKU.")
@click.option("--quantity", type=int, required=True, help="Seats (within the SKU's minimum and maximum).")
@click.option("--term", "term_duration", type=click.Choice(["P1M", "P1Y", "P3Y"], case_sensitive=False),
              required=True)
@click.option("--billing", "billing_cycle", type=click.Choice(["monthly", "annual", "triennial", "none"],
                                                               case_sensitive=False), required=True)
@click.option("--friendly-name", help="Nickname; becomes the subscription's friendly name.")
@click.option("--price-list", type=click.Path(exists=True, dir_okay=False), help="Price-list file for the price.")
@click.option("--key", "idempotency_key", help="Idempotency key: running again with it never orders twice on the same "
                                              "target (each emulator instance and each Partner Center tenant has "
                                              "its own keys).")
@click.option("--parent-subscription", "parent_subscription_id", metavar="SUBSCRIPTION_ID",
              help="For an add-on: the customer's subscription it is bought onto (cart line "
                   "provisioningContext.parentSubscriptionId).")
@click.option("--dry-run", is_flag=True, help="Build and validate the cart; never check out.")
@click.option("--force", is_flag=True, help="Skip the catalog guards (Partner Center may still refuse).")
@click.pass_obj
def order_place(state: Any, customer_id: str, item: str, quantity: int, term_duration: str, billing_cycle: str,
                friendly_name: str | None, price_list: str | None, idempotency_key: str | None,
                parent_subscription_id: str | None, dry_run: bool, force: bool) -> None:
    """Order one item for one customer: shows the plan, asks, then checks out (journaled)."""
    ctx = _ctx(state, price_list=price_list)
    service = ctx.service
    try:
        plan = service.plan(customer_id, item=item, quantity=quantity, term_duration=term_duration,
                            billing_cycle=billing_cycle, friendly_name=friendly_name, force=force,
                            parent_subscription_id=parent_subscription_id)
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
        _exit(EXIT_FAILED if errors else EXIT_OK)
    _confirm_or_stop(state, f"Buy {quantity} x {plan.sku_title or plan.catalog_item_id} for {customer_id}?")
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
                         "cancellation_allowed_until": _fmt_time(deadline), "ledger_entry": outcome.entry_id})
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
              help="Per-row result CSV (default FILE.results.csv next to FILE).")
@click.option("--batch-id", help="Key prefix of the rows (default: the file name). Change it to order the same "
                                 "lines again on purpose.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--rate-limit", type=click.FloatRange(1, None), help="Requests per minute (default 475).")
@click.option("--price-list", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Skip the catalog guards.")
@click.option("--allow-duplicates", is_flag=True,
              help="Order identical rows (same customer, item, quantity, term, billing, friendly name) once each "
                   "instead of refusing the file.")
@click.pass_obj
def order_batch(state: Any, file: str, dry_run: bool, results_path: str | None, batch_id: str | None,
                workers: int, rate_limit: float | None, price_list: str | None, force: bool,
                allow_duplicates: bool) -> None:
    """Order every line of a CSV file (columns customer_id, item, quantity, term_duration, billing_cycle
    [, friendly_name, parent_subscription_id, key]; comma- or semicolon-separated).

    Re-running the same file after a crash completes what is missing and orders nothing twice on the same target:
    each row has a stable key in the ledger, kept per target (another emulator instance, or Partner Center, orders
    every row afresh). Identical rows without distinct keys are refused before anything is ordered unless
    --allow-duplicates. Add-on rows name their base in parent_subscription_id. Results go to a per-row CSV,
    rewritten atomically after every row.
    """
    from cspkit import ordering as ordering_mod

    batch_id, rows = ordering_mod.read_batch_file(file, batch_id=batch_id, allow_duplicates=allow_duplicates)
    results_file = Path(results_path) if results_path else Path(file).with_suffix(".results.csv")
    ctx = _ctx(state, rate_limit=rate_limit, price_list=price_list)
    service = ctx.service
    if not dry_run:
        _confirm_or_stop(state, f"Order {len(rows)} row(s) of {file} (batch {batch_id})?")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    done: dict[int, Any] = {}
    lock = threading.Lock()
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                        console=__import__("rich.console", fromlist=["Console"]).Console(stderr=True),
                        transient=False, disable=state.debug)
    with progress:
        task = progress.add_task("dry run" if dry_run else "ordering", total=len(rows), status="")

        def work(row: Any) -> Any:
            return ordering_mod.run_batch_row(service, row, batch_id=batch_id, dry_run=dry_run, force=force)

        def finished(row: Any, result: Any, error: BaseException | None) -> None:
            if result is None:
                result = ordering_mod.RowResult(row, "failed", error=str(error))
            with lock:
                done[row.number] = result
                ordering_mod.write_results_atomically(results_file, list(done.values()))
                counts = _count(done.values())
            progress.update(task, advance=1, status=" ".join(f"{k}={v}" for k, v in sorted(counts.items())))

        ordering_mod.fan_out(work, rows, workers=workers, on_done=finished)
    results = [done[r.number] for r in rows]
    stats = ctx.pc.transport.stats
    counts = _count(results)
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
        _exit(EXIT_FAILED if len(bad) == len(results) else EXIT_PARTIAL)


def _count(results: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


# =====================================================================================================================
# orders
# =====================================================================================================================
@click.group("orders")
def orders_group() -> None:
    """A customer's orders."""


@orders_group.command("list")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.option("--billing-type", help="Filter, e.g. monthly or onetime.")
@click.pass_obj
def orders_list(state: Any, customer_id: str, billing_type: str | None) -> None:
    """List a customer's orders (new orders can take up to 15 minutes to appear)."""
    orders = _ctx(state).pc.orders.list(customer_id, billing_type=billing_type)
    rows = [{"id": o.id, "creation_date": o.creation_date, "status": o.status, "billing_cycle": o.billing_cycle,
             "currency": o.currency_code, "line_items": len(o.line_items)} for o in orders]
    emit(rows, columns=["id", "creation_date", "status", "billing_cycle", "currency", "line_items"],
         fmt=state.output, wire=orders, title=f"Orders of {customer_id}")


@orders_group.command("show")
@click.argument("order_id")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.pass_obj
def orders_show(state: Any, order_id: str, customer_id: str) -> None:
    """Show one order and its line items."""
    order = _ctx(state).pc.orders.get(customer_id, order_id)
    rows = [{"order_id": order.id, "status": order.status, "line_item_number": li.line_item_number,
             "offer_id": li.offer_id, "quantity": li.quantity, "term_duration": li.term_duration,
             "subscription_id": li.subscription_id, "friendly_name": li.friendly_name} for li in order.line_items]
    emit(rows, columns=["order_id", "status", "line_item_number", "offer_id", "quantity", "term_duration",
                        "subscription_id", "friendly_name"], fmt=state.output, wire=[order],
         title=f"Order {order.id} ({order.status})")


@orders_group.command("activation-links")
@click.argument("order_id")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.option("--line", "line_item_number", type=int, help="Only this line item.")
@click.pass_obj
def orders_activation_links(state: Any, order_id: str, customer_id: str, line_item_number: int | None) -> None:
    """Activation links of an order's marketplace SaaS lines (open them to start the SaaS subscription)."""
    pc = _ctx(state).pc
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


# =====================================================================================================================
# subscriptions
# =====================================================================================================================
@click.group("subscriptions")
def subscriptions_group() -> None:
    """A customer's subscriptions: list, show, seats, auto-renew, cancel, cancellation windows."""


SUB_COLUMNS = ["customer_id", "id", "friendly_name", "offer_id", "quantity", "status", "auto_renew", "term_duration",
               "billing_cycle", "cancellation_allowed_until", "refundable_quantity"]


def _sub_row(customer_id: str, s: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "id": s.id, "friendly_name": s.friendly_name, "offer_id": s.offer_id,
            "quantity": s.quantity, "status": s.status, "auto_renew": s.auto_renew_enabled,
            "term_duration": s.term_duration, "billing_cycle": s.billing_cycle,
            "cancellation_allowed_until": _fmt_time(s.cancellation_allowed_until),
            "refundable_quantity": s.refundable_quantity.total_quantity if s.refundable_quantity else None}


@subscriptions_group.command("list")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.option("--order", "order_id", help="Only the subscriptions of this order.")
@click.pass_obj
def subscriptions_list(state: Any, customer_id: str, order_id: str | None) -> None:
    """List a customer's subscriptions."""
    subs = _ctx(state).pc.subscriptions.list(customer_id, order_id=order_id)
    emit([_sub_row(customer_id, s) for s in subs], columns=SUB_COLUMNS, fmt=state.output, wire=subs,
         title=f"Subscriptions of {customer_id}")


@subscriptions_group.command("show")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.pass_obj
def subscriptions_show(state: Any, subscription_id: str, customer_id: str) -> None:
    """Show one subscription (with its cancellation deadline and refundable seats)."""
    sub = _ctx(state).pc.subscriptions.get(customer_id, subscription_id)
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
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.option("--force", is_flag=True, help="Skip the SKU-bounds and seat-reduction-window guards.")
@click.pass_obj
def subscriptions_set_quantity(state: Any, subscription_id: str, quantity: int, customer_id: str,
                               force: bool) -> None:
    """Set the number of seats (a decrease only inside the refund window of the removed seats)."""
    ctx = _ctx(state)
    _confirm_or_stop(state, f"Set subscription {subscription_id} to {quantity} seat(s)?")
    _change_result(state, ctx.service.set_quantity(customer_id, subscription_id, quantity=quantity, force=force),
                   customer_id)


@subscriptions_group.command("auto-renew")
@click.argument("setting", type=click.Choice(["on", "off"]))
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.pass_obj
def subscriptions_auto_renew(state: Any, setting: str, subscription_id: str, customer_id: str) -> None:
    """Turn auto-renew on or off (off: the subscription ends at the end of its term)."""
    ctx = _ctx(state)
    _confirm_or_stop(state, f"Turn auto-renew {setting} for subscription {subscription_id}?")
    _change_result(state, ctx.service.set_auto_renew(customer_id, subscription_id, enabled=setting == "on"),
                   customer_id)


@subscriptions_group.command("cancel")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.option("--force", is_flag=True, help="Skip the cancellation-window guard (Partner Center may refuse).")
@click.pass_obj
def subscriptions_cancel(state: Any, subscription_id: str, customer_id: str, force: bool) -> None:
    """Cancel a subscription inside its cancellation window."""
    ctx = _ctx(state)
    _confirm_or_stop(state, f"Cancel subscription {subscription_id}? This cannot be undone.")
    _change_result(state, ctx.service.cancel(customer_id, subscription_id, force=force), customer_id)


@subscriptions_group.command("suspend")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.pass_obj
def subscriptions_suspend(state: Any, subscription_id: str, customer_id: str) -> None:
    """Suspend a subscription (NCE billing continues while suspended)."""
    ctx = _ctx(state)
    _confirm_or_stop(state, f"Suspend subscription {subscription_id}?")
    _change_result(state, ctx.service.suspend(customer_id, subscription_id), customer_id)


@subscriptions_group.command("reactivate")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.pass_obj
def subscriptions_reactivate(state: Any, subscription_id: str, customer_id: str) -> None:
    """Reactivate a suspended subscription."""
    ctx = _ctx(state)
    _confirm_or_stop(state, f"Reactivate subscription {subscription_id}?")
    _change_result(state, ctx.service.reactivate(customer_id, subscription_id), customer_id)


@subscriptions_group.command("activate")
@click.argument("subscription_id", type=SUBSCRIPTION_ID)
@click.option("--customer", "customer_id", type=CUSTOMER_ID, required=True)
@click.pass_obj
def subscriptions_activate(state: Any, subscription_id: str, customer_id: str) -> None:
    """Sandbox-activate a marketplace SaaS subscription (integration sandbox / emulator only)."""
    ctx = _ctx(state)
    _confirm_or_stop(state, f"Activate subscription {subscription_id}?")
    _change_result(state, ctx.service.activate(customer_id, subscription_id), customer_id)


@subscriptions_group.command("cancellable")
@click.option("--customer", "customer_id", type=CUSTOMER_ID,
              help="One customer (default: every customer, concurrently).")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--rate-limit", type=click.FloatRange(1, None), help="Requests per minute (default 475).")
@click.pass_obj
def subscriptions_cancellable(state: Any, customer_id: str | None, workers: int, rate_limit: float | None) -> None:
    """Every subscription still inside its cancellation window, with its deadline (soonest first)."""
    from cspkit.ordering import cancellable_subscriptions

    ctx = _ctx(state, rate_limit=rate_limit)
    customer_ids = [customer_id] if customer_id else [c.id for c in ctx.pc.customers.list()]
    found, failures = cancellable_subscriptions(ctx.pc, customer_ids, workers=workers, clock=ctx.clock())
    rows = [_sub_row(c, s) for c, s in found]
    emit(rows, columns=SUB_COLUMNS, fmt=state.output, wire=[s for _, s in found],
         title="Subscriptions inside their cancellation window")
    for cid, error in failures:
        note(f"{cid}: {error}")
    if failures:
        _exit(EXIT_FAILED if len(failures) == len(customer_ids) else EXIT_PARTIAL)


# =====================================================================================================================
# ledger and audit
# =====================================================================================================================
@click.group("ledger")
def ledger_group() -> None:
    """The journal of writes: list, show, resume unfinished ones."""


ENTRY_COLUMNS = ["id", "created_at", "target", "kind", "status", "customer_id", "subscription_id", "cart_id",
                 "order_ids", "batch_id", "error"]


def _entry_row(entry: Any) -> dict[str, Any]:
    return {"id": entry.id, "key": entry.key, "created_at": _fmt_time(entry.created_at),
            "updated_at": _fmt_time(entry.updated_at), "kind": entry.kind, "status": entry.status,
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
                                             "unresolved"]))
@click.option("--kind")
@click.option("--customer", "customer_id", type=CUSTOMER_ID)
@click.option("--batch", "batch_id")
@click.option("--limit", type=click.IntRange(1, None), default=100, show_default=True)
@click.option("--target", "target", default="current", show_default=True, metavar="current|all|TEXT",
              help="Whose writes: `current` = the target this command would write to (this emulator instance, or "
                   "Partner Center for this partner tenant); `all` = every target; any other text matches the "
                   "target's kind, endpoint, tenant or instance (`unknown` = entries from before targets were "
                   "recorded).")
@click.pass_obj
def ledger_list(state: Any, status: str | None, kind: str | None, customer_id: str | None, batch_id: str | None,
                limit: int, target: str) -> None:
    """List journaled writes, newest first, with the target each went to."""
    from cspkit.ledger import UNRESOLVED

    ledger = _ctx(state).ledger
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
    ledger = _ctx(state).ledger
    entry = ledger.get(entry_id)
    events = ledger.events(entry_id=entry_id)
    if state.output == "json":
        wire = _entry_wire(entry)
        wire["events"] = [{"at": _fmt_time(e.at), "status": e.status, "detail": e.detail,
                           "requestId": e.request_id, "correlationId": e.correlation_id} for e in events]
        click.echo(json.dumps(wire, indent=2, default=str))
        return
    row = _entry_row(entry)
    emit([{"field": k, "value": v} for k, v in row.items()], columns=["field", "value"], fmt=state.output,
         title=f"Ledger entry {entry_id}")
    emit([{"at": _fmt_time(e.at), "status": e.status, "detail": e.detail, "request_id": e.request_id}
          for e in events], columns=["at", "status", "detail", "request_id"], fmt=state.output, title="Events")


@ledger_group.command("resume")
@click.argument("entry_ids", nargs=-1, type=int)
@click.pass_obj
def ledger_resume(state: Any, entry_ids: tuple[int, ...]) -> None:
    """Resolve unfinished writes of the current target: re-check out journaled carts (never a new order), read
    subscriptions back. Entries written to another target (another emulator instance, Partner Center for another
    tenant, or before targets were recorded) are never touched."""
    ctx = _ctx(state)
    ledger = ctx.ledger
    entries = [ledger.get(i) for i in entry_ids] if entry_ids else ledger.unresolved()
    foreign = [e for e in entries if not ledger.is_current(e)]
    if foreign:
        from cspkit.errors import CspkitError

        error = CspkitError(
            "ledger entr" + ("y " if len(foreign) == 1 else "ies ") + ", ".join(str(e.id) for e in foreign)
            + f" went to another target ({'; '.join(sorted({e.target or 'unknown' for e in foreign}))}), not to "
            f"the current one ({ledger.target.label}): nothing was resumed",
            hint="Point cspkit at that target (--endpoint/--profile) to resume them; `cspkit ledger list "
                 "--target all` shows every entry with its target.")
        error.exit_code = 2
        raise error
    entries = [e for e in entries if e.status in ("pending", "submitted", "unknown", "failed")]
    if not entries:
        note("Nothing to resume.")
        return
    for e in entries:
        note(f"to resume: entry {e.id} {e.kind} {e.status} customer {e.customer_id}"
             + (f" cart {e.cart_id}" if e.cart_id else "") + (f" subscription {e.subscription_id}"
                                                              if e.subscription_id else ""))
    _confirm_or_stop(state, f"Resume {len(entries)} unfinished write(s)?")
    rows, failed = [], 0
    for entry in entries:
        try:
            outcome = ctx.service.resume(entry)
        except Exception as exc:  # noqa: BLE001 - report each entry, go on with the next
            from cspkit.errors import CspkitError

            if not isinstance(exc, CspkitError):
                raise
            failed += 1
            outcome = f"error: {exc}"
        rows.append({"id": entry.id, "kind": entry.kind, "customer_id": entry.customer_id, "result": outcome})
    emit(rows, columns=["id", "kind", "customer_id", "result"], fmt=state.output, title="Resumed")
    if failed:
        _exit(EXIT_FAILED if failed == len(rows) else EXIT_PARTIAL)


@click.command("audit")
@click.option("--customer", "customer_id", type=CUSTOMER_ID, help="Only writes for this customer.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="UTC date/time.")
@click.option("--limit", type=click.IntRange(1, None), default=500, show_default=True)
@click.pass_obj
def audit_cmd(state: Any, customer_id: str | None, since: datetime | None, limit: int) -> None:
    """The audit trail of every write: who, when, what, with the request and correlation ids."""
    ledger = _ctx(state).ledger
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
        rows.append({"at": _fmt_time(event.at), "actor": event.actor, "entry": entry.id, "kind": entry.kind,
                     "customer_id": entry.customer_id, "subscription_id": entry.subscription_id,
                     "status": event.status, "detail": event.detail, "request_id": event.request_id,
                     "correlation_id": event.correlation_id, "target": entry.target})
    rows = rows[-limit:]
    emit(rows, columns=["at", "actor", "entry", "kind", "customer_id", "subscription_id", "status", "detail",
                        "request_id", "correlation_id"], fmt=state.output, title="Audit trail")


def register(cli: click.Group) -> None:
    """Add the reseller commands to the top-level `cspkit` group."""
    for command in (customers_group, catalog_group, order_group, orders_group, subscriptions_group, ledger_group,
                    audit_cmd):
        cli.add_command(command)
