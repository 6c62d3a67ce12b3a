"""``cspkit demo``: a reseller's and finance's month, end to end, on a fresh embedded emulator.

The steps a new user would take, each printed with its result: browse the catalog and pick a marketplace SaaS offer
and a seat offer; preview and place the orders (journaled in a ledger); follow the SaaS activation link through the
emulated publisher's landing page (Resolve → Activate) until the subscription is active; raise and lower seats
inside the window; turn auto-renew off; try a cancellation after the window (refused with the deadline); advance the
clock to invoice day (the 8th of the next month); fetch the invoice's reconciliation lines; reconcile them against
the ledger's subscriptions and the price list; write the workbook.

Everything runs against an in-process emulator on a loopback port with a frozen virtual clock, in a temporary
directory; nothing is left running afterwards. It never talks to real Partner Center.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from cspkit.billing.pricelist import read_price_list
from cspkit.client import PartnerCenter
from cspkit.config import Settings
from cspkit.emulator import EmulatorServer
from cspkit.errors import CspkitError, PolicyError
from cspkit.ledger.service import Ledger
from cspkit.ledger.target import Target
from cspkit.reports.reconciliation import write_reconciliation_report
from cspkit.workflows.activation import follow_activation_link
from cspkit.workflows.ordering import Ordering
from cspkit.workflows.reconciliation import reconcile_invoice

__all__ = ["DEMO_START", "DemoResult", "run_demo"]

DEMO_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SEAT_PRODUCT = "CFQ7TTC0LH18"  # Microsoft 365 Business Basic
COUNTRY = "US"


@dataclass
class DemoResult:
    """What the demo produced.

    Attributes:
        workbook: the reconciliation workbook (.xlsx).
        invoice_id: the month-end invoice reconciled.
        currency: its currency.
        invoice_total: the invoice's total charges (Decimal).
        lines_total: Σ Total of its reconciliation lines (Decimal).
        tieout_status: ``ties`` or ``differs``.
        variances: count per variance category found.
        lines: number of reconciliation lines.
        refused_cancellation_deadline: the deadline the refused cancellation named (UTC).
    """

    workbook: Path
    invoice_id: str
    currency: str
    invoice_total: Decimal
    lines_total: Decimal
    tieout_status: str
    variances: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    refused_cancellation_deadline: datetime | None = None


class _Steps:
    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.number = 0

    def step(self, title: str) -> None:
        self.number += 1
        self.echo(f"\n[{self.number}] {title}")

    def result(self, text: str) -> None:
        self.echo(f"    {text}")


class _Month:
    """The demo's month, one method per phase; ``s`` prints the numbered steps and their results."""

    def __init__(self, emu: Any, home: Path, s: _Steps, stack: ExitStack) -> None:
        self.emu, self.s = emu, s
        settings = Settings(auth="token", endpoint=emu.url, pricesheet_endpoint=emu.url, graph_endpoint=emu.url,
                            home=home, access_token=emu.token)
        self.pc = PartnerCenter(settings=settings)
        stack.callback(self.pc.close)
        self.ledger = Ledger(f"sqlite:///{home / 'ledger.db'}", actor="cspkit demo", target=Target.emulator(
            emu.url, instance_id=emu.backend.instance_id, tenant_id=emu.backend.partner.get("tenantId")))
        stack.callback(self.ledger.close)
        self.prices: Any = None
        self.ordering: Any = None

    def price_lists(self) -> None:
        s, pc = self.s, self.pc
        s.step(f"Emulator started at {self.emu.url}; virtual clock {self.emu.clock.now():%Y-%m-%d %H:%M} UTC")
        s.step("Price lists (price-sheet API): new commerce and marketplace, US")
        price_files = [pc.pricesheets.get(COUNTRY, view) for view in ("updatedlicensebased", "marketplace")]
        self.prices = pd.concat([read_price_list(p) for p in price_files], ignore_index=True)
        s.result(f"{len(self.prices)} price rows from {', '.join(p.name for p in price_files)}")
        self.ordering = Ordering(pc, self.ledger, price_list=self.prices, clock=self.emu.clock.now,
                                 sleep=lambda _s: None)

    def order(self) -> tuple[str, list[Any]]:
        """Pick the customer and the offers, preview and place the orders; returns the customer id and outcomes."""
        s, pc, ordering = self.s, self.pc, self.ordering
        s.step("Customer")
        customer = next(c for c in pc.customers.list() if (c.country or "US").upper() == COUNTRY)
        s.result(f"{customer.company_name} ({customer.id})")

        s.step(f"Catalog: products in {COUNTRY} (targetView OnlineServices)")
        products = list(pc.catalog.products(country=COUNTRY, target_view="OnlineServices"))
        saas = next(p for p in products if p.is_saas)
        seat = next(p for p in products if p.id == SEAT_PRODUCT)
        s.result(f"{len(products)} products, {sum(p.is_saas for p in products)} marketplace SaaS")
        s.result(f"seat offer: {seat.title} ({seat.id}); SaaS offer: {saas.title} by {saas.publisher_name}")
        saas_sku = next(iter(pc.catalog.skus(saas.id, country=COUNTRY)))
        seat_sku = next(iter(pc.catalog.skus(seat.id, country=COUNTRY)))

        s.step("Preview the orders (price from the price list, cancellation policy from the catalog)")
        plans = [
            ordering.plan(customer.id, item=f"{seat.id}:{seat_sku.id}", quantity=10, term_duration="P1M",
                          billing_cycle="monthly", friendly_name="Front desk"),
            ordering.plan(customer.id, item=f"{saas.id}:{saas_sku.id}", quantity=5, term_duration="P1M",
                          billing_cycle="monthly", friendly_name="Helpdesk"),
        ]
        for plan in plans:
            d = plan.describe()
            s.result(f"{d['quantity']} × {d['product']} / {d['sku']} {d['term_duration']} {d['billing_cycle']}: "
                     f"{d['period_price']} per seat per billing period (term {d['term_price']}), "
                     f"{d['billing']}; "
                     f"cancellation: {d['cancellation']}")

        s.step("Place the orders (journaled: intent, cart id, checkout, result)")
        outcomes = [ordering.place_order(plan, key=f"demo-{i}") for i, plan in enumerate(plans)]
        for outcome in outcomes:
            s.result(f"{outcome.status}: order {', '.join(outcome.order_ids)} "
                     f"→ subscription {', '.join(outcome.subscription_ids) or '(provisioning)'}")
        return customer.id, outcomes

    def activate(self, customer_id: str, outcome: Any) -> None:
        s, pc = self.s, self.pc
        saas_sub_id = _subscription_of(pc, customer_id, outcome)
        s.step("Activate the SaaS subscription: activation link → publisher landing page → Resolve → Activate")
        links = pc.orders.activation_links(customer_id, outcome.order_ids[0], 0)
        s.result(f"activation link: {links[0].uri.split('?')[0]}?token=…")
        s.result(f"publisher says: {follow_activation_link(links[0].uri)}")
        saas_sub = pc.subscriptions.get(customer_id, saas_sub_id)
        s.result(f"Partner Center subscription {saas_sub.id}: {_status(saas_sub)}")

    def change_seats(self, customer_id: str, seat_sub_id: str) -> datetime | None:
        """Raise and lower seats, turn auto-renew off, try a late cancellation; returns the deadline it named."""
        s, ordering, clock = self.s, self.ordering, self.emu.clock
        s.step("Seats: raise 10 → 15 the next day, lower 15 → 12 the day after (inside the window)")
        clock.advance(days=1)
        up = ordering.set_quantity(customer_id, seat_sub_id, quantity=15)
        clock.advance(days=1)
        down = ordering.set_quantity(customer_id, seat_sub_id, quantity=12)
        s.result(f"{up.status}: {up.before.quantity} → {up.after.quantity}; "
                 f"{down.status}: {down.before.quantity} → {down.after.quantity}")

        s.step("Turn auto-renew off")
        renew = ordering.set_auto_renew(customer_id, seat_sub_id, enabled=False)
        s.result(f"{renew.status}: auto-renew {renew.before.auto_renew_enabled} → {renew.after.auto_renew_enabled}")

        s.step("Cancel after the window has passed (clock +8 days)")
        clock.advance(days=8)
        try:
            ordering.cancel(customer_id, seat_sub_id)
            s.result("cancelled?! the window should have been closed")
        except PolicyError as exc:
            s.result(f"refused before calling Partner Center: {exc}")
            return exc.deadline
        return None

    def month_end(self) -> Any:
        """Advance the virtual clock to invoice day (the 8th of the next month); returns the month's USD invoice."""
        s, clock = self.s, self.emu.clock
        s.step("Invoice day: advance the virtual clock to the 8th of next month; the emulator issues the invoice")
        now = clock.now()
        clock.set((now.replace(day=1) + timedelta(days=32)).replace(day=8, hour=0, minute=5))
        invoices = [i for i in self.pc.invoices.list() if i.billing_period_start_date
                    and i.billing_period_start_date.month == DEMO_START.month]
        invoice = next(i for i in invoices if (i.currency_code or "USD") == "USD")
        s.result(f"invoice {invoice.id}: {invoice.total_charges} {invoice.currency_code} "
                 f"for {invoice.billing_period_start_date:%Y-%m-%d}…{invoice.billing_period_end_date:%Y-%m-%d}")
        return invoice

    def reconcile(self, customer_id: str, invoice: Any) -> Any:
        """Fetch the invoice's lines (v1 API) and reconcile them against the ledger's subscriptions."""
        s, pc = self.s, self.pc
        ordered = {sid for e in self.ledger.list(kind="order", status="done")
                   for oid in json.loads(e.order_ids_json or "[]")
                   for sid in (x.id for x in pc.subscriptions.list(e.customer_id, order_id=oid))}
        subscriptions = [pc.subscriptions.get(customer_id, sid).to_wire() | {"customerId": customer_id}
                         for sid in sorted(ordered)]
        s.step("Fetch the invoice's reconciliation line items (provider=onetime, seek paging)")
        done = reconcile_invoice(pc, invoice.id, api="v1", price_lists=self.prices, subscriptions=subscriptions)
        counts = done.lines["ChargeType"].value_counts().to_dict()
        s.result(f"{len(done.lines)} lines: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        s.step("Reconcile against the ledger's subscriptions and the price list")
        row = done.result.tieout.iloc[0]
        s.result(f"tie-out: lines {row['Total']} vs invoice {row['InvoiceTotal']} {row['Currency']}: "
                 f"{row['Status']}")
        variances = _variances(done.result)
        s.result("variances: " + (", ".join(f"{k} {v}" for k, v in variances.items()) or "none"))
        return done

    def write(self, done: Any, out_dir: Path) -> Path:
        s = self.s
        s.step("Write the workbook")
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"demo-reconciliation-{done.invoice.id}.xlsx"
        written = write_reconciliation_report(done.result, target, fmt="xlsx",
                                              sources=[f"invoice {done.invoice.id}"])
        s.result(f"written: {written[0]}")
        s.result(f"ledger: {len(self.ledger.list())} journaled writes; journal kept only for the demo's run")
        return Path(written[0])


def run_demo(*, out_dir: Path = Path("reports"), echo: Callable[[str], None] = print) -> DemoResult:
    """Run the whole month on a fresh embedded emulator and write the reconciliation workbook into ``out_dir``.

    Returns:
        :class:`DemoResult` with the workbook path and the figures printed.
    Raises:
        CspkitError: a step failed (the message says which); the emulator is stopped either way.
    """
    s = _Steps(echo)
    echo("cspkit demo: one month of a CSP reseller on the local Partner Center emulator (not real Partner Center).")
    with tempfile.TemporaryDirectory(prefix="cspkit-demo-") as tmp, EmulatorServer(now=DEMO_START) as emu, \
            ExitStack() as stack:
        month = _Month(emu, Path(tmp), s, stack)
        month.price_lists()
        customer_id, outcomes = month.order()
        seat_sub_id = _subscription_of(month.pc, customer_id, outcomes[0])
        month.activate(customer_id, outcomes[1])
        refused_deadline = month.change_seats(customer_id, seat_sub_id)
        invoice = month.month_end()
        done = month.reconcile(customer_id, invoice)
        workbook = month.write(done, out_dir)
    echo("\nDone: the emulator is stopped and nothing is left running.")
    row = done.result.tieout.iloc[0]
    return DemoResult(
        workbook=workbook, invoice_id=invoice.id, currency=str(row["Currency"]),
        invoice_total=Decimal(str(invoice.total_charges)), lines_total=Decimal(str(row["Total"])),
        tieout_status=str(row["Status"]), variances=_variances(done.result), lines=len(done.lines),
        refused_cancellation_deadline=refused_deadline,
    )


def _variances(result: Any) -> dict[str, int]:
    return {str(r.Category): int(r.Count) for r in result.variance_counts.itertuples() if r.Count}


def _subscription_of(pc: Any, customer_id: str, outcome: Any) -> str:
    """The subscription an order created (from the checkout result, else the order read back).

    Raises:
        CspkitError: the order has no subscription yet (still provisioning).
    """
    if outcome.subscription_ids:
        return outcome.subscription_ids[0]
    order = pc.orders.get(customer_id, outcome.order_ids[0])
    ids = [li.subscription_id for li in order.line_items if li.subscription_id]
    if not ids:
        raise CspkitError(f"order {order.id} has no subscription yet",
                          hint="The order is still provisioning: run the demo again in a moment.")
    return ids[0]


def _status(sub: Any) -> str:
    status = getattr(sub.status, "value", sub.status)
    return str(status)
